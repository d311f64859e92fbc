/* Open files and reads. Lower content comes straight from object files by
 * splice (no copy through this process); a read spanning chunks is one reply
 * with a buffer per chunk, holes being zeros from memory.
 *
 * A reply must not point into the handle: once the kernel has the reply it may
 * release the file, and another thread frees the handle while this one is still
 * returning from the reply. So inline data is copied first, and chunk files are
 * opened per read (an open is a couple of microseconds per MiB read). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char zeros[SHALE_CHUNK_SIZE];

struct fh {
	struct node *n;
	shale_entry e;  /* the lower entry (inline data lives in ebuf) */
	void *ebuf;
	int fd;         /* a one-chunk file's object, -1 otherwise */
	shale_chunks ch;
};

static void fh_free(struct fh *h)
{
	if (h->fd >= 0)
		close(h->fd);
	free(h->ch.digests);
	free(h->ebuf);
	free(h);
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct fh *h = calloc(1, sizeof *h);
	h->n = n;
	h->fd = -1;
	int err = 0;
	if (shale_view_entry(fs->view, n->lower, &h->e, &h->ebuf) < 0) {
		err = EIO;
	} else if (h->e.type != SHALE_REG) {
		err = EINVAL;
	} else if (!(h->e.flags & SHALE_F_INLINE) && h->e.size > 0) {
		if (shale_content_chunks(fs->s, &h->e, &h->ch) < 0)
			err = EIO;
		else if (h->ch.count == 1 && !shale_id_is_zero(&h->ch.digests[0]) &&
			 (h->fd = shale_object_open(fs->s, &h->ch.digests[0])) < 0)
			err = EIO;
	}
	if (err) {
		fh_free(h);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1; /* lower content never changes */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fh_free(h);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	uint64_t fsize = h->e.size;
	if ((uint64_t)off >= fsize || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((uint64_t)off + size > fsize)
		size = (size_t)(fsize - (uint64_t)off);
	if (h->e.flags & SHALE_F_INLINE) {
		char copy[SHALE_INLINE_MAX];
		memcpy(copy, h->e.data + off, size);
		fuse_reply_buf(req, copy, size);
		return;
	}
	if (h->fd >= 0) { /* one object: splice straight from it */
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = h->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	/* chunks: a buffer per chunk touched (at most 2 for reads up to 1 MiB) */
	size_t nbuf = size / SHALE_CHUNK_SIZE + 2;
	struct fuse_bufvec *bv = calloc(1, sizeof *bv + nbuf * sizeof(struct fuse_buf));
	int *fds = malloc(nbuf * sizeof *fds);
	size_t i = 0, nfd = 0, left = size;
	uint64_t pos = (uint64_t)off;
	int err = 0;
	while (left) {
		uint64_t idx = pos / SHALE_CHUNK_SIZE, in = pos % SHALE_CHUNK_SIZE;
		size_t n = SHALE_CHUNK_SIZE - in;
		if (n > left)
			n = left;
		struct fuse_buf *b = &bv->buf[i++];
		b->size = n;
		if (idx >= h->ch.count || shale_id_is_zero(&h->ch.digests[idx])) {
			b->mem = (void *)zeros; /* a hole */
		} else {
			int fd = shale_object_open(fs->s, &h->ch.digests[idx]);
			if (fd < 0) {
				err = EIO;
				break;
			}
			fds[nfd++] = fd;
			b->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
			b->fd = fd;
			b->pos = (off_t)in;
		}
		pos += n;
		left -= n;
	}
	bv->count = i;
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_data(req, bv, FUSE_BUF_SPLICE_MOVE);
	for (size_t k = 0; k < nfd; k++)
		close(fds[k]);
	free(fds);
	free(bv);
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fh_free((struct fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}
