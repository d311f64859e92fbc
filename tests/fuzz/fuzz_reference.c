/* libFuzzer target: the reference parsers: the store's NAME[:TAG] normaliser
 * (store/reference.c), the registry reference parser (tools/oci/reference.c) and
 * oci_familiar_ref (tools/oci/media.c). The input is one reference (cut at a NUL).
 *
 * What must hold whatever the bytes:
 *   - a refused reference gives a one-line message;
 *   - normalising is idempotent, and its result splits into NAME and TAG that
 *     join back to it, with a tag of Docker's grammar;
 *   - a registry reference has a domain, a host, a repository, and a tag or a
 *     digest; its shale name parses again to the same registry and repository;
 *   - a familiar reference is a normalised one. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "oci/media.h"
#include "oci/reference.h"
#include "store.h"

static void fuzz_normalize(const char *s)
{
	char out[512], again[512], name[512], tag[256], joined[1024];
	if (shale_ref_normalize(s, out, sizeof out) < 0) {
		FUZZ_CHECK_ERR(shale_errmsg());
		return;
	}
	FUZZ_CHECK(shale_ref_normalize(out, again, sizeof again) == 0,
		   "'%s' normalised to '%s', which is refused: %s", s, out, shale_errmsg());
	FUZZ_CHECK(!strcmp(out, again), "'%s' -> '%s' -> '%s'", s, out, again);
	FUZZ_CHECK(shale_ref_split(out, name, sizeof name, tag, sizeof tag) == 0,
		   "'%s' does not split: %s", out, shale_errmsg());
	snprintf(joined, sizeof joined, "%s:%s", name, tag);
	FUZZ_CHECK(!strcmp(joined, out), "'%s' split into '%s' and '%s'", out, name, tag);
	size_t tl = strlen(tag);
	FUZZ_CHECK(tl >= 1 && tl <= 128 && (isalnum((unsigned char)tag[0]) || tag[0] == '_'),
		   "tag '%s'", tag);
	FUZZ_CHECK(strlen(name) <= 255, "name of %zu bytes", strlen(name));
	/* the name alone takes :latest */
	if (!strcmp(tag, "latest")) {
		FUZZ_CHECK(shale_ref_normalize(name, again, sizeof again) == 0 && !strcmp(again, out),
			   "'%s' alone is not '%s'", name, out);
	}
}

static void fuzz_registry(const char *s)
{
	struct reg_ref r;
	if (reg_ref_parse(s, &r) < 0) {
		FUZZ_CHECK_ERR(shale_errmsg());
		return;
	}
	FUZZ_CHECK(r.domain[0] && r.host[0] && r.repo[0] && r.local[0], "'%s': empty part", s);
	FUZZ_CHECK(r.tag[0] || r.digest[0], "'%s': neither tag nor digest", s);
	FUZZ_CHECK(!r.digest[0] || oci_digest_valid(r.digest), "'%s': digest '%s'", s, r.digest);
	char norm[512];
	FUZZ_CHECK(shale_ref_normalize(r.local, norm, sizeof norm) == 0 && !strcmp(norm, r.local),
		   "'%s': shale name '%s' is not normalised", s, r.local);
	struct reg_ref again;
	FUZZ_CHECK(reg_ref_parse(r.local, &again) == 0, "'%s': shale name '%s' refused: %s", s,
		   r.local, shale_errmsg());
	FUZZ_CHECK(!strcmp(r.host, again.host) && !strcmp(r.repo, again.repo),
		   "'%s' is %s/%s, its shale name '%s' is %s/%s", s, r.host, r.repo, r.local,
		   again.host, again.repo);
	FUZZ_CHECK(!r.tag[0] || !strcmp(r.tag, again.tag), "'%s': tag '%s', then '%s'", s, r.tag,
		   again.tag);
	char repo[600];
	reg_ref_repo(&r, repo, sizeof repo);
}

static void fuzz_familiar(const char *s)
{
	char out[512], again[512];
	if (oci_familiar_ref(s, out, sizeof out) < 0) {
		FUZZ_CHECK_ERR(shale_errmsg());
		return;
	}
	FUZZ_CHECK(shale_ref_normalize(out, again, sizeof again) == 0 && !strcmp(out, again),
		   "'%s': familiar '%s' is not normalised", s, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = fuzz_strndup(data, size);
	fuzz_normalize(s);
	fuzz_registry(s);
	fuzz_familiar(s);
	free(s);
	return 0;
}
