/* Garbage collection (mark and sweep) and space accounting.
 *
 * Roots: tags, images (untagged ones until pruned as dangling), containers,
 * mounts and the build cache. Prune holds the store lock exclusively, so no
 * import or commit is between writing an object and recording its layer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* ---- marking ---- */

struct mark {
	shale_store *s;
	MDB_txn *txn;
	struct idset *objects, *lists;
	uint64_t inline_bytes;
};

static int mark_entry(void *ctx, const char *path, const shale_entry *e)
{
	struct mark *m = ctx;
	if (e->type != SHALE_REG || e->size == 0)
		return 0;
	if (e->flags & SHALE_F_INLINE) {
		m->inline_bytes += e->data_len;
		return 0;
	}
	if (!(e->flags & SHALE_F_CHUNKED)) {
		if (!shale_id_is_zero(&e->content))
			idset_add(m->objects, &e->content);
		return 0;
	}
	if (!idset_add(m->lists, &e->content))
		return 0;
	shale_chunks ch;
	if (chunks_get(m->s, m->txn, &e->content, &ch) < 0)
		return shale_err_prefix("%s", path);
	for (uint64_t i = 0; i < ch.count; i++)
		if (!shale_id_is_zero(&ch.digests[i]))
			idset_add(m->objects, &ch.digests[i]);
	free(ch.digests);
	return 0;
}

/* Mark by scanning the layer's keys (every entry, reachable or not: cheap and
 * never under-marks). */
static int mark_layer(struct mark *m, const shale_id *layer)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(m->txn, m->s->dbi[DB_ENTRIES], &c);
	if (rc)
		return mdb_fail(rc, "cursor");
	MDB_val k = {SHALE_ID_LEN, (void *)layer->b}, v;
	int ret = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < SHALE_ID_LEN || memcmp(k.mv_data, layer->b, SHALE_ID_LEN))
			break;
		shale_entry e;
		if ((ret = entry_decode(v.mv_data, v.mv_size, &e)) < 0 ||
		    (ret = mark_entry(m, "entry", &e)) < 0)
			break;
	}
	mdb_cursor_close(c);
	return ret;
}

int shale_layer_bytes(shale_store *s, const shale_id *layer, uint64_t *bytes)
{
	struct idset objs = {0}, lists = {0};
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	struct mark m = {.s = s, .txn = txn, .objects = &objs, .lists = &lists};
	int ret = mark_layer(&m, layer);
	*bytes = m.inline_bytes;
	for (size_t i = 0; ret == 0 && i < objs.cap; i++) {
		if (!objs.used[i])
			continue;
		MDB_val k = {SHALE_ID_LEN, objs.v[i].b}, v;
		if (mdb_get(txn, s->dbi[DB_OBJECTS], &k, &v) == 0 && v.mv_size == 8)
			*bytes += be64_get(v.mv_data);
	}
	rtxn_end(s, txn);
	idset_free(&objs);
	idset_free(&lists);
	return ret;
}

/* ---- roots ---- */

struct roots {
	shale_store *s;
	struct idset images; /* live images */
	struct idset pinned; /* used by containers, mounts, build cache */
	struct idset tagged;
};

static int add_hex(struct idset *set, json_t *j)
{
	shale_id id;
	const char *hex = json_string_value(j);
	if (hex && shale_id_parse(hex, &id) == 0)
		idset_add(set, &id);
	return 0;
}

static int root_table(void *ctx, const char *key, json_t *val)
{
	struct roots *r = ctx;
	add_hex(&r->pinned, json_object_get(val, "image"));
	json_t *imgs = json_object_get(val, "images"), *x;
	size_t i;
	json_array_foreach(imgs, i, x) add_hex(&r->pinned, x);
	return 0;
}

static int root_tag(void *ctx, const char *ref, const shale_id *id)
{
	idset_add(&((struct roots *)ctx)->tagged, id);
	return 0;
}

struct img_list {
	shale_id *ids;
	char **parents; /* hex or NULL */
	bool *pulled;   /* has a registry digest: not dangling without a tag */
	size_t n, cap;
};

static int list_image(void *ctx, const shale_id *id, json_t *img)
{
	struct img_list *l = ctx;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 32;
		l->ids = xrealloc(l->ids, l->cap * sizeof *l->ids);
		l->parents = xrealloc(l->parents, l->cap * sizeof *l->parents);
		l->pulled = xrealloc(l->pulled, l->cap * sizeof *l->pulled);
	}
	l->pulled[l->n] = json_is_string(json_object_get(img, "digest"));
	const char *p = json_string_value(json_object_get(img, "parent"));
	l->ids[l->n] = *id;
	l->parents[l->n] = p ? xstrdup(p) : NULL;
	l->n++;
	return 0;
}

int delete_by_prefix(shale_store *s, enum db db, const uint8_t *prefix, size_t plen)
{
	int more;
	do {
		MDB_txn *txn;
		if (wtxn_begin(s, &txn) < 0)
			return -1;
		MDB_cursor *c;
		mdb_cursor_open(txn, s->dbi[db], &c);
		int n = 0, rc;
		more = 0;
		for (;;) {
			MDB_val k = {plen, (void *)prefix}, v;
			rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			if (rc || k.mv_size < plen || memcmp(k.mv_data, prefix, plen))
				break;
			if (n++ == 16384) {
				more = 1;
				break;
			}
			if (mdb_cursor_del(c, 0))
				break;
		}
		mdb_cursor_close(c);
		if (wtxn_commit(txn) < 0)
			return -1;
	} while (more);
	return 0;
}

/* Distinct 16-byte key prefixes of a database (jumping from one to the next). */
static int prefixes(shale_store *s, enum db db, struct idset *out)
{
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	mdb_cursor_open(txn, s->dbi[db], &c);
	MDB_val k, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		shale_id p;
		if (k.mv_size < SHALE_ID_LEN)
			break;
		memcpy(p.b, k.mv_data, SHALE_ID_LEN);
		idset_add(out, &p);
		/* seek past this prefix: prefix + 0xff... */
		uint8_t next[SHALE_ID_LEN + 1];
		memcpy(next, p.b, SHALE_ID_LEN);
		int i = SHALE_ID_LEN - 1;
		while (i >= 0 && next[i] == 0xff)
			next[i--] = 0;
		if (i < 0)
			break;
		next[i]++;
		k = (MDB_val){SHALE_ID_LEN, next};
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	rtxn_end(s, txn);
	return 0;
}

static uint64_t sweep_objdir(shale_store *s, const struct idset *live, uint64_t *count)
{
	uint64_t bytes = 0;
	DIR *top = fdopendir(dup(s->objdir_fd));
	if (!top)
		return 0;
	rewinddir(top); /* the dup shares its offset with objdir_fd: start over */
	struct dirent *d;
	while ((d = readdir(top))) {
		if (d->d_name[0] == '.') {
			if (!strncmp(d->d_name, ".t-", 3)) /* a crashed writer's temp file */
				unlinkat(s->objdir_fd, d->d_name, 0);
			continue;
		}
		if (strlen(d->d_name) != 2)
			continue;
		int sfd = openat(s->objdir_fd, d->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *sub = sfd >= 0 ? fdopendir(sfd) : NULL;
		if (!sub) {
			if (sfd >= 0)
				close(sfd);
			continue;
		}
		struct dirent *o;
		while ((o = readdir(sub))) {
			char hex[SHALE_ID_HEX];
			shale_id id;
			if (strlen(o->d_name) != 30)
				continue;
			memcpy(hex, d->d_name, 2);
			memcpy(hex + 2, o->d_name, 31);
			if (shale_id_parse(hex, &id) < 0 || idset_has(live, &id))
				continue;
			struct stat st;
			if (fstatat(sfd, o->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    unlinkat(sfd, o->d_name, 0) == 0) {
				bytes += (uint64_t)st.st_size;
				(*count)++;
			}
		}
		closedir(sub);
	}
	closedir(top);
	return bytes;
}

/* Delete the records of a database whose 16-byte keys are not in `live`. */
static uint64_t sweep_db(shale_store *s, MDB_txn *w, enum db db, const struct idset *live)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t n = 0;
	if (mdb_cursor_open(w, s->dbi[db], &c))
		return 0;
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;) {
		shale_id id = {{0}};
		if (k.mv_size == SHALE_ID_LEN)
			memcpy(id.b, k.mv_data, SHALE_ID_LEN);
		if (!idset_has(live, &id)) {
			mdb_cursor_del(c, 0);
			n++;
			rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
		} else {
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
	}
	mdb_cursor_close(c);
	return n;
}

/* Sweep everything no image needs. Caller holds the exclusive lock. */
int gc_locked(shale_store *s, shale_prune_stats *st)
{
	struct img_list imgs = {0};
	struct idset live_layers = {0}, objs = {0}, lists = {0}, chains = {0}, stale = {0};
	int ret = -1;
	if (shale_image_foreach(s, list_image, &imgs) < 0)
		goto out;

	/* 1. live layers and chains: every image still in the store */
	for (size_t i = 0; i < imgs.n; i++) {
		json_t *img = shale_image_get(s, &imgs.ids[i]);
		shale_id *layers;
		size_t n;
		if (!img)
			goto out;
		if (shale_image_layers(img, &layers, &n) == 0) {
			for (size_t j = 0; j < n; j++)
				idset_add(&live_layers, &layers[j]);
			shale_id cid;
			chain_id(s, layers, n, &cid);
			idset_add(&chains, &cid);
			free(layers);
		}
		json_decref(img);
	}

	/* 2. mark */
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		goto out;
	struct mark m = {.s = s, .txn = txn, .objects = &objs, .lists = &lists};
	for (size_t i = 0; i < live_layers.cap; i++)
		if (live_layers.used[i] && mark_layer(&m, &live_layers.v[i]) < 0) {
			rtxn_end(s, txn);
			goto out;
		}
	rtxn_end(s, txn);

	/* 3. sweep entries of dead layers and crashed imports, then the records */
	if (prefixes(s, DB_ENTRIES, &stale) < 0)
		goto out;
	for (size_t i = 0; i < stale.cap; i++) {
		if (!stale.used[i] || idset_has(&live_layers, &stale.v[i]))
			continue;
		if (delete_by_prefix(s, DB_ENTRIES, stale.v[i].b, SHALE_ID_LEN) < 0)
			goto out;
	}
	MDB_txn *w;
	if (wtxn_begin(s, &w) < 0)
		goto out;
	st->layers += sweep_db(s, w, DB_LAYERS, &live_layers);
	sweep_db(s, w, DB_CHUNKS, &lists);
	sweep_db(s, w, DB_OBJECTS, &objs);
	mdb_drop(w, s->dbi[DB_STAGING], 0); /* no writer runs: all staging is stale */
	if (wtxn_commit(w) < 0)
		goto out;
	/* records went first, files second: a crash in between leaves only orphans */
	st->bytes += sweep_objdir(s, &objs, &st->objects);

	/* 4. view indexes of chains nothing uses any more (and half-built ones) */
	idset_free(&stale);
	if (prefixes(s, DB_VNAMES, &stale) < 0 || prefixes(s, DB_VINODES, &stale) < 0 ||
	    prefixes(s, DB_CHAINS, &stale) < 0)
		goto out;
	for (size_t i = 0; i < stale.cap; i++) {
		if (!stale.used[i] || idset_has(&chains, &stale.v[i]))
			continue;
		if (delete_by_prefix(s, DB_VNAMES, stale.v[i].b, SHALE_ID_LEN) < 0 ||
		    delete_by_prefix(s, DB_VINODES, stale.v[i].b, SHALE_ID_LEN) < 0 ||
		    delete_by_prefix(s, DB_CHAINS, stale.v[i].b, SHALE_ID_LEN) < 0)
			goto out;
		st->indexes++;
	}
	ret = 0;
out:
	for (size_t i = 0; i < imgs.n; i++)
		free(imgs.parents[i]);
	free(imgs.ids);
	free(imgs.parents);
	free(imgs.pulled);
	idset_free(&live_layers);
	idset_free(&objs);
	idset_free(&lists);
	idset_free(&chains);
	idset_free(&stale);
	return ret;
}

int shale_gc(shale_store *s, shale_prune_stats *st)
{
	memset(st, 0, sizeof *st);
	if (shale_lock_exclusive(s, true) < 0)
		return -1;
	int r = gc_locked(s, st);
	shale_unlock(s);
	return r;
}

int shale_image_users(shale_store *s, const shale_id *image, char *who, size_t wlen)
{
	struct roots r = {.s = s};
	if (shale_table_foreach(s, SHALE_T_CONTAINERS, root_table, &r) < 0)
		return -1;
	int n = idset_has(&r.pinned, image) ? 1 : 0;
	if (n)
		snprintf(who, wlen, "a container");
	idset_free(&r.pinned);
	if (!n) {
		if (shale_table_foreach(s, SHALE_T_MOUNTS, root_table, &r) < 0)
			return -1;
		n = idset_has(&r.pinned, image) ? 1 : 0;
		if (n)
			snprintf(who, wlen, "a mount");
		idset_free(&r.pinned);
	}
	return n;
}

bool shale_image_cached(shale_store *s, const shale_id *image)
{
	struct roots r = {.s = s};
	bool cached = shale_table_foreach(s, SHALE_T_CACHE, root_table, &r) == 0 &&
		      idset_has(&r.pinned, image);
	idset_free(&r.pinned);
	return cached;
}

int shale_prune(shale_store *s, bool all_unused, shale_prune_stats *st)
{
	struct roots r = {.s = s};
	struct img_list imgs = {0};
	struct idset keep = {0};
	int ret = -1;
	memset(st, 0, sizeof *st);
	if (shale_lock_exclusive(s, true) < 0)
		return -1;

	/* Keep tagged images (unless -a), pinned ones, and the parents of kept
	 * ones (intermediate images); the rest is dangling. */
	if (shale_table_foreach(s, SHALE_T_CONTAINERS, root_table, &r) < 0 ||
	    shale_table_foreach(s, SHALE_T_MOUNTS, root_table, &r) < 0 ||
	    shale_table_foreach(s, SHALE_T_CACHE, root_table, &r) < 0 ||
	    shale_tag_foreach(s, root_tag, &r) < 0 || shale_image_foreach(s, list_image, &imgs) < 0)
		goto out;
	for (size_t i = 0; i < imgs.n; i++)
		if (idset_has(&r.pinned, &imgs.ids[i]) ||
		    (!all_unused && (idset_has(&r.tagged, &imgs.ids[i]) || imgs.pulled[i])))
			idset_add(&keep, &imgs.ids[i]);
	for (bool grew = !all_unused; grew;) {
		grew = false;
		for (size_t i = 0; i < imgs.n; i++) {
			shale_id p;
			if (idset_has(&keep, &imgs.ids[i]) && imgs.parents[i] &&
			    shale_id_parse(imgs.parents[i], &p) == 0)
				grew = idset_add(&keep, &p) || grew;
		}
	}
	for (size_t i = 0; i < imgs.n; i++) {
		if (idset_has(&keep, &imgs.ids[i]))
			continue;
		if (shale_image_delete(s, &imgs.ids[i]) < 0)
			goto out;
		st->images++;
	}
	/* tags of deleted images (-a) */
	MDB_txn *txn;
	if (wtxn_begin(s, &txn) < 0)
		goto out;
	MDB_cursor *c;
	MDB_val k, v;
	mdb_cursor_open(txn, s->dbi[DB_TAGS], &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;) {
		shale_id id = {{0}};
		if (v.mv_size == SHALE_ID_LEN)
			memcpy(id.b, v.mv_data, SHALE_ID_LEN);
		if (!idset_has(&keep, &id)) {
			mdb_cursor_del(c, 0);
			rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
		} else {
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
	}
	mdb_cursor_close(c);
	if (wtxn_commit(txn) < 0)
		goto out;
	ret = gc_locked(s, st);
out:
	shale_unlock(s);
	for (size_t i = 0; i < imgs.n; i++)
		free(imgs.parents[i]);
	free(imgs.ids);
	free(imgs.parents);
	free(imgs.pulled);
	idset_free(&r.pinned);
	idset_free(&r.tagged);
	idset_free(&keep);
	return ret;
}

/* ---- du: per-layer bytes, shared with other images or unique ---- */

struct other_ctx {
	const shale_id *skip;
	struct idset *layers;
};

static int other_layers(void *ctx, const shale_id *id, json_t *img)
{
	struct other_ctx *o = ctx;
	shale_id *layers;
	size_t n;
	if (!shale_id_cmp(id, o->skip) || shale_image_layers(img, &layers, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		idset_add(o->layers, &layers[i]);
	free(layers);
	return 0;
}

static uint64_t object_size(shale_store *s, MDB_txn *txn, const shale_id *d)
{
	MDB_val k = {SHALE_ID_LEN, (void *)d->b}, v;
	return mdb_get(txn, s->dbi[DB_OBJECTS], &k, &v) == 0 && v.mv_size == 8 ? be64_get(v.mv_data)
										 : 0;
}

int shale_image_du(shale_store *s, const shale_id *image, shale_du_layer **out, size_t *count)
{
	json_t *img = shale_image_get(s, image);
	shale_id *layers = NULL;
	size_t n = 0;
	struct idset others = {0}, oobj = {0}, olists = {0};
	int ret = -1;
	if (!img || shale_image_layers(img, &layers, &n) < 0)
		goto out;
	struct other_ctx oc = {image, &others};
	if (shale_image_foreach(s, other_layers, &oc) < 0)
		goto out;
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		goto out;
	struct mark m = {.s = s, .txn = txn, .objects = &oobj, .lists = &olists};
	for (size_t i = 0; i < others.cap; i++)
		if (others.used[i] && mark_layer(&m, &others.v[i]) < 0)
			goto end;
	*out = xcalloc(n ? n : 1, sizeof **out);
	*count = n;
	for (size_t i = 0; i < n; i++) {
		struct idset objs = {0}, lists = {0};
		struct mark lm = {.s = s, .txn = txn, .objects = &objs, .lists = &lists};
		shale_du_layer *d = &(*out)[i];
		d->id = layers[i];
		if (mark_layer(&lm, &layers[i]) < 0) {
			idset_free(&objs);
			idset_free(&lists);
			goto end;
		}
		bool layer_shared = idset_has(&others, &layers[i]);
		d->stored = lm.inline_bytes;
		d->shared = layer_shared ? lm.inline_bytes : 0;
		for (size_t j = 0; j < objs.cap; j++) {
			if (!objs.used[j])
				continue;
			uint64_t sz = object_size(s, txn, &objs.v[j]);
			d->stored += sz;
			if (layer_shared || idset_has(&oobj, &objs.v[j]))
				d->shared += sz;
		}
		idset_free(&objs);
		idset_free(&lists);
	}
	ret = 0;
end:
	rtxn_end(s, txn);
out:
	if (ret < 0 && *out) {
		free(*out);
		*out = NULL;
	}
	json_decref(img);
	free(layers);
	idset_free(&others);
	idset_free(&oobj);
	idset_free(&olists);
	return ret;
}
