/* fsck of an upper directory: shale's markers must make sense against the
 * image below (docs/architecture.md, "The upper directory"). A partial file's
 * header must parse and its lower content must still be in the store (the
 * chunks not yet copied up are read from there); a redirect must name a lower
 * directory; an origin must be 8 bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "internal.h"

struct checker {
	shale_store *s;
	shale_view *view; /* NULL: no image below */
	const char *upper;
	shale_fsck_fn report;
	void *ctx;
	uint64_t problems;
};

static void problem(struct checker *k, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(struct checker *k, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char what[512];
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	char *msg;
	k->problems++;
	if (asprintf(&msg, "upper %s: /%s: %s", k->upper, path, what) < 0) {
		if (k->report) /* still counted: fsck must not say all is well */
			k->report(k->ctx, SHALE_FSCK_ERROR, "out of memory reporting a problem");
		return;
	}
	if (k->report)
		k->report(k->ctx, SHALE_FSCK_ERROR, msg);
	free(msg);
}

static void check_partial(struct checker *k, int fd, const char *path)
{
	struct partial *p;
	int err = partial_load(k->s, fd, &p);
	if (err) {
		problem(k, path, "partial copy-up record: %s",
			err == EIO ? "damaged, or its lower content is gone from the store"
				   : strerror(err));
		return;
	}
	if (!p)
		return;
	for (uint32_t i = 0; i < p->nchunks && i < p->ch.count; i++) {
		if (p->bits[i / 8] & (1u << (i % 8)) || shale_id_is_zero(&p->ch.digests[i]))
			continue;
		int ofd = shale_object_open(k->s, &p->ch.digests[i]);
		if (ofd < 0) {
			problem(k, path, "chunk %u is read from the image, and its object is missing", i);
			break;
		}
		close(ofd);
	}
	partial_free(p);
}

static void check_dir(struct checker *k, int dfd, const char *path, int depth)
{
	if (depth > 4096)
		return;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		problem(k, path, "cannot be read: %s", strerror(errno));
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *sub;
		if (asprintf(&sub, "%s%s%s", path, *path ? "/" : "", de->d_name) < 0) {
			problem(k, path, "out of memory: not checked further");
			break;
		}
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			free(sub);
			continue;
		}
		char p[PROC_AT_MAX];
		uint8_t v[16];
		at_path(dfd, de->d_name, p);
		ssize_t on = marker_get(p, false, X_ORIGIN, v, sizeof v);
		if (on >= 0 && on != 8)
			problem(k, sub, "origin marker of %zd bytes", on);
		if (S_ISREG(st.st_mode)) {
			int f = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (f >= 0) {
				check_partial(k, f, sub);
				close(f);
			}
		} else if (S_ISDIR(st.st_mode)) {
			int sd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sd >= 0) {
				char r[PATH_MAX + 1];
				shale_vattr a;
				if (upper_redirect(sd, r) &&
				    (r[0] != '/' || (k->view && (shale_view_resolve(k->view, r + 1, &a) < 0 ||
								 a.type != SHALE_DIR))))
					problem(k, sub, "redirect to %s, which is no directory of the image", r);
				check_dir(k, sd, sub, depth + 1);
				close(sd);
			}
		}
		free(sub);
	}
	closedir(d);
}

int shale_fs_check_upper(shale_store *s, const shale_id *image, const char *upper,
			 shale_fsck_fn report, void *ctx, uint64_t *problems)
{
	struct checker k = {.s = s, .upper = upper, .report = report, .ctx = ctx};
	*problems = 0;
	int fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return shale_err(errno, "upper directory %s: %s", upper, strerror(errno));
	if (image && !(k.view = shale_view_open_image(s, image))) {
		close(fd);
		return -1;
	}
	check_dir(&k, fd, "", 0);
	close(fd);
	if (k.view)
		shale_view_close(k.view);
	*problems = k.problems;
	return 0;
}
