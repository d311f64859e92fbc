/* libFuzzer target: the OCI readers (tools/oci/media.c, auth.c): image index (and
 * Docker manifest list), image manifest, image config, docker-archive manifest.json
 * and a registry's WWW-Authenticate challenge. Every input goes to all of them.
 *
 * What must hold whatever the bytes:
 *   - a refused document gives a one-line message;
 *   - what is read has valid sha256 digests and sizes >= 0, and written back as JSON
 *     (oci_desc_json and the descriptor fields we read) reads back the same;
 *   - a config goes to a shale image and back (oci_image_from_config,
 *     oci_config_from_image) with the same diff_ids, and a second trip gives the
 *     same image (the conversion is idempotent), dumped to the same bytes;
 *   - oci_index_pick returns a matching entry or -1. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "oci/auth.h"
#include "oci/digest.h"
#include "oci/media.h"
#include "store.h"

static void check_desc(const struct oci_desc *d)
{
	FUZZ_CHECK(oci_digest_valid(d->digest), "digest '%s'", d->digest);
	FUZZ_CHECK(d->size >= 0, "size %lld", (long long)d->size);
}

static void check_refused(int r)
{
	if (r < 0)
		FUZZ_CHECK_ERR(shale_errmsg());
}

static json_t *desc_json(const struct oci_desc *d, bool index)
{
	json_t *j = oci_desc_json(d->media_type ? d->media_type : OCI_MT_MANIFEST, d->digest,
				  d->size);
	FUZZ_CHECK(j, "oci_desc_json");
	if (index && (d->os || d->arch || d->variant)) {
		json_t *p = json_object();
		if (d->os)
			json_object_set_new(p, "os", json_string(d->os));
		if (d->arch)
			json_object_set_new(p, "architecture", json_string(d->arch));
		if (d->variant)
			json_object_set_new(p, "variant", json_string(d->variant));
		json_object_set_new(j, "platform", p);
	}
	if (d->ref_name || d->image_name) {
		json_t *a = json_object();
		if (d->ref_name)
			json_object_set_new(a, OCI_ANN_REF_NAME, json_string(d->ref_name));
		if (d->image_name)
			json_object_set_new(a, CONTAINERD_ANN_NAME, json_string(d->image_name));
		json_object_set_new(j, "annotations", a);
	}
	return j;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void same_desc(const struct oci_desc *a, const struct oci_desc *b, bool index)
{
	FUZZ_CHECK(!strcmp(a->digest, b->digest) && a->size == b->size, "descriptor %s changed",
		   a->digest);
	FUZZ_CHECK(!a->media_type || str_eq(a->media_type, b->media_type), "mediaType changed");
	FUZZ_CHECK(str_eq(a->ref_name, b->ref_name) && str_eq(a->image_name, b->image_name),
		   "annotations changed");
	if (index)
		FUZZ_CHECK(str_eq(a->os, b->os) && str_eq(a->arch, b->arch) &&
				   str_eq(a->variant, b->variant),
			   "platform changed");
}

static char *dump(json_t *j, size_t *len)
{
	char *s = oci_dump(j);
	/* strings with bytes jansson will not write (invalid UTF-8 cannot come in) */
	FUZZ_CHECK(s, "oci_dump failed");
	*len = strlen(s);
	return s;
}

static void fuzz_index(const char *buf, size_t len)
{
	struct oci_index x;
	int r = oci_index_parse(buf, len, &x);
	check_refused(r);
	if (r < 0)
		return;
	json_t *arr = json_array();
	for (size_t i = 0; i < x.n; i++) {
		check_desc(&x.manifests[i]);
		json_array_append_new(arr, desc_json(&x.manifests[i], true));
	}
	static const char *const plats[][3] = {
		{"linux", "amd64", NULL}, {"linux", "arm64", "v8"}, {"linux", "arm", "v7"}};
	for (size_t p = 0; p < sizeof plats / sizeof *plats; p++) {
		ssize_t i = oci_index_pick(&x, plats[p][0], plats[p][1], plats[p][2]);
		FUZZ_CHECK(i >= -1 && i < (ssize_t)x.n, "pick %zd of %zu", i, x.n);
		if (i >= 0)
			FUZZ_CHECK(x.manifests[i].os && !strcmp(x.manifests[i].os, plats[p][0]) &&
					   x.manifests[i].arch &&
					   !strcmp(x.manifests[i].arch, plats[p][1]),
				   "picked a wrong platform");
	}
	json_t *doc = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX,
				"manifests", arr);
	size_t dl;
	char *d = dump(doc, &dl);
	struct oci_index y;
	FUZZ_CHECK(oci_index_parse(d, dl, &y) == 0, "index written back is refused: %s",
		   shale_errmsg());
	FUZZ_CHECK(y.n == x.n, "%zu manifests, then %zu", x.n, y.n);
	for (size_t i = 0; i < x.n; i++)
		same_desc(&x.manifests[i], &y.manifests[i], true);
	oci_index_free(&y);
	free(d);
	json_decref(doc);
	oci_index_free(&x);
}

static void fuzz_manifest(const char *buf, size_t len)
{
	struct oci_manifest m;
	int r = oci_manifest_parse(buf, len, &m);
	check_refused(r);
	if (r < 0)
		return;
	FUZZ_CHECK(m.media_type, "manifest without a media type");
	check_desc(&m.config);
	json_t *arr = json_array();
	for (size_t i = 0; i < m.n; i++) {
		check_desc(&m.layers[i]);
		FUZZ_CHECK(oci_layer_media_ok(m.layers[i].media_type), "layer %zu media type", i);
		json_array_append_new(arr, desc_json(&m.layers[i], false));
	}
	json_t *cfg = desc_json(&m.config, false);
	json_object_set_new(cfg, "mediaType",
			    json_string(m.config.media_type ? m.config.media_type : OCI_MT_CONFIG));
	json_t *doc = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
				m.media_type, "config", cfg, "layers", arr);
	size_t dl;
	char *d = dump(doc, &dl);
	struct oci_manifest n;
	FUZZ_CHECK(oci_manifest_parse(d, dl, &n) == 0, "manifest written back is refused: %s",
		   shale_errmsg());
	FUZZ_CHECK(!strcmp(m.media_type, n.media_type) && m.n == n.n, "manifest changed");
	same_desc(&m.config, &n.config, false);
	for (size_t i = 0; i < m.n; i++)
		same_desc(&m.layers[i], &n.layers[i], false);
	oci_manifest_free(&n);
	free(d);
	json_decref(doc);
	oci_manifest_free(&m);
}

static void fuzz_config(const char *buf, size_t len)
{
	struct oci_config c;
	int r = oci_config_parse(buf, len, &c);
	check_refused(r);
	if (r < 0)
		return;
	for (size_t i = 0; i < c.n; i++)
		FUZZ_CHECK(oci_digest_valid(c.diff_ids[i]), "diff_id %zu", i);
	/* config -> image -> config -> image: the same diff_ids, then the same image */
	json_t *img = oci_image_from_config(&c);
	FUZZ_CHECK(img, "oci_image_from_config");
	json_t *cfg2 = oci_config_from_image(img, c.diff_ids, c.n);
	FUZZ_CHECK(cfg2, "oci_config_from_image");
	size_t dl;
	char *d = dump(cfg2, &dl);
	struct oci_config c2;
	FUZZ_CHECK(oci_config_parse(d, dl, &c2) == 0, "config written back is refused: %s\n%s",
		   shale_errmsg(), d);
	FUZZ_CHECK(c2.n == c.n, "%zu diff_ids, then %zu", c.n, c2.n);
	for (size_t i = 0; i < c.n; i++)
		FUZZ_CHECK(!strcmp(c.diff_ids[i], c2.diff_ids[i]), "diff_id %zu changed", i);
	json_t *img2 = oci_image_from_config(&c2);
	FUZZ_CHECK(json_equal(img, img2), "image -> config -> image is not the same image");
	json_t *cfg3 = oci_config_from_image(img2, c2.diff_ids, c2.n);
	size_t dl3;
	char *d3 = dump(cfg3, &dl3);
	FUZZ_CHECK(dl3 == dl && !memcmp(d, d3, dl), "the config is not written the same twice");
	free(d3);
	json_decref(cfg3);
	json_decref(img2);
	oci_config_free(&c2);
	free(d);
	json_decref(cfg2);
	json_decref(img);
	oci_config_free(&c);
}

static void fuzz_docker_manifest(const char *buf, size_t len)
{
	struct docker_manifest m;
	int r = docker_manifest_parse(buf, len, &m);
	check_refused(r);
	if (r < 0)
		return;
	FUZZ_CHECK(m.n >= 1, "no image");
	for (size_t i = 0; i < m.n; i++) {
		FUZZ_CHECK(m.v[i].config, "image %zu without Config", i);
		for (size_t k = 0; k < m.v[i].ntags; k++) {
			char out[512];
			if (oci_familiar_ref(m.v[i].tags[k], out, sizeof out) < 0)
				FUZZ_CHECK_ERR(shale_errmsg());
		}
		for (size_t k = 0; k < m.v[i].nlayers; k++)
			FUZZ_CHECK(m.v[i].layers[k], "layer %zu", k);
	}
	docker_manifest_free(&m);
}

static void fuzz_challenge(const char *buf, size_t len)
{
	struct auth_challenge ch;
	int r = auth_parse_challenge(buf, len, &ch);
	check_refused(r);
	if (r < 0)
		return;
	FUZZ_CHECK(ch.scheme == AUTH_BASIC || ch.scheme == AUTH_BEARER, "scheme %d", ch.scheme);
	FUZZ_CHECK(ch.scheme != AUTH_BEARER || ch.realm[0], "bearer without a realm");
	FUZZ_CHECK(memchr(ch.realm, 0, sizeof ch.realm) && memchr(ch.service, 0, sizeof ch.service) &&
			   memchr(ch.scope, 0, sizeof ch.scope),
		   "unterminated field");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	static const char *const types[] = {NULL, OCI_MT_INDEX, DOCKER_MT_MANIFEST, "text/plain"};
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		enum oci_kind k = oci_detect_kind(types[i], buf, size);
		FUZZ_CHECK(k == OCI_KIND_UNKNOWN || k == OCI_KIND_MANIFEST || k == OCI_KIND_INDEX,
			   "kind %d", k);
	}
	fuzz_index(buf, size);
	fuzz_manifest(buf, size);
	fuzz_config(buf, size);
	fuzz_docker_manifest(buf, size);
	fuzz_challenge(buf, size);
	return 0;
}
