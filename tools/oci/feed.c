/* Feeding a layer blob to the importer (see feed.h). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed.h"
#include "store.h"

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

struct blob_reader {
	int fd;
	oci_hasher *h;
	uint8_t buf[1 << 20];
	int err;
};

static la_ssize_t read_blob(struct archive *a, void *ctx, const void **out)
{
	struct blob_reader *r = ctx;
	(void)a;
	ssize_t n;
	do
		n = read(r->fd, r->buf, sizeof r->buf);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = errno;
		return -1;
	}
	oci_hasher_update(r->h, r->buf, (size_t)n);
	*out = r->buf;
	return n;
}

static void *feed_main(void *arg)
{
	struct feed *f = arg;
	/* The importer may stop reading (a bad member): get EPIPE, not SIGPIPE. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct archive *a = archive_read_new();
	oci_hasher *h = oci_hasher_new();
	struct blob_reader *br = calloc(1, sizeof *br);
	uint64_t total = 0;
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_raw(a);
	struct archive_entry *ae;
	if (br) {
		br->fd = f->blob_fd;
		br->h = oci_hasher_new();
	}
	if (!h || !br || !br->h || archive_read_open2(a, br, NULL, read_blob, NULL, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		f->err = EINVAL;
		snprintf(f->errmsg, sizeof f->errmsg, "%s", archive_error_string(a) ?: "cannot read");
		goto out;
	}
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			f->err = EINVAL;
			snprintf(f->errmsg, sizeof f->errmsg, "%s",
				 archive_error_string(a) ?: "corrupt data");
			goto out;
		}
		oci_hasher_update(h, buf, len);
		total += len;
		if (write_all(f->pipe[1], buf, len) < 0) {
			f->err = errno;
			snprintf(f->errmsg, sizeof f->errmsg, "%s", strerror(errno));
			goto out;
		}
	}
	oci_hasher_final(h, f->diff_id);
	const void *rest; /* bytes after the compressed stream count in the blob's digest */
	while (read_blob(a, br, &rest) > 0)
		;
	oci_hasher_final(br->h, f->digest);
	static const char zeros[1536];
	size_t pad = (size_t)((512 - total % 512) % 512) + 1024;
	if (write_all(f->pipe[1], zeros, pad) < 0 && errno != EPIPE) {
		f->err = errno;
		snprintf(f->errmsg, sizeof f->errmsg, "%s", strerror(errno));
	}
out:
	close(f->pipe[1]); /* end of input for the importer */
	f->pipe[1] = -1;
	oci_hasher_free(h);
	archive_read_free(a);
	if (br)
		oci_hasher_free(br->h);
	free(br);
	return NULL;
}

int feed_start(struct feed *f, int blob_fd)
{
	memset(f, 0, sizeof *f);
	f->pipe[0] = f->pipe[1] = -1;
	f->blob_fd = dup(blob_fd);
	if (f->blob_fd < 0 || lseek(f->blob_fd, 0, SEEK_SET) < 0 || pipe2(f->pipe, O_CLOEXEC) < 0) {
		int e = errno;
		feed_finish(f);
		return shale_err(e, "feed a layer: %s", strerror(e));
	}
	/* A larger pipe: fewer switches between the two threads (best effort). */
	fcntl(f->pipe[1], F_SETPIPE_SZ, 1 << 20);
	snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->pipe[0]);
	int r = pthread_create(&f->thread, NULL, feed_main, f);
	if (r) {
		feed_finish(f);
		return shale_err(r, "feed a layer: %s", strerror(r));
	}
	f->started = true;
	return 0;
}

int feed_finish(struct feed *f)
{
	if (f->pipe[0] >= 0)
		close(f->pipe[0]); /* a writer still running gets EPIPE */
	f->pipe[0] = -1;
	if (f->started)
		pthread_join(f->thread, NULL);
	f->started = false;
	if (f->pipe[1] >= 0)
		close(f->pipe[1]);
	f->pipe[1] = -1;
	if (f->blob_fd >= 0)
		close(f->blob_fd);
	f->blob_fd = -1;
	if (f->err && f->err != EPIPE)
		return shale_err(f->err, "%s", f->errmsg);
	return f->err ? -1 : 0;
}
