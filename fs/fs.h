/* shale's FUSE driver: the one public header of the fs library.
 *
 * Mounts an image as a directory: the merged view of its layers (top layer
 * wins, whiteouts hide, opaque directories cut off what is below), with writes
 * going to an upper directory when one is given (copy-on-write). */
#ifndef SHALE_FS_H
#define SHALE_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct shale_fs_config {
	const char *source;   /* shown as the mount's source (an image reference) */
	shale_id image;
	const char *upper;    /* the upper directory; NULL mounts read-only */
	const char *work;     /* scratch directory on the upper's filesystem */
	const char *control;  /* unix socket to serve freeze requests on (writable mounts) */
	bool allow_other;     /* let other users in (needs user_allow_other for non-root) */
	const char *mount_opts; /* generic mount flags passed through (nosuid,nodev,...) */
	bool debug;           /* libfuse's request log on stderr */
	unsigned max_threads; /* worker threads (0: default) */
	/* Called once: with error NULL when the mount is live (before serving),
	 * or with the reason it could not be made. */
	void (*ready)(void *arg, const char *error);
	void *ready_arg;
};

/* Make a fresh upper directory look like the image's root (owner, mode,
 * times, xattrs): the merged root shows the upper's attributes. */
int shale_fs_prepare_upper(shale_store *s, const shale_id *image, const char *upper);

/* Seal an upper directory (shale's, or overlayfs's) written over `lower_image`
 * (NULL: none) into a new layer. */
int shale_fs_seal(shale_store *s, const char *upper, const shale_id *lower_image,
		  shale_id *layer, shale_progress_fn progress, void *ctx);

/* The changes of an upper against its image, as `docker diff` lists them:
 * kind 'A' added, 'C' changed, 'D' deleted; paths absolute, sorted. */
typedef int (*shale_change_fn)(void *ctx, char kind, const char *path);
int shale_fs_diff(shale_store *s, const char *upper, const shale_id *lower_image,
		  shale_change_fn fn, void *ctx);

/* fsck of an upper directory written over `image` (NULL: none): partial-file
 * records, redirects and origins; each problem reported as SHALE_FSCK_ERROR. */
int shale_fs_check_upper(shale_store *s, const shale_id *image, const char *upper,
			 shale_fsck_fn report, void *ctx, uint64_t *problems);

/* Is `path` a mount point (in /proc/self/mountinfo; the path is not touched)?
 * Its file system type (e.g. "fuse.shale") into fstype, its device into
 * major and minor (each may be NULL). */
bool shale_fs_mount_find(const char *path, char *fstype, size_t len, unsigned *major,
			 unsigned *minor);

/* Mount at `mountpoint` and serve requests until unmounted or signalled.
 * Returns 0 after a clean unmount, -1 on error (message in shale_errmsg()). */
int shale_fs_serve(shale_store *s, const struct shale_fs_config *cfg, const char *mountpoint);

#endif
