/* The node table (FUSE node ids to inodes of the merged view) and attributes.
 *
 * Nodes are keyed by st_ino, so the names of one hardlinked file share a node
 * (and the kernel shares one inode and one page cache for them). The table lock
 * is held only to find, add or drop a node, never across I/O; getattr and read
 * on lower nodes take no lock at all (LMDB readers are lock-free). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static size_t slot(uint64_t ino, size_t cap)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

void node_table_init(struct fs *fs)
{
	pthread_mutex_init(&fs->table_mu, NULL);
	fs->table = calloc(4096, sizeof *fs->table);
	fs->table_cap = fs->table ? 4096 : 0; /* none: the first insert tries again */
}

/* Twice the slots. Without memory the table stays as it is: chains only get
 * longer. Returns false then. Table lock held. */
static bool table_grow(struct fs *fs)
{
	size_t cap = fs->table_cap ? fs->table_cap * 2 : 4096;
	struct node **t = calloc(cap, sizeof *t);
	if (!t)
		return false;
	for (size_t i = 0; i < fs->table_cap; i++) {
		for (struct node *n = fs->table[i], *next; n; n = next) {
			next = n->hnext;
			size_t j = slot(n->ino, cap);
			n->hnext = t[j];
			t[j] = n;
		}
	}
	free(fs->table);
	fs->table = t;
	fs->table_cap = cap;
	return true;
}

static void node_free(struct node *n)
{
	if (n->ufd >= 0)
		close(n->ufd);
	partial_free(n->part);
	listing_drop(n);
	pthread_mutex_destroy(&n->mu);
	free(n->name);
	free(n);
}

static void table_remove(struct fs *fs, struct node *n)
{
	struct node **pp = &fs->table[slot(n->ino, fs->table_cap)];
	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = n->hnext;
		fs->table_n--;
	}
}

void node_table_free(struct fs *fs)
{
	for (size_t i = 0; i < fs->table_cap; i++) {
		for (struct node *n = fs->table[i], *next; n; n = next) {
			next = n->hnext;
			if (n != fs->root)
				node_free(n);
		}
	}
	free(fs->table);
	fs->table = NULL;
	pthread_mutex_destroy(&fs->table_mu);
}

struct node *node_get(struct fs *fs, fuse_ino_t nodeid)
{
	return nodeid == FUSE_ROOT_ID ? fs->root : (struct node *)(uintptr_t)nodeid;
}

fuse_ino_t node_id(struct fs *fs, struct node *n)
{
	return n == fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

struct node *node_new(const char *name)
{
	struct node *n = calloc(1, sizeof *n);
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	n->ufd = -1;
	pthread_mutex_init(&n->mu, NULL);
	return n;
}

void node_discard(struct node *n)
{
	if (n)
		node_free(n);
}

struct node *node_find_or_add(struct fs *fs, uint64_t ino, uint64_t lower, uint8_t type,
			      struct node *parent, const char *name, bool lookup)
{
	return node_find_or_insert(fs, NULL, ino, lower, type, parent, name, lookup);
}

struct node *node_find_or_insert(struct fs *fs, struct node *spare, uint64_t ino,
				 uint64_t lower, uint8_t type, struct node *parent,
				 const char *name, bool lookup)
{
	pthread_mutex_lock(&fs->table_mu);
	struct node *n = fs->table_cap ? fs->table[slot(ino, fs->table_cap)] : NULL;
	while (n && n->ino != ino)
		n = n->hnext;
	if (n) {
		node_discard(spare);
	} else {
		/* out of memory: an error for this request, the table as it was */
		if ((!fs->table_cap && !table_grow(fs)) || !(n = spare ? spare : node_new(name))) {
			pthread_mutex_unlock(&fs->table_mu);
			node_discard(spare);
			return NULL;
		}
		n->ino = ino;
		n->lower = lower;
		n->type = type;
		n->parent = parent;
		if (parent)
			parent->refs++;
		if (2 * (fs->table_n + 1) > fs->table_cap)
			table_grow(fs);
		size_t j = slot(ino, fs->table_cap);
		n->hnext = fs->table[j];
		fs->table[j] = n;
		fs->table_n++;
		if (fs->reclaim_on && fs->table_n > fs->reclaim_trigger)
			pthread_cond_signal(&fs->reclaim_cv);
	}
	if (lookup)
		n->nlookup++;
	else
		n->refs++;
	pthread_mutex_unlock(&fs->table_mu);
	return n;
}

/* Drop nodes nobody holds, walking up to parents they held. Table lock held. */
static void release_locked(struct fs *fs, struct node *n)
{
	while (n && n != fs->root && n->nlookup == 0 && n->refs == 0) {
		struct node *parent = n->parent;
		table_remove(fs, n);
		node_free(n);
		if (parent)
			parent->refs--;
		n = parent;
	}
}

void node_ref(struct fs *fs, struct node *n)
{
	pthread_mutex_lock(&fs->table_mu);
	n->refs++;
	pthread_mutex_unlock(&fs->table_mu);
}

void node_unref(struct fs *fs, struct node *n)
{
	pthread_mutex_lock(&fs->table_mu);
	n->refs--;
	release_locked(fs, n);
	pthread_mutex_unlock(&fs->table_mu);
}

void node_forget(struct fs *fs, struct node *n, uint64_t nlookup)
{
	pthread_mutex_lock(&fs->table_mu);
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	release_locked(fs, n);
	pthread_mutex_unlock(&fs->table_mu);
}

void vattr_to_stat(const struct fs *fs, const shale_vattr *a, uint64_t ino, struct stat *st)
{
	shale_entry e = {.type = a->type, .mode = a->mode};
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_mode = shale_entry_st_mode(&e);
	st->st_nlink = a->nlink;
	st->st_uid = map_uid(fs, a->uid);
	st->st_gid = map_gid(fs, a->gid);
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_blksize = 4096;
	st->st_atim = a->mtime; /* layers keep no access times */
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

/* Blocks of the chunks of a partial file still below: du counts them. */
static blkcnt_t lower_blocks(struct node *n)
{
	blkcnt_t b = 0;
	pthread_mutex_lock(&n->mu);
	struct partial *p = n->part;
	for (uint64_t i = 0; p && i < p->nchunks; i++) {
		if ((p->bits[i / 8] & (1u << (i % 8))) || i >= p->ch.count ||
		    shale_id_is_zero(&p->ch.digests[i]))
			continue;
		uint64_t len = p->limit - i * SHALE_CHUNK_SIZE;
		len = len > SHALE_CHUNK_SIZE ? SHALE_CHUNK_SIZE : len;
		b += (blkcnt_t)(((len + 4095) / 4096) * 8);
	}
	pthread_mutex_unlock(&n->mu);
	return b;
}

int node_stat(struct fs *fs, struct node *n, struct stat *st)
{
	int ufd = __atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE);
	if (ufd >= 0) {
		if (fstatat(ufd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return errno;
		st->st_ino = n->ino;
		if (S_ISDIR(st->st_mode) && n->lower)
			st->st_nlink = 1; /* merged: not worth counting, as overlayfs */
		if (n->part)
			st->st_blocks += lower_blocks(n);
		return 0;
	}
	shale_vattr a;
	if (shale_view_getattr(fs->view, n->lower, &a) < 0)
		return store_error();
	vattr_to_stat(fs, &a, n->ino, st);
	return 0;
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fuse_req_userdata(req);
	node_forget(fs, node_get(fs, ino), nlookup);
	fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fuse_req_userdata(req);
	for (size_t i = 0; i < count; i++)
		node_forget(fs, node_get(fs, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct stat st;
	int err = node_stat(fs, node_get(fs, ino), &st);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	freeze_enter(fs);
	pthread_rwlock_rdlock(&fs->tree_lock);
	int err = copy_up(fs, n); /* metadata only: chmod of a huge file copies no data */
	pthread_rwlock_unlock(&fs->tree_lock);
	char path[32];
	proc_path(n->ufd, path);
	bool link = n->type == SHALE_LNK;
	if (!err && (to_set & FUSE_SET_ATTR_MODE) && !link && chmod(path, attr->st_mode & 07777) < 0)
		err = errno;
	if (!err && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
		if (fchownat(n->ufd, "", uid, gid, AT_EMPTY_PATH) < 0)
			err = errno;
	}
	if (!err && (to_set & FUSE_SET_ATTR_SIZE)) {
		/* a fresh fd: the handle's (if any) may be read-only */
		int fd = node_reopen(n, O_WRONLY);
		if (fd < 0) {
			err = errno;
		} else {
			pthread_mutex_lock(&n->mu);
			err = truncate_upper(fs, n, fd, (uint64_t)attr->st_size);
			pthread_mutex_unlock(&n->mu);
			close(fd);
			/* a truncate by a caller without CAP_FSETID (killpriv.c) */
			if (!err && (to_set & FUSE_SET_ATTR_KILL_SUID))
				err = kill_suidgid(req, n->ufd);
		}
	}
	if (!err && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		int r = link && n->parent && n->parent->ufd >= 0
				? utimensat(n->parent->ufd, n->name, ts, AT_SYMLINK_NOFOLLOW)
				: utimensat(AT_FDCWD, path, ts, 0);
		if (r < 0)
			err = errno;
	}
	freeze_leave(fs);
	struct stat st;
	if (!err)
		err = node_stat(fs, n, &st);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	int ufd = __atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE);
	if (ufd >= 0) {
		char buf[PATH_MAX + 1];
		ssize_t len = readlinkat(ufd, "", buf, sizeof buf - 1);
		if (len < 0) {
			fuse_reply_err(req, errno);
			return;
		}
		buf[len] = 0;
		fuse_reply_readlink(req, buf);
		return;
	}
	shale_entry e;
	void *buf = NULL;
	if (shale_view_entry(fs->view, n->lower, &e, &buf) < 0) {
		fuse_reply_err(req, store_error());
		return;
	}
	char *target = e.type == SHALE_LNK ? strndup(e.target, e.target_len) : NULL;
	if (!target)
		fuse_reply_err(req, e.type == SHALE_LNK ? ENOMEM : EINVAL);
	else
		fuse_reply_readlink(req, target);
	free(target);
	free(buf);
}
