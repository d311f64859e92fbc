/* Changing the tree of a writable mount: create, mkdir, mknod, symlink, link,
 * unlink, rmdir, rename. Deleting a lower name leaves a whiteout; a directory
 * made where one was deleted is opaque; a renamed lower directory keeps its
 * lower contents through a redirect (where overlayfs without redirect_dir
 * answers EXDEV). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "internal.h"

#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Reply an entry for a node just made or linked (taking a kernel reference). */
static void reply_entry(fuse_req_t req, struct fs *fs, struct node *dir, const char *name)
{
	struct fuse_entry_param e;
	int err = do_lookup(fs, dir, name, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

/* Owner of a new object: the caller, or the group of a setgid directory. */
static void new_owner(fuse_req_t req, struct node *dir, uid_t *uid, gid_t *gid, bool *sgid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat st;
	*uid = ctx->uid;
	*gid = ctx->gid;
	*sgid = false;
	if (fstatat(dir->ufd, "", &st, AT_EMPTY_PATH) == 0 && (st.st_mode & S_ISGID)) {
		*gid = st.st_gid;
		*sgid = true;
	}
}

enum kind { K_FILE, K_DIR, K_NODE, K_LINK };

/* Make dir/name in the upper, replacing a whiteout if one is there (then a new
 * directory is opaque: what was below stays deleted). The kernel asks only
 * for names its lookup did not find, and every change goes through this
 * daemon, so the name is made at once; a whiteout shows up as EEXIST. On
 * success *fdp holds the new object (open for K_FILE, O_PATH otherwise) and
 * *opaque says whether it hides what is below. Returns 0 or errno. */
static int make_object(fuse_req_t req, struct fs *fs, struct node *dir, const char *name,
		       enum kind kind, mode_t mode, dev_t rdev, const char *target, int flags,
		       int *fdp, bool *opaque)
{
	int err = copy_up(fs, dir);
	if (err)
		return err;
	SHALE_CRASH_POINT("create");
	uid_t uid;
	gid_t gid;
	bool sgid;
	new_owner(req, dir, &uid, &gid, &sgid);
	int at = dir->ufd, fd = -1;
	char tmp[64];
	const char *where = name;
	bool over_whiteout = false;
	for (;;) {
		switch (kind) {
		case K_FILE:
			fd = openat(at, where, (flags & ~O_DIRECT) | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
			err = fd < 0 ? errno : 0;
			break;
		case K_DIR:
			/* without root, one made aside is moved in: it must be writable */
			err = mkdirat(at, where, (mode & 07777) | (sgid ? S_ISGID : 0) |
						 (fs->userx && over_whiteout ? S_IRWXU : 0)) < 0
				      ? errno
				      : 0;
			break;
		case K_NODE:
			err = mknodat(at, where, mode, rdev) < 0 ? errno : 0;
			break;
		case K_LINK:
			err = symlinkat(target, at, where) < 0 ? errno : 0;
			break;
		}
		struct stat st;
		if (err != EEXIST || over_whiteout ||
		    fstatat(dir->ufd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !upper_is_whiteout(dir->ufd, name, &st))
			break;
		/* a whiteout is there: make it aside, then trade places */
		over_whiteout = true;
		work_name(fs, tmp);
		at = fs->work_fd;
		where = tmp;
	}
	if (err)
		return err;
	/* made by root: owned by the caller (unless that is us already) */
	if ((uid != geteuid() || gid != getegid()) &&
	    fchownat(at, where, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		err = errno;
	if (!err && kind == K_DIR && over_whiteout) {
		char path[PROC_AT_MAX];
		at_path(at, where, path);
		err = marker_set(fs, path, false, XNAME(fs, X_OPAQUE), "y", 1);
	}
	if (!err && fd < 0 && (fd = openat(at, where, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
		err = errno;
	if (!err && over_whiteout) {
		/* swap the new object with the whiteout, then drop the whiteout */
		if (renameat2(fs->work_fd, tmp, dir->ufd, name, RENAME_EXCHANGE) < 0)
			err = errno;
		else
			unlinkat(fs->work_fd, tmp, 0);
		if (!err && kind == K_DIR && fs->userx &&
		    fchmodat(dir->ufd, name, (mode & 07777) | (sgid ? S_ISGID : 0), 0) < 0)
			err = errno;
	}
	if (err) {
		if (fd >= 0)
			close(fd);
		unlinkat(at, where, kind == K_DIR ? AT_REMOVEDIR : 0);
		return err;
	}
	*fdp = fd;
	*opaque = kind == K_DIR && over_whiteout;
	return 0;
}

/* The node of an object just made; `spare` (node_new) is used or freed. */
static int new_entry(struct fs *fs, struct node *dir, const char *name, int fd, bool opaque,
		     struct node *spare, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->attr_timeout = e->entry_timeout = CACHE_TIMEOUT;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		node_discard(spare);
		return errno;
	}
	mode_t m = e->attr.st_mode;
	uint8_t type = S_ISDIR(m)    ? SHALE_DIR
		       : S_ISLNK(m)  ? SHALE_LNK
		       : S_ISCHR(m)  ? SHALE_CHR
		       : S_ISBLK(m)  ? SHALE_BLK
		       : S_ISFIFO(m) ? SHALE_FIFO
		       : S_ISSOCK(m) ? SHALE_SOCK
				     : SHALE_REG;
	int ufd = dup(fd); /* the node keeps its own fd to the object */
	if (ufd < 0) {
		int err = errno; /* out of fds: without one the node would look lower-only */
		node_discard(spare);
		return err;
	}
	struct node *n = node_find_or_insert(fs, spare, UPPER_INO(e->attr.st_ino), 0, type, dir,
					     name, true);
	if (!n) { /* no node table: out of memory at the mount's start */
		close(ufd);
		return ENOMEM;
	}
	pthread_mutex_lock(&n->mu);
	if (n->ufd < 0 && ufd >= 0) {
		n->opaque = opaque;
		__atomic_store_n(&n->ufd, ufd, __ATOMIC_RELEASE);
	} else if (ufd >= 0) {
		close(ufd);
	}
	pthread_mutex_unlock(&n->mu);
	e->ino = node_id(fs, n);
	e->attr.st_ino = n->ino;
	return 0;
}

static void create_common(fuse_req_t req, fuse_ino_t parent, const char *name, enum kind kind,
			  mode_t mode, dev_t rdev, const char *target)
{
	struct fs *fs = fs_of(req);
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct node *dir = node_get(fs, parent);
	/* memory first: out of it, nothing is made */
	struct node *spare = node_new(name);
	if (!spare) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	freeze_enter(fs);
	pthread_rwlock_rdlock(&fs->tree_lock);
	int fd = -1;
	bool opaque;
	struct fuse_entry_param e;
	int err = make_object(req, fs, dir, name, kind, mode, rdev, target, 0, &fd, &opaque);
	if (!err)
		err = new_entry(fs, dir, name, fd, opaque, spare, &e);
	else
		node_discard(spare);
	if (fd >= 0)
		close(fd);
	pthread_rwlock_unlock(&fs->tree_lock);
	freeze_leave(fs);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	if (S_ISCHR(mode) && rdev == makedev(0, 0)) {
		fuse_reply_err(req, EPERM); /* that is a whiteout: not a file one can make */
		return;
	}
	create_common(req, parent, name, K_NODE, mode, rdev, NULL);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	create_common(req, parent, name, K_DIR, mode, 0, NULL);
}

void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	create_common(req, parent, name, K_LINK, 0777, 0, link);
}

int create_file(fuse_req_t req, struct fs *fs, struct node *dir, const char *name, mode_t mode,
		int flags, int *fd, struct fuse_entry_param *e)
{
	bool opaque;
	struct node *spare = node_new(name); /* memory first: out of it, nothing is made */
	if (!spare)
		return ENOMEM;
	freeze_enter(fs);
	pthread_rwlock_rdlock(&fs->tree_lock);
	int err = make_object(req, fs, dir, name, K_FILE, S_IFREG | mode, 0, NULL, flags, fd, &opaque);
	if (err)
		node_discard(spare);
	else if ((err = new_entry(fs, dir, name, *fd, false, spare, e))) {
		close(*fd);
		*fd = -1;
	}
	pthread_rwlock_unlock(&fs->tree_lock);
	freeze_leave(fs);
	return err;
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = fs_of(req);
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct node *n = node_get(fs, ino), *dir = node_get(fs, newparent);
	freeze_enter(fs);
	pthread_rwlock_rdlock(&fs->tree_lock);
	int e2, err = copy_up(fs, n);
	if (!err)
		err = copy_up(fs, dir);
	struct node *old = err ? NULL : child_node(fs, dir, newname, &e2);
	if (old) {
		node_unref(fs, old);
		err = EEXIST;
	} else if (!err && e2 != ENOENT) {
		err = e2;
	}
	if (!err) {
		struct stat st;
		bool over_whiteout = fstatat(dir->ufd, newname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				     upper_is_whiteout(dir->ufd, newname, &st);
		char tmp[64];
		work_name(fs, tmp);
		int at = over_whiteout ? fs->work_fd : dir->ufd;
		const char *where = over_whiteout ? tmp : newname;
		if (linkat(n->ufd, "", at, where, AT_EMPTY_PATH) < 0)
			err = errno;
		else if (over_whiteout && renameat(fs->work_fd, tmp, dir->ufd, newname) < 0)
			err = errno;
	}
	if (err)
		fuse_reply_err(req, err);
	else
		reply_entry(req, fs, dir, newname);
	pthread_rwlock_unlock(&fs->tree_lock);
	freeze_leave(fs);
}

/* ---- removing ---- */

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *s, const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		char **v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(name)))
		return ENOMEM;
	s->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* names sorted with names_sort() first */
static bool names_has(const struct names *s, const char *name)
{
	return s->n && bsearch(&name, s->v, s->n, sizeof *s->v, cmp_name);
}

static void names_sort(struct names *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof *s->v, cmp_name);
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

struct empty_ctx {
	struct names *hidden;
	bool empty;
};

static int check_lower(void *ctx, const char *name, const shale_vattr *a)
{
	struct empty_ctx *c = ctx;
	if (!names_has(c->hidden, name)) {
		c->empty = false;
		return 1;
	}
	return 0;
}

/* Is a directory empty in the merged view? */
static int merged_empty(struct fs *fs, struct node *d, bool *empty)
{
	struct names whiteouts = {0};
	int err = 0;
	*empty = true;
	if (d->ufd >= 0) {
		int fd = openat(d->ufd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
		if (!dir) {
			if (fd >= 0)
				close(fd);
			return errno;
		}
		struct dirent *de;
		bool xwh = upper_has_xwhiteouts(d->ufd);
		while (!err && (de = readdir(dir)) && *empty) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			struct stat st;
			bool maybe_wh = de->d_type == DT_CHR || de->d_type == DT_UNKNOWN ||
					(xwh && de->d_type == DT_REG);
			if (maybe_wh && fstatat(d->ufd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    upper_is_whiteout(d->ufd, de->d_name, &st))
				err = names_add(&whiteouts, de->d_name);
			else
				*empty = false;
		}
		closedir(dir);
	}
	if (!err && *empty && d->lower && !d->opaque) {
		names_sort(&whiteouts);
		struct empty_ctx c = {&whiteouts, true};
		if (shale_view_readdir(fs->view, d->lower, NULL, check_lower, &c) < 0)
			err = store_error();
		*empty = c.empty;
	}
	names_free(&whiteouts);
	return err;
}

static bool exists_in_upper(struct node *dir, const char *name)
{
	struct stat st;
	return dir->ufd >= 0 && fstatat(dir->ufd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       !upper_is_whiteout(dir->ufd, name, &st);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct node *dir = node_get(fs, parent);
	freeze_enter(fs);
	pthread_rwlock_rdlock(&fs->tree_lock);
	/* what is there, without making a node: the kernel knows it is no directory */
	shale_vattr a;
	struct stat st;
	int err = lower_find(fs, dir, name, &a);
	bool lower = !err;
	bool upper = dir->ufd >= 0 && fstatat(dir->ufd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (err == ENOENT) /* else (ENOMEM) not knowing what is below, remove nothing */
		err = 0;
	if (!err && upper && upper_is_whiteout(dir->ufd, name, &st))
		err = ENOENT;
	else if (!err && !upper && !lower)
		err = ENOENT;
	else if (!err && !upper && a.nlink > 1) {
		/* a lower file with other names: copy it up (metadata only) so the
		 * names left keep one inode with the right link count */
		struct node *n = child_node(fs, dir, name, &err);
		if (n) {
			err = copy_up(fs, n);
			node_unref(fs, n);
		}
	}
	if (!err)
		err = copy_up(fs, dir);
	if (!err && lower)
		err = make_whiteout(fs, dir->ufd, name);
	else if (!err && unlinkat(dir->ufd, name, 0) < 0)
		err = errno;
	fuse_reply_err(req, err);
	pthread_rwlock_unlock(&fs->tree_lock);
	freeze_leave(fs);
}

/* Move an upper directory aside into the work directory (atomically replacing
 * it with a whiteout when `whiteout`), then delete it. */
static int remove_upper_dir(struct fs *fs, struct node *dir, const char *name, bool whiteout)
{
	char tmp[64];
	work_name(fs, tmp);
	struct stat st;
	/* without root, moving it and emptying it need write permission on it */
	if (fs->userx && fstatat(dir->ufd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) && (st.st_mode & S_IRWXU) != S_IRWXU)
		fchmodat(dir->ufd, name, (st.st_mode & 07777) | S_IRWXU, 0);
	if (whiteout) {
		int err = whiteout_at(fs, fs->work_fd, tmp, dir->ufd);
		if (err)
			return err;
		if (renameat2(fs->work_fd, tmp, dir->ufd, name, RENAME_EXCHANGE) < 0) {
			int e = errno;
			unlinkat(fs->work_fd, tmp, 0);
			return e;
		}
	} else if (renameat(dir->ufd, name, fs->work_fd, tmp) < 0) {
		return errno;
	}
	int fd = openat(fs->work_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		upper_clear_dir(fd);
		close(fd);
	}
	unlinkat(fs->work_fd, tmp, AT_REMOVEDIR);
	return 0;
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct node *dir = node_get(fs, parent);
	freeze_enter(fs);
	pthread_rwlock_rdlock(&fs->tree_lock);
	int err;
	struct node *n = child_node(fs, dir, name, &err);
	if (n) {
		bool empty = false;
		if (n->type != SHALE_DIR)
			err = ENOTDIR;
		else if (!(err = merged_empty(fs, n, &empty)) && !empty)
			err = ENOTEMPTY;
		int lerr = err ? ENOENT : lower_find(fs, dir, name, NULL);
		bool lower = !lerr;
		if (lerr != ENOENT)
			err = lerr;
		if (!err)
			err = copy_up(fs, dir);
		if (!err && exists_in_upper(dir, name))
			err = remove_upper_dir(fs, dir, name, lower);
		else if (!err)
			err = make_whiteout(fs, dir->ufd, name);
		node_unref(fs, n);
	}
	fuse_reply_err(req, err);
	pthread_rwlock_unlock(&fs->tree_lock);
	freeze_leave(fs);
}

/* ---- rename ---- */

/* Before a directory with lower contents moves, record where they are. */
static int set_redirect(struct fs *fs, struct node *n)
{
	if (n->type != SHALE_DIR || !n->lower || n->opaque)
		return 0;
	char abs[PATH_MAX + 1];
	if (upper_redirect(n->ufd, abs))
		return 0; /* moved before: it still points at the original */
	char *path = shale_view_path(fs->view, n->lower);
	if (!path)
		return store_error();
	int len = snprintf(abs, sizeof abs, "/%s", path);
	free(path);
	if (len >= (int)sizeof abs)
		return ENAMETOOLONG;
	char p[32];
	proc_path(n->ufd, p);
	return marker_set(fs, p, true, XNAME(fs, X_REDIRECT), abs, (size_t)len);
}

/* An upper-only directory arriving where the lower has a name must not merge
 * with it: make it opaque. */
static int shield(struct fs *fs, struct node *n, struct node *dir, const char *name)
{
	if (n->type != SHALE_DIR || n->lower || n->opaque)
		return 0;
	int err = lower_find(fs, dir, name, NULL);
	if (err)
		return err == ENOENT ? 0 : err;
	char p[32];
	proc_path(n->ufd, p);
	if ((err = marker_set(fs, p, true, XNAME(fs, X_OPAQUE), "y", 1)))
		return err;
	n->opaque = true;
	return 0;
}

/* name: malloc'd before the rename (the node takes it): no failure after. */
static void move_node(struct fs *fs, struct node *n, struct node *dir, char *name)
{
	pthread_mutex_lock(&fs->table_mu);
	struct node *old = n->parent;
	dir->refs++;
	n->parent = dir;
	free(n->name);
	n->name = name;
	pthread_mutex_unlock(&fs->table_mu);
	if (old)
		node_unref(fs, old);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	struct node *od = node_get(fs, parent), *nd = node_get(fs, newparent);
	/* the nodes' new names: out of memory, nothing moves */
	char *src_name = strdup(newname);
	char *dst_name = flags & RENAME_EXCHANGE ? strdup(name) : NULL;
	if (!src_name || ((flags & RENAME_EXCHANGE) && !dst_name)) {
		free(src_name);
		free(dst_name);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	freeze_enter(fs);
	pthread_rwlock_wrlock(&fs->tree_lock);
	int err, e2;
	struct node *src = child_node(fs, od, name, &err);
	struct node *dst = src ? child_node(fs, nd, newname, &e2) : NULL;
	if (src && !dst && e2 != ENOENT)
		err = e2;
	if (err)
		goto out;
	if ((flags & RENAME_NOREPLACE) && dst) {
		err = EEXIST;
		goto out;
	}
	if ((flags & RENAME_EXCHANGE) && !dst) {
		err = ENOENT;
		goto out;
	}
	if (dst == src)
		goto out; /* two names of one file: nothing to do */
	if (dst && !(flags & RENAME_EXCHANGE)) {
		bool empty;
		if (src->type == SHALE_DIR && dst->type != SHALE_DIR)
			err = ENOTDIR;
		else if (src->type != SHALE_DIR && dst->type == SHALE_DIR)
			err = EISDIR;
		else if (dst->type == SHALE_DIR && !(err = merged_empty(fs, dst, &empty)) && !empty)
			err = ENOTEMPTY;
		if (err)
			goto out;
	}
	err = lower_find(fs, od, name, NULL);
	bool src_lower = !err;
	if (err && err != ENOENT)
		goto out;
	if ((err = copy_up(fs, src)) || (err = copy_up(fs, od)) || (err = copy_up(fs, nd)))
		goto out;
	if ((err = set_redirect(fs, src)) || (err = shield(fs, src, nd, newname)))
		goto out;
	SHALE_CRASH_POINT("rename prepared");
	unsigned how;
	struct stat wst;
	bool onto_whiteout = !dst && fstatat(nd->ufd, newname, &wst, AT_SYMLINK_NOFOLLOW) == 0 &&
			     upper_is_whiteout(nd->ufd, newname, &wst);
	if (flags & RENAME_EXCHANGE) {
		if ((err = copy_up(fs, dst)) || (err = set_redirect(fs, dst)) ||
		    (err = shield(fs, dst, od, name)))
			goto out;
		how = RENAME_EXCHANGE;
	} else if (onto_whiteout) {
		if (src_lower && (err = mark_xwhiteouts(fs, od->ufd)))
			goto out;
		/* trade places with the whiteout (a directory cannot replace it, nor
		 * can NOREPLACE): it lands at the old name, where it is kept if
		 * something below needs hiding */
		how = RENAME_EXCHANGE;
	} else {
		if (dst && dst->type == SHALE_DIR && exists_in_upper(nd, newname))
			upper_clear_dir(dst->ufd >= 0 ? dst->ufd : nd->ufd); /* only whiteouts */
		/* RENAME_WHITEOUT makes a device: root only (the fallback below) */
		how = (flags & RENAME_NOREPLACE) | (src_lower && !fs->userx ? RENAME_WHITEOUT : 0);
	}
	if (renameat2(od->ufd, name, nd->ufd, newname, how) == 0) {
		if (src_lower && fs->userx && how == (flags & RENAME_NOREPLACE) &&
		    (err = make_whiteout(fs, od->ufd, name)))
			goto out;
	} else {
		err = errno;
		if (err == EINVAL && (how & RENAME_WHITEOUT)) {
			/* a filesystem without RENAME_WHITEOUT: rename, then whiteout */
			err = renameat2(od->ufd, name, nd->ufd, newname, how & ~RENAME_WHITEOUT) < 0
				      ? errno
				      : make_whiteout(fs, od->ufd, name);
		}
		if (err)
			goto out;
	}
	SHALE_CRASH_POINT("renamed");
	if (onto_whiteout && !src_lower && unlinkat(od->ufd, name, 0) < 0) {
		err = errno;
		goto out;
	}
	move_node(fs, src, nd, src_name);
	src_name = NULL;
	if (flags & RENAME_EXCHANGE) {
		move_node(fs, dst, od, dst_name);
		dst_name = NULL;
	}
out:
	free(src_name);
	free(dst_name);
	if (src)
		node_unref(fs, src);
	if (dst)
		node_unref(fs, dst);
	pthread_rwlock_unlock(&fs->tree_lock);
	freeze_leave(fs);
	fuse_reply_err(req, err);
}
