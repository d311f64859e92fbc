/* A layer as an OCI tar changeset, reproducibly: the same layer always gives the
 * same bytes (members in the layer's canonical order, its own mtimes, numeric
 * owners without names, pax headers only where needed, gzip without name or
 * timestamp), so its digests can be cached and a re-push uploads nothing. */
#ifndef SHALE_OCI_LAYER_TAR_H
#define SHALE_OCI_LAYER_TAR_H

#include <stdint.h>

#include "blobcache.h"
#include "media.h"
#include "store.h"

/* Progress: bytes of file content written so far, of `total`. */
typedef void (*oci_bytes_fn)(void *ctx, uint64_t done, uint64_t total);

/* Write the layer to fd, compressed as asked; fills digest, size, media type,
 * diff_id and the uncompressed tar size. */
int oci_layer_write(shale_store *s, const shale_id *layer, enum oci_compression c, int fd,
		    struct blob_info *out, uint64_t *tar_size, oci_bytes_fn progress, void *ctx);

/* The layer's blob as a file under ROOT/tmp/blobs (made if needed, and its
 * digests cached in the blobs table). *path is malloc'd. */
int oci_layer_blob(shale_store *s, const shale_id *layer, enum oci_compression c,
		   struct blob_info *out, char **path, oci_bytes_fn progress, void *ctx);

/* The layer's digests for this compression, computing (and caching) them by
 * writing the blob only if they are not cached yet. */
int oci_layer_digests(shale_store *s, const shale_id *layer, enum oci_compression c,
		      struct blob_info *out, oci_bytes_fn progress, void *ctx);

#endif
