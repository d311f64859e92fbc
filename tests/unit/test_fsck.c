/* Unit tests of fsck: damage made by hand (object files, LMDB records, as
 * docs/architecture.md describes them) is detected; --repair fixes what can
 * be fixed without deleting anything reachable. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "store.h"
#include "testutil.h"

struct fx {
	char dir[64], src[80];
	shale_store *s;
	shale_id image, layer;
	char messages[8192];
};

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* A store with one image: a small inline file, a one-object file and a
 * chunked file of three chunks. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/shale-fsck.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->src, sizeof f->src, "%s/src", f->dir);
	char root[PATH_MAX];
	snprintf(root, sizeof root, "%s/store", f->dir);
	assert_int_equal(mkdir(f->src, 0755), 0);
	write_file(f->src, "small", "hello\n", 6);
	size_t mid = 5000, big = 2 * SHALE_CHUNK_SIZE + 12345;
	char *buf = malloc(big);
	srand(7);
	for (size_t i = 0; i < big; i++)
		buf[i] = (char)rand();
	write_file(f->src, "mid", buf, mid);
	write_file(f->src, "big", buf + mid, big - mid);
	free(buf);
	f->s = shale_open_or_init(root);
	assert_non_null(f->s);
	assert_int_equal(shale_import_layer(f->s, f->src, &f->layer, NULL, NULL), 0);
	json_t *img = shale_image_new(f->s, NULL);
	shale_image_add_layer(img, &f->layer, "test", NULL);
	assert_int_equal(shale_image_put_tag(f->s, img, "fsck:1", &f->image), 0);
	json_decref(img);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->s)
		shale_close(f->s);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void collect(void *ctx, enum shale_fsck_kind kind, const char *msg)
{
	struct fx *f = ctx;
	size_t l = strlen(f->messages);
	snprintf(f->messages + l, sizeof f->messages - l, "%d %s\n", (int)kind, msg);
}

static shale_fsck_stats fsck(struct fx *f, bool repair)
{
	shale_fsck_stats st;
	f->messages[0] = 0;
	assert_int_equal(shale_fsck(f->s, repair, collect, f, NULL, NULL, &st), 0);
	return st;
}

static bool said(struct fx *f, const char *needle)
{
	if (strstr(f->messages, needle))
		return true;
	print_message("fsck said:\n%s(expected \"%s\")\n", f->messages, needle);
	return false;
}

/* ---- raw LMDB access, with the store closed ---- */

struct raw {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
};

static void raw_open(struct fx *f, struct raw *r, const char *db)
{
	char p[PATH_MAX];
	shale_close(f->s);
	f->s = NULL;
	snprintf(p, sizeof p, "%s/store/db", f->dir);
	assert_int_equal(mdb_env_create(&r->env), 0);
	mdb_env_set_maxdbs(r->env, 32);
	mdb_env_set_mapsize(r->env, 1ull << 40);
	assert_int_equal(mdb_env_open(r->env, p, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
	assert_int_equal(mdb_dbi_open(r->txn, db, 0, &r->dbi), 0);
}

static void raw_close(struct fx *f, struct raw *r)
{
	char p[PATH_MAX];
	assert_int_equal(mdb_txn_commit(r->txn), 0);
	mdb_env_close(r->env);
	snprintf(p, sizeof p, "%s/store", f->dir);
	f->s = shale_open(p);
	assert_non_null(f->s);
}

/* Change one byte of the first record whose key starts with prefix (NULL: any). */
static void raw_poke(struct raw *r, const void *prefix, size_t plen, size_t off)
{
	MDB_cursor *c;
	MDB_val k = {plen, (void *)prefix}, v;
	assert_int_equal(mdb_cursor_open(r->txn, r->dbi, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST), 0);
	uint8_t *copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	assert_true(off < v.mv_size);
	copy[off] ^= 0x01;
	MDB_val nv = {v.mv_size, copy};
	assert_int_equal(mdb_cursor_put(c, &k, &nv, MDB_CURRENT), 0);
	free(copy);
	mdb_cursor_close(c);
}

/* Delete the first or last record (op: MDB_FIRST or MDB_LAST). */
static void raw_drop(struct raw *r, MDB_cursor_op op)
{
	MDB_cursor *c;
	MDB_val k, v;
	assert_int_equal(mdb_cursor_open(r->txn, r->dbi, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, op), 0);
	assert_int_equal(mdb_cursor_del(c, 0), 0);
	mdb_cursor_close(c);
}

/* Any object that belongs to the image (the first in objects/). */
static void first_object(struct fx *f, char *path, size_t len)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/store/objects", f->dir);
	FILE *p;
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof cmd, "find %s -type f ! -name '.t-*' | sort | head -1", dir);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(path, (int)len, p));
	path[strcspn(path, "\n")] = 0;
	pclose(p);
}

static void test_clean_store(void **state)
{
	struct fx *f = *state;
	shale_fsck_stats st = fsck(f, false);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.leftovers, 0);
	assert_int_equal(st.layers, 1);
	assert_int_equal(st.images, 1);
	assert_int_equal(st.tags, 1);
	assert_int_equal(st.objects, 4); /* mid + 3 chunks of big */
	assert_int_equal(st.chunk_lists, 1);
}

static void test_object_flipped(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	first_object(f, p, sizeof p);
	chmod(p, 0644);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	char c;
	assert_int_equal(pread(fd, &c, 1, 10), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, 10), 1);
	close(fd);
	shale_fsck_stats st = fsck(f, false);
	assert_true(st.errors >= 2);
	assert_true(said(f, "content does not match its digest"));
	assert_true(said(f, "is damaged"));
	/* repair cannot bring data back, and must not delete the image */
	st = fsck(f, true);
	assert_true(st.errors >= 2);
	shale_id id;
	assert_int_equal(shale_image_resolve(f->s, "fsck:1", &id), 0);
}

static void test_object_missing(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	first_object(f, p, sizeof p);
	assert_int_equal(unlink(p), 0);
	shale_fsck_stats st = fsck(f, false);
	assert_true(st.errors >= 1);
	assert_true(said(f, "file missing"));
}

static void test_entry_record_changed(void **state)
{
	struct fx *f = *state;
	struct raw r;
	raw_open(f, &r, "entries");
	raw_poke(&r, f->layer.b, SHALE_ID_LEN, 5); /* a mode byte of the root entry */
	raw_close(f, &r);
	fsck(f, false);
	assert_true(said(f, "do not hash to its id"));
}

static void test_image_record_changed(void **state)
{
	struct fx *f = *state;
	struct raw r;
	raw_open(f, &r, "images");
	raw_poke(&r, NULL, 0, 20);
	raw_close(f, &r);
	fsck(f, false);
	assert_true(said(f, "record does not match its id"));
}

static void test_layer_record_lost(void **state)
{
	struct fx *f = *state;
	struct raw r;
	raw_open(f, &r, "layers");
	MDB_val k = {SHALE_ID_LEN, f->layer.b};
	assert_int_equal(mdb_del(r.txn, r.dbi, &k, NULL), 0);
	raw_close(f, &r);
	shale_fsck_stats st = fsck(f, false);
	assert_true(said(f, "is missing"));
	assert_true(said(f, "no layer record"));
	assert_true(st.errors >= 1 && st.leftovers >= 1);
}

static void test_dangling_tag_repaired(void **state)
{
	struct fx *f = *state;
	struct raw r;
	raw_open(f, &r, "tags");
	uint8_t bogus[SHALE_ID_LEN];
	memset(bogus, 0xab, sizeof bogus);
	MDB_val k = {7, "ghost:1"}, v = {SHALE_ID_LEN, bogus};
	assert_int_equal(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
	raw_close(f, &r);
	shale_fsck_stats st = fsck(f, false);
	assert_int_equal(st.errors, 1);
	assert_true(said(f, "tag ghost:1: its image is missing"));
	st = fsck(f, true);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.repaired, 1);
	st = fsck(f, false);
	assert_int_equal(st.errors, 0);
	shale_id id;
	assert_int_equal(shale_image_resolve(f->s, "fsck:1", &id), 0);
}

static void test_object_record_restored(void **state)
{
	struct fx *f = *state;
	struct raw r;
	raw_open(f, &r, "objects");
	raw_drop(&r, MDB_FIRST);
	raw_close(f, &r);
	shale_fsck_stats st = fsck(f, false);
	assert_int_equal(st.errors, 1);
	assert_true(said(f, "referenced but not recorded"));
	st = fsck(f, true);
	assert_int_equal(st.errors, 0);
	st = fsck(f, false);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.objects, 4);
}

/* What a crash leaves (temp files, orphan objects, an unfinished layer, an
 * image-less layer) is a leftover, not an error; repair sweeps it and keeps
 * every image readable. */
static void test_leftovers_swept(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/store/objects/.t-crashed", f->dir);
	write_file(f->dir, "store/objects/.t-crashed", "x", 1);
	snprintf(p, sizeof p, "%s/store/objects/ab", f->dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/store/objects/.t-crashed", f->dir);
	write_file(f->dir, "store/objects/ab/cdef0123456789abcdef0123456789", "orphan", 6);
	/* an unfinished import: entries under an id without a layer record */
	shale_layer_builder *lb = shale_lb_new(f->s);
	shale_entry d = {.type = SHALE_DIR, .mode = 0755};
	assert_int_equal(shale_lb_add(lb, "half/done", &d), 0);
	shale_id extra;
	assert_int_equal(shale_lb_finish(lb, &extra), 0); /* a layer no image uses */
	shale_lb_free(lb);
	shale_fsck_stats st = fsck(f, false);
	assert_int_equal(st.errors, 0);
	assert_true(st.leftovers >= 3);
	assert_true(said(f, "temporary object files"));
	assert_true(said(f, "without a record"));
	assert_true(said(f, "layers no image uses"));
	st = fsck(f, true);
	assert_int_equal(st.errors, 0);
	st = fsck(f, false);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.leftovers, 0);
	struct stat sb;
	assert_int_equal(stat(p, &sb), -1);
	/* the image still reads back whole */
	shale_view *v = shale_view_open_image(f->s, &f->image);
	assert_non_null(v);
	shale_vattr a;
	assert_int_equal(shale_view_resolve(v, "big", &a), 0);
	shale_entry e;
	void *buf;
	assert_int_equal(shale_view_entry(v, a.ino, &e, &buf), 0);
	char tail[16];
	size_t got;
	assert_int_equal(shale_content_read(f->s, &e, e.size - sizeof tail, tail, sizeof tail, &got), 0);
	assert_int_equal(got, sizeof tail);
	free(buf);
	shale_view_close(v);
}

static void test_view_index_damaged(void **state)
{
	struct fx *f = *state;
	shale_view *v = shale_view_open_image(f->s, &f->image); /* builds the index */
	assert_non_null(v);
	shale_view_close(v);
	assert_int_equal(fsck(f, false).errors, 0);
	struct raw r;
	raw_open(f, &r, "view_inodes");
	raw_drop(&r, MDB_LAST);
	raw_close(f, &r);
	shale_fsck_stats st = fsck(f, false);
	assert_int_equal(st.errors, 1);
	assert_true(said(f, "view index"));
	assert_int_equal(fsck(f, true).errors, 0);
	assert_int_equal(fsck(f, false).errors, 0);
	v = shale_view_open_image(f->s, &f->image); /* rebuilt */
	assert_non_null(v);
	shale_vattr a;
	assert_int_equal(shale_view_resolve(v, "small", &a), 0);
	shale_view_close(v);
}

static void test_cache_record_repaired(void **state)
{
	struct fx *f = *state;
	json_t *rec = json_pack("{s:s}", "image", "abababababababababababababababab");
	assert_int_equal(shale_table_put(f->s, SHALE_T_CACHE, "somekey", rec), 0);
	json_decref(rec);
	assert_int_equal(fsck(f, false).errors, 1);
	assert_true(said(f, "build cache record somekey: its image is missing"));
	assert_int_equal(fsck(f, true).errors, 0);
	assert_null(shale_table_get(f->s, SHALE_T_CACHE, "somekey"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_flipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_record_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_record_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_record_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dangling_tag_repaired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_record_restored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftovers_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_index_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_record_repaired, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
