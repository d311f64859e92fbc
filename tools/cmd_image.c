/* shale images, history, inspect, tag, rmi. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "images.h"

/* ---- images ---- */

struct img_item {
	shale_id id;
	json_t *j;
	int64_t created;
	bool is_parent;
};

struct img_all {
	struct img_item *v;
	size_t n, cap;
};

static int collect_img(void *ctx, const shale_id *id, json_t *img)
{
	struct img_all *a = ctx;
	if (a->n == a->cap)
		a->v = realloc(a->v, (a->cap = a->cap ? 2 * a->cap : 32) * sizeof *a->v);
	a->v[a->n] = (struct img_item){*id, json_incref(img),
				       shale_parse_rfc3339(json_string_value(json_object_get(img, "created"))),
				       false};
	a->n++;
	return 0;
}

static int by_created(const void *x, const void *y)
{
	const struct img_item *a = x, *b = y;
	return (a->created < b->created) - (a->created > b->created);
}

static void img_all_free(struct img_all *a)
{
	for (size_t i = 0; i < a->n; i++)
		json_decref(a->v[i].j);
	free(a->v);
}

static int load_images(shale_store *s, struct img_all *a)
{
	memset(a, 0, sizeof *a);
	if (shale_image_foreach(s, collect_img, a) < 0)
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		const char *p = json_string_value(json_object_get(a->v[i].j, "parent"));
		shale_id pid;
		if (!p || shale_id_parse(p, &pid) < 0)
			continue;
		for (size_t j = 0; j < a->n; j++)
			if (!shale_id_cmp(&a->v[j].id, &pid))
				a->v[j].is_parent = true;
	}
	if (a->n)
		qsort(a->v, a->n, sizeof *a->v, by_created);
	return 0;
}

static const char images_help[] =
	"Usage:  shale images [OPTIONS] [REPOSITORY[:TAG]]\n\n"
	"List images.\n\n"
	"Options:\n"
	"  -a, --all             Show all images (default hides intermediate images)\n"
	"      --digests         Show digests\n"
	"      --format string   'table' (default) or 'json' (one object per line)\n"
	"      --no-trunc        Don't truncate output\n"
	"  -q, --quiet           Only show image IDs\n";

static void json_line(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	puts(s);
	free(s);
	json_decref(o);
}

int cmd_images(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"all", no_argument, 0, 'a'},
					   {"quiet", no_argument, 0, 'q'},
					   {"no-trunc", no_argument, 0, 'T'},
					   {"digests", no_argument, 0, 'D'},
					   {"format", required_argument, 0, 'f'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	bool all = false, quiet = false, notrunc = false, digests = false, json = false;
	int o;
	while ((o = cli_getopt(argc, argv, "aqh", lo)) != -1) {
		switch (o) {
		case 'a': all = true; break;
		case 'q': quiet = true; break;
		case 'T': notrunc = true; break;
		case 'D': digests = true; break;
		case 'f':
			if (!strcmp(optarg, "json"))
				json = true;
			else if (strcmp(optarg, "table"))
				return cli_usage_error("images", "unknown format '%s' (table, json)", optarg);
			break;
		case 'h': return cli_help(images_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("images", "\"shale images\" requires at most 1 argument.");
	const char *filter = optind < argc ? argv[optind] : NULL;
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	struct img_all imgs;
	struct tagmap tags;
	if (load_images(s, &imgs) < 0 || tagmap_load(s, &tags) < 0)
		return cli_fail();
	struct table *t = digests ? table_new(6, "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE")
				  : table_new(5, "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
	for (size_t i = 0; i < imgs.n; i++) {
		struct img_item *im = &imgs.v[i];
		char hex[SHALE_ID_HEX], age[64], size[32], created[64];
		shale_id_hex(&im->id, hex);
		if (!notrunc)
			hex[12] = 0;
		shale_human_age(im->created, age, sizeof age);
		uint64_t bytes = image_size(s, im->j);
		shale_human_size(bytes, size, sizeof size);
		snprintf(created, sizeof created, "%s",
			 json_string_value(json_object_get(im->j, "created")) ?: "");
		const char *digest = json_string_value(json_object_get(im->j, "digest")) ?: "<none>";
		size_t ntags = tagmap_count(&tags, &im->id);
		/* a row per tag, or one <none> row for an untagged image */
		for (size_t k = 0; ntags ? k < tags.n : k == 0; k++) {
			char repo[512] = "<none>", tag[256] = "<none>";
			if (ntags) {
				if (shale_id_cmp(&tags.ids[k], &im->id))
					continue;
				shale_ref_split(tags.refs[k], repo, sizeof repo, tag, sizeof tag);
			} else if (!all && im->is_parent) {
				break; /* an intermediate image */
			}
			if (filter) {
				char fr[512], ft[256], fn[512];
				if (!ntags)
					break;
				if (strchr(filter, ':') && shale_ref_normalize(filter, fn, sizeof fn) == 0) {
					if (strcmp(fn, tags.refs[k]))
						continue;
				} else if (shale_ref_split(tags.refs[k], fr, sizeof fr, ft, sizeof ft) < 0 ||
					   strcmp(fr, filter)) {
					continue;
				}
			}
			if (quiet) {
				printf("%s\n", hex);
				break;
			}
			if (json) {
				json_line(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "Repository",
						    repo, "Tag", tag, "ID", hex, "CreatedAt", created,
						    "CreatedSince", age, "Size", size, "SizeBytes",
						    (json_int_t)bytes, "Digest", digest));
			} else if (digests) {
				table_row(t, repo, tag, digest, hex, age, size);
			} else {
				table_row(t, repo, tag, hex, age, size);
			}
		}
	}
	if (!quiet && !json)
		table_print(t, stdout);
	else
		table_free(t);
	tagmap_free(&tags);
	img_all_free(&imgs);
	return EXIT_OK;
}

/* ---- history ---- */

static const char history_help[] =
	"Usage:  shale history [OPTIONS] IMAGE\n\n"
	"Show the history of an image, newest first.\n\n"
	"Options:\n"
	"      --format string   'table' (default) or 'json' (one object per line)\n"
	"      --no-trunc        Don't truncate output\n"
	"  -q, --quiet           Only show image IDs\n";

static void ellipsis(const char *in, char *out, size_t max, bool notrunc)
{
	size_t n = strlen(in);
	if (notrunc || n <= max) {
		strcpy(out, in);
		return;
	}
	memcpy(out, in, max - 1);
	strcpy(out + max - 1, "…");
}

int cmd_history(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"no-trunc", no_argument, 0, 'T'},
					   {"quiet", no_argument, 0, 'q'},
					   {"format", required_argument, 0, 'f'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	bool notrunc = false, quiet = false, json = false;
	int o;
	while ((o = cli_getopt(argc, argv, "qh", lo)) != -1) {
		switch (o) {
		case 'T': notrunc = true; break;
		case 'q': quiet = true; break;
		case 'f':
			if (!strcmp(optarg, "json"))
				json = true;
			else if (strcmp(optarg, "table"))
				return cli_usage_error("history", "unknown format '%s' (table, json)", optarg);
			break;
		case 'h': return cli_help(history_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("history", "\"shale history\" requires exactly 1 argument.");
	shale_store *s = cli_store(c);
	shale_id id;
	if (!s)
		return EXIT_ERR;
	if (shale_image_resolve(s, argv[optind], &id) < 0)
		return cli_fail();
	json_t *img = shale_image_get(s, &id);
	if (!img)
		return cli_fail();
	json_t *hist = json_object_get(img, "history");
	size_t nh = json_array_size(hist);
	shale_id *layers;
	size_t nl;
	if (shale_image_layers(img, &layers, &nl) < 0)
		return cli_fail();
	/* which history row each image of the parent chain ends at */
	char **row_id = calloc(nh ? nh : 1, sizeof *row_id);
	shale_id cur = id;
	for (int depth = 0; depth < 10000; depth++) {
		json_t *ci = depth ? shale_image_get(s, &cur) : json_incref(img);
		if (!ci)
			break;
		size_t h = json_array_size(json_object_get(ci, "history"));
		if (h && h <= nh && !row_id[h - 1]) {
			row_id[h - 1] = malloc(SHALE_ID_HEX);
			shale_id_hex(&cur, row_id[h - 1]);
		}
		const char *p = json_string_value(json_object_get(ci, "parent"));
		bool more = p && shale_id_parse(p, &cur) == 0;
		json_decref(ci);
		if (!more)
			break;
	}
	struct table *t = table_new(5, "IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT");
	size_t li = nl;
	for (size_t i = nh; i-- > 0;) {
		json_t *h = json_array_get(hist, i);
		bool empty = json_is_true(json_object_get(h, "empty_layer"));
		uint64_t bytes = 0;
		char layerhex[SHALE_ID_HEX] = "";
		if (!empty && li > 0) {
			shale_layer_info info;
			li--;
			if (shale_layer_get(s, &layers[li], &info) == 0)
				bytes = info.size;
			shale_id_hex(&layers[li], layerhex);
		}
		char idcol[SHALE_ID_HEX] = "<missing>", age[64], size[32], by[4096], comment[4096];
		if (row_id[i]) {
			snprintf(idcol, sizeof idcol, "%s", row_id[i]);
			if (!notrunc)
				idcol[12] = 0;
		}
		const char *created = json_string_value(json_object_get(h, "created"));
		shale_human_age(shale_parse_rfc3339(created), age, sizeof age);
		shale_human_size(bytes, size, sizeof size);
		const char *cb = json_string_value(json_object_get(h, "created_by")) ?: "";
		const char *cm = json_string_value(json_object_get(h, "comment")) ?: "";
		ellipsis(cb, by, 45, notrunc || json);
		snprintf(comment, sizeof comment, "%s", cm);
		if (quiet) {
			puts(idcol);
		} else if (json) {
			json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "ID", idcol,
						"CreatedAt", created ?: "", "CreatedSince", age, "CreatedBy",
						cb, "Size", size, "SizeBytes", (json_int_t)bytes, "Comment", cm);
			if (*layerhex)
				json_object_set_new(row, "Layer", json_string(layerhex));
			json_line(row);
		} else {
			table_row(t, idcol, age, by, size, comment);
		}
	}
	if (!quiet && !json)
		table_print(t, stdout);
	else
		table_free(t);
	for (size_t i = 0; i < nh; i++)
		free(row_id[i]);
	free(row_id);
	free(layers);
	json_decref(img);
	return EXIT_OK;
}

/* ---- inspect ---- */

static const char inspect_help[] =
	"Usage:  shale inspect IMAGE|LAYER [IMAGE|LAYER...]\n\n"
	"Show details of images (or of layers, by id) as a JSON array.\n";

static json_t *inspect_image(shale_store *s, const shale_id *id, struct tagmap *tags)
{
	json_t *img = shale_image_get(s, id);
	if (!img)
		return NULL;
	char hex[SHALE_ID_HEX];
	shale_id_hex(id, hex);
	json_t *rt = json_array();
	for (size_t i = 0; i < tags->n; i++)
		if (!shale_id_cmp(&tags->ids[i], id))
			json_array_append_new(rt, json_string(tags->refs[i]));
	json_t *hist = json_object_get(img, "history");
	json_t *last = json_array_get(hist, json_array_size(hist) - 1);
	json_t *out = json_pack(
		"{s:s, s:o, s:s, s:s, s:s, s:O, s:s, s:s, s:I, s:{s:s, s:O}, s:O}", "Id", hex, "RepoTags",
		rt, "Parent", json_string_value(json_object_get(img, "parent")) ?: "", "Comment",
		json_string_value(json_object_get(last, "comment")) ?: "", "Created",
		json_string_value(json_object_get(img, "created")) ?: "", "Config",
		json_object_get(img, "config") ?: json_object(), "Architecture",
		json_string_value(json_object_get(img, "architecture")) ?: "", "Os",
		json_string_value(json_object_get(img, "os")) ?: "", "Size",
		(json_int_t)image_size(s, img), "RootFS", "Type", "layers", "Layers",
		json_object_get(img, "layers"), "History", hist ?: json_array());
	/* Docker's form: name@digest, for each repository the image is tagged in */
	const char *digest = json_string_value(json_object_get(img, "digest"));
	json_t *rd = json_array();
	for (size_t i = 0; digest && i < tags->n; i++) {
		char name[512], tag[256], *ent;
		if (shale_id_cmp(&tags->ids[i], id) ||
		    shale_ref_split(tags->refs[i], name, sizeof name, tag, sizeof tag) < 0 ||
		    asprintf(&ent, "%s@%s", name, digest) < 0)
			continue;
		json_array_append_new(rd, json_string(ent));
		free(ent);
	}
	json_object_set_new(out, "RepoDigests", rd);
	json_decref(img);
	return out;
}

static json_t *inspect_layer(shale_store *s, const shale_id *id)
{
	shale_layer_info li;
	uint64_t stored = 0;
	if (shale_layer_get(s, id, &li) < 0 || shale_layer_bytes(s, id, &stored) < 0)
		return NULL;
	char hex[SHALE_ID_HEX], created[64];
	shale_id_hex(id, hex);
	time_t t = (time_t)li.created;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "Id", hex, "Type", "layer", "Created",
			 created, "Entries", (json_int_t)li.entries, "Size", (json_int_t)li.size,
			 "StoredSize", (json_int_t)stored);
}

int cmd_inspect(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, 0, 'h'}, {0}};
	int o;
	while ((o = cli_getopt(argc, argv, "h", lo)) != -1) {
		if (o == 'h')
			return cli_help(inspect_help);
		return EXIT_USAGE;
	}
	if (optind >= argc)
		return cli_usage_error("inspect", "\"shale inspect\" requires at least 1 argument.");
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	struct tagmap tags;
	if (tagmap_load(s, &tags) < 0)
		return cli_fail();
	json_t *arr = json_array();
	int ret = EXIT_OK;
	for (int i = optind; i < argc; i++) {
		shale_id id;
		json_t *j = NULL;
		if (shale_image_resolve(s, argv[i], &id) == 0) {
			j = inspect_image(s, &id, &tags);
		} else if (shale_errcode() == ENOENT && shale_layer_resolve(s, argv[i], &id) == 0) {
			j = inspect_layer(s, &id);
		} else if (shale_errcode() == ENOENT) {
			shale_err(ENOENT, "no such image or layer: %s", argv[i]);
		}
		if (!j) {
			ret = cli_fail();
			continue;
		}
		json_array_append_new(arr, j);
	}
	char *out = json_dumps(arr, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	puts(out);
	free(out);
	json_decref(arr);
	tagmap_free(&tags);
	return ret;
}

/* ---- tag ---- */

int cmd_tag(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, 0, 'h'}, {0}};
	int o;
	while ((o = cli_getopt(argc, argv, "h", lo)) != -1) {
		if (o == 'h')
			return cli_help("Usage:  shale tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\n"
					"Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.\n");
		return EXIT_USAGE;
	}
	if (argc - optind != 2)
		return cli_usage_error("tag", "\"shale tag\" requires exactly 2 arguments.");
	char norm[512];
	if (shale_ref_normalize(argv[optind + 1], norm, sizeof norm) < 0)
		return cli_fail();
	shale_store *s = cli_store(c);
	shale_id id;
	if (!s)
		return EXIT_ERR;
	if (cli_hold(c) < 0) /* no prune between resolving and tagging */
		return cli_fail();
	if (shale_image_resolve(s, argv[optind], &id) < 0 || shale_tag_set(s, norm, &id) < 0)
		return cli_fail();
	return EXIT_OK;
}

/* ---- rmi ---- */

static const char rmi_help[] =
	"Usage:  shale rmi [OPTIONS] IMAGE [IMAGE...]\n\n"
	"Remove one or more images. A tag is untagged; the image itself is deleted\n"
	"when no other tag, container, mount or build-cache entry needs it, and then\n"
	"the layers and objects nothing else uses are reclaimed.\n\n"
	"Options:\n"
	"  -f, --force   Remove the image even if it has several tags, and untag it even\n"
	"                if a container uses it (the image data stays for the container)\n";

static int rmi_one(shale_store *s, const char *ref, bool force)
{
	shale_id id;
	char norm[512], hex[SHALE_ID_HEX], who[64];
	struct tagmap tags;
	if (shale_image_resolve(s, ref, &id) < 0)
		return -1;
	shale_id_hex(&id, hex);
	if (tagmap_load(s, &tags) < 0)
		return -1;
	bool by_tag = shale_ref_normalize(ref, norm, sizeof norm) == 0 &&
		      shale_tag_get(s, norm, &id) == 0;
	size_t ntags = tagmap_count(&tags, &id);
	int users = shale_image_users(s, &id, who, sizeof who);
	int ret = -1;
	if (users < 0)
		goto out;
	if (!by_tag && ntags > 1 && !force) {
		shale_err(EBUSY, "conflict: unable to delete %.12s (must be forced) - image is "
				 "referenced in multiple repositories", hex);
		goto out;
	}
	if (users && !force && (!by_tag || ntags <= 1)) {
		shale_err(EBUSY, "conflict: unable to remove %s (must force) - %s is using image %.12s",
			  ref, who, hex);
		goto out;
	}
	/* untag: the tag named, or every tag when removing by id */
	for (size_t i = 0; i < tags.n; i++) {
		if (shale_id_cmp(&tags.ids[i], &id) || (by_tag && strcmp(tags.refs[i], norm)))
			continue;
		if (shale_tag_delete(s, tags.refs[i]) < 0)
			goto out;
		printf("Untagged: %s\n", tags.refs[i]);
		ntags--;
	}
	if (ntags == 0 && !users && !shale_image_cached(s, &id)) {
		if (shale_image_delete(s, &id) < 0)
			goto out;
		printf("Deleted: %s\n", hex);
	}
	ret = 0;
out:
	tagmap_free(&tags);
	return ret;
}

int cmd_rmi(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"force", no_argument, 0, 'f'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	bool force = false;
	int o;
	while ((o = cli_getopt(argc, argv, "fh", lo)) != -1) {
		switch (o) {
		case 'f': force = true; break;
		case 'h': return cli_help(rmi_help);
		default: return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage_error("rmi", "\"shale rmi\" requires at least 1 argument.");
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	/* Exclusive from the first look at users to the sweep: no command is
	 * between resolving an image and recording its use (cli_hold). */
	if (shale_lock_exclusive(s, true) < 0)
		return cli_fail();
	int ret = EXIT_OK;
	for (int i = optind; i < argc; i++)
		if (rmi_one(s, argv[i], force) < 0)
			ret = cli_fail();
	shale_prune_stats st;
	if (shale_gc(s, &st) < 0) /* already locked: unlocks */
		ret = cli_fail();
	return ret;
}
