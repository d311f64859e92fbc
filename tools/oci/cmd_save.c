/* shale save: images to an OCI image layout tar or a docker-archive. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bars.h"
#include "blobdir.h"
#include "cli.h"
#include "imagefile.h"

static const char save_help[] =
	"Usage:  shale save [OPTIONS] IMAGE [IMAGE...]\n\n"
	"Save one or more images to a tar archive (streamed to STDOUT by default): an OCI\n"
	"image layout (oci-layout, index.json, blobs/sha256/...) or, with --format docker,\n"
	"the archive 'docker save' writes. Saving the same images twice gives the same bytes.\n\n"
	"Options:\n"
	"      --compression string   Layer compression in OCI archives: gzip (default), zstd,\n"
	"                             none (docker archives hold uncompressed layers)\n"
	"      --format string        oci (default) or docker\n"
	"  -o, --output string        Write to a file, instead of STDOUT\n"
	"  -q, --quiet                Suppress the progress output\n";

static void items_free(struct save_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct save_item *it = &items[i];
		json_decref(it->image);
		for (size_t r = 0; r < it->nrefs; r++)
			free(it->refs[r]);
		free(it->refs);
		for (size_t l = 0; l < it->n; l++)
			free(it->paths ? it->paths[l] : NULL);
		free(it->paths);
		free(it->blobs);
		free(it->layers);
		oci_docs_free(&it->docs);
	}
	free(items);
}

/* The images named on the command line, one item per image with all its names. */
static int resolve_items(shale_store *s, char **args, int nargs, struct save_item **out, size_t *nout)
{
	struct save_item *items = calloc((size_t)nargs, sizeof *items);
	size_t n = 0;
	for (int a = 0; a < nargs; a++) {
		shale_id id;
		char norm[512];
		bool named = shale_ref_normalize(args[a], norm, sizeof norm) == 0 &&
			     shale_tag_get(s, norm, &id) == 0;
		if (!named && shale_image_resolve(s, args[a], &id) < 0) {
			items_free(items, n);
			return -1;
		}
		size_t i = 0;
		while (i < n && shale_id_cmp(&items[i].id, &id))
			i++;
		if (i == n) {
			items[n].id = id;
			items[n].image = shale_image_get(s, &id);
			if (!items[n].image || shale_image_layers(items[n].image, &items[n].layers,
								  &items[n].n) < 0) {
				items_free(items, n + 1);
				return -1;
			}
			n++;
		}
		if (named) {
			items[i].refs = realloc(items[i].refs, (items[i].nrefs + 1) * sizeof(char *));
			items[i].refs[items[i].nrefs++] = strdup(norm);
		}
	}
	*out = items;
	*nout = n;
	return 0;
}

int cmd_save(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, 0, 'o'},
					   {"format", required_argument, 0, 'f'},
					   {"compression", required_argument, 0, 'c'},
					   {"quiet", no_argument, 0, 'q'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	const char *output = NULL;
	bool docker = false, quiet = false, comp_set = false;
	int comp = OCI_COMP_GZIP, o;
	while ((o = cli_getopt(argc, argv, "o:qh", lo)) != -1) {
		switch (o) {
		case 'o': output = optarg; break;
		case 'q': quiet = true; break;
		case 'f':
			if (!strcmp(optarg, "docker"))
				docker = true;
			else if (strcmp(optarg, "oci"))
				return cli_usage_error("save", "unknown format '%s' (oci, docker)", optarg);
			break;
		case 'c':
			comp = oci_compression_parse(optarg);
			comp_set = true;
			if (comp < 0)
				return cli_usage_error("save", "unknown compression '%s' (gzip, zstd, none)",
						       optarg);
			break;
		case 'h': return cli_help(save_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind < 1)
		return cli_usage_error("save", "\"shale save\" requires at least 1 argument.");
	if (docker && comp_set && comp != OCI_COMP_NONE)
		return cli_usage_error("save", "docker archives hold uncompressed layers: "
					       "--compression applies to --format oci");
	if (docker)
		comp = OCI_COMP_NONE;
	if (!output && isatty(STDOUT_FILENO))
		return cli_error("cowardly refusing to save to a terminal. Use the -o flag or "
				 "redirect");
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	struct save_item *items;
	size_t n;
	if (resolve_items(s, argv + optind, argc - optind, &items, &n) < 0)
		return cli_fail();
	/* Keep prune from sweeping what we read, for the whole save. */
	if (shale_lock_shared(s) < 0) {
		items_free(items, n);
		return cli_fail();
	}
	size_t nbars = 0;
	for (size_t i = 0; i < n; i++)
		nbars += items[i].n;
	struct bars bars;
	bars_init(&bars, nbars, quiet, false);
	int ret = EXIT_ERR;
	struct outtar *out = NULL;
	size_t b = 0;
	for (size_t i = 0; i < n; i++) {
		struct save_item *it = &items[i];
		it->blobs = calloc(it->n ? it->n : 1, sizeof *it->blobs);
		it->paths = calloc(it->n ? it->n : 1, sizeof *it->paths);
		for (size_t l = 0; l < it->n; l++, b++) {
			char id[13];
			id_short(&it->layers[l], id);
			bars_id(&bars, b, id);
			bars_status(&bars, b, "Exporting");
			struct bar_ref ref = {&bars, b};
			if (oci_layer_blob(s, &it->layers[l], (enum oci_compression)comp, &it->blobs[l],
					   &it->paths[l], bars_bytes_cb, &ref) < 0)
				goto out;
			bars_status(&bars, b, "Exported");
		}
		if (oci_docs_build(it->image, it->blobs, it->n, &it->docs) < 0)
			goto out;
	}
	bars_finish(&bars);
	out = outtar_open(output);
	if (!out)
		goto out;
	if ((docker ? docker_write(out, items, n) : layout_write(out, items, n)) < 0)
		goto out;
	int r = outtar_close(out, true);
	out = NULL;
	if (r < 0)
		goto out;
	ret = EXIT_OK;
out:
	if (ret != EXIT_OK)
		cli_fail();
	if (out)
		outtar_close(out, false);
	/* The blobs can be made again byte for byte: do not keep copies around. */
	for (size_t i = 0; i < n; i++)
		for (size_t l = 0; items[i].blobs && l < items[i].n; l++)
			if (items[i].paths[l])
				unlink(items[i].paths[l]);
	shale_unlock(s);
	bars_free(&bars);
	items_free(items, n);
	return ret;
}
