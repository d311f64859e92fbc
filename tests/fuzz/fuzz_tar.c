/* libFuzzer target: the tar importer (shale_import_layer, store/import.c).
 *
 * Each input is a tar (plain or compressed: libarchive detects the filter) fed
 * through a memfd, since the importer takes a path. One store per process, in a
 * directory made at start-up and removed at exit ($SHALE_FUZZ_TMP, else /dev/shm
 * when writable, else $TMPDIR or /tmp).
 *
 * After every input, what must hold whatever the bytes:
 *   - a failed import has an error message and leaves no layer record, no entry
 *     and no staging record behind;
 *   - a successful one gives a stored layer whose record counts its entries,
 *     whose digest recomputed from the entries is its id, whose paths are
 *     normalised, whose hardlink groups have the nlink they claim and whose
 *     file contents read back in full; importing the same bytes again gives the
 *     same id; extracting them under a prefix (ADD) gives one entry more;
 *   - every so often, gc with no image leaves every table empty. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define CHECK(cond, ...)                                                                          \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "fuzz_tar: invariant failed: %s: ", #cond);               \
			fprintf(stderr, __VA_ARGS__);                                             \
			fprintf(stderr, " (last error: %s)\n", shale_errmsg());                   \
			abort();                                                                  \
		}                                                                                 \
	} while (0)

#define GC_EVERY 64           /* successful imports between two sweeps */
#define READ_MAX (8u << 20)   /* content read back in full up to this size, else ends */

static shale_store *store;
static char root[PATH_MAX];
static char input[64]; /* /proc/self/fd/N of the memfd */
static int input_fd = -1;
static unsigned imported;
static uint8_t *readbuf;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		fprintf(stderr, "fuzz_tar: remove %s: %s\n", path, strerror(errno));
	return 0;
}

static void cleanup(void)
{
	if (store)
		shale_close(store);
	store = NULL;
	if (root[0])
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t db_count(enum db db)
{
	MDB_txn *txn = rtxn_begin(store);
	CHECK(txn, "read transaction");
	MDB_stat st;
	int rc = mdb_stat(txn, store->dbi[db], &st);
	rtxn_end(store, txn);
	CHECK(rc == 0, "mdb_stat: %s", mdb_strerror(rc));
	return st.ms_entries;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *dir = getenv("SHALE_FUZZ_TMP");
	if (!dir || !*dir)
		dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(root, sizeof root, "%s/shale-fuzz-tar.XXXXXX", dir);
	if (!mkdtemp(root)) {
		fprintf(stderr, "fuzz_tar: mkdtemp %s: %s\n", root, strerror(errno));
		exit(1);
	}
	atexit(cleanup);
	store = shale_open_or_init(root);
	if (!store) {
		fprintf(stderr, "fuzz_tar: %s\n", shale_errmsg());
		exit(1);
	}
	input_fd = memfd_create("fuzz-tar", MFD_CLOEXEC);
	if (input_fd < 0) {
		fprintf(stderr, "fuzz_tar: memfd_create: %s\n", strerror(errno));
		exit(1);
	}
	snprintf(input, sizeof input, "/proc/self/fd/%d", input_fd);
	readbuf = malloc(READ_MAX);
	if (!readbuf)
		abort();
	return 0;
}

static void put_input(const uint8_t *data, size_t size)
{
	CHECK(ftruncate(input_fd, 0) == 0, "ftruncate: %s", strerror(errno));
	size_t off = 0;
	while (off < size) {
		ssize_t n = pwrite(input_fd, data + off, size - off, (off_t)off);
		CHECK(n > 0, "pwrite: %s", strerror(errno));
		off += (size_t)n;
	}
}

/* ---- what a stored layer must look like ---- */

struct group {
	uint64_t id;
	uint32_t nlink, names;
};

struct walk {
	const shale_id *layer;
	uint64_t entries, size;
	struct group *groups;
	size_t ngroups;
};

static void check_path(const char *path)
{
	size_t len = strlen(path);
	CHECK(len < PATH_MAX, "path length %zu", len);
	if (!len)
		return;
	CHECK(path[0] != '/' && path[len - 1] != '/', "'%s' not normalised", path);
	for (const char *p = path; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		CHECK(n > 0 && n <= NAME_MAX, "'%s': component of %zu bytes", path, n);
		CHECK(!(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.'),
		      "'%s': dot component", path);
		p += n + (e ? 1 : 0);
	}
}

static void check_content(const char *path, const shale_entry *e)
{
	size_t got;
	if (e->size <= READ_MAX) {
		int r = shale_content_read(store, e, 0, readbuf, (size_t)e->size, &got);
		CHECK(r == 0 && got == e->size, "'%s': read %zu of %llu bytes", path, got,
		      (unsigned long long)e->size);
		return;
	}
	/* a large (sparse) file: its chunk list, and its first and last chunk */
	shale_chunks ch;
	CHECK(shale_content_chunks(store, e, &ch) == 0, "'%s': chunk list", path);
	CHECK(ch.size == e->size &&
		      ch.count == (e->size + SHALE_CHUNK_SIZE - 1) / SHALE_CHUNK_SIZE,
	      "'%s': %llu chunks for %llu bytes", path, (unsigned long long)ch.count,
	      (unsigned long long)e->size);
	free(ch.digests);
	int r = shale_content_read(store, e, 0, readbuf, SHALE_CHUNK_SIZE, &got);
	CHECK(r == 0 && got == SHALE_CHUNK_SIZE, "'%s': first chunk", path);
	uint64_t last = (ch.count - 1) * (uint64_t)SHALE_CHUNK_SIZE;
	r = shale_content_read(store, e, last, readbuf, SHALE_CHUNK_SIZE, &got);
	CHECK(r == 0 && got == e->size - last, "'%s': last chunk", path);
}

static int check_entry(void *ctx, const char *path, const shale_entry *e)
{
	struct walk *w = ctx;
	w->entries++;
	check_path(path);
	CHECK(e->type >= SHALE_REG && e->type <= SHALE_WHITEOUT, "'%s': type %u", path, e->type);
	CHECK(*path || e->type == SHALE_DIR, "the root is of type %u", e->type);
	CHECK(!(e->flags & SHALE_F_OPAQUE) || e->type == SHALE_DIR, "'%s': opaque non-directory",
	      path);
	CHECK((e->mode & ~07777u) == 0, "'%s': mode %o", path, e->mode);
	if (e->type == SHALE_LNK)
		CHECK(e->target && e->target_len > 0 && e->target_len == e->size &&
			      !memchr(e->target, 0, e->target_len),
		      "'%s': symlink target", path);
	if (e->type == SHALE_REG) {
		w->size += e->size;
		CHECK(!(e->flags & SHALE_F_INLINE) || (e->data_len == e->size && e->size <= SHALE_INLINE_MAX),
		      "'%s': inline %u of %llu bytes", path, e->data_len, (unsigned long long)e->size);
		check_content(path, e);
	}
	if (e->link_group) {
		CHECK(e->type != SHALE_DIR && e->type != SHALE_WHITEOUT, "'%s': linked type %u",
		      path, e->type);
		size_t i = 0;
		while (i < w->ngroups && w->groups[i].id != e->link_group)
			i++;
		if (i == w->ngroups) {
			w->groups = realloc(w->groups, (w->ngroups + 1) * sizeof *w->groups);
			if (!w->groups)
				abort();
			w->groups[w->ngroups++] = (struct group){e->link_group, e->nlink, 0};
		}
		CHECK(w->groups[i].nlink == e->nlink, "'%s': nlink %u in a group of nlink %u", path,
		      e->nlink, w->groups[i].nlink);
		w->groups[i].names++;
	} else {
		CHECK(e->nlink == 1, "'%s': nlink %u without a link group", path, e->nlink);
	}
	/* xattrs iterate to the end, sorted by name */
	uint32_t pos = 0, nl, vl, pnl = 0;
	const char *name, *prev = NULL;
	const uint8_t *val;
	while (shale_xattr_next(e->xattrs, e->xattrs_len, &pos, &name, &nl, &val, &vl)) {
		if (prev) {
			int c = memcmp(prev, name, pnl < nl ? pnl : nl);
			CHECK(c < 0 || (c == 0 && pnl <= nl), "'%s': xattrs out of order", path);
		}
		prev = name;
		pnl = nl;
	}
	return 0;
}

static void check_layer(const shale_id *id)
{
	shale_layer_info info;
	CHECK(shale_layer_get(store, id, &info) == 0, "layer record");
	struct walk w = {.layer = id};
	CHECK(shale_layer_walk(store, id, "", check_entry, &w) == 0, "walk");
	CHECK(w.entries == info.entries, "%llu entries walked, the record says %llu",
	      (unsigned long long)w.entries, (unsigned long long)info.entries);
	CHECK(w.size == info.size, "%llu bytes walked, the record says %llu",
	      (unsigned long long)w.size, (unsigned long long)info.size);
	for (size_t i = 0; i < w.ngroups; i++)
		CHECK(w.groups[i].names == w.groups[i].nlink, "link group of %u names with nlink %u",
		      w.groups[i].names, w.groups[i].nlink);
	free(w.groups);

	MDB_txn *txn = rtxn_begin(store);
	CHECK(txn, "read transaction");
	shale_id digest;
	uint64_t n, size;
	int r = layer_digest(store, txn, id, &digest, &n, &size);
	rtxn_end(store, txn);
	CHECK(r == 0 && shale_id_cmp(&digest, id) == 0, "layer digest is not the layer id");
}

/* ADD of a local tar: the same archive extracted under a directory. */
static void check_prefixed(const shale_layer_info *plain)
{
	shale_layer_builder *lb = shale_lb_new(store);
	CHECK(lb, "shale_lb_new");
	int r = shale_lb_import(lb, store, input, "fuzz/add");
	shale_id id;
	if (r == 0)
		r = shale_lb_finish(lb, &id);
	shale_lb_free(lb);
	if (r < 0) { /* only a path made too long by the prefix may fail now */
		CHECK(shale_errcode() == ENAMETOOLONG, "imported alone but not under a prefix");
		return;
	}
	check_layer(&id);
	shale_layer_info info;
	CHECK(shale_layer_get(store, &id, &info) == 0, "prefixed layer record");
	/* the archive's root becomes fuzz/add, under a new root and "fuzz" */
	CHECK(info.entries == plain->entries + 2, "%llu entries under a prefix, %llu alone",
	      (unsigned long long)info.entries, (unsigned long long)plain->entries);
	CHECK(info.size == plain->size, "content size differs under a prefix");
}

static void gc_all(void)
{
	shale_prune_stats st;
	CHECK(shale_gc(store, &st) == 0, "gc");
	static const enum db dbs[] = {DB_LAYERS, DB_ENTRIES, DB_OBJECTS, DB_CHUNKS, DB_STAGING};
	for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++)
		CHECK(db_count(dbs[i]) == 0, "table %zu not empty after gc", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	put_input(data, size);
	size_t layers = db_count(DB_LAYERS), entries = db_count(DB_ENTRIES);
	shale_id id;
	if (shale_import_layer(store, input, &id, NULL, NULL) < 0) {
		CHECK(*shale_errmsg(), "failed without a message");
		CHECK(db_count(DB_LAYERS) == layers, "a failed import left a layer");
		CHECK(db_count(DB_ENTRIES) == entries, "a failed import left entries");
		CHECK(db_count(DB_STAGING) == 0, "a failed import left its staging record");
		return 0;
	}
	CHECK(db_count(DB_STAGING) == 0, "an import left its staging record");
	check_layer(&id);
	shale_layer_info info;
	CHECK(shale_layer_get(store, &id, &info) == 0, "layer record");
	CHECK(db_count(DB_ENTRIES) == entries + (db_count(DB_LAYERS) > layers ? info.entries : 0),
	      "entries besides the layer's");

	shale_id again;
	CHECK(shale_import_layer(store, input, &again, NULL, NULL) == 0, "second import failed");
	CHECK(shale_id_cmp(&id, &again) == 0, "the same tar gave another layer id");

	check_prefixed(&info);

	if (++imported % GC_EVERY == 0)
		gc_all();
	return 0;
}
