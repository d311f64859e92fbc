/* Sealing an upper directory into a layer, and listing its changes (diff).
 *
 * Reads uppers written by shale or by kernel overlayfs / fuse-overlayfs:
 * 0/0 character devices, zero-size files with overlay.whiteout and .wh.NAME
 * files are whiteouts; an opaque xattr or
 * .wh..wh..opq makes a directory opaque; a directory renamed from below
 * (overlay.redirect) becomes an opaque directory holding its lower contents
 * (layers have no redirects); shale's partial files take the chunks still
 * below as the lower chunk digests (nothing is read or hashed for them), and
 * overlayfs metacopy files take their data from below. Content is chunked and
 * deduplicated against the whole store by the layer builder. Sealing runs in
 * the commands (commit, build, diff), not in the daemon: out of memory aborts
 * with a message (xmalloc), as in the store's writers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "internal.h"

#define XATTR_METACOPY "trusted.overlay.metacopy"

struct link_seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct sealer {
	shale_store *s;
	shale_view *view; /* the image below, or NULL */
	shale_layer_builder *lb;
	struct link_seen *links;
	size_t nlinks, links_cap;
	shale_progress prog;
	shale_progress_fn progress;
	void *pctx;
	uint8_t *buf;
	struct bytes xattrs;
	/* an unprivileged upper: what its owner made is root's in the layer */
	bool map;
	uid_t map_uid;
	gid_t map_gid;
};

static void unmap_owner(const struct sealer *z, shale_entry *e)
{
	if (z->map && e->uid == z->map_uid)
		e->uid = 0;
	if (z->map && e->gid == z->map_gid)
		e->gid = 0;
}

/* Markers, not content: overlayfs's, shale's, and fuse-overlayfs's own
 * (user.fuseoverlayfs.opaque and the like, without root). */
static bool marker_xattr(const char *name)
{
	return xattr_is_internal(name) || !strncmp(name, "user.fuseoverlayfs.", 19) ||
	       !strncmp(name, "trusted.fuseoverlayfs.", 22);
}

/* User xattrs of dirfd/name, sorted by name as the store wants them. */
static int read_xattrs(int dirfd, const char *name, struct bytes *out, bool *opaque, char **redirect,
		       bool *metacopy)
{
	char path[PROC_AT_MAX], list[65536];
	at_path(dirfd, name, path);
	out->len = 0;
	ssize_t n = llistxattr(path, list, sizeof list);
	if (n < 0)
		return errno == ENOTSUP ? 0 : errno;
	/* collect, then sort */
	const char *names[1024];
	size_t count = 0;
	for (ssize_t i = 0; i < n && count < 1024; i += (ssize_t)strlen(list + i) + 1)
		names[count++] = list + i;
	for (size_t i = 1; i < count; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (size_t i = 0; i < count; i++) {
		char val[65536];
		ssize_t vl = lgetxattr(path, names[i], val, sizeof val);
		if (vl < 0)
			continue;
		if (opaque && (!strcmp(names[i], "trusted.overlay.opaque") ||
			       !strcmp(names[i], "user.overlay.opaque") ||
			       !strcmp(names[i], "user.fuseoverlayfs.opaque")))
			*opaque = *opaque || (vl == 1 && val[0] == 'y');
		if (redirect && (!strcmp(names[i], "trusted.overlay.redirect") ||
				 !strcmp(names[i], "user.overlay.redirect")) && !*redirect)
			*redirect = xstrndup(val, (size_t)vl);
		if (metacopy && (!strcmp(names[i], XATTR_METACOPY) ||
				 !strcmp(names[i], "user.overlay.metacopy")))
			*metacopy = true;
		if (marker_xattr(names[i]))
			continue;
		size_t nl = strlen(names[i]);
		uint8_t hdr[2] = {(uint8_t)nl, (uint8_t)(nl >> 8)};
		uint8_t l4[4] = {(uint8_t)vl, (uint8_t)(vl >> 8), (uint8_t)(vl >> 16), (uint8_t)(vl >> 24)};
		if (bytes_put(out, hdr, 2) || bytes_put(out, names[i], nl) || bytes_put(out, l4, 4) ||
		    bytes_put(out, val, (size_t)vl))
			return ENOMEM;
	}
	return 0;
}

static void entry_from_stat(const struct stat *st, shale_entry *e)
{
	memset(e, 0, sizeof *e);
	e->type = S_ISDIR(st->st_mode)	 ? SHALE_DIR
		  : S_ISLNK(st->st_mode)  ? SHALE_LNK
		  : S_ISCHR(st->st_mode)  ? SHALE_CHR
		  : S_ISBLK(st->st_mode)  ? SHALE_BLK
		  : S_ISFIFO(st->st_mode) ? SHALE_FIFO
		  : S_ISSOCK(st->st_mode) ? SHALE_SOCK
					  : SHALE_REG;
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime = st->st_mtim;
	e->ctime = st->st_ctim;
	if (e->type == SHALE_CHR || e->type == SHALE_BLK)
		e->rdev = st->st_rdev;
	/* no directory size: it belongs to the filesystem, and no tar carries it */
}

static void report(struct sealer *z)
{
	z->prog.entries++;
	if (z->progress && z->prog.entries % 256 == 0)
		z->progress(z->pctx, &z->prog);
}

/* ---- file content ---- */

static int copy_data(struct sealer *z, int fd, uint64_t from, uint64_t to)
{
	shale_content_writer *cw = shale_lb_content(z->lb);
	for (uint64_t off = from; off < to;) {
		/* holes stay holes */
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);
		if (data < 0 || (uint64_t)data >= to)
			break;
		off = (uint64_t)data;
		size_t want = to - off < SHALE_CHUNK_SIZE ? (size_t)(to - off) : SHALE_CHUNK_SIZE;
		ssize_t n = pread(fd, z->buf, want, (off_t)off);
		if (n < 0)
			return shale_err(errno, "read: %s", strerror(errno));
		if (n == 0)
			break;
		if (shale_cw_write(cw, off, z->buf, (size_t)n) < 0)
			return -1;
		off += (uint64_t)n;
		z->prog.bytes += (uint64_t)n;
	}
	return 0;
}

/* A partial file: chunks still below are the lower digests when the chunk is
 * the same length as it was; others are assembled from below and above. */
static int seal_partial(struct sealer *z, int fd, const struct partial *p, uint64_t size)
{
	shale_content_writer *cw = shale_lb_content(z->lb);
	uint64_t count = (size + SHALE_CHUNK_SIZE - 1) / SHALE_CHUNK_SIZE;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t start = i * SHALE_CHUNK_SIZE;
		uint64_t end = size - start < SHALE_CHUNK_SIZE ? size : start + SHALE_CHUNK_SIZE;
		bool below = start < p->limit && !(p->bits[i / 8] & (1u << (i % 8)));
		uint64_t lend = p->lower_size - start < SHALE_CHUNK_SIZE ? p->lower_size
									  : start + SHALE_CHUNK_SIZE;
		if (below && p->limit >= end && lend == end && i < p->ch.count) {
			if (shale_cw_put_chunk(cw, i, &p->ch.digests[i]) < 0)
				return -1;
			continue;
		}
		if (!below) {
			if (copy_data(z, fd, start, end) < 0)
				return -1;
			continue;
		}
		/* below up to limit, above after it */
		uint64_t cut = p->limit < end ? p->limit : end;
		memset(z->buf, 0, SHALE_CHUNK_SIZE);
		if (i < p->ch.count && !shale_id_is_zero(&p->ch.digests[i])) {
			int ofd = shale_object_open(z->s, &p->ch.digests[i]);
			if (ofd < 0)
				return -1;
			ssize_t r = pread(ofd, z->buf, cut - start, 0);
			close(ofd);
			if (r < 0)
				return shale_err(errno, "read object: %s", strerror(errno));
		}
		if (cut < end && pread(fd, z->buf + (cut - start), end - cut, (off_t)cut) < 0)
			return shale_err(errno, "read: %s", strerror(errno));
		if (shale_cw_write(cw, start, z->buf, end - start) < 0)
			return -1;
	}
	return 0;
}

static int seal_file(struct sealer *z, int dirfd, const char *name, const char *path,
		     const struct stat *st, bool metacopy, shale_entry *e)
{
	shale_content_writer *cw = shale_lb_content(z->lb);
	if (metacopy && z->view) {
		/* overlayfs metacopy: the data is the lower file's (same path) */
		shale_vattr a;
		shale_entry le;
		void *lb = NULL;
		if (shale_view_resolve(z->view, path, &a) == 0 && a.type == SHALE_REG &&
		    shale_view_entry(z->view, a.ino, &le, &lb) == 0) {
			e->size = le.size;
			e->flags = le.flags & (SHALE_F_INLINE | SHALE_F_CHUNKED);
			e->content = le.content;
			int r = 0;
			if (le.flags & SHALE_F_INLINE) { /* keep our own copy of the bytes */
				if (shale_cw_begin(cw, le.size) < 0 ||
				    shale_cw_write(cw, 0, le.data, le.data_len) < 0 ||
				    shale_cw_end(cw, e) < 0)
					r = -1;
			}
			free(lb);
			return r;
		}
		free(lb);
	}
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return shale_err(errno, "%s: %s", path, strerror(errno));
	struct partial *p = NULL;
	int err = partial_load(z->s, fd, &p);
	int r = -1;
	if (err)
		shale_err(err, "%s: bad copy-up state", path);
	else if (shale_cw_begin(cw, (uint64_t)st->st_size) == 0 &&
		 (p ? seal_partial(z, fd, p, (uint64_t)st->st_size)
		    : copy_data(z, fd, 0, (uint64_t)st->st_size)) == 0 &&
		 shale_cw_end(cw, e) == 0)
		r = 0;
	partial_free(p);
	close(fd);
	return r;
}

/* ---- lower subtrees (what a redirected directory brings along) ---- */

static int emit_lower(struct sealer *z, uint64_t dir, const char *path);

struct lower_item {
	char *name;
	uint64_t ino;
	uint8_t type;
};

struct lower_list {
	struct lower_item *v;
	size_t n, cap;
};

static int collect_lower(void *ctx, const char *name, const shale_vattr *a)
{
	struct lower_list *l = ctx;
	if (l->n == l->cap)
		l->v = xrealloc(l->v, (l->cap = l->cap ? 2 * l->cap : 32) * sizeof *l->v);
	l->v[l->n++] = (struct lower_item){xstrdup(name), a->ino, a->type};
	return 0;
}

static void lower_list_free(struct lower_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

static char *join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p = xmalloc(dl + nl + 2);
	memcpy(p, dir, dl);
	size_t o = dl;
	if (dl)
		p[o++] = '/';
	memcpy(p + o, name, nl + 1);
	return p;
}

/* One lower inode copied (by reference) to `path`; hardlinks stay linked. */
static int emit_lower_entry(struct sealer *z, uint64_t ino, const char *path)
{
	shale_entry e;
	void *buf = NULL;
	if (shale_view_entry(z->view, ino, &e, &buf) < 0)
		return -1;
	int r;
	if (e.type != SHALE_DIR && e.nlink > 1) {
		/* the first name of this inode, if already emitted */
		for (size_t i = 0; i < z->nlinks; i++) {
			if (z->links[i].dev == (dev_t)-1 && z->links[i].ino == (ino_t)ino) {
				r = shale_lb_add_hardlink(z->lb, path, z->links[i].path);
				free(buf);
				return r;
			}
		}
		if (z->nlinks == z->links_cap)
			z->links = xrealloc(z->links, (z->links_cap = z->links_cap ? 2 * z->links_cap : 16) *
							      sizeof *z->links);
		z->links[z->nlinks++] = (struct link_seen){(dev_t)-1, (ino_t)ino, xstrdup(path)};
	}
	e.flags &= (uint8_t)~SHALE_F_OPAQUE;
	r = shale_lb_add(z->lb, path, &e);
	free(buf);
	report(z);
	if (r == 0 && e.type == SHALE_DIR)
		r = emit_lower(z, ino, path);
	return r;
}

static int emit_lower(struct sealer *z, uint64_t dir, const char *path)
{
	struct lower_list l = {0};
	int r = shale_view_readdir(z->view, dir, NULL, collect_lower, &l);
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		char *child = join(path, l.v[i].name);
		r = emit_lower_entry(z, l.v[i].ino, child);
		free(child);
	}
	lower_list_free(&l);
	return r;
}

/* ---- the upper walk ---- */

static bool is_wh_name(const char *name)
{
	return !strncmp(name, ".wh.", 4);
}

/* dir: the upper directory (fd) at `path`; lower: the lower directory its
 * names come from when this subtree was moved (redirect), else 0; then lower
 * names not in the upper are copied in too. */
static int seal_dir(struct sealer *z, int dfd, const char *path, uint64_t moved_from);

static int seal_entry(struct sealer *z, int dfd, const char *name, const char *path,
		      uint64_t moved_lower_dir)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return shale_err(errno, "%s: %s", path, strerror(errno));
	report(z);
	SHALE_CRASH_POINT("seal entry");
	if (upper_is_whiteout(dfd, name, &st))
		return moved_lower_dir ? 0 : shale_lb_add_whiteout(z->lb, path);
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		for (size_t i = 0; i < z->nlinks; i++)
			if (z->links[i].dev == st.st_dev && z->links[i].ino == st.st_ino)
				return shale_lb_add_hardlink(z->lb, path, z->links[i].path);
		if (z->nlinks == z->links_cap)
			z->links = xrealloc(z->links, (z->links_cap = z->links_cap ? 2 * z->links_cap : 16) *
							      sizeof *z->links);
		z->links[z->nlinks++] = (struct link_seen){st.st_dev, st.st_ino, xstrdup(path)};
	}
	shale_entry e;
	entry_from_stat(&st, &e);
	unmap_owner(z, &e);
	bool opaque = false, metacopy = false;
	char *redirect = NULL;
	int err = read_xattrs(dfd, name, &z->xattrs, &opaque, &redirect, &metacopy);
	if (err) {
		free(redirect);
		return shale_err(err, "%s: xattrs: %s", path, strerror(err));
	}
	e.xattrs = z->xattrs.p;
	e.xattrs_len = (uint32_t)z->xattrs.len;
	int r = 0;
	char target[PATH_MAX + 1];
	switch (e.type) {
	case SHALE_LNK: {
		ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
		if (n < 0) {
			r = shale_err(errno, "%s: %s", path, strerror(errno));
			break;
		}
		e.target = target;
		e.target_len = (uint32_t)n;
		e.size = (uint64_t)n;
		r = shale_lb_add(z->lb, path, &e);
		break;
	}
	case SHALE_REG:
		r = seal_file(z, dfd, name, path, &st, metacopy, &e);
		if (r == 0) {
			e.xattrs = z->xattrs.p; /* seal_file may have reset fields */
			e.xattrs_len = (uint32_t)z->xattrs.len;
			r = shale_lb_add(z->lb, path, &e);
		}
		break;
	case SHALE_DIR: {
		r = shale_lb_add(z->lb, path, &e);
		/* where its lower contents are: the redirect's source when moved,
		 * the same name inside a moved parent, else merged by the view */
		uint64_t from = 0;
		if (!opaque && z->view) {
			shale_vattr a;
			if (redirect && shale_view_resolve(z->view, redirect + (redirect[0] == '/'), &a) == 0 &&
			    a.type == SHALE_DIR)
				from = a.ino;
			else if (!redirect && moved_lower_dir &&
				 shale_view_lookup(z->view, moved_lower_dir, name, &a) == 0 &&
				 a.type == SHALE_DIR)
				from = a.ino;
		}
		if (r == 0 && (opaque || from || (redirect && z->view)))
			r = shale_lb_set_opaque(z->lb, path);
		if (r == 0) {
			int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			r = cfd < 0 ? shale_err(errno, "%s: %s", path, strerror(errno))
				    : seal_dir(z, cfd, path, from);
			if (cfd >= 0)
				close(cfd);
		}
		break;
	}
	default:
		r = shale_lb_add(z->lb, path, &e);
	}
	free(redirect);
	return r;
}

struct name_list {
	char **v;
	size_t n, cap;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int seal_dir(struct sealer *z, int dfd, const char *path, uint64_t moved_from)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return shale_err(errno, "%s: %s", path, strerror(errno));
	}
	struct name_list names = {0};
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (names.n == names.cap)
			names.v = xrealloc(names.v, (names.cap = names.cap ? 2 * names.cap : 32) * sizeof *names.v);
		names.v[names.n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (names.n) /* qsort wants a real array */
		qsort(names.v, names.n, sizeof *names.v, cmp_str);
	int r = 0;
	bool opaque_marker = false;
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		const char *name = names.v[i];
		if (is_wh_name(name)) {
			/* fuse-overlayfs and aufs style markers */
			if (!strcmp(name, ".wh..wh..opq"))
				opaque_marker = true;
			else if (strncmp(name, ".wh..wh.", 8)) {
				char *wp = join(path, name + 4);
				if (!moved_from)
					r = shale_lb_add_whiteout(z->lb, wp);
				free(wp);
			}
			continue;
		}
		char *child = join(path, name);
		r = seal_entry(z, dfd, name, child, moved_from);
		free(child);
	}
	if (r == 0 && opaque_marker)
		r = shale_lb_set_opaque(z->lb, path);
	/* a moved directory brings its lower names the upper did not change */
	if (r == 0 && moved_from && !opaque_marker) {
		struct lower_list l = {0};
		r = shale_view_readdir(z->view, moved_from, NULL, collect_lower, &l);
		for (size_t i = 0; r == 0 && i < l.n; i++) {
			struct stat st;
			char wh[NAME_MAX + 8];
			snprintf(wh, sizeof wh, ".wh.%s", l.v[i].name);
			if (fstatat(dfd, l.v[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
			    fstatat(dfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0)
				continue; /* changed, replaced or deleted above */
			char *child = join(path, l.v[i].name);
			r = emit_lower_entry(z, l.v[i].ino, child);
			free(child);
		}
		lower_list_free(&l);
	}
	for (size_t i = 0; i < names.n; i++)
		free(names.v[i]);
	free(names.v);
	return r;
}

int shale_fs_seal(shale_store *s, const char *upper, const shale_id *lower_image,
		  shale_id *layer, shale_progress_fn progress, void *ctx)
{
	struct sealer z = {.s = s, .progress = progress, .pctx = ctx};
	int ret = -1, dfd = -1;
	if (lower_image && !(z.view = shale_view_open_image(s, lower_image)))
		return -1;
	dfd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		shale_err(errno, "%s: %s", upper, strerror(errno));
		goto out;
	}
	z.buf = xmalloc(SHALE_CHUNK_SIZE);
	if (!(z.lb = shale_lb_new(s)))
		goto out;
	/* the root: its own attributes, maybe opaque */
	struct stat st;
	if (fstat(dfd, &st) < 0) {
		shale_err(errno, "%s: %s", upper, strerror(errno));
		goto out;
	}
	shale_entry root;
	entry_from_stat(&st, &root);
	z.map = upper_owner_read(upper, &z.map_uid, &z.map_gid);
	unmap_owner(&z, &root);
	bool opaque = false;
	char up[PATH_MAX], *slash;
	snprintf(up, sizeof up, "%s", upper);
	slash = strrchr(up, '/');
	int pfd = -1;
	if (slash && slash[1]) { /* xattrs of the root through its parent and name */
		*slash = 0;
		pfd = open(*up ? up : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (pfd >= 0) {
		read_xattrs(pfd, slash + 1, &z.xattrs, &opaque, NULL, NULL);
		close(pfd);
		root.xattrs = z.xattrs.p;
		root.xattrs_len = (uint32_t)z.xattrs.len;
	}
	if (shale_lb_add(z.lb, "", &root) < 0 || (opaque && shale_lb_set_opaque(z.lb, "") < 0) ||
	    seal_dir(&z, dfd, "", 0) < 0)
		goto out;
	if (z.progress)
		z.progress(z.pctx, &z.prog);
	ret = shale_lb_finish(z.lb, layer);
out:
	shale_lb_free(z.lb);
	if (dfd >= 0)
		close(dfd);
	shale_view_close(z.view);
	for (size_t i = 0; i < z.nlinks; i++)
		free(z.links[i].path);
	free(z.links);
	free(z.buf);
	free(z.xattrs.p);
	return ret;
}

/* ---- diff: what an upper changed, as docker diff shows it ---- */

struct change {
	char kind;
	char *path;
};

struct differ {
	shale_view *view;
	struct change *v;
	size_t n, cap;
};

static void change(struct differ *d, char kind, const char *path)
{
	if (d->n == d->cap)
		d->v = xrealloc(d->v, (d->cap = d->cap ? 2 * d->cap : 64) * sizeof *d->v);
	d->v[d->n].kind = kind;
	d->v[d->n].path = xmalloc(strlen(path) + 2);
	d->v[d->n].path[0] = '/';
	strcpy(d->v[d->n].path + 1, path);
	d->n++;
}

static bool lower_child(struct differ *d, uint64_t dir, const char *name, shale_vattr *a)
{
	return d->view && dir && shale_view_lookup(d->view, dir, name, a) == 0;
}

static void all_added_lower(struct differ *d, uint64_t dir, const char *path)
{
	struct lower_list l = {0};
	shale_view_readdir(d->view, dir, NULL, collect_lower, &l);
	for (size_t i = 0; i < l.n; i++) {
		char *child = join(path, l.v[i].name);
		change(d, 'A', child);
		if (l.v[i].type == SHALE_DIR)
			all_added_lower(d, l.v[i].ino, child);
		free(child);
	}
	lower_list_free(&l);
}

/* lower: the lower directory at this path (0: none); added: the whole
 * directory is new here (renamed in, or made) */
static int diff_dir(struct differ *d, int dfd, const char *path, uint64_t lower, bool added,
		    uint64_t moved_from)
{
	int fd = dup(dfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return shale_err(errno, "%s: %s", path, strerror(errno));
	}
	struct dirent *de;
	struct name_list seen = {0};
	int r = 0;
	while (r == 0 && (de = readdir(dir))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (seen.n == seen.cap)
			seen.v = xrealloc(seen.v, (seen.cap = seen.cap ? 2 * seen.cap : 32) * sizeof *seen.v);
		seen.v[seen.n++] = xstrdup(name);
		shale_vattr a;
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		bool wh = upper_is_whiteout(dfd, name, &st);
		const char *real = name;
		if (is_wh_name(name)) {
			if (!strncmp(name, ".wh..wh.", 8))
				continue;
			wh = true;
			real = name + 4;
		}
		char *child = join(path, real);
		if (wh) {
			if (!added && lower_child(d, lower, real, &a))
				change(d, 'D', child);
		} else if (S_ISDIR(st.st_mode)) {
			bool opaque = false;
			char *redirect = NULL;
			struct bytes x = {0};
			read_xattrs(dfd, name, &x, &opaque, &redirect, NULL);
			free(x.p);
			bool below = !added && lower_child(d, lower, name, &a) && a.type == SHALE_DIR;
			uint64_t from = 0;
			shale_vattr ra;
			if (redirect && d->view &&
			    shale_view_resolve(d->view, redirect + (redirect[0] == '/'), &ra) == 0)
				from = ra.ino;
			else if (moved_from && lower_child(d, moved_from, name, &ra) && ra.type == SHALE_DIR)
				from = ra.ino;
			bool is_new = added || redirect || !below;
			change(d, is_new ? 'A' : 'C', child);
			int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				if (!is_new && opaque) { /* everything below is gone */
					struct lower_list l = {0};
					shale_view_readdir(d->view, a.ino, NULL, collect_lower, &l);
					for (size_t i = 0; i < l.n; i++) {
						struct stat cst;
						if (fstatat(cfd, l.v[i].name, &cst, AT_SYMLINK_NOFOLLOW) == 0)
							continue;
						char *gone = join(child, l.v[i].name);
						change(d, 'D', gone);
						free(gone);
					}
					lower_list_free(&l);
				}
				r = diff_dir(d, cfd, child, is_new || opaque ? 0 : a.ino, is_new,
					     opaque ? 0 : from);
				close(cfd);
			}
			free(redirect);
		} else {
			change(d, !added && lower_child(d, lower, name, &a) ? 'C' : 'A', child);
		}
		free(child);
	}
	closedir(dir);
	/* names a moved directory brought from below */
	if (r == 0 && moved_from) {
		struct lower_list l = {0};
		shale_view_readdir(d->view, moved_from, NULL, collect_lower, &l);
		for (size_t i = 0; i < l.n; i++) {
			bool there = false;
			char wh[NAME_MAX + 8];
			snprintf(wh, sizeof wh, ".wh.%s", l.v[i].name);
			for (size_t k = 0; k < seen.n && !there; k++)
				there = !strcmp(seen.v[k], l.v[i].name) || !strcmp(seen.v[k], wh);
			if (there)
				continue;
			char *child = join(path, l.v[i].name);
			change(d, 'A', child);
			if (l.v[i].type == SHALE_DIR)
				all_added_lower(d, l.v[i].ino, child);
			free(child);
		}
		lower_list_free(&l);
	}
	for (size_t i = 0; i < seen.n; i++)
		free(seen.v[i]);
	free(seen.v);
	return r;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->path, ((const struct change *)b)->path);
}

int shale_fs_diff(shale_store *s, const char *upper, const shale_id *lower_image,
		  shale_change_fn fn, void *ctx)
{
	struct differ d = {0};
	if (lower_image && !(d.view = shale_view_open_image(s, lower_image)))
		return -1;
	int dfd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;
	if (dfd < 0)
		r = shale_err(errno, "%s: %s", upper, strerror(errno));
	else
		r = diff_dir(&d, dfd, "", d.view ? SHALE_ROOT_INO : 0, !d.view, 0);
	if (dfd >= 0)
		close(dfd);
	if (d.n)
		qsort(d.v, d.n, sizeof *d.v, by_path);
	for (size_t i = 0; i < d.n; i++) /* each path once */
		if (r == 0 && (i == 0 || strcmp(d.v[i].path, d.v[i - 1].path)))
			r = fn(ctx, d.v[i].kind, d.v[i].path);
	for (size_t i = 0; i < d.n; i++)
		free(d.v[i].path);
	free(d.v);
	shale_view_close(d.view);
	return r;
}
