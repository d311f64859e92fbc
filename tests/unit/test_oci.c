/* Unit tests of tools/oci: digests, the OCI JSON readers (valid documents, every
 * kind of bad one, and mangled copies of the fuzzing seeds), registry references,
 * authentication challenges, and layer export (reproducible, and imported back
 * to the same layer). */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "blobcache.h"
#include "decompress.h"
#include "digest.h"
#include "imagedoc.h"
#include "layer_tar.h"
#include "media.h"
#include "reference.h"
#include "store.h"
#include "testutil.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* ---- digests ---- */

static void test_digest(void **state)
{
	(void)state;
	char d[OCI_DIGEST_LEN];
	oci_sha256_buf("", 0, d);
	assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	oci_sha256_buf("abc", 3, d);
	assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	oci_hasher *h = oci_hasher_new();
	oci_hasher_update(h, "a", 1);
	oci_hasher_update(h, "bc", 2);
	oci_hasher_final(h, d);
	oci_hasher_free(h);
	assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_true(oci_digest_valid(d));
	assert_true(oci_digest_valid(D("0")));
	assert_false(oci_digest_valid(NULL));
	assert_false(oci_digest_valid("sha256:abc"));
	assert_false(oci_digest_valid(D("A")));           /* uppercase */
	assert_false(oci_digest_valid("sha512:" "00"));   /* other algorithms */
	assert_false(oci_digest_valid(D("0") "0"));       /* too long */
	char s[13];
	oci_digest_short(d, s);
	assert_string_equal(s, "ba7816bf8f01");
}

/* ---- JSON readers ---- */

static const char manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D("1") "\",\"size\":7},"
	"\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D("2") "\",\"size\":10},"
	"{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"" D("3") "\",\"size\":0}]}";

static void test_manifest(void **state)
{
	(void)state;
	struct oci_manifest m;
	assert_int_equal(oci_manifest_parse(manifest, strlen(manifest), &m), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.config.digest, D("1"));
	assert_int_equal(m.config.size, 7);
	assert_int_equal(m.layers[0].size, 10);
	assert_string_equal(m.layers[1].digest, D("3"));
	oci_manifest_free(&m);
	assert_int_equal(oci_detect_kind(NULL, manifest, strlen(manifest)), OCI_KIND_MANIFEST);
	assert_int_equal(oci_detect_kind(OCI_MT_INDEX, manifest, strlen(manifest)), OCI_KIND_INDEX);

	/* every way to be wrong: an error with a message, never a crash */
	static const char *const bad[] = {
		"",
		"[]",
		"{\"schemaVersion\":1}",
		"{\"schemaVersion\":2,\"config\":{}}",
		"{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("1") "\",\"size\":-1},\"layers\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"digest\":\"sha512:00\",\"size\":1},\"layers\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("1") "\",\"size\":1}}",
		"{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("1") "\",\"size\":1},\"layers\":[{\"mediaType\":\"text/plain\",\"digest\":\"" D("2") "\",\"size\":1}]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.example+json\",\"digest\":\"" D("1") "\",\"size\":1},\"layers\":[]}",
		"{\"schemaVersion\":2,\"schemaVersion\":2}",
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\"}",
		"{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("1") "\",\"size\":1.5},\"layers\":[]}",
		/* found by fuzzing: strings from the document are shown on one line */
		"{\"schemaVersion\":2,\"mediaType\":\"a\\nb\\u001b[2J\"}",
		"{\"schemaVersion\":2,\"config\":{\"digest\":\"x:\\n\",\"size\":1},\"layers\":[]}",
		"{\"a\":\"b\\\n\"}", /* jansson's message quotes the bad token, newline and all */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(oci_manifest_parse(bad[i], strlen(bad[i]), &m), -1);
		assert_int_equal(shale_errcode(), EINVAL);
		assert_true(strlen(shale_errmsg()) > 0);
		assert_null(strpbrk(shale_errmsg(), "\n\x1b"));
	}
	assert_int_equal(oci_manifest_parse(NULL, 0, &m), -1);
}

static void test_index(void **state)
{
	(void)state;
	static const char idx[] =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"" D("a") "\",\"size\":1,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
		"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"" D("b") "\",\"size\":2,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
		"\"annotations\":{\"" OCI_ANN_REF_NAME "\":\"app:1\",\"" CONTAINERD_ANN_NAME "\":\"docker.io/library/app:1\"}}]}";
	struct oci_index x;
	assert_int_equal(oci_index_parse(idx, strlen(idx), &x), 0);
	assert_int_equal(x.n, 2);
	assert_int_equal(oci_index_pick(&x, "linux", "amd64", NULL), 1);
	assert_int_equal(oci_index_pick(&x, "linux", "arm64", "v8"), 0);
	assert_int_equal(oci_index_pick(&x, "linux", "arm64", "v7"), -1);
	assert_int_equal(oci_index_pick(&x, "windows", "amd64", NULL), -1);
	assert_string_equal(x.manifests[1].ref_name, "app:1");
	char ref[512];
	assert_int_equal(oci_familiar_ref(x.manifests[1].image_name, ref, sizeof ref), 0);
	assert_string_equal(ref, "app:1");
	/* found by fuzzing: "library/" is dropped only before a one-component name */
	assert_int_equal(oci_familiar_ref("docker.io/library/m/app:2", ref, sizeof ref), 0);
	assert_string_equal(ref, "library/m/app:2");
	assert_int_equal(oci_familiar_ref("docker.io/library/busybox", ref, sizeof ref), 0);
	assert_string_equal(ref, "busybox:latest");
	assert_int_equal(oci_familiar_ref("index.docker.io/a.b/c:1", ref, sizeof ref), 0);
	assert_string_equal(ref, "docker.io/a.b/c:1");
	oci_index_free(&x);
	assert_int_equal(oci_detect_kind(NULL, idx, strlen(idx)), OCI_KIND_INDEX);
	static const char *const bad[] = {
		"{\"schemaVersion\":2}",
		"{\"schemaVersion\":2,\"manifests\":{}}",
		"{\"schemaVersion\":2,\"manifests\":[1]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D("a") "\",\"size\":1,\"annotations\":[]}]}",
		"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"manifests\":[]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(oci_index_parse(bad[i], strlen(bad[i]), &x), -1);
}

static void test_config(void **state)
{
	(void)state;
	static const char cfg[] =
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
		"\"config\":{\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D("c") "\"]},"
		"\"history\":[{\"created_by\":\"a\",\"empty_layer\":true},{\"created_by\":\"b\",\"x\":1}]}";
	struct oci_config c;
	assert_int_equal(oci_config_parse(cfg, strlen(cfg), &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.diff_ids[0], D("c"));
	/* to a shale image and back to the same config */
	json_t *img = oci_image_from_config(&c);
	assert_int_equal(json_array_size(json_object_get(img, "history")), 2);
	assert_null(json_object_get(json_array_get(json_object_get(img, "history"), 1), "x"));
	json_t *again = oci_config_from_image(img, c.diff_ids, c.n);
	assert_true(json_equal(json_object_get(again, "config"), json_object_get(c.doc, "config")));
	assert_true(json_equal(json_object_get(again, "rootfs"), json_object_get(c.doc, "rootfs")));
	assert_string_equal(json_string_value(json_object_get(again, "created")), "2024-01-01T00:00:00Z");
	json_decref(again);
	json_decref(img);
	oci_config_free(&c);
	/* history that does not match the layers is rebuilt, one row per layer */
	static const char mism[] = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D("c") "\",\"" D("d") "\"]},"
				   "\"history\":[{\"created_by\":\"only one\"}]}";
	assert_int_equal(oci_config_parse(mism, strlen(mism), &c), 0);
	img = oci_image_from_config(&c);
	assert_int_equal(json_array_size(json_object_get(img, "history")), 2);
	json_decref(img);
	oci_config_free(&c);
	static const char *const bad[] = {
		"{}",
		"{\"rootfs\":{\"type\":\"layers\"}}",
		"{\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}",
		"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:xyz\"]}}",
		"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"os\":5}",
		"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":[]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(oci_config_parse(bad[i], strlen(bad[i]), &c), -1);
}

static void test_docker_manifest(void **state)
{
	(void)state;
	static const char dm[] = "[{\"Config\":\"abc.json\",\"RepoTags\":[\"a:1\",\"b/c:2\"],\"Layers\":[\"x/layer.tar\"]},"
				 "{\"Config\":\"def.json\",\"RepoTags\":null,\"Layers\":[]}]";
	struct docker_manifest d;
	assert_int_equal(docker_manifest_parse(dm, strlen(dm), &d), 0);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.v[0].ntags, 2);
	assert_string_equal(d.v[0].tags[1], "b/c:2");
	assert_string_equal(d.v[0].layers[0], "x/layer.tar");
	assert_int_equal(d.v[1].ntags, 0);
	docker_manifest_free(&d);
	static const char *const bad[] = {"{}", "[]", "[{}]", "[{\"Config\":\"a\"}]",
					  "[{\"Config\":\"a\",\"Layers\":[1]}]", "[{\"Config\":1,\"Layers\":[]}]"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(docker_manifest_parse(bad[i], strlen(bad[i]), &d), -1);
}

/* Every reader, on every seed and on mangled copies: truncated at every length
 * (up to a bound), and with bytes flipped. ASan and UBSan watch. */
static void run_readers(const char *buf, size_t len)
{
	struct oci_manifest m;
	struct oci_index x;
	struct oci_config c;
	struct docker_manifest d;
	struct auth_challenge ch;
	if (oci_manifest_parse(buf, len, &m) == 0)
		oci_manifest_free(&m);
	if (oci_index_parse(buf, len, &x) == 0) {
		oci_index_pick(&x, "linux", "amd64", NULL);
		oci_index_free(&x);
	}
	if (oci_config_parse(buf, len, &c) == 0) {
		json_decref(oci_image_from_config(&c));
		oci_config_free(&c);
	}
	if (docker_manifest_parse(buf, len, &d) == 0)
		docker_manifest_free(&d);
	oci_detect_kind(NULL, buf, len);
	auth_parse_challenge(buf, len, &ch);
}

static void test_seed_corpus(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", __FILE__);
	char *slash = strrchr(dir, '/');
	assert_non_null(slash);
	snprintf(slash, sizeof dir - (size_t)(slash - dir), "/../fuzz/corpus/oci");
	DIR *dp = opendir(dir);
	assert_non_null(dp);
	struct dirent *de;
	size_t seeds = 0;
	unsigned rng = 12345;
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.')
			continue;
		char path[PATH_MAX + 256];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		char buf[65536];
		ssize_t n = read(fd, buf, sizeof buf);
		close(fd);
		assert_true(n > 0);
		seeds++;
		for (size_t cut = 0; cut <= (size_t)n; cut += cut < 64 ? 1 : 37) {
			char *copy = malloc(cut ? cut : 1); /* exactly cut bytes: overreads show */
			memcpy(copy, buf, cut);
			run_readers(copy, cut);
			free(copy);
		}
		for (int k = 0; k < 300; k++) {
			char *copy = malloc((size_t)n);
			memcpy(copy, buf, (size_t)n);
			for (int f = 0; f < 3; f++) {
				rng = rng * 1103515245u + 12345u;
				copy[(rng >> 8) % (unsigned)n] ^= (char)(1u << ((rng >> 4) & 7));
			}
			run_readers(copy, (size_t)n);
			free(copy);
		}
	}
	closedir(dp);
	assert_true(seeds >= 10);
}

/* ---- references and challenges ---- */

static void test_references(void **state)
{
	(void)state;
	struct reg_ref r;
	assert_int_equal(reg_ref_parse("127.0.0.1:5000/team/app:1.0", &r), 0);
	assert_string_equal(r.host, "127.0.0.1:5000");
	assert_string_equal(r.repo, "team/app");
	assert_string_equal(r.tag, "1.0");
	assert_string_equal(r.local, "127.0.0.1:5000/team/app:1.0");
	assert_int_equal(reg_ref_parse("busybox", &r), 0);
	assert_string_equal(r.host, "registry-1.docker.io");
	assert_string_equal(r.domain, "docker.io");
	assert_string_equal(r.repo, "library/busybox");
	assert_string_equal(r.tag, "latest");
	assert_string_equal(r.local, "busybox:latest");
	assert_int_equal(reg_ref_parse("localhost/x@" D("e"), &r), 0);
	assert_string_equal(r.host, "localhost");
	assert_string_equal(r.digest, D("e"));
	assert_string_equal(r.tag, "");
	assert_int_equal(reg_ref_parse("quay.io/a/b/c:v@" D("f"), &r), 0);
	assert_string_equal(r.repo, "a/b/c");
	assert_string_equal(r.tag, "v");
	/* found by fuzzing: library/m/app is not m/app */
	assert_int_equal(reg_ref_parse("docker.io/library/m/app", &r), 0);
	assert_string_equal(r.repo, "library/m/app");
	assert_string_equal(r.local, "library/m/app:latest");
	assert_int_equal(reg_ref_parse("docker.io/a.b/c:1", &r), 0);
	assert_string_equal(r.host, "registry-1.docker.io");
	assert_string_equal(r.local, "docker.io/a.b/c:1"); /* a.b/c:1 would be registry a.b */
	static const char *const bad[] = {"", "Upper/Case", "a@sha256:12", "host:5000/a:bad tag", "a/:x",
					  /* found by fuzzing: an empty tag is not "latest" */
					  "busybox:", "host:5000/a:", "a:@" D("a"),
					  /* an image id is no name to tag (shale_ref_normalize) */
					  D("0") + 7};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(reg_ref_parse(bad[i], &r), -1);
}

static void test_challenges(void **state)
{
	(void)state;
	struct auth_challenge c;
	const char *s = "Bearer realm=\"https://auth.example/token\",service=\"reg.example\","
			"scope=\"repository:a/b:pull,push\"";
	assert_int_equal(auth_parse_challenge(s, strlen(s), &c), 0);
	assert_int_equal(c.scheme, AUTH_BEARER);
	assert_string_equal(c.realm, "https://auth.example/token");
	assert_string_equal(c.service, "reg.example");
	assert_string_equal(c.scope, "repository:a/b:pull,push");
	s = "basic realm=\"a \\\"quoted\\\" realm\"";
	assert_int_equal(auth_parse_challenge(s, strlen(s), &c), 0);
	assert_int_equal(c.scheme, AUTH_BASIC);
	assert_string_equal(c.realm, "a \"quoted\" realm");
	s = "Bearer realm=http://x/token, service=svc";
	assert_int_equal(auth_parse_challenge(s, strlen(s), &c), 0);
	assert_string_equal(c.realm, "http://x/token");
	assert_string_equal(c.service, "svc");
	static const char *const bad[] = {"", "Digest realm=\"x\"", "Bearer service=\"x\"",
					  "Bearer realm=\"unterminated"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(auth_parse_challenge(bad[i], strlen(bad[i]), &c), -1);
	char *h = auth_basic_header("user", "pa:ss");
	assert_string_equal(h, "Basic dXNlcjpwYTpzcw==");
	free(h);
}

static void test_credentials(void **state)
{
	(void)state;
	char dir[] = "/tmp/shale-unit-auth.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *user = NULL, *pass = NULL;
	assert_int_equal(auth_get(dir, "reg:5000", &user, &pass), 0);
	assert_int_equal(auth_put(dir, "reg:5000", "me", "p@ss:word"), 0);
	assert_int_equal(auth_put(dir, "other", "x", "y"), 0);
	assert_int_equal(auth_get(dir, "reg:5000", &user, &pass), 1);
	assert_string_equal(user, "me");
	assert_string_equal(pass, "p@ss:word");
	free(user);
	free(pass);
	char *file = auth_file(dir);
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(file);
	assert_int_equal(auth_delete(dir, "reg:5000"), 1);
	assert_int_equal(auth_delete(dir, "reg:5000"), 0);
	assert_int_equal(auth_get(dir, "other", &user, &pass), 1);
	free(user);
	free(pass);
	rm_rf(dir);
}

/* ---- layer export ---- */

struct fx {
	char dir[64];
	shale_store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/shale-unit-oci.XXXXXX");
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

static void add_file(shale_layer_builder *lb, const char *path, const void *data, size_t len,
		     uint64_t at)
{
	shale_content_writer *cw = shale_lb_content(lb);
	shale_entry e = {.type = SHALE_REG, .mode = 0644, .uid = 1000, .gid = 100};
	e.mtime.tv_sec = 1700000000;
	e.mtime.tv_nsec = 5;
	e.ctime = e.mtime;
	assert_int_equal(shale_cw_begin(cw, at + len), 0);
	if (len)
		assert_int_equal(shale_cw_write(cw, at, data, len), 0);
	assert_int_equal(shale_cw_end(cw, &e), 0);
	assert_int_equal(shale_lb_add(lb, path, &e), 0);
}

/* A layer with everything a tar changeset can carry. */
static shale_id make_layer(shale_store *s)
{
	shale_layer_builder *lb = shale_lb_new(s);
	assert_non_null(lb);
	shale_entry root = {.type = SHALE_DIR, .mode = 0755};
	root.mtime.tv_sec = 1600000000;
	root.ctime = root.mtime;
	assert_int_equal(shale_lb_add(lb, "", &root), 0);
	shale_entry d = {.type = SHALE_DIR, .mode = 01777, .uid = 7, .gid = 8};
	d.mtime.tv_sec = 1500000000;
	d.mtime.tv_nsec = 123456789;
	d.ctime.tv_sec = 1500000001; /* a ctime of its own: kept in a pax header */
	assert_int_equal(shale_lb_add(lb, "dir", &d), 0);
	add_file(lb, "dir/small", "hello", 5, 0);
	uint8_t *big = malloc(3 * SHALE_CHUNK_SIZE / 2);
	for (size_t i = 0; i < 3 * SHALE_CHUNK_SIZE / 2; i++)
		big[i] = (uint8_t)(i * 7 + i / 4096);
	add_file(lb, "dir/big", big, 3 * SHALE_CHUNK_SIZE / 2, 0);
	add_file(lb, "sparse", big, 1000, 3 * (uint64_t)SHALE_CHUNK_SIZE); /* 3 holes, then data */
	free(big);
	assert_int_equal(shale_lb_add_hardlink(lb, "dir/link-to-small", "dir/small"), 0);
	shale_entry l = {.type = SHALE_LNK, .mode = 0777, .target = "../etc/x", .target_len = 8, .size = 8};
	assert_int_equal(shale_lb_add(lb, "dir/sym", &l), 0);
	shale_entry c = {.type = SHALE_CHR, .mode = 0620, .rdev = makedev(4, 64)};
	assert_int_equal(shale_lb_add(lb, "dev/tty", &c), 0);
	shale_entry p = {.type = SHALE_FIFO, .mode = 0600};
	assert_int_equal(shale_lb_add(lb, "dev/fifo", &p), 0);
	uint8_t xa[64];
	size_t xl = xattr_put(xa, "user.k", "v\0w", 3);
	shale_entry x = {.type = SHALE_REG, .mode = 0400, .xattrs = xa, .xattrs_len = (uint32_t)xl};
	shale_content_writer *cw = shale_lb_content(lb);
	assert_int_equal(shale_cw_begin(cw, 0), 0);
	assert_int_equal(shale_cw_end(cw, &x), 0);
	assert_int_equal(shale_lb_add(lb, "xattr-file", &x), 0);
	assert_int_equal(shale_lb_add_whiteout(lb, "dir/gone"), 0);
	assert_int_equal(shale_lb_set_opaque(lb, "opaque"), 0);     /* implicit and opaque */
	add_file(lb, "opaque/inside", "i", 1, 0);
	assert_int_equal(shale_lb_add(lb, "implicit/parent/file", &p), 0); /* implicit parents */
	shale_id id;
	assert_int_equal(shale_lb_finish(lb, &id), 0);
	shale_lb_free(lb);
	return id;
}

static int memfile(void)
{
	int fd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void test_layer_export(void **state)
{
	struct fx *f = *state;
	shale_id layer = make_layer(f->s);
	const enum oci_compression comps[] = {OCI_COMP_NONE, OCI_COMP_GZIP, OCI_COMP_ZSTD};
	char first_diff[OCI_DIGEST_LEN] = "";
	for (size_t k = 0; k < 3; k++) {
		struct blob_info a, b;
		uint64_t ta, tb;
		int fa = memfile(), fb = memfile();
		assert_int_equal(oci_layer_write(f->s, &layer, comps[k], fa, &a, &ta, NULL, NULL), 0);
		assert_int_equal(oci_layer_write(f->s, &layer, comps[k], fb, &b, &tb, NULL, NULL), 0);
		/* reproducible: same digests, same bytes */
		assert_string_equal(a.digest, b.digest);
		assert_string_equal(a.diff_id, b.diff_id);
		assert_int_equal(a.size, b.size);
		assert_int_equal(ta, tb);
		assert_int_equal(ta % 512, 0);
		if (!first_diff[0])
			strcpy(first_diff, a.diff_id);
		assert_string_equal(a.diff_id, first_diff); /* one tar, whatever the compression */
		if (comps[k] == OCI_COMP_NONE)
			assert_string_equal(a.digest, a.diff_id);
		assert_string_equal(a.media_type, oci_layer_media_type(comps[k]));
		/* the digests a reader computes agree */
		char dg[OCI_DIGEST_LEN], df[OCI_DIGEST_LEN];
		uint64_t size, tar;
		assert_int_equal(oci_blob_digests(fa, dg, &size, df, &tar, NULL, NULL), 0);
		assert_string_equal(dg, a.digest);
		assert_string_equal(df, a.diff_id);
		assert_int_equal(size, (uint64_t)a.size);
		assert_int_equal(tar, ta);
		/* and importing the blob gives the very same layer */
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fa);
		shale_id back;
		if (shale_import_layer(f->s, path, &back, NULL, NULL) < 0)
			fail_msg("import %s: %s", oci_compression_name(comps[k]), shale_errmsg());
		assert_int_equal(shale_id_cmp(&back, &layer), 0);
		close(fa);
		close(fb);
	}
}

static void test_layer_blob_cache(void **state)
{
	struct fx *f = *state;
	shale_id layer = make_layer(f->s);
	struct blob_info b, c;
	assert_int_equal(blobcache_export_get(f->s, &layer, OCI_COMP_GZIP, &b), 0);
	char *path;
	assert_int_equal(oci_layer_blob(f->s, &layer, OCI_COMP_GZIP, &b, &path, NULL, NULL), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, b.size);
	assert_non_null(strstr(path, "/tmp/blobs/sha256/"));
	unlink(path);
	free(path);
	/* cached: the digests come back without a new export */
	assert_int_equal(blobcache_export_get(f->s, &layer, OCI_COMP_GZIP, &c), 1);
	assert_string_equal(b.digest, c.digest);
	assert_string_equal(b.diff_id, c.diff_id);
	assert_int_equal(b.size, c.size);
	assert_int_equal(oci_layer_digests(f->s, &layer, OCI_COMP_GZIP, &c, NULL, NULL), 0);
	assert_string_equal(b.digest, c.digest);
	shale_id found;
	assert_int_equal(blobcache_layer_for_diff(f->s, b.diff_id, &found), 1);
	assert_int_equal(shale_id_cmp(&found, &layer), 0);
	assert_int_equal(blobcache_layer_for_diff(f->s, D("9"), &found), 0);
	/* the manifest of an image of that layer is stable too */
	json_t *img = shale_image_new(f->s, NULL);
	shale_image_add_layer(img, &layer, "made", NULL);
	struct oci_docs d1, d2;
	assert_int_equal(oci_docs_build(img, &b, 1, &d1), 0);
	assert_int_equal(oci_docs_build(img, &b, 1, &d2), 0);
	assert_string_equal(d1.manifest_digest, d2.manifest_digest);
	struct oci_manifest m;
	assert_int_equal(oci_manifest_parse(d1.manifest, d1.manifest_len, &m), 0);
	assert_string_equal(m.layers[0].digest, b.digest);
	assert_string_equal(m.config.digest, d1.config_digest);
	oci_manifest_free(&m);
	oci_docs_free(&d1);
	oci_docs_free(&d2);
	json_decref(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_docker_manifest),
		cmocka_unit_test(test_seed_corpus),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_challenges),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test_setup_teardown(test_layer_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_blob_cache, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
