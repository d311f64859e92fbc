/* docker-archive: the tar `docker save` writes and `docker load` reads.
 *   manifest.json   [{"Config": "HEX.json", "RepoTags": ["name:tag"], "Layers": ["ID/layer.tar"]}]
 *   repositories    {"name": {"tag": "ID of the top layer"}}
 *   HEX.json        the image config (HEX: its sha256)
 *   ID/layer.tar    an uncompressed layer (ID: the layer's ChainID), with ID/VERSION, ID/json
 * Newer Docker also writes blobs/sha256/HEX layers; any path in Layers is read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imagefile.h"

/* ---- writing ---- */

int docker_write(struct outtar *o, struct save_item *items, size_t n)
{
	json_t *manifest = json_array(), *repos = json_object();
	char(*done)[OCI_DIGEST_LEN] = NULL;
	size_t ndone = 0;
	int ret = -1;
	for (size_t i = 0; i < n; i++) {
		struct save_item *it = &items[i];
		json_t *layers = json_array();
		char chain[OCI_DIGEST_LEN] = "", prev[OCI_DIGEST_LEN] = "";
		for (size_t l = 0; l < it->n; l++) {
			oci_chain_id(l ? (const char(*)[OCI_DIGEST_LEN])&prev : NULL,
				     it->blobs[l].diff_id, chain);
			const char *id = oci_digest_hex(chain);
			char name[128];
			snprintf(name, sizeof name, "%s/layer.tar", id);
			json_array_append_new(layers, json_string(name));
			bool seen = false;
			for (size_t k = 0; k < ndone && !seen; k++)
				seen = !strcmp(done[k], chain);
			if (!seen) {
				done = realloc(done, (ndone + 1) * sizeof *done);
				strcpy(done[ndone++], chain);
				json_t *v1 = json_pack("{s:s, s:s, s:{}}", "id", id, "created",
						       "1970-01-01T00:00:00Z", "container_config");
				if (l)
					json_object_set_new(v1, "parent",
							    json_string(oci_digest_hex(prev)));
				char *js = oci_dump(v1);
				json_decref(v1);
				char dir[80], vpath[96], jpath[96];
				snprintf(dir, sizeof dir, "%s", id);
				snprintf(vpath, sizeof vpath, "%s/VERSION", id);
				snprintf(jpath, sizeof jpath, "%s/json", id);
				int r = outtar_dir(o, dir) < 0 || outtar_mem(o, vpath, "1.0", 3) < 0 ||
					outtar_mem(o, jpath, js, strlen(js)) < 0 ||
					outtar_file(o, name, it->paths[l], NULL, NULL) < 0;
				free(js);
				if (r) {
					json_decref(layers);
					goto out;
				}
			}
			strcpy(prev, chain);
		}
		char cname[96];
		snprintf(cname, sizeof cname, "%s.json", oci_digest_hex(it->docs.config_digest));
		bool seen = false;
		for (size_t k = 0; k < ndone && !seen; k++)
			seen = !strcmp(done[k], it->docs.config_digest);
		if (!seen) {
			done = realloc(done, (ndone + 1) * sizeof *done);
			strcpy(done[ndone++], it->docs.config_digest);
			if (outtar_mem(o, cname, it->docs.config, it->docs.config_len) < 0) {
				json_decref(layers);
				goto out;
			}
		}
		json_t *tags = it->nrefs ? json_array() : json_null();
		for (size_t r = 0; r < it->nrefs; r++) {
			json_array_append_new(tags, json_string(it->refs[r]));
			char rn[512], rt[256];
			if (it->n && shale_ref_split(it->refs[r], rn, sizeof rn, rt, sizeof rt) == 0) {
				json_t *repo = json_object_get(repos, rn);
				if (!repo) {
					repo = json_object();
					json_object_set_new(repos, rn, repo);
				}
				json_object_set_new(repo, rt, json_string(oci_digest_hex(chain)));
			}
		}
		json_array_append_new(manifest, json_pack("{s:s, s:o, s:o}", "Config", cname, "RepoTags",
							  tags, "Layers", layers));
	}
	char *m = oci_dump(manifest), *r = oci_dump(repos);
	ret = outtar_mem(o, "manifest.json", m, strlen(m)) < 0 ||
			      outtar_mem(o, "repositories", r, strlen(r)) < 0
		      ? -1
		      : 0;
	free(m);
	free(r);
out:
	free(done);
	json_decref(manifest);
	json_decref(repos);
	return ret;
}

/* ---- reading ---- */

/* The sha256 a member's name promises, if it has one ("HEX.json", "blobs/sha256/HEX"). */
static bool named_digest(const char *path, char out[OCI_DIGEST_LEN])
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strspn(b, "0123456789abcdef");
	if (n != 64 || (b[64] && strcmp(b + 64, ".json")))
		return false;
	snprintf(out, OCI_DIGEST_LEN, "sha256:%.64s", b);
	return true;
}

int docker_plan(shale_store *s, struct oci_source *src, struct load_plan *plan)
{
	char *buf = NULL;
	size_t len;
	memset(plan, 0, sizeof *plan);
	if (source_read(src, "manifest.json", OCI_MANIFEST_MAX, &buf, &len) < 0)
		return -1;
	struct docker_manifest dm;
	int r = docker_manifest_parse(buf, len, &dm);
	free(buf);
	if (r < 0)
		return shale_err_prefix("%s", src->path);
	for (size_t i = 0; i < dm.n && r == 0; i++) {
		struct docker_entry *e = &dm.v[i];
		char *cfg = NULL, digest[OCI_DIGEST_LEN], promised[OCI_DIGEST_LEN];
		size_t cfg_len;
		r = source_read(src, e->config, OCI_CONFIG_MAX, &cfg, &cfg_len);
		if (r < 0)
			break;
		oci_sha256_buf(cfg, cfg_len, digest);
		if (named_digest(e->config, promised) && strcmp(promised, digest)) {
			free(cfg);
			r = shale_err(EINVAL, "%s: digest mismatch: the file is %s", e->config, digest);
			break;
		}
		bool is_new;
		struct load_item *it = load_plan_item(plan, digest, &is_new);
		for (size_t t = 0; t < e->ntags && r == 0; t++) {
			char name[512];
			if (oci_familiar_ref(e->tags[t], name, sizeof name) < 0)
				r = shale_err_prefix("manifest.json: RepoTags");
			else
				load_item_name(it, name);
		}
		if (r < 0 || !is_new) {
			free(cfg);
			continue;
		}
		r = ingest_begin(&it->ig, s, cfg, cfg_len, NULL);
		free(cfg);
		if (r < 0) {
			shale_err_prefix("%s", e->config);
			break;
		}
		if (e->nlayers != it->ig.n) {
			r = shale_err(EINVAL, "%s: %zu layers in manifest.json, %zu diff_ids in the config",
				      e->config, e->nlayers, it->ig.n);
			break;
		}
		for (size_t l = 0; l < e->nlayers; l++) {
			it->ig.l[l].fd = source_open_file(src, e->layers[l]);
			if (it->ig.l[l].fd < 0) {
				r = -1;
				break;
			}
		}
	}
	docker_manifest_free(&dm);
	if (r < 0) {
		shale_err_prefix("%s", src->path);
		load_plan_free(plan);
	}
	return r;
}
