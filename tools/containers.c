/* Container records: ids, Docker-style names, upper and work directories. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "containers.h"
#include "fs.h"

const char *container_str(json_t *c, const char *key)
{
	return json_string_value(json_object_get(c, key));
}

struct find_ctx {
	const char *want;
	const char *field; /* "name"/"id"/"upper", or NULL for name-or-id-prefix */
	json_t *found;
	int matches;
};

static int find_one(void *ctx, const char *key, json_t *val)
{
	struct find_ctx *f = ctx;
	const char *name = container_str(val, "name"), *upper = container_str(val, "upper");
	bool hit;
	if (f->field && !strcmp(f->field, "upper"))
		hit = upper && !strcmp(upper, f->want);
	else if (name && !strcmp(name, f->want))
		hit = true, f->matches = 0; /* an exact name beats id prefixes */
	else
		hit = strlen(f->want) >= 4 && !strncmp(key, f->want, strlen(f->want));
	if (hit) {
		json_decref(f->found);
		f->found = json_incref(val);
		f->matches++;
		if (name && !strcmp(name, f->want))
			return 1;
	}
	return 0;
}

json_t *container_find(shale_store *s, const char *name_or_id)
{
	struct find_ctx f = {.want = name_or_id};
	shale_table_foreach(s, SHALE_T_CONTAINERS, find_one, &f);
	if (f.matches > 1) {
		json_decref(f.found);
		shale_err(EINVAL, "container id prefix '%s' is ambiguous", name_or_id);
		return NULL;
	}
	if (!f.found)
		shale_err(ENOENT, "no such container: %s", name_or_id);
	return f.found;
}

json_t *container_by_upper(shale_store *s, const char *upper)
{
	struct find_ctx f = {.want = upper, .field = "upper"};
	shale_table_foreach(s, SHALE_T_CONTAINERS, find_one, &f);
	return f.found;
}

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;
	while (d && (e = readdir(d)) && empty)
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return empty;
}

/* Docker-style names: adjective_scientist. */
static void gen_name(shale_store *s, char *out, size_t len)
{
	static const char *const adj[] = {"brave", "calm", "eager", "fond", "gentle", "happy",
					  "jolly", "keen", "lucid", "merry", "nifty", "proud",
					  "quirky", "sharp", "tender", "vivid", "witty", "zen"};
	static const char *const who[] = {"curie", "darwin", "euler", "fermi", "gauss", "hopper",
					  "knuth", "lovelace", "meitner", "noether", "pascal",
					  "ritchie", "shannon", "thompson", "turing", "wozniak"};
	for (int tries = 0;; tries++) {
		uint32_t r = 0;
		if (getrandom(&r, sizeof r, 0) != sizeof r)
			r = (uint32_t)time(NULL);
		const char *a = adj[r % (sizeof adj / sizeof *adj)];
		const char *w = who[(r / 64) % (sizeof who / sizeof *who)];
		if (tries < 20)
			snprintf(out, len, "%s_%s", a, w);
		else
			snprintf(out, len, "%s_%s%u", a, w, r % 1000);
		json_t *c = container_find(s, out);
		if (!c)
			return;
		json_decref(c);
	}
}

json_t *container_create(shale_store *s, const shale_id *image, const char *ref,
			 const char *name, const char *upper)
{
	uint8_t raw[16];
	char id[33], gen[64], up[PATH_MAX], work[PATH_MAX + 8];
	if (getrandom(raw, sizeof raw, 0) != sizeof raw) {
		shale_err(errno, "getrandom: %s", strerror(errno));
		return NULL;
	}
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	if (name) {
		json_t *old = container_find(s, name);
		if (old) {
			shale_err(EEXIST, "the container name \"%s\" is already in use by container %.12s",
				  name, container_str(old, "id"));
			json_decref(old);
			return NULL;
		}
		for (const char *p = name; *p; p++)
			if (!(*p == '_' || *p == '.' || *p == '-' || (*p >= 'a' && *p <= 'z') ||
			      (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) ||
			    p == name + 63) {
				shale_err(EINVAL, "invalid container name \"%s\": only [a-zA-Z0-9_.-] allowed",
					  name);
				return NULL;
			}
	} else {
		gen_name(s, gen, sizeof gen);
		name = gen;
	}
	if (upper) {
		if (mkdir(upper, 0755) < 0 && errno != EEXIST) {
			shale_err(errno, "upper directory %s: %s", upper, strerror(errno));
			return NULL;
		}
		if (!realpath(upper, up)) {
			shale_err(errno, "upper directory %s: %s", upper, strerror(errno));
			return NULL;
		}
		snprintf(work, sizeof work, "%s.work", up);
	} else {
		snprintf(up, sizeof up, "%s/containers/%s/upper", shale_root(s), id);
		snprintf(work, sizeof work, "%s/containers/%s/work", shale_root(s), id);
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%s/containers/%s", shale_root(s), id);
		if (mkdir(dir, 0700) < 0 || mkdir(up, 0755) < 0) {
			shale_err(errno, "create %s: %s", up, strerror(errno));
			return NULL;
		}
	}
	char hex[SHALE_ID_HEX], now[40];
	shale_id_hex(image, hex);
	shale_now_rfc3339(now);
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "name", name, "image",
			      hex, "image_ref", ref ? ref : hex, "upper", up, "work", work, "created",
			      now);
	if (container_ready(s, c) < 0 || shale_table_put(s, SHALE_T_CONTAINERS, id, c) < 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

int container_ready(shale_store *s, json_t *c)
{
	const char *up = container_str(c, "upper"), *work = container_str(c, "work");
	shale_id image;
	if (mkdir(up, 0755) < 0 && errno != EEXIST)
		return shale_err(errno, "upper directory %s: %s", up, strerror(errno));
	if (mkdir(work, 0700) < 0 && errno != EEXIST)
		return shale_err(errno, "work directory %s: %s", work, strerror(errno));
	/* a fresh upper shows the image's root as it is */
	if (dir_empty(up) && (shale_id_parse(container_str(c, "image"), &image) < 0 ||
			      shale_fs_prepare_upper(s, &image, up) < 0))
		return -1;
	return 0;
}

int container_update(shale_store *s, json_t *c)
{
	return shale_table_put(s, SHALE_T_CONTAINERS, container_str(c, "id"), c);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

int container_remove(shale_store *s, json_t *c)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/containers/%s", shale_root(s), container_str(c, "id"));
	const char *upper = container_str(c, "upper");
	/* the record goes first: a crash leaves a directory prune can find, never
	 * a record without its upper */
	if (shale_table_delete(s, SHALE_T_CONTAINERS, container_str(c, "id")) < 0)
		return -1;
	if (upper && !strncmp(upper, dir, strlen(dir)))
		nftw(dir, rm_one, 64, FTW_DEPTH | FTW_PHYS);
	else if (container_str(c, "work"))
		nftw(container_str(c, "work"), rm_one, 64, FTW_DEPTH | FTW_PHYS);
	/* the lock of its commits (cmd_commit.c): a commit running now holds its
	 * open file, and a later one finds no container */
	snprintf(dir, sizeof dir, "%s/tmp/commit-%s.lock", shale_root(s), container_str(c, "id"));
	unlink(dir);
	return 0;
}

/* The runtime makes mount points (/dev, /proc, /sys, volume targets) that the
 * image may lack; they are the run's plumbing, not the container's changes:
 * empty ones the image does not have leave the upper again. */
void container_drop_mount_points(shale_store *s, const shale_id *image, const char *upper,
				 const char *const *volumes, size_t nvol)
{
	shale_view *v = shale_view_open_image(s, image);
	if (!v)
		return;
	const char *fixed[] = {"/dev", "/proc", "/sys"};
	for (size_t i = 0; i < 3 + nvol; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s", i < 3 ? fixed[i] : volumes[i - 3]);
		/* the target, then each parent the run had to make */
		for (char *slash; *path && strcmp(path, "/");) {
			shale_vattr a;
			char up[PATH_MAX * 2];
			if (shale_view_resolve(v, path + 1, &a) == 0)
				break;
			snprintf(up, sizeof up, "%s%s", upper, path);
			struct stat st;
			if (lstat(up, &st) < 0 || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) ||
			    (S_ISREG(st.st_mode) ? st.st_size || unlink(up) < 0 : rmdir(up) < 0))
				break;
			if (!(slash = strrchr(path, '/')))
				break;
			*slash = 0;
		}
	}
	shale_view_close(v);
}
