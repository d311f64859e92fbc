/* Layers: built in a staging area, then stored under their content digest.
 *
 * The builder writes entries under a random staging id (committing every few
 * thousand entries, so memory stays flat), then walks the staged tree in
 * canonical order (parents first, names sorted) to compute the layer id, and
 * copies the entries under that id. A layer record is written last: entries
 * without a layer record are invisible leftovers that prune removes. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define BATCH 4096

struct shale_layer_builder {
	shale_store *s;
	shale_content_writer *cw;
	shale_id stage;
	MDB_txn *txn;
	uint64_t ops, count;
	uint32_t *group_count; /* indexed by staged group id */
	uint64_t ngroups, groups_cap;
	char lastdir[PATH_MAX]; /* last directory known to exist (saves gets) */
	bool registered, finished;
};

static int lb_txn(shale_layer_builder *lb)
{
	if (lb->txn)
		return 0;
	return wtxn_begin(lb->s, &lb->txn);
}

static int lb_maybe_commit(shale_layer_builder *lb, bool force)
{
	if (!lb->txn || (!force && ++lb->ops % BATCH))
		return 0;
	if (cw_store_pending(lb->cw, lb->txn) < 0)
		return -1;
	int r = wtxn_commit(lb->txn);
	lb->txn = NULL;
	return r;
}

static int put_entry(shale_layer_builder *lb, const char *path, const shale_entry *e)
{
	uint8_t key[ENTRY_KEY_MAX];
	size_t kl = entry_key(lb->s, &lb->stage, path, key);
	sbuf b = {0};
	entry_encode(&b, e);
	MDB_val k = {kl, key}, v = {b.len, b.p};
	int rc = mdb_put(lb->txn, lb->s->dbi[DB_ENTRIES], &k, &v, 0);
	sbuf_free(&b);
	return rc ? mdb_fail(rc, "stage entry") : 0;
}

/* Get a staged entry; returns 1 if found, 0 if not, -1 on error. */
static int get_entry(shale_layer_builder *lb, const char *path, shale_entry *e, MDB_val *raw)
{
	uint8_t key[ENTRY_KEY_MAX];
	size_t kl = entry_key(lb->s, &lb->stage, path, key);
	MDB_val k = {kl, key};
	int rc = mdb_get(lb->txn, lb->s->dbi[DB_ENTRIES], &k, raw);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return mdb_fail(rc, "read staged entry");
	return entry_decode(raw->mv_data, raw->mv_size, e) < 0 ? -1 : 1;
}

static void implicit_dir(shale_entry *e)
{
	memset(e, 0, sizeof *e);
	e->type = SHALE_DIR;
	e->flags = SHALE_F_IMPLICIT;
	e->mode = 0755;
}

shale_layer_builder *shale_lb_new(shale_store *s)
{
	if (shale_lock_shared(s) < 0)
		return NULL;
	shale_layer_builder *lb = xcalloc(1, sizeof *lb);
	lb->s = s; /* holds the shared GC lock until freed */
	lb->cw = shale_cw_new(s);
	objw_bind_txn(cw_objwriter(lb->cw), &lb->txn);
	if (getrandom(lb->stage.b, SHALE_ID_LEN, 0) != SHALE_ID_LEN) {
		shale_err(errno, "getrandom: %s", strerror(errno));
		goto fail;
	}
	if (lb_txn(lb) < 0)
		goto fail;
	/* Register the staging area so that prune can find what a crash leaves. */
	uint8_t rec[16];
	be64_put(rec, (uint64_t)getpid());
	be64_put(rec + 8, (uint64_t)time(NULL));
	MDB_val k = {SHALE_ID_LEN, lb->stage.b}, v = {sizeof rec, rec};
	int rc = mdb_put(lb->txn, s->dbi[DB_STAGING], &k, &v, 0);
	if (rc) {
		mdb_fail(rc, "register staging");
		goto fail;
	}
	shale_entry root;
	implicit_dir(&root);
	if (put_entry(lb, "", &root) < 0 || lb_maybe_commit(lb, true) < 0)
		goto fail;
	lb->registered = true;
	return lb;
fail:
	shale_lb_free(lb);
	return NULL;
}

shale_content_writer *shale_lb_content(shale_layer_builder *lb)
{
	return lb->cw;
}

uint64_t shale_lb_count(const shale_layer_builder *lb)
{
	return lb->count;
}

static int ensure_parents(shale_layer_builder *lb, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return 0;
	size_t dl = (size_t)(slash - path);
	if (strncmp(lb->lastdir, path, dl) == 0 && lb->lastdir[dl] == 0)
		return 0;
	char dir[PATH_MAX];
	memcpy(dir, path, dl);
	dir[dl] = 0;
	/* Check each ancestor, shortest first. */
	for (size_t i = 0; i <= dl; i++) {
		if (i < dl && dir[i] != '/')
			continue;
		char c = dir[i];
		dir[i] = 0;
		shale_entry e;
		MDB_val raw;
		int r = get_entry(lb, dir, &e, &raw);
		if (r < 0)
			return -1;
		if (r == 0) {
			implicit_dir(&e);
			if (put_entry(lb, dir, &e) < 0)
				return -1;
			lb->count++;
		} else if (e.type != SHALE_DIR) {
			return shale_err(EINVAL, "'%s': parent '%s' is not a directory in this layer",
					 path, dir);
		}
		dir[i] = c;
	}
	memcpy(lb->lastdir, dir, dl + 1);
	return 0;
}

static void group_adjust(shale_layer_builder *lb, uint64_t group, int delta)
{
	if (group && group <= lb->ngroups)
		lb->group_count[group - 1] += (uint32_t)delta;
}

int shale_lb_add(shale_layer_builder *lb, const char *path, const shale_entry *in)
{
	if (lb_txn(lb) < 0 || ensure_parents(lb, path) < 0)
		return -1;
	shale_entry e = *in, old;
	MDB_val raw;
	int r = get_entry(lb, path, &old, &raw);
	if (r < 0)
		return -1;
	if (r == 1) {
		group_adjust(lb, old.link_group, -1);
		if (old.type == SHALE_DIR && e.type == SHALE_DIR)
			e.flags |= old.flags & SHALE_F_OPAQUE; /* the .opq marker may come first */
		if (old.type == SHALE_DIR && e.type != SHALE_DIR)
			lb->lastdir[0] = 0;
	} else {
		lb->count++;
	}
	e.flags &= (uint8_t)~SHALE_F_IMPLICIT;
	e.flags |= in->flags & SHALE_F_IMPLICIT;
	if (e.type != SHALE_DIR)
		e.flags &= (uint8_t)~SHALE_F_OPAQUE;
	e.link_group = 0;
	e.nlink = 1;
	if (put_entry(lb, path, &e) < 0)
		return -1;
	return lb_maybe_commit(lb, false);
}

int shale_lb_add_hardlink(shale_layer_builder *lb, const char *path, const char *target)
{
	if (lb_txn(lb) < 0)
		return -1;
	shale_entry t;
	MDB_val raw;
	int r = get_entry(lb, target, &t, &raw);
	if (r < 0)
		return -1;
	if (r == 0 || t.type == SHALE_WHITEOUT)
		return shale_err(EINVAL, "hardlink '%s': target '%s' is not in the archive", path,
				 target);
	if (t.type == SHALE_DIR)
		return shale_err(EINVAL, "hardlink '%s': target '%s' is a directory", path, target);
	if (strcmp(path, target) == 0)
		return 0;
	void *copy;
	shale_entry te;
	if (entry_copy(&t, &te, &copy) < 0)
		return -1;
	if (!te.link_group) {
		if (lb->ngroups == lb->groups_cap)
			lb->group_count = xrealloc(lb->group_count,
						   (lb->groups_cap = lb->groups_cap ? 2 * lb->groups_cap : 64) *
							   sizeof *lb->group_count);
		te.link_group = ++lb->ngroups;
		lb->group_count[te.link_group - 1] = 1;
		if (put_entry(lb, target, &te) < 0)
			goto fail;
	}
	if (ensure_parents(lb, path) < 0)
		goto fail;
	shale_entry old;
	r = get_entry(lb, path, &old, &raw);
	if (r < 0)
		goto fail;
	if (r == 1)
		group_adjust(lb, old.link_group, -1);
	else
		lb->count++;
	group_adjust(lb, te.link_group, +1);
	if (put_entry(lb, path, &te) < 0)
		goto fail;
	free(copy);
	return lb_maybe_commit(lb, false);
fail:
	free(copy);
	return -1;
}

int shale_lb_add_whiteout(shale_layer_builder *lb, const char *path)
{
	if (!*path)
		return shale_err(EINVAL, "cannot white out the root directory");
	shale_entry e = {.type = SHALE_WHITEOUT};
	return shale_lb_add(lb, path, &e);
}

int shale_lb_set_opaque(shale_layer_builder *lb, const char *dirpath)
{
	if (lb_txn(lb) < 0)
		return -1;
	shale_entry e;
	MDB_val raw;
	int r = get_entry(lb, dirpath, &e, &raw);
	if (r < 0)
		return -1;
	if (r == 0) {
		if (ensure_parents(lb, dirpath) < 0)
			return -1;
		implicit_dir(&e);
		lb->count++;
	} else if (e.type != SHALE_DIR) {
		return shale_err(EINVAL, "opaque marker in '%s', which is not a directory", dirpath);
	}
	void *copy;
	shale_entry c;
	if (entry_copy(&e, &c, &copy) < 0)
		return -1;
	c.flags |= SHALE_F_OPAQUE;
	r = put_entry(lb, dirpath, &c);
	free(copy);
	return r < 0 ? -1 : lb_maybe_commit(lb, false);
}

int shale_lb_get(shale_layer_builder *lb, const char *path, shale_entry *e, void **buf)
{
	if (lb_txn(lb) < 0)
		return -1;
	shale_entry t;
	MDB_val raw;
	int r = get_entry(lb, path, &t, &raw);
	if (r < 0)
		return -1;
	if (r == 0)
		return shale_err(ENOENT, "'%s' is not in the layer", path);
	return entry_copy(&t, e, buf);
}

/* ---- walking a stored tree ---- */

struct walker {
	shale_store *s;
	MDB_txn *txn;
	const shale_id *prefix;
	shale_walk_fn fn;
	void *ctx;
	char path[PATH_MAX];
};

static int walk_dir(struct walker *w, size_t plen)
{
	uint8_t key[ENTRY_KEY_MAX];
	size_t kl = entry_dir_prefix(w->s, w->prefix, w->path, plen, key);
	MDB_cursor *c;
	int rc = mdb_cursor_open(w->txn, w->s->dbi[DB_ENTRIES], &c);
	if (rc)
		return mdb_fail(rc, "cursor");
	MDB_val k = {kl, key}, v;
	int ret = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < kl || memcmp(k.mv_data, key, kl) != 0)
			break;
		size_t nl = k.mv_size - kl;
		if (nl == 0 || plen + 1 + nl >= PATH_MAX)
			continue;
		size_t clen = plen;
		if (plen)
			w->path[clen++] = '/';
		memcpy(w->path + clen, (uint8_t *)k.mv_data + kl, nl);
		clen += nl;
		w->path[clen] = 0;
		shale_entry e;
		if (entry_decode(v.mv_data, v.mv_size, &e) < 0) {
			ret = shale_err_prefix("%s", w->path);
			break;
		}
		int r = w->fn(w->ctx, w->path, &e);
		if (r < 0) {
			ret = -1;
			break;
		}
		if (r == 0 && e.type == SHALE_DIR && (ret = walk_dir(w, clen)) < 0)
			break;
		w->path[plen] = 0;
	}
	if (rc && rc != MDB_NOTFOUND && !ret)
		ret = mdb_fail(rc, "walk");
	mdb_cursor_close(c);
	w->path[plen] = 0;
	return ret;
}

int tree_walk(shale_store *s, MDB_txn *txn, const shale_id *prefix, const char *start,
	      shale_walk_fn fn, void *ctx)
{
	struct walker w = {.s = s, .txn = txn, .prefix = prefix, .fn = fn, .ctx = ctx};
	if (path_normalize(start ? start : "", w.path, true) < 0)
		return -1;
	uint8_t key[ENTRY_KEY_MAX];
	size_t kl = entry_key(s, prefix, w.path, key);
	MDB_val k = {kl, key}, v;
	int rc = mdb_get(txn, s->dbi[DB_ENTRIES], &k, &v);
	if (rc == MDB_NOTFOUND)
		return shale_err(ENOENT, "no such path in the layer: /%s", w.path);
	if (rc)
		return mdb_fail(rc, "walk");
	shale_entry e;
	if (entry_decode(v.mv_data, v.mv_size, &e) < 0)
		return -1;
	int r = fn(ctx, w.path, &e);
	if (r < 0)
		return -1;
	if (r == 0 && e.type == SHALE_DIR)
		return walk_dir(&w, strlen(w.path));
	return 0;
}

int entries_delete_prefix(shale_store *s, MDB_txn *txn, const shale_id *prefix)
{
	/* Deletes at most one batch; returns 1 while more remain (keeps txns small). */
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->dbi[DB_ENTRIES], &c);
	if (rc)
		return mdb_fail(rc, "cursor");
	int n = 0;
	for (;;) {
		MDB_val k = {SHALE_ID_LEN, (void *)prefix->b}, v;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc || k.mv_size < SHALE_ID_LEN || memcmp(k.mv_data, prefix->b, SHALE_ID_LEN) != 0)
			break;
		if (n++ == 4 * BATCH) {
			mdb_cursor_close(c);
			return 1;
		}
		if ((rc = mdb_cursor_del(c, 0)))
			break;
	}
	mdb_cursor_close(c);
	return rc && rc != MDB_NOTFOUND ? mdb_fail(rc, "delete entries") : 0;
}

/* ---- finishing: canonical digest, then copy under the layer id ---- */

struct canon {
	shale_layer_builder *lb;
	uint64_t *map; /* staged group -> canonical group */
	uint64_t next;
	hash_state *h;
	const shale_id *layer; /* pass 2: destination */
	MDB_txn *wtxn;
	uint64_t n, size;
	sbuf enc;
};

static void canon_entry(struct canon *c, const shale_entry *in, shale_entry *out)
{
	*out = *in;
	if (!c->lb) /* a stored layer: already canonical */
		return;
	if (in->link_group && in->link_group <= c->lb->ngroups) {
		uint64_t *m = &c->map[in->link_group - 1];
		if (!*m)
			*m = ++c->next;
		out->link_group = *m;
		out->nlink = c->lb->group_count[in->link_group - 1];
	} else {
		out->link_group = 0;
		out->nlink = 1;
	}
}

static int canon_hash(void *ctx, const char *path, const shale_entry *e)
{
	struct canon *c = ctx;
	shale_entry ce;
	canon_entry(c, e, &ce);
	c->enc.len = 0;
	entry_encode(&c->enc, &ce);
	uint32_t pl = (uint32_t)strlen(path), el = (uint32_t)c->enc.len;
	hash_update(c->h, &pl, 4);
	hash_update(c->h, path, pl);
	hash_update(c->h, &el, 4);
	hash_update(c->h, c->enc.p, el);
	c->n++;
	if (e->type == SHALE_REG)
		c->size += e->size;
	return 0;
}

int layer_digest(shale_store *s, MDB_txn *txn, const shale_id *layer, shale_id *digest,
		 uint64_t *n, uint64_t *size)
{
	struct canon c = {.h = hash_new(s)};
	int ret = tree_walk(s, txn, layer, "", canon_hash, &c);
	hash_final(c.h, digest);
	hash_free(c.h);
	sbuf_free(&c.enc);
	*n = c.n;
	*size = c.size;
	return ret;
}

static int canon_copy(void *ctx, const char *path, const shale_entry *e)
{
	struct canon *c = ctx;
	shale_store *s = c->lb->s;
	SHALE_CRASH_POINT("entry copied under the layer id");
	shale_entry ce;
	canon_entry(c, e, &ce);
	c->enc.len = 0;
	entry_encode(&c->enc, &ce);
	uint8_t key[ENTRY_KEY_MAX];
	size_t kl = entry_key(s, c->layer, path, key);
	MDB_val k = {kl, key}, v = {c->enc.len, c->enc.p};
	if (!c->wtxn && wtxn_begin(s, &c->wtxn) < 0)
		return -1;
	int rc = mdb_put(c->wtxn, s->dbi[DB_ENTRIES], &k, &v, 0);
	if (rc)
		return mdb_fail(rc, "store entry");
	if (++c->n % BATCH == 0) {
		rc = wtxn_commit(c->wtxn);
		c->wtxn = NULL;
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int drop_staging(shale_store *s, const shale_id *stage)
{
	int more;
	do {
		MDB_txn *txn;
		if (wtxn_begin(s, &txn) < 0)
			return -1;
		more = entries_delete_prefix(s, txn, stage);
		if (more < 0) {
			mdb_txn_abort(txn);
			return -1;
		}
		if (!more) {
			MDB_val k = {SHALE_ID_LEN, (void *)stage->b};
			mdb_del(txn, s->dbi[DB_STAGING], &k, NULL);
		}
		if (wtxn_commit(txn) < 0)
			return -1;
	} while (more);
	return 0;
}

int shale_lb_finish(shale_layer_builder *lb, shale_id *layer_id)
{
	shale_store *s = lb->s;
	struct canon c = {.lb = lb};
	int ret = -1;
	MDB_txn *rtxn = NULL;
	/* Objects and chunk lists must be durable before anything refers to them. */
	if (objw_flush(cw_objwriter(lb->cw)) < 0 || lb_txn(lb) < 0 || lb_maybe_commit(lb, true) < 0)
		goto out;
	c.map = xcalloc(lb->ngroups ? lb->ngroups : 1, sizeof *c.map);
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rtxn)) {
		shale_err(EIO, "begin read");
		goto out;
	}
	c.h = hash_new(s);
	if (tree_walk(s, rtxn, &lb->stage, "", canon_hash, &c) < 0)
		goto out;
	hash_final(c.h, layer_id);
	uint64_t entries = c.n, size = c.size;

	MDB_val k = {SHALE_ID_LEN, layer_id->b}, v;
	if (mdb_get(rtxn, s->dbi[DB_LAYERS], &k, &v) != 0) {
		memset(c.map, 0, (lb->ngroups ? lb->ngroups : 1) * sizeof *c.map);
		c.next = c.n = 0;
		c.layer = layer_id;
		if (tree_walk(s, rtxn, &lb->stage, "", canon_copy, &c) < 0)
			goto out;
		if (!c.wtxn && wtxn_begin(s, &c.wtxn) < 0)
			goto out;
		sbuf rec = {0};
		sbuf_u32(&rec, 1);
		sbuf_u64(&rec, entries);
		sbuf_u64(&rec, size);
		sbuf_u64(&rec, (uint64_t)time(NULL));
		MDB_val rv = {rec.len, rec.p};
		int rc = mdb_put(c.wtxn, s->dbi[DB_LAYERS], &k, &rv, 0);
		sbuf_free(&rec);
		if (rc) {
			mdb_fail(rc, "store layer");
			goto out;
		}
		rc = wtxn_commit(c.wtxn);
		c.wtxn = NULL;
		if (rc < 0)
			goto out;
	}
	mdb_txn_abort(rtxn);
	rtxn = NULL;
	lb->finished = true;
	drop_staging(s, &lb->stage); /* a failure here leaves garbage for prune, nothing else */
	ret = 0;
out:
	if (c.wtxn)
		mdb_txn_abort(c.wtxn);
	if (rtxn)
		mdb_txn_abort(rtxn);
	if (c.h)
		hash_free(c.h);
	free(c.map);
	sbuf_free(&c.enc);
	return ret;
}

void shale_lb_free(shale_layer_builder *lb)
{
	if (!lb)
		return;
	if (lb->txn)
		mdb_txn_abort(lb->txn);
	lb->txn = NULL;
	if (lb->registered && !lb->finished)
		drop_staging(lb->s, &lb->stage);
	shale_cw_free(lb->cw);
	free(lb->group_count);
	shale_unlock(lb->s);
	free(lb);
}

/* ---- reading layers ---- */

static int layer_decode(const MDB_val *v, shale_layer_info *out)
{
	rbuf r = {.p = v->mv_data, .len = v->mv_size};
	rb_u32(&r);
	out->entries = rb_u64(&r);
	out->size = rb_u64(&r);
	out->created = (int64_t)rb_u64(&r);
	return r.bad ? shale_err(EIO, "corrupt layer record") : 0;
}

int shale_layer_get(shale_store *s, const shale_id *id, shale_layer_info *out)
{
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	MDB_val k = {SHALE_ID_LEN, (void *)id->b}, v;
	int rc = mdb_get(txn, s->dbi[DB_LAYERS], &k, &v), ret;
	if (rc == 0) {
		out->id = *id;
		ret = layer_decode(&v, out);
	} else {
		char hex[SHALE_ID_HEX];
		shale_id_hex(id, hex);
		ret = rc == MDB_NOTFOUND ? shale_err(ENOENT, "no such layer: %s", hex)
					 : mdb_fail(rc, "layer");
	}
	rtxn_end(s, txn);
	return ret;
}

int shale_layer_resolve(shale_store *s, const char *ref, shale_id *out)
{
	size_t n = strlen(ref);
	if (n < 4 || n > 32 || strspn(ref, "0123456789abcdef") != n)
		return shale_err(ENOENT, "no such layer: %s", ref);
	uint8_t pre[SHALE_ID_LEN] = {0};
	for (size_t i = 0; i < n; i++) {
		int d = ref[i] <= '9' ? ref[i] - '0' : ref[i] - 'a' + 10;
		pre[i / 2] |= (uint8_t)(i % 2 ? d : d << 4);
	}
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	mdb_cursor_open(txn, s->dbi[DB_LAYERS], &c);
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
	if (found == 1)
		return 0;
	return found ? shale_err(EINVAL, "layer id prefix '%s' is ambiguous", ref)
		     : shale_err(ENOENT, "no such layer: %s", ref);
}

int shale_layer_walk(shale_store *s, const shale_id *layer, const char *start, shale_walk_fn fn,
		     void *ctx)
{
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	int r = tree_walk(s, txn, layer, start, fn, ctx);
	rtxn_end(s, txn);
	return r;
}

int shale_layer_lookup(shale_store *s, const shale_id *layer, const char *path, shale_entry *e,
		       void **buf)
{
	char norm[PATH_MAX];
	if (path_normalize(path, norm, true) < 0)
		return -1;
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	uint8_t key[ENTRY_KEY_MAX];
	size_t kl = entry_key(s, layer, norm, key);
	MDB_val k = {kl, key}, v;
	int rc = mdb_get(txn, s->dbi[DB_ENTRIES], &k, &v), ret = -1;
	shale_entry t;
	if (rc == MDB_NOTFOUND)
		shale_err(ENOENT, "no such path in the layer: /%s", norm);
	else if (rc)
		mdb_fail(rc, "lookup");
	else if (entry_decode(v.mv_data, v.mv_size, &t) == 0)
		ret = entry_copy(&t, e, buf);
	rtxn_end(s, txn);
	return ret;
}
