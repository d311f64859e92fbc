/* shale build: a Dockerfile, step by step, with a layer cache.
 *
 * Every step makes an image (intermediate ones stay untagged): RUN, COPY, ADD
 * and WORKDIR add a layer, the other instructions only change the config and
 * add an empty_layer history entry. A step's cache key is its parent image, its
 * created_by text (for RUN: the command and the build args in effect; the env
 * is in the parent's config) and, for COPY/ADD, a digest of the sources'
 * contents and metadata (not the host's times). A hit reuses the image the step
 * made before; a miss invalidates every later step, since their parents change.
 * The cache (table build_cache) pins the images it names, so it outlives rmi of
 * the tags; `shale builder prune` clears it. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "build_context.h"
#include "cli.h"
#include "containers.h"
#include "dockerfile.h"
#include "fs.h"
#include "image_config.h"
#include "mounts.h"
#include "runtime.h"

struct var {
	char *name, *value; /* value NULL: declared, not set */
};

struct vars {
	struct var *v;
	size_t n;
};

static const char *vars_get(const struct vars *vs, const char *name)
{
	for (size_t i = vs->n; i-- > 0;)
		if (!strcmp(vs->v[i].name, name))
			return vs->v[i].value;
	return NULL;
}

static void vars_set(struct vars *vs, const char *name, const char *value)
{
	for (size_t i = 0; i < vs->n; i++)
		if (!strcmp(vs->v[i].name, name)) {
			free(vs->v[i].value);
			vs->v[i].value = value ? strdup(value) : NULL;
			return;
		}
	vs->v = realloc(vs->v, (vs->n + 1) * sizeof *vs->v);
	vs->v[vs->n++] = (struct var){strdup(name), value ? strdup(value) : NULL};
}

static void vars_free(struct vars *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		free(vs->v[i].name);
		free(vs->v[i].value);
	}
	free(vs->v);
	memset(vs, 0, sizeof *vs);
}

struct builder {
	struct cli *c;
	struct build_ctx ctx;
	struct dockerfile *df;
	struct vars build_args; /* --build-arg */
	struct vars meta;       /* ARGs before the first FROM */
	bool no_cache, quiet;
	size_t step, steps;
	shale_id *stage_image;  /* result of each stage built */
	bool *stage_built;
	char err[1024];
};

/* What a stage's expansion sees: ENV of the image, then its ARGs. */
struct scope {
	json_t *config;
	struct vars *args;
};

static const char *scope_lookup(void *p, const char *name)
{
	struct scope *sc = p;
	const char *v = image_config_env_lookup(sc->config, name);
	return v ? v : vars_get(sc->args, name);
}

static const char *meta_lookup(void *p, const char *name)
{
	return vars_get(p, name);
}

static void say(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct builder *b, const char *fmt, ...)
{
	if (b->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the cache ---- */

static void cache_key(const shale_id *parent, const char *text, char out[65])
{
	char hex[SHALE_ID_HEX];
	unsigned char md[32];
	shale_id_hex(parent, hex);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_DigestInit_ex(m, EVP_sha256(), NULL);
	EVP_DigestUpdate(m, hex, strlen(hex));
	EVP_DigestUpdate(m, "\n", 1);
	EVP_DigestUpdate(m, text, strlen(text));
	EVP_DigestFinal_ex(m, md, NULL);
	EVP_MD_CTX_free(m);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool cache_get(struct builder *b, const char *key, shale_id *out)
{
	shale_store *s = cli_store(b->c);
	if (b->no_cache || !s)
		return false;
	json_t *rec = shale_table_get(s, SHALE_T_CACHE, key);
	bool hit = rec && shale_id_parse(json_string_value(json_object_get(rec, "image")) ?: "", out) == 0;
	json_decref(rec);
	json_t *img = hit ? shale_image_get(s, out) : NULL; /* still there? */
	json_decref(img);
	return img != NULL;
}

static void cache_put(struct builder *b, const char *key, const shale_id *image)
{
	char hex[SHALE_ID_HEX], now[40];
	shale_id_hex(image, hex);
	shale_now_rfc3339(now);
	json_t *rec = json_pack("{s:s, s:s}", "image", hex, "created", now);
	SHALE_CRASH_POINT("build cache record");
	shale_table_put(cli_store(b->c), SHALE_T_CACHE, key, rec);
	json_decref(rec);
}

/* A child of `parent`: config changed by `in` (if any), a layer (or none). */
static int child_image(struct builder *b, const shale_id *parent, const struct df_instruction *in,
		       const shale_id *layer, const char *created_by, shale_id *out)
{
	shale_store *s = cli_store(b->c);
	json_t *img = s ? shale_image_new(s, parent) : NULL;
	if (!img)
		return -1;
	int r = 0;
	if (in && image_config_apply(img, in, b->err, sizeof b->err) < 0)
		r = shale_err(EINVAL, "%s", b->err);
	if (!r) {
		shale_image_add_layer(img, layer, created_by, NULL);
		r = shale_image_put(s, img, out);
	}
	json_decref(img);
	return r;
}

/* ---- layers made here: WORKDIR and COPY/ADD ---- */

/* Where a path of the image really is: symlinks in it followed inside the image
 * (COPY x /bin/ lands in /usr/bin when /bin is a link), missing parts kept. */
static void real_path(shale_view *v, const char *path, char *out)
{
	char prefix[PATH_MAX], rest[PATH_MAX] = "";
	snprintf(prefix, sizeof prefix, "%s", path);
	shale_vattr a;
	for (;;) {
		if (!*prefix || shale_view_resolve_follow(v, prefix, &a) == 0)
			break;
		char *slash = strrchr(prefix, '/');
		char tmp[PATH_MAX];
		if (snprintf(tmp, sizeof tmp, "%s%s%s", slash ? slash + 1 : prefix, *rest ? "/" : "",
			     rest) >= (int)sizeof tmp)
			break; /* too long: keep what resolved */
		memcpy(rest, tmp, sizeof rest);
		if (!slash) {
			prefix[0] = 0;
			break;
		}
		*slash = 0;
	}
	char *real = *prefix ? shale_view_path(v, a.ino) : strdup("");
	if (snprintf(out, PATH_MAX, "%s%s%s", real ? real : prefix, real && *real && *rest ? "/" : "",
		     rest) >= PATH_MAX)
		snprintf(out, PATH_MAX, "%s", path); /* too long to resolve: as written */
	free(real);
}

/* Directory entries for `dir` and its parents: as the image has them, or new
 * (0755, root, time 0: the same step gives the same layer). */
static int add_dirs(shale_layer_builder *lb, shale_view *v, const char *dir)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s", dir);
	for (size_t i = 0, n = strlen(p); i <= n; i++) {
		if (p[i] != '/' && p[i] != 0)
			continue;
		char c = p[i];
		p[i] = 0;
		if (*p) {
			shale_vattr a;
			shale_entry e = {.type = SHALE_DIR, .mode = 0755};
			void *buf = NULL;
			if (shale_view_resolve(v, p, &a) == 0) {
				if (a.type != SHALE_DIR) {
					p[i] = c;
					return shale_err(ENOTDIR, "/%s: not a directory in the image", p);
				}
				shale_view_entry(v, a.ino, &e, &buf);
				e.flags &= (uint8_t)~SHALE_F_OPAQUE;
			}
			int r = shale_lb_add(lb, p, &e);
			free(buf);
			if (r < 0)
				return -1;
		}
		p[i] = c;
	}
	return 0;
}

static void join_workdir(json_t *config, const char *path, char *out)
{
	const char *wd = json_string_value(json_object_get(config, "WorkingDir"));
	if (path[0] == '/' || !wd || !*wd)
		snprintf(out, PATH_MAX, "%s", path);
	else
		snprintf(out, PATH_MAX, "%s/%s", wd, path);
}

/* "/a/b/" -> "a/b" (the store's form); trailing slash reported. */
static bool strip_path(const char *in, char *out)
{
	size_t n = strlen(in);
	bool slash = n && in[n - 1] == '/';
	while (*in == '/')
		in++;
	snprintf(out, PATH_MAX, "%s", in);
	n = strlen(out);
	while (n && out[n - 1] == '/')
		out[--n] = 0;
	return slash;
}

static int parse_owner(const char *spec, shale_view *v, uint32_t *uid, uint32_t *gid, char *err,
		       size_t errlen);

/* COPY --from: entries of another image, their content reused as it is. */
struct from_ctx {
	shale_layer_builder *lb;
	const char *src;  /* the source path in that image */
	const char *dest; /* where it lands */
	const struct copy_opts *o;
	bool src_is_dir;
};

static int copy_from_fn(void *p, const char *path, const shale_vattr *a, const shale_entry *e)
{
	struct from_ctx *f = p;
	char to[PATH_MAX];
	size_t sl = strlen(f->src);
	const char *rel = path + sl;
	while (*rel == '/')
		rel++;
	if (f->src_is_dir && !*rel)
		return 0; /* the directory itself: its contents go to dest */
	snprintf(to, sizeof to, "%s%s%s", f->dest, *f->dest && *rel ? "/" : "", rel);
	shale_entry x = *e;
	x.flags &= (uint8_t)~SHALE_F_OPAQUE;
	x.link_group = 0;
	x.nlink = 1;
	if (f->o->chown) {
		x.uid = f->o->uid;
		x.gid = f->o->gid;
	}
	if (f->o->chmod && x.type != SHALE_LNK)
		x.mode = f->o->mode;
	return shale_lb_add(f->lb, to, &x) < 0 ? -1 : 0;
}

static int step_copy(struct builder *b, const struct df_instruction *x, const shale_id *parent,
		     json_t *config, shale_id *out, bool *cached)
{
	shale_store *s = cli_store(b->c);
	bool add = x->cmd == DF_ADD;
	if (x->nargs < 2)
		return shale_err(EINVAL, "%s:%u: %s requires at least two arguments", x->file, x->line,
				 df_command_name(x->cmd));
	if (x->nheredocs)
		return shale_err(ENOTSUP, "%s:%u: heredocs in %s are not supported", x->file, x->line,
				 df_command_name(x->cmd));
	const char *from = df_flag_value(x, "from"), *chown = df_flag_value(x, "chown"),
		   *chmod = df_flag_value(x, "chmod");
	struct copy_opts o = {.extract = add && !from};
	char dest[PATH_MAX], dd[PATH_MAX], key[8192], hex[65];
	join_workdir(config, x->args[x->nargs - 1], dest);
	bool dest_slash = strip_path(dest, dd);
	shale_view *v = shale_view_open_image(s, parent), *fv = NULL;
	struct src_list srcs = {0};
	shale_id from_image;
	int r = -1;
	if (!v)
		return -1;
	if (chmod) {
		char *end;
		o.mode = (uint32_t)strtoul(chmod, &end, 8);
		if (*end || o.mode > 07777) {
			shale_err(EINVAL, "%s:%u: invalid --chmod=%s", x->file, x->line, chmod);
			goto out;
		}
		o.chmod = true;
	}
	if (chown) {
		if (parse_owner(chown, v, &o.uid, &o.gid, b->err, sizeof b->err) < 0) {
			shale_err(EINVAL, "%s:%u: --chown=%s: %s", x->file, x->line, chown, b->err);
			goto out;
		}
		o.chown = true;
	}
	size_t nsrc = x->nargs - 1;
	if (from) {
		/* an earlier stage (by name or index), else an image */
		const struct df_stage *st = dockerfile_stage(b->df, from);
		if (st && b->stage_built[st->index])
			from_image = b->stage_image[st->index];
		else if (shale_image_resolve(s, from, &from_image) < 0) {
			shale_err(ENOENT, "%s:%u: COPY --from=%s: no such stage or image", x->file, x->line, from);
			goto out;
		}
		char fh[SHALE_ID_HEX];
		shale_id_hex(&from_image, fh);
		snprintf(hex, sizeof hex, "%s", fh);
	} else {
		for (size_t i = 0; i < nsrc; i++) {
			struct src_list one;
			if (bctx_glob(&b->ctx, x->args[i], &one, b->err, sizeof b->err) < 0) {
				shale_err(ENOENT, "%s:%u: %s failed: %s", x->file, x->line,
					  df_command_name(x->cmd), b->err);
				goto out;
			}
			for (size_t k = 0; k < one.n; k++) {
				srcs.v = realloc(srcs.v, (srcs.n + 1) * sizeof *srcs.v);
				srcs.v[srcs.n++] = strdup(one.v[k]);
			}
			src_list_free(&one);
		}
		if (bctx_digest(&b->ctx, &srcs, hex, b->err, sizeof b->err) < 0) {
			shale_err(EIO, "%s:%u: %s failed: %s", x->file, x->line, df_command_name(x->cmd),
				  b->err);
			goto out;
		}
	}
	size_t count = from ? nsrc : srcs.n;
	if (count > 1 && !dest_slash) {
		shale_err(EINVAL, "%s:%u: When using %s with more than one source file, the destination "
				  "must be a directory and end with a /",
			  x->file, x->line, df_command_name(x->cmd));
		goto out;
	}
	/* the cache: what is copied (its digest), where, and how */
	char resolved[128];
	struct stat sst;
	int sfd = !from && count == 1 ? openat(b->ctx.fd, *srcs.v[0] ? srcs.v[0] : ".", O_PATH | O_CLOEXEC) : -1;
	bool one_dir = sfd >= 0 && fstat(sfd, &sst) == 0 && S_ISDIR(sst.st_mode);
	if (sfd >= 0)
		close(sfd);
	/* as Docker writes it: file:<sum> or dir:<sum> (multi: several sources) */
	snprintf(resolved, sizeof resolved, "%s:%s",
		 from ? "image" : count > 1 ? "multi" : one_dir ? "dir" : "file", hex);
	struct df_history_ctx hc = {.resolved = resolved};
	char *by = df_created_by(x, &hc);
	snprintf(key, sizeof key, "%s|%s|%s|%s", by ? by : "", chown ? chown : "", chmod ? chmod : "",
		 from ? x->original : "");
	char ck[65];
	cache_key(parent, key, ck);
	if ((*cached = cache_get(b, ck, out))) {
		free(by);
		r = 0;
		goto out;
	}
	char real[PATH_MAX];
	real_path(v, dd, real);
	shale_vattr da;
	bool dest_dir = dest_slash || count > 1 ||
			(shale_view_resolve_follow(v, dd, &da) == 0 && da.type == SHALE_DIR);
	shale_layer_builder *lb = shale_lb_new(s);
	if (!lb) {
		free(by);
		goto out;
	}
	shale_id layer;
	int ok = -1;
	if (from) {
		if (!(fv = shale_view_open_image(s, &from_image)))
			goto lb_done;
		for (size_t i = 0; i < nsrc; i++) {
			char sp[PATH_MAX];
			strip_path(x->args[i], sp);
			shale_vattr sa;
			if (shale_view_resolve_follow(fv, sp, &sa) < 0) {
				shale_err(ENOENT, "%s:%u: COPY --from=%s: %s not found", x->file, x->line,
					  from, x->args[i]);
				goto lb_done;
			}
			char *sreal = shale_view_path(fv, sa.ino);
			bool isdir = sa.type == SHALE_DIR;
			const char *base = strrchr(sreal, '/');
			char to[PATH_MAX];
			if (snprintf(to, sizeof to, "%s%s%s", real, dest_dir && !isdir && *real ? "/" : "",
				     dest_dir && !isdir ? (base ? base + 1 : sreal) : "") >= (int)sizeof to) {
				free(sreal);
				shale_err(ENAMETOOLONG, "%s:%u: destination path too long", x->file, x->line);
				goto lb_done;
			}
			if (add_dirs(lb, v, isdir || dest_dir ? real : "") < 0) {
				free(sreal);
				goto lb_done;
			}
			struct from_ctx f = {lb, sreal, to, &o, isdir};
			int w = shale_view_walk(fv, sreal, copy_from_fn, &f);
			free(sreal);
			if (w < 0)
				goto lb_done;
		}
	} else {
		bool into_dir = dest_dir;
		for (size_t i = 0; i < srcs.n && !into_dir; i++) {
			struct stat st;
			int fd = openat(b->ctx.fd, *srcs.v[i] ? srcs.v[i] : ".", O_PATH | O_CLOEXEC);
			into_dir = fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
			if (fd >= 0)
				close(fd);
		}
		char parentdir[PATH_MAX];
		snprintf(parentdir, sizeof parentdir, "%s", real);
		if (!into_dir) { /* a file named by dest: its directory must exist */
			char *sl = strrchr(parentdir, '/');
			if (sl)
				*sl = 0;
			else
				parentdir[0] = 0;
		}
		if (add_dirs(lb, v, parentdir) < 0 ||
		    bctx_copy(&b->ctx, s, lb, &srcs, real, dest_dir, &o, b->err, sizeof b->err) < 0) {
			if (b->err[0])
				shale_err(EIO, "%s:%u: %s failed: %s", x->file, x->line, df_command_name(x->cmd), b->err);
			goto lb_done;
		}
	}
	ok = shale_lb_finish(lb, &layer);
lb_done:
	shale_lb_free(lb);
	if (ok == 0 && child_image(b, parent, NULL, &layer, by, out) == 0) {
		cache_put(b, ck, out);
		r = 0;
	}
	free(by);
out:
	shale_view_close(fv);
	shale_view_close(v);
	src_list_free(&srcs);
	return r;
}

/* --chown=user[:group]: numbers, or names from the image's /etc/passwd and /etc/group. */
static int lookup_id(shale_view *v, const char *file, const char *name, bool group, uint32_t *out)
{
	char *end;
	unsigned long n = strtoul(name, &end, 10);
	if (*name && !*end) {
		*out = (uint32_t)n;
		return 0;
	}
	shale_vattr a;
	shale_entry e;
	void *buf = NULL;
	if (shale_view_resolve_follow(v, file, &a) < 0 || shale_view_entry(v, a.ino, &e, &buf) < 0)
		return -1;
	char *text = calloc(1, e.size + 1);
	size_t got = 0;
	shale_content_read(shale_view_store(v), &e, 0, text, e.size, &got);
	free(buf);
	int r = -1;
	char *save;
	for (char *line = strtok_r(text, "\n", &save); line && r < 0; line = strtok_r(NULL, "\n", &save)) {
		/* name:x:uid:gid:... (passwd) or name:x:gid:members (group) */
		char *f[4] = {0};
		int k = 0;
		for (char *p = line; k < 4 && p; k++) {
			f[k] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = 0;
		}
		if (k >= 3 && f[0] && !strcmp(f[0], name)) {
			*out = (uint32_t)strtoul(f[2], NULL, 10);
			r = 0;
		}
	}
	(void)group;
	free(text);
	return r;
}

static int parse_owner(const char *spec, shale_view *v, uint32_t *uid, uint32_t *gid, char *err,
		       size_t errlen)
{
	char u[256], *g;
	snprintf(u, sizeof u, "%s", spec);
	g = strchr(u, ':');
	if (g)
		*g++ = 0;
	if (lookup_id(v, "etc/passwd", u, false, uid) < 0) {
		snprintf(err, errlen, "unable to find user %s", u);
		return -1;
	}
	if (g && lookup_id(v, "etc/group", g, true, gid) < 0) {
		snprintf(err, errlen, "unable to find group %s", g);
		return -1;
	}
	if (!g)
		*gid = *uid;
	return 0;
}

static int step_workdir(struct builder *b, const struct df_instruction *x, const shale_id *parent,
			shale_id *out, bool *cached)
{
	shale_store *s = cli_store(b->c);
	json_t *img = shale_image_get(s, parent);
	if (!img)
		return -1;
	json_t *probe = json_deep_copy(img);
	json_decref(img);
	if (image_config_apply(probe, x, b->err, sizeof b->err) < 0) {
		json_decref(probe);
		return shale_err(EINVAL, "%s", b->err);
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s",
		 json_string_value(json_object_get(json_object_get(probe, "config"), "WorkingDir")) ?: "/");
	json_decref(probe);
	struct df_history_ctx hc = {.resolved = dir};
	char *by = df_created_by(x, &hc), ck[65];
	cache_key(parent, by ? by : "", ck);
	if ((*cached = cache_get(b, ck, out))) {
		free(by);
		return 0;
	}
	shale_view *v = shale_view_open_image(s, parent);
	shale_layer_builder *lb = v ? shale_lb_new(s) : NULL;
	shale_id layer;
	char sd[PATH_MAX], real[PATH_MAX];
	int r = -1;
	if (lb) {
		strip_path(dir, sd);
		real_path(v, sd, real);
		if (add_dirs(lb, v, real) == 0 && shale_lb_finish(lb, &layer) == 0 &&
		    child_image(b, parent, x, &layer, by, out) == 0) {
			cache_put(b, ck, out);
			r = 0;
		}
	}
	shale_lb_free(lb);
	shale_view_close(v);
	free(by);
	return r;
}

/* ---- RUN ---- */

static char **run_argv(const struct df_instruction *x, json_t *config)
{
	size_t n = 0;
	char **argv;
	if (x->json) {
		argv = calloc(x->nargs + 1, sizeof *argv);
		for (size_t i = 0; i < x->nargs; i++)
			argv[n++] = strdup(x->args[i]);
		return argv;
	}
	json_t *shell = json_object_get(config, "Shell");
	size_t ns = json_array_size(shell);
	argv = calloc((ns ? ns : 2) + 2, sizeof *argv); /* shell, command, NULL */
	if (ns)
		for (size_t i = 0; i < ns; i++)
			argv[n++] = strdup(json_string_value(json_array_get(shell, i)) ?: "");
	else {
		argv[n++] = strdup("/bin/sh");
		argv[n++] = strdup("-c");
	}
	argv[n++] = strdup(x->nargs ? x->args[0] : "");
	return argv;
}

static void argv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int step_run(struct builder *b, const struct df_instruction *x, const shale_id *parent,
		    json_t *config, struct vars *args, shale_id *out, bool *cached)
{
	if (x->nheredocs)
		return shale_err(ENOTSUP, "%s:%u: heredocs in RUN are not supported", x->file, x->line);
	/* the build args in effect are in its history and its environment */
	char **bargs = calloc(args->n + 1, sizeof *bargs);
	size_t nb = 0;
	for (size_t i = 0; i < args->n; i++)
		if (args->v[i].value && asprintf(&bargs[nb], "%s=%s", args->v[i].name, args->v[i].value) >= 0)
			nb++;
	json_t *shell = json_object_get(config, "Shell");
	char **sh = NULL;
	size_t nsh = json_array_size(shell);
	if (nsh) {
		sh = calloc(nsh + 1, sizeof *sh);
		for (size_t i = 0; i < nsh; i++)
			sh[i] = (char *)json_string_value(json_array_get(shell, i));
	}
	struct df_history_ctx hc = {.shell = sh, .nshell = nsh, .build_args = bargs, .nbuild_args = nb};
	char *by = df_created_by(x, &hc), ck[65];
	free(sh);
	cache_key(parent, by ? by : "", ck);
	int r = -1;
	char **argv = NULL, **env = NULL, **image_env = NULL;
	json_t *ctr = NULL;
	if ((*cached = cache_get(b, ck, out))) {
		r = 0;
		goto out;
	}
	shale_store *s = cli_store(b->c);
	char hex[SHALE_ID_HEX];
	shale_id_hex(parent, hex);
	if (!(ctr = container_create(s, parent, hex, NULL, NULL)))
		goto out;
	argv = run_argv(x, config);
	json_object_set_new(ctr, "command", json_string(by ? by : ""));
	json_object_set_new(ctr, "build", json_true());
	char id12[13];
	snprintf(id12, sizeof id12, "%s", container_str(ctr, "id"));
	struct mount_req m = {.ready_fd = -1, .image = *parent, .container = ctr, .allow_other = true};
	snprintf(m.image_ref, sizeof m.image_ref, "%s", hex);
	snprintf(m.mountpoint, sizeof m.mountpoint, "%s/containers/%s/rootfs", shale_root(s),
		 container_str(ctr, "id"));
	if (mkdir(m.mountpoint, 0755) < 0 || container_update(s, ctr) < 0) {
		shale_err(errno, "%s: %s", m.mountpoint, strerror(errno));
		goto remove;
	}
	say(b, " ---> Running in %s\n", id12);
	if (mount_start(b->c, &m) != EXIT_OK) {
		shale_err(EIO, "cannot mount the build container");
		goto remove;
	}
	SHALE_CRASH_POINT("build RUN mounted");
	/* the image's Env, then the build args that it does not set */
	size_t ne = json_array_size(json_object_get(config, "Env"));
	image_env = calloc(ne + nb + 1, sizeof *image_env);
	size_t k = 0;
	for (size_t i = 0; i < nb; i++) {
		char *eq = strchr(bargs[i], '=');
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)(eq - bargs[i]), bargs[i]);
		if (!image_config_env_lookup(config, name))
			image_env[k++] = strdup(bargs[i]);
	}
	for (size_t i = 0; i < ne; i++)
		image_env[k++] = strdup(json_string_value(json_array_get(json_object_get(config, "Env"), i)) ?: "");
	const char *user = json_string_value(json_object_get(config, "User"));
	const char *wd = json_string_value(json_object_get(config, "WorkingDir"));
	struct run_spec spec = {.rootfs = m.mountpoint, .argv = argv, .cwd = wd && *wd ? wd : NULL,
				.user = user && *user ? user : NULL, .container_id = container_str(ctr, "id")};
	char hn[65], rerr[512];
	runtime_hostname(&spec, hn, sizeof hn);
	struct run_user ru = {0};
	const char *home = runtime_resolve_user(m.mountpoint, spec.user, &ru, rerr, sizeof rerr) == 0
				   ? ru.home : NULL;
	env = runtime_env(image_env, NULL, hn, home, false);
	spec.env = env;
	int devnull = b->quiet ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
	int quiet_io[3] = {devnull, devnull, devnull};
	if (b->quiet)
		spec.stdio = quiet_io;
	int status = RUNTIME_EXIT_SETUP;
	fflush(NULL);
	bool ran = runtime_run(&spec, &status, rerr, sizeof rerr) == 0;
	SHALE_CRASH_POINT("build RUN ran");
	if (devnull >= 0)
		close(devnull);
	runtime_user_free(&ru);
	mount_stop(b->c, m.mountpoint, false);
	rmdir(m.mountpoint);
	s = cli_store(b->c);
	if (!s)
		goto out;
	if (!ran || status != 0) {
		if (!ran)
			shale_err(EIO, "%s", rerr);
		else
			shale_err(EIO, "The command '%s' returned a non-zero code: %d", by ? by : "", status);
		goto remove;
	}
	container_drop_mount_points(s, parent, container_str(ctr, "upper"), NULL, 0);
	shale_id layer;
	if (shale_fs_seal(s, container_str(ctr, "upper"), parent, &layer, NULL, NULL) < 0 ||
	    child_image(b, parent, NULL, &layer, by, out) < 0)
		goto remove;
	SHALE_CRASH_POINT("build RUN image stored");
	cache_put(b, ck, out);
	r = 0;
	say(b, "Removing intermediate container %s\n", id12);
remove:
	/* a failed step leaves no mount and no container behind */
	s = cli_store(b->c);
	if (s && ctr) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", shale_errmsg());
		container_remove(s, ctr);
		if (r)
			shale_err(EIO, "%s", msg);
	}
out:
	json_decref(ctr);
	argv_free(argv);
	runtime_env_free(env);
	argv_free(image_env);
	argv_free(bargs);
	free(by);
	return r;
}

/* ---- stages ---- */

/* Stages a target needs: its base stage and the stages COPY --from names. */
static void need_stage(struct builder *b, size_t i, bool *need)
{
	if (need[i])
		return;
	need[i] = true;
	const struct df_stage *st = &b->df->stages[i];
	char *err = NULL;
	char *base = df_expand_word(st->base, b->df->escape, meta_lookup, &b->meta, &err);
	free(err);
	const struct df_stage *dep = base ? dockerfile_stage_by_name(b->df, base) : NULL;
	if (dep && dep->index < i)
		need_stage(b, dep->index, need);
	free(base);
	for (size_t k = 0; k < st->ninstructions; k++) {
		const char *from = df_flag_value(&st->instructions[k], "from");
		const struct df_stage *d = from ? dockerfile_stage(b->df, from) : NULL;
		if (d && d->index < i)
			need_stage(b, d->index, need);
	}
}

static int build_stage(struct builder *b, size_t si, shale_id *result)
{
	const struct df_stage *st = &b->df->stages[si];
	shale_store *s = cli_store(b->c);
	char *err = NULL;
	shale_id cur;
	double t0 = now_s();
	if (!s)
		return -1;
	char *base = df_expand_word(st->base, b->df->escape, meta_lookup, &b->meta, &err);
	if (!base) {
		shale_err(EINVAL, "%s", err ? err : "bad FROM");
		free(err);
		return -1;
	}
	say(b, "Step %zu/%zu : %s\n", ++b->step, b->steps, st->from->original);
	const struct df_stage *dep = dockerfile_stage_by_name(b->df, base);
	if (dep && dep->index < si && b->stage_built[dep->index]) {
		cur = b->stage_image[dep->index];
	} else if (!strcmp(base, "scratch")) {
		json_t *img = shale_image_new(s, NULL);
		int r = shale_image_put(s, img, &cur);
		json_decref(img);
		if (r < 0) {
			free(base);
			return -1;
		}
	} else if (shale_image_resolve(s, base, &cur) < 0) {
		shale_err(ENOENT, "%s:%u: FROM %s: no such image (import, pull or build it first)",
			  st->from->file, st->from->line, base);
		free(base);
		return -1;
	}
	free(base);
	char hex[SHALE_ID_HEX];
	shale_id_hex(&cur, hex);
	say(b, " ---> %.12s  [%.2fs]\n", hex, now_s() - t0);

	struct vars args = {0};
	int ret = 0;
	for (size_t k = 0; k < st->ninstructions && !ret; k++) {
		const struct df_instruction *in = &st->instructions[k];
		t0 = now_s();
		say(b, "Step %zu/%zu : %s\n", ++b->step, b->steps, in->original);
		SHALE_CRASH_POINT("build step");
		json_t *img = shale_image_get(cli_store(b->c), &cur);
		json_t *config = json_object_get(img, "config");
		struct scope sc = {config, &args};
		struct df_instruction *x = (struct df_instruction *)in;
		if (in->expand &&
		    !(x = df_expand_instruction(in, b->df->escape, scope_lookup, &sc, &err))) {
			ret = shale_err(EINVAL, "%s", err ? err : "expansion failed");
			free(err);
			err = NULL;
			json_decref(img);
			break;
		}
		shale_id next;
		bool cached = false;
		switch (x->cmd) {
		case DF_RUN:
			ret = step_run(b, x, &cur, config, &args, &next, &cached);
			break;
		case DF_COPY:
		case DF_ADD:
			ret = step_copy(b, x, &cur, config, &next, &cached);
			break;
		case DF_WORKDIR:
			ret = step_workdir(b, x, &cur, &next, &cached);
			break;
		case DF_FROM:
			ret = shale_err(EINVAL, "%s:%u: FROM inside a stage", x->file, x->line);
			break;
		default: {
			if (x->cmd == DF_ARG) {
				/* declared; --build-arg wins over the default; a meta ARG's value
				 * comes back when the stage declares it without one */
				for (size_t i = 0; i < x->nkvs; i++) {
					const char *v = vars_get(&b->build_args, x->kvs[i].key);
					if (!v)
						v = x->kvs[i].value ? x->kvs[i].value : vars_get(&b->meta, x->kvs[i].key);
					vars_set(&args, x->kvs[i].key, v);
				}
			}
			char *by = df_created_by(x, &(struct df_history_ctx){0}), ck[65];
			cache_key(&cur, by ? by : "", ck);
			if (!(cached = cache_get(b, ck, &next))) {
				ret = child_image(b, &cur, x->cmd == DF_ARG ? NULL : x, NULL, by, &next);
				if (!ret)
					cache_put(b, ck, &next);
			}
			free(by);
		}
		}
		if (x != in)
			df_instruction_free(x);
		json_decref(img);
		if (ret)
			break;
		cur = next;
		shale_id_hex(&cur, hex);
		if (cached)
			say(b, " ---> Using cache\n");
		say(b, " ---> %.12s  [%.2fs]\n", hex, now_s() - t0);
	}
	vars_free(&args);
	*result = cur;
	return ret;
}

/* ---- the verb ---- */

static const char build_help[] =
	"Usage:  shale build [OPTIONS] PATH\n\n"
	"Build an image from a Dockerfile, with a layer cache.\n\n"
	"Options:\n"
	"      --build-arg list   Set build-time variables (K=V, or K to take it from the environment)\n"
	"  -f, --file string      Name of the Dockerfile (default: PATH/Dockerfile)\n"
	"      --no-cache         Do not use cache when building the image\n"
	"  -q, --quiet            Suppress the build output and print the image ID on success\n"
	"  -t, --tag list         Name and optionally a tag in the 'name:tag' format\n"
	"      --target string    Set the target build stage to build\n";

int cmd_build(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"build-arg", required_argument, 0, 'A'},
					   {"file", required_argument, 0, 'f'},
					   {"no-cache", no_argument, 0, 'N'},
					   {"quiet", no_argument, 0, 'q'},
					   {"tag", required_argument, 0, 't'},
					   {"target", required_argument, 0, 'T'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	struct builder b = {.c = c, .ctx = {.fd = -1}};
	const char *file = NULL, *target = NULL;
	char **tags = calloc((size_t)argc + 1, sizeof *tags);
	size_t ntags = 0;
	int o, ret = EXIT_ERR;
	while ((o = cli_getopt(argc, argv, "f:qt:h", lo)) != -1) {
		switch (o) {
		case 'A': {
			char *eq = strchr(optarg, '=');
			if (eq) {
				*eq = 0;
				vars_set(&b.build_args, optarg, eq + 1);
				*eq = '=';
			} else if (getenv(optarg)) {
				vars_set(&b.build_args, optarg, getenv(optarg));
			}
			break;
		}
		case 'f': file = optarg; break;
		case 'N': b.no_cache = true; break;
		case 'q': b.quiet = true; break;
		case 't': tags[ntags++] = optarg; break;
		case 'T': target = optarg; break;
		case 'h': ret = cli_help(build_help); goto out;
		default: ret = EXIT_USAGE; goto out;
		}
	}
	if (argc - optind != 1) {
		ret = cli_usage_error("build", "\"shale build\" requires exactly 1 argument.");
		goto out;
	}
	char norm[512];
	for (size_t i = 0; i < ntags; i++)
		if (shale_ref_normalize(tags[i], norm, sizeof norm) < 0) {
			ret = cli_fail();
			goto out;
		}
	const char *dir = argv[optind];
	if (bctx_open(&b.ctx, dir, b.err, sizeof b.err) < 0) {
		ret = cli_error("%s", b.err);
		goto out;
	}
	/* the Dockerfile: -f is relative to the current directory, as Docker */
	char dfpath[PATH_MAX];
	snprintf(dfpath, sizeof dfpath, "%s%s%s", file ? "" : dir, file ? "" : "/",
		 file ? file : "Dockerfile");
	int fd = open(dfpath, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = cli_error("unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
				"lstat %s: no such file or directory", dfpath);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	char *text = malloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, text, (size_t)st.st_size);
	close(fd);
	char *perr = NULL;
	const char *base = strrchr(dfpath, '/');
	b.df = n >= 0 ? dockerfile_parse(text, (size_t)n, base ? base + 1 : dfpath, &perr) : NULL;
	free(text);
	if (!b.df) {
		ret = cli_error("%s", perr ? perr : "cannot read the Dockerfile");
		free(perr);
		goto out;
	}
	for (size_t i = 0; i < b.df->nwarnings; i++)
		fprintf(stderr, "[WARNING] %s\n", b.df->warnings[i]);
	/* meta ARGs: defaults, then --build-arg */
	for (size_t i = 0; i < b.df->nmeta_args; i++) {
		const struct df_instruction *a = &b.df->meta_args[i];
		for (size_t k = 0; k < a->nkvs; k++) {
			const char *v = vars_get(&b.build_args, a->kvs[k].key);
			char *err = NULL, *def = NULL;
			if (!v && a->kvs[k].value)
				v = def = df_expand_word(a->kvs[k].value, b.df->escape, meta_lookup, &b.meta, &err);
			free(err);
			vars_set(&b.meta, a->kvs[k].key, v);
			free(def);
		}
	}
	const struct df_stage *tgt = target ? dockerfile_stage(b.df, target)
					    : &b.df->stages[b.df->nstages - 1];
	if (!tgt) {
		ret = cli_error("failed to reach build target %s in Dockerfile", target);
		goto out;
	}
	/* Every image a step makes is unreferenced until the cache records it,
	 * the base until a step builds on it, the result until it is tagged. */
	if (cli_hold(c) < 0) {
		ret = cli_fail();
		goto out;
	}
	bool *need = calloc(b.df->nstages, sizeof *need);
	need_stage(&b, tgt->index, need);
	for (size_t i = 0; i < b.df->nstages; i++)
		if (need[i])
			b.steps += 1 + b.df->stages[i].ninstructions;
	b.stage_image = calloc(b.df->nstages, sizeof *b.stage_image);
	b.stage_built = calloc(b.df->nstages, sizeof *b.stage_built);
	uint64_t bytes, entries;
	bctx_size(&b.ctx, &bytes, &entries);
	char hb[32];
	shale_human_size(bytes, hb, sizeof hb);
	say(&b, "Sending build context to shale  %s\n", hb);
	shale_id final;
	int r = 0;
	for (size_t i = 0; i <= tgt->index && r == 0; i++) {
		if (!need[i])
			continue;
		r = build_stage(&b, i, &b.stage_image[i]);
		b.stage_built[i] = r == 0;
		final = b.stage_image[i];
	}
	free(need);
	if (r < 0) {
		ret = cli_fail(); /* nothing tagged; the steps that succeeded stay cached */
		goto out;
	}
	shale_store *s = cli_store(c);
	char hex[SHALE_ID_HEX];
	shale_id_hex(&final, hex);
	if (!b.quiet)
		printf("Successfully built %.12s\n", hex);
	for (size_t i = 0; i < ntags; i++) {
		if (!s || shale_tag_set(s, tags[i], &final) < 0) {
			ret = cli_fail();
			goto out;
		}
		shale_ref_normalize(tags[i], norm, sizeof norm);
		if (!b.quiet)
			printf("Successfully tagged %s\n", norm);
	}
	if (b.quiet)
		printf("%s\n", hex);
	ret = EXIT_OK;
out:
	free(tags);
	vars_free(&b.build_args);
	vars_free(&b.meta);
	free(b.stage_image);
	free(b.stage_built);
	dockerfile_free(b.df);
	if (b.ctx.fd >= 0)
		bctx_close(&b.ctx);
	return ret;
}

/* shale builder prune: forget the build cache; the images it kept become
 * dangling and `shale prune` reclaims them. */
struct key_list {
	char **v;
	size_t n;
};

static int collect_key(void *ctx, const char *key, json_t *val)
{
	struct key_list *k = ctx;
	k->v = realloc(k->v, (k->n + 1) * sizeof *k->v);
	k->v[k->n++] = strdup(key);
	return 0;
}

int cmd_builder(struct cli *c, int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return cli_help("Usage:  shale builder prune\n\n"
				"Remove the build cache: the images it kept for later builds become\n"
				"dangling, and 'shale prune' reclaims them.\n");
	if (argc != 2 || strcmp(argv[1], "prune"))
		return cli_usage_error("builder", "usage: shale builder prune");
	shale_store *s = cli_store(c);
	struct key_list k = {0};
	if (!s || shale_table_foreach(s, SHALE_T_CACHE, collect_key, &k) < 0)
		return cli_fail();
	int ret = EXIT_OK;
	for (size_t i = 0; i < k.n; i++) {
		if (shale_table_delete(s, SHALE_T_CACHE, k.v[i]) < 0)
			ret = cli_fail();
		free(k.v[i]);
	}
	free(k.v);
	printf("Deleted build cache entries: %zu\n", k.n);
	return ret;
}
