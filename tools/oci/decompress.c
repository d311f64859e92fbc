/* One read of a blob: hash it, decompress it with libarchive, hash the result. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decompress.h"
#include "store.h"

struct reader {
	int fd;
	int err;
	oci_hasher *blob;
	uint64_t size, total;
	uint8_t *buf;
	oci_bytes_fn progress;
	void *pctx;
};

#define READ_BUF (1 << 20)

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **out)
{
	struct reader *r = ctx;
	(void)a;
	ssize_t n;
	do
		n = read(r->fd, r->buf, READ_BUF);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = errno;
		return -1;
	}
	oci_hasher_update(r->blob, r->buf, (size_t)n);
	r->size += (uint64_t)n;
	if (r->progress)
		r->progress(r->pctx, r->size, r->total);
	*out = r->buf;
	return n;
}

int oci_blob_digests(int fd, char digest[OCI_DIGEST_LEN], uint64_t *size,
		     char diff_id[OCI_DIGEST_LEN], uint64_t *tar_size, oci_bytes_fn progress,
		     void *ctx)
{
	struct reader r = {.fd = fd, .progress = progress, .pctx = ctx};
	struct stat st;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return shale_err(errno, "seek: %s", strerror(errno));
	if (fstat(fd, &st) == 0)
		r.total = (uint64_t)st.st_size;
	r.blob = oci_hasher_new();
	oci_hasher *diff = oci_hasher_new();
	r.buf = malloc(READ_BUF);
	struct archive *a = archive_read_new();
	uint64_t tar = 0;
	int ret = -1;
	if (!r.blob || !diff || !r.buf || !a) {
		shale_err(ENOMEM, "out of memory");
		goto out;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_raw(a);
	struct archive_entry *ae;
	if (archive_read_open2(a, &r, NULL, read_cb, NULL, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		if (r.err)
			shale_err(r.err, "read: %s", strerror(r.err));
		else
			shale_err(EINVAL, "not a layer: %s",
				  archive_error_string(a) ? archive_error_string(a) : "empty blob");
		goto out;
	}
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int rc = archive_read_data_block(a, &buf, &len, &off);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc != ARCHIVE_OK) {
			if (r.err)
				shale_err(r.err, "read: %s", strerror(r.err));
			else
				shale_err(EINVAL, "corrupt layer: %s",
					  archive_error_string(a) ? archive_error_string(a) : "bad data");
			goto out;
		}
		oci_hasher_update(diff, buf, len);
		tar += len;
	}
	/* libarchive may stop before the end of the input (trailing garbage after
	 * a gzip stream): the blob digest covers every byte, so read the rest. */
	const void *dummy;
	while (read_cb(a, &r, &dummy) > 0)
		;
	if (r.err) {
		shale_err(r.err, "read: %s", strerror(r.err));
		goto out;
	}
	oci_hasher_final(r.blob, digest);
	oci_hasher_final(diff, diff_id);
	if (size)
		*size = r.size;
	if (tar_size)
		*tar_size = tar;
	ret = 0;
out:
	if (a)
		archive_read_free(a);
	oci_hasher_free(r.blob);
	oci_hasher_free(diff);
	free(r.buf);
	return ret;
}
