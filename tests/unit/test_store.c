/* Unit tests of the image store: entries, layers, objects, dedup, tags, views, GC. */
#include <dirent.h>
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "testutil.h"

struct fx {
	char dir[64];
	shale_store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/shale-unit.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->s = shale_open_or_init(f->dir);
	assert_non_null(f->s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	shale_close(f->s);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* Add a regular file with the given content. */
static void add_file(shale_layer_builder *lb, const char *path, const void *data, size_t len,
		     uint32_t mode)
{
	shale_content_writer *cw = shale_lb_content(lb);
	shale_entry e = {.type = SHALE_REG, .mode = mode, .uid = 1000, .gid = 100};
	e.mtime.tv_sec = 1700000000;
	e.mtime.tv_nsec = 123456789;
	e.ctime = e.mtime;
	assert_int_equal(shale_cw_begin(cw, len), 0);
	if (len)
		assert_int_equal(shale_cw_write(cw, 0, data, len), 0);
	assert_int_equal(shale_cw_end(cw, &e), 0);
	assert_int_equal(shale_lb_add(lb, path, &e), 0);
}

static void add_dir(shale_layer_builder *lb, const char *path, uint32_t mode)
{
	shale_entry e = {.type = SHALE_DIR, .mode = mode};
	assert_int_equal(shale_lb_add(lb, path, &e), 0);
}

static uint8_t *random_bytes(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n);
	srand(seed);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rand();
	return p;
}

static size_t count_objects(const char *root)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/objects", root);
	return count_files(path);
}

/* Every entry type and attribute survives a round trip. */
static void test_entry_roundtrip(void **state)
{
	struct fx *f = *state;
	shale_layer_builder *lb = shale_lb_new(f->s);
	assert_non_null(lb);
	add_dir(lb, "d", 01777);
	add_file(lb, "d/f", "hello", 5, 04755);
	shale_entry e = {.type = SHALE_LNK, .mode = 0777, .target = "../x/y", .target_len = 6};
	e.size = 6;
	assert_int_equal(shale_lb_add(lb, "d/link", &e), 0);
	shale_entry c = {.type = SHALE_CHR, .mode = 0620, .rdev = makedev(4, 64), .uid = 5, .gid = 6};
	assert_int_equal(shale_lb_add(lb, "dev/tty", &c), 0);
	shale_entry b = {.type = SHALE_BLK, .mode = 0660, .rdev = makedev(8, 1)};
	assert_int_equal(shale_lb_add(lb, "dev/sda1", &b), 0);
	shale_entry p = {.type = SHALE_FIFO, .mode = 0600};
	assert_int_equal(shale_lb_add(lb, "run/fifo", &p), 0);
	shale_entry so = {.type = SHALE_SOCK, .mode = 0755};
	assert_int_equal(shale_lb_add(lb, "run/sock", &so), 0);
	/* xattrs: encoded sorted, as the importer does */
	uint8_t xa[64];
	size_t xl = 0;
	xl += xattr_put(xa + xl, "security.capability", "\x01\x02", 2);
	xl += xattr_put(xa + xl, "user.k", "v", 1);
	shale_entry x = {.type = SHALE_DIR, .mode = 0700, .xattrs = xa, .xattrs_len = (uint32_t)xl};
	x.mtime.tv_sec = 42;
	x.mtime.tv_nsec = 999999999;
	x.ctime.tv_sec = 43;
	assert_int_equal(shale_lb_add(lb, "x", &x), 0);
	shale_id layer;
	assert_int_equal(shale_lb_finish(lb, &layer), 0);
	shale_lb_free(lb);

	shale_entry g;
	void *buf;
	assert_int_equal(shale_layer_lookup(f->s, &layer, "d", &g, &buf), 0);
	assert_int_equal(g.type, SHALE_DIR);
	assert_int_equal(g.mode, 01777);
	free(buf);
	assert_int_equal(shale_layer_lookup(f->s, &layer, "d/f", &g, &buf), 0);
	assert_int_equal(g.type, SHALE_REG);
	assert_int_equal(g.mode, 04755);
	assert_int_equal(g.uid, 1000);
	assert_int_equal(g.gid, 100);
	assert_int_equal(g.size, 5);
	assert_int_equal(g.mtime.tv_sec, 1700000000);
	assert_int_equal(g.mtime.tv_nsec, 123456789);
	assert_true(g.flags & SHALE_F_INLINE);
	assert_memory_equal(g.data, "hello", 5);
	free(buf);
	assert_int_equal(shale_layer_lookup(f->s, &layer, "d/link", &g, &buf), 0);
	assert_int_equal(g.type, SHALE_LNK);
	assert_int_equal(g.target_len, 6);
	assert_memory_equal(g.target, "../x/y", 6);
	free(buf);
	assert_int_equal(shale_layer_lookup(f->s, &layer, "dev/tty", &g, &buf), 0);
	assert_int_equal(g.type, SHALE_CHR);
	assert_int_equal(major(g.rdev), 4);
	assert_int_equal(minor(g.rdev), 64);
	assert_int_equal(g.uid, 5);
	free(buf);
	assert_int_equal(shale_layer_lookup(f->s, &layer, "dev/sda1", &g, &buf), 0);
	assert_int_equal(g.type, SHALE_BLK);
	assert_int_equal(minor(g.rdev), 1);
	free(buf);
	assert_int_equal(shale_layer_lookup(f->s, &layer, "run/fifo", &g, &buf), 0);
	assert_int_equal(g.type, SHALE_FIFO);
	free(buf);
	assert_int_equal(shale_layer_lookup(f->s, &layer, "run/sock", &g, &buf), 0);
	assert_int_equal(g.type, SHALE_SOCK);
	free(buf);
	/* implicit parent */
	assert_int_equal(shale_layer_lookup(f->s, &layer, "run", &g, &buf), 0);
	assert_int_equal(g.type, SHALE_DIR);
	assert_true(g.flags & SHALE_F_IMPLICIT);
	free(buf);
	assert_int_equal(shale_layer_lookup(f->s, &layer, "x", &g, &buf), 0);
	const uint8_t *v;
	uint32_t vl;
	assert_true(shale_xattr_get(&g, "user.k", &v, &vl));
	assert_int_equal(vl, 1);
	assert_true(shale_xattr_get(&g, "security.capability", &v, &vl));
	assert_memory_equal(v, "\x01\x02", 2);
	assert_false(shale_xattr_get(&g, "user.none", &v, &vl));
	assert_int_equal(g.mtime.tv_nsec, 999999999);
	assert_int_equal(g.ctime.tv_sec, 43);
	free(buf);
	assert_int_equal(shale_layer_lookup(f->s, &layer, "nope", &g, &buf), -1);
	assert_int_equal(shale_errcode(), ENOENT);
}

/* Content of every size class reads back byte for byte; big files are chunked,
 * zero chunks are holes. */
static void test_content_chunks(void **state)
{
	struct fx *f = *state;
	size_t big = 3 * SHALE_CHUNK_SIZE + 12345;
	uint8_t *data = random_bytes(big, 1);
	memset(data + SHALE_CHUNK_SIZE, 0, SHALE_CHUNK_SIZE); /* chunk 1 is a hole */
	shale_layer_builder *lb = shale_lb_new(f->s);
	add_file(lb, "small", data, SHALE_INLINE_MAX, 0644);
	add_file(lb, "medium", data, SHALE_INLINE_MAX + 1, 0644);
	add_file(lb, "onechunk", data, SHALE_CHUNK_SIZE, 0644);
	add_file(lb, "big", data, big, 0644);
	add_file(lb, "empty", "", 0, 0644);
	shale_id layer;
	assert_int_equal(shale_lb_finish(lb, &layer), 0);
	shale_lb_free(lb);

	struct { const char *p; size_t n; uint8_t flags; } cases[] = {
		{"small", SHALE_INLINE_MAX, SHALE_F_INLINE},
		{"medium", SHALE_INLINE_MAX + 1, 0},
		{"onechunk", SHALE_CHUNK_SIZE, 0},
		{"big", big, SHALE_F_CHUNKED},
		{"empty", 0, 0},
	};
	uint8_t *out = malloc(big);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		shale_entry e;
		void *buf;
		size_t got;
		assert_int_equal(shale_layer_lookup(f->s, &layer, cases[i].p, &e, &buf), 0);
		assert_int_equal(e.size, cases[i].n);
		assert_int_equal(e.flags & (SHALE_F_INLINE | SHALE_F_CHUNKED), cases[i].flags);
		assert_int_equal(shale_content_read(f->s, &e, 0, out, big, &got), 0);
		assert_int_equal(got, cases[i].n);
		assert_memory_equal(out, data, cases[i].n);
		/* odd offsets and lengths across chunk boundaries */
		if (cases[i].n > 100) {
			uint64_t off = cases[i].n / 3 + 7;
			assert_int_equal(shale_content_read(f->s, &e, off, out, 1000003, &got), 0);
			size_t want = cases[i].n - off < 1000003 ? cases[i].n - off : 1000003;
			assert_int_equal(got, want);
			assert_memory_equal(out, data + off, want);
		}
		if (cases[i].flags == SHALE_F_CHUNKED) {
			shale_chunks ch;
			assert_int_equal(shale_content_chunks(f->s, &e, &ch), 0);
			assert_int_equal(ch.count, 4);
			assert_true(shale_id_is_zero(&ch.digests[1]));
			assert_false(shale_id_is_zero(&ch.digests[0]));
			free(ch.digests);
		}
		free(buf);
	}
	free(out);
	free(data);
	/* objects: medium, onechunk, and the 3 non-hole chunks of big (onechunk's
	 * content equals big's first chunk: deduplicated) */
	assert_int_equal(count_objects(f->dir), 4);
}

/* The same content twice is one object; the same tree twice is one layer. */
static void test_dedup(void **state)
{
	struct fx *f = *state;
	uint8_t *data = random_bytes(200000, 2);
	shale_id l1, l2, l3;
	for (int round = 0; round < 2; round++) {
		shale_layer_builder *lb = shale_lb_new(f->s);
		/* insertion order differs: the layer id must not */
		if (round == 0) {
			add_file(lb, "a/one", data, 200000, 0644);
			add_file(lb, "b/two", data, 200000, 0600);
		} else {
			add_file(lb, "b/two", data, 200000, 0600);
			add_file(lb, "a/one", data, 200000, 0644);
		}
		assert_int_equal(shale_lb_finish(lb, round ? &l2 : &l1), 0);
		shale_lb_free(lb);
	}
	assert_memory_equal(&l1, &l2, sizeof l1);
	assert_int_equal(count_objects(f->dir), 1);
	/* one byte different: a new object and a new layer */
	data[777] ^= 1;
	shale_layer_builder *lb = shale_lb_new(f->s);
	add_file(lb, "a/one", data, 200000, 0644);
	assert_int_equal(shale_lb_finish(lb, &l3), 0);
	shale_lb_free(lb);
	assert_memory_not_equal(&l1, &l3, sizeof l1);
	assert_int_equal(count_objects(f->dir), 2);
	free(data);
}

/* Two stores never share digests: the per-store secret keys them. */
static void test_secret_keys_digests(void **state)
{
	struct fx *f = *state;
	char dir2[64];
	snprintf(dir2, sizeof dir2, "/tmp/shale-unit2.XXXXXX");
	assert_non_null(mkdtemp(dir2));
	shale_store *s2 = shale_open_or_init(dir2);
	assert_non_null(s2);
	shale_id a, b;
	shale_layer_builder *lb = shale_lb_new(f->s);
	add_file(lb, "f", "same content", 12, 0644);
	assert_int_equal(shale_lb_finish(lb, &a), 0);
	shale_lb_free(lb);
	lb = shale_lb_new(s2);
	add_file(lb, "f", "same content", 12, 0644);
	assert_int_equal(shale_lb_finish(lb, &b), 0);
	shale_lb_free(lb);
	assert_memory_not_equal(&a, &b, sizeof a);
	shale_close(s2);
	rm_rf(dir2);
}

static shale_id make_layer(shale_store *s, void (*fill)(shale_layer_builder *))
{
	shale_id id;
	shale_layer_builder *lb = shale_lb_new(s);
	assert_non_null(lb);
	fill(lb);
	assert_int_equal(shale_lb_finish(lb, &id), 0);
	shale_lb_free(lb);
	return id;
}

static void fill_lower(shale_layer_builder *lb)
{
	add_dir(lb, "etc", 0755);
	add_file(lb, "etc/passwd", "root:x:0:0", 10, 0644);
	add_file(lb, "etc/gone", "bye", 3, 0644);
	add_dir(lb, "opq", 0755);
	add_file(lb, "opq/hidden", "h", 1, 0644);
	add_dir(lb, "keep", 0755);
	add_file(lb, "keep/old", "o", 1, 0644);
	add_file(lb, "filedir", "f", 1, 0644);
	add_dir(lb, "dirfile", 0755);
	add_file(lb, "dirfile/child", "c", 1, 0644);
	add_file(lb, "h/a", "hard", 4, 0644);
	assert_int_equal(shale_lb_add_hardlink(lb, "h/b", "h/a"), 0);
	assert_int_equal(shale_lb_add_hardlink(lb, "h/c", "h/a"), 0);
}

static void fill_upper(shale_layer_builder *lb)
{
	assert_int_equal(shale_lb_add_whiteout(lb, "etc/gone"), 0);
	add_file(lb, "etc/passwd", "root:x:0:0:new", 14, 0600);
	assert_int_equal(shale_lb_set_opaque(lb, "opq"), 0);
	add_file(lb, "opq/visible", "v", 1, 0644);
	add_file(lb, "keep/new", "n", 1, 0644);
	add_dir(lb, "filedir", 0700); /* a file replaced by a directory */
	add_file(lb, "filedir/x", "x", 1, 0644);
	add_file(lb, "dirfile", "now a file", 10, 0644); /* and the reverse */
	assert_int_equal(shale_lb_add_whiteout(lb, "h/c"), 0);
}

static int collect_names(void *ctx, const char *name, const shale_vattr *a)
{
	char *out = ctx;
	strcat(out, name);
	strcat(out, " ");
	return 0;
}

/* The merged view: top wins, whiteouts hide, opaque cuts, types replace. */
static void test_view_merge(void **state)
{
	struct fx *f = *state;
	shale_id layers[2] = {make_layer(f->s, fill_lower), make_layer(f->s, fill_upper)};
	shale_view *v = shale_view_open(f->s, layers, 2);
	assert_non_null(v);
	shale_vattr a;
	char names[512] = "";
	assert_int_equal(shale_view_resolve(v, "etc", &a), 0);
	assert_int_equal(shale_view_readdir(v, a.ino, NULL, collect_names, names), 0);
	assert_string_equal(names, "passwd ");
	assert_int_equal(shale_view_resolve(v, "etc/passwd", &a), 0);
	assert_int_equal(a.size, 14);
	assert_int_equal(a.mode, 0600);
	assert_int_equal(a.layer, 1);
	assert_int_equal(shale_view_resolve(v, "etc/gone", &a), -1);
	assert_int_equal(shale_errcode(), ENOENT);
	names[0] = 0;
	assert_int_equal(shale_view_resolve(v, "opq", &a), 0);
	assert_int_equal(shale_view_readdir(v, a.ino, NULL, collect_names, names), 0);
	assert_string_equal(names, "visible ");
	names[0] = 0;
	assert_int_equal(shale_view_resolve(v, "keep", &a), 0);
	assert_int_equal(shale_view_readdir(v, a.ino, NULL, collect_names, names), 0);
	assert_string_equal(names, "new old ");
	assert_int_equal(shale_view_resolve(v, "filedir", &a), 0);
	assert_int_equal(a.type, SHALE_DIR);
	assert_int_equal(shale_view_resolve(v, "filedir/x", &a), 0);
	assert_int_equal(shale_view_resolve(v, "dirfile", &a), 0);
	assert_int_equal(a.type, SHALE_REG);
	assert_int_equal(shale_view_resolve(v, "dirfile/child", &a), -1);
	/* hardlinks: one inode, nlink counts the visible names */
	shale_vattr ha, hb;
	assert_int_equal(shale_view_resolve(v, "h/a", &ha), 0);
	assert_int_equal(shale_view_resolve(v, "h/b", &hb), 0);
	assert_int_equal(ha.ino, hb.ino);
	assert_int_equal(ha.nlink, 2);
	assert_int_equal(shale_view_resolve(v, "h/c", &a), -1);
	/* root nlink: 2 + subdirectories */
	assert_int_equal(shale_view_getattr(v, SHALE_ROOT_INO, &a), 0);
	assert_int_equal(a.type, SHALE_DIR);
	assert_int_equal(a.nlink, 2 + 5); /* etc opq keep filedir h; dirfile is a file now */
	uint64_t ino = ha.ino;
	shale_view_close(v);
	/* stable inode numbers across opens */
	v = shale_view_open(f->s, layers, 2);
	assert_int_equal(shale_view_resolve(v, "h/a", &ha), 0);
	assert_int_equal(ha.ino, ino);
	/* readdir resumes after a name */
	names[0] = 0;
	assert_int_equal(shale_view_resolve(v, "keep", &a), 0);
	assert_int_equal(shale_view_readdir(v, a.ino, "new", collect_names, names), 0);
	assert_string_equal(names, "old ");
	shale_view_close(v);
}

static void fill_links(shale_layer_builder *lb)
{
	shale_entry l = {.type = SHALE_LNK, .mode = 0777, .target = "/etc/real", .target_len = 9, .size = 9};
	assert_int_equal(shale_lb_add(lb, "abs", &l), 0);
	shale_entry r = {.type = SHALE_LNK, .mode = 0777, .target = "../../../etc", .target_len = 12, .size = 12};
	assert_int_equal(shale_lb_add(lb, "a/b/up", &r), 0);
	add_file(lb, "etc/real", "R", 1, 0644);
	shale_entry loop = {.type = SHALE_LNK, .mode = 0777, .target = "loop", .target_len = 4, .size = 4};
	assert_int_equal(shale_lb_add(lb, "loop", &loop), 0);
}

/* Symlinks resolve inside the image: absolute targets and ".." never leave it. */
static void test_view_symlinks(void **state)
{
	struct fx *f = *state;
	shale_id layer = make_layer(f->s, fill_links);
	shale_view *v = shale_view_open(f->s, &layer, 1);
	shale_vattr a;
	assert_int_equal(shale_view_resolve_follow(v, "abs", &a), 0);
	assert_int_equal(a.type, SHALE_REG);
	assert_int_equal(shale_view_resolve_follow(v, "a/b/up/real", &a), 0);
	assert_int_equal(a.type, SHALE_REG);
	assert_int_equal(shale_view_resolve(v, "abs", &a), 0);
	assert_int_equal(a.type, SHALE_LNK);
	assert_int_equal(shale_view_resolve_follow(v, "loop", &a), -1);
	assert_int_equal(shale_errcode(), ELOOP);
	shale_view_close(v);
}

/* A hundred layers: the view answers the same as one, and lookups don't walk them. */
static void test_view_deep(void **state)
{
	struct fx *f = *state;
	enum { N = 100 };
	shale_id layers[N];
	for (int i = 0; i < N; i++) {
		shale_layer_builder *lb = shale_lb_new(f->s);
		char p[64], d[16];
		snprintf(p, sizeof p, "deep/add_%d", i);
		snprintf(d, sizeof d, "v%d", i);
		add_file(lb, p, d, strlen(d), 0644);
		add_file(lb, "common", d, strlen(d), 0644);
		if (i > 0) {
			snprintf(p, sizeof p, "deep/add_%d", i - 1);
			if (i % 2)
				assert_int_equal(shale_lb_add_whiteout(lb, p), 0);
		}
		assert_int_equal(shale_lb_finish(lb, &layers[i]), 0);
		shale_lb_free(lb);
	}
	shale_view *v = shale_view_open(f->s, layers, N);
	assert_non_null(v);
	shale_vattr a;
	assert_int_equal(shale_view_resolve(v, "common", &a), 0);
	assert_int_equal(a.layer, N - 1);
	assert_int_equal(shale_view_resolve(v, "deep/add_0", &a), -1);
	assert_int_equal(shale_view_resolve(v, "deep/add_1", &a), 0);
	assert_int_equal(a.layer, 1);
	char names[4096] = "";
	assert_int_equal(shale_view_resolve(v, "deep", &a), 0);
	assert_int_equal(shale_view_readdir(v, a.ino, NULL, collect_names, names), 0);
	int count = 0;
	for (char *p = names; *p; p++)
		count += *p == ' ';
	assert_int_equal(count, N / 2); /* odd layers white out the previous name */
	shale_view_close(v);
}

static void test_references(void **state)
{
	(void)state;
	char out[512];
	struct { const char *in, *want; } ok[] = {
		{"busybox", "busybox:latest"},
		{"busybox:1.36", "busybox:1.36"},
		{"library/busy_box-x.y", "library/busy_box-x.y:latest"},
		{"localhost:5000/a/b:v1", "localhost:5000/a/b:v1"},
		{"registry.example.com/team/app:2024.01_rc-1", "registry.example.com/team/app:2024.01_rc-1"},
		{"a__b", "a__b:latest"},
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		assert_int_equal(shale_ref_normalize(ok[i].in, out, sizeof out), 0);
		assert_string_equal(out, ok[i].want);
	}
	const char *bad[] = {"", "Busybox", "a:", "a:-x", "a//b", "-a", "a-", "a:b:c", "a b",
			     "a@sha256:00", "a..b", "/a", "a/", ":tag", "a\nb:c", "a:b\x1b[2J"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(shale_ref_normalize(bad[i], out, sizeof out), -1);
		assert_int_equal(shale_errcode(), EINVAL);
		/* found by fuzzing: the message, which shows the reference, is one line */
		assert_null(strpbrk(shale_errmsg(), "\n\x1b"));
	}
	char longtag[200];
	memset(longtag, 'a', sizeof longtag);
	memcpy(longtag, "x:", 2);
	longtag[sizeof longtag - 1] = 0;
	assert_int_equal(shale_ref_normalize(longtag, out, sizeof out), -1);
}

static shale_id make_image(shale_store *s, const shale_id *layer, const shale_id *parent)
{
	json_t *img = shale_image_new(s, parent);
	assert_non_null(img);
	shale_image_add_layer(img, layer, "test", NULL);
	shale_id id;
	assert_int_equal(shale_image_put(s, img, &id), 0);
	json_decref(img);
	return id;
}

static int count_images_cb(void *ctx, const shale_id *id, json_t *img)
{
	(*(int *)ctx)++;
	return 0;
}

/* Tags, untagging and prune never remove what a tag or an image needs. */
static void test_tags_and_prune(void **state)
{
	struct fx *f = *state;
	uint8_t *data = random_bytes(100000, 3);
	shale_layer_builder *lb = shale_lb_new(f->s);
	add_file(lb, "data", data, 100000, 0644);
	shale_id l1;
	assert_int_equal(shale_lb_finish(lb, &l1), 0);
	shale_lb_free(lb);
	data[0] ^= 0xff;
	lb = shale_lb_new(f->s);
	add_file(lb, "data2", data, 100000, 0644);
	shale_id l2;
	assert_int_equal(shale_lb_finish(lb, &l2), 0);
	shale_lb_free(lb);
	free(data);

	shale_id base = make_image(f->s, &l1, NULL);
	shale_id top = make_image(f->s, &l2, &base);
	assert_int_equal(shale_tag_set(f->s, "app:1", &top), 0);
	shale_id got;
	assert_int_equal(shale_tag_get(f->s, "app:1", &got), 0);
	assert_memory_equal(&got, &top, sizeof got);
	assert_int_equal(shale_image_resolve(f->s, "app:1", &got), 0);
	char hex[SHALE_ID_HEX];
	shale_id_hex(&top, hex);
	hex[8] = 0;
	assert_int_equal(shale_image_resolve(f->s, hex, &got), 0);
	assert_memory_equal(&got, &top, sizeof got);
	assert_int_equal(shale_image_resolve(f->s, "nope:1", &got), -1);
	assert_int_equal(shale_errcode(), ENOENT);

	/* prune keeps the tagged image and its parent (intermediate) */
	shale_prune_stats st;
	assert_int_equal(shale_prune(f->s, false, &st), 0);
	assert_int_equal(st.images, 0);
	assert_int_equal(st.objects, 0);
	int n = 0;
	shale_image_foreach(f->s, count_images_cb, &n);
	assert_int_equal(n, 2);
	shale_view *v = shale_view_open_image(f->s, &top);
	assert_non_null(v);
	shale_view_close(v);

	/* untagged: both are dangling now */
	assert_int_equal(shale_tag_delete(f->s, "app:1"), 0);
	assert_int_equal(shale_prune(f->s, false, &st), 0);
	assert_int_equal(st.images, 2);
	assert_int_equal(st.layers, 2);
	assert_int_equal(st.objects, 2);
	assert_true(st.bytes >= 200000);
	assert_int_equal(count_objects(f->dir), 0);
	shale_layer_info li;
	assert_int_equal(shale_layer_get(f->s, &l1, &li), -1);
}

/* A pinned image (container, mount or build cache) survives prune -a. */
static void test_prune_respects_pins(void **state)
{
	struct fx *f = *state;
	shale_layer_builder *lb = shale_lb_new(f->s);
	add_file(lb, "x", "pinned content that is big enough to be an object", 50, 0644);
	uint8_t *zeros = calloc(1, 5000);
	zeros[4999] = 1;
	add_file(lb, "y", zeros, 5000, 0644);
	free(zeros);
	shale_id l;
	assert_int_equal(shale_lb_finish(lb, &l), 0);
	shale_lb_free(lb);
	shale_id img = make_image(f->s, &l, NULL);
	char hex[SHALE_ID_HEX];
	shale_id_hex(&img, hex);
	json_t *rec = json_pack("{s:s}", "image", hex);
	assert_int_equal(shale_table_put(f->s, SHALE_T_CONTAINERS, "c1", rec), 0);
	json_decref(rec);
	shale_prune_stats st;
	assert_int_equal(shale_prune(f->s, true, &st), 0);
	assert_int_equal(st.images, 0);
	shale_view *v = shale_view_open_image(f->s, &img);
	assert_non_null(v);
	shale_view_close(v);
	assert_int_equal(shale_table_delete(f->s, SHALE_T_CONTAINERS, "c1"), 0);
	assert_int_equal(shale_prune(f->s, true, &st), 0);
	assert_int_equal(st.images, 1);
}

/* Bad input leaves the store as it was: no layer, no image, and after prune no
 * orphan object. */
static void test_bad_tar_changes_nothing(void **state)
{
	struct fx *f = *state;
	char tar[PATH_MAX];
	const char *cases[] = {"dotdot", "absolute", "truncated", "hardlink_outside"};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(tar, sizeof tar, "%s/%s.tar", f->dir, cases[i]);
		assert_int_equal(make_bad_tar(tar, cases[i]), 0);
		shale_id layer;
		assert_int_equal(shale_import_layer(f->s, tar, &layer, NULL, NULL), -1);
		assert_int_equal(shale_errcode() != 0, 1);
		shale_prune_stats st;
		assert_int_equal(shale_prune(f->s, false, &st), 0);
		assert_int_equal(st.layers, 0);
		assert_int_equal(count_objects(f->dir), 0);
		unlink(tar);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_entry_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_keys_digests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_deep, setup, teardown),
		cmocka_unit_test(test_references),
		cmocka_unit_test_setup_teardown(test_tags_and_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_respects_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_tar_changes_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
