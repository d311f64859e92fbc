/* OCI image layout (image-spec image-layout.md): oci-layout, index.json and
 * blobs/sha256/HEX, written as a tar by save, read from a directory or an
 * unpacked tar by load. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imagefile.h"

/* ---- writing ---- */

struct written {
	char (*d)[OCI_DIGEST_LEN];
	size_t n;
};

/* True the first time a digest is seen: each blob goes into the archive once. */
static bool first_time(struct written *w, const char *digest)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->d[i], digest))
			return false;
	w->d = realloc(w->d, (w->n + 1) * sizeof *w->d);
	strcpy(w->d[w->n++], digest);
	return true;
}

static void blob_name(const char *digest, char out[96])
{
	snprintf(out, 96, "blobs/sha256/%s", oci_digest_hex(digest));
}

int layout_write(struct outtar *o, struct save_item *items, size_t n)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct written w = {0};
	char name[96];
	int ret = -1;
	if (outtar_mem(o, "oci-layout", layout, strlen(layout)) < 0 || outtar_dir(o, "blobs") < 0 ||
	    outtar_dir(o, "blobs/sha256") < 0)
		goto out;
	json_t *manifests = json_array();
	for (size_t i = 0; i < n; i++) {
		struct save_item *it = &items[i];
		for (size_t l = 0; l < it->n; l++) {
			if (!first_time(&w, it->blobs[l].digest))
				continue;
			blob_name(it->blobs[l].digest, name);
			if (outtar_file(o, name, it->paths[l], NULL, NULL) < 0)
				goto fail;
		}
		if (first_time(&w, it->docs.config_digest)) {
			blob_name(it->docs.config_digest, name);
			if (outtar_mem(o, name, it->docs.config, it->docs.config_len) < 0)
				goto fail;
		}
		if (first_time(&w, it->docs.manifest_digest)) {
			blob_name(it->docs.manifest_digest, name);
			if (outtar_mem(o, name, it->docs.manifest, it->docs.manifest_len) < 0)
				goto fail;
		}
		/* One index entry per name (the same manifest may have several). */
		for (size_t r = 0; r < (it->nrefs ? it->nrefs : 1); r++) {
			json_t *d = oci_desc_json(OCI_MT_MANIFEST, it->docs.manifest_digest,
						  (int64_t)it->docs.manifest_len);
			if (it->nrefs)
				json_object_set_new(d, "annotations",
						    json_pack("{s:s, s:s}", OCI_ANN_REF_NAME, it->refs[r],
							      CONTAINERD_ANN_NAME, it->refs[r]));
			json_array_append_new(manifests, d);
		}
	}
	json_t *index = json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX,
				  "manifests", manifests);
	char *js = oci_dump(index);
	json_decref(index);
	if (outtar_mem(o, "index.json", js, strlen(js)) < 0) {
		free(js);
		goto fail;
	}
	free(js);
	ret = 0;
fail:
	json_decref(manifests);
out:
	free(w.d);
	return ret;
}

/* ---- reading ---- */

struct load_item *load_plan_item(struct load_plan *plan, const char *key, bool *is_new)
{
	for (size_t i = 0; i < plan->n; i++) {
		if (!strcmp(plan->v[i].key, key)) {
			*is_new = false;
			return &plan->v[i];
		}
	}
	plan->v = realloc(plan->v, (plan->n + 1) * sizeof *plan->v);
	struct load_item *it = &plan->v[plan->n++];
	memset(it, 0, sizeof *it);
	snprintf(it->key, sizeof it->key, "%s", key);
	*is_new = true;
	return it;
}

void load_item_name(struct load_item *it, const char *name)
{
	for (size_t i = 0; i < it->nnames; i++)
		if (!strcmp(it->names[i], name))
			return;
	it->names = realloc(it->names, (it->nnames + 1) * sizeof *it->names);
	it->names[it->nnames++] = strdup(name);
}

void load_plan_free(struct load_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		ingest_free(&plan->v[i].ig);
		for (size_t k = 0; k < plan->v[i].nnames; k++)
			free(plan->v[i].names[k]);
		free(plan->v[i].names);
	}
	free(plan->v);
	memset(plan, 0, sizeof *plan);
}

/* A blob read into memory, checked against its descriptor. */
static int read_blob(struct oci_source *src, const struct oci_desc *d, size_t max, char **buf,
		     size_t *len)
{
	char name[96], got[OCI_DIGEST_LEN];
	if (d->size > (int64_t)max)
		return shale_err(EINVAL, "%s: %lld bytes, more than the %zu allowed", d->digest,
				 (long long)d->size, max);
	blob_name(d->digest, name);
	if (source_read(src, name, max, buf, len) < 0)
		return -1;
	oci_sha256_buf(*buf, *len, got);
	if (strcmp(got, d->digest) || (int64_t)*len != d->size) {
		free(*buf);
		*buf = NULL;
		return shale_err(EINVAL, "%s: digest mismatch: the blob is %s (%zu bytes, expected %lld)",
				 d->digest, got, *len, (long long)d->size);
	}
	return 0;
}

/* The shale name for an index entry, or "" when it has none. */
static int entry_name(struct oci_source *src, const struct oci_desc *d, char *out, size_t len)
{
	*out = 0;
	if (d->image_name && oci_familiar_ref(d->image_name, out, len) == 0)
		return 0;
	const char *r = d->ref_name;
	if (!r)
		return 0;
	if (strchr(r, ':') || strchr(r, '/')) {
		if (oci_familiar_ref(r, out, len) < 0)
			return shale_err_prefix("index.json: reference '%.100s'", r);
		return 0;
	}
	/* A bare tag, as skopeo and umoci write them: the name comes from the path. */
	char ref[512];
	snprintf(ref, sizeof ref, "%s:%s", src->name ? src->name : "", r);
	if (!src->name || shale_ref_normalize(ref, out, len) < 0) {
		*out = 0;
		fprintf(stderr, "shale: warning: tag '%.100s' has no repository name: loading it "
				"untagged\n",
			r);
	}
	return 0;
}

/* A manifest (or an index of them, narrowed to this platform) into the plan. */
static int plan_manifest(shale_store *s, struct oci_source *src, struct load_plan *plan,
			 const struct oci_desc *d, const char *name, int depth)
{
	char *buf = NULL, *cfg = NULL;
	size_t len, cfg_len;
	struct oci_manifest m = {0};
	int ret = -1;
	if (read_blob(src, d, OCI_MANIFEST_MAX, &buf, &len) < 0)
		return -1;
	enum oci_kind kind = oci_detect_kind(d->media_type, buf, len);
	if (kind == OCI_KIND_INDEX) {
		struct oci_index x;
		if (depth > 2 || oci_index_parse(buf, len, &x) < 0) {
			if (depth > 2)
				shale_err(EINVAL, "%s: indexes nested too deep", d->digest);
			goto out;
		}
		ssize_t k = oci_index_pick(&x, "linux", oci_host_arch(), NULL);
		if (k < 0)
			shale_err(ENOENT, "%s: no image for linux/%s in this index", d->digest,
				  oci_host_arch());
		else
			ret = plan_manifest(s, src, plan, &x.manifests[k], name, depth + 1);
		oci_index_free(&x);
		goto out;
	}
	if (kind != OCI_KIND_MANIFEST) {
		shale_err(EINVAL, "%s: not an image manifest or index", d->digest);
		goto out;
	}
	if (oci_manifest_parse(buf, len, &m) < 0)
		goto out;
	bool is_new;
	struct load_item *it = load_plan_item(plan, d->digest, &is_new);
	if (*name)
		load_item_name(it, name);
	if (!is_new) {
		ret = 0;
		goto out;
	}
	if (read_blob(src, &m.config, OCI_CONFIG_MAX, &cfg, &cfg_len) < 0 ||
	    ingest_begin(&it->ig, s, cfg, cfg_len, &m) < 0) {
		shale_err_prefix("image %s", d->digest);
		plan->n--; /* not a plan item after all */
		for (size_t k = 0; k < it->nnames; k++)
			free(it->names[k]);
		free(it->names);
		goto out;
	}
	for (size_t i = 0; i < m.n; i++) {
		char bn[96];
		blob_name(m.layers[i].digest, bn);
		it->ig.l[i].fd = source_open_file(src, bn);
		if (it->ig.l[i].fd < 0) {
			shale_err_prefix("layer %zu", i + 1);
			goto out;
		}
	}
	ret = 0;
out:
	free(buf);
	free(cfg);
	oci_manifest_free(&m);
	return ret;
}

int layout_plan(shale_store *s, struct oci_source *src, struct load_plan *plan)
{
	char *buf = NULL;
	size_t len;
	memset(plan, 0, sizeof *plan);
	if (source_exists(src, "oci-layout")) {
		if (source_read(src, "oci-layout", 4096, &buf, &len) < 0)
			return -1;
		json_t *j = json_loadb(buf, len, 0, NULL);
		const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
		bool ok = v && !strncmp(v, "1.", 2);
		json_decref(j);
		free(buf);
		if (!ok)
			return shale_err(EINVAL, "%s: oci-layout: unsupported imageLayoutVersion",
					 src->path);
	}
	if (source_read(src, "index.json", OCI_MANIFEST_MAX, &buf, &len) < 0)
		return -1;
	struct oci_index x;
	int r = oci_index_parse(buf, len, &x);
	free(buf);
	if (r < 0)
		return shale_err_prefix("%s", src->path);
	if (x.n == 0) {
		oci_index_free(&x);
		return shale_err(EINVAL, "%s: index.json lists no image", src->path);
	}
	for (size_t i = 0; i < x.n && r == 0; i++) {
		char name[512];
		r = entry_name(src, &x.manifests[i], name, sizeof name);
		if (r == 0)
			r = plan_manifest(s, src, plan, &x.manifests[i], name, 0);
	}
	oci_index_free(&x);
	if (r < 0) {
		shale_err_prefix("%s", src->path);
		load_plan_free(plan);
	}
	return r;
}
