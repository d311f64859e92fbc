/* The build context: walking it with .dockerignore, globbing COPY sources,
 * checksumming them for the cache, and copying them into a layer. Every path
 * is opened relative to the context's fd; sources resolve beneath it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "build_context.h"
#include "dockerignore.h"

#define BLOCK (1u << 20)

int bctx_open(struct build_ctx *b, const char *dir, char *err, size_t errlen)
{
	memset(b, 0, sizeof *b);
	b->fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (b->fd < 0) {
		snprintf(err, errlen, "unable to prepare context: path \"%s\" not found", dir);
		return -1;
	}
	b->dir = strdup(dir);
	int fd = openat(b->fd, ".dockerignore", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	char *buf = NULL;
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && st.st_size < (16 << 20)) {
		buf = malloc((size_t)st.st_size + 1);
		n = read(fd, buf, (size_t)st.st_size);
	}
	close(fd);
	char *perr = NULL;
	if (n >= 0)
		b->ig = dockerignore_parse(buf, (size_t)n, ".dockerignore", &perr);
	free(buf);
	if (!b->ig) {
		snprintf(err, errlen, "%s", perr ? perr : "cannot read .dockerignore");
		free(perr);
		bctx_close(b);
		return -1;
	}
	return 0;
}

void bctx_close(struct build_ctx *b)
{
	if (b->fd >= 0)
		close(b->fd);
	dockerignore_free(b->ig);
	free(b->dir);
	b->fd = -1;
	b->ig = NULL;
	b->dir = NULL;
}

void src_list_free(struct src_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void src_add(struct src_list *l, const char *p)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = strdup(p);
}

/* Open a context path, following symlinks only while they stay beneath the
 * context. Returns an fd (O_PATH unless flags says otherwise) or -errno. */
static int open_beneath(struct build_ctx *b, const char *rel, int flags)
{
	int fd = openat_resolve(b->fd, *rel ? rel : ".", (uint64_t)(flags | O_CLOEXEC),
				RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
	return fd < 0 ? -errno : fd;
}

/* Clean a source operand (Go's filepath.Clean, relative to the context root);
 * -1 if it climbs out of the context. */
static int clean(const char *in, char *out)
{
	char tmp[PATH_MAX];
	size_t o = 0;
	snprintf(tmp, sizeof tmp, "%s", in);
	char *save;
	for (char *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (o == 0)
				return -1;
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		size_t l = strlen(c);
		if (o + l + 2 >= PATH_MAX)
			return -1;
		if (o)
			out[o++] = '/';
		memcpy(out + o, c, l);
		o += l;
	}
	out[o] = 0;
	return 0;
}

/* Open an entry for reading: dirfd/name without following a symlink, or the
 * object an O_PATH fd holds (pathfd >= 0). */
static int open_read(int dirfd, const char *name, int pathfd)
{
	if (pathfd < 0)
		return openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char pp[64];
	snprintf(pp, sizeof pp, "/proc/self/fd/%d", pathfd);
	return open(pp, O_RDONLY | O_CLOEXEC);
}

/* ---- walking ---- */

typedef int (*walk_fn)(void *ctx, int dirfd, const char *name, const char *rel,
		       const struct stat *st);

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk below dirfd (whose context path is rel), names sorted, what
 * .dockerignore leaves out skipped (descending into excluded directories that
 * may hold exceptions, without reporting them). */
static int walk(struct build_ctx *b, int dirfd, const char *rel, walk_fn fn, void *ctx)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = realloc(names, (n + 1) * sizeof *names);
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat st;
		if (r || snprintf(path, sizeof path, "%s%s%s", rel, *rel ? "/" : "", names[i]) >=
				 (int)sizeof path ||
		    fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			free(names[i]);
			continue;
		}
		bool dir = S_ISDIR(st.st_mode);
		enum dockerignore_verdict v =
			b->ig ? dockerignore_check(b->ig, path, dir) : DOCKERIGNORE_INCLUDE;
		if (v == DOCKERIGNORE_INCLUDE)
			r = fn(ctx, dirfd, names[i], path, &st);
		if (!r && dir && v != DOCKERIGNORE_SKIP_DIR) {
			int sub = openat(dirfd, names[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				r = walk(b, sub, path, fn, ctx);
				close(sub);
			}
		}
		free(names[i]);
	}
	free(names);
	return r;
}

static int count_fn(void *ctx, int dirfd, const char *name, const char *rel, const struct stat *st)
{
	uint64_t *c = ctx;
	c[1]++;
	if (S_ISREG(st->st_mode))
		c[0] += (uint64_t)st->st_size;
	return 0;
}

void bctx_size(struct build_ctx *b, uint64_t *bytes, uint64_t *entries)
{
	uint64_t c[2] = {0, 0};
	walk(b, b->fd, "", count_fn, c);
	*bytes = c[0];
	*entries = c[1];
}

/* ---- globbing ---- */

struct glob_ctx {
	const char *pattern;
	struct src_list *out;
};

static int glob_fn(void *ctx, int dirfd, const char *name, const char *rel, const struct stat *st)
{
	struct glob_ctx *g = ctx;
	if (fnmatch(g->pattern, rel, FNM_PATHNAME) == 0)
		src_add(g->out, rel);
	return 0;
}

int bctx_glob(struct build_ctx *b, const char *operand, struct src_list *out, char *err,
	      size_t errlen)
{
	char p[PATH_MAX];
	memset(out, 0, sizeof *out);
	while (*operand == '/')
		operand++;
	if (clean(operand, p) < 0) {
		snprintf(err, errlen, "forbidden path outside the build context: %s", operand);
		return -1;
	}
	if (strpbrk(p, "*?[")) {
		struct glob_ctx g = {p, out};
		walk(b, b->fd, "", glob_fn, &g);
		if (!out->n) {
			snprintf(err, errlen, "no source files were specified (nothing matches %s)", operand);
			return -1;
		}
		/* A match is followed like a named source: a symlink must stay beneath. */
		for (size_t i = 0; i < out->n; i++) {
			int fd = open_beneath(b, out->v[i], O_PATH);
			if (fd == -EXDEV || fd == -ELOOP) {
				snprintf(err, errlen,
					 "forbidden path outside the build context: %s (matched by %s)",
					 out->v[i], operand);
				src_list_free(out);
				return -1;
			}
			if (fd >= 0)
				close(fd);
		}
		return 0;
	}
	int fd = open_beneath(b, p, O_PATH);
	if (fd == -EXDEV || fd == -ELOOP) {
		snprintf(err, errlen, "forbidden path outside the build context: %s", operand);
		return -1;
	}
	struct stat st;
	bool dir = fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
	if (fd >= 0)
		close(fd);
	if (fd < 0 || (*p && b->ig && dockerignore_excluded(b->ig, p) &&
		       !(dir && dockerignore_may_reinclude(b->ig, p)))) {
		snprintf(err, errlen,
			 "file not found in build context or excluded by .dockerignore: stat %s: file "
			 "does not exist",
			 *p ? p : ".");
		return -1;
	}
	src_add(out, p);
	return 0;
}

/* ---- checksums ---- */

struct sum_ctx {
	EVP_MD_CTX *md;
	uint8_t *buf;
	const char *base; /* the source's context path: names are hashed relative to it */
};

static void sum_str(EVP_MD_CTX *md, const char *s)
{
	EVP_DigestUpdate(md, s, strlen(s) + 1);
}

static int sum_entry(struct sum_ctx *c, int dirfd, const char *name, const char *rel,
		     const struct stat *st, int pathfd)
{
	char meta[128];
	size_t bl = strlen(c->base);
	sum_str(c->md, rel + (bl && !strncmp(rel, c->base, bl) ? bl : 0));
	snprintf(meta, sizeof meta, "%o %lld", (unsigned)st->st_mode, (long long)st->st_size);
	sum_str(c->md, meta);
	if (S_ISLNK(st->st_mode)) {
		char t[PATH_MAX + 1];
		ssize_t n = readlinkat(dirfd, name, t, sizeof t - 1);
		t[n > 0 ? n : 0] = 0;
		sum_str(c->md, t);
	} else if (S_ISREG(st->st_mode)) {
		int fd = open_read(dirfd, name, pathfd);
		if (fd < 0)
			return -errno;
		ssize_t n;
		while ((n = read(fd, c->buf, BLOCK)) > 0)
			EVP_DigestUpdate(c->md, c->buf, (size_t)n);
		close(fd);
		if (n < 0)
			return -EIO;
	}
	return 0;
}

static int sum_fn(void *ctx, int dirfd, const char *name, const char *rel, const struct stat *st)
{
	return sum_entry(ctx, dirfd, name, rel, st, -1);
}

int bctx_digest(struct build_ctx *b, const struct src_list *srcs, char hex[65], char *err,
		size_t errlen)
{
	struct sum_ctx c = {EVP_MD_CTX_new(), malloc(BLOCK), ""};
	EVP_DigestInit_ex(c.md, EVP_sha256(), NULL);
	int r = 0;
	for (size_t i = 0; !r && i < srcs->n; i++) {
		int fd = open_beneath(b, srcs->v[i], O_PATH);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			r = fd < 0 ? fd : -errno;
		} else if (S_ISDIR(st.st_mode)) {
			c.base = srcs->v[i];
			sum_str(c.md, "dir");
			r = walk(b, fd, srcs->v[i], sum_fn, &c);
		} else {
			c.base = "";
			r = sum_entry(&c, -1, NULL, srcs->v[i], &st, fd);
		}
		if (fd >= 0)
			close(fd);
	}
	unsigned char md[32];
	EVP_DigestFinal_ex(c.md, md, NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(c.md);
	free(c.buf);
	if (r)
		snprintf(err, errlen, "checksum of the sources: %s", strerror(-r));
	return r ? -1 : 0;
}

/* ---- copying into a layer ---- */

struct copy_ctx {
	shale_store *s;
	shale_layer_builder *lb;
	const struct copy_opts *o;
	const char *base; /* the source directory's context path */
	const char *dest;
	uint8_t *buf;
	char *err;
	size_t errlen;
};

static int add_file_content(struct copy_ctx *c, int fd, uint64_t size, shale_entry *e)
{
	shale_content_writer *cw = shale_lb_content(c->lb);
	if (shale_cw_begin(cw, size) < 0)
		return -1;
	for (uint64_t off = 0; off < size;) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA); /* holes stay holes */
		if (data < 0)
			break;
		ssize_t n = pread(fd, c->buf, BLOCK, data);
		if (n <= 0)
			break;
		if (shale_cw_write(cw, (uint64_t)data, c->buf, (size_t)n) < 0)
			return -1;
		off = (uint64_t)data + (uint64_t)n;
	}
	return shale_cw_end(cw, e);
}

/* One entry of the context at layer path `to` (dirfd/name, or pathfd). */
static int copy_entry(struct copy_ctx *c, int dirfd, const char *name, const struct stat *st,
		      const char *to, int pathfd)
{
	shale_entry e = {0};
	char target[PATH_MAX + 1];
	e.mode = c->o->chmod ? c->o->mode : st->st_mode & 07777;
	e.uid = c->o->chown ? c->o->uid : 0;
	e.gid = c->o->chown ? c->o->gid : 0;
	e.mtime = st->st_mtim;
	e.ctime = st->st_mtim;
	if (S_ISDIR(st->st_mode)) {
		e.type = SHALE_DIR;
	} else if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
		if (n < 0)
			return -1;
		e.type = SHALE_LNK;
		e.target = target; /* copied as it is: never followed */
		e.target_len = (uint32_t)n;
		e.size = (uint64_t)n;
		e.mode = 0777;
	} else if (S_ISREG(st->st_mode)) {
		e.type = SHALE_REG;
		int fd = open_read(dirfd, name, pathfd);
		if (fd < 0)
			return shale_err(errno, "%s: %s", to, strerror(errno));
		int r = add_file_content(c, fd, (uint64_t)st->st_size, &e);
		close(fd);
		if (r < 0)
			return -1;
	} else if (S_ISFIFO(st->st_mode)) {
		e.type = SHALE_FIFO;
	} else {
		return 0; /* sockets and devices do not travel in a build context */
	}
	return shale_lb_add(c->lb, to, &e);
}

static int copy_fn(void *ctx, int dirfd, const char *name, const char *rel, const struct stat *st)
{
	struct copy_ctx *c = ctx;
	char to[PATH_MAX];
	size_t bl = strlen(c->base);
	const char *sub = rel + (bl ? bl + 1 : 0);
	if (snprintf(to, sizeof to, "%s%s%s", c->dest, *c->dest ? "/" : "", sub) >= (int)sizeof to)
		return shale_err(ENAMETOOLONG, "%s: path too long", rel);
	return copy_entry(c, dirfd, name, st, to, -1) < 0 ? -1 : 0;
}

int bctx_copy(struct build_ctx *b, shale_store *s, shale_layer_builder *lb,
	      const struct src_list *srcs, const char *dest, bool dest_is_dir,
	      const struct copy_opts *o, char *err, size_t errlen)
{
	struct copy_ctx c = {.s = s, .lb = lb, .o = o, .buf = malloc(BLOCK), .err = err, .errlen = errlen};
	char d[PATH_MAX];
	int r = 0;
	clean(dest, d);
	for (size_t i = 0; !r && i < srcs->n; i++) {
		int fd = open_beneath(b, srcs->v[i], O_PATH);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			snprintf(err, errlen, "%s: %s", srcs->v[i], strerror(fd < 0 ? -fd : errno));
			r = -1;
		} else if (S_ISDIR(st.st_mode)) {
			c.base = srcs->v[i];
			c.dest = d;
			r = walk(b, fd, srcs->v[i], copy_fn, &c);
			if (r)
				snprintf(err, errlen, "copy %s: %s", srcs->v[i], shale_errmsg());
		} else {
			const char *base = strrchr(srcs->v[i], '/');
			base = base ? base + 1 : srcs->v[i];
			char to[PATH_MAX];
			if (snprintf(to, sizeof to, "%s%s%s", d, dest_is_dir && *d ? "/" : "",
				     dest_is_dir ? base : "") >= (int)sizeof to) {
				snprintf(err, errlen, "%s: destination path too long", srcs->v[i]);
				close(fd);
				r = -1;
				break;
			}
			char pp[64];
			snprintf(pp, sizeof pp, "/proc/self/fd/%d", fd);
			if (o->extract && S_ISREG(st.st_mode) && shale_archive_detect(pp)) {
				/* ADD: a local archive is unpacked into the destination */
				r = shale_lb_import(lb, s, pp, d);
			} else {
				r = copy_entry(&c, -1, NULL, &st, to, fd);
			}
			if (r)
				snprintf(err, errlen, "copy %s: %s", srcs->v[i], shale_errmsg());
		}
		if (fd >= 0)
			close(fd);
	}
	free(c.buf);
	return r ? -1 : 0;
}
