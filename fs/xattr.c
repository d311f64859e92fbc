/* Extended attributes. Internal markers (overlay whiteout/opaque/redirect
 * attributes, shale's copy-up state) are never shown and cannot be set. Upper
 * objects are reached through /proc/self/fd: the fd's path for anything but a
 * symlink, the parent's path and the name (with l* calls) for a symlink. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "internal.h"

int xattr_is_internal(const char *name)
{
	return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13) ||
	       !strncmp(name, "trusted.shale.", 14) || !strncmp(name, "user.shale.", 11);
}

/* The path of an upper node and whether calls must not follow it. */
static bool upper_path(struct node *n, char *out)
{
	if (n->type == SHALE_LNK && n->parent && n->parent->ufd >= 0) {
		at_path(n->parent->ufd, n->name, out);
		return true;
	}
	proc_path(n->ufd, out);
	return false;
}

static void reply_value(fuse_req_t req, const void *v, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	if (xattr_is_internal(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (__atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE) >= 0) {
		char path[PROC_AT_MAX];
		bool l = upper_path(n, path);
		char *buf = size ? malloc(size) : NULL;
		if (size && !buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		ssize_t r = l ? lgetxattr(path, name, buf, size) : getxattr(path, name, buf, size);
		if (r < 0)
			fuse_reply_err(req, errno);
		else
			reply_value(req, buf, (size_t)r, size ? (size_t)r : 0);
		free(buf);
		return;
	}
	shale_entry e;
	void *buf = NULL;
	if (shale_view_entry(fs->view, n->lower, &e, &buf) < 0) {
		fuse_reply_err(req, store_error());
		return;
	}
	const uint8_t *v;
	uint32_t vl;
	if (!shale_xattr_get(&e, name, &v, &vl))
		fuse_reply_err(req, ENODATA);
	else
		reply_value(req, v, vl, size);
	free(buf);
}

/* Drop internal names from a NUL-separated list, in place; returns the length. */
static size_t filter_list(char *list, size_t len)
{
	size_t out = 0;
	for (size_t i = 0; i < len;) {
		size_t l = strlen(list + i) + 1;
		if (!xattr_is_internal(list + i)) {
			memmove(list + out, list + i, l);
			out += l;
		}
		i += l;
	}
	return out;
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	char *list = NULL;
	size_t len = 0;
	if (__atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE) >= 0) {
		char path[PROC_AT_MAX];
		bool l = upper_path(n, path);
		ssize_t r = l ? llistxattr(path, NULL, 0) : listxattr(path, NULL, 0);
		if (r >= 0) {
			if (!(list = malloc((size_t)r + 1))) {
				fuse_reply_err(req, ENOMEM);
				return;
			}
			r = l ? llistxattr(path, list, (size_t)r) : listxattr(path, list, (size_t)r);
		}
		if (r < 0) {
			fuse_reply_err(req, errno);
			free(list);
			return;
		}
		len = filter_list(list, (size_t)r);
	} else {
		shale_entry e;
		void *buf = NULL;
		if (shale_view_entry(fs->view, n->lower, &e, &buf) < 0) {
			fuse_reply_err(req, store_error());
			return;
		}
		if (!(list = malloc(e.xattrs_len + 1))) {
			free(buf);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		uint32_t pos = 0, nl, vl;
		const char *xn;
		const uint8_t *xv;
		while (shale_xattr_next(e.xattrs, e.xattrs_len, &pos, &xn, &nl, &xv, &vl)) {
			memcpy(list + len, xn, nl);
			list[len + nl] = 0;
			len += nl + 1;
		}
		free(buf);
		len = filter_list(list, len);
	}
	reply_value(req, list, len, size);
	free(list);
}

static void change_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags, bool remove)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (xattr_is_internal(name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	freeze_enter(fs);
	pthread_rwlock_rdlock(&fs->tree_lock);
	int err = copy_up(fs, n); /* metadata only: no data moves for an xattr */
	pthread_rwlock_unlock(&fs->tree_lock);
	if (!err) {
		char path[PROC_AT_MAX];
		bool l = upper_path(n, path);
		int r = remove ? (l ? lremovexattr(path, name) : removexattr(path, name))
			       : (l ? lsetxattr(path, name, value, size, flags)
				    : setxattr(path, name, value, size, flags));
		err = r < 0 ? errno : 0;
	}
	freeze_leave(fs);
	fuse_reply_err(req, err);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		 size_t size, int flags)
{
	change_xattr(req, ino, name, value, size, flags, false);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	change_xattr(req, ino, name, NULL, 0, 0, true);
}
