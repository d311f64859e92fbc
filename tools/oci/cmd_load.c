/* shale load: images from an OCI image layout (tar or directory) or a docker-archive. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bars.h"
#include "cli.h"
#include "imagefile.h"

static const char load_help[] =
	"Usage:  shale load [OPTIONS] [DIR]\n\n"
	"Load images from a tar archive (an OCI image layout or a docker-archive, as\n"
	"docker save, skopeo and umoci write them; compressed or not), or from DIR, an OCI\n"
	"image layout directory. Every digest (index, manifests, configs, layers and their\n"
	"diff_ids) is checked before anything is stored. Names come from the index's\n"
	"annotations or docker's RepoTags; a bare tag (as skopeo and umoci write them) is\n"
	"named after the file or directory (busybox.tar with tag 1.0: busybox:1.0).\n\n"
	"Options:\n"
	"  -i, --input string   Read from a tar archive file, instead of STDIN\n"
	"  -q, --quiet          Suppress the load output\n";

/* Progress of unpacking an archive, on a terminal. */
static void unpack_progress(void *ctx, uint64_t done, uint64_t total)
{
	char b[32];
	shale_human_size(done, b, sizeof b);
	if (total)
		progress_update(ctx, "%s (%d%%)", b, (int)(100.0 * (double)done / (double)total));
	else
		progress_update(ctx, "%s", b);
}

int cmd_load(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"input", required_argument, 0, 'i'},
					   {"quiet", no_argument, 0, 'q'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	const char *input = NULL;
	bool quiet = false;
	int o;
	while ((o = cli_getopt(argc, argv, "i:qh", lo)) != -1) {
		switch (o) {
		case 'i': input = optarg; break;
		case 'q': quiet = true; break;
		case 'h': return cli_help(load_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind > 1 || (input && argc - optind == 1))
		return cli_usage_error("load", "\"shale load\" takes -i FILE or one DIR, not both.");
	const char *from = input ? input : optind < argc ? argv[optind] : "-";
	if (!strcmp(from, "-") && isatty(STDIN_FILENO))
		return cli_error("requested load from stdin, but stdin is a terminal. Use -i FILE");
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	struct oci_source src;
	struct progress pr;
	progress_init(&pr, "Reading");
	pr.tty &= !quiet;
	int opened = source_open(s, from, &src, unpack_progress, &pr);
	progress_done(&pr);
	if (opened < 0)
		return cli_fail();
	struct load_plan plan = {0};
	int r;
	bool oci = source_exists(&src, "index.json");
	if (oci)
		r = layout_plan(s, &src, &plan);
	else if (source_exists(&src, "manifest.json"))
		r = docker_plan(s, &src, &plan);
	else
		r = shale_err(EINVAL, "%s: neither an OCI image layout (index.json) nor a "
				      "docker-archive (manifest.json)",
			      from);
	int ret = EXIT_ERR;
	size_t nbars = 0;
	for (size_t i = 0; i < plan.n; i++)
		nbars += plan.v[i].ig.n;
	struct bars bars;
	bars_init(&bars, nbars, quiet, false);
	if (r < 0)
		goto out;
	/* Every layer of every image first: nothing is stored unless all are right. */
	size_t b = 0;
	for (size_t i = 0; i < plan.n; i++) {
		struct ingest *ig = &plan.v[i].ig;
		ig->bars = &bars;
		ig->bar0 = b;
		ig->done_status = "Loaded";
		for (size_t l = 0; l < ig->n; l++) {
			char label[13];
			ingest_label(ig, l, label);
			bars_id(&bars, b + l, label);
		}
		b += ig->n;
	}
	for (size_t i = 0; i < plan.n; i++) {
		struct ingest *ig = &plan.v[i].ig;
		for (size_t l = 0; l < ig->n; l++) {
			bars_status(&bars, ig->bar0 + l, "Verifying");
			if (ingest_verify(ig, l) < 0) {
				shale_err_prefix("%s", from);
				goto out;
			}
			bars_status(&bars, ig->bar0 + l, ig->l[l].have ? "Already exists" : "Verified");
		}
	}
	for (size_t i = 0; i < plan.n; i++) {
		struct load_item *it = &plan.v[i];
		if (ingest_commit(&it->ig, NULL, &it->image) < 0) {
			shale_err_prefix("%s", from);
			goto out;
		}
		for (size_t k = 0; k < it->nnames; k++)
			if (shale_tag_set(s, it->names[k], &it->image) < 0)
				goto out;
	}
	bars_finish(&bars);
	for (size_t i = 0; i < plan.n; i++) {
		struct load_item *it = &plan.v[i];
		for (size_t k = 0; k < it->nnames; k++)
			printf("Loaded image: %s\n", it->names[k]);
		if (!it->nnames) {
			char hex[SHALE_ID_HEX];
			shale_id_hex(&it->image, hex);
			printf("Loaded image ID: %s\n", hex);
		}
	}
	ret = EXIT_OK;
out:
	if (ret != EXIT_OK)
		cli_fail();
	bars_free(&bars);
	load_plan_free(&plan);
	source_close(&src);
	return ret;
}
