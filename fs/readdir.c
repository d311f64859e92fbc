/* Listing directories. opendir takes a snapshot of the merged listing (upper
 * names, then lower names neither in the upper nor whited out), so offsets are
 * positions in it: stable across calls, and telldir/seekdir work. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct dent {
	char *name;
	bool upper;    /* in the upper: attributes come from a lookup */
	uint8_t type;
	shale_vattr a; /* lower attributes */
};

struct dirh {
	struct node *n;
	struct dent *v;
	size_t count, cap;
	struct hsearch_data seen; /* upper names and whiteouts, when there is an upper */
	bool has_seen;
	bool loaded;              /* the snapshot is made */
};

static struct dent *add(struct dirh *d, const char *name)
{
	if (d->count == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 64;
		d->v = realloc(d->v, d->cap * sizeof *d->v);
	}
	struct dent *de = &d->v[d->count++];
	memset(de, 0, sizeof *de);
	de->name = strdup(name);
	return de;
}

static bool seen(struct dirh *d, const char *name)
{
	ENTRY e = {.key = (char *)name}, *r;
	return d->has_seen && hsearch_r(e, FIND, &r, &d->seen);
}

static int add_lower(void *ctx, const char *name, const shale_vattr *a)
{
	struct dirh *d = ctx;
	if (seen(d, name))
		return 0; /* in the upper, or whited out there */
	struct dent *de = add(d, name);
	de->type = a->type;
	de->a = *a;
	return 0;
}

static uint8_t dtype_to_shale(unsigned char t)
{
	switch (t) {
	case DT_DIR: return SHALE_DIR;
	case DT_LNK: return SHALE_LNK;
	case DT_CHR: return SHALE_CHR;
	case DT_BLK: return SHALE_BLK;
	case DT_FIFO: return SHALE_FIFO;
	case DT_SOCK: return SHALE_SOCK;
	default: return SHALE_REG;
	}
}

/* Upper names (whiteouts only remembered); the hash holds the names owned by
 * the entries (keys point into them or into `keys`). */
static int add_upper(struct dirh *d, int ufd, char ***keys, size_t *nkeys)
{
	int fd = openat(ufd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return errno;
	}
	size_t cap = 0;
	struct dirent *de;
	bool xwh = upper_has_xwhiteouts(ufd);
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*nkeys == cap)
			*keys = realloc(*keys, (cap = cap ? 2 * cap : 64) * sizeof **keys);
		(*keys)[(*nkeys)++] = strdup(de->d_name);
		if (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN || (xwh && de->d_type == DT_REG)) {
			struct stat st;
			if (fstatat(ufd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    upper_is_whiteout(ufd, de->d_name, &st))
				continue;
		}
		struct dent *e = add(d, de->d_name);
		e->upper = true;
		e->type = dtype_to_shale(de->d_type);
		/* d_ino as stat will show it: a copied-up file keeps its lower inode */
		uint64_t origin = e->type == SHALE_DIR ? 0 : upper_origin(ufd, de->d_name);
		e->a.ino = origin ? origin : UPPER_INO(de->d_ino);
	}
	closedir(dir);
	return 0;
}

static void dirh_free(struct dirh *d)
{
	for (size_t i = 0; i < d->count; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

/* The merged listing, made at the first readdir: with the kernel's readdir
 * cache, a directory listed before is opened again without being read. */
static int snapshot(struct fs *fs, struct dirh *d)
{
	struct node *n = d->n;
	int ufd = __atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE), err = 0;
	char **keys = NULL;
	size_t nkeys = 0;
	if (ufd >= 0) {
		err = add_upper(d, ufd, &keys, &nkeys);
		if (!err && nkeys && n->lower && !n->opaque) {
			hcreate_r(2 * nkeys + 16, &d->seen);
			d->has_seen = true;
			for (size_t i = 0; i < nkeys; i++) {
				ENTRY e = {.key = keys[i]}, *r;
				hsearch_r(e, ENTER, &r, &d->seen);
			}
		}
	}
	if (!err && n->lower && !n->opaque &&
	    shale_view_readdir(fs->view, n->lower, NULL, add_lower, d) < 0)
		err = EIO;
	if (d->has_seen)
		hdestroy_r(&d->seen);
	d->has_seen = false;
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	d->loaded = !err;
	return err;
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct dirh *d = calloc(1, sizeof *d);
	d->n = node_get(fs, ino);
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
	int err = d->loaded ? 0 : snapshot(fs, d);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
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
			if (plus && de->upper) {
				/* a full lookup: the upper decides inode and attributes */
				if (do_lookup(fs, d->n, de->name, &e) != 0)
					continue; /* gone since opendir */
				child = node_get(fs, e.ino);
			} else if (plus) {
				child = node_find_or_add(fs, de->a.ino, de->a.ino, de->a.type, d->n,
							 de->name, true);
				e.ino = node_id(fs, child);
				e.attr_timeout = e.entry_timeout = CACHE_TIMEOUT;
				if (__atomic_load_n(&child->ufd, __ATOMIC_ACQUIRE) < 0 ||
				    node_stat(fs, child, &e.attr) != 0)
					vattr_to_stat(fs, &de->a, child->ino, &e.attr);
			} else {
				e.attr.st_ino = de->a.ino;
				e.attr.st_mode = type_bits(de->type);
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
