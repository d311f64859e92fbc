/* Listing directories. opendir takes a snapshot of the merged listing, so
 * offsets are positions in it: stable across calls, and telldir/seekdir work. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

struct dent {
	char *name;
	shale_vattr a; /* lower attributes */
};

struct dirh {
	struct node *n;
	struct dent *v;
	size_t count, cap;
};

static int add_lower(void *ctx, const char *name, const shale_vattr *a)
{
	struct dirh *d = ctx;
	if (d->count == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 64;
		d->v = realloc(d->v, d->cap * sizeof *d->v);
	}
	d->v[d->count].name = strdup(name);
	d->v[d->count].a = *a;
	d->count++;
	return 0;
}

static void dirh_free(struct dirh *d)
{
	for (size_t i = 0; i < d->count; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *n = node_get(fs, ino);
	struct dirh *d = calloc(1, sizeof *d);
	d->n = n;
	if (n->lower && !n->opaque && shale_view_readdir(fs->view, n->lower, NULL, add_lower, d) < 0) {
		dirh_free(d);
		fuse_reply_err(req, EIO);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 1; /* the listing only changes through us */
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		dirh_free(d); /* the opener was interrupted */
}

static mode_t type_bits(uint8_t type)
{
	shale_entry e = {.type = type};
	return shale_entry_st_mode(&e) & S_IFMT;
}

/* Position 0 is ".", 1 is "..", 2 + i is entry i; each entry's offset is the
 * position of the next one. */
static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
		       bool plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;
	for (size_t pos = (size_t)off; pos < d->count + 2; pos++) {
		const char *name;
		struct fuse_entry_param e;
		memset(&e, 0, sizeof e);
		struct node *child = NULL;
		if (pos < 2) {
			name = pos ? ".." : ".";
			struct node *n = pos && d->n->parent ? d->n->parent : d->n;
			e.attr.st_ino = n->ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			struct dent *de = &d->v[pos - 2];
			name = de->name;
			if (plus) {
				child = node_find_or_add(fs, de->a.ino, de->a.ino, de->a.type, d->n,
							 de->name, true);
				e.ino = node_id(fs, child);
				e.attr_timeout = e.entry_timeout = CACHE_TIMEOUT;
				vattr_to_stat(&de->a, child->ino, &e.attr);
			} else {
				e.attr.st_ino = de->a.ino;
				e.attr.st_mode = type_bits(de->a.type);
			}
		}
		size_t len = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
							   (off_t)pos + 1)
				  : fuse_add_direntry(req, buf + used, size - used, name, &e.attr,
						      (off_t)pos + 1);
		if (len > size - used) {
			if (child) /* did not fit: the kernel never saw this reference */
				node_forget(fs, child, 1);
			break;
		}
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dirh_free((struct dirh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}
