/* shale prune, shale du. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char prune_help[] =
	"Usage:  shale prune [OPTIONS]\n\n"
	"Remove dangling images (untagged, not used by a container, a mount or the\n"
	"build cache, not the parent of another image), then every layer, object and\n"
	"index that no image needs. Prints the space reclaimed.\n\n"
	"Options:\n"
	"  -a, --all     Remove all images not used by a container, a mount or the build\n"
	"                cache, tagged or not\n"
	"  -f, --force   Do not prompt for confirmation (shale never prompts)\n";

int cmd_prune(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"all", no_argument, 0, 'a'},
					   {"force", no_argument, 0, 'f'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	bool all = false;
	int o;
	while ((o = cli_getopt(argc, argv, "afh", lo)) != -1) {
		switch (o) {
		case 'a': all = true; break;
		case 'f': break;
		case 'h': return cli_help(prune_help);
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("prune", "\"shale prune\" accepts no arguments.");
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	shale_prune_stats st;
	if (shale_prune(s, all, &st) < 0)
		return cli_fail();
	char b[32];
	shale_human_size(st.bytes, b, sizeof b);
	printf("Deleted images: %llu, layers: %llu, objects: %llu\n",
	       (unsigned long long)st.images, (unsigned long long)st.layers,
	       (unsigned long long)st.objects);
	printf("Total reclaimed space: %s\n", b);
	return EXIT_OK;
}

/* ---- du ---- */

static const char du_help[] =
	"Usage:  shale du [OPTIONS] IMAGE\n\n"
	"Show each layer of an image with the space its objects take in the store:\n"
	"SHARED is what other images use too, UNIQUE what removing only this image\n"
	"would free.\n\n"
	"Options:\n"
	"      --format string   'table' (default) or 'json'\n";

int cmd_du(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"format", required_argument, 0, 'f'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	bool json = false;
	int o;
	while ((o = cli_getopt(argc, argv, "h", lo)) != -1) {
		switch (o) {
		case 'f': json = !strcmp(optarg, "json"); break;
		case 'h': return cli_help(du_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("du", "\"shale du\" requires exactly 1 argument.");
	shale_store *s = cli_store(c);
	shale_id id;
	if (!s)
		return EXIT_ERR;
	if (shale_image_resolve(s, argv[optind], &id) < 0)
		return cli_fail();
	json_t *img = shale_image_get(s, &id);
	shale_du_layer *du = NULL;
	size_t n = 0;
	if (!img || shale_image_du(s, &id, &du, &n) < 0)
		return cli_fail();
	struct table *t = table_new(6, "LAYER", "CREATED BY", "FILES", "SIZE", "SHARED", "UNIQUE");
	json_t *rows = json_array();
	uint64_t tot = 0, tot_shared = 0;
	json_t *hist = json_object_get(img, "history");
	size_t hi = 0;
	for (size_t i = 0; i < n; i++) {
		shale_layer_info li;
		if (shale_layer_get(s, &du[i].id, &li) < 0)
			return cli_fail();
		/* the i-th non-empty history entry describes layer i */
		const char *by = "";
		for (; hi < json_array_size(hist); hi++) {
			json_t *h = json_array_get(hist, hi);
			if (json_is_true(json_object_get(h, "empty_layer")))
				continue;
			by = json_string_value(json_object_get(h, "created_by")) ?: "";
			hi++;
			break;
		}
		uint64_t bytes = du[i].stored, shared = du[i].shared;
		char sid[13], sz[32], sh[32], un[32], files[32], byt[64];
		id_short(&du[i].id, sid);
		shale_human_size(bytes, sz, sizeof sz);
		shale_human_size(shared, sh, sizeof sh);
		shale_human_size(bytes - shared, un, sizeof un);
		snprintf(files, sizeof files, "%llu", (unsigned long long)li.entries);
		snprintf(byt, sizeof byt, "%.40s%s", by, strlen(by) > 40 ? "…" : "");
		tot += bytes;
		tot_shared += shared;
		table_row(t, sid, byt, files, sz, sh, un);
		char hex[SHALE_ID_HEX];
		shale_id_hex(&du[i].id, hex);
		json_array_append_new(rows, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "Layer", hex,
						      "CreatedBy", by, "Files", (json_int_t)li.entries,
						      "Size", (json_int_t)bytes, "Shared", (json_int_t)shared,
						      "Unique", (json_int_t)(bytes - shared)));
	}
	char a[32], b[32], cc[32];
	shale_human_size(tot, a, sizeof a);
	shale_human_size(tot_shared, b, sizeof b);
	shale_human_size(tot - tot_shared, cc, sizeof cc);
	if (json) {
		json_t *o = json_pack("{s:o, s:I, s:I, s:I}", "Layers", rows, "Size", (json_int_t)tot,
				      "Shared", (json_int_t)tot_shared, "Unique",
				      (json_int_t)(tot - tot_shared));
		char *out = json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		puts(out);
		free(out);
		json_decref(o);
		table_free(t);
	} else {
		table_row(t, "total", "", "", a, b, cc);
		table_print(t, stdout);
		json_decref(rows);
	}
	free(du);
	json_decref(img);
	return EXIT_OK;
}
