/* Digests of a layer blob (fd, read from its start) in one pass: the blob's own sha256 and that of its
 * uncompressed content (the diff_id), whatever the compression (gzip, zstd or
 * none: libarchive detects it). */
#ifndef SHALE_OCI_DECOMPRESS_H
#define SHALE_OCI_DECOMPRESS_H

#include <stdint.h>

#include "digest.h"
#include "layer_tar.h"

int oci_blob_digests(int fd, char digest[OCI_DIGEST_LEN], uint64_t *size,
		     char diff_id[OCI_DIGEST_LEN], uint64_t *tar_size, oci_bytes_fn progress,
		     void *ctx);

#endif
