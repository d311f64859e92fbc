/* Private to the store library: LMDB handles, key layouts, codecs. */
#ifndef SHALE_STORE_INTERNAL_H
#define SHALE_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>

#include "store.h"

#define SHALE_FORMAT_VERSION 1
#define SECRET_LEN 192 /* XXH3 secrets must be >= 136 bytes */
#define STORE_MAP_SIZE (1ull << 40) /* virtual; the file grows as needed */
#define STORE_MAP_MIN (1ull << 30)  /* the smallest map tried under RLIMIT_AS */

/* The LMDB databases; docs/architecture.md lists their keys and values. */
enum db {
	DB_META,       /* "secret", "version" */
	DB_LAYERS,     /* layer id -> layer record */
	DB_ENTRIES,    /* layer id | dirhash(parent) | name -> entry */
	DB_OBJECTS,    /* object digest -> u64 size (inventory; GC is mark and sweep) */
	DB_CHUNKS,     /* chunk-list id -> u64 size | digests */
	DB_IMAGES,     /* image id -> image JSON */
	DB_TAGS,       /* "name:tag" -> image id */
	DB_VNAMES,     /* chain id | parent ino (BE) | name -> child ino (BE) | type */
	DB_VINODES,    /* chain id | ino (BE) -> view inode record */
	DB_CHAINS,     /* chain id -> chain record (index complete) */
	DB_STAGING,    /* staging id -> pid, started (an import in progress) */
	DB_CONTAINERS, /* container id -> JSON */
	DB_MOUNTS,     /* mountpoint -> JSON */
	DB_CACHE,      /* build cache key -> JSON */
	DB_BLOBS,      /* layer id or digest -> JSON (OCI digests of exported layers) */
	DB_COUNT
};

struct shale_store {
	char *root;
	char *objdir; /* root/objects */
	char *tmpdir; /* root/tmp */
	int objdir_fd;
	int lock_fd;
	int lock_state; /* 0 none, 1 shared, 2 exclusive */
	int lock_refs;
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	uint8_t secret[SECRET_LEN];
	pthread_key_t rtxn_key; /* per-thread cached read transaction */
};

/* ---- transactions ---- */
/* A short read transaction: per-thread, renewed (cheap) rather than created. */
MDB_txn *rtxn_begin(shale_store *s);
void rtxn_end(shale_store *s, MDB_txn *txn);
int wtxn_begin(shale_store *s, MDB_txn **txn);
int wtxn_commit(MDB_txn *txn);
int mdb_fail(int rc, const char *what); /* sets an error from an LMDB code */

/* ---- hashing (keyed with the store secret) ---- */
void hash_buf(const shale_store *s, const void *buf, size_t len, shale_id *out);
void dirhash(const shale_store *s, const char *dirpath, size_t len, shale_id *out);
typedef struct XXH3_state_s hash_state;
hash_state *hash_new(const shale_store *s);
void hash_update(hash_state *h, const void *buf, size_t len);
void hash_final(hash_state *h, shale_id *out);
void hash_free(hash_state *h);

/* ---- growable byte buffer ---- */
typedef struct sbuf {
	uint8_t *p;
	size_t len, cap;
} sbuf;
void sbuf_reserve(sbuf *b, size_t extra);
void sbuf_put(sbuf *b, const void *p, size_t n);
void sbuf_u8(sbuf *b, uint8_t v);
void sbuf_u16(sbuf *b, uint16_t v);
void sbuf_u32(sbuf *b, uint32_t v);
void sbuf_u64(sbuf *b, uint64_t v);
void sbuf_be64(sbuf *b, uint64_t v);
void sbuf_free(sbuf *b);

/* Bounds-checked reader. */
typedef struct rbuf {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
} rbuf;
uint8_t rb_u8(rbuf *r);
uint16_t rb_u16(rbuf *r);
uint32_t rb_u32(rbuf *r);
uint64_t rb_u64(rbuf *r);
const uint8_t *rb_bytes(rbuf *r, size_t n);
uint64_t be64_get(const uint8_t *p);
void be64_put(uint8_t *p, uint64_t v);

/* ---- entry codec ---- */
void entry_encode(sbuf *b, const shale_entry *e);
int entry_decode(const void *buf, size_t len, shale_entry *e);
/* Copy an entry so that it owns its pointers (one malloc in *buf); fails
 * only with ENOMEM (then *buf is untouched). */
int entry_copy(const shale_entry *src, shale_entry *dst, void **buf);

/* Entry keys: layer | dirhash(parent) | name. The root is zero-hash + "". */
#define ENTRY_KEY_MAX (2 * SHALE_ID_LEN + 256)
size_t entry_key(const shale_store *s, const shale_id *layer, const char *path, uint8_t *key);
size_t entry_dir_prefix(const shale_store *s, const shale_id *layer, const char *dirpath,
			size_t dirlen, uint8_t *key);

/* Validate and normalise a path inside an image ("./a//b/" -> "a/b"); rejects
 * "..", over-long names and paths. out must hold PATH_MAX bytes. */
int path_normalize(const char *in, char *out, bool allow_dotdot_reject);

/* ---- objects ---- */
/* Staged object writes: data goes to tmp files; shale_objects_flush makes the
 * whole batch durable with one syncfs, then renames into place. */
typedef struct objwriter objwriter;
objwriter *objw_new(shale_store *s);
void objw_free(objwriter *w);
int objw_put(objwriter *w, const void *data, size_t len, shale_id *digest);
int objw_flush(objwriter *w);
/* Record flushed objects in the caller's write txn *txnp when it is open. */
void objw_bind_txn(objwriter *w, MDB_txn **txnp);
uint64_t objw_new_bytes(const objwriter *w);
bool object_known(shale_store *s, MDB_txn *txn, const shale_id *d);
void object_relpath(const shale_id *d, char out[40]);

/* ---- chunk lists ---- */
int chunks_get(shale_store *s, MDB_txn *txn, const shale_id *id, shale_chunks *out);

/* ---- content writer internals used by the layer builder ---- */
objwriter *cw_objwriter(shale_content_writer *cw);
/* Chunk lists produced since the last take, to be stored with the layer. */
int cw_store_pending(shale_content_writer *cw, MDB_txn *txn);

/* ---- a set of ids (idset.c) ---- */
struct idset {
	shale_id *v;
	uint8_t *used; /* slot i holds v[i] */
	size_t n, cap;
};
bool idset_has(const struct idset *s, const shale_id *id);
bool idset_add(struct idset *s, const shale_id *id); /* false: already there */
void idset_free(struct idset *s);

/* ---- garbage collection (gc.c) ---- */
/* Sweep everything no image needs. Caller holds the exclusive lock. */
int gc_locked(shale_store *s, shale_prune_stats *st);
/* Delete every key of a database that starts with a prefix (in batches). */
int delete_by_prefix(shale_store *s, enum db db, const uint8_t *prefix, size_t plen);

/* ---- layers (layer.c) ---- */
/* Recompute a stored layer's digest from its entries (as the builder did):
 * *digest equals the id unless an entry changed; *n counts the entries. */
int layer_digest(shale_store *s, MDB_txn *txn, const shale_id *layer, shale_id *digest,
		 uint64_t *n, uint64_t *size);

/* ---- helpers ---- */
int mkdir_p(const char *path, mode_t mode);
bool pid_alive(pid_t pid);

/* Walk a stored layer tree (by any 16-byte key prefix: a layer or a staging id). */
int tree_walk(shale_store *s, MDB_txn *txn, const shale_id *prefix, const char *start,
	      shale_walk_fn fn, void *ctx);

/* The id of a layer chain (keys its view index). */
void chain_id(shale_store *s, const shale_id *layers, size_t n, shale_id *out);

/* Table DB for an enum shale_table. */
MDB_dbi table_dbi(shale_store *s, enum shale_table t);

/* Used by gc: the staging prefixes left by crashed imports. */
int entries_delete_prefix(shale_store *s, MDB_txn *txn, const shale_id *prefix);

#endif
