/* OCI image-spec and Docker image documents: parse (validating) and build. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "media.h"
#include "store.h"

int oci_compression_parse(const char *name)
{
	if (!strcmp(name, "gzip"))
		return OCI_COMP_GZIP;
	if (!strcmp(name, "zstd"))
		return OCI_COMP_ZSTD;
	if (!strcmp(name, "none"))
		return OCI_COMP_NONE;
	return -1;
}

const char *oci_compression_name(enum oci_compression c)
{
	return c == OCI_COMP_GZIP ? "gzip" : c == OCI_COMP_ZSTD ? "zstd" : "none";
}

const char *oci_layer_media_type(enum oci_compression c)
{
	return c == OCI_COMP_GZIP ? OCI_MT_LAYER_GZIP : c == OCI_COMP_ZSTD ? OCI_MT_LAYER_ZSTD : OCI_MT_LAYER;
}

bool oci_layer_media_ok(const char *mt)
{
	static const char *const ok[] = {
		OCI_MT_LAYER,
		OCI_MT_LAYER_GZIP,
		OCI_MT_LAYER_ZSTD,
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		DOCKER_MT_LAYER_GZIP,
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	};
	for (size_t i = 0; mt && i < sizeof ok / sizeof *ok; i++)
		if (!strcmp(mt, ok[i]))
			return true;
	return false;
}

/* ---- parsing helpers ---- */

/* A string from a document, fit for a one-line message: at most 160 bytes, control
 * characters (a registry may send "\n" or terminal escapes) shown as '?'. */
struct shown {
	char s[JSON_ERROR_TEXT_LENGTH + 1];
};

static struct shown shown(const char *s)
{
	struct shown o;
	size_t i = 0;
	for (; s && s[i] && i < sizeof o.s - 1; i++)
		o.s[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	o.s[i] = 0;
	return o;
}

static json_t *load(const char *buf, size_t len, const char *what)
{
	json_error_t je;
	if (!buf)
		return shale_err(EINVAL, "%s: empty document", what), NULL;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		shale_err(EINVAL, "%s: malformed JSON: %s (line %d)", what, shown(je.text).s, je.line);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		shale_err(EINVAL, "%s: not a JSON object", what);
		return NULL;
	}
	return j;
}

static char *dup_string(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? strdup(s) : NULL;
}

static int schema_version_2(json_t *j, const char *what)
{
	json_t *v = json_object_get(j, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return shale_err(EINVAL, "%s: schemaVersion is not 2", what);
	return 0;
}

static void desc_free(struct oci_desc *d)
{
	free(d->media_type);
	free(d->os);
	free(d->arch);
	free(d->variant);
	free(d->ref_name);
	free(d->image_name);
	memset(d, 0, sizeof *d);
}

static int desc_parse(json_t *j, struct oci_desc *d, const char *what)
{
	memset(d, 0, sizeof *d);
	if (!json_is_object(j))
		return shale_err(EINVAL, "%s: descriptor is not an object", what);
	json_t *mt = json_object_get(j, "mediaType");
	if (mt && !json_is_string(mt))
		return shale_err(EINVAL, "%s: mediaType is not a string", what);
	const char *dg = json_string_value(json_object_get(j, "digest"));
	if (!dg)
		return shale_err(EINVAL, "%s: descriptor without a digest", what);
	if (!oci_digest_valid(dg)) {
		if (!strncmp(dg, "sha256:", 7) || !strchr(dg, ':'))
			return shale_err(EINVAL, "%s: invalid digest '%.80s'", what, shown(dg).s);
		return shale_err(EINVAL, "%s: unsupported digest algorithm in '%.80s' (only sha256)",
				 what, shown(dg).s);
	}
	json_t *sz = json_object_get(j, "size");
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return shale_err(EINVAL, "%s: descriptor %.19s has no valid size", what, dg);
	strcpy(d->digest, dg);
	d->size = json_integer_value(sz);
	d->media_type = dup_string(j, "mediaType");
	json_t *p = json_object_get(j, "platform");
	if (json_is_object(p)) {
		d->os = dup_string(p, "os");
		d->arch = dup_string(p, "architecture");
		d->variant = dup_string(p, "variant");
	}
	json_t *ann = json_object_get(j, "annotations");
	if (ann && !json_is_object(ann)) {
		desc_free(d);
		return shale_err(EINVAL, "%s: annotations is not an object", what);
	}
	d->ref_name = dup_string(ann, OCI_ANN_REF_NAME);
	d->image_name = dup_string(ann, CONTAINERD_ANN_NAME);
	return 0;
}

enum oci_kind oci_detect_kind(const char *content_type, const char *buf, size_t len)
{
	if (content_type) {
		if (!strncmp(content_type, OCI_MT_INDEX, strlen(OCI_MT_INDEX)) ||
		    !strncmp(content_type, DOCKER_MT_LIST, strlen(DOCKER_MT_LIST)))
			return OCI_KIND_INDEX;
		if (!strncmp(content_type, OCI_MT_MANIFEST, strlen(OCI_MT_MANIFEST)) ||
		    !strncmp(content_type, DOCKER_MT_MANIFEST, strlen(DOCKER_MT_MANIFEST)))
			return OCI_KIND_MANIFEST;
	}
	json_t *j = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return OCI_KIND_UNKNOWN;
	}
	enum oci_kind k = OCI_KIND_UNKNOWN;
	const char *mt = json_string_value(json_object_get(j, "mediaType"));
	if (mt && (!strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, DOCKER_MT_LIST)))
		k = OCI_KIND_INDEX;
	else if (mt && (!strcmp(mt, OCI_MT_MANIFEST) || !strcmp(mt, DOCKER_MT_MANIFEST)))
		k = OCI_KIND_MANIFEST;
	else if (!mt && json_is_array(json_object_get(j, "manifests")))
		k = OCI_KIND_INDEX;
	else if (!mt && json_is_object(json_object_get(j, "config")))
		k = OCI_KIND_MANIFEST;
	json_decref(j);
	return k;
}

/* ---- index ---- */

int oci_index_parse(const char *buf, size_t len, struct oci_index *out)
{
	memset(out, 0, sizeof *out);
	json_t *j = load(buf, len, "index");
	if (!j)
		return -1;
	int ret = -1;
	json_t *arr = json_object_get(j, "manifests");
	const char *mt = json_string_value(json_object_get(j, "mediaType"));
	if (schema_version_2(j, "index") < 0)
		goto out;
	if (mt && strcmp(mt, OCI_MT_INDEX) && strcmp(mt, DOCKER_MT_LIST)) {
		shale_err(EINVAL, "index: unexpected mediaType '%.100s'", shown(mt).s);
		goto out;
	}
	if (!json_is_array(arr)) {
		shale_err(EINVAL, "index: no manifests array");
		goto out;
	}
	size_t n = json_array_size(arr);
	if (n > OCI_MAX_LAYERS) {
		shale_err(EINVAL, "index: too many manifests (%zu)", n);
		goto out;
	}
	out->manifests = calloc(n ? n : 1, sizeof *out->manifests);
	for (size_t i = 0; i < n; i++) {
		if (desc_parse(json_array_get(arr, i), &out->manifests[out->n], "index") < 0)
			goto out;
		out->n++;
	}
	ret = 0;
out:
	json_decref(j);
	if (ret < 0)
		oci_index_free(out);
	return ret;
}

void oci_index_free(struct oci_index *x)
{
	for (size_t i = 0; i < x->n; i++)
		desc_free(&x->manifests[i]);
	free(x->manifests);
	memset(x, 0, sizeof *x);
}

ssize_t oci_index_pick(const struct oci_index *x, const char *os, const char *arch,
		       const char *variant)
{
	ssize_t best = -1;
	for (size_t i = 0; i < x->n; i++) {
		const struct oci_desc *d = &x->manifests[i];
		if (!d->os || !d->arch || strcmp(d->os, os) || strcmp(d->arch, arch))
			continue;
		if (variant && d->variant && strcmp(d->variant, variant))
			continue;
		if (best < 0 || (variant && d->variant))
			best = (ssize_t)i;
	}
	return best;
}

/* ---- manifest ---- */

int oci_manifest_parse(const char *buf, size_t len, struct oci_manifest *out)
{
	memset(out, 0, sizeof *out);
	json_t *j = load(buf, len, "manifest");
	if (!j)
		return -1;
	int ret = -1;
	if (schema_version_2(j, "manifest") < 0)
		goto out;
	const char *mt = json_string_value(json_object_get(j, "mediaType"));
	if (mt && strcmp(mt, OCI_MT_MANIFEST) && strcmp(mt, DOCKER_MT_MANIFEST)) {
		shale_err(EINVAL, "manifest: unsupported mediaType '%.100s'", shown(mt).s);
		goto out;
	}
	out->media_type = strdup(mt ? mt : OCI_MT_MANIFEST);
	if (desc_parse(json_object_get(j, "config"), &out->config, "manifest config") < 0)
		goto out;
	const char *cmt = out->config.media_type;
	if (cmt && strcmp(cmt, OCI_MT_CONFIG) && strcmp(cmt, DOCKER_MT_CONFIG)) {
		shale_err(EINVAL, "manifest: not an image (config mediaType '%.100s')", shown(cmt).s);
		goto out;
	}
	if (out->config.size > (int64_t)OCI_CONFIG_MAX) {
		shale_err(EINVAL, "manifest: config of %lld bytes is too large",
			  (long long)out->config.size);
		goto out;
	}
	json_t *arr = json_object_get(j, "layers");
	if (!json_is_array(arr)) {
		shale_err(EINVAL, "manifest: no layers array");
		goto out;
	}
	size_t n = json_array_size(arr);
	if (n > OCI_MAX_LAYERS) {
		shale_err(EINVAL, "manifest: too many layers (%zu)", n);
		goto out;
	}
	out->layers = calloc(n ? n : 1, sizeof *out->layers);
	for (size_t i = 0; i < n; i++) {
		struct oci_desc *d = &out->layers[out->n];
		if (desc_parse(json_array_get(arr, i), d, "manifest layer") < 0)
			goto out;
		out->n++;
		if (!oci_layer_media_ok(d->media_type)) {
			shale_err(EINVAL, "manifest: layer %zu has unsupported mediaType '%.100s'", i,
				  d->media_type ? shown(d->media_type).s : "(none)");
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(j);
	if (ret < 0)
		oci_manifest_free(out);
	return ret;
}

void oci_manifest_free(struct oci_manifest *m)
{
	free(m->media_type);
	desc_free(&m->config);
	for (size_t i = 0; i < m->n; i++)
		desc_free(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof *m);
}

/* ---- config ---- */

int oci_config_parse(const char *buf, size_t len, struct oci_config *out)
{
	memset(out, 0, sizeof *out);
	json_t *j = load(buf, len, "image config");
	if (!j)
		return -1;
	json_t *rootfs = json_object_get(j, "rootfs");
	json_t *ids = json_object_get(rootfs, "diff_ids");
	const char *type = json_string_value(json_object_get(rootfs, "type"));
	if (!json_is_object(rootfs) || !type || strcmp(type, "layers") || !json_is_array(ids)) {
		json_decref(j);
		return shale_err(EINVAL, "image config: no rootfs of type 'layers' with diff_ids");
	}
	static const char *const strings[] = {"os", "architecture", "variant", "created", "author"};
	for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
		json_t *v = json_object_get(j, strings[i]);
		if (v && !json_is_string(v) && !json_is_null(v)) {
			json_decref(j);
			return shale_err(EINVAL, "image config: %s is not a string", strings[i]);
		}
	}
	json_t *cfg = json_object_get(j, "config"), *hist = json_object_get(j, "history");
	if ((cfg && !json_is_object(cfg) && !json_is_null(cfg)) ||
	    (hist && !json_is_array(hist) && !json_is_null(hist))) {
		json_decref(j);
		return shale_err(EINVAL, "image config: config or history of the wrong type");
	}
	size_t n = json_array_size(ids);
	if (n > OCI_MAX_LAYERS) {
		json_decref(j);
		return shale_err(EINVAL, "image config: too many layers (%zu)", n);
	}
	out->diff_ids = calloc(n ? n : 1, sizeof *out->diff_ids);
	for (size_t i = 0; i < n; i++) {
		const char *d = json_string_value(json_array_get(ids, i));
		if (!oci_digest_valid(d)) {
			free(out->diff_ids);
			out->diff_ids = NULL;
			json_decref(j);
			return shale_err(EINVAL, "image config: diff_id %zu is not a sha256 digest", i);
		}
		strcpy(out->diff_ids[i], d);
	}
	out->n = n;
	out->doc = j;
	return 0;
}

void oci_config_free(struct oci_config *c)
{
	json_decref(c->doc);
	free(c->diff_ids);
	memset(c, 0, sizeof *c);
}

/* ---- docker save's manifest.json ---- */

static char **string_array(json_t *a, size_t *n, bool *bad)
{
	*n = 0;
	if (!a || json_is_null(a))
		return NULL;
	if (!json_is_array(a) || json_array_size(a) > OCI_MAX_LAYERS) {
		*bad = true;
		return NULL;
	}
	char **v = calloc(json_array_size(a) + 1, sizeof *v);
	for (size_t i = 0; i < json_array_size(a); i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if (!s) {
			*bad = true;
			break;
		}
		v[(*n)++] = strdup(s);
	}
	return v;
}

int docker_manifest_parse(const char *buf, size_t len, struct docker_manifest *out)
{
	memset(out, 0, sizeof *out);
	json_error_t je;
	json_t *j = buf ? json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (!j)
		return shale_err(EINVAL, "manifest.json: malformed JSON: %s",
				 buf ? shown(je.text).s : "empty document");
	int ret = -1;
	if (!json_is_array(j) || json_array_size(j) == 0 || json_array_size(j) > OCI_MAX_LAYERS) {
		shale_err(EINVAL, "manifest.json: not a non-empty array of images");
		goto out;
	}
	out->v = calloc(json_array_size(j), sizeof *out->v);
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *e = json_array_get(j, i);
		struct docker_entry *d = &out->v[out->n++];
		bool bad = !json_is_object(e);
		d->config = dup_string(e, "Config");
		d->tags = string_array(json_object_get(e, "RepoTags"), &d->ntags, &bad);
		d->layers = string_array(json_object_get(e, "Layers"), &d->nlayers, &bad);
		if (bad || !d->config || !json_is_array(json_object_get(e, "Layers"))) {
			shale_err(EINVAL, "manifest.json: image %zu needs Config, Layers (strings) "
					  "and optional RepoTags",
				  i);
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(j);
	if (ret < 0)
		docker_manifest_free(out);
	return ret;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void docker_manifest_free(struct docker_manifest *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].config);
		free_strings(d->v[i].tags, d->v[i].ntags);
		free_strings(d->v[i].layers, d->v[i].nlayers);
	}
	free(d->v);
	memset(d, 0, sizeof *d);
}

/* ---- builders ---- */

char *oci_dump(json_t *doc)
{
	return json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
}

json_t *oci_desc_json(const char *media_type, const char *digest, int64_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
			 (json_int_t)size);
}

/* Only what the image spec defines for history entries. */
static json_t *history_entry(json_t *h)
{
	static const char *const keys[] = {"created", "created_by", "author", "comment", "empty_layer"};
	json_t *o = json_object();
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		json_t *v = json_object_get(h, keys[i]);
		if (v && (i == 4 ? json_is_boolean(v) : json_is_string(v)))
			json_object_set(o, keys[i], v);
	}
	return o;
}

json_t *oci_config_from_image(json_t *image, char (*diff_ids)[OCI_DIGEST_LEN], size_t n)
{
	const char *os = json_string_value(json_object_get(image, "os"));
	const char *arch = json_string_value(json_object_get(image, "architecture"));
	json_t *c = json_pack("{s:s, s:s}", "os", os ? os : "linux", "architecture",
			      arch ? arch : "amd64");
	static const char *const strings[] = {"variant", "created", "author"};
	for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
		json_t *v = json_object_get(image, strings[i]);
		if (json_is_string(v))
			json_object_set(c, strings[i], v);
	}
	json_t *cfg = json_object_get(image, "config");
	json_object_set_new(c, "config", json_is_object(cfg) ? json_deep_copy(cfg) : json_object());
	json_t *ids = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ids, json_string(diff_ids[i]));
	json_object_set_new(c, "rootfs", json_pack("{s:s, s:o}", "type", "layers", "diff_ids", ids));
	json_t *hist = json_object_get(image, "history"), *h = json_array();
	for (size_t i = 0; i < json_array_size(hist); i++)
		if (json_is_object(json_array_get(hist, i)))
			json_array_append_new(h, history_entry(json_array_get(hist, i)));
	json_object_set_new(c, "history", h);
	return c;
}

/* Does the history have one non-empty entry per layer? */
static bool history_matches(json_t *hist, size_t layers)
{
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(hist); i++) {
		json_t *h = json_array_get(hist, i);
		if (!json_is_object(h))
			return false;
		n += !json_is_true(json_object_get(h, "empty_layer"));
	}
	return n == layers;
}

json_t *oci_image_from_config(const struct oci_config *c)
{
	json_t *j = c->doc;
	const char *os = json_string_value(json_object_get(j, "os"));
	const char *arch = json_string_value(json_object_get(j, "architecture"));
	json_t *img = json_pack("{s:[], s:s, s:s}", "layers", "os", os ? os : "linux", "architecture",
				arch ? arch : "amd64");
	static const char *const strings[] = {"variant", "created", "author"};
	for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
		json_t *v = json_object_get(j, strings[i]);
		if (json_is_string(v))
			json_object_set(img, strings[i], v);
	}
	json_t *cfg = json_object_get(j, "config");
	json_object_set_new(img, "config", json_is_object(cfg) ? json_deep_copy(cfg) : json_object());
	json_t *hist = json_object_get(j, "history"), *h = json_array();
	if (history_matches(hist, c->n)) {
		for (size_t i = 0; i < json_array_size(hist); i++)
			json_array_append_new(h, history_entry(json_array_get(hist, i)));
	} else {
		/* Rebuilt so that tools pairing history rows with layers stay right. */
		const char *created = json_string_value(json_object_get(j, "created"));
		for (size_t i = 0; i < c->n; i++) {
			json_t *e = json_pack("{s:s}", "comment", "history not recorded in the image");
			if (created)
				json_object_set_new(e, "created", json_string(created));
			json_array_append_new(h, e);
		}
	}
	json_object_set_new(img, "history", h);
	return img;
}

const char *oci_host_arch(void)
{
	static _Thread_local char buf[65];
	struct utsname u;
	if (uname(&u) < 0)
		return "amd64";
	static const char *const map[][2] = {
		{"x86_64", "amd64"}, {"aarch64", "arm64"}, {"i686", "386"}, {"i386", "386"},
		{"armv7l", "arm"},   {"ppc64le", "ppc64le"}, {"s390x", "s390x"}, {"riscv64", "riscv64"},
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (!strcmp(u.machine, map[i][0]))
			return map[i][1];
	snprintf(buf, sizeof buf, "%s", u.machine);
	return buf;
}

int oci_familiar_ref(const char *ref, char *out, size_t len)
{
	static const char *const hub[] = {"docker.io/library/", "index.docker.io/library/",
					  "docker.io/", "index.docker.io/"};
	for (size_t i = 0; i < sizeof hub / sizeof *hub; i++) {
		size_t n = strlen(hub[i]);
		/* "library/" goes only before a one-component name (Docker's FamiliarName) */
		if (!strncmp(ref, hub[i], n) && ref[n] && (i >= 2 || !strchr(ref + n, '/'))) {
			ref += n;
			/* docker.io/a.b/c is not a.b/c, which reads as registry a.b (as
			 * reg_ref_parse names it) */
			size_t first = strcspn(ref, "/");
			if (i >= 2 && ref[first] == '/' &&
			    (memchr(ref, '.', first) || memchr(ref, ':', first) ||
			     (first == 9 && !strncmp(ref, "localhost", 9)))) {
				char full[600];
				if ((size_t)snprintf(full, sizeof full, "docker.io/%s", ref) >= sizeof full)
					return shale_err(EINVAL, "invalid reference format: too long");
				return shale_ref_normalize(full, out, len);
			}
			break;
		}
	}
	return shale_ref_normalize(ref, out, len);
}
