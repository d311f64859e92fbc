/* shale: the command line, with Docker's words. Dispatches to one verb. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mounts.h"

static const struct verb verbs[] = {
	{"init", cmd_init, "Create an image store"},
	{"import", cmd_import, "Import a directory or tarball as an image"},
	{"images", cmd_images, "List images"},
	{"history", cmd_history, "Show the history of an image"},
	{"inspect", cmd_inspect, "Show details of images or layers as JSON"},
	{"tag", cmd_tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"},
	{"rmi", cmd_rmi, "Remove one or more images"},
	{"prune", cmd_prune, "Remove unused images and data"},
	{"du", cmd_du, "Show the disk usage of an image's layers"},
	{"fsck", cmd_fsck, "Check the store and the containers (--repair)"},
	{"ls", cmd_ls, "List files of an image"},
	{"cat", cmd_cat, "Print files of an image"},
	{"save", cmd_save, "Save images to a tar archive (OCI image layout or docker-archive)"},
	{"load", cmd_load, "Load images from a tar archive or an OCI image layout directory"},
	{"push", cmd_push, "Push an image to a registry"},
	{"pull", cmd_pull, "Pull an image from a registry"},
	{"login", cmd_login, "Log in to a registry"},
	{"logout", cmd_logout, "Log out from a registry"},
	{"mount", cmd_mount, "Mount an image as a directory"},
	{"umount", cmd_umount, "Unmount an image"},
	{"mounts", cmd_mounts, "List active mounts"},
	{"build", cmd_build, "Build an image from a Dockerfile"},
	{"builder", cmd_builder, "Manage the build cache (builder prune)"},
	{"run", cmd_run, "Create and run a new container from an image"},
	{"ps", cmd_ps, "List containers"},
	{"rm", cmd_rm, "Remove one or more containers"},
	{"diff", cmd_diff, "Inspect changes to files or directories on a container's filesystem"},
	{"commit", cmd_commit, "Create a new image from a container's changes"},
	{"seal", cmd_seal, "Seal an overlayfs upper directory into a new image"},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage:  shale [--root DIR] COMMAND [ARGS...]\n\n"
		     "A content-addressed, copy-on-write layered filesystem for container images.\n\n"
		     "Options:\n"
		     "      --root DIR   Image store (default: $SHALE_ROOT, /var/lib/shale for root,\n"
		     "                   else $XDG_DATA_HOME/shale)\n"
		     "  -h, --help       Show this help\n"
		     "  -v, --version    Print the version\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
		fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(out, "\nRun 'shale COMMAND --help' for more information on a command.\n");
}

int main(int argc, char **argv)
{
	struct cli c = {.prog = "shale"};
	const char *base = strrchr(argv[0], '/');
	if (!strcmp(base ? base + 1 : argv[0], "mount.fuse.shale"))
		return mount_helper_main(argc, argv);
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--root") && i + 1 < argc) {
			c.root = strdup(argv[++i]);
		} else if (!strncmp(argv[i], "--root=", 7)) {
			c.root = strdup(argv[i] + 7);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--version")) {
			printf("shale version %s\n", SHALE_VERSION);
			return EXIT_OK;
		} else {
			fprintf(stderr, "shale: unknown flag: %s\nSee 'shale --help'.\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!c.root)
		c.root = shale_default_root();
	int ret = -1;
	for (size_t v = 0; v < sizeof verbs / sizeof *verbs; v++) {
		if (!strcmp(argv[i], verbs[v].name)) {
			optind = 0; /* getopt re-initialises for the verb's argv */
			ret = verbs[v].fn(&c, argc - i, argv + i);
			break;
		}
	}
	if (ret < 0) {
		fprintf(stderr, "shale: '%s' is not a shale command.\nSee 'shale --help'.\n", argv[i]);
		ret = EXIT_USAGE;
	}
	shale_close(c.s);
	free(c.root);
	return ret;
}
