/* Images: a layer chain, an OCI-style config and history, as JSON in LMDB. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "internal.h"

void shale_now_rfc3339(char out[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%09ldZ", ts.tv_nsec);
}

int64_t shale_parse_rfc3339(const char *s)
{
	struct tm tm = {0};
	if (!s)
		return 0;
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return 0;
	int64_t t = (int64_t)timegm(&tm);
	while (*p == '.' || (*p >= '0' && *p <= '9'))
		p++;
	if (*p == '+' || *p == '-') { /* offset +hh:mm */
		int hh = 0, mm = 0;
		if (sscanf(p + 1, "%d:%d", &hh, &mm) >= 1)
			t += (*p == '+' ? -1 : 1) * (hh * 3600 + mm * 60);
	}
	return t;
}

static const char *arch_name(void)
{
	static char buf[sizeof(((struct utsname *)0)->machine)];
	struct utsname u;
	if (uname(&u) < 0)
		return "amd64";
	if (!strcmp(u.machine, "x86_64"))
		return "amd64";
	if (!strcmp(u.machine, "aarch64"))
		return "arm64";
	snprintf(buf, sizeof buf, "%s", u.machine);
	return buf;
}

json_t *shale_image_new(shale_store *s, const shale_id *parent)
{
	char now[40];
	json_t *img;
	shale_now_rfc3339(now);
	if (parent) {
		json_t *p = shale_image_get(s, parent);
		if (!p)
			return NULL;
		img = json_deep_copy(p);
		json_decref(p);
		char hex[SHALE_ID_HEX];
		shale_id_hex(parent, hex);
		json_object_set_new(img, "parent", json_string(hex));
	} else {
		img = json_pack("{s:[], s:{}, s:[], s:s, s:s}", "layers", "config", "history", "os",
				"linux", "architecture", arch_name());
	}
	json_object_set_new(img, "created", json_string(now));
	return img;
}

int shale_image_add_layer(json_t *image, const shale_id *layer, const char *created_by,
			  const char *comment)
{
	char now[40];
	shale_now_rfc3339(now);
	json_t *h = json_pack("{s:s}", "created", now);
	if (created_by)
		json_object_set_new(h, "created_by", json_string(created_by));
	if (comment && *comment)
		json_object_set_new(h, "comment", json_string(comment));
	if (layer) {
		char hex[SHALE_ID_HEX];
		shale_id_hex(layer, hex);
		json_array_append_new(json_object_get(image, "layers"), json_string(hex));
	} else {
		json_object_set_new(h, "empty_layer", json_true());
	}
	json_t *hist = json_object_get(image, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(image, "history", hist);
	}
	json_array_append_new(hist, h);
	json_object_set_new(image, "created", json_string(now));
	return 0;
}

int shale_image_layers(json_t *image, shale_id **layers, size_t *count)
{
	json_t *arr = json_object_get(image, "layers");
	size_t n = json_array_size(arr);
	shale_id *ids = xcalloc(n ? n : 1, sizeof *ids);
	for (size_t i = 0; i < n; i++) {
		const char *hex = json_string_value(json_array_get(arr, i));
		if (!hex || shale_id_parse(hex, &ids[i]) < 0) {
			free(ids);
			return shale_err(EIO, "corrupt image record: bad layer id");
		}
	}
	*layers = ids;
	*count = n;
	return 0;
}

int shale_image_put(shale_store *s, json_t *image, shale_id *id)
{
	return shale_image_put_tag(s, image, NULL, id);
}

int shale_image_put_tag(shale_store *s, json_t *image, const char *ref, shale_id *id)
{
	char norm[512];
	if (ref && shale_ref_normalize(ref, norm, sizeof norm) < 0)
		return -1;
	char *js = json_dumps(image, JSON_COMPACT | JSON_SORT_KEYS);
	if (!js)
		return shale_err(EINVAL, "cannot encode image");
	shale_id *layers;
	size_t n;
	if (shale_image_layers(image, &layers, &n) < 0) {
		free(js);
		return -1;
	}
	hash_buf(s, js, strlen(js), id);
	MDB_txn *txn;
	int ret = -1, rc;
	if (wtxn_begin(s, &txn) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) { /* an image never refers to a missing layer */
		MDB_val k = {SHALE_ID_LEN, layers[i].b}, v;
		if (mdb_get(txn, s->dbi[DB_LAYERS], &k, &v)) {
			char hex[SHALE_ID_HEX];
			shale_id_hex(&layers[i], hex);
			mdb_txn_abort(txn);
			shale_err(ENOENT, "image refers to layer %s, which is not in the store", hex);
			goto out;
		}
	}
	MDB_val k = {SHALE_ID_LEN, id->b}, v = {strlen(js), js};
	rc = mdb_put(txn, s->dbi[DB_IMAGES], &k, &v, 0);
	if (!rc && ref) { /* image and tag in one transaction: both or neither */
		MDB_val tk = {strlen(norm), norm}, tv = {SHALE_ID_LEN, id->b};
		rc = mdb_put(txn, s->dbi[DB_TAGS], &tk, &tv, 0);
	}
	if (rc) {
		mdb_txn_abort(txn);
		mdb_fail(rc, "store image");
		goto out;
	}
	ret = wtxn_commit(txn);
out:
	free(layers);
	free(js);
	return ret;
}

json_t *shale_image_get(shale_store *s, const shale_id *id)
{
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return NULL;
	MDB_val k = {SHALE_ID_LEN, (void *)id->b}, v;
	json_t *j = NULL;
	int rc = mdb_get(txn, s->dbi[DB_IMAGES], &k, &v);
	if (rc == 0) {
		json_error_t je;
		j = json_loadb(v.mv_data, v.mv_size, 0, &je);
		if (!j)
			shale_err(EIO, "corrupt image record: %s", je.text);
	} else {
		char hex[SHALE_ID_HEX];
		shale_id_hex(id, hex);
		if (rc == MDB_NOTFOUND)
			shale_err(ENOENT, "no such image: %.12s", hex);
		else
			mdb_fail(rc, "image");
	}
	rtxn_end(s, txn);
	return j;
}

int shale_image_delete(shale_store *s, const shale_id *id)
{
	MDB_txn *txn;
	if (wtxn_begin(s, &txn) < 0)
		return -1;
	MDB_val k = {SHALE_ID_LEN, (void *)id->b};
	int rc = mdb_del(txn, s->dbi[DB_IMAGES], &k, NULL);
	if (rc && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return mdb_fail(rc, "delete image");
	}
	return wtxn_commit(txn);
}

int shale_image_foreach(shale_store *s, shale_image_fn fn, void *ctx)
{
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0, cap = 0;
	struct item { shale_id id; json_t *j; } *items = NULL;
	mdb_cursor_open(txn, s->dbi[DB_IMAGES], &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != SHALE_ID_LEN)
			continue;
		if (n == cap)
			items = xrealloc(items, (cap = cap ? 2 * cap : 16) * sizeof *items);
		memcpy(items[n].id.b, k.mv_data, SHALE_ID_LEN);
		items[n].j = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		n++;
	}
	mdb_cursor_close(c);
	rtxn_end(s, txn);
	int ret = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ret && items[i].j)
			ret = fn(ctx, &items[i].id, items[i].j);
		json_decref(items[i].j);
	}
	free(items);
	return ret;
}

/* Find the image ids starting with a hex prefix; returns how many (max 2). */
static int image_prefix(shale_store *s, const char *ref, shale_id *out)
{
	size_t n = strlen(ref);
	if (n < 4 || n > 32 || strspn(ref, "0123456789abcdef") != n)
		return 0;
	uint8_t pre[SHALE_ID_LEN] = {0};
	for (size_t i = 0; i < n; i++) {
		int d = ref[i] <= '9' ? ref[i] - '0' : ref[i] - 'a' + 10;
		pre[i / 2] |= (uint8_t)(i % 2 ? d : d << 4);
	}
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	mdb_cursor_open(txn, s->dbi[DB_IMAGES], &c);
	MDB_val k = {SHALE_ID_LEN, pre}, v;
	int found = 0;
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && found < 2;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char hex[SHALE_ID_HEX];
		shale_id_hex((const shale_id *)k.mv_data, hex);
		if (strncmp(hex, ref, n) != 0)
			break;
		memcpy(out->b, k.mv_data, SHALE_ID_LEN);
		found++;
	}
	mdb_cursor_close(c);
	rtxn_end(s, txn);
	return found;
}

int shale_image_resolve(shale_store *s, const char *ref, shale_id *out)
{
	char norm[512];
	if (shale_ref_normalize(ref, norm, sizeof norm) == 0 && shale_tag_get(s, norm, out) == 0)
		return 0;
	int found = image_prefix(s, ref, out);
	if (found < 0)
		return -1;
	if (found == 1)
		return 0;
	if (found > 1)
		return shale_err(EINVAL, "image id prefix '%s' is ambiguous", ref);
	if (shale_ref_normalize(ref, norm, sizeof norm) == 0)
		return shale_err(ENOENT, "no such image: %s", norm);
	return shale_err(ENOENT, "no such image: %s", ref);
}
