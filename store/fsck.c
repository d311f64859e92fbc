/* fsck: check everything the store holds against everything that refers to it.
 *
 * Order: layers (their entries rehashed against the layer id, content
 * references collected), chunk lists, objects (every referenced file rehashed),
 * images, tags, the component tables, view indexes. Errors are damage or
 * dangling references; leftovers are what an interrupted command left
 * unreferenced (prune would reclaim them). Everything runs under the exclusive
 * store lock, so no writer is between writing data and referring to it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define LAYER_RECORD_LEN 28 /* u32 version, u64 entries, u64 bytes, u64 created */

struct fsck {
	shale_store *s;
	bool repair;
	shale_fsck_fn report;
	void *ctx;
	shale_progress_fn progress;
	void *pctx;
	shale_progress prog;
	shale_fsck_stats *st;
	struct idset layers;  /* layer records */
	struct idset used;    /* layers some image uses */
	struct idset objs;    /* objects entries and chunk lists refer to */
	struct idset lists;   /* chunk lists entries refer to */
	struct idset recorded; /* object records */
	struct idset bad;     /* objects and chunk lists missing or damaged */
	struct idset images;  /* image records */
	struct idset chains;  /* chains of images */
	uint8_t *buf;         /* objects are read through it (FSCK_BUF bytes) */
};

/* On the heap, not thread-local: a static TLS buffer is in every thread of
 * every program linking the store, FUSE workers included. */
#define FSCK_BUF (1u << 20)

static void say(struct fsck *f, enum shale_fsck_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct fsck *f, enum shale_fsck_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (kind == SHALE_FSCK_ERROR)
		f->st->errors++;
	else if (kind == SHALE_FSCK_LEFTOVER)
		f->st->leftovers++;
	else
		f->st->repaired++;
	if (f->report)
		f->report(f->ctx, kind, msg);
	free(msg);
}

static const char *hex12(const shale_id *id, char out[SHALE_ID_HEX])
{
	shale_id_hex(id, out);
	out[12] = 0;
	return out;
}

static void tick(struct fsck *f, uint64_t entries, uint64_t bytes)
{
	f->prog.entries += entries;
	f->prog.bytes += bytes;
	if (f->progress)
		f->progress(f->pctx, &f->prog);
}

/* ---- layers and their entries ---- */

/* The content an entry refers to must be recorded; collect it. */
static void mark_content(struct fsck *f, MDB_txn *txn, const shale_id *layer, const shale_entry *e)
{
	if (e->type != SHALE_REG || e->size == 0 || (e->flags & SHALE_F_INLINE))
		return;
	char l[SHALE_ID_HEX], c[SHALE_ID_HEX];
	if (!(e->flags & SHALE_F_CHUNKED)) {
		if (shale_id_is_zero(&e->content))
			return; /* one all-zero chunk: a hole */
		idset_add(&f->objs, &e->content);
		return;
	}
	if (!idset_add(&f->lists, &e->content))
		return;
	shale_chunks ch;
	if (chunks_get(f->s, txn, &e->content, &ch) < 0) {
		say(f, SHALE_FSCK_ERROR, "layer %s: chunk list %s: %s", hex12(layer, l),
		    hex12(&e->content, c), shale_errmsg());
		idset_add(&f->bad, &e->content);
		return;
	}
	uint64_t want = (e->size + SHALE_CHUNK_SIZE - 1) / SHALE_CHUNK_SIZE;
	if (ch.size != e->size || ch.count != want) {
		say(f, SHALE_FSCK_ERROR, "chunk list %s: %llu chunks of a %llu-byte file, expected %llu",
		    hex12(&e->content, c), (unsigned long long)ch.count,
		    (unsigned long long)ch.size, (unsigned long long)want);
		idset_add(&f->bad, &e->content);
	}
	for (uint64_t i = 0; i < ch.count; i++)
		if (!shale_id_is_zero(&ch.digests[i]))
			idset_add(&f->objs, &ch.digests[i]);
	free(ch.digests);
	f->st->chunk_lists++;
}

/* Every key under the layer decodes; returns how many there are. */
static uint64_t scan_entries(struct fsck *f, MDB_txn *txn, const shale_id *layer)
{
	MDB_cursor *c;
	uint64_t n = 0, bad = 0;
	if (mdb_cursor_open(txn, f->s->dbi[DB_ENTRIES], &c))
		return 0;
	MDB_val k = {SHALE_ID_LEN, (void *)layer->b}, v;
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 2 * SHALE_ID_LEN || memcmp(k.mv_data, layer->b, SHALE_ID_LEN))
			break;
		shale_entry e;
		n++;
		if (entry_decode(v.mv_data, v.mv_size, &e) < 0) {
			bad++;
			continue;
		}
		mark_content(f, txn, layer, &e);
	}
	mdb_cursor_close(c);
	if (bad) {
		char l[SHALE_ID_HEX];
		say(f, SHALE_FSCK_ERROR, "layer %s: %llu corrupt entry records", hex12(layer, l),
		    (unsigned long long)bad);
	}
	tick(f, n, 0);
	return n;
}

static void check_layer(struct fsck *f, MDB_txn *txn, const shale_id *id, const MDB_val *rec)
{
	char l[SHALE_ID_HEX];
	hex12(id, l);
	uint64_t recorded = 0;
	if (rec->mv_size != LAYER_RECORD_LEN)
		say(f, SHALE_FSCK_ERROR, "layer %s: corrupt layer record (%zu bytes)", l, rec->mv_size);
	else
		memcpy(&recorded, (const uint8_t *)rec->mv_data + 4, 8); /* LE, as the host */
	uint64_t keys = scan_entries(f, txn, id), walked = 0, size = 0;
	shale_id digest;
	if (layer_digest(f->s, txn, id, &digest, &walked, &size) < 0) {
		say(f, SHALE_FSCK_ERROR, "layer %s: cannot walk its tree: %s", l, shale_errmsg());
		return;
	}
	if (shale_id_cmp(&digest, id))
		say(f, SHALE_FSCK_ERROR, "layer %s: its entries do not hash to its id (records changed)", l);
	else if (keys != walked)
		say(f, SHALE_FSCK_ERROR, "layer %s: %llu entries stored, %llu reachable from its root", l,
		    (unsigned long long)keys, (unsigned long long)walked);
	else if (rec->mv_size == LAYER_RECORD_LEN && recorded != walked)
		say(f, SHALE_FSCK_ERROR, "layer %s: record says %llu entries, the tree has %llu", l,
		    (unsigned long long)recorded, (unsigned long long)walked);
	f->st->entries += keys;
}

static int check_layers(struct fsck *f)
{
	MDB_txn *txn = rtxn_begin(f->s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	mdb_cursor_open(txn, f->s->dbi[DB_LAYERS], &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != SHALE_ID_LEN) {
			say(f, SHALE_FSCK_ERROR, "layers: a key of %zu bytes", k.mv_size);
			continue;
		}
		shale_id id;
		memcpy(id.b, k.mv_data, SHALE_ID_LEN);
		idset_add(&f->layers, &id);
		check_layer(f, txn, &id, &v);
		f->st->layers++;
	}
	mdb_cursor_close(c);
	rtxn_end(f->s, txn);
	return 0;
}

/* Entries under a prefix that is no layer: an import that did not finish. */
static int check_orphan_entries(struct fsck *f)
{
	MDB_txn *txn = rtxn_begin(f->s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	mdb_cursor_open(txn, f->s->dbi[DB_ENTRIES], &c);
	int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0 && k.mv_size >= SHALE_ID_LEN) {
		shale_id p;
		memcpy(p.b, k.mv_data, SHALE_ID_LEN);
		if (!idset_has(&f->layers, &p)) {
			char h[SHALE_ID_HEX];
			say(f, SHALE_FSCK_LEFTOVER, "entries under %s: no layer record (an interrupted import)",
			    hex12(&p, h));
		}
		/* jump to the next prefix */
		uint8_t next[SHALE_ID_LEN];
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
	MDB_stat ms;
	if (mdb_stat(txn, f->s->dbi[DB_STAGING], &ms) == 0 && ms.ms_entries)
		say(f, SHALE_FSCK_LEFTOVER, "%zu staging records of interrupted imports", ms.ms_entries);
	rtxn_end(f->s, txn);
	return 0;
}

/* ---- chunk lists and objects ---- */

static int check_lists(struct fsck *f)
{
	MDB_txn *txn = rtxn_begin(f->s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t unused = 0;
	mdb_cursor_open(txn, f->s->dbi[DB_CHUNKS], &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		shale_id id = {{0}};
		if (k.mv_size == SHALE_ID_LEN)
			memcpy(id.b, k.mv_data, SHALE_ID_LEN);
		if (k.mv_size != SHALE_ID_LEN || !idset_has(&f->lists, &id))
			unused++;
	}
	mdb_cursor_close(c);
	rtxn_end(f->s, txn);
	if (unused)
		say(f, SHALE_FSCK_LEFTOVER, "%llu chunk lists no layer refers to",
		    (unsigned long long)unused);
	return 0;
}

/* Rehash an object file; 0 if it is whole, else a message. */
static const char *verify_object(struct fsck *f, const shale_id *d, uint64_t size, bool *missing)
{
	char rel[40];
	object_relpath(d, rel);
	*missing = false;
	int fd = openat(f->s->objdir_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*missing = errno == ENOENT;
		return *missing ? "file missing" : "cannot be opened";
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return "not a regular file";
	}
	if ((uint64_t)st.st_size != size) {
		close(fd);
		return "wrong size";
	}
	hash_state *h = hash_new(f->s);
	ssize_t n;
	uint64_t got = 0;
	while ((n = read(fd, f->buf, FSCK_BUF)) > 0) {
		hash_update(h, f->buf, (size_t)n);
		got += (uint64_t)n;
		tick(f, 0, (uint64_t)n);
	}
	close(fd);
	shale_id real;
	hash_final(h, &real);
	hash_free(h);
	if (n < 0)
		return "read error";
	if (got != size || shale_id_cmp(&real, d))
		return "content does not match its digest";
	return NULL;
}

struct objrec {
	shale_id d;
	uint64_t size;
};

static int check_objects(struct fsck *f)
{
	/* the records first (no transaction held while reading files) */
	struct objrec *recs = NULL;
	size_t n = 0, cap = 0;
	MDB_txn *txn = rtxn_begin(f->s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	mdb_cursor_open(txn, f->s->dbi[DB_OBJECTS], &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != SHALE_ID_LEN || v.mv_size != 8) {
			say(f, SHALE_FSCK_ERROR, "objects: a corrupt record");
			continue;
		}
		if (n == cap)
			recs = xrealloc(recs, (cap = cap ? 2 * cap : 1024) * sizeof *recs);
		memcpy(recs[n].d.b, k.mv_data, SHALE_ID_LEN);
		recs[n].size = be64_get(v.mv_data);
		n++;
	}
	mdb_cursor_close(c);
	rtxn_end(f->s, txn);

	uint64_t unused = 0;
	for (size_t i = 0; i < n; i++) {
		idset_add(&f->recorded, &recs[i].d);
		if (!idset_has(&f->objs, &recs[i].d)) {
			unused++;
			continue;
		}
		bool missing;
		const char *why = verify_object(f, &recs[i].d, recs[i].size, &missing);
		char h[SHALE_ID_HEX];
		shale_id_hex(&recs[i].d, h);
		if (why) {
			say(f, SHALE_FSCK_ERROR, "object %s: %s", h, why);
			idset_add(&f->bad, &recs[i].d);
		}
		f->st->objects++;
		f->st->object_bytes += recs[i].size;
	}
	free(recs);
	if (unused)
		say(f, SHALE_FSCK_LEFTOVER, "%llu object records no layer refers to",
		    (unsigned long long)unused);

	/* referenced but never recorded: restore the record if the file is whole */
	for (size_t i = 0; i < f->objs.cap; i++) {
		if (!f->objs.used[i] || idset_has(&f->recorded, &f->objs.v[i]))
			continue;
		const shale_id *d = &f->objs.v[i];
		char h[SHALE_ID_HEX], rel[40];
		shale_id_hex(d, h);
		object_relpath(d, rel);
		struct stat st;
		bool missing;
		const char *why = fstatat(f->s->objdir_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0
					  ? "file missing"
					  : verify_object(f, d, (uint64_t)st.st_size, &missing);
		if (why) {
			say(f, SHALE_FSCK_ERROR, "object %s: referenced, not recorded, %s", h, why);
			idset_add(&f->bad, d);
			continue;
		}
		say(f, SHALE_FSCK_ERROR, "object %s: referenced but not recorded", h);
		if (f->repair) {
			MDB_txn *w;
			uint8_t be[8];
			be64_put(be, (uint64_t)st.st_size);
			MDB_val kk = {SHALE_ID_LEN, (void *)d->b}, vv = {8, be};
			if (wtxn_begin(f->s, &w) == 0 && mdb_put(w, f->s->dbi[DB_OBJECTS], &kk, &vv, 0) == 0 &&
			    wtxn_commit(w) == 0) {
				say(f, SHALE_FSCK_REPAIRED, "object %s: record restored", h);
				f->st->errors--;
			}
		}
		f->st->objects++;
	}
	return 0;
}

/* Object files that no record names, and temp files of crashed writers. */
static void check_object_files(struct fsck *f)
{
	DIR *top = fdopendir(dup(f->s->objdir_fd));
	if (!top)
		return;
	rewinddir(top);
	uint64_t temps = 0, orphans = 0, strange = 0;
	struct dirent *d;
	while ((d = readdir(top))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (!strncmp(d->d_name, ".t-", 3)) {
			temps++;
			continue;
		}
		int sfd = strlen(d->d_name) == 2
				  ? openat(f->s->objdir_fd, d->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
				  : -1;
		DIR *sub = sfd >= 0 ? fdopendir(sfd) : NULL;
		if (!sub) {
			if (sfd >= 0)
				close(sfd);
			strange++;
			continue;
		}
		struct dirent *o;
		while ((o = readdir(sub))) {
			if (!strcmp(o->d_name, ".") || !strcmp(o->d_name, ".."))
				continue;
			char hex[SHALE_ID_HEX];
			shale_id id;
			bool named = strlen(o->d_name) == 30;
			if (named) {
				memcpy(hex, d->d_name, 2);
				memcpy(hex + 2, o->d_name, 31);
			}
			if (!named || shale_id_parse(hex, &id) < 0)
				strange++;
			else if (!idset_has(&f->recorded, &id) && !idset_has(&f->objs, &id))
				orphans++;
		}
		closedir(sub);
	}
	closedir(top);
	if (temps)
		say(f, SHALE_FSCK_LEFTOVER, "%llu temporary object files of interrupted writers",
		    (unsigned long long)temps);
	if (orphans)
		say(f, SHALE_FSCK_LEFTOVER, "%llu object files without a record",
		    (unsigned long long)orphans);
	if (strange)
		say(f, SHALE_FSCK_ERROR, "%llu files in objects/ that are not objects",
		    (unsigned long long)strange);
}

/* With damaged objects, name the layers that need them. */
struct damage {
	struct fsck *f;
	bool hit;
	MDB_txn *txn;
};

static int damage_entry(void *ctx, const char *path, const shale_entry *e)
{
	struct damage *d = ctx;
	if (e->type != SHALE_REG || e->size == 0 || (e->flags & SHALE_F_INLINE))
		return 0;
	if (idset_has(&d->f->bad, &e->content)) {
		d->hit = true;
		return -1;
	}
	if (e->flags & SHALE_F_CHUNKED) {
		shale_chunks ch;
		if (chunks_get(d->f->s, d->txn, &e->content, &ch) < 0)
			return 0;
		for (uint64_t i = 0; i < ch.count && !d->hit; i++)
			d->hit = idset_has(&d->f->bad, &ch.digests[i]);
		free(ch.digests);
	}
	return d->hit ? -1 : 0;
}

static void report_damaged_layers(struct fsck *f)
{
	if (!f->bad.n)
		return;
	MDB_txn *txn = rtxn_begin(f->s);
	if (!txn)
		return;
	for (size_t i = 0; i < f->layers.cap; i++) {
		if (!f->layers.used[i])
			continue;
		struct damage d = {.f = f, .txn = txn};
		tree_walk(f->s, txn, &f->layers.v[i], "", damage_entry, &d);
		if (d.hit) {
			char h[SHALE_ID_HEX];
			say(f, SHALE_FSCK_ERROR, "layer %s: some of its file contents are damaged",
			    hex12(&f->layers.v[i], h));
			idset_add(&f->bad, &f->layers.v[i]);
		}
	}
	rtxn_end(f->s, txn);
}

/* ---- images and tags ---- */

static int check_images(struct fsck *f)
{
	MDB_txn *txn = rtxn_begin(f->s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	mdb_cursor_open(txn, f->s->dbi[DB_IMAGES], &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != SHALE_ID_LEN) {
			say(f, SHALE_FSCK_ERROR, "images: a key of %zu bytes", k.mv_size);
			continue;
		}
		shale_id id, real;
		char h[SHALE_ID_HEX];
		memcpy(id.b, k.mv_data, SHALE_ID_LEN);
		hex12(&id, h);
		idset_add(&f->images, &id);
		f->st->images++;
		hash_buf(f->s, v.mv_data, v.mv_size, &real);
		if (shale_id_cmp(&real, &id)) {
			say(f, SHALE_FSCK_ERROR, "image %s: record does not match its id (changed)", h);
			continue;
		}
		json_t *img = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		shale_id *layers;
		size_t n;
		if (!img || shale_image_layers(img, &layers, &n) < 0) {
			say(f, SHALE_FSCK_ERROR, "image %s: corrupt record", h);
			json_decref(img);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			char lh[SHALE_ID_HEX];
			idset_add(&f->used, &layers[i]);
			if (!idset_has(&f->layers, &layers[i]))
				say(f, SHALE_FSCK_ERROR, "image %s: layer %s is missing", h,
				    hex12(&layers[i], lh));
			else if (idset_has(&f->bad, &layers[i]))
				say(f, SHALE_FSCK_ERROR, "image %s: layer %s is damaged", h,
				    hex12(&layers[i], lh));
		}
		shale_id cid;
		chain_id(f->s, layers, n, &cid);
		idset_add(&f->chains, &cid);
		free(layers);
		json_decref(img);
	}
	mdb_cursor_close(c);
	rtxn_end(f->s, txn);
	uint64_t unused = 0;
	for (size_t i = 0; i < f->layers.cap; i++)
		if (f->layers.used[i] && !idset_has(&f->used, &f->layers.v[i]))
			unused++;
	if (unused)
		say(f, SHALE_FSCK_LEFTOVER, "%llu layers no image uses", (unsigned long long)unused);
	return 0;
}

/* Delete one string-keyed record (repairs). */
static bool drop_record(struct fsck *f, MDB_dbi dbi, const char *key)
{
	MDB_txn *w;
	MDB_val k = {strlen(key), (void *)key};
	if (wtxn_begin(f->s, &w) < 0)
		return false;
	int rc = mdb_del(w, dbi, &k, NULL);
	if (rc && rc != MDB_NOTFOUND) {
		mdb_txn_abort(w);
		return false;
	}
	return wtxn_commit(w) == 0;
}

static int check_tags(struct fsck *f)
{
	MDB_txn *txn = rtxn_begin(f->s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0, cap = 0;
	char **dangling = NULL;
	mdb_cursor_open(txn, f->s->dbi[DB_TAGS], &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char *ref = xstrndup(k.mv_data, k.mv_size), norm[512];
		shale_id id = {{0}};
		f->st->tags++;
		if (v.mv_size == SHALE_ID_LEN)
			memcpy(id.b, v.mv_data, SHALE_ID_LEN);
		if (shale_ref_normalize(ref, norm, sizeof norm) < 0 || strcmp(norm, ref))
			say(f, SHALE_FSCK_ERROR, "tag '%s': not a valid reference", ref);
		if (v.mv_size != SHALE_ID_LEN || !idset_has(&f->images, &id)) {
			say(f, SHALE_FSCK_ERROR, "tag %s: its image is missing", ref);
			if (n == cap)
				dangling = xrealloc(dangling, (cap = cap ? 2 * cap : 8) * sizeof *dangling);
			dangling[n++] = ref;
			continue;
		}
		free(ref);
	}
	mdb_cursor_close(c);
	rtxn_end(f->s, txn);
	for (size_t i = 0; i < n; i++) {
		if (f->repair && drop_record(f, f->s->dbi[DB_TAGS], dangling[i])) {
			say(f, SHALE_FSCK_REPAIRED, "tag %s: removed", dangling[i]);
			f->st->errors--;
		}
		free(dangling[i]);
	}
	free(dangling);
	return 0;
}

/* ---- containers, mounts, build cache ---- */

struct table_check {
	struct fsck *f;
	enum shale_table t;
	const char *what;
	char **drop; /* keys to remove on repair */
	size_t n, cap;
};

static bool image_ok(struct fsck *f, json_t *j)
{
	shale_id id;
	const char *hex = json_string_value(j);
	return hex && shale_id_parse(hex, &id) == 0 && idset_has(&f->images, &id);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int check_record(void *ctx, const char *key, json_t *val)
{
	struct table_check *tc = ctx;
	struct fsck *f = tc->f;
	f->st->records++;
	if (!json_is_object(val)) {
		say(f, SHALE_FSCK_ERROR, "%s %s: corrupt record", tc->what, key);
		return 0;
	}
	bool ok = true;
	if (!image_ok(f, json_object_get(val, "image"))) {
		say(f, SHALE_FSCK_ERROR, "%s %s: its image is missing", tc->what, key);
		ok = false;
	}
	if (tc->t == SHALE_T_CONTAINERS) {
		const char *up = json_string_value(json_object_get(val, "upper"));
		if (!is_dir(up))
			say(f, SHALE_FSCK_ERROR, "container %s: upper directory %s is missing", key,
			    up ? up : "(none)");
	}
	/* a build cache record that names nothing is useless: drop it */
	if (!ok && tc->t == SHALE_T_CACHE) {
		if (tc->n == tc->cap)
			tc->drop = xrealloc(tc->drop, (tc->cap = tc->cap ? 2 * tc->cap : 8) * sizeof *tc->drop);
		tc->drop[tc->n++] = xstrdup(key);
	}
	return 0;
}

static int check_tables(struct fsck *f)
{
	static const struct {
		enum shale_table t;
		const char *what;
	} tables[] = {{SHALE_T_CONTAINERS, "container"}, {SHALE_T_MOUNTS, "mount"},
		      {SHALE_T_CACHE, "build cache record"}};
	for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
		struct table_check tc = {.f = f, .t = tables[i].t, .what = tables[i].what};
		int r = shale_table_foreach(f->s, tc.t, check_record, &tc);
		for (size_t j = 0; j < tc.n; j++) {
			if (f->repair && drop_record(f, table_dbi(f->s, tc.t), tc.drop[j])) {
				say(f, SHALE_FSCK_REPAIRED, "%s %s: removed", tc.what, tc.drop[j]);
				f->st->errors--;
			}
			free(tc.drop[j]);
		}
		free(tc.drop);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Directories under containers/ that no container record names: a `shale rm`
 * or a create that was interrupted. */
struct names {
	char **v;
	size_t n, cap;
};

static int collect_key(void *ctx, const char *key, json_t *val)
{
	struct names *l = ctx;
	if (l->n == l->cap)
		l->v = xrealloc(l->v, (l->cap = l->cap ? 2 * l->cap : 16) * sizeof *l->v);
	l->v[l->n++] = xstrdup(key);
	return 0;
}

static bool has_name(const struct names *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], name))
			return true;
	return false;
}

static void check_container_dirs(struct fsck *f)
{
	char *dir = xasprintf("%s/containers", f->s->root);
	DIR *d = opendir(dir);
	struct names known = {0};
	if (d && shale_table_foreach(f->s, SHALE_T_CONTAINERS, collect_key, &known) == 0) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || has_name(&known, de->d_name))
				continue;
			struct stat st;
			char *p = xasprintf("%s/%s", dir, de->d_name);
			/* a container being made has its directory a moment before its record */
			bool old = stat(p, &st) == 0 && st.st_mtime < time(NULL) - 60;
			say(f, SHALE_FSCK_LEFTOVER, "container directory %s: no container record", p);
			if (f->repair && old) {
				char *cmd = xasprintf("rm -rf -- '%s'", p);
				if (system(cmd) == 0)
					say(f, SHALE_FSCK_REPAIRED, "container directory %s: removed", p);
				free(cmd);
			}
			free(p);
		}
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < known.n; i++)
		free(known.v[i]);
	free(known.v);
	free(dir);
}

/* ---- view indexes ---- */

static uint64_t count_prefix(MDB_txn *txn, MDB_dbi dbi, const shale_id *prefix)
{
	MDB_cursor *c;
	uint64_t n = 0;
	if (mdb_cursor_open(txn, dbi, &c))
		return 0;
	MDB_val k = {SHALE_ID_LEN, (void *)prefix->b}, v;
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size >= SHALE_ID_LEN && !memcmp(k.mv_data, prefix->b, SHALE_ID_LEN);
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		n++;
	mdb_cursor_close(c);
	return n;
}

static int drop_index(struct fsck *f, const shale_id *chain)
{
	/* the chain record first: an index without it is rebuilt */
	return delete_by_prefix(f->s, DB_CHAINS, chain->b, SHALE_ID_LEN) < 0 ||
			       delete_by_prefix(f->s, DB_VINODES, chain->b, SHALE_ID_LEN) < 0 ||
			       delete_by_prefix(f->s, DB_VNAMES, chain->b, SHALE_ID_LEN) < 0
		       ? -1
		       : 0;
}

static int check_views(struct fsck *f)
{
	MDB_txn *txn = rtxn_begin(f->s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	struct idset damaged = {0};
	uint64_t unused = 0;
	mdb_cursor_open(txn, f->s->dbi[DB_CHAINS], &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		shale_id id = {{0}};
		if (k.mv_size == SHALE_ID_LEN)
			memcpy(id.b, k.mv_data, SHALE_ID_LEN);
		if (!idset_has(&f->chains, &id)) {
			unused++;
			continue;
		}
		uint64_t want = v.mv_size == 16 ? be64_get((const uint8_t *)v.mv_data + 8) : 0;
		uint64_t have = count_prefix(txn, f->s->dbi[DB_VINODES], &id);
		if (v.mv_size != 16 || want != have) {
			char h[SHALE_ID_HEX];
			say(f, SHALE_FSCK_ERROR, "view index %s: %llu inodes recorded, %llu stored",
			    hex12(&id, h), (unsigned long long)want, (unsigned long long)have);
			idset_add(&damaged, &id);
		}
	}
	mdb_cursor_close(c);
	rtxn_end(f->s, txn);
	if (unused)
		say(f, SHALE_FSCK_LEFTOVER, "%llu view indexes of chains no image uses",
		    (unsigned long long)unused);
	for (size_t i = 0; f->repair && i < damaged.cap; i++) {
		char h[SHALE_ID_HEX];
		if (damaged.used[i] && drop_index(f, &damaged.v[i]) == 0) {
			say(f, SHALE_FSCK_REPAIRED, "view index %s: dropped (rebuilt when next used)",
			    hex12(&damaged.v[i], h));
			f->st->errors--;
		}
	}
	idset_free(&damaged);
	return 0;
}

static int check_meta(struct fsck *f)
{
	MDB_txn *txn = rtxn_begin(f->s);
	if (!txn)
		return -1;
	MDB_val k = {6, "secret"}, v;
	if (mdb_get(txn, f->s->dbi[DB_META], &k, &v) || v.mv_size != SECRET_LEN)
		say(f, SHALE_FSCK_ERROR, "meta: the store secret is missing or damaged");
	k = (MDB_val){7, "version"};
	if (mdb_get(txn, f->s->dbi[DB_META], &k, &v) || v.mv_size != 4 ||
	    memcmp(v.mv_data, &(uint32_t){SHALE_FORMAT_VERSION}, 4))
		say(f, SHALE_FSCK_ERROR, "meta: the format version is missing or unknown");
	rtxn_end(f->s, txn);
	return 0;
}

int shale_fsck(shale_store *s, bool repair, shale_fsck_fn report, void *ctx,
	       shale_progress_fn progress, void *pctx, shale_fsck_stats *st)
{
	memset(st, 0, sizeof *st);
	struct fsck f = {.s = s, .repair = repair, .report = report, .ctx = ctx,
			 .progress = progress, .pctx = pctx, .st = st};
	if (!(f.buf = malloc(FSCK_BUF)))
		return shale_err(ENOMEM, "fsck: out of memory");
	if (shale_lock_exclusive(s, true) < 0) {
		free(f.buf);
		return -1;
	}
	int ret = -1;
	if (check_meta(&f) < 0 || check_layers(&f) < 0 || check_orphan_entries(&f) < 0 ||
	    check_lists(&f) < 0 || check_objects(&f) < 0)
		goto out;
	check_object_files(&f);
	report_damaged_layers(&f);
	if (check_images(&f) < 0 || check_tags(&f) < 0 || check_tables(&f) < 0 ||
	    check_views(&f) < 0)
		goto out;
	check_container_dirs(&f);
	if (repair && st->leftovers) {
		shale_prune_stats ps = {0};
		if (gc_locked(s, &ps) < 0)
			goto out;
		say(&f, SHALE_FSCK_REPAIRED,
		    "leftovers swept: %llu layers, %llu objects (%llu bytes), %llu view indexes",
		    (unsigned long long)ps.layers, (unsigned long long)ps.objects,
		    (unsigned long long)ps.bytes, (unsigned long long)ps.indexes);
	}
	ret = 0;
out:
	shale_unlock(s);
	idset_free(&f.layers);
	idset_free(&f.used);
	idset_free(&f.objs);
	idset_free(&f.lists);
	idset_free(&f.recorded);
	idset_free(&f.bad);
	idset_free(&f.images);
	idset_free(&f.chains);
	free(f.buf);
	return ret;
}
