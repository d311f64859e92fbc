/* The OCI config and manifest of a stored image, given its layers' blobs. */
#ifndef SHALE_OCI_IMAGEDOC_H
#define SHALE_OCI_IMAGEDOC_H

#include <stddef.h>

#include "blobcache.h"

struct oci_docs {
	char *config;
	size_t config_len;
	char config_digest[OCI_DIGEST_LEN];
	char *manifest;
	size_t manifest_len;
	char manifest_digest[OCI_DIGEST_LEN];
};

int oci_docs_build(json_t *image, const struct blob_info *layers, size_t n, struct oci_docs *out);
void oci_docs_free(struct oci_docs *d);

/* ChainID of the first i+1 layers (image-spec): the key docker-archive uses for
 * layer directories. */
void oci_chain_id(const char (*chain_prev)[OCI_DIGEST_LEN], const char *diff_id,
		  char out[OCI_DIGEST_LEN]);

#endif
