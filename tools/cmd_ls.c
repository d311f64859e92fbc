/* shale ls, shale cat: look inside an image without mounting it. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli.h"

static void mode_string(uint8_t type, uint32_t mode, char out[11])
{
	out[0] = shale_type_char(type);
	const char *rwx = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[1 + i] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & 04000)
		out[3] = (mode & 0100) ? 's' : 'S';
	if (mode & 02000)
		out[6] = (mode & 0010) ? 's' : 'S';
	if (mode & 01000)
		out[9] = (mode & 0001) ? 't' : 'T';
	out[10] = 0;
}

static const char *type_name(uint8_t t)
{
	switch (t) {
	case SHALE_REG: return "file";
	case SHALE_DIR: return "directory";
	case SHALE_LNK: return "symlink";
	case SHALE_CHR: return "char";
	case SHALE_BLK: return "block";
	case SHALE_FIFO: return "fifo";
	case SHALE_SOCK: return "socket";
	default: return "whiteout";
	}
}

static char *base64(const void *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

/* Add a byte string to a JSON object: as text when it is UTF-8, else as text
 * with U+FFFD for the bad bytes plus KEY_b64 holding the raw bytes. */
static void json_set_bytes(json_t *o, const char *key, const char *p, size_t n)
{
	json_t *j = json_stringn(p, n);
	if (j) {
		json_object_set_new(o, key, j);
		return;
	}
	char *fixed = malloc(3 * n + 1), *w = fixed;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)p[i] < 0x80) {
			*w++ = p[i];
		} else {
			memcpy(w, "\xef\xbf\xbd", 3);
			w += 3;
		}
	}
	json_object_set_new(o, key, json_stringn(fixed, (size_t)(w - fixed)));
	free(fixed);
	char k64[64], *b = base64(p, n);
	snprintf(k64, sizeof k64, "%s_b64", key);
	json_object_set_new(o, k64, json_string(b));
	free(b);
}

struct lsopt {
	bool lng, rec, json;
	const char *base; /* the listed path, for relative names */
	int depth_base;
	shale_store *s;
};

static void print_entry(struct lsopt *o, const char *path, const char *name, const shale_entry *e,
			uint64_t ino, uint32_t nlink, uint64_t blocks)
{
	if (o->json) {
		/* xattr values are bytes: base64, as scripts need them exact */
		json_t *x = json_object();
		uint32_t pos = 0, nl, vl;
		const char *xn;
		const uint8_t *xv;
		while (shale_xattr_next(e->xattrs, e->xattrs_len, &pos, &xn, &nl, &xv, &vl)) {
			char key[256], *b = base64(xv, vl);
			snprintf(key, sizeof key, "%.*s", (int)nl, xn);
			json_object_set_new(x, key, json_string(b));
			free(b);
		}
		char mtime[64], full[PATH_MAX + 2];
		snprintf(mtime, sizeof mtime, "%lld.%09ld", (long long)e->mtime.tv_sec, e->mtime.tv_nsec);
		snprintf(full, sizeof full, "/%s", path);
		json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I}", "type",
				      type_name(e->type), "mode", (json_int_t)e->mode, "uid",
				      (json_int_t)e->uid, "gid", (json_int_t)e->gid, "size",
				      (json_int_t)e->size, "mtime", mtime, "nlink", (json_int_t)nlink, "ino",
				      (json_int_t)ino, "blocks", (json_int_t)blocks);
		json_set_bytes(j, "path", full, strlen(full));
		if (e->type == SHALE_LNK)
			json_set_bytes(j, "target", e->target, e->target_len);
		if (e->type == SHALE_CHR || e->type == SHALE_BLK) {
			json_object_set_new(j, "major", json_integer(major(e->rdev)));
			json_object_set_new(j, "minor", json_integer(minor(e->rdev)));
		}
		if (e->flags & SHALE_F_OPAQUE)
			json_object_set_new(j, "opaque", json_true());
		json_object_set_new(j, "xattrs", x);
		char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		puts(s);
		free(s);
		json_decref(j);
		return;
	}
	if (!o->lng) {
		printf("%s\n", name);
		return;
	}
	char mode[11], when[32], size[32];
	mode_string(e->type, e->mode, mode);
	time_t t = e->mtime.tv_sec;
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
	if (e->type == SHALE_CHR || e->type == SHALE_BLK)
		snprintf(size, sizeof size, "%u, %u", major(e->rdev), minor(e->rdev));
	else
		snprintf(size, sizeof size, "%llu", (unsigned long long)e->size);
	printf("%s %3u %5u %5u %10s %s %s", mode, nlink, e->uid, e->gid, size, when, name);
	if (e->type == SHALE_LNK)
		printf(" -> %.*s", (int)e->target_len, e->target);
	if (e->type == SHALE_WHITEOUT)
		printf(" (whiteout)");
	if (e->flags & SHALE_F_OPAQUE)
		printf(" (opaque)");
	putchar('\n');
}

static int depth_of(const char *p)
{
	int d = *p ? 1 : 0;
	for (; *p; p++)
		d += *p == '/';
	return d;
}

/* The name to print: the path below the listed directory (all of it with -R). */
static const char *shown_name(struct lsopt *o, const char *path, char *buf)
{
	if (o->rec || o->json) {
		snprintf(buf, PATH_MAX + 1, "/%s", path);
		return buf;
	}
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int ls_view_fn(void *ctx, const char *path, const shale_vattr *a, const shale_entry *e)
{
	struct lsopt *o = ctx;
	char buf[PATH_MAX + 2];
	int d = depth_of(path) - o->depth_base;
	if (d == 0 && a->type == SHALE_DIR)
		return 0; /* the listed directory itself: show its children */
	print_entry(o, path, shown_name(o, path, buf), e, a->ino, a->nlink, a->blocks);
	return o->rec ? 0 : 1;
}

static int ls_layer_fn(void *ctx, const char *path, const shale_entry *e)
{
	struct lsopt *o = ctx;
	char buf[PATH_MAX + 2];
	int d = depth_of(path) - o->depth_base;
	if (d == 0 && e->type == SHALE_DIR)
		return 0;
	print_entry(o, path, shown_name(o, path, buf), e, 0, e->nlink,
		    shale_entry_blocks(e, o->s));
	return o->rec ? 0 : 1;
}

static const char ls_help[] =
	"Usage:  shale ls [OPTIONS] IMAGE [PATH]\n\n"
	"List files of an image (the merged view of its layers, or one layer alone),\n"
	"without mounting it.\n\n"
	"Options:\n"
	"  -l, --long            Long listing: mode, links, uid, gid, size, mtime\n"
	"  -R, --recursive       List subdirectories recursively (full paths)\n"
	"      --layer N|ID      Only layer N (0 is the bottom layer) or the layer with that\n"
	"                        id; whiteouts and opaque directories are shown as such\n"
	"      --format string   'text' (default) or 'json' (one object per line, recursive\n"
	"                        with -R)\n";

int cmd_ls(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"long", no_argument, 0, 'l'},
					   {"recursive", no_argument, 0, 'R'},
					   {"layer", required_argument, 0, 'L'},
					   {"format", required_argument, 0, 'f'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	struct lsopt o = {0};
	const char *layer = NULL;
	int opt;
	while ((opt = cli_getopt(argc, argv, "lRh", lo)) != -1) {
		switch (opt) {
		case 'l': o.lng = true; break;
		case 'R': o.rec = true; break;
		case 'L': layer = optarg; break;
		case 'f':
			if (!strcmp(optarg, "json"))
				o.json = true;
			else if (strcmp(optarg, "text"))
				return cli_usage_error("ls", "unknown format '%s' (text, json)", optarg);
			break;
		case 'h': return cli_help(ls_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_error("ls", "\"shale ls\" requires 1 or 2 arguments.");
	const char *path = argc - optind == 2 ? argv[optind + 1] : "/";
	shale_store *s = cli_store(c);
	shale_id img;
	if (!s)
		return EXIT_ERR;
	o.s = s;
	/* held: an rmi meanwhile would sweep what we are reading */
	if (cli_hold(c) < 0 || shale_image_resolve(s, argv[optind], &img) < 0)
		return cli_fail();
	while (*path == '/')
		path++;
	if (layer) {
		json_t *j = shale_image_get(s, &img);
		shale_id *layers, lid;
		size_t n;
		if (!j || shale_image_layers(j, &layers, &n) < 0)
			return cli_fail();
		json_decref(j);
		char *end;
		long idx = strtol(layer, &end, 10);
		if (*end == 0 && strlen(layer) < 4) {
			if (idx < 0 || (size_t)idx >= n) {
				free(layers);
				return cli_error("image has %zu layers: no layer %s", n, layer);
			}
			lid = layers[idx];
		} else if (shale_layer_resolve(s, layer, &lid) < 0) {
			free(layers);
			return cli_fail();
		}
		free(layers);
		char norm[PATH_MAX];
		snprintf(norm, sizeof norm, "%s", path);
		size_t nl = strlen(norm);
		while (nl && norm[nl - 1] == '/')
			norm[--nl] = 0;
		o.depth_base = depth_of(norm);
		if (shale_layer_walk(s, &lid, norm, ls_layer_fn, &o) < 0)
			return cli_fail();
		return EXIT_OK;
	}
	shale_view *v = shale_view_open_image(s, &img);
	if (!v)
		return cli_fail();
	shale_vattr a;
	/* like ls: a symlink argument is followed unless listing it long */
	int r = (o.lng && path[strlen(path) ? strlen(path) - 1 : 0] != '/')
			? shale_view_resolve(v, path, &a)
			: shale_view_resolve_follow(v, path, &a);
	char *real = r == 0 ? shale_view_path(v, a.ino) : NULL;
	if (r < 0 || !real) {
		shale_view_close(v);
		return cli_error("ls: cannot access '/%s': No such file or directory", path);
	}
	o.depth_base = depth_of(real);
	r = shale_view_walk(v, real, ls_view_fn, &o);
	free(real);
	shale_view_close(v);
	return r < 0 ? cli_fail() : EXIT_OK;
}

int cmd_cat(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, 0, 'h'}, {0}};
	int opt;
	while ((opt = cli_getopt(argc, argv, "h", lo)) != -1) {
		if (opt == 'h')
			return cli_help("Usage:  shale cat IMAGE PATH [PATH...]\n\n"
					"Print files of an image (symlinks are followed inside the image).\n");
		return EXIT_USAGE;
	}
	if (argc - optind < 2)
		return cli_usage_error("cat", "\"shale cat\" requires at least 2 arguments.");
	shale_store *s = cli_store(c);
	shale_id img;
	if (!s)
		return EXIT_ERR;
	/* held: an rmi meanwhile would sweep what we are reading */
	if (cli_hold(c) < 0 || shale_image_resolve(s, argv[optind], &img) < 0)
		return cli_fail();
	shale_view *v = shale_view_open_image(s, &img);
	if (!v)
		return cli_fail();
	int ret = EXIT_OK;
	size_t bufsz = SHALE_CHUNK_SIZE;
	char *buf = malloc(bufsz);
	for (int i = optind + 1; i < argc; i++) {
		const char *path = argv[i];
		shale_vattr a;
		shale_entry e;
		void *eb = NULL;
		if (shale_view_resolve_follow(v, path, &a) < 0) {
			ret = cli_error("cat: %s: No such file or directory", path);
			continue;
		}
		if (a.type == SHALE_DIR) {
			ret = cli_error("cat: %s: Is a directory", path);
			continue;
		}
		if (a.type != SHALE_REG) {
			ret = cli_error("cat: %s: not a regular file", path);
			continue;
		}
		if (shale_view_entry(v, a.ino, &e, &eb) < 0) {
			ret = cli_fail();
			continue;
		}
		for (uint64_t off = 0; off < e.size;) {
			size_t got;
			if (shale_content_read(s, &e, off, buf, bufsz, &got) < 0) {
				ret = cli_fail();
				break;
			}
			if (fwrite(buf, 1, got, stdout) != got) {
				ret = cli_error("cat: write error: %s", strerror(errno));
				break;
			}
			off += got;
		}
		free(eb);
	}
	free(buf);
	shale_view_close(v);
	if (fflush(stdout) != 0)
		ret = cli_error("cat: write error: %s", strerror(errno));
	return ret;
}
