/* Looking names up in the merged view: the upper directory first (a whiteout
 * there hides the name), then the lower view, which answers with one LMDB get
 * whatever the number of layers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int lower_find(struct fs *fs, struct node *dir, const char *name, shale_vattr *a)
{
	shale_vattr tmp;
	if (!dir->lower || dir->opaque)
		return ENOENT;
	if (shale_view_lookup(fs->view, dir->lower, name, a ? a : &tmp) == 0)
		return 0;
	return store_error(); /* ENOENT when absent; ENOMEM is no absence */
}

/* The lower directory an upper one merges with (*lino, 0 for none): the one
 * it was renamed from, else the same name below (unless opaque). Returns 0 or
 * an errno. */
static int merged_lower(struct fs *fs, int fd, bool opaque, const shale_vattr *below,
			uint64_t *lino)
{
	char redirect[PATH_MAX + 1];
	*lino = 0;
	if (upper_redirect(fd, redirect)) {
		shale_vattr a;
		if (shale_view_resolve(fs->view, redirect + (redirect[0] == '/'), &a) == 0)
			*lino = a.type == SHALE_DIR ? a.ino : 0;
		else if (shale_errcode() == ENOMEM) /* else it points nowhere: no lower */
			return ENOMEM;
		return 0;
	}
	*lino = !opaque && below && below->type == SHALE_DIR ? below->ino : 0;
	return 0;
}

/* Find the node of dir/name; with `lookup`, one kernel reference is taken (and
 * e filled), else an internal one. Returns 0 or an errno. */
static int find_child(struct fs *fs, struct node *dir, const char *name, bool lookup,
		      struct node **out, struct stat *st)
{
	if (strlen(name) > NAME_MAX)
		return ENAMETOOLONG;
	int dfd = __atomic_load_n(&dir->ufd, __ATOMIC_ACQUIRE);
	struct stat ust;
	bool upper = false;
	if (dfd >= 0) {
		if (fstatat(dfd, name, &ust, AT_SYMLINK_NOFOLLOW) == 0) {
			if (upper_is_whiteout(dfd, name, &ust))
				return ENOENT;
			upper = true;
		} else if (errno != ENOENT) {
			return errno;
		}
	}
	shale_vattr a;
	int lerr = lower_find(fs, dir, name, &a);
	if (lerr && lerr != ENOENT)
		return lerr;
	bool lower = !lerr;
	if (!upper && !lower)
		return ENOENT;
	if (!upper) {
		struct node *n = node_find_or_add(fs, a.ino, a.ino, a.type, dir, name, lookup);
		if (!n)
			return ENOMEM;
		int err = 0;
		if (__atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE) >= 0)
			err = node_stat(fs, n, st); /* another name of a copied-up file */
		else
			vattr_to_stat(fs, &a, n->ino, st);
		if (err) {
			if (lookup)
				node_forget(fs, n, 1);
			else
				node_unref(fs, n);
			return err;
		}
		*out = n;
		return 0;
	}
	int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	uint64_t ino, lino = 0;
	uint8_t type;
	bool opaque = false;
	if (S_ISDIR(ust.st_mode)) {
		type = SHALE_DIR;
		opaque = upper_opaque(fd);
		int err = merged_lower(fs, fd, opaque, lower ? &a : NULL, &lino);
		if (err) {
			close(fd);
			return err;
		}
		ino = lino ? lino : UPPER_INO(ust.st_ino);
	} else {
		type = S_ISREG(ust.st_mode)    ? SHALE_REG
		       : S_ISLNK(ust.st_mode)  ? SHALE_LNK
		       : S_ISCHR(ust.st_mode)  ? SHALE_CHR
		       : S_ISBLK(ust.st_mode)  ? SHALE_BLK
		       : S_ISFIFO(ust.st_mode) ? SHALE_FIFO
					       : SHALE_SOCK;
		lino = upper_origin(dfd, name);
		ino = lino ? lino : UPPER_INO(ust.st_ino);
	}
	struct node *n = node_find_or_add(fs, ino, lino, type, dir, name, lookup);
	if (!n) {
		close(fd);
		return ENOMEM;
	}
	pthread_mutex_lock(&n->mu);
	int err = 0;
	if (n->ufd < 0) {
		if (type == SHALE_REG && (err = partial_load(fs->s, fd, &n->part)) != 0) {
			close(fd);
		} else {
			n->opaque = opaque;
			__atomic_store_n(&n->ufd, fd, __ATOMIC_RELEASE);
		}
	} else {
		close(fd);
	}
	pthread_mutex_unlock(&n->mu);
	if (!err)
		err = node_stat(fs, n, st);
	if (err) {
		if (lookup)
			node_forget(fs, n, 1);
		else
			node_unref(fs, n);
		return err;
	}
	if (type == SHALE_DIR && n->ufd >= 0 && n->lower)
		st->st_nlink = 1; /* merged: not worth counting, as overlayfs */
	*out = n;
	return 0;
}

int do_lookup(struct fs *fs, struct node *dir, const char *name, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->attr_timeout = CACHE_TIMEOUT;
	e->entry_timeout = CACHE_TIMEOUT;
	struct node *n;
	int err = find_child(fs, dir, name, true, &n, &e->attr);
	if (!err)
		e->ino = node_id(fs, n);
	return err;
}

struct node *child_node(struct fs *fs, struct node *dir, const char *name, int *err)
{
	struct node *n;
	struct stat st;
	*err = find_child(fs, dir, name, false, &n, &st);
	return *err ? NULL : n;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	int err = do_lookup(fs, node_get(fs, parent), name, &e);
	if (err == ENOENT) {
		/* a negative entry: the kernel caches the absence too */
		e.ino = 0;
		fuse_reply_entry(req, &e);
	} else if (err) {
		fuse_reply_err(req, err);
	} else {
		fuse_reply_entry(req, &e);
	}
}
