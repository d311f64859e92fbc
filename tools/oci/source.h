/* Where load reads an image from: a directory (an OCI image layout as skopeo and
 * umoci write it), or a tar (OCI layout or docker-archive) unpacked first into a
 * private directory under ROOT/tmp. Files are opened with openat2(RESOLVE_IN_ROOT)
 * so that no name or symlink inside the source reaches outside it. */
#ifndef SHALE_OCI_SOURCE_H
#define SHALE_OCI_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "layer_tar.h"
#include "store.h"

struct oci_source {
	int dirfd;
	char *path;   /* what the user named */
	char *tmpdir; /* unpacked tar, removed by source_close */
	char *name;   /* a repository name guessed from the path, or NULL */
};

/* Open a directory, or unpack a tar ("-" is stdin). */
int source_open(shale_store *s, const char *path, struct oci_source *src, oci_bytes_fn progress,
		void *ctx);
void source_close(struct oci_source *src);
/* Open a file of the source read-only (fd), or -1 with shale_err (ENOENT if absent). */
int source_open_file(struct oci_source *src, const char *rel);
bool source_exists(struct oci_source *src, const char *rel);
/* Read a whole (small) file; *buf is malloc'd and NUL-terminated. */
int source_read(struct oci_source *src, const char *rel, size_t max, char **buf, size_t *len);

/* Remove a directory tree (no symlinks followed). */
void rm_tree(const char *path);

#endif
