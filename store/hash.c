/* Keyed XXH3-128: every digest in the store mixes in the store's random secret,
 * so content crafted outside the store cannot be made to collide with it. */
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "internal.h"

static void canon(XXH128_hash_t h, shale_id *out)
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	memcpy(out->b, c.digest, SHALE_ID_LEN);
}

void hash_buf(const shale_store *s, const void *buf, size_t len, shale_id *out)
{
	canon(XXH3_128bits_withSecret(buf, len, s->secret, SECRET_LEN), out);
}

void dirhash(const shale_store *s, const char *dirpath, size_t len, shale_id *out)
{
	/* A domain byte keeps directory hashes apart from content digests. */
	XXH3_state_t *st = XXH3_createState();
	XXH3_128bits_reset_withSecret(st, s->secret, SECRET_LEN);
	XXH3_128bits_update(st, "D", 1);
	XXH3_128bits_update(st, dirpath, len);
	canon(XXH3_128bits_digest(st), out);
	XXH3_freeState(st);
}

hash_state *hash_new(const shale_store *s)
{
	XXH3_state_t *st = XXH3_createState();
	XXH3_128bits_reset_withSecret(st, s->secret, SECRET_LEN);
	return st;
}

void hash_update(hash_state *h, const void *buf, size_t len)
{
	XXH3_128bits_update(h, buf, len);
}

void hash_final(hash_state *h, shale_id *out)
{
	canon(XXH3_128bits_digest(h), out);
}

void hash_free(hash_state *h)
{
	XXH3_freeState(h);
}

void shale_id_hex(const shale_id *id, char out[SHALE_ID_HEX])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < SHALE_ID_LEN; i++) {
		out[2 * i] = hex[id->b[i] >> 4];
		out[2 * i + 1] = hex[id->b[i] & 15];
	}
	out[2 * SHALE_ID_LEN] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int shale_id_parse(const char *hex, shale_id *out)
{
	if (strlen(hex) != 2 * SHALE_ID_LEN)
		return shale_err(EINVAL, "invalid id '%s': expected 32 hex digits", hex);
	for (int i = 0; i < SHALE_ID_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return shale_err(EINVAL, "invalid id '%s': expected 32 hex digits", hex);
		out->b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

bool shale_id_is_zero(const shale_id *id)
{
	static const shale_id zero;
	return memcmp(id, &zero, sizeof zero) == 0;
}

int shale_id_cmp(const shale_id *a, const shale_id *b)
{
	return memcmp(a->b, b->b, SHALE_ID_LEN);
}
