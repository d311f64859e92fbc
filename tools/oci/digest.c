/* sha256 through OpenSSL's EVP interface. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "digest.h"
#include "store.h"

struct oci_hasher {
	EVP_MD_CTX *ctx;
};

oci_hasher *oci_hasher_new(void)
{
	oci_hasher *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		oci_hasher_free(h);
		return NULL;
	}
	return h;
}

void oci_hasher_update(oci_hasher *h, const void *buf, size_t len)
{
	EVP_DigestUpdate(h->ctx, buf, len);
}

static void to_digest(const unsigned char *md, char out[OCI_DIGEST_LEN])
{
	static const char hex[] = "0123456789abcdef";
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[71] = 0;
}

void oci_hasher_final(oci_hasher *h, char out[OCI_DIGEST_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, md, &n);
	to_digest(md, out);
}

void oci_hasher_free(oci_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void oci_sha256_buf(const void *buf, size_t len, char out[OCI_DIGEST_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
	to_digest(md, out);
}

int oci_sha256_fd(int fd, char out[OCI_DIGEST_LEN], uint64_t *size)
{
	oci_hasher *h = oci_hasher_new();
	if (!h)
		return shale_err(ENOMEM, "sha256: out of memory");
	/* on the heap: a thread-local buffer would be in every thread */
	enum { CAP = 1 << 20 };
	unsigned char *buf = malloc(CAP);
	if (!buf) {
		oci_hasher_free(h);
		return shale_err(ENOMEM, "sha256: out of memory");
	}
	uint64_t total = 0;
	for (;;) {
		ssize_t r = read(fd, buf, CAP);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			oci_hasher_free(h);
			return shale_err(e, "read: %s", strerror(e));
		}
		if (r == 0)
			break;
		oci_hasher_update(h, buf, (size_t)r);
		total += (uint64_t)r;
	}
	free(buf);
	oci_hasher_final(h, out);
	oci_hasher_free(h);
	if (size)
		*size = total;
	return 0;
}

bool oci_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0)
		return false;
	d += 7;
	size_t n = strspn(d, "0123456789abcdef");
	return n == 64 && d[64] == 0;
}

const char *oci_digest_hex(const char *d)
{
	return d + 7;
}

void oci_digest_short(const char *d, char out[13])
{
	const char *hex = strncmp(d, "sha256:", 7) == 0 ? d + 7 : d;
	snprintf(out, 13, "%.12s", hex);
}
