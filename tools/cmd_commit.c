/* shale commit, seal, diff: an upper directory becomes a new immutable layer
 * on top of an image, or is listed as changes against it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "containers.h"
#include "fs.h"
#include "image_config.h"
#include "mounts.h"

/* CONTAINER (name or id) or MOUNTPOINT of one. */
json_t *resolve_container(shale_store *s, const char *arg)
{
	char path[PATH_MAX];
	struct stat st;
	if ((strchr(arg, '/') || (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))) &&
	    abs_mountpoint(arg, path) == 0) {
		json_t *m = shale_table_get(s, SHALE_T_MOUNTS, path);
		const char *id = json_string_value(json_object_get(m, "container"));
		json_t *c = id ? container_find(s, id) : NULL;
		if (!c && m)
			shale_err(EINVAL, "%s is a read-only mount: no container to commit", path);
		else if (!c)
			shale_err(ENOENT, "no such container: %s is not a shale mount", arg);
		json_decref(m);
		return c;
	}
	return container_find(s, arg);
}

/* A mount of the container being committed is frozen while its upper is read. */
static int freeze(shale_store *s, json_t *c)
{
	char at[PATH_MAX];
	if (container_mounted_at(s, container_str(c, "id"), at) != 1)
		return -1; /* not mounted: nothing writes to the upper */
	json_t *m = shale_table_get(s, SHALE_T_MOUNTS, at);
	const char *path = json_string_value(json_object_get(m, "control"));
	int fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || strlen(path) >= sizeof sa.sun_path) {
		shale_err(EIO, "the mount at %s has no control socket", at);
		goto out;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char reply[256] = ""; /* "frozen", or "error " and why */
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    write(fd, "freeze\n", 7) != 7 || read(fd, reply, sizeof reply - 1) <= 0 ||
	    strncmp(reply, "frozen", 6)) {
		if (!strncmp(reply, "error ", 6)) /* the daemon says why */
			shale_err(EIO, "cannot freeze the mount at %s: %.*s", at,
				  (int)strcspn(reply + 6, "\n"), reply + 6);
		else
			shale_err(EIO, "cannot freeze the mount at %s: %s", at, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -2;
	}
out:
	json_decref(m);
	return fd;
}

static void thaw(int fd)
{
	if (fd < 0)
		return;
	char reply[32];
	if (write(fd, "thaw\n", 5) == 5 && read(fd, reply, sizeof reply) < 0) {
		/* closing thaws anyway */
	}
	close(fd);
}

/* One commit of a container at a time (a second waits for nothing: it fails). */
static int commit_lock(shale_store *s, json_t *c)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/tmp/commit-%s.lock", shale_root(s), container_str(c, "id"));
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return shale_err(errno, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return shale_err(EBUSY, "container %s is being committed", container_str(c, "name"));
	}
	return fd;
}

/* The image document of a sealed layer: the parent's chain, history, config. */
static json_t *new_image(shale_store *s, const shale_id *parent, const shale_id *layer,
			 const char *created_by, const char *msg, const char *author,
			 char **changes, size_t nchanges)
{
	json_t *img = shale_image_new(s, parent);
	if (!img)
		return NULL;
	shale_image_add_layer(img, layer, created_by, msg);
	if (author)
		json_object_set_new(img, "author", json_string(author));
	for (size_t i = 0; i < nchanges; i++) {
		char err[512];
		if (image_config_change(img, changes[i], err, sizeof err) < 0) {
			shale_err(EINVAL, "%s", err);
			json_decref(img);
			return NULL;
		}
	}
	return img;
}

static const char commit_help[] =
	"Usage:  shale commit [OPTIONS] CONTAINER|MOUNTPOINT [NAME[:TAG]]\n\n"
	"Create a new image from a container's changes: its upper becomes a new layer\n"
	"on top of the container's image. A mounted container is frozen (writes wait)\n"
	"while its upper is read, so the commit is a consistent snapshot.\n\n"
	"Options:\n"
	"  -a, --author string    Author (e.g., \"Jane <jane@example.com>\")\n"
	"  -c, --change list      Apply a Dockerfile instruction to the image config\n"
	"                         (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER,\n"
	"                         VOLUME, WORKDIR, STOPSIGNAL, HEALTHCHECK, SHELL)\n"
	"  -m, --message string   Commit message\n";

int cmd_commit(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"author", required_argument, 0, 'a'},
					   {"change", required_argument, 0, 'c'},
					   {"message", required_argument, 0, 'm'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	const char *author = NULL, *msg = NULL;
	char **changes = calloc((size_t)argc + 1, sizeof *changes);
	size_t nchanges = 0;
	int o, ret = EXIT_ERR;
	while ((o = cli_getopt(argc, argv, "a:c:m:h", lo)) != -1) {
		switch (o) {
		case 'a': author = optarg; break;
		case 'c': changes[nchanges++] = optarg; break;
		case 'm': msg = optarg; break;
		case 'h': free(changes); return cli_help(commit_help);
		default: free(changes); return EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		free(changes);
		return cli_usage_error("commit", "\"shale commit\" requires 1 or 2 arguments.");
	}
	const char *ref = argc - optind == 2 ? argv[optind + 1] : NULL;
	char norm[512];
	shale_store *s = NULL;
	json_t *ctr = NULL, *img = NULL;
	int lock = -1, frozen = -1;
	if (ref && shale_ref_normalize(ref, norm, sizeof norm) < 0)
		goto fail;
	if (!(s = cli_store(c)) || !(ctr = resolve_container(s, argv[optind])))
		goto fail;
	if (cli_hold(c) < 0) /* the new layer stays until its image is in */
		goto fail;
	shale_id parent, layer, image;
	if (shale_id_parse(container_str(ctr, "image"), &parent) < 0)
		goto fail;
	/* check the changes before any work: a bad one changes nothing */
	json_t *probe = new_image(s, &parent, NULL, NULL, NULL, NULL, changes, nchanges);
	if (!probe)
		goto fail;
	json_decref(probe);
	if ((lock = commit_lock(s, ctr)) < 0)
		goto fail;
	frozen = freeze(s, ctr);
	if (frozen == -2)
		goto fail;
	SHALE_CRASH_POINT("commit frozen");
	struct progress pr;
	progress_init(&pr, "Committing");
	int r = shale_fs_seal(s, container_str(ctr, "upper"), &parent, &layer, import_progress, &pr);
	progress_done(&pr);
	thaw(frozen);
	frozen = -1;
	if (r < 0)
		goto fail;
	const char *cmd = container_str(ctr, "command");
	if (!(img = new_image(s, &parent, &layer, cmd ? cmd : "shale commit", msg, author, changes,
			      nchanges)) ||
	    shale_image_put_tag(s, img, ref ? norm : NULL, &image) < 0)
		goto fail;
	char hex[SHALE_ID_HEX];
	shale_id_hex(&image, hex);
	printf("%s\n", hex);
	ret = EXIT_OK;
	goto out;
fail:
	ret = cli_fail();
out:
	thaw(frozen);
	if (lock >= 0)
		close(lock);
	json_decref(ctr);
	json_decref(img);
	free(changes);
	return ret;
}

static const char seal_help[] =
	"Usage:  shale seal [OPTIONS] UPPERDIR NAME[:TAG]\n\n"
	"Seal an upper directory written by kernel overlayfs, fuse-overlayfs or shale into\n"
	"a new layer on top of an image: 0/0 character devices, zero-size files with\n"
	"overlay.whiteout (trusted. or user.) and .wh.NAME files become whiteouts,\n"
	"trusted.overlay.opaque / user.overlay.opaque = y and .wh..wh..opq make\n"
	"directories opaque, renamed directories (overlay.redirect) bring their lower\n"
	"contents along, metacopy files take their data from below.\n\n"
	"Options:\n"
	"      --from IMAGE      The image the upper was written over ('scratch' for none)\n"
	"  -c, --change list     Apply a Dockerfile instruction to the image config\n"
	"  -m, --message string  Commit message\n";

int cmd_seal(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"from", required_argument, 0, 'F'},
					   {"change", required_argument, 0, 'c'},
					   {"message", required_argument, 0, 'm'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	const char *from = NULL, *msg = NULL;
	char **changes = calloc((size_t)argc + 1, sizeof *changes);
	size_t nchanges = 0;
	int o;
	while ((o = cli_getopt(argc, argv, "c:m:h", lo)) != -1) {
		switch (o) {
		case 'F': from = optarg; break;
		case 'c': changes[nchanges++] = optarg; break;
		case 'm': msg = optarg; break;
		case 'h': free(changes); return cli_help(seal_help);
		default: free(changes); return EXIT_USAGE;
		}
	}
	int ret = EXIT_ERR;
	json_t *img = NULL;
	if (argc - optind != 2) {
		ret = cli_usage_error("seal", "\"shale seal\" requires exactly 2 arguments.");
		goto out;
	}
	if (!from) {
		ret = cli_usage_error("seal", "--from IMAGE is required (or --from scratch)");
		goto out;
	}
	const char *upper = argv[optind], *ref = argv[optind + 1];
	char norm[512];
	shale_store *s;
	shale_id parent, layer, image;
	bool scratch = !strcmp(from, "scratch");
	if (shale_ref_normalize(ref, norm, sizeof norm) < 0 || !(s = cli_store(c)) ||
	    cli_hold(c) < 0 || (!scratch && shale_image_resolve(s, from, &parent) < 0)) {
		ret = cli_fail();
		goto out;
	}
	json_t *probe = new_image(s, scratch ? NULL : &parent, NULL, NULL, NULL, NULL, changes, nchanges);
	if (!probe) {
		ret = cli_fail();
		goto out;
	}
	json_decref(probe);
	struct progress pr;
	progress_init(&pr, "Sealing");
	int r = shale_fs_seal(s, upper, scratch ? NULL : &parent, &layer, import_progress, &pr);
	progress_done(&pr);
	char *by = NULL;
	if (r == 0 && asprintf(&by, "shale seal %s", upper) < 0)
		by = NULL;
	if (r < 0 || !(img = new_image(s, scratch ? NULL : &parent, &layer, by, msg, NULL, changes, nchanges)) ||
	    shale_image_put_tag(s, img, norm, &image) < 0) {
		free(by);
		ret = cli_fail();
		goto out;
	}
	free(by);
	char hex[SHALE_ID_HEX];
	shale_id_hex(&image, hex);
	printf("%s\n", hex);
	ret = EXIT_OK;
out:
	json_decref(img);
	free(changes);
	return ret;
}

static int print_change(void *ctx, char kind, const char *path)
{
	printf("%c %s\n", kind, path);
	return 0;
}

int cmd_diff(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, 0, 'h'}, {0}};
	int o;
	while ((o = cli_getopt(argc, argv, "h", lo)) != -1) {
		if (o == 'h')
			return cli_help("Usage:  shale diff CONTAINER|MOUNTPOINT\n\n"
					"Inspect changes to files or directories on a container's filesystem:\n"
					"A added, C changed, D deleted.\n");
		return EXIT_USAGE;
	}
	if (argc - optind != 1)
		return cli_usage_error("diff", "\"shale diff\" requires exactly 1 argument.");
	shale_store *s = cli_store(c);
	json_t *ctr;
	shale_id image;
	if (!s || !(ctr = resolve_container(s, argv[optind])))
		return cli_fail();
	int r = shale_id_parse(container_str(ctr, "image"), &image);
	if (r == 0)
		r = shale_fs_diff(s, container_str(ctr, "upper"), &image, print_change, NULL);
	json_decref(ctr);
	return r < 0 ? cli_fail() : EXIT_OK;
}
