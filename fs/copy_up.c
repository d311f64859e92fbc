/* Copy-up: giving a lower entry an upper presence, and only as much as needed.
 *
 * A file is copied up with its metadata only: an upper file of the right size,
 * owner, mode, times and xattrs, with no data, marked partial. Data follows a
 * chunk (1 MiB) at a time when a write or a truncate touches it, so chmod of a
 * 1 GiB lower file copies nothing and a 1-byte write copies one chunk. Each
 * copy-up is atomic: files are made as O_TMPFILE and linked in complete, other
 * types are made in the work directory and renamed into place. The names of a
 * hardlinked file are all linked to the one upper inode. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "internal.h"

/* Write all of buf: 0 or the errno of the write that failed. A write cut
 * short (a nearly full disk) is tried again for the rest, which gives the
 * reason (ENOSPC); errno is not set by a short write. */
static int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, buf, len, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		buf = (const char *)buf + w;
		len -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Copy a chunk object (clen bytes) to wfd at `at`: in the kernel with
 * copy_file_range (no trip through our memory; a reflink where the
 * filesystem shares extents), else through *buf (allocated on first use).
 * Returns 0 or an errno. */
static int copy_chunk(int ofd, int wfd, size_t clen, off_t at, uint8_t **buf)
{
	off_t in = 0, out = at;
	size_t left = clen;
	while (left) {
		ssize_t c = copy_file_range(ofd, &in, wfd, &out, left, 0);
		if (c < 0 && errno == EINTR)
			continue;
		if (c > 0) {
			left -= (size_t)c;
			continue;
		}
		if (c == 0)
			return EIO; /* the object is shorter than its chunk */
		if (errno != EXDEV && errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
			return errno; /* ENOSPC, EIO... */
		break; /* not between these files: copy by hand */
	}
	if (!left)
		return 0;
	if (!*buf && !(*buf = malloc(SHALE_CHUNK_SIZE)))
		return ENOMEM;
	ssize_t r = pread(ofd, *buf, left, in);
	if (r < 0)
		return errno;
	return r != (ssize_t)left ? EIO : pwrite_full(wfd, *buf, left, out);
}

/* A bitmap for a chunk each must fit in one xattr (ext4: one block); beyond
 * this (about 23 GiB) a file's data is copied up whole on its first write. */
#define MAX_PARTIAL_CHUNKS 24000u

/* xattrs through `path`: a following call for non-symlinks (a proc fd path),
 * l* for anything named in a directory. */
static int set_xattrs(struct fs *fs, const char *path, bool follow, const shale_entry *e,
		      uint64_t origin)
{
	int (*set)(const char *, const char *, const void *, size_t, int) =
		follow ? setxattr : lsetxattr;
	uint32_t pos = 0, nl, vl;
	const char *xn;
	const uint8_t *xv;
	while (shale_xattr_next(e->xattrs, e->xattrs_len, &pos, &xn, &nl, &xv, &vl)) {
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)nl, xn);
		if (set(path, name, xv, vl, 0) < 0 && errno != ENOTSUP && errno != EPERM)
			return errno;
	}
	if (origin) {
		uint8_t v[8];
		for (int i = 0; i < 8; i++)
			v[i] = (uint8_t)(origin >> (8 * i));
		/* user.* xattrs exist only on files and directories: without root, a
		 * copied-up symlink or fifo gets a new inode number (as overlayfs's) */
		if (set(path, XNAME(fs, X_ORIGIN), v, 8, 0) < 0 && !(fs->userx && errno == EPERM))
			return errno;
	}
	return 0;
}

/* Owner, xattrs, then mode (chown clears setuid bits; without root, a user
 * xattr needs write permission), times, of an object named `name` in dirfd. */
static int set_meta_at(struct fs *fs, int dirfd, const char *name, const shale_entry *e,
		       uint64_t origin)
{
	char path[PROC_AT_MAX];
	at_path(dirfd, name, path);
	if (fchownat(dirfd, name, map_uid(fs, e->uid), map_gid(fs, e->gid), AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	int err = set_xattrs(fs, path, false, e, origin);
	if (err)
		return err;
	if (e->type != SHALE_LNK && fchmodat(dirfd, name, e->mode & 07777, 0) < 0)
		return errno;
	struct timespec ts[2] = {e->mtime, e->mtime};
	return utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
}

static int copy_up_file(struct fs *fs, struct node *n, const shale_entry *e, int pfd)
{
	int fd = openat(fs->work_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	char path[32];
	proc_path(fd, path);
	/* the mode comes last: the file stays 0600 while its markers are set */
	int err = fchown(fd, map_uid(fs, e->uid), map_gid(fs, e->gid)) < 0 ? errno : 0;
	if (!err)
		err = set_xattrs(fs, path, true, e, n->ino);
	if (!err && (e->flags & SHALE_F_INLINE)) {
		err = pwrite_full(fd, e->data, e->data_len, 0);
	} else if (!err && e->size > 0) {
		struct partial p = {.lower_size = e->size, .limit = e->size, .content = e->content,
				    .chunked = e->flags & SHALE_F_CHUNKED};
		p.nchunks = (uint32_t)((e->size + SHALE_CHUNK_SIZE - 1) / SHALE_CHUNK_SIZE);
		if (p.nchunks <= MAX_PARTIAL_CHUNKS) {
			p.bits = calloc((p.nchunks + 7) / 8, 1);
			err = p.bits ? partial_store(fs, fd, &p) : ENOMEM;
			free(p.bits);
			if (!err && ftruncate(fd, (off_t)e->size) < 0)
				err = errno;
		} else { /* too big to track: all the data now */
			uint8_t *buf = malloc(SHALE_CHUNK_SIZE);
			if (!buf)
				err = ENOMEM;
			for (uint64_t off = 0; !err && off < e->size; off += SHALE_CHUNK_SIZE) {
				size_t got;
				if (shale_content_read(fs->s, e, off, buf, SHALE_CHUNK_SIZE, &got) < 0)
					err = store_error();
				else
					err = pwrite_full(fd, buf, got, (off_t)off);
			}
			free(buf);
			if (!err && fsync(fd) < 0)
				err = errno;
		}
	}
	if (!err && fchmod(fd, e->mode & 07777) < 0) /* after the data: it may clear setuid */
		err = errno;
	if (!err) { /* times last: the writes above moved them */
		struct timespec ts[2] = {e->mtime, e->mtime};
		futimens(fd, ts);
	}
	SHALE_CRASH_POINT("copy-up before link");
	if (!err && linkat(fd, "", pfd, n->name, AT_EMPTY_PATH) < 0 &&
	    linkat(AT_FDCWD, path, pfd, n->name, AT_SYMLINK_FOLLOW) < 0)
		err = errno;
	close(fd);
	return err;
}

/* Directories, symlinks and special files: made aside, renamed into place. */
static int copy_up_other(struct fs *fs, struct node *n, const shale_entry *e, int pfd)
{
	char tmp[64];
	work_name(fs, tmp);
	int r;
	switch (e->type) {
	case SHALE_DIR: r = mkdirat(fs->work_fd, tmp, 0700); break;
	case SHALE_LNK: {
		char *target = strndup(e->target, e->target_len);
		if (!target)
			return ENOMEM;
		r = symlinkat(target, fs->work_fd, tmp);
		free(target);
		break;
	}
	default: r = mknodat(fs->work_fd, tmp, shale_entry_st_mode(e), e->rdev); break;
	}
	if (r < 0)
		return errno;
	int err = set_meta_at(fs, fs->work_fd, tmp, e, e->type == SHALE_DIR ? 0 : n->ino);
	/* without root, moving a directory to another parent needs write
	 * permission on it (its ".."): a read-only one gets its mode after */
	bool later = !err && fs->userx && e->type == SHALE_DIR && (e->mode & S_IRWXU) != S_IRWXU;
	if (later && fchmodat(fs->work_fd, tmp, (e->mode & 07777) | S_IRWXU, 0) < 0)
		err = errno;
	if (!err && renameat2(fs->work_fd, tmp, pfd, n->name, RENAME_NOREPLACE) < 0)
		err = errno;
	if (!err && later && fchmodat(pfd, n->name, e->mode & 07777, 0) < 0)
		err = errno;
	if (err) {
		if (e->type == SHALE_DIR)
			unlinkat(fs->work_fd, tmp, AT_REMOVEDIR);
		else
			unlinkat(fs->work_fd, tmp, 0);
	}
	return err;
}

/* Link the other visible names of a hardlinked lower file to its new upper
 * inode, so every name still shows one inode. */
struct group_ctx {
	struct fs *fs;
	struct node *n;
};

static int link_name(void *ctx, uint64_t lparent, const char *name)
{
	struct group_ctx *g = ctx;
	struct fs *fs = g->fs;
	struct node *n = g->n;
	if (n->parent && n->parent->lower == lparent && !strcmp(n->name, name))
		return 0;
	/* find the merged directory that shows this lower directory */
	char *path = shale_view_path(fs->view, lparent);
	if (!path)
		return 0;
	struct node *d = fs->root;
	int err = 0;
	node_ref(fs, d);
	char *save, *comp;
	for (comp = strtok_r(path, "/", &save); comp && d; comp = strtok_r(NULL, "/", &save)) {
		struct node *c = child_node(fs, d, comp, &err);
		node_unref(fs, d);
		d = c;
	}
	free(path);
	if (!d)
		return 0;
	if (d->lower == lparent && d->type == SHALE_DIR) {
		int e2 = 0;
		struct node *c = child_node(fs, d, name, &e2);
		struct stat st;
		bool in_upper = d->ufd >= 0 && fstatat(d->ufd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (c == n && !in_upper && copy_up(fs, d) == 0)
			linkat(n->ufd, "", d->ufd, name, AT_EMPTY_PATH);
		if (c)
			node_unref(fs, c);
	}
	node_unref(fs, d);
	return 0;
}

int copy_up(struct fs *fs, struct node *n)
{
	if (fs->ro)
		return EROFS;
	if (__atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE) >= 0)
		return 0;
	if (!n->parent)
		return EIO;
	int err = copy_up(fs, n->parent);
	if (err)
		return err;
	pthread_mutex_lock(&n->mu);
	if (n->ufd >= 0) {
		pthread_mutex_unlock(&n->mu);
		return 0;
	}
	shale_entry e;
	void *eb = NULL;
	if (shale_view_entry(fs->view, n->lower, &e, &eb) < 0) {
		pthread_mutex_unlock(&n->mu);
		return store_error();
	}
	int pfd = n->parent->ufd;
	err = e.type == SHALE_REG ? copy_up_file(fs, n, &e, pfd) : copy_up_other(fs, n, &e, pfd);
	if (!err) {
		int fd = openat(pfd, n->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			err = errno;
		else if (e.type == SHALE_REG && (err = partial_load(fs->s, fd, &n->part)))
			close(fd);
		else
			__atomic_store_n(&n->ufd, fd, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&n->mu);
	if (!err && e.type == SHALE_REG && e.nlink > 1) {
		struct group_ctx g = {fs, n};
		shale_view_names(fs->view, n->lower, link_name, &g);
	}
	free(eb);
	return err;
}

/* ---- data, chunk by chunk ---- */

static bool has_bit(const struct partial *p, uint64_t i)
{
	return p->bits[i / 8] & (1u << (i % 8));
}

int fill_range(struct fs *fs, struct node *n, uint64_t off, uint64_t len)
{
	struct partial *p = n->part;
	if (!p || len == 0 || off >= p->limit)
		return 0;
	uint64_t first = off / SHALE_CHUNK_SIZE, last = (off + len - 1) / SHALE_CHUNK_SIZE;
	if (last >= p->nchunks)
		last = p->nchunks - 1;
	int wfd = -1, err = 0;
	uint8_t *buf = NULL;
	for (uint64_t i = first; i <= last && !err; i++) {
		if (has_bit(p, i))
			continue;
		uint64_t start = i * SHALE_CHUNK_SIZE;
		size_t clen = (size_t)(p->limit - start < SHALE_CHUNK_SIZE ? p->limit - start
									   : SHALE_CHUNK_SIZE);
		if (i < p->ch.count && !shale_id_is_zero(&p->ch.digests[i])) {
			/* a hole below is a hole above: only data needs copying */
			if (wfd < 0 && (wfd = node_reopen(n, O_WRONLY)) < 0) {
				err = errno;
				break;
			}
			int ofd = shale_object_open(fs->s, &p->ch.digests[i]);
			if (ofd < 0) {
				err = shale_errcode() ? shale_errcode() : EIO; /* EMFILE... */
				break;
			}
			err = copy_chunk(ofd, wfd, clen, (off_t)start, &buf);
			close(ofd);
			if (err) {
				/* the chunk's bit stays clear: give back what part of it
				 * was written (a full disk keeps room for other writes) */
				fallocate(wfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  (off_t)start, (off_t)clen);
				break;
			}
		}
		SHALE_CRASH_POINT("chunk copied up");
		/* reads take it from the upper now; the marker says so later */
		p->bits[i / 8] |= (uint8_t)(1u << (i % 8));
		__atomic_store_n(&n->part_dirty, true, __ATOMIC_RELEASE);
	}
	if (wfd >= 0)
		close(wfd);
	free(buf);
	return err;
}

/* Write a node's partial state to its marker; once nothing is left below
 * (whole), drop the marker and the state: an ordinary upper file. */
static int partial_record(struct fs *fs, struct node *n, bool whole)
{
	if (!whole)
		return partial_store(fs, n->ufd, n->part);
	char path[32];
	proc_path(n->ufd, path);
	if (removexattr(path, XNAME(fs, X_COPYUP)) < 0 && errno != ENODATA)
		return errno;
	partial_free(n->part);
	n->part = NULL;
	return 0;
}

int partial_flush(struct fs *fs, struct node *n, int fd)
{
	struct partial *p = n->part;
	if (!p || !n->part_dirty)
		return 0;
	int own = -1;
	if (fd < 0 && (fd = own = node_reopen(n, O_WRONLY)) < 0)
		return errno;
	/* data durable before the marker that says it is there */
	int err = fdatasync(fd) < 0 ? errno : 0;
	if (own >= 0)
		close(own);
	SHALE_CRASH_POINT("copied-up chunks synced");
	if (err)
		return err;
	bool all = true;
	for (uint64_t i = 0; i < p->nchunks && all; i++)
		all = has_bit(p, i);
	if ((err = partial_record(fs, n, all)))
		return err;
	__atomic_store_n(&n->part_dirty, false, __ATOMIC_RELEASE);
	return 0;
}

int partial_flush_all(struct fs *fs)
{
	size_t cap = 0, k = 0;
	pthread_mutex_lock(&fs->table_mu);
	for (size_t i = 0; i < fs->table_cap; i++)
		for (struct node *n = fs->table[i]; n; n = n->hnext)
			cap += __atomic_load_n(&n->part_dirty, __ATOMIC_ACQUIRE);
	struct node **v = cap ? malloc(cap * sizeof *v) : NULL;
	for (size_t i = 0; v && i < fs->table_cap; i++)
		for (struct node *n = fs->table[i]; n && k < cap; n = n->hnext)
			if (__atomic_load_n(&n->part_dirty, __ATOMIC_ACQUIRE)) {
				n->refs++; /* kept until flushed */
				v[k++] = n;
			}
	pthread_mutex_unlock(&fs->table_mu);
	if (cap && !v)
		return ENOMEM;
	int err = 0;
	for (size_t i = 0; i < k; i++) {
		pthread_mutex_lock(&v[i]->mu);
		int e = partial_flush(fs, v[i], -1);
		pthread_mutex_unlock(&v[i]->mu);
		err = err ? err : e;
		node_unref(fs, v[i]);
	}
	free(v);
	return err;
}

int truncate_upper(struct fs *fs, struct node *n, int fd, uint64_t size)
{
	struct partial *p = n->part;
	if (p && size < p->limit) {
		/* the chunk the new end falls in keeps its head: copy it up first */
		int err = size % SHALE_CHUNK_SIZE ? fill_range(fs, n, size, 1) : 0;
		if (!err)
			err = partial_flush(fs, n, fd); /* what stays below is listed first */
		if (err)
			return err;
		p = n->part;
		if (p) {
			uint64_t idx = size / SHALE_CHUNK_SIZE;
			p->limit = idx * SHALE_CHUNK_SIZE; /* from here on, the upper file */
			p->nchunks = (uint32_t)idx;
			if ((err = partial_record(fs, n, p->limit == 0)))
				return err;
		}
	}
	return ftruncate(fd, (off_t)size) < 0 ? errno : 0;
}
