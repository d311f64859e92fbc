/* Extended attributes. Internal markers (overlay whiteout/opaque/redirect
 * attributes, shale's copy-up state) are never shown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int xattr_is_internal(const char *name)
{
	return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13) ||
	       !strncmp(name, "trusted.shale.", 14) || !strncmp(name, "user.shale.", 11);
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	if (xattr_is_internal(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	shale_entry e;
	void *buf = NULL;
	if (shale_view_entry(fs->view, n->lower, &e, &buf) < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	const uint8_t *v;
	uint32_t vl;
	if (!shale_xattr_get(&e, name, &v, &vl))
		fuse_reply_err(req, ENODATA);
	else if (size == 0)
		fuse_reply_xattr(req, vl);
	else if (size < vl)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, (const char *)v, vl);
	free(buf);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	shale_entry e;
	void *buf = NULL;
	if (shale_view_entry(fs->view, n->lower, &e, &buf) < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	char *list = malloc(e.xattrs_len + 1);
	size_t len = 0;
	uint32_t pos = 0, nl, vl;
	const char *xn;
	const uint8_t *xv;
	while (shale_xattr_next(e.xattrs, e.xattrs_len, &pos, &xn, &nl, &xv, &vl)) {
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)nl, xn);
		if (xattr_is_internal(name))
			continue;
		memcpy(list + len, name, nl + 1);
		len += nl + 1;
	}
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, len);
	free(list);
	free(buf);
}
