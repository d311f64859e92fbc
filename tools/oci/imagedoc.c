/* Build an image's OCI config and manifest (see imagedoc.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imagedoc.h"
#include "store.h"

int oci_docs_build(json_t *image, const struct blob_info *layers, size_t n, struct oci_docs *out)
{
	memset(out, 0, sizeof *out);
	char(*ids)[OCI_DIGEST_LEN] = calloc(n ? n : 1, sizeof *ids);
	for (size_t i = 0; i < n; i++)
		strcpy(ids[i], layers[i].diff_id);
	json_t *cfg = oci_config_from_image(image, ids, n);
	free(ids);
	out->config = oci_dump(cfg);
	json_decref(cfg);
	if (!out->config)
		return shale_err(ENOMEM, "cannot encode the image config");
	out->config_len = strlen(out->config);
	oci_sha256_buf(out->config, out->config_len, out->config_digest);

	json_t *ls = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ls, oci_desc_json(layers[i].media_type, layers[i].digest,
							layers[i].size));
	json_t *m = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType", OCI_MT_MANIFEST,
			      "config",
			      oci_desc_json(OCI_MT_CONFIG, out->config_digest, (int64_t)out->config_len),
			      "layers", ls);
	out->manifest = oci_dump(m);
	json_decref(m);
	if (!out->manifest) {
		oci_docs_free(out);
		return shale_err(ENOMEM, "cannot encode the manifest");
	}
	out->manifest_len = strlen(out->manifest);
	oci_sha256_buf(out->manifest, out->manifest_len, out->manifest_digest);
	return 0;
}

void oci_docs_free(struct oci_docs *d)
{
	free(d->config);
	free(d->manifest);
	memset(d, 0, sizeof *d);
}

void oci_chain_id(const char (*chain_prev)[OCI_DIGEST_LEN], const char *diff_id,
		  char out[OCI_DIGEST_LEN])
{
	if (!chain_prev) {
		snprintf(out, OCI_DIGEST_LEN, "%s", diff_id);
		return;
	}
	char buf[2 * OCI_DIGEST_LEN + 2];
	int n = snprintf(buf, sizeof buf, "%s %s", *chain_prev, diff_id);
	oci_sha256_buf(buf, (size_t)n, out);
}
