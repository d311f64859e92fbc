/* Listing directories. A pass over a directory (readdir from offset 0 to the
 * end) reads one snapshot of the merged listing (upper names, then lower
 * names neither in the upper nor whited out), so offsets are positions in it:
 * stable across calls, and telldir/seekdir work. There is no opendir: the
 * kernel's readdir cache serves a directory listed before. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "internal.h"

struct dent {
	char *name;
	uint64_t cookie; /* its readdir offset: from the name's hash */
	bool upper;    /* in the upper: attributes come from a lookup */
	uint8_t type;
	shale_vattr a; /* lower attributes */
};

/* A merged listing. The node keeps the one being read (readdir calls come in
 * batches at increasing offsets); readers hold references. */
struct listing {
	struct dent *v;
	size_t count, cap;
	unsigned refs; /* under the node's mutex */
};

/* Building one: upper names and whiteouts hide the lower names. */
struct builder {
	struct listing *l;
	struct hsearch_data seen;
	bool has_seen;
	int err;
};

static struct dent *add(struct builder *b, const char *name)
{
	struct listing *l = b->l;
	if (l->count == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct dent *v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			b->err = ENOMEM;
			return NULL;
		}
		l->v = v;
		l->cap = cap;
	}
	struct dent *de = &l->v[l->count];
	memset(de, 0, sizeof *de);
	if (!(de->name = strdup(name))) {
		b->err = ENOMEM;
		return NULL;
	}
	l->count++;
	return de;
}

static bool seen(struct builder *b, const char *name)
{
	ENTRY e = {.key = (char *)name}, *r;
	return b->has_seen && hsearch_r(e, FIND, &r, &b->seen);
}

static int add_lower(void *ctx, const char *name, const shale_vattr *a)
{
	struct builder *b = ctx;
	if (seen(b, name))
		return 0; /* in the upper, or whited out there */
	struct dent *de = add(b, name);
	if (!de)
		return -1;
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

/* Upper names (whiteouts only remembered); `keys` owns every upper name, the
 * hash of names to hide points into it. */
static int add_upper(struct builder *b, int ufd, char ***keys, size_t *nkeys)
{
	int fd = openat(ufd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	size_t cap = 0;
	struct dirent *de;
	bool xwh = upper_has_xwhiteouts(ufd);
	while (!b->err && (de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*nkeys == cap) {
			char **k = realloc(*keys, (cap ? 2 * cap : 64) * sizeof *k);
			if (!k) {
				b->err = ENOMEM;
				break;
			}
			*keys = k;
			cap = cap ? 2 * cap : 64;
		}
		if (!((*keys)[*nkeys] = strdup(de->d_name))) {
			b->err = ENOMEM;
			break;
		}
		(*nkeys)++;
		if (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN || (xwh && de->d_type == DT_REG)) {
			struct stat st;
			if (fstatat(ufd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    upper_is_whiteout(ufd, de->d_name, &st))
				continue;
		}
		struct dent *e = add(b, de->d_name);
		if (!e)
			break;
		e->upper = true;
		e->type = dtype_to_shale(de->d_type);
		/* d_ino as stat will show it: a copied-up file keeps its lower inode */
		uint64_t origin = e->type == SHALE_DIR ? 0 : upper_origin(ufd, de->d_name);
		e->a.ino = origin ? origin : UPPER_INO(de->d_ino);
	}
	closedir(dir);
	return b->err;
}

static void listing_free(struct listing *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->count; i++)
		free(l->v[i].name);
	free(l->v);
	free(l);
}

static int by_cookie(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;
	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Offsets are cookies from the names' hashes, in increasing order (as ext4's
 * hashed directories): a pass continued from an offset sees the names after
 * it in any listing of the directory, even one made after changes, so a name
 * is never skipped or repeated because another name came or went. 0, 1, 2
 * are the start, "." and "..". */
static void set_cookies(struct listing *l)
{
	for (size_t i = 0; i < l->count; i++) {
		uint64_t c = XXH3_64bits(l->v[i].name, strlen(l->v[i].name)) >> 1;
		l->v[i].cookie = c < 3 ? c + 3 : c;
	}
	if (l->count > 1)
		qsort(l->v, l->count, sizeof *l->v, by_cookie);
	for (size_t i = 1; i < l->count; i++) /* a collision (2^-63): next number */
		if (l->v[i].cookie <= l->v[i - 1].cookie)
			l->v[i].cookie = l->v[i - 1].cookie + 1;
}

/* The first entry after offset `off` (> 1). */
static size_t first_after(const struct listing *l, uint64_t off)
{
	size_t lo = 0, hi = l->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->v[mid].cookie <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The merged listing of a directory: upper names, then the lower names
 * neither in the upper nor whited out. Returns 0 or an errno. */
static int listing_build(struct fs *fs, struct node *n, struct listing **out)
{
	struct builder b = {.l = calloc(1, sizeof *b.l)};
	if (!b.l)
		return ENOMEM;
	int ufd = __atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE);
	char **keys = NULL;
	size_t nkeys = 0;
	if (ufd >= 0) {
		b.err = add_upper(&b, ufd, &keys, &nkeys);
		if (!b.err && nkeys && n->lower && !n->opaque) {
			if (!hcreate_r(2 * nkeys + 16, &b.seen))
				b.err = ENOMEM;
			b.has_seen = !b.err;
			for (size_t i = 0; !b.err && i < nkeys; i++) {
				ENTRY e = {.key = keys[i]}, *r;
				if (!hsearch_r(e, ENTER, &r, &b.seen))
					b.err = ENOMEM;
			}
		}
	}
	if (!b.err && n->lower && !n->opaque &&
	    shale_view_readdir(fs->view, n->lower, NULL, add_lower, &b) < 0 && !b.err)
		b.err = store_error();
	if (b.has_seen)
		hdestroy_r(&b.seen);
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	if (b.err) {
		listing_free(b.l);
		return b.err;
	}
	set_cookies(b.l);
	b.l->refs = 1;
	*out = b.l;
	return 0;
}

static void listing_put(struct node *n, struct listing *l)
{
	pthread_mutex_lock(&n->mu);
	bool last = --l->refs == 0;
	pthread_mutex_unlock(&n->mu);
	if (last)
		listing_free(l);
}

/* The listing a readdir at `off` reads. Offset 0 starts a pass (the kernel's
 * readdir cache was empty or dropped after a change), so it is made afresh;
 * later offsets continue with the node's listing, or a new one (cookies make
 * any listing of the directory right for any offset). */
static int listing_get(struct fs *fs, struct node *n, off_t off, struct listing **out)
{
	struct listing *l = NULL, *old = NULL;
	if (off > 0) {
		pthread_mutex_lock(&n->mu);
		if ((l = n->listing))
			l->refs++;
		pthread_mutex_unlock(&n->mu);
		if (l) {
			*out = l;
			return 0;
		}
	}
	int err = listing_build(fs, n, &l);
	if (err)
		return err;
	pthread_mutex_lock(&n->mu);
	old = n->listing;
	n->listing = l;
	l->refs++; /* the node's and the caller's */
	pthread_mutex_unlock(&n->mu);
	if (old)
		listing_put(n, old);
	*out = l;
	return 0;
}

/* The end was read: the kernel caches the listing now, the node lets go. */
static void listing_done(struct node *n, struct listing *l)
{
	pthread_mutex_lock(&n->mu);
	bool mine = n->listing == l;
	if (mine)
		n->listing = NULL;
	pthread_mutex_unlock(&n->mu);
	if (mine)
		listing_put(n, l);
}

void listing_drop(struct node *n)
{
	listing_free(n->listing); /* the node is going: no reader is left */
	n->listing = NULL;
}

/* No open state for directories: ENOSYS tells the kernel (FUSE_NO_OPENDIR_SUPPORT)
 * to stop sending opendir and releasedir, and to open with FOPEN_KEEP_CACHE |
 * FOPEN_CACHE_DIR, so a listed directory is read from its readdir cache
 * without any request. The listing only changes through this daemon, and the
 * kernel drops its cache on every change it makes in the directory. */
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	if (fs->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->fh = 0; /* an older kernel: the same, one request per open */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static mode_t type_bits(uint8_t type)
{
	shale_entry e = {.type = type};
	return shale_entry_st_mode(&e) & S_IFMT;
}

/* One batch of a pass: ".", "..", then the entries after `off` in cookie
 * order, each with its own cookie as the offset of what follows it. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct node *dn = node_get(fs, ino);
	struct listing *l;
	int err = off < 0 ? EINVAL : listing_get(fs, dn, off, &l);
	char *buf = err ? NULL : malloc(size);
	if (!err && !buf) {
		listing_put(dn, l);
		err = ENOMEM;
	}
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	size_t used = 0;
	/* slots: 0 ".", 1 "..", 2 + i entry i */
	size_t slot = off < 2 ? (size_t)off : 2 + first_after(l, (uint64_t)off);
	for (; slot < l->count + 2; slot++) {
		const char *name;
		off_t next;
		struct fuse_entry_param e;
		memset(&e, 0, sizeof e);
		struct node *child = NULL;
		if (slot < 2) {
			name = slot ? ".." : ".";
			next = (off_t)slot + 1;
			struct node *n = slot && dn->parent ? dn->parent : dn;
			e.attr.st_ino = n->ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			struct dent *de = &l->v[slot - 2];
			name = de->name;
			next = (off_t)de->cookie;
			if (plus && de->upper) {
				/* a full lookup: the upper decides inode and attributes */
				if (do_lookup(fs, dn, de->name, &e) != 0)
					continue; /* gone since the listing was made */
				child = node_get(fs, e.ino);
			} else if (plus) {
				child = node_find_or_add(fs, de->a.ino, de->a.ino, de->a.type, dn,
							 de->name, true);
				if (!child)
					break; /* out of memory: reply what fits so far */
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
		size_t len = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next)
				  : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, next);
		if (len > size - used) {
			if (child) /* did not fit: the kernel never saw this reference */
				node_forget(fs, child, 1);
			break;
		}
		used += len;
	}
	if (slot >= l->count + 2 && used == 0)
		listing_done(dn, l); /* the empty reply that ends a pass */
	listing_put(dn, l);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true);
}
