/* shale init, shale import. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_init(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, 0, 'h'}, {0}};
	int o;
	while ((o = cli_getopt(argc, argv, "h", lo)) != -1) {
		if (o == 'h')
			return cli_help("Usage:  shale init\n\nCreate the image store (with its random "
					"content-hashing secret).\nExisting stores are left as they are.\n");
		return EXIT_USAGE;
	}
	if (optind != argc)
		return cli_usage_error("init", "\"shale init\" accepts no arguments.");
	if (shale_init(c->root) < 0)
		return cli_fail();
	printf("Initialized shale store in %s\n", c->root);
	return EXIT_OK;
}

static const char import_help[] =
	"Usage:  shale import [OPTIONS] SOURCE NAME[:TAG]\n\n"
	"Import a directory or a tarball (plain, gzip, xz, zstd; '-' reads stdin) as an\n"
	"image of one layer. OCI whiteouts in tarballs (.wh.NAME, .wh..wh..opq) become\n"
	"whiteouts and opaque directories.\n\n"
	"Options:\n"
	"  -m, --message string   Set the commit message for the imported image\n"
	"      --parent IMAGE     Put the new layer on top of IMAGE's layers\n"
	"\nPrints the new image's id.\n";

int cmd_import(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"message", required_argument, 0, 'm'},
					   {"parent", required_argument, 0, 'p'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	const char *msg = NULL, *parent = NULL;
	int o;
	while ((o = cli_getopt(argc, argv, "m:h", lo)) != -1) {
		switch (o) {
		case 'm': msg = optarg; break;
		case 'p': parent = optarg; break;
		case 'h': return cli_help(import_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("import", "\"shale import\" requires exactly 2 arguments.");
	const char *source = argv[optind], *ref = argv[optind + 1];
	char norm[512];
	/* Check everything cheap before the long part. */
	if (shale_ref_normalize(ref, norm, sizeof norm) < 0)
		return cli_fail();
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	if (cli_hold(c) < 0) /* the parent and the new layer stay until the image is in */
		return cli_fail();
	shale_id pid, layer, image;
	if (parent && shale_image_resolve(s, parent, &pid) < 0)
		return cli_fail();

	struct progress pr;
	progress_init(&pr, "Importing");
	int r = shale_import_layer(s, source, &layer, import_progress, &pr);
	progress_done(&pr);
	if (r < 0)
		return cli_fail();
	json_t *img = shale_image_new(s, parent ? &pid : NULL);
	if (!img)
		return cli_fail();
	char *comment = msg ? strdup(msg) : NULL;
	if (!comment && asprintf(&comment, "Imported from %s", source) < 0)
		comment = NULL;
	char *created_by = NULL;
	if (asprintf(&created_by, "shale import %s", source) < 0)
		created_by = NULL;
	shale_image_add_layer(img, &layer, created_by, comment);
	free(comment);
	free(created_by);
	r = shale_image_put_tag(s, img, norm, &image);
	json_decref(img);
	if (r < 0)
		return cli_fail();
	char hex[SHALE_ID_HEX];
	shale_id_hex(&image, hex);
	printf("%s\n", hex); /* as docker import: the new image's id */
	return EXIT_OK;
}
