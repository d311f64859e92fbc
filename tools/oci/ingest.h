/* Bringing an image into the store, shared by load (OCI layout, docker-archive)
 * and pull: check every digest first, then import the layers that are not in the
 * store yet, then write the image. A mismatch stops before anything is stored. */
#ifndef SHALE_OCI_INGEST_H
#define SHALE_OCI_INGEST_H

#include <stdbool.h>

#include "bars.h"
#include "blobcache.h"
#include "media.h"
#include "store.h"

struct ingest_layer {
	struct blob_info blob; /* expected: digest ("" when unknown), size (-1), diff_id */
	int fd;                /* the blob, when open (load) */
	char *path;            /* or a file (pull) */
	bool have;             /* already in the store: nothing to verify or import */
	bool verified;
	uint64_t tar_size; /* uncompressed, once verified */
	shale_id layer;
};

struct ingest {
	shale_store *s;
	struct oci_config cfg;
	size_t n;
	struct ingest_layer *l;
	struct bars *bars; /* optional: layer i is bar bar0 + i */
	size_t bar0;
	const char *done_status; /* shown when a layer is imported */
};

/* From a config (its digest already checked by the caller) and the manifest's
 * layers (NULL for a docker-archive, whose layers are the diff_ids alone). */
int ingest_begin(struct ingest *ig, shale_store *s, const char *config, size_t config_len,
		 const struct oci_manifest *m);
/* Check layer i's blob (fd or path) against its digest, size and diff_id. */
int ingest_verify(struct ingest *ig, size_t i);
/* Layer i's blob was checked against its digest and size as it was downloaded:
 * its diff_id is checked while it is imported (a mismatch then removes what was
 * imported), which saves reading and decompressing it once more. */
void ingest_downloaded(struct ingest *ig, size_t i);
/* Import what is missing and write the image (with "digest" when given).
 * Everything must be verified or already present. */
int ingest_commit(struct ingest *ig, const char *digest, shale_id *image);
void ingest_free(struct ingest *ig);

/* Label of layer i for messages and bars: 12 hex digits of its blob or diff_id. */
void ingest_label(const struct ingest *ig, size_t i, char out[13]);

#endif
