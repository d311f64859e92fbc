/* OCI digests remembered in the store's blobs table (SHALE_T_BLOBS), so that
 * exporting or pushing a layer again computes nothing, and pulling or loading
 * a layer already imported transfers and imports nothing. Records (JSON):
 *
 *   "layer:<layer id>"  {"diff_id", "tar_size", "gzip"|"zstd"|"none": {"digest", "size"},
 *                        "sources": [{"digest", "size", "mediaType", "diff_id"}]}
 *                       our own export of the layer per compression, and blobs it
 *                       was imported from (pull, load)
 *   "diff:<sha256:..>"  {"layer"}: the layer an uncompressed tar with that digest gives
 *   "blob:<sha256:..>"  {"diff_id", "mediaType", "size", "repos": ["host/repo", ...]}
 *   "config:<sha256:..>" {"config": the image config a pull verified}: a pull of an
 *                       image we have downloads no blob at all
 *
 * Records are hints checked before use: a layer that prune removed is ignored. */
#ifndef SHALE_OCI_BLOBCACHE_H
#define SHALE_OCI_BLOBCACHE_H

#include <stdint.h>

#include "media.h"
#include "store.h"

struct blob_info {
	char digest[OCI_DIGEST_LEN]; /* the blob as stored (maybe compressed) */
	int64_t size;
	char media_type[128];
	char diff_id[OCI_DIGEST_LEN]; /* sha256 of the uncompressed tar */
};

/* Our own export of a layer with this compression: 1 found, 0 not. */
int blobcache_export_get(shale_store *s, const shale_id *layer, enum oci_compression c,
			 struct blob_info *out);
int blobcache_export_put(shale_store *s, const shale_id *layer, enum oci_compression c,
			 const struct blob_info *b, uint64_t tar_size);
/* A layer was imported from this blob (digest may be empty: a docker-archive tar). */
int blobcache_imported(shale_store *s, const shale_id *layer, const struct blob_info *b);
/* The layer a tar with this diff_id gives, if it is still in the store: 1, else 0. */
int blobcache_layer_for_diff(shale_store *s, const char *diff_id, shale_id *layer);
/* The diff_id of a blob seen before: 1, else 0. */
int blobcache_diff_for_blob(shale_store *s, const char *digest, char diff_id[OCI_DIGEST_LEN]);
/* Blobs the layer was imported from (malloc'd array). */
int blobcache_sources(shale_store *s, const shale_id *layer, struct blob_info **v, size_t *n);
/* A registry repository ("host/repo") holds the blob; repositories known to hold it. */
int blobcache_note_repo(shale_store *s, const struct blob_info *b, const char *repo);
int blobcache_repos(shale_store *s, const char *digest, char ***repos, size_t *n);
/* An image config seen (and verified) before, as compact JSON (malloc'd): 1, else 0. */
int blobcache_config_get(shale_store *s, const char *digest, char **buf, size_t *len);
int blobcache_config_put(shale_store *s, const char *digest, const char *buf, size_t len);

#endif
