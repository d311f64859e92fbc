/* Looking names up in the merged view: the upper directory first (a whiteout
 * there hides the name), then the lower view, which answers with one LMDB get
 * whatever the number of layers. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"

int do_lookup(struct fs *fs, struct node *dir, const char *name, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->attr_timeout = CACHE_TIMEOUT;
	e->entry_timeout = CACHE_TIMEOUT;
	if (strlen(name) > NAME_MAX)
		return ENAMETOOLONG;
	if (!dir->lower || dir->opaque)
		return ENOENT;
	shale_vattr a;
	if (shale_view_lookup(fs->view, dir->lower, name, &a) < 0)
		return shale_errcode() == ENOENT ? ENOENT : EIO;
	struct node *n = node_find_or_add(fs, a.ino, a.ino, a.type, dir, name, true);
	e->ino = node_id(fs, n);
	vattr_to_stat(&a, n->ino, &e->attr);
	return 0;
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
