/* The merged view of a layer chain, and the index that makes it fast.
 *
 * The first open of a chain walks its layers once, top layer first, and stores
 * the merged tree in two databases keyed by the chain id:
 *   view_names:  chain | parent ino | name -> ino | type   (lookup, readdir)
 *   view_inodes: chain | ino -> record (attributes, entry) (getattr, read)
 * so that a lookup is one get whatever the number of layers. Inode numbers are
 * assigned in tree order, hence stable for a chain; the names of a hardlinked
 * file share one inode. The chain record is written last: an index without it
 * is incomplete and gets rebuilt. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define VREC_VERSION 1
#define BATCH 8192
#define MAX_SYMLINKS 40

struct shale_view {
	shale_store *s;
	shale_id chain;
	shale_id *layers;
	size_t nlayers;
	uint64_t inodes;
};

void chain_id(shale_store *s, const shale_id *layers, size_t n, shale_id *out)
{
	hash_state *h = hash_new(s);
	hash_update(h, "chain", 5);
	hash_update(h, layers, n * sizeof *layers);
	hash_final(h, out);
	hash_free(h);
}

/* ---- inode records ---- */

struct vrec {
	uint32_t layer, nlink;
	uint64_t blocks, parent;
	const char *name;
	uint16_t name_len;
	uint32_t nextra;
	const uint8_t *extra; /* (u64 parent, u16 len, name)* */
	size_t extra_len;
	shale_entry e;
};

static int vrec_decode(const MDB_val *v, struct vrec *r)
{
	rbuf b = {.p = v->mv_data, .len = v->mv_size};
	if (rb_u32(&b) != VREC_VERSION)
		return shale_err(EIO, "corrupt view index record");
	r->layer = rb_u32(&b);
	r->nlink = rb_u32(&b);
	r->blocks = rb_u64(&b);
	r->parent = rb_u64(&b);
	r->name_len = rb_u16(&b);
	r->name = (const char *)rb_bytes(&b, r->name_len);
	r->nextra = rb_u32(&b);
	size_t start = b.pos;
	for (uint32_t i = 0; i < r->nextra && !b.bad; i++) {
		rb_u64(&b);
		rb_bytes(&b, rb_u16(&b));
	}
	r->extra = b.p + start;
	r->extra_len = b.pos - start;
	uint32_t el = rb_u32(&b);
	const uint8_t *ep = rb_bytes(&b, el);
	if (b.bad || !ep)
		return shale_err(EIO, "corrupt view index record");
	return entry_decode(ep, el, &r->e);
}

static void vattr_fill(uint64_t ino, const struct vrec *r, shale_vattr *a)
{
	a->ino = ino;
	a->type = r->e.type;
	a->flags = r->e.flags;
	a->mode = r->e.mode;
	a->uid = r->e.uid;
	a->gid = r->e.gid;
	a->nlink = r->nlink;
	a->size = r->e.size;
	a->rdev = r->e.rdev;
	a->blocks = r->blocks;
	a->mtime = r->e.mtime;
	a->ctime = r->e.ctime;
	a->layer = r->layer;
}

static size_t ino_key(const shale_view *v, uint64_t ino, uint8_t *key)
{
	memcpy(key, v->chain.b, SHALE_ID_LEN);
	be64_put(key + SHALE_ID_LEN, ino);
	return SHALE_ID_LEN + 8;
}

static int get_vrec(shale_view *v, MDB_txn *txn, uint64_t ino, struct vrec *r)
{
	uint8_t key[SHALE_ID_LEN + 8];
	MDB_val k = {ino_key(v, ino, key), key}, val;
	int rc = mdb_get(txn, v->s->dbi[DB_VINODES], &k, &val);
	if (rc)
		return rc == MDB_NOTFOUND ? shale_err(ENOENT, "no inode %llu in the view",
						      (unsigned long long)ino)
					  : mdb_fail(rc, "view inode");
	return vrec_decode(&val, r);
}

/* ---- building the index ---- */

struct link_info {
	uint32_t layer;
	uint64_t group, ino, parent;
	uint32_t count;
	char *name;
	void *raw;
	size_t raw_len;
	uint64_t blocks;
	sbuf extra;
	uint32_t nextra;
};

struct subdir {
	char *name;
	uint64_t ino;
	uint32_t *src;
	size_t nsrc;
	void *raw;
	size_t raw_len;
};

struct builder {
	shale_view *v;
	MDB_txn *rtxn, *wtxn;
	uint64_t ops, next_ino;
	struct link_info *links;
	size_t nlinks, links_cap;
	char path[PATH_MAX];
	sbuf rec;
};

static int b_put(struct builder *b, enum db db, const void *k, size_t kl, const void *d, size_t dl)
{
	shale_store *s = b->v->s;
	if (!b->wtxn && wtxn_begin(s, &b->wtxn) < 0)
		return -1;
	MDB_val key = {kl, (void *)k}, val = {dl, (void *)d};
	int rc = mdb_put(b->wtxn, s->dbi[db], &key, &val, 0);
	if (rc)
		return mdb_fail(rc, "store view index");
	if (++b->ops % BATCH == 0) {
		rc = wtxn_commit(b->wtxn);
		b->wtxn = NULL;
		return rc;
	}
	return 0;
}

static uint64_t blocks_of(struct builder *b, const shale_entry *e)
{
	/* as ext4 counts them: directories by their size, short symlinks inline */
	if (e->type == SHALE_DIR)
		return e->size ? ((e->size + 4095) / 4096) * 8 : 8;
	if (e->type == SHALE_LNK)
		return e->size < 60 ? 0 : 8;
	if (e->type != SHALE_REG || e->size == 0)
		return 0;
	if (e->flags & SHALE_F_INLINE)
		return ((e->size + 4095) / 4096) * 8;
	if (!(e->flags & SHALE_F_CHUNKED))
		return shale_id_is_zero(&e->content) ? 0 : ((e->size + 4095) / 4096) * 8;
	shale_chunks ch;
	if (chunks_get(b->v->s, b->rtxn, &e->content, &ch) < 0)
		return ((e->size + 4095) / 4096) * 8;
	uint64_t blocks = 0;
	for (uint64_t i = 0; i < ch.count; i++) {
		if (shale_id_is_zero(&ch.digests[i]))
			continue;
		uint64_t len = e->size - i * SHALE_CHUNK_SIZE;
		if (len > SHALE_CHUNK_SIZE)
			len = SHALE_CHUNK_SIZE;
		blocks += ((len + 4095) / 4096) * 8;
	}
	free(ch.digests);
	return blocks;
}

static int put_vrec(struct builder *b, uint64_t ino, uint32_t layer, uint32_t nlink,
		    uint64_t blocks, uint64_t parent, const char *name, size_t nl, const uint8_t *extra,
		    size_t extra_len, uint32_t nextra, const void *raw, size_t raw_len)
{
	sbuf *r = &b->rec;
	r->len = 0;
	sbuf_u32(r, VREC_VERSION);
	sbuf_u32(r, layer);
	sbuf_u32(r, nlink);
	sbuf_u64(r, blocks);
	sbuf_u64(r, parent);
	sbuf_u16(r, (uint16_t)nl);
	sbuf_put(r, name, nl);
	sbuf_u32(r, nextra);
	sbuf_put(r, extra, extra_len);
	sbuf_u32(r, (uint32_t)raw_len);
	sbuf_put(r, raw, raw_len);
	uint8_t key[SHALE_ID_LEN + 8];
	return b_put(b, DB_VINODES, key, ino_key(b->v, ino, key), r->p, r->len);
}

static int put_vname(struct builder *b, uint64_t parent, const char *name, size_t nl,
		     uint64_t ino, uint8_t type)
{
	uint8_t key[SHALE_ID_LEN + 8 + NAME_MAX + 1], val[9];
	memcpy(key, b->v->chain.b, SHALE_ID_LEN);
	be64_put(key + SHALE_ID_LEN, parent);
	memcpy(key + SHALE_ID_LEN + 8, name, nl);
	be64_put(val, ino);
	val[8] = type;
	return b_put(b, DB_VNAMES, key, SHALE_ID_LEN + 8 + nl, val, sizeof val);
}

static struct link_info *link_find(struct builder *b, uint32_t layer, uint64_t group)
{
	for (size_t i = b->nlinks; i-- > 0;) /* hardlinks are few and usually close */
		if (b->links[i].layer == layer && b->links[i].group == group)
			return &b->links[i];
	return NULL;
}

/* One source layer's cursor over a directory's children. */
struct scan {
	uint32_t layer;
	MDB_cursor *c;
	uint8_t prefix[2 * SHALE_ID_LEN];
	MDB_val k, v;
	bool done;
};

static void scan_next(struct scan *sc, MDB_cursor_op op)
{
	int rc = mdb_cursor_get(sc->c, &sc->k, &sc->v, op);
	if (rc || sc->k.mv_size < sizeof sc->prefix ||
	    memcmp(sc->k.mv_data, sc->prefix, sizeof sc->prefix) != 0)
		sc->done = true;
}

static int name_cmp(const MDB_val *a, const MDB_val *b)
{
	size_t al = a->mv_size - 2 * SHALE_ID_LEN, bl = b->mv_size - 2 * SHALE_ID_LEN;
	int c = memcmp((uint8_t *)a->mv_data + 2 * SHALE_ID_LEN,
		       (uint8_t *)b->mv_data + 2 * SHALE_ID_LEN, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static int build_dir(struct builder *b, size_t plen, uint64_t ino, uint64_t parent,
		     const char *name, size_t nl, const uint32_t *src, size_t nsrc, const void *raw,
		     size_t raw_len, uint32_t layer);

static int merge_children(struct builder *b, size_t plen, uint64_t dir_ino, const uint32_t *src,
			  size_t nsrc, struct subdir **subs, size_t *nsubs)
{
	shale_store *s = b->v->s;
	struct scan *sc = xcalloc(nsrc ? nsrc : 1, sizeof *sc);
	size_t cap = 0;
	int ret = 0;
	uint32_t *csrc = xmalloc((nsrc ? nsrc : 1) * sizeof *csrc);
	for (size_t i = 0; i < nsrc; i++) {
		sc[i].layer = src[i];
		entry_dir_prefix(s, &b->v->layers[src[i]], b->path, plen, sc[i].prefix);
		int rc = mdb_cursor_open(b->rtxn, s->dbi[DB_ENTRIES], &sc[i].c);
		if (rc) {
			ret = mdb_fail(rc, "cursor");
			goto out;
		}
		sc[i].k = (MDB_val){sizeof sc[i].prefix, sc[i].prefix};
		scan_next(&sc[i], MDB_SET_RANGE);
		if (!sc[i].done && sc[i].k.mv_size == sizeof sc[i].prefix)
			scan_next(&sc[i], MDB_NEXT); /* the root's own key has an empty name */
	}
	for (;;) {
		/* the smallest name among the sources; sources are ordered top first */
		int top = -1;
		for (size_t i = 0; i < nsrc; i++)
			if (!sc[i].done && (top < 0 || name_cmp(&sc[i].k, &sc[top].k) < 0))
				top = (int)i;
		if (top < 0)
			break;
		MDB_val topk = sc[top].k;
		const char *cname = (const char *)topk.mv_data + 2 * SHALE_ID_LEN;
		size_t cnl = topk.mv_size - 2 * SHALE_ID_LEN;
		shale_entry e;
		if (entry_decode(sc[top].v.mv_data, sc[top].v.mv_size, &e) < 0) {
			ret = -1;
			goto out;
		}
		size_t ncs = 0;
		MDB_val attrv = sc[top].v; /* whose attributes the directory shows */
		if (e.type == SHALE_DIR) {
			/* The directory merges with those below it until an opaque one,
			 * a whiteout or a non-directory cuts it off. */
			csrc[ncs++] = sc[top].layer;
			bool cut = e.flags & SHALE_F_OPAQUE;
			bool implicit = e.flags & SHALE_F_IMPLICIT;
			for (size_t j = (size_t)top + 1; j < nsrc && !cut; j++) {
				if (sc[j].done || name_cmp(&sc[j].k, &topk) != 0)
					continue;
				shale_entry le;
				if (entry_decode(sc[j].v.mv_data, sc[j].v.mv_size, &le) < 0) {
					ret = -1;
					goto out;
				}
				if (le.type != SHALE_DIR)
					break;
				csrc[ncs++] = sc[j].layer;
				cut = le.flags & SHALE_F_OPAQUE;
				if (implicit && !(le.flags & SHALE_F_IMPLICIT)) {
					/* a directory a tar only implied keeps the attributes
					 * of the real one below */
					attrv = sc[j].v;
					implicit = false;
				}
			}
		}
		if (e.type == SHALE_WHITEOUT) {
			/* hidden */
		} else if (e.type == SHALE_DIR) {
			if (*nsubs == cap)
				*subs = xrealloc(*subs, (cap = cap ? 2 * cap : 16) * sizeof **subs);
			struct subdir *sd = &(*subs)[(*nsubs)++];
			sd->name = strndup(cname, cnl);
			sd->ino = b->next_ino++;
			sd->src = xmalloc(ncs * sizeof *sd->src);
			memcpy(sd->src, csrc, ncs * sizeof *csrc);
			sd->nsrc = ncs;
			sd->raw = xmalloc(attrv.mv_size);
			memcpy(sd->raw, attrv.mv_data, attrv.mv_size);
			sd->raw_len = attrv.mv_size;
			if (put_vname(b, dir_ino, cname, cnl, sd->ino, e.type) < 0) {
				ret = -1;
				goto out;
			}
		} else {
			uint64_t cino;
			struct link_info *li = e.link_group ? link_find(b, sc[top].layer, e.link_group)
							    : NULL;
			if (li) { /* another name of a hardlinked file */
				cino = li->ino;
				li->count++;
				sbuf_u64(&li->extra, dir_ino);
				sbuf_u16(&li->extra, (uint16_t)cnl);
				sbuf_put(&li->extra, cname, cnl);
				li->nextra++;
			} else {
				cino = b->next_ino++;
				uint64_t blocks = blocks_of(b, &e);
				if (e.link_group) {
					if (b->nlinks == b->links_cap)
						b->links = xrealloc(b->links, (b->links_cap = b->links_cap
												    ? 2 * b->links_cap
												    : 16) *
										      sizeof *b->links);
					li = &b->links[b->nlinks++];
					memset(li, 0, sizeof *li);
					li->layer = sc[top].layer;
					li->group = e.link_group;
					li->ino = cino;
					li->count = 1;
					li->parent = dir_ino;
					li->name = strndup(cname, cnl);
					li->raw = xmalloc(sc[top].v.mv_size);
					memcpy(li->raw, sc[top].v.mv_data, sc[top].v.mv_size);
					li->raw_len = sc[top].v.mv_size;
					li->blocks = blocks;
				} else if (put_vrec(b, cino, sc[top].layer, 1, blocks, dir_ino, cname, cnl,
						    NULL, 0, 0, sc[top].v.mv_data, sc[top].v.mv_size) < 0) {
					ret = -1;
					goto out;
				}
			}
			if (put_vname(b, dir_ino, cname, cnl, cino, e.type) < 0) {
				ret = -1;
				goto out;
			}
		}
		/* advance every source past this name */
		for (size_t i = 0; i < nsrc; i++)
			if (!sc[i].done && (int)i != top && name_cmp(&sc[i].k, &topk) == 0)
				scan_next(&sc[i], MDB_NEXT);
		scan_next(&sc[top], MDB_NEXT);
	}
out:
	for (size_t i = 0; i < nsrc; i++)
		if (sc[i].c)
			mdb_cursor_close(sc[i].c);
	free(sc);
	free(csrc);
	return ret;
}

static int build_dir(struct builder *b, size_t plen, uint64_t ino, uint64_t parent,
		     const char *name, size_t nl, const uint32_t *src, size_t nsrc, const void *raw,
		     size_t raw_len, uint32_t layer)
{
	struct subdir *subs = NULL;
	size_t nsubs = 0;
	int ret = merge_children(b, plen, ino, src, nsrc, &subs, &nsubs);
	shale_entry self;
	if (ret == 0 && (ret = entry_decode(raw, raw_len, &self)) == 0)
		ret = put_vrec(b, ino, layer, (uint32_t)(2 + nsubs), blocks_of(b, &self), parent, name,
			       nl, NULL, 0, 0, raw, raw_len);
	for (size_t i = 0; i < nsubs; i++) {
		if (ret == 0) {
			size_t clen = plen, cnl = strlen(subs[i].name);
			if (plen)
				b->path[clen++] = '/';
			if (clen + cnl >= PATH_MAX) {
				ret = shale_err(ENAMETOOLONG, "path too long in view");
			} else {
				memcpy(b->path + clen, subs[i].name, cnl + 1);
				ret = build_dir(b, clen + cnl, subs[i].ino, ino, subs[i].name, cnl,
						subs[i].src, subs[i].nsrc, subs[i].raw, subs[i].raw_len,
						subs[i].src[0]);
				b->path[plen] = 0;
			}
		}
		free(subs[i].name);
		free(subs[i].src);
		free(subs[i].raw);
	}
	free(subs);
	return ret;
}

static int build_index(shale_view *v)
{
	shale_store *s = v->s;
	struct builder b = {.v = v, .next_ino = SHALE_ROOT_INO + 1};
	uint32_t *src = xmalloc((v->nlayers ? v->nlayers : 1) * sizeof *src);
	size_t nsrc = 0;
	void *rootraw = NULL;
	size_t rootlen = 0;
	uint32_t rootlayer = 0;
	int ret = -1;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &b.rtxn)) {
		shale_err(EIO, "begin read");
		goto out;
	}
	/* the root merges down the chain until an opaque root */
	for (size_t i = v->nlayers; i-- > 0;) {
		uint8_t key[ENTRY_KEY_MAX];
		MDB_val k = {entry_key(s, &v->layers[i], "", key), key}, val;
		int rc = mdb_get(b.rtxn, s->dbi[DB_ENTRIES], &k, &val);
		if (rc) {
			char hex[SHALE_ID_HEX];
			shale_id_hex(&v->layers[i], hex);
			shale_err(EIO, "layer %.12s has no root entry (missing or corrupt layer)", hex);
			goto out;
		}
		shale_entry e;
		if (entry_decode(val.mv_data, val.mv_size, &e) < 0)
			goto out;
		if (!rootraw) {
			rootraw = xmalloc(val.mv_size);
			memcpy(rootraw, val.mv_data, val.mv_size);
			rootlen = val.mv_size;
			rootlayer = (uint32_t)i;
		}
		src[nsrc++] = (uint32_t)i;
		if (e.flags & SHALE_F_OPAQUE)
			break;
	}
	if (!rootraw) { /* an image without layers: an empty root */
		shale_entry e = {.type = SHALE_DIR, .mode = 0755};
		sbuf t = {0};
		entry_encode(&t, &e);
		rootraw = t.p;
		rootlen = t.len;
	}
	b.path[0] = 0;
	if (build_dir(&b, 0, SHALE_ROOT_INO, SHALE_ROOT_INO, "", 0, src, nsrc, rootraw, rootlen,
		      rootlayer) < 0)
		goto out;
	for (size_t i = 0; i < b.nlinks; i++) {
		struct link_info *li = &b.links[i];
		if (put_vrec(&b, li->ino, li->layer, li->count, li->blocks, li->parent, li->name,
			     strlen(li->name), li->extra.p, li->extra.len, li->nextra, li->raw,
			     li->raw_len) < 0)
			goto out;
	}
	v->inodes = b.next_ino - 1;
	uint8_t rec[16];
	be64_put(rec, VREC_VERSION);
	be64_put(rec + 8, v->inodes);
	if (b_put(&b, DB_CHAINS, v->chain.b, SHALE_ID_LEN, rec, sizeof rec) < 0)
		goto out;
	if (b.wtxn) {
		int rc = wtxn_commit(b.wtxn);
		b.wtxn = NULL;
		if (rc < 0)
			goto out;
	}
	ret = 0;
out:
	if (b.wtxn)
		mdb_txn_abort(b.wtxn);
	if (b.rtxn)
		mdb_txn_abort(b.rtxn);
	for (size_t i = 0; i < b.nlinks; i++) {
		free(b.links[i].name);
		free(b.links[i].raw);
		sbuf_free(&b.links[i].extra);
	}
	free(b.links);
	sbuf_free(&b.rec);
	free(rootraw);
	free(src);
	return ret;
}

shale_view *shale_view_open(shale_store *s, const shale_id *layers, size_t nlayers)
{
	shale_view *v = xcalloc(1, sizeof *v);
	v->s = s;
	v->nlayers = nlayers;
	v->layers = xmalloc((nlayers ? nlayers : 1) * sizeof *layers);
	memcpy(v->layers, layers, nlayers * sizeof *layers);
	chain_id(s, layers, nlayers, &v->chain);
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		goto fail;
	MDB_val k = {SHALE_ID_LEN, v->chain.b}, val;
	bool built = mdb_get(txn, s->dbi[DB_CHAINS], &k, &val) == 0 && val.mv_size == 16;
	if (built)
		v->inodes = be64_get((uint8_t *)val.mv_data + 8);
	rtxn_end(s, txn);
	if (!built && build_index(v) < 0)
		goto fail;
	return v;
fail:
	shale_view_close(v);
	return NULL;
}

shale_view *shale_view_open_image(shale_store *s, const shale_id *image)
{
	json_t *img = shale_image_get(s, image);
	if (!img)
		return NULL;
	shale_id *layers;
	size_t n;
	shale_view *v = NULL;
	if (shale_image_layers(img, &layers, &n) == 0) {
		v = shale_view_open(s, layers, n);
		free(layers);
	}
	json_decref(img);
	return v;
}

void shale_view_close(shale_view *v)
{
	if (!v)
		return;
	free(v->layers);
	free(v);
}

shale_store *shale_view_store(shale_view *v)
{
	return v->s;
}

const shale_id *shale_view_chain(shale_view *v)
{
	return &v->chain;
}

uint64_t shale_view_inodes(shale_view *v)
{
	return v->inodes;
}

/* ---- queries ---- */

int shale_view_getattr(shale_view *v, uint64_t ino, shale_vattr *a)
{
	MDB_txn *txn = rtxn_begin(v->s);
	if (!txn)
		return -1;
	struct vrec r;
	int ret = get_vrec(v, txn, ino, &r);
	if (ret == 0)
		vattr_fill(ino, &r, a);
	rtxn_end(v->s, txn);
	return ret;
}

static int lookup_ino(shale_view *v, MDB_txn *txn, uint64_t parent, const char *name, size_t nl,
		      uint64_t *ino)
{
	uint8_t key[SHALE_ID_LEN + 8 + NAME_MAX + 1];
	if (nl == 0 || nl > NAME_MAX)
		return shale_err(nl ? ENAMETOOLONG : ENOENT, "invalid name");
	memcpy(key, v->chain.b, SHALE_ID_LEN);
	be64_put(key + SHALE_ID_LEN, parent);
	memcpy(key + SHALE_ID_LEN + 8, name, nl);
	MDB_val k = {SHALE_ID_LEN + 8 + nl, key}, val;
	int rc = mdb_get(txn, v->s->dbi[DB_VNAMES], &k, &val);
	if (rc)
		return rc == MDB_NOTFOUND ? shale_err(ENOENT, "no such file or directory: %.*s",
						      (int)nl, name)
					  : mdb_fail(rc, "view lookup");
	*ino = be64_get(val.mv_data);
	return 0;
}

int shale_view_lookup(shale_view *v, uint64_t parent, const char *name, shale_vattr *a)
{
	MDB_txn *txn = rtxn_begin(v->s);
	if (!txn)
		return -1;
	uint64_t ino;
	struct vrec r;
	int ret = lookup_ino(v, txn, parent, name, strlen(name), &ino);
	if (ret == 0 && (ret = get_vrec(v, txn, ino, &r)) == 0)
		vattr_fill(ino, &r, a);
	rtxn_end(v->s, txn);
	return ret;
}

int shale_view_readdir(shale_view *v, uint64_t dir, const char *after, shale_dir_fn fn, void *ctx)
{
	MDB_txn *txn = rtxn_begin(v->s);
	if (!txn)
		return -1;
	uint8_t key[SHALE_ID_LEN + 8 + NAME_MAX + 1];
	size_t pl = SHALE_ID_LEN + 8, al = after ? strlen(after) : 0;
	memcpy(key, v->chain.b, SHALE_ID_LEN);
	be64_put(key + SHALE_ID_LEN, dir);
	if (al > NAME_MAX)
		al = NAME_MAX;
	if (al)
		memcpy(key + pl, after, al);
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, v->s->dbi[DB_VNAMES], &c), ret = 0;
	if (rc) {
		rtxn_end(v->s, txn);
		return mdb_fail(rc, "cursor");
	}
	MDB_val k = {pl + al, key}, val;
	char name[NAME_MAX + 1];
	for (rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if (k.mv_size < pl || memcmp(k.mv_data, key, pl) != 0)
			break;
		size_t nl = k.mv_size - pl;
		if (after && nl == al && memcmp((uint8_t *)k.mv_data + pl, after, al) == 0)
			continue;
		memcpy(name, (uint8_t *)k.mv_data + pl, nl);
		name[nl] = 0;
		struct vrec r;
		shale_vattr a;
		uint64_t ino = be64_get(val.mv_data);
		if ((ret = get_vrec(v, txn, ino, &r)) < 0)
			break;
		vattr_fill(ino, &r, &a);
		if (fn(ctx, name, &a))
			break;
	}
	mdb_cursor_close(c);
	rtxn_end(v->s, txn);
	return ret;
}

int shale_view_entry(shale_view *v, uint64_t ino, shale_entry *e, void **buf)
{
	MDB_txn *txn = rtxn_begin(v->s);
	if (!txn)
		return -1;
	struct vrec r;
	int ret = get_vrec(v, txn, ino, &r);
	if (ret == 0 && (ret = entry_copy(&r.e, e, buf)) == 0)
		e->nlink = r.nlink;
	rtxn_end(v->s, txn);
	return ret;
}

int shale_view_names(shale_view *v, uint64_t ino, shale_name_fn fn, void *ctx)
{
	MDB_txn *txn = rtxn_begin(v->s);
	if (!txn)
		return -1;
	struct vrec r;
	int ret = get_vrec(v, txn, ino, &r);
	if (ret == 0 && ino != SHALE_ROOT_INO) {
		char name[NAME_MAX + 1];
		memcpy(name, r.name, r.name_len);
		name[r.name_len] = 0;
		ret = fn(ctx, r.parent, name);
		rbuf b = {.p = r.extra, .len = r.extra_len};
		for (uint32_t i = 0; ret == 0 && i < r.nextra; i++) {
			uint64_t parent = rb_u64(&b);
			uint16_t nl = rb_u16(&b);
			const uint8_t *n = rb_bytes(&b, nl);
			if (b.bad)
				break;
			memcpy(name, n, nl);
			name[nl] = 0;
			ret = fn(ctx, parent, name);
		}
	}
	rtxn_end(v->s, txn);
	return ret;
}

char *shale_view_path(shale_view *v, uint64_t ino)
{
	char buf[PATH_MAX];
	size_t pos = sizeof buf - 1;
	buf[pos] = 0;
	MDB_txn *txn = rtxn_begin(v->s);
	if (!txn)
		return NULL;
	for (int depth = 0; ino != SHALE_ROOT_INO && depth < PATH_MAX / 2; depth++) {
		struct vrec r;
		if (get_vrec(v, txn, ino, &r) < 0 ||
		    ((size_t)r.name_len + 1 > pos &&
		     shale_err(ENAMETOOLONG, "path of inode %llu too long", (unsigned long long)ino))) {
			rtxn_end(v->s, txn);
			return NULL;
		}
		pos -= r.name_len;
		memcpy(buf + pos, r.name, r.name_len);
		if (r.parent != SHALE_ROOT_INO)
			buf[--pos] = '/';
		ino = r.parent;
	}
	rtxn_end(v->s, txn);
	char *path = strdup(buf + pos);
	if (!path)
		shale_err(ENOMEM, "out of memory");
	return path;
}

static int resolve(shale_view *v, const char *path, bool follow_last, shale_vattr *out)
{
	MDB_txn *txn = rtxn_begin(v->s);
	if (!txn)
		return -1;
	char *work = malloc(2 * PATH_MAX), *p = work;
	if (!work) {
		rtxn_end(v->s, txn);
		return shale_err(ENOMEM, "out of memory resolving %s", path);
	}
	uint64_t cur = SHALE_ROOT_INO;
	int links = 0, ret = 0;
	snprintf(work, 2 * PATH_MAX, "%s", path);
	struct vrec r;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *end = strchr(p, '/');
		size_t nl = end ? (size_t)(end - p) : strlen(p);
		bool last = !end || !end[strspn(end, "/")];
		if (nl == 1 && p[0] == '.') {
			p += nl;
			continue;
		}
		if (nl == 2 && p[0] == '.' && p[1] == '.') {
			if ((ret = get_vrec(v, txn, cur, &r)) < 0)
				break;
			cur = r.parent; /* the root is its own parent: ".." never leaves the image */
			p += nl;
			continue;
		}
		if ((ret = get_vrec(v, txn, cur, &r)) < 0)
			break;
		if (r.e.type != SHALE_DIR) {
			ret = shale_err(ENOTDIR, "not a directory: %s", path);
			break;
		}
		uint64_t ino;
		if ((ret = lookup_ino(v, txn, cur, p, nl, &ino)) < 0) {
			shale_err(ENOENT, "no such file or directory: %s", path);
			break;
		}
		if ((ret = get_vrec(v, txn, ino, &r)) < 0)
			break;
		if (r.e.type == SHALE_LNK && (follow_last || !last)) {
			if (++links > MAX_SYMLINKS) {
				ret = shale_err(ELOOP, "too many levels of symbolic links: %s", path);
				break;
			}
			/* splice the target in front of what remains, inside the image */
			char *rest = strdup(p + nl);
			if (!rest) {
				ret = shale_err(ENOMEM, "out of memory resolving %s", path);
				break;
			}
			if (r.e.target_len + strlen(rest) + 2 >= 2 * PATH_MAX) {
				free(rest);
				ret = shale_err(ENAMETOOLONG, "path too long: %s", path);
				break;
			}
			snprintf(work, 2 * PATH_MAX, "%.*s/%s", (int)r.e.target_len, r.e.target, rest);
			free(rest);
			if (work[0] == '/')
				cur = SHALE_ROOT_INO;
			p = work;
			continue;
		}
		cur = ino;
		p += nl;
	}
	if (ret == 0 && (ret = get_vrec(v, txn, cur, &r)) == 0)
		vattr_fill(cur, &r, out);
	free(work);
	rtxn_end(v->s, txn);
	return ret;
}

int shale_view_resolve(shale_view *v, const char *path, shale_vattr *a)
{
	return resolve(v, path, false, a);
}

int shale_view_resolve_follow(shale_view *v, const char *path, shale_vattr *a)
{
	return resolve(v, path, true, a);
}

/* ---- walking the merged tree ---- */

struct vwalk {
	shale_view *v;
	shale_vwalk_fn fn;
	void *ctx;
	char path[PATH_MAX];
	int ret;
};

struct dirent_item {
	char *name;
	uint64_t ino;
};

struct collect {
	struct dirent_item *items;
	size_t n, cap;
};

static int collect_fn(void *ctx, const char *name, const shale_vattr *a)
{
	struct collect *c = ctx;
	if (c->n == c->cap)
		c->items = xrealloc(c->items, (c->cap = c->cap ? 2 * c->cap : 32) * sizeof *c->items);
	c->items[c->n].name = xstrdup(name);
	c->items[c->n].ino = a->ino;
	c->n++;
	return 0;
}

static int vwalk_node(struct vwalk *w, uint64_t ino, size_t plen)
{
	shale_vattr a;
	shale_entry e;
	void *buf = NULL;
	if (shale_view_getattr(w->v, ino, &a) < 0 || shale_view_entry(w->v, ino, &e, &buf) < 0)
		return -1;
	int r = w->fn(w->ctx, w->path, &a, &e);
	free(buf);
	if (r < 0)
		return -1;
	if (r != 0 || a.type != SHALE_DIR)
		return 0;
	/* Collect names before descending: no read transaction stays open across the
	 * callbacks, which may take their time. */
	struct collect c = {0};
	int ret = shale_view_readdir(w->v, ino, NULL, collect_fn, &c);
	for (size_t i = 0; i < c.n; i++) {
		if (ret == 0) {
			size_t clen = plen, nl = strlen(c.items[i].name);
			if (plen)
				w->path[clen++] = '/';
			if (clen + nl >= PATH_MAX) {
				ret = shale_err(ENAMETOOLONG, "path too long");
			} else {
				memcpy(w->path + clen, c.items[i].name, nl + 1);
				ret = vwalk_node(w, c.items[i].ino, clen + nl);
				w->path[plen] = 0;
			}
		}
		free(c.items[i].name);
	}
	free(c.items);
	return ret;
}

int shale_view_walk(shale_view *v, const char *start, shale_vwalk_fn fn, void *ctx)
{
	struct vwalk w = {.v = v, .fn = fn, .ctx = ctx};
	shale_vattr a;
	if (shale_view_resolve(v, start ? start : "", &a) < 0)
		return -1;
	if (path_normalize(start ? start : "", w.path, false) < 0)
		return -1;
	if (a.ino == SHALE_ROOT_INO)
		w.path[0] = 0;
	return vwalk_node(&w, a.ino, strlen(w.path));
}
