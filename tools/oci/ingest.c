/* Verify, then import, then record an image (see ingest.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decompress.h"
#include "feed.h"
#include "ingest.h"

int ingest_begin(struct ingest *ig, shale_store *s, const char *config, size_t config_len,
		 const struct oci_manifest *m)
{
	memset(ig, 0, sizeof *ig);
	ig->s = s;
	ig->done_status = "Pull complete";
	if (oci_config_parse(config, config_len, &ig->cfg) < 0)
		return -1;
	if (m && m->n != ig->cfg.n) {
		oci_config_free(&ig->cfg);
		return shale_err(EINVAL, "the manifest has %zu layers but the config has %zu diff_ids",
				 m->n, ig->cfg.n);
	}
	ig->n = ig->cfg.n;
	ig->l = calloc(ig->n ? ig->n : 1, sizeof *ig->l);
	for (size_t i = 0; i < ig->n; i++) {
		struct ingest_layer *l = &ig->l[i];
		l->fd = -1;
		l->blob.size = -1;
		strcpy(l->blob.diff_id, ig->cfg.diff_ids[i]);
		if (m) {
			strcpy(l->blob.digest, m->layers[i].digest);
			l->blob.size = m->layers[i].size;
			snprintf(l->blob.media_type, sizeof l->blob.media_type, "%s",
				 m->layers[i].media_type);
		} else {
			snprintf(l->blob.media_type, sizeof l->blob.media_type, "%s", OCI_MT_LAYER);
		}
		l->have = blobcache_layer_for_diff(s, l->blob.diff_id, &l->layer) == 1;
	}
	return 0;
}

void ingest_label(const struct ingest *ig, size_t i, char out[13])
{
	const struct blob_info *b = &ig->l[i].blob;
	oci_digest_short(b->digest[0] ? b->digest : b->diff_id, out);
}

int ingest_verify(struct ingest *ig, size_t i)
{
	struct ingest_layer *l = &ig->l[i];
	char label[13], digest[OCI_DIGEST_LEN], diff[OCI_DIGEST_LEN];
	uint64_t size, tar;
	ingest_label(ig, i, label);
	int fd = l->fd >= 0 ? dup(l->fd) : open(l->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return shale_err(errno, "layer %zu (%s): %s", i + 1, label, strerror(errno));
	lseek(fd, 0, SEEK_SET);
	struct bar_ref ref = {ig->bars, ig->bar0 + i};
	int r = oci_blob_digests(fd, digest, &size, diff, &tar, ig->bars ? bars_bytes_cb : NULL, &ref);
	close(fd);
	if (r < 0)
		return shale_err_prefix("layer %zu (%s)", i + 1, label);
	if (l->blob.digest[0] && strcmp(digest, l->blob.digest))
		return shale_err(EINVAL, "layer %zu: digest mismatch: expected %s, the blob is %s", i + 1,
				 l->blob.digest, digest);
	if (l->blob.size >= 0 && (uint64_t)l->blob.size != size)
		return shale_err(EINVAL, "layer %zu (%s): size mismatch: expected %lld bytes, got %llu",
				 i + 1, label, (long long)l->blob.size, (unsigned long long)size);
	if (strcmp(diff, l->blob.diff_id))
		return shale_err(EINVAL, "layer %zu (%s): diff_id mismatch: the config says %s, the "
					 "uncompressed layer is %s",
				 i + 1, label, l->blob.diff_id, diff);
	if (!l->blob.digest[0]) /* a docker-archive tar: the blob is the tar itself */
		strcpy(l->blob.digest, digest);
	l->blob.size = (int64_t)size;
	l->tar_size = tar;
	l->verified = true;
	return 0;
}

void ingest_downloaded(struct ingest *ig, size_t i)
{
	ig->l[i].verified = true;
	ig->l[i].tar_size = 0; /* unknown until imported */
}

struct import_ctx {
	struct bars *bars;
	size_t i;
	uint64_t total; /* the uncompressed tar's size */
};

static void import_progress_cb(void *ctx, const shale_progress *p)
{
	struct import_ctx *c = ctx;
	if (c->bars)
		bars_bytes(c->bars, c->i, p->bytes, c->total);
}

int ingest_commit(struct ingest *ig, const char *digest, shale_id *image)
{
	shale_store *s = ig->s;
	for (size_t i = 0; i < ig->n; i++)
		if (!ig->l[i].have && !ig->l[i].verified)
			return shale_err(EINVAL, "layer %zu was not verified", i + 1);
	/* Layers imported below are unreferenced until the image is written: hold
	 * the store's shared lock so that prune cannot sweep them meanwhile. */
	if (shale_lock_shared(s) < 0)
		return -1;
	bool imported = false;
	int ret = -1;
	for (size_t i = 0; i < ig->n; i++) {
		struct ingest_layer *l = &ig->l[i];
		if (l->have)
			continue;
		char label[13];
		ingest_label(ig, i, label);
		int fd = l->fd >= 0 ? l->fd : open(l->path, O_RDONLY | O_CLOEXEC);
		struct feed feed;
		if (fd < 0 || feed_start(&feed, fd) < 0) {
			if (fd < 0)
				shale_err(errno, "%s: %s", l->path, strerror(errno));
			if (fd >= 0 && fd != l->fd)
				close(fd);
			shale_err_prefix("layer %zu (%s)", i + 1, label);
			goto out;
		}
		if (fd != l->fd)
			close(fd);
		if (ig->bars)
			bars_status(ig->bars, ig->bar0 + i, "Extracting");
		struct import_ctx ctx = {ig->bars, ig->bar0 + i, l->tar_size};
		int r = shale_import_layer(s, feed.path, &l->layer, import_progress_cb, &ctx);
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", shale_errmsg());
		int code = shale_errcode();
		int fr = feed_finish(&feed);
		if (fr < 0) { /* the blob could not be read: that is the cause */
			shale_err_prefix("layer %zu (%s)", i + 1, label);
			goto out;
		}
		if (r < 0) {
			/* "import /proc/self/fd/N: why" says nothing to the user: keep the why */
			char pre[80];
			int n = snprintf(pre, sizeof pre, "import %s: ", feed.path);
			shale_err(code, "layer %zu (%s): %s", i + 1, label,
				  strncmp(msg, pre, (size_t)n) ? msg : msg + n);
			goto out;
		}
		imported = true;
		if (l->blob.digest[0] && strcmp(feed.digest, l->blob.digest)) {
			shale_err(EIO, "layer %zu (%s): digest mismatch: expected %s, the blob is now %s",
				  i + 1, label, l->blob.digest, feed.digest);
			goto out;
		}
		if (strcmp(feed.diff_id, l->blob.diff_id)) {
			shale_err(EINVAL, "layer %zu (%s): diff_id mismatch: the config says %s, the "
					  "uncompressed layer is %s",
				  i + 1, label, l->blob.diff_id, feed.diff_id);
			goto out;
		}
		SHALE_CRASH_POINT("layer ingested");
		if (ig->bars)
			bars_status(ig->bars, ig->bar0 + i, ig->done_status);
	}
	json_t *img = oci_image_from_config(&ig->cfg);
	json_t *layers = json_object_get(img, "layers");
	for (size_t i = 0; i < ig->n; i++) {
		char hex[SHALE_ID_HEX];
		shale_id_hex(&ig->l[i].layer, hex);
		json_array_append_new(layers, json_string(hex));
	}
	if (digest)
		json_object_set_new(img, "digest", json_string(digest));
	ret = shale_image_put(s, img, image);
	json_decref(img);
	if (ret < 0)
		goto out;
	SHALE_CRASH_POINT("ingested image stored");
	for (size_t i = 0; i < ig->n; i++) {
		/* Only what we checked ourselves becomes a hint for later commands. */
		if (ig->l[i].verified)
			blobcache_imported(s, &ig->l[i].layer, &ig->l[i].blob);
	}
out:
	shale_unlock(s);
	if (ret < 0 && imported) {
		/* No image refers to the layers imported so far: sweep them now so that
		 * a failed load or pull leaves the store as it was. */
		char msg[1024];
		int code = shale_errcode();
		snprintf(msg, sizeof msg, "%s", shale_errmsg());
		shale_prune_stats st;
		shale_gc(s, &st);
		shale_err(code, "%s", msg);
	}
	return ret;
}

void ingest_free(struct ingest *ig)
{
	for (size_t i = 0; i < ig->n; i++) {
		if (ig->l[i].fd >= 0)
			close(ig->l[i].fd);
		free(ig->l[i].path);
	}
	free(ig->l);
	oci_config_free(&ig->cfg);
	memset(ig, 0, sizeof *ig);
}
