/* sha256 digests as OCI writes them ("sha256:" + 64 lowercase hex digits). */
#ifndef SHALE_OCI_DIGEST_H
#define SHALE_OCI_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OCI_DIGEST_LEN 72 /* "sha256:" + 64 + NUL */

typedef struct oci_hasher oci_hasher;

oci_hasher *oci_hasher_new(void);
void oci_hasher_update(oci_hasher *h, const void *buf, size_t len);
/* Write the digest; the hasher can then be freed (not reused). */
void oci_hasher_final(oci_hasher *h, char out[OCI_DIGEST_LEN]);
void oci_hasher_free(oci_hasher *h);

void oci_sha256_buf(const void *buf, size_t len, char out[OCI_DIGEST_LEN]);
/* Digest and size of a file's bytes (sets shale_err on failure). */
int oci_sha256_fd(int fd, char out[OCI_DIGEST_LEN], uint64_t *size);

/* "sha256:" followed by exactly 64 lowercase hex digits. */
bool oci_digest_valid(const char *d);
/* The hex part of a valid digest. */
const char *oci_digest_hex(const char *d);
/* The first 12 hex digits, as Docker shows layers. */
void oci_digest_short(const char *d, char out[13]);

#endif
