/* shale image store: the one public header of the store library.
 *
 * Immutable, content-addressed layers with all metadata in LMDB; file content in
 * deduplicated objects. docs/architecture.md describes the on-disk format.
 *
 * Conventions: functions return 0 on success and -1 on failure, with a message
 * for the user in shale_errmsg() and a classification in shale_errcode()
 * (an errno value: ENOENT for "no such image/path", EINVAL for bad input...).
 * Paths inside an image are relative, without a leading slash ("" is the root). */
#ifndef SHALE_STORE_H
#define SHALE_STORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

/* ---- errors ------------------------------------------------------------ */
const char *shale_errmsg(void);
int shale_errcode(void);
/* Set the current error (printf-style); always returns -1. */
int shale_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current error message with context ("importing x: ..."). */
int shale_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- allocation that never fails: out of memory aborts with a message ----
 * For the commands. What the FUSE daemon calls on its requests (views,
 * entries, chunk lists, objects, read transactions) allocates with malloc
 * and fails with ENOMEM instead. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* ---- opening paths that must not escape a directory ---------------------- */
/* openat2(2) with RESOLVE flags, retried while the kernel answers EAGAIN (it does
 * when a rename or mount anywhere raced with resolving ".."). Returns an fd, or
 * -1 with errno set (ENOSYS on kernels before 5.6). */
int openat_resolve(int dirfd, const char *path, uint64_t flags, uint64_t resolve);

/* ---- ids ---------------------------------------------------------------- */
#define SHALE_ID_LEN 16
#define SHALE_ID_HEX 33 /* 32 hex digits + NUL */
typedef struct { uint8_t b[SHALE_ID_LEN]; } shale_id;

void shale_id_hex(const shale_id *id, char out[SHALE_ID_HEX]);
int shale_id_parse(const char *hex, shale_id *out); /* exactly 32 hex digits */
bool shale_id_is_zero(const shale_id *id);
int shale_id_cmp(const shale_id *a, const shale_id *b);

/* ---- store ---------------------------------------------------------------- */
typedef struct shale_store shale_store;

/* The store root: --root, else $SHALE_ROOT, else /var/lib/shale for root,
 * else $XDG_DATA_HOME/shale (~/.local/share/shale). Result is malloc'd. */
char *shale_default_root(void);

/* Create a store (idempotent: an existing store is left as it is). */
int shale_init(const char *root);
/* Open an existing store; fails with ENOENT if `shale init` was never run. */
shale_store *shale_open(const char *root);
/* Open, initialising the store first if it does not exist yet. */
shale_store *shale_open_or_init(const char *root);
void shale_close(shale_store *s);
const char *shale_root(const shale_store *s);

/* Writers (import, commit, build, pull) hold the store's GC lock shared;
 * prune holds it exclusive so it never sweeps objects a writer is about to use. */
int shale_lock_shared(shale_store *s);
int shale_lock_exclusive(shale_store *s, bool wait);
void shale_unlock(shale_store *s);

/* ---- entries ---------------------------------------------------------------- */
enum shale_type {
	SHALE_REG = 1,
	SHALE_DIR,
	SHALE_LNK,
	SHALE_CHR,
	SHALE_BLK,
	SHALE_FIFO,
	SHALE_SOCK,
	SHALE_WHITEOUT, /* hides the same name in lower layers (OCI .wh.NAME) */
};

enum shale_entry_flags {
	SHALE_F_OPAQUE = 1u << 0,   /* directory hides everything below it (OCI .wh..wh..opq) */
	SHALE_F_INLINE = 1u << 1,   /* content stored in the entry itself */
	SHALE_F_CHUNKED = 1u << 2,  /* content is a chunk list, else one object */
	SHALE_F_IMPLICIT = 1u << 3, /* directory created for a child, not named by the source */
};

/* Files up to this size live inside their entry (no object). */
#define SHALE_INLINE_MAX 1024u
/* Larger files are split into chunks of this size: one FUSE request (256 pages)
 * touches at most two chunks, and a small write copies up one chunk. */
#define SHALE_CHUNK_SIZE (1u << 20)

/* A decoded entry. Pointer members point into the record they were decoded from
 * (an LMDB value or a copy); they stay valid as long as that memory does. */
typedef struct shale_entry {
	uint8_t type;   /* enum shale_type */
	uint8_t flags;  /* enum shale_entry_flags */
	uint32_t mode;  /* permission bits, including setuid/setgid/sticky (07777) */
	uint32_t uid, gid;
	uint64_t size;  /* regular files: content length; symlinks: target length */
	struct timespec mtime, ctime;
	uint64_t rdev;        /* devices */
	uint64_t link_group;  /* hardlink identity within the layer, 0 = none */
	uint32_t nlink;       /* names of this inode within the layer */
	shale_id content;     /* object digest, or chunk-list id with SHALE_F_CHUNKED */
	const uint8_t *data;  /* inline content (SHALE_F_INLINE) */
	uint32_t data_len;
	const char *target;   /* symlink target, not NUL-terminated */
	uint32_t target_len;
	const uint8_t *xattrs; /* encoded xattrs, iterate with shale_xattr_next */
	uint32_t xattrs_len;
} shale_entry;

/* Iterate encoded xattrs: *pos starts at 0; returns false at the end. */
bool shale_xattr_next(const uint8_t *buf, uint32_t len, uint32_t *pos, const char **name,
		      uint32_t *name_len, const uint8_t **value, uint32_t *value_len);
/* Find one xattr by name; returns false if absent. */
bool shale_xattr_get(const shale_entry *e, const char *name, const uint8_t **value,
		     uint32_t *value_len);

/* Type letter as in ls -l ('-', 'd', 'l', 'c', 'b', 'p', 's', 'w' for whiteouts). */
char shale_type_char(uint8_t type);
/* st_mode (type bits | permission bits) of an entry. */
mode_t shale_entry_st_mode(const shale_entry *e);
/* 512-byte blocks of storage the content uses (holes excluded), for st_blocks. */
uint64_t shale_entry_blocks(const shale_entry *e, const shale_store *s);

/* ---- content -------------------------------------------------------------------- */
/* A content writer turns a byte stream (with optional holes) into a content
 * reference: inline bytes, one object, or a chunk list of objects. */
typedef struct shale_content_writer shale_content_writer;

shale_content_writer *shale_cw_new(shale_store *s);
void shale_cw_free(shale_content_writer *cw);
/* Start a file of `size` bytes. */
int shale_cw_begin(shale_content_writer *cw, uint64_t size);
/* Data at `offset`; offsets must increase; gaps read as zeros (holes). */
int shale_cw_write(shale_content_writer *cw, uint64_t offset, const void *buf, size_t len);
/* Reuse an existing chunk (a digest from another chunk list) for chunk `index`. */
int shale_cw_put_chunk(shale_content_writer *cw, uint64_t index, const shale_id *digest);
/* Finish the file: fills e->flags (INLINE/CHUNKED), e->content, e->data (owned by
 * the writer until the next begin), e->size. */
int shale_cw_end(shale_content_writer *cw, shale_entry *e);

/* A chunk list: `count` digests; an all-zero digest is a hole. */
typedef struct shale_chunks {
	uint64_t size;
	uint64_t count;
	shale_id *digests;
} shale_chunks;

/* Chunks of a content reference (one chunk for a plain object). Caller frees digests. */
int shale_content_chunks(shale_store *s, const shale_entry *e, shale_chunks *out);
/* Open one object read-only (O_RDONLY|O_CLOEXEC). */
int shale_object_open(shale_store *s, const shale_id *digest);
/* Path of an object file (for diagnostics and tests). malloc'd. */
char *shale_object_path(const shale_store *s, const shale_id *digest);
/* Read a whole file's content into memory (for cat of small files and tests);
 * max_size guards against huge files. */
int shale_content_read(shale_store *s, const shale_entry *e, uint64_t offset, void *buf,
		       size_t len, size_t *got);

/* ---- layers ---------------------------------------------------------------------- */
typedef struct shale_layer_info {
	shale_id id;
	uint64_t entries;
	uint64_t size;    /* bytes of file content (apparent) */
	int64_t created;  /* unix seconds when first stored */
} shale_layer_info;

/* Build a layer: add entries in any order; finish computes the layer id from the
 * canonical content and stores it (adding nothing if it already exists). */
typedef struct shale_layer_builder shale_layer_builder;

shale_layer_builder *shale_lb_new(shale_store *s);
/* Add or replace the entry at `path`. Missing parent directories are created
 * implicitly. Content of regular files comes from shale_lb_content(). */
int shale_lb_add(shale_layer_builder *lb, const char *path, const shale_entry *e);
/* The content writer to fill before adding a regular file. */
shale_content_writer *shale_lb_content(shale_layer_builder *lb);
/* `path` becomes another name of the file at `target` (already added). */
int shale_lb_add_hardlink(shale_layer_builder *lb, const char *path, const char *target);
int shale_lb_add_whiteout(shale_layer_builder *lb, const char *path);
int shale_lb_set_opaque(shale_layer_builder *lb, const char *dirpath);
/* Look up an entry added so far (copied into *e with its own storage in *buf). */
int shale_lb_get(shale_layer_builder *lb, const char *path, shale_entry *e, void **buf);
uint64_t shale_lb_count(const shale_layer_builder *lb);
int shale_lb_finish(shale_layer_builder *lb, shale_id *layer_id);
void shale_lb_free(shale_layer_builder *lb); /* aborts if not finished */

int shale_layer_get(shale_store *s, const shale_id *id, shale_layer_info *out);
/* Resolve a full id or a unique hex prefix of at least 4 digits. */
int shale_layer_resolve(shale_store *s, const char *ref, shale_id *out);

/* Iterate a layer alone, or the merged view, in tree order (parents before
 * children, names sorted). The callback returns 0 to go on, 1 to skip the
 * children of a directory, <0 to stop with an error. */
typedef int (*shale_walk_fn)(void *ctx, const char *path, const shale_entry *e);
int shale_layer_walk(shale_store *s, const shale_id *layer, const char *start, shale_walk_fn fn,
		     void *ctx);
/* One entry of a layer alone (no merging). */
int shale_layer_lookup(shale_store *s, const shale_id *layer, const char *path, shale_entry *e,
		       void **buf);

/* ---- import ------------------------------------------------------------------------ */
typedef struct shale_progress {
	uint64_t entries, bytes, total_bytes; /* total_bytes 0 = unknown */
} shale_progress;
typedef void (*shale_progress_fn)(void *ctx, const shale_progress *p);

/* Import a directory or a tar (plain, gzip, xz, zstd, bzip2; "-" for stdin)
 * as one layer. OCI whiteouts in tars become whiteout/opaque entries. */
int shale_import_layer(shale_store *s, const char *source, shale_id *layer_id,
		       shale_progress_fn progress, void *progress_ctx);

/* Extract an archive (or copy a directory) into a layer being built, its root
 * at `prefix` (ADD of a local tar). */
int shale_lb_import(shale_layer_builder *lb, shale_store *s, const char *source,
		    const char *prefix);
/* Is this file a tar archive (plain or compressed) libarchive can read? */
bool shale_archive_detect(const char *path);

/* ---- images ------------------------------------------------------------------------ */
/* Images are JSON documents (jansson) kept in LMDB:
 *   {"layers": [ids...], "config": {OCI config}, "history": [...], "created": RFC3339,
 *    "parent": id, "os": "linux", "architecture": ...}
 * An image id is the keyed digest of that canonical JSON. */
int shale_image_put(shale_store *s, json_t *image, shale_id *id);
/* Store an image and tag it NAME[:TAG] in one transaction (ref NULL: no tag). */
int shale_image_put_tag(shale_store *s, json_t *image, const char *ref, shale_id *id);
/* Returns a new reference (json_decref it). */
json_t *shale_image_get(shale_store *s, const shale_id *id);
/* Resolve NAME[:TAG], a full image id or a unique prefix (>= 4 hex digits). */
int shale_image_resolve(shale_store *s, const char *ref, shale_id *out);
/* A new image document: optional parent's chain and config, plus new layer. */
json_t *shale_image_new(shale_store *s, const shale_id *parent);
/* Append a layer (or, with layer NULL, an empty_layer history entry). */
int shale_image_add_layer(json_t *image, const shale_id *layer, const char *created_by,
			  const char *comment);
int shale_image_layers(json_t *image, shale_id **layers, size_t *count);
/* Current time as RFC 3339 with nanoseconds, as Docker writes it. */
void shale_now_rfc3339(char out[40]);
int64_t shale_parse_rfc3339(const char *s);

typedef int (*shale_image_fn)(void *ctx, const shale_id *id, json_t *image);
int shale_image_foreach(shale_store *s, shale_image_fn fn, void *ctx);
/* Remove an image record (not its layers: prune reclaims those). */
int shale_image_delete(shale_store *s, const shale_id *id);

/* ---- references and tags ------------------------------------------------------------- */
/* Normalise NAME[:TAG] as Docker does: validate, add ":latest" if no tag.
 * Writes "name:tag" into out. Returns -1 (EINVAL) with a message if invalid. */
int shale_ref_normalize(const char *ref, char *out, size_t outlen);
/* Split a normalised reference in place-independent fashion. */
int shale_ref_split(const char *normalized, char *name, size_t nlen, char *tag, size_t tlen);

int shale_tag_set(shale_store *s, const char *ref, const shale_id *image);
int shale_tag_get(shale_store *s, const char *ref, shale_id *image);
int shale_tag_delete(shale_store *s, const char *ref);
typedef int (*shale_tag_fn)(void *ctx, const char *ref, const shale_id *image);
int shale_tag_foreach(shale_store *s, shale_tag_fn fn, void *ctx);

/* ---- merged view ------------------------------------------------------------------------ */
/* The merged view of an image's layer chain, backed by an index kept in LMDB
 * (built once per chain): lookups cost one get whatever the number of layers.
 * Inode numbers are stable across opens of the same chain; hardlinks share one. */
typedef struct shale_view shale_view;

#define SHALE_ROOT_INO 1

/* Attributes of one inode of the view. */
typedef struct shale_vattr {
	uint64_t ino;
	uint8_t type, flags;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev, blocks;
	struct timespec mtime, ctime;
	uint32_t layer; /* index in the chain (0 = bottom) that provides it */
} shale_vattr;

shale_view *shale_view_open(shale_store *s, const shale_id *layers, size_t nlayers);
shale_view *shale_view_open_image(shale_store *s, const shale_id *image);
void shale_view_close(shale_view *v);
shale_store *shale_view_store(shale_view *v);
const shale_id *shale_view_chain(shale_view *v);
uint64_t shale_view_inodes(shale_view *v);

int shale_view_getattr(shale_view *v, uint64_t ino, shale_vattr *a);
int shale_view_lookup(shale_view *v, uint64_t parent, const char *name, shale_vattr *a);
/* Resolve a path (no symlinks followed). */
int shale_view_resolve(shale_view *v, const char *path, shale_vattr *a);
/* Resolve a path following symlinks inside the image (never on the host). */
int shale_view_resolve_follow(shale_view *v, const char *path, shale_vattr *a);

/* List a directory from the name after `after` (NULL = from the start);
 * the callback returns non-zero to stop. */
typedef int (*shale_dir_fn)(void *ctx, const char *name, const shale_vattr *a);
int shale_view_readdir(shale_view *v, uint64_t dir, const char *after, shale_dir_fn fn,
		       void *ctx);
/* Full entry of an inode, with content and xattrs (copied into *buf). */
int shale_view_entry(shale_view *v, uint64_t ino, shale_entry *e, void **buf);
/* Names of an inode (parent inode + name), for hardlink groups and paths. */
typedef int (*shale_name_fn)(void *ctx, uint64_t parent, const char *name);
int shale_view_names(shale_view *v, uint64_t ino, shale_name_fn fn, void *ctx);
/* Path of an inode (its first name), malloc'd; NULL on an error. */
char *shale_view_path(shale_view *v, uint64_t ino);
/* Walk the merged tree in order (names sorted); same return convention as
 * shale_walk_fn. The entry carries content, target and xattrs. */
typedef int (*shale_vwalk_fn)(void *ctx, const char *path, const shale_vattr *a,
			      const shale_entry *e);
int shale_view_walk(shale_view *v, const char *start, shale_vwalk_fn fn, void *ctx);

/* ---- garbage collection and space ---------------------------------------------------------- */
typedef struct shale_prune_stats {
	uint64_t images, layers, objects, bytes, indexes;
} shale_prune_stats;

/* Remove dangling images (with all_unused: every image without a tag user),
 * then everything unreachable from tags, images, containers, mounts and the
 * build cache. */
int shale_prune(shale_store *s, bool all_unused, shale_prune_stats *st);
/* Only the sweep: remove layers, objects and indexes no image needs (after rmi). */
int shale_gc(shale_store *s, shale_prune_stats *st);
/* Does a container or a mount use this image? (1 yes, with `who` filled; 0 no) */
int shale_image_users(shale_store *s, const shale_id *image, char *who, size_t wlen);
/* Does the build cache refer to this image? */
bool shale_image_cached(shale_store *s, const shale_id *image);

/* Bytes of the objects a layer uses (stored once each), for du and images. */
int shale_layer_bytes(shale_store *s, const shale_id *layer, uint64_t *bytes);

/* Space per layer of an image: stored bytes (objects counted once, plus inline
 * content) and how many of them other images use too. */
typedef struct shale_du_layer {
	shale_id id;
	uint64_t stored, shared;
} shale_du_layer;
int shale_image_du(shale_store *s, const shale_id *image, shale_du_layer **out, size_t *count);

/* ---- crash points (fault injection for the crash tests) ---------------------------------- */
/* Built with -DSHALE_FAULTS=ON, each SHALE_CRASH_POINT is a place where the
 * crash tests may SIGKILL the process (store/crash.c); otherwise nothing. */
#ifdef SHALE_FAULTS
void shale_crash_point(const char *where);
#define SHALE_CRASH_POINT(where) shale_crash_point(where)
#else
#define SHALE_CRASH_POINT(where) ((void)0)
#endif

/* ---- fsck ---------------------------------------------------------------------------------- */
/* Check the whole store: every object's digest and size, every reference
 * (entries to objects and chunk lists, images to layers, tags to images,
 * containers, mounts and the build cache to images), layer digests, view
 * indexes. Each problem is reported once through `report`:
 *   SHALE_FSCK_ERROR     damage, or a reference to something missing
 *   SHALE_FSCK_LEFTOVER  unreferenced data an interrupted command left (prune reclaims it)
 *   SHALE_FSCK_REPAIRED  what --repair did
 * With repair, leftovers are swept, dangling tags and cache records dropped,
 * damaged view indexes dropped (rebuilt on use), missing object records
 * restored; nothing reachable is deleted. Holds the store lock exclusively. */
enum shale_fsck_kind { SHALE_FSCK_ERROR, SHALE_FSCK_LEFTOVER, SHALE_FSCK_REPAIRED };
typedef void (*shale_fsck_fn)(void *ctx, enum shale_fsck_kind kind, const char *msg);
typedef struct shale_fsck_stats {
	uint64_t objects, object_bytes, chunk_lists, layers, entries, images, tags, records;
	uint64_t errors, leftovers, repaired;
} shale_fsck_stats;
int shale_fsck(shale_store *s, bool repair, shale_fsck_fn report, void *ctx,
	       shale_progress_fn progress, void *pctx, shale_fsck_stats *st);

/* ---- roots other components register ----------------------------------------------------------- */
/* A generic string-keyed record table for components built on the store
 * (containers, mounts, build cache, OCI blob digests). Values are JSON documents.
 * Records of containers, mounts and the cache with an "image" (or "images")
 * member are GC roots. */
enum shale_table { SHALE_T_CONTAINERS, SHALE_T_MOUNTS, SHALE_T_CACHE, SHALE_T_BLOBS };
int shale_table_put(shale_store *s, enum shale_table t, const char *key, json_t *val);
json_t *shale_table_get(shale_store *s, enum shale_table t, const char *key);
int shale_table_delete(shale_store *s, enum shale_table t, const char *key);
typedef int (*shale_table_fn)(void *ctx, const char *key, json_t *val);
int shale_table_foreach(shale_store *s, enum shale_table t, shale_table_fn fn, void *ctx);

/* ---- formatting helpers shared by the tools ------------------------------------------------------ */
/* Docker's human sizes ("72.8MB") and ages ("2 hours ago"). */
void shale_human_size(uint64_t bytes, char *out, size_t len);
void shale_human_age(int64_t then, char *out, size_t len);
void shale_human_duration(int64_t seconds, char *out, size_t len); /* "3 minutes" */

#endif
