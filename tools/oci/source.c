/* Image sources for load: directories and unpacked tars (see source.h). */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source.h"

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(p);
	return 0;
}

void rm_tree(const char *path)
{
	nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

/* A repository name from a path: its base name without .tar/.tgz/... and made
 * lowercase; NULL unless it is a valid name. */
static char *guess_name(const char *path)
{
	char buf[256];
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	const char *b = path + n;
	while (b > path && b[-1] != '/')
		b--;
	snprintf(buf, sizeof buf, "%.*s", (int)(path + n - b), b);
	static const char *const ext[] = {".tar.gz", ".tar.zst", ".tgz", ".tar", ".oci"};
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
		size_t l = strlen(buf), e = strlen(ext[i]);
		if (l > e && !strcmp(buf + l - e, ext[i])) {
			buf[l - e] = 0;
			break;
		}
	}
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	char norm[512];
	if (!*buf || !strcmp(buf, "-") || !strcmp(buf, ".") || !strcmp(buf, "..") ||
	    shale_ref_normalize(buf, norm, sizeof norm) < 0 || strchr(buf, ':'))
		return NULL;
	return strdup(buf);
}

static int unpack(shale_store *s, const char *path, struct oci_source *src, oci_bytes_fn progress,
		  void *ctx)
{
	if (asprintf(&src->tmpdir, "%s/tmp/load-XXXXXX", shale_root(s)) < 0 || !mkdtemp(src->tmpdir)) {
		int e = errno;
		free(src->tmpdir);
		src->tmpdir = NULL;
		return shale_err(e, "temp directory: %s", strerror(e));
	}
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	/* Never write outside tmpdir: no "..", no writing through symlinks. */
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
						    ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	struct stat st;
	uint64_t total = strcmp(path, "-") && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	int ret = -1;
	if (archive_read_open_filename(in, strcmp(path, "-") ? path : NULL, 1 << 20) != ARCHIVE_OK) {
		shale_err(EINVAL, "%s: %s", path, archive_error_string(in));
		goto out;
	}
	struct archive_entry *ae;
	size_t members = 0;
	for (;;) {
		int r = archive_read_next_header(in, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			shale_err(EINVAL, "%s: %s", path, archive_error_string(in));
			goto out;
		}
		const char *raw = archive_entry_pathname(ae);
		mode_t type = archive_entry_filetype(ae);
		if (!raw || raw[0] == '/' || strlen(raw) > 1024) {
			shale_err(EINVAL, "%s: unsafe member name '%.100s'", path, raw ? raw : "");
			goto out;
		}
		char name[1100]; /* a copy: the entry's own string changes below */
		snprintf(name, sizeof name, "%s", raw);
		if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
			continue; /* an image archive holds nothing else */
		char *full = NULL;
		if (asprintf(&full, "%s/%s", src->tmpdir, name) < 0)
			goto out;
		archive_entry_set_pathname(ae, full);
		free(full);
		const char *hl = archive_entry_hardlink(ae);
		if (hl) {
			if (hl[0] == '/' || strstr(hl, "..")) {
				shale_err(EINVAL, "%s: unsafe hardlink '%.100s'", path, hl);
				goto out;
			}
			if (asprintf(&full, "%s/%s", src->tmpdir, hl) < 0)
				goto out;
			archive_entry_set_hardlink(ae, full);
			free(full);
		}
		archive_entry_set_perm(ae, type == AE_IFDIR ? 0700 : 0600);
		r = archive_write_header(out, ae);
		if (r >= ARCHIVE_WARN && archive_entry_size(ae) > 0 && type == AE_IFREG) {
			const void *buf;
			size_t len;
			la_int64_t off;
			int rr;
			while ((rr = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK) {
				if (archive_write_data_block(out, buf, len, off) < ARCHIVE_WARN)
					break;
				if (progress)
					progress(ctx, (uint64_t)archive_filter_bytes(in, -1), total);
			}
			if (rr != ARCHIVE_EOF && rr != ARCHIVE_OK) {
				shale_err(EINVAL, "%s: %s", path, archive_error_string(in));
				goto out;
			}
			if (rr == ARCHIVE_OK)
				r = ARCHIVE_FATAL; /* the write failed */
		}
		if (r < ARCHIVE_WARN || archive_write_finish_entry(out) < ARCHIVE_WARN) {
			shale_err(EINVAL, "%s: member '%.100s': %s", path, name,
				  archive_error_string(out) ? archive_error_string(out) : "cannot unpack");
			goto out;
		}
		members++;
	}
	if (!members) {
		shale_err(EINVAL, "%s: an empty archive", path);
		goto out;
	}
	ret = 0;
out:
	archive_read_free(in);
	archive_write_free(out);
	return ret;
}

int source_open(shale_store *s, const char *path, struct oci_source *src, oci_bytes_fn progress,
		void *ctx)
{
	memset(src, 0, sizeof *src);
	src->dirfd = -1;
	src->path = strdup(path);
	src->name = guess_name(path);
	struct stat st;
	bool dir = strcmp(path, "-") && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	if (strcmp(path, "-") && !dir && stat(path, &st) < 0) {
		int e = errno;
		source_close(src);
		return shale_err(e, "%s: %s", path, strerror(e));
	}
	if (!dir && unpack(s, path, src, progress, ctx) < 0) {
		source_close(src);
		return -1;
	}
	src->dirfd = open(dir ? path : src->tmpdir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (src->dirfd < 0) {
		int e = errno;
		source_close(src);
		return shale_err(e, "%s: %s", path, strerror(e));
	}
	return 0;
}

void source_close(struct oci_source *src)
{
	if (src->dirfd >= 0)
		close(src->dirfd);
	if (src->tmpdir)
		rm_tree(src->tmpdir);
	free(src->tmpdir);
	free(src->path);
	free(src->name);
	memset(src, 0, sizeof *src);
	src->dirfd = -1;
}

int source_open_file(struct oci_source *src, const char *rel)
{
	int fd = openat_resolve(src->dirfd, rel, O_RDONLY | O_CLOEXEC,
				RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
	if (fd < 0 && errno == ENOSYS) {
		/* Kernels before 5.6: no symlinks at all, no "..". */
		if (rel[0] == '/' || strstr(rel, ".."))
			return shale_err(EINVAL, "%s: unsafe name '%s'", src->path, rel);
		fd = openat(src->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		int e = errno;
		return shale_err(e, "%s: %s: %s", src->path, rel, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return shale_err(EINVAL, "%s: %s is not a regular file", src->path, rel);
	}
	return fd;
}

bool source_exists(struct oci_source *src, const char *rel)
{
	int fd = source_open_file(src, rel);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int source_read(struct oci_source *src, const char *rel, size_t max, char **buf, size_t *len)
{
	int fd = source_open_file(src, rel);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return shale_err(EFBIG, "%s: %s is larger than %zu bytes", src->path, rel, max);
	}
	char *b = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (b && got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!b || got != (size_t)st.st_size) {
		free(b);
		return shale_err(EIO, "%s: cannot read %s", src->path, rel);
	}
	b[got] = 0;
	*buf = b;
	*len = got;
	return 0;
}
