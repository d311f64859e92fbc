/* Open files: reads, writes, truncation, fallocate, fsync.
 *
 * Lower content comes from object files, read into a buffer each worker keeps
 * (reply_pieces); a read spanning chunks is one reply with a piece per chunk,
 * holes being zeros from memory. Upper files are read and written through
 * their own fd; a partial one (copied up with its metadata only) takes the
 * chunks it does not hold yet from below, and a write first copies up the
 * chunks it touches.
 *
 * A reply must not point into the handle: once the kernel has the reply it may
 * release the file, and another thread frees the handle while this one is still
 * returning from the reply. So inline data is copied first, and chunk files are
 * opened per read (an open is a couple of microseconds per MiB read). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char zeros[SHALE_CHUNK_SIZE];

struct fh {
	struct node *n;
	bool upper;     /* fd is the upper file */
	int fd;         /* the upper file, or a one-chunk lower file's object */
	shale_entry e;  /* lower-only: the entry (inline data lives in ebuf) */
	void *ebuf;
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

int node_reopen(struct node *n, int flags)
{
	char p[32];
	proc_path(n->ufd, p);
	return open(p, (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_DIRECT | O_NOFOLLOW)) |
			       O_CLOEXEC);
}

/* The errno of a store call that failed: EMFILE, ENOMEM... as they are; a
 * missing object is EIO already. */
static int store_errno(void)
{
	return shale_errcode() ? shale_errcode() : EIO;
}

/* A handle on the lower content of a node not (yet) in the upper. */
static int open_lower(struct fs *fs, struct fh *h)
{
	if (shale_view_entry(fs->view, h->n->lower, &h->e, &h->ebuf) < 0)
		return store_errno();
	if (h->e.type != SHALE_REG)
		return EINVAL;
	if (!(h->e.flags & SHALE_F_INLINE) && h->e.size > 0) {
		if (shale_content_chunks(fs->s, &h->e, &h->ch) < 0)
			return store_errno();
		if (h->ch.count == 1 && !shale_id_is_zero(&h->ch.digests[0]) &&
		    (h->fd = shale_object_open(fs->s, &h->ch.digests[0])) < 0)
			return store_errno();
	}
	return 0;
}

static int open_handle(fuse_req_t req, struct fs *fs, struct node *n, int flags, struct fh **out)
{
	bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	if (write && fs->ro)
		return EROFS;
	int err = 0;
	struct fh *h = calloc(1, sizeof *h); /* memory first: out of it, nothing is copied up */
	if (!h)
		return ENOMEM;
	if (write) {
		freeze_enter(fs);
		pthread_rwlock_rdlock(&fs->tree_lock);
		err = copy_up(fs, n);
		pthread_rwlock_unlock(&fs->tree_lock);
		freeze_leave(fs);
		if (err) {
			free(h);
			return err;
		}
	}
	h->n = n;
	h->fd = -1;
	if (__atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE) >= 0) {
		h->upper = true;
		h->fd = node_reopen(n, flags);
		if (h->fd < 0) {
			err = errno;
		} else if (flags & O_TRUNC) {
			freeze_enter(fs);
			pthread_mutex_lock(&n->mu);
			err = truncate_upper(fs, n, h->fd, 0);
			pthread_mutex_unlock(&n->mu);
			if (!err && req_kill_suidgid())
				err = kill_suidgid(req, n->ufd);
			freeze_leave(fs);
		}
	} else {
		err = open_lower(fs, h);
	}
	if (err) {
		fh_free(h);
		return err;
	}
	*out = h;
	return 0;
}

/* A write-only open writes around the page cache: it cannot read or map the
 * file, and a cached write of a range that starts inside a page goes out as
 * two requests (the partial page, then the rest); direct, each write() is one
 * (a tar extraction: a third fewer writes). The kernel drops cached pages a
 * direct write overwrites, so other opens still read what was written. Its
 * direct path leaves setuid bits to the daemon: so only where the daemon
 * clears them (killpriv.c), or writes without root (the bits go anyway). */
static bool write_around(struct fs *fs, int flags)
{
	return (flags & O_ACCMODE) == O_WRONLY &&
	       (__atomic_load_n(&fs->killpriv, __ATOMIC_ACQUIRE) == KILLPRIV_ON || !fs->as_root);
}

/* How the kernel caches an open file: lower content never changes, and the
 * upper only through us, so cached pages stay good. */
static void cache_mode(struct fs *fs, struct fuse_file_info *fi)
{
	fi->keep_cache = 1;
	fi->direct_io = write_around(fs, fi->flags);
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fh *h;
	int err = open_handle(req, fs, node_get(fs, ino), fi->flags, &h);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)h;
	cache_mode(fs, fi);
	if (fuse_reply_open(req, fi) == -ENOENT)
		fh_free(h);
}

int create_file(fuse_req_t req, struct fs *fs, struct node *dir, const char *name, mode_t mode,
		int flags, int *fd, struct fuse_entry_param *e);

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct node *dir = node_get(fs, parent);
	int fd = -1;
	struct fuse_entry_param e;
	struct fh *h = calloc(1, sizeof *h); /* memory first: out of it, nothing is made */
	int err = h ? create_file(req, fs, dir, name, mode, fi->flags, &fd, &e) : ENOMEM;
	if (err) {
		free(h);
		fuse_reply_err(req, err);
		return;
	}
	h->n = node_get(fs, e.ino);
	h->upper = true;
	h->fd = fd;
	fi->fh = (uintptr_t)h;
	cache_mode(fs, fi);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		fh_free(h);
		node_forget(fs, node_get(fs, e.ino), 1);
	}
}

/* One reply with a buffer per piece; fds opened here are closed after it. */
struct plan {
	struct fuse_bufvec *bv;
	size_t cap;
	int *fds;
	size_t nfd;
};

/* plan_init makes room for every piece a read of its size can have (one per
 * chunk it touches, and one more where the partial limit splits a chunk). */
static void plan_add(struct plan *p, int fd, off_t pos, const void *mem, size_t size)
{
	struct fuse_buf *b = &p->bv->buf[p->bv->count++];
	memset(b, 0, sizeof *b);
	b->size = size;
	if (fd >= 0) {
		b->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		b->fd = fd;
		b->pos = pos;
	} else {
		b->mem = (void *)mem;
	}
}

static int plan_init(struct plan *p, size_t size)
{
	p->cap = size / SHALE_CHUNK_SIZE + 4;
	p->bv = calloc(1, sizeof *p->bv + p->cap * sizeof(struct fuse_buf));
	p->fds = malloc(p->cap * 2 * sizeof *p->fds);
	p->nfd = 0;
	if (p->bv && p->fds)
		return 0;
	free(p->bv);
	free(p->fds);
	return ENOMEM;
}

/* Sequential reads cross from one object file to the next; each is a new
 * file to the kernel, whose readahead would start small on each. So the whole
 * chunk is asked for when a read enters it, and the next one from its middle:
 * the disk works ahead of the reader. */
static void prefetch(struct fs *fs, const shale_chunks *ch, uint64_t idx)
{
	if (idx >= ch->count || shale_id_is_zero(&ch->digests[idx]))
		return;
	int fd = shale_object_open(fs->s, &ch->digests[idx]);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		close(fd);
	}
}

/* Lower chunk idx, bytes [in, in+n): from its object, or zeros for a hole. */
static int plan_lower(struct fs *fs, struct plan *p, const shale_chunks *ch, uint64_t idx,
		      uint64_t in, size_t n)
{
	if (idx >= ch->count || shale_id_is_zero(&ch->digests[idx])) {
		plan_add(p, -1, 0, zeros, n);
		return 0;
	}
	int fd = shale_object_open(fs->s, &ch->digests[idx]);
	if (fd < 0)
		return store_errno();
	if (in == 0)
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	if (in < SHALE_CHUNK_SIZE / 2 && in + n >= SHALE_CHUNK_SIZE / 2)
		prefetch(fs, ch, idx + 1);
	p->fds[p->nfd++] = fd;
	plan_add(p, fd, (off_t)in, NULL, n);
	return 0;
}

/* Replies are copied through a buffer per worker thread, kept: libfuse 3.14
 * splices fd pieces only until a splice of pages not yet in memory returns
 * EAGAIN (it splices without blocking), and from then on copies every reply
 * of the session through a buffer it allocates and frees each time (a 1 MiB
 * mmap, 256 page faults and a munmap: a cold 1 GiB read took 3.4 s, 0.6 s
 * with the buffer kept). A worker's buffer grows to its largest read. */
struct reply_buf {
	size_t cap;
	char data[];
};
static pthread_key_t reply_key;
static pthread_once_t reply_once = PTHREAD_ONCE_INIT;

static void reply_key_make(void)
{
	pthread_key_create(&reply_key, free); /* freed as a worker exits */
}

static void reply_pieces(fuse_req_t req, struct fuse_bufvec *bv)
{
	size_t len = fuse_buf_size(bv);
	pthread_once(&reply_once, reply_key_make);
	struct reply_buf *b = pthread_getspecific(reply_key);
	if (!b || b->cap < len) {
		size_t cap = 64 * 1024;
		while (cap < len)
			cap *= 2;
		struct reply_buf *nb = malloc(sizeof *nb + cap);
		if (!nb || pthread_setspecific(reply_key, nb) != 0) {
			free(nb);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		free(b);
		b = nb;
		b->cap = cap;
	}
	struct fuse_bufvec mem = FUSE_BUFVEC_INIT(len);
	mem.buf[0].mem = b->data;
	ssize_t r = fuse_buf_copy(&mem, bv, 0);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, b->data, (size_t)r);
}

static void plan_reply(fuse_req_t req, struct plan *p, int err)
{
	if (err)
		fuse_reply_err(req, err);
	else
		reply_pieces(req, p->bv);
	for (size_t k = 0; k < p->nfd; k++)
		close(p->fds[k]);
	free(p->fds);
	free(p->bv);
}

static void read_lower(fuse_req_t req, struct fs *fs, struct fh *h, size_t size, off_t off)
{
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
	if (h->fd >= 0) { /* one object */
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = h->fd;
		bv.buf[0].pos = off;
		reply_pieces(req, &bv);
		return;
	}
	struct plan p;
	int err = plan_init(&p, size);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	for (uint64_t pos = (uint64_t)off, left = size; left && !err;) {
		uint64_t idx = pos / SHALE_CHUNK_SIZE, in = pos % SHALE_CHUNK_SIZE;
		size_t n = (size_t)(SHALE_CHUNK_SIZE - in < left ? SHALE_CHUNK_SIZE - in : left);
		err = plan_lower(fs, &p, &h->ch, idx, in, n);
		pos += n;
		left -= n;
	}
	plan_reply(req, &p, err);
}

/* An upper file: whole, or partial (chunks still below limit come from below). */
static void read_upper(fuse_req_t req, struct fs *fs, struct node *n, int fd, size_t size,
		       off_t off)
{
	pthread_mutex_lock(&n->mu);
	struct partial *part = n->part;
	if (!part) {
		pthread_mutex_unlock(&n->mu);
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = fd;
		bv.buf[0].pos = off;
		reply_pieces(req, &bv);
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		pthread_mutex_unlock(&n->mu);
		fuse_reply_err(req, errno);
		return;
	}
	uint64_t end = (uint64_t)st.st_size;
	if ((uint64_t)off >= end) {
		pthread_mutex_unlock(&n->mu);
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((uint64_t)off + size > end)
		size = (size_t)(end - (uint64_t)off);
	struct plan p;
	int err = plan_init(&p, size);
	if (err) {
		pthread_mutex_unlock(&n->mu);
		fuse_reply_err(req, err);
		return;
	}
	for (uint64_t pos = (uint64_t)off, left = size; left && !err;) {
		uint64_t idx = pos / SHALE_CHUNK_SIZE, in = pos % SHALE_CHUNK_SIZE;
		size_t nb = (size_t)(SHALE_CHUNK_SIZE - in < left ? SHALE_CHUNK_SIZE - in : left);
		bool below = pos < part->limit && !(part->bits[idx / 8] & (1u << (idx % 8)));
		if (below) {
			if (pos + nb > part->limit)
				nb = (size_t)(part->limit - pos);
			err = plan_lower(fs, &p, &part->ch, idx, in, nb);
		} else {
			plan_add(&p, fd, (off_t)pos, NULL, nb);
		}
		pos += nb;
		left -= nb;
	}
	pthread_mutex_unlock(&n->mu);
	plan_reply(req, &p, err);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	struct node *n = h->n;
	if (h->upper) {
		read_upper(req, fs, n, h->fd, size, off);
	} else if (__atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE) >= 0) {
		/* opened below, copied up since by a writer: read what is now there */
		int fd = node_reopen(n, O_RDONLY);
		if (fd < 0) {
			fuse_reply_err(req, errno);
			return;
		}
		read_upper(req, fs, n, fd, size, off);
		close(fd);
	} else {
		read_lower(req, fs, h, size, off);
	}
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	if (!h->upper) {
		fuse_reply_err(req, EBADF);
		return;
	}
	struct node *n = h->n;
	int err = 0;
	freeze_enter(fs);
	pthread_mutex_lock(&n->mu);
	if (n->part) {
		/* O_APPEND writes land at the end, whatever off says */
		uint64_t at = (uint64_t)off;
		if (fcntl(h->fd, F_GETFL) & O_APPEND) {
			struct stat st;
			at = fstat(h->fd, &st) == 0 ? (uint64_t)st.st_size : at;
		}
		err = fill_range(fs, n, at, size);
	}
	pthread_mutex_unlock(&n->mu);
	if (!err && req_kill_suidgid())
		err = kill_suidgid(req, n->ufd);
	ssize_t w = err ? -1 : pwrite(h->fd, buf, size, off);
	if (!err && w < 0)
		err = errno;
	SHALE_CRASH_POINT("write");
	freeze_leave(fs);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, (size_t)w);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		  struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	if (!h->upper) {
		fuse_reply_err(req, EBADF);
		return;
	}
	struct node *n = h->n;
	freeze_enter(fs);
	pthread_mutex_lock(&n->mu);
	/* the range is about to change or be reserved: take its chunks up first */
	int err = n->part ? fill_range(fs, n, (uint64_t)offset, (uint64_t)length) : 0;
	if (!err && fallocate(h->fd, mode, offset, length) < 0)
		err = errno;
	if (!err) /* as a write: the kernel's FALLOCATE carries no kill flag */
		err = kill_suidgid_unasked(fs, req, n->ufd);
	pthread_mutex_unlock(&n->mu);
	freeze_leave(fs);
	fuse_reply_err(req, err);
}

/* Chunks this file had copied up become durable and listed (the writer does
 * not wait for a release). */
static int flush_chunks(struct fs *fs, struct fh *h)
{
	struct node *n = h->n;
	if (!h->upper || !__atomic_load_n(&n->part_dirty, __ATOMIC_ACQUIRE))
		return 0;
	freeze_enter(fs);
	pthread_mutex_lock(&n->mu);
	int err = partial_flush(fs, n, h->fd);
	pthread_mutex_unlock(&n->mu);
	freeze_leave(fs);
	return err;
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	/* failing here, the chunks stay listed in memory only: the next flush
	 * (fsync, a freeze, the unmount) tries again */
	flush_chunks(fuse_req_userdata(req), h);
	fh_free(h);
	fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int err = flush_chunks(fuse_req_userdata(req), h);
	if (!err && h->upper && (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0)
		err = errno; /* this also makes the marker durable (inode metadata) */
	SHALE_CRASH_POINT("fsync");
	fuse_reply_err(req, err);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	int err = 0;
	if (n->ufd >= 0) {
		int fd = openat(n->ufd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0)
			err = errno;
		if (fd >= 0)
			close(fd);
	}
	fuse_reply_err(req, err);
}
