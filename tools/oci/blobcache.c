/* The blobs table records of tools/oci (see blobcache.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobcache.h"

#define MAX_SOURCES 8
#define MAX_REPOS 16

static void layer_key(const shale_id *layer, char *key, size_t len)
{
	char hex[SHALE_ID_HEX];
	shale_id_hex(layer, hex);
	snprintf(key, len, "layer:%s", hex);
}

/* A record, or a new empty object when absent. */
static json_t *get_or_new(shale_store *s, const char *key)
{
	json_t *j = shale_table_get(s, SHALE_T_BLOBS, key);
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	return j;
}

static int put(shale_store *s, const char *key, json_t *j)
{
	int r = shale_table_put(s, SHALE_T_BLOBS, key, j);
	json_decref(j);
	return r;
}

static bool copy_str(char *dst, size_t len, json_t *v)
{
	const char *s = json_string_value(v);
	if (!s || strlen(s) >= len)
		return false;
	strcpy(dst, s);
	return true;
}

int blobcache_export_get(shale_store *s, const shale_id *layer, enum oci_compression c,
			 struct blob_info *out)
{
	char key[64];
	layer_key(layer, key, sizeof key);
	json_t *j = shale_table_get(s, SHALE_T_BLOBS, key);
	json_t *b = json_object_get(j, oci_compression_name(c));
	memset(out, 0, sizeof *out);
	int found = copy_str(out->diff_id, sizeof out->diff_id, json_object_get(j, "diff_id")) &&
		    copy_str(out->digest, sizeof out->digest, json_object_get(b, "digest")) &&
		    json_is_integer(json_object_get(b, "size")) && oci_digest_valid(out->digest) &&
		    oci_digest_valid(out->diff_id);
	if (found) {
		out->size = json_integer_value(json_object_get(b, "size"));
		snprintf(out->media_type, sizeof out->media_type, "%s", oci_layer_media_type(c));
	}
	json_decref(j);
	return found;
}

static int put_diff(shale_store *s, const char *diff_id, const shale_id *layer)
{
	char key[96], hex[SHALE_ID_HEX];
	snprintf(key, sizeof key, "diff:%s", diff_id);
	shale_id_hex(layer, hex);
	return put(s, key, json_pack("{s:s}", "layer", hex));
}

int blobcache_export_put(shale_store *s, const shale_id *layer, enum oci_compression c,
			 const struct blob_info *b, uint64_t tar_size)
{
	char key[64];
	layer_key(layer, key, sizeof key);
	json_t *j = get_or_new(s, key);
	const char *old = json_string_value(json_object_get(j, "diff_id"));
	if (old && strcmp(old, b->diff_id)) {
		/* Our tar writer changed (a new libarchive?): older entries are stale. */
		json_decref(j);
		j = json_object();
	}
	json_object_set_new(j, "diff_id", json_string(b->diff_id));
	json_object_set_new(j, "tar_size", json_integer((json_int_t)tar_size));
	json_object_set_new(j, oci_compression_name(c),
			    json_pack("{s:s, s:I}", "digest", b->digest, "size", (json_int_t)b->size));
	if (put(s, key, j) < 0 || put_diff(s, b->diff_id, layer) < 0)
		return -1;
	if (c != OCI_COMP_NONE) {
		char bkey[96];
		snprintf(bkey, sizeof bkey, "blob:%s", b->digest);
		json_t *r = get_or_new(s, bkey);
		json_object_set_new(r, "diff_id", json_string(b->diff_id));
		json_object_set_new(r, "mediaType", json_string(b->media_type));
		json_object_set_new(r, "size", json_integer((json_int_t)b->size));
		return put(s, bkey, r);
	}
	return 0;
}

static json_t *info_json(const struct blob_info *b)
{
	return json_pack("{s:s, s:I, s:s, s:s}", "digest", b->digest, "size", (json_int_t)b->size,
			 "mediaType", b->media_type, "diff_id", b->diff_id);
}

int blobcache_imported(shale_store *s, const shale_id *layer, const struct blob_info *b)
{
	if (put_diff(s, b->diff_id, layer) < 0)
		return -1;
	if (!oci_digest_valid(b->digest))
		return 0;
	char key[96];
	snprintf(key, sizeof key, "blob:%s", b->digest);
	json_t *r = get_or_new(s, key);
	json_object_set_new(r, "diff_id", json_string(b->diff_id));
	json_object_set_new(r, "mediaType", json_string(b->media_type));
	json_object_set_new(r, "size", json_integer((json_int_t)b->size));
	if (put(s, key, r) < 0)
		return -1;
	layer_key(layer, key, sizeof key);
	json_t *j = get_or_new(s, key);
	json_t *src = json_object_get(j, "sources");
	if (!json_is_array(src)) {
		src = json_array();
		json_object_set_new(j, "sources", src);
	}
	for (size_t i = 0; i < json_array_size(src); i++) {
		const char *d = json_string_value(json_object_get(json_array_get(src, i), "digest"));
		if (d && !strcmp(d, b->digest)) {
			json_decref(j);
			return 0;
		}
	}
	json_array_insert_new(src, 0, info_json(b));
	while (json_array_size(src) > MAX_SOURCES)
		json_array_remove(src, MAX_SOURCES);
	return put(s, key, j);
}

int blobcache_layer_for_diff(shale_store *s, const char *diff_id, shale_id *layer)
{
	char key[96];
	snprintf(key, sizeof key, "diff:%s", diff_id);
	json_t *j = shale_table_get(s, SHALE_T_BLOBS, key);
	const char *hex = json_string_value(json_object_get(j, "layer"));
	shale_layer_info li;
	int found = hex && shale_id_parse(hex, layer) == 0 && shale_layer_get(s, layer, &li) == 0;
	json_decref(j);
	return found;
}

int blobcache_diff_for_blob(shale_store *s, const char *digest, char diff_id[OCI_DIGEST_LEN])
{
	char key[96];
	snprintf(key, sizeof key, "blob:%s", digest);
	json_t *j = shale_table_get(s, SHALE_T_BLOBS, key);
	int found = copy_str(diff_id, OCI_DIGEST_LEN, json_object_get(j, "diff_id")) &&
		    oci_digest_valid(diff_id);
	json_decref(j);
	return found;
}

int blobcache_sources(shale_store *s, const shale_id *layer, struct blob_info **v, size_t *n)
{
	char key[64];
	layer_key(layer, key, sizeof key);
	json_t *j = shale_table_get(s, SHALE_T_BLOBS, key);
	json_t *src = json_object_get(j, "sources");
	*n = 0;
	*v = calloc(json_array_size(src) + 1, sizeof **v);
	for (size_t i = 0; i < json_array_size(src); i++) {
		json_t *e = json_array_get(src, i);
		struct blob_info *b = &(*v)[*n];
		if (copy_str(b->digest, sizeof b->digest, json_object_get(e, "digest")) &&
		    copy_str(b->diff_id, sizeof b->diff_id, json_object_get(e, "diff_id")) &&
		    copy_str(b->media_type, sizeof b->media_type, json_object_get(e, "mediaType")) &&
		    json_is_integer(json_object_get(e, "size")) && oci_digest_valid(b->digest) &&
		    oci_digest_valid(b->diff_id)) {
			b->size = json_integer_value(json_object_get(e, "size"));
			(*n)++;
		}
	}
	json_decref(j);
	return 0;
}

int blobcache_note_repo(shale_store *s, const struct blob_info *b, const char *repo)
{
	char key[96];
	snprintf(key, sizeof key, "blob:%s", b->digest);
	json_t *r = get_or_new(s, key);
	if (b->diff_id[0] && !json_object_get(r, "diff_id")) {
		json_object_set_new(r, "diff_id", json_string(b->diff_id));
		json_object_set_new(r, "mediaType", json_string(b->media_type));
		json_object_set_new(r, "size", json_integer((json_int_t)b->size));
	}
	json_t *repos = json_object_get(r, "repos");
	if (!json_is_array(repos)) {
		repos = json_array();
		json_object_set_new(r, "repos", repos);
	}
	for (size_t i = 0; i < json_array_size(repos); i++) {
		const char *x = json_string_value(json_array_get(repos, i));
		if (x && !strcmp(x, repo)) {
			json_decref(r);
			return 0;
		}
	}
	json_array_insert_new(repos, 0, json_string(repo));
	while (json_array_size(repos) > MAX_REPOS)
		json_array_remove(repos, MAX_REPOS);
	return put(s, key, r);
}

int blobcache_repos(shale_store *s, const char *digest, char ***repos, size_t *n)
{
	char key[96];
	snprintf(key, sizeof key, "blob:%s", digest);
	json_t *r = shale_table_get(s, SHALE_T_BLOBS, key);
	json_t *a = json_object_get(r, "repos");
	*n = 0;
	*repos = calloc(json_array_size(a) + 1, sizeof **repos);
	for (size_t i = 0; i < json_array_size(a); i++) {
		const char *x = json_string_value(json_array_get(a, i));
		if (x)
			(*repos)[(*n)++] = strdup(x);
	}
	json_decref(r);
	return 0;
}

int blobcache_config_get(shale_store *s, const char *digest, char **buf, size_t *len)
{
	char key[96];
	snprintf(key, sizeof key, "config:%s", digest);
	json_t *j = shale_table_get(s, SHALE_T_BLOBS, key);
	json_t *c = json_object_get(j, "config");
	*buf = json_is_object(c) ? json_dumps(c, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!*buf)
		return 0;
	*len = strlen(*buf);
	return 1;
}

int blobcache_config_put(shale_store *s, const char *digest, const char *buf, size_t len)
{
	char key[96];
	snprintf(key, sizeof key, "config:%s", digest);
	json_t *c = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(c)) {
		json_decref(c);
		return 0;
	}
	return put(s, key, json_pack("{s:o}", "config", c));
}
