/* The archive save writes (see outtar.h). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outtar.h"
#include "store.h"

struct outtar {
	struct archive *a;
	int fd;
	char *path, *tmp; /* tmp: renamed to path on commit */
	bool failed;
};

static int fail(struct outtar *o, const char *what)
{
	o->failed = true;
	return shale_err(EIO, "%s: %s", what,
			 archive_error_string(o->a) ? archive_error_string(o->a) : "write error");
}

struct outtar *outtar_open(const char *path)
{
	struct outtar *o = calloc(1, sizeof *o);
	o->fd = -1;
	struct stat st;
	if (!path) {
		o->fd = STDOUT_FILENO;
	} else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		o->fd = open(path, O_WRONLY | O_CLOEXEC); /* a device or a pipe: as it is */
		o->path = strdup(path);
	} else {
		o->path = strdup(path);
		if (asprintf(&o->tmp, "%s.tmp-XXXXXX", path) < 0)
			o->tmp = NULL;
		o->fd = o->tmp ? mkostemp(o->tmp, O_CLOEXEC) : -1;
		if (o->fd >= 0)
			fchmod(o->fd, 0644);
	}
	if (o->fd < 0) {
		shale_err(errno, "%s: %s", path, strerror(errno));
		free(o->tmp);
		free(o->path);
		free(o);
		return NULL;
	}
	o->a = archive_write_new();
	archive_write_set_format_pax_restricted(o->a);
	archive_write_set_bytes_in_last_block(o->a, 1);
	if (archive_write_open_fd(o->a, o->fd) != ARCHIVE_OK) {
		fail(o, path ? path : "stdout");
		outtar_close(o, false);
		return NULL;
	}
	return o;
}

static struct archive_entry *entry(const char *name, mode_t type, mode_t perm, int64_t size)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, 0, 0); /* reproducible: the same images, the same bytes */
	return e;
}

int outtar_dir(struct outtar *o, const char *name)
{
	struct archive_entry *e = entry(name, AE_IFDIR, 0755, 0);
	int r = archive_write_header(o->a, e);
	archive_entry_free(e);
	return r < ARCHIVE_WARN ? fail(o, name) : 0;
}

int outtar_mem(struct outtar *o, const char *name, const void *buf, size_t len)
{
	struct archive_entry *e = entry(name, AE_IFREG, 0644, (int64_t)len);
	int r = archive_write_header(o->a, e);
	archive_entry_free(e);
	if (r < ARCHIVE_WARN || (len && archive_write_data(o->a, buf, len) != (la_ssize_t)len))
		return fail(o, name);
	return 0;
}

int outtar_file(struct outtar *o, const char *name, const char *path, oci_bytes_fn progress,
		void *ctx)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return shale_err(e, "%s: %s", path, strerror(e));
	}
	struct archive_entry *e = entry(name, AE_IFREG, 0644, st.st_size);
	int r = archive_write_header(o->a, e);
	archive_entry_free(e);
	if (r < ARCHIVE_WARN) {
		close(fd);
		return fail(o, name);
	}
	/* on the heap: a thread-local buffer would be in every thread */
	size_t cap = st.st_size < (1 << 20) ? (size_t)st.st_size + 1 : 1u << 20;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return shale_err(ENOMEM, "%s: out of memory", path);
	}
	uint64_t done = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			rc = shale_err(err, "%s: %s", path, strerror(err));
			break;
		}
		if (n == 0)
			break;
		if (archive_write_data(o->a, buf, (size_t)n) != n) {
			rc = fail(o, name);
			break;
		}
		done += (uint64_t)n;
		if (progress)
			progress(ctx, done, (uint64_t)st.st_size);
	}
	free(buf);
	close(fd);
	if (rc)
		return rc;
	if (done != (uint64_t)st.st_size)
		return shale_err(EIO, "%s: the file changed while it was saved", path);
	return 0;
}

int outtar_close(struct outtar *o, bool commit)
{
	int ret = 0;
	if (o->a) {
		if (archive_write_close(o->a) != ARCHIVE_OK && commit && !o->failed)
			ret = fail(o, o->path ? o->path : "stdout");
		archive_write_free(o->a);
	}
	if (commit && !o->failed && o->tmp && fsync(o->fd) < 0)
		ret = shale_err(errno, "%s: %s", o->path, strerror(errno));
	if (o->fd >= 0 && o->fd != STDOUT_FILENO)
		close(o->fd);
	if (o->tmp) {
		if (commit && !o->failed && ret == 0) {
			if (rename(o->tmp, o->path) < 0)
				ret = shale_err(errno, "%s: %s", o->path, strerror(errno));
		}
		if (!commit || o->failed || ret < 0)
			unlink(o->tmp);
	}
	if (o->failed && ret == 0)
		ret = -1;
	free(o->tmp);
	free(o->path);
	free(o);
	return ret;
}
