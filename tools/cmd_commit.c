/* shale seal (and, with containers, commit and diff): an upper directory
 * becomes a new immutable layer on top of an image. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char seal_help[] =
	"Usage:  shale seal [OPTIONS] UPPERDIR NAME[:TAG]\n\n"
	"Seal an upper directory written by kernel overlayfs or fuse-overlayfs into a\n"
	"new layer on top of an image: 0/0 character devices and .wh.NAME files become\n"
	"whiteouts, trusted.overlay.opaque / user.overlay.opaque and .wh..wh..opq make\n"
	"directories opaque.\n\n"
	"Options:\n"
	"      --from IMAGE      The image the upper was written over ('scratch' for none)\n"
	"  -m, --message string  Commit message\n";

int cmd_seal(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"from", required_argument, 0, 'F'},
					   {"message", required_argument, 0, 'm'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	const char *from = NULL, *msg = NULL;
	int o;
	while ((o = cli_getopt(argc, argv, "m:h", lo)) != -1) {
		switch (o) {
		case 'F': from = optarg; break;
		case 'm': msg = optarg; break;
		case 'h': return cli_help(seal_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("seal", "\"shale seal\" requires exactly 2 arguments.");
	if (!from)
		return cli_usage_error("seal", "--from IMAGE is required (or --from scratch)");
	const char *upper = argv[optind], *ref = argv[optind + 1];
	char norm[512];
	if (shale_ref_normalize(ref, norm, sizeof norm) < 0)
		return cli_fail();
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	shale_id parent, layer, image;
	bool scratch = !strcmp(from, "scratch");
	if (!scratch && shale_image_resolve(s, from, &parent) < 0)
		return cli_fail();
	struct progress pr;
	progress_init(&pr, "Sealing");
	int r = shale_import_layer_ex(s, upper, SHALE_IMPORT_OVERLAY, &layer, import_progress, &pr);
	progress_done(&pr);
	if (r < 0)
		return cli_fail();
	json_t *img = shale_image_new(s, scratch ? NULL : &parent);
	if (!img)
		return cli_fail();
	char *by = NULL;
	if (asprintf(&by, "shale seal %s", upper) < 0)
		by = NULL;
	shale_image_add_layer(img, &layer, by, msg);
	free(by);
	r = shale_image_put(s, img, &image);
	json_decref(img);
	if (r < 0 || shale_tag_set(s, norm, &image) < 0)
		return cli_fail();
	char hex[SHALE_ID_HEX];
	shale_id_hex(&image, hex);
	printf("%s\n", hex);
	return EXIT_OK;
}
