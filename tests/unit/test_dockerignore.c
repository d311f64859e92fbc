/* Unit tests of the .dockerignore matcher (tools/build/dockerignore.h): the cases of
 * moby/patternmatcher's and Go's filepath.Match test tables, Docker's documented
 * examples, exceptions, directory exclusion with exceptions inside (what a context
 * walker must descend into), reading rules and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dockerignore.h"

static struct dockerignore *load(const char *text)
{
	char *err = NULL;
	struct dockerignore *di = dockerignore_parse(text, strlen(text), NULL, &err);
	if (!di)
		fail_msg("unexpected error: %s\n--- in:\n%s", err, text);
	return di;
}

static void load_err(const char *text, const char *expected)
{
	char *err = NULL;
	struct dockerignore *di = dockerignore_parse(text, strlen(text), NULL, &err);
	if (di) {
		dockerignore_free(di);
		fail_msg("loaded, expected error %s\n--- in:\n%s", expected, text);
	}
	if (strcmp(err, expected))
		fail_msg("error\n  got:      %s\n  expected: %s", err, expected);
	free(err);
}

/* Is `path` excluded by the patterns (one per line)? */
static bool excluded(const char *patterns, const char *path)
{
	struct dockerignore *di = load(patterns);
	bool r = dockerignore_excluded(di, path);
	dockerignore_free(di);
	return r;
}

#define EXCLUDED(pats, path)                                                             \
	do {                                                                              \
		if (!excluded(pats, path))                                                \
			fail_msg("\"%s\" should be excluded by:\n%s", path, pats);        \
	} while (0)
#define KEPT(pats, path)                                                                 \
	do {                                                                              \
		if (excluded(pats, path))                                                 \
			fail_msg("\"%s\" should be kept with:\n%s", path, pats);          \
	} while (0)

static char *read_corpus(const char *name, size_t *len)
{
	char path[4096];
	const char *slash = strrchr(__FILE__, '/');
	int base = slash ? (int)(slash - __FILE__) : 0;
	snprintf(path, sizeof path, "%.*s%s../fuzz/corpus/dockerignore/%s", base, __FILE__,
		 base ? "/" : "", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	static char buf[1 << 16];
	*len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	char *copy = malloc(*len ? *len : 1);
	memcpy(copy, buf, *len);
	return copy;
}

static struct dockerignore *load_corpus(const char *name)
{
	size_t len;
	char *buf = read_corpus(name, &len), *err = NULL;
	struct dockerignore *di = dockerignore_parse(buf, len, name, &err);
	free(buf);
	if (!di)
		fail_msg("%s", err);
	return di;
}

/* ---- moby/patternmatcher's TestMatches ---- */

static void test_patternmatcher_table(void **state)
{
	(void)state;
	static const struct {
		const char *pattern, *text;
		bool match;
	} cases[] = {
		{"**", "file", true},
		{"**", "file/", true},
		{"**/", "file", true},
		{"**/", "file/", true},
		/* {"**", "/", ...}: "/" is the context root here, never excluded */
		{"**", "dir/file", true},
		{"**/", "dir/file", true},
		{"**", "dir/file/", true},
		{"**/", "dir/file/", true},
		{"**/**", "dir/file", true},
		{"**/**", "dir/file/", true},
		{"dir/**", "dir/file", true},
		{"dir/**", "dir/file/", true},
		{"dir/**", "dir/dir2/file", true},
		{"dir/**", "dir/dir2/file/", true},
		{"**/dir", "dir", true},
		{"**/dir", "dir/file", true},
		{"**/dir2/*", "dir/dir2/file", true},
		{"**/dir2/*", "dir/dir2/file/", true},
		{"**/dir2/**", "dir/dir2/dir3/file", true},
		{"**/dir2/**", "dir/dir2/dir3/file/", true},
		{"**file", "file", true},
		{"**file", "dir/file", true},
		{"**/file", "dir/file", true},
		{"**file", "dir/dir/file", true},
		{"**/file", "dir/dir/file", true},
		{"**/file*", "dir/dir/file", true},
		{"**/file*", "dir/dir/file.txt", true},
		{"**/file*txt", "dir/dir/file.txt", true},
		{"**/file*.txt", "dir/dir/file.txt", true},
		{"**/file*.txt*", "dir/dir/file.txt", true},
		{"**/**/*.txt", "dir/dir/file.txt", true},
		{"**/**/*.txt2", "dir/dir/file.txt", false},
		{"**/*.txt", "file.txt", true},
		{"**/**/*.txt", "file.txt", true},
		{"a**/*.txt", "a/file.txt", true},
		{"a**/*.txt", "a/dir/file.txt", true},
		{"a**/*.txt", "a/dir/dir/file.txt", true},
		{"a/*.txt", "a/dir/file.txt", false},
		{"a/*.txt", "a/file.txt", true},
		{"a/*.txt**", "a/file.txt", true},
		{"a[b-d]e", "ae", false},
		{"a[b-d]e", "ace", true},
		{"a[b-d]e", "aae", false},
		{"a[^b-d]e", "aze", true},
		{".*", ".foo", true},
		{".*", "foo", false},
		{"abc.def", "abcdef", false},
		{"abc.def", "abc.def", true},
		{"abc.def", "abcZdef", false},
		{"abc?def", "abcZdef", true},
		{"abc?def", "abcdef", false},
		{"**/foo/bar", "foo/bar", true},
		{"**/foo/bar", "dir/foo/bar", true},
		{"**/foo/bar", "dir/dir2/foo/bar", true},
		{"abc/**", "abc", false},
		{"abc/**", "abc/def", true},
		{"abc/**", "abc/def/ghi", true},
		{"**/.foo", ".foo", true},
		{"**/.foo", "bar.foo", false},
		{"a(b)c/def", "a(b)c/def", true},
		{"a(b)c/def", "a(b)c/xyz", false},
		{"a.|)$(}+{bc", "a.|)$(}+{bc", true},
		{"dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
		 "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true},
		{"dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true},
		{"a\\\\", "a\\", true},
		{"a\\*b", "a*b", true},
		/* patternmatcher compares "**" + literal as a string suffix */
		{"**foo", "afoo", true},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char pats[256];
		snprintf(pats, sizeof pats, "%s\n", cases[i].pattern);
		if (excluded(pats, cases[i].text) != cases[i].match)
			fail_msg("pattern %s, path %s: expected %s", cases[i].pattern, cases[i].text,
				 cases[i].match ? "a match" : "no match");
	}

	/* multiPatternTests */
	KEPT("**\n!util/docker/web\n", "util/docker/web/foo");
	EXCLUDED("**\n!util/docker/web\nutil/docker/web/foo\n", "util/docker/web/foo");
	KEPT("**\n!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl\n",
	     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl");
	KEPT("**\n!dist/*.whl\n", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl");

	/* the small ones */
	EXCLUDED("*\n", "fileutils.go");
	EXCLUDED("*.go\n", "fileutils.go");
	EXCLUDED("!fileutils.go\n*.go\n", "fileutils.go");
	KEPT("docs\n!docs/README.md\n", "docs/README.md");
	KEPT("docs/\n!docs/README.md\n", "docs/README.md");
	KEPT("docs/*\n!docs/README.md\n", "docs/README.md");
	KEPT("*.go\n!fileutils.go\n", "fileutils.go");
	KEPT("*.go\n", ".");
	KEPT("", "any/path/there");
}

/* ---- Go's filepath.Match tests, as patternmatcher runs them ---- */

static void test_filepath_match_table(void **state)
{
	(void)state;
	static const struct {
		const char *pattern, *s;
		bool match;
	} cases[] = {
		{"abc", "abc", true},
		{"*", "abc", true},
		{"*c", "abc", true},
		{"a*", "a", true},
		{"a*", "abc", true},
		{"a*", "ab/c", true}, /* its parent "ab" matches */
		{"a*/b", "abc/b", true},
		{"a*/b", "a/c/b", false},
		{"a*b*c*d*e*/f", "axbxcxdxe/f", true},
		{"a*b*c*d*e*/f", "axbxcxdxexxx/f", true},
		{"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false},
		{"a*b*c*d*e*/f", "axbxcxdxexxx/fff", false},
		{"a*b?c*x", "abxbbxdbxebxczzx", true},
		{"a*b?c*x", "abxbbxdbxebxczzy", false},
		{"ab[c]", "abc", true},
		{"ab[b-d]", "abc", true},
		{"ab[e-g]", "abc", false},
		{"ab[^c]", "abc", false},
		{"ab[^b-d]", "abc", false},
		{"ab[^e-g]", "abc", true},
		{"a\\*b", "a*b", true},
		{"a\\*b", "ab", false},
		{"a?b", "a\xe2\x98\xba" "b", true},
		{"a[^a]b", "a\xe2\x98\xba" "b", true},
		{"a???b", "a\xe2\x98\xba" "b", false},
		{"a[^a][^a][^a]b", "a\xe2\x98\xba" "b", false},
		{"[a-\xce\xb6]*", "\xce\xb1", true},
		{"*[a-\xce\xb6]", "A", false},
		{"a?b", "a/b", false},
		{"a*b", "a/b", false},
		{"[\\]a]", "]", true},
		{"[\\-]", "-", true},
		{"[x\\-]", "x", true},
		{"[x\\-]", "-", true},
		{"[x\\-]", "z", false},
		{"[\\-x]", "x", true},
		{"[\\-x]", "-", true},
		{"[\\-x]", "a", false},
		{"*x", "xxx", true},
		/* classes never match '/' */
		{"a[^b]c", "a/c", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char pats[256];
		snprintf(pats, sizeof pats, "%s\n", cases[i].pattern);
		if (excluded(pats, cases[i].s) != cases[i].match)
			fail_msg("pattern %s, path %s: expected %s", cases[i].pattern, cases[i].s,
				 cases[i].match ? "a match" : "no match");
	}

	/* filepath.ErrBadPattern: refused when the file is read, naming the line */
	static const char *bad[] = {"[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^",
				    "[^bc", "a[", "x/[z-", "ok\\"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char pats[256], want[256];
		snprintf(pats, sizeof pats, "good\n%s\n", bad[i]);
		struct dockerignore *di;
		char *err = NULL;
		di = dockerignore_parse(pats, strlen(pats), NULL, &err);
		if (di)
			fail_msg("pattern %s should be refused", bad[i]);
		snprintf(want, sizeof want, ".dockerignore:2: syntax error in pattern: \"");
		assert_true(!strncmp(err, want, strlen(want)));
		free(err);
	}
	load_err("[\n", ".dockerignore:1: syntax error in pattern: \"[\"");
	load_err("# ok\nfoo/[a-\n", ".dockerignore:2: syntax error in pattern: \"foo/[a-\"");
}

/* ---- Docker's documentation ---- */

static void test_docker_docs(void **state)
{
	(void)state;
	/* the documented example file */
	const char *ex = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
	EXCLUDED(ex, "somedir/temporary.txt");
	EXCLUDED(ex, "somedir/temp");
	EXCLUDED(ex, "somedir/temp/inside.txt");
	EXCLUDED(ex, "somedir/subdir/temporary.txt");
	EXCLUDED(ex, "tempa");
	EXCLUDED(ex, "tempb");
	KEPT(ex, "temp");
	KEPT(ex, "temporary.txt");
	KEPT(ex, "a/b/c/temp.txt");
	KEPT(ex, "# comment");

	/* ** matches any number of directories, zero included */
	EXCLUDED("**/*.go\n", "main.go");
	EXCLUDED("**/*.go\n", "cmd/tool/main.go");
	KEPT("**/*.go\n", "cmd/tool/main.golang");

	/* exceptions: the last matching line wins */
	const char *md = "*.md\n!README.md\n";
	KEPT(md, "README.md");
	EXCLUDED(md, "CHANGES.md");
	KEPT(md, "docs/guide.md"); /* patterns are anchored at the root */
	const char *secret = "*.md\n!README*.md\nREADME-secret.md\n";
	EXCLUDED(secret, "README-secret.md");
	KEPT(secret, "README-public.md");
	EXCLUDED(secret, "other.md");
	const char *all = "*.md\nREADME-secret.md\n!README*.md\n";
	KEPT(all, "README-secret.md");
	KEPT(all, "README.md");
	EXCLUDED(all, "other.md");

	struct dockerignore *di = load_corpus("docker-docs.dockerignore");
	assert_true(dockerignore_excluded(di, "README-secret.md"));
	assert_false(dockerignore_excluded(di, "README.md"));
	assert_true(dockerignore_excluded(di, "pkg/server/x.go"));
	assert_true(dockerignore_excluded(di, "somedir/temporary.txt"));
	assert_false(dockerignore_excluded(di, "src/app.c"));
	dockerignore_free(di);
}

/* ---- reading the file ---- */

static void test_reading(void **state)
{
	(void)state;
	/* ignorefile's own test file, up to its bad lines */
	struct dockerignore *di =
		load("test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n");
	static const struct {
		const char *text;
		bool exception;
	} want[] = {{"test1", false}, {"test2", false}, {"a/file/here", false}, {"lastfile", false},
		    {"inverted/abs/path", true}};
	assert_int_equal(dockerignore_count(di), 5);
	for (size_t i = 0; i < 5; i++) {
		bool exc;
		assert_string_equal(dockerignore_pattern(di, i, &exc), want[i].text);
		assert_int_equal(exc, want[i].exception);
	}
	assert_null(dockerignore_pattern(di, 5, NULL));
	dockerignore_free(di);
	load_err("test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ",
		 ".dockerignore:8: illegal exclusion pattern: \"!\"");
	load_err("ok\n!   \n", ".dockerignore:2: illegal exclusion pattern: \"!\"");

	/* cleaning like filepath.Clean; a leading '/' means the root */
	di = load("./a//b/../c/\n/x/./y\n../up\nz/..\n/\n");
	assert_string_equal(dockerignore_pattern(di, 0, NULL), "a/c");
	assert_string_equal(dockerignore_pattern(di, 1, NULL), "x/y");
	assert_string_equal(dockerignore_pattern(di, 2, NULL), "../up");
	assert_string_equal(dockerignore_pattern(di, 3, NULL), ".");
	assert_string_equal(dockerignore_pattern(di, 4, NULL), "/");
	assert_true(dockerignore_excluded(di, "a/c"));
	assert_true(dockerignore_excluded(di, "a/c/d"));
	assert_false(dockerignore_excluded(di, "a/b"));
	assert_true(dockerignore_excluded(di, "x/y"));
	dockerignore_free(di);
	EXCLUDED("/foo\n", "foo");
	EXCLUDED("foo\n", "/foo");  /* paths are cleaned too */
	EXCLUDED("foo\n", "./foo/bar");
	KEPT("foo\n", "a/foo");     /* anchored: not a base-name match */
	KEPT("foo\n", "foobar");

	/* comments only in the first column; blanks trimmed; BOM and CRLF */
	KEPT("#foo\n", "#foo");
	EXCLUDED("  #foo\n", "#foo");
	EXCLUDED("\\#foo\n", "#foo");
	EXCLUDED("   spaced   \n", "spaced");
	KEPT("*\n  !  keep  \n", "keep");
	di = load("\xef\xbb\xbf" "first\r\nsecond\r\n\r\n\t\n");
	assert_int_equal(dockerignore_count(di), 2);
	assert_string_equal(dockerignore_pattern(di, 0, NULL), "first");
	assert_string_equal(dockerignore_pattern(di, 1, NULL), "second");
	dockerignore_free(di);

	/* empty files, no file, odd paths */
	di = load("");
	assert_int_equal(dockerignore_count(di), 0);
	assert_false(dockerignore_excluded(di, "anything"));
	dockerignore_free(di);
	char *err = NULL;
	di = dockerignore_parse(NULL, 10, NULL, &err);
	assert_non_null(di);
	dockerignore_free(di);
	assert_false(dockerignore_excluded(NULL, "x"));
	assert_int_equal(dockerignore_check(NULL, "x", true), DOCKERIGNORE_INCLUDE);

	/* the root is never excluded, nor what is outside the context */
	KEPT("*\n", "");
	KEPT("**\n", ".");
	KEPT("**\n", "/");
	KEPT("**\n", "../x");
	KEPT("..\n", "..");

	/* errors name the file and line */
	static const char nul[] = "a\nb\0c\n";
	assert_null(dockerignore_parse(nul, sizeof nul - 1, "ctx/.dockerignore", &err));
	assert_string_equal(err, "ctx/.dockerignore:2: NUL byte in the file");
	free(err);
	size_t n = 70000;
	char *big = malloc(n);
	memset(big, 'x', n);
	assert_null(dockerignore_parse(big, n, NULL, &err));
	assert_string_equal(err, ".dockerignore:1: line greater than max allowed size of 65535");
	free(err);
	free(big);
}

/* ---- directories and the walker ---- */

static void test_directories(void **state)
{
	(void)state;
	/* a directory pattern excludes everything below it... */
	struct dockerignore *di = load("node_modules\nbuild/\n");
	assert_true(dockerignore_excluded(di, "node_modules"));
	assert_true(dockerignore_excluded(di, "node_modules/a/b/index.js"));
	assert_true(dockerignore_excluded(di, "build/out.o"));
	assert_false(dockerignore_excluded(di, "src/node_modules"));
	/* ...and without exceptions the walker skips it whole */
	assert_int_equal(dockerignore_check(di, "node_modules", true), DOCKERIGNORE_SKIP_DIR);
	assert_int_equal(dockerignore_check(di, "build", true), DOCKERIGNORE_SKIP_DIR);
	assert_int_equal(dockerignore_check(di, "src", true), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "build", false), DOCKERIGNORE_EXCLUDE);
	assert_false(dockerignore_may_reinclude(di, "build"));
	dockerignore_free(di);

	/* an exception inside an excluded directory: walk it, keep only that */
	di = load("docs\n!docs/README.md\n");
	assert_int_equal(dockerignore_check(di, "docs", true), DOCKERIGNORE_EXCLUDE);
	assert_true(dockerignore_may_reinclude(di, "docs"));
	assert_int_equal(dockerignore_check(di, "docs/api", true), DOCKERIGNORE_SKIP_DIR);
	assert_int_equal(dockerignore_check(di, "docs/README.md", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "docs/other.md", false), DOCKERIGNORE_EXCLUDE);
	assert_int_equal(dockerignore_check(di, "docsx", true), DOCKERIGNORE_INCLUDE);
	assert_false(dockerignore_may_reinclude(di, "doc"));
	dockerignore_free(di);

	/* a trailing slash-star or slash-star-star on an exception still counts as a path */
	di = load("build\n!build/keep/**\n");
	assert_int_equal(dockerignore_check(di, "build", true), DOCKERIGNORE_EXCLUDE);
	assert_int_equal(dockerignore_check(di, "build/keep", true), DOCKERIGNORE_EXCLUDE);
	assert_int_equal(dockerignore_check(di, "build/other", true), DOCKERIGNORE_SKIP_DIR);
	assert_int_equal(dockerignore_check(di, "build/keep/a.txt", false), DOCKERIGNORE_INCLUDE);
	dockerignore_free(di);

	/* any exception with wildcards: BuildKit walks every excluded directory */
	di = load("*\n!src/**/*.c\n");
	assert_int_equal(dockerignore_check(di, "docs", true), DOCKERIGNORE_EXCLUDE);
	assert_int_equal(dockerignore_check(di, "src", true), DOCKERIGNORE_EXCLUDE);
	assert_int_equal(dockerignore_check(di, "src/a.c", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "src/x/y/z.c", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "src/x/y/z.h", false), DOCKERIGNORE_EXCLUDE);
	dockerignore_free(di);

	/* an exception for a directory re-includes what is below it */
	di = load("*\n!include/\n!CMakeLists.txt\n");
	assert_int_equal(dockerignore_check(di, "include", true), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "include/a/b.h", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "CMakeLists.txt", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "src", true), DOCKERIGNORE_SKIP_DIR);
	/* a pattern after the exception wins again */
	dockerignore_free(di);
	EXCLUDED("*\n!include/\ninclude/private\n", "include/private/key.h");
	KEPT("*\n!include/\ninclude/private\n", "include/public.h");
}

static void test_corpus(void **state)
{
	(void)state;
	struct dockerignore *di = load_corpus("node-app.dockerignore");
	assert_int_equal(dockerignore_count(di), 2);
	assert_int_equal(dockerignore_check(di, "node_modules", true), DOCKERIGNORE_SKIP_DIR);
	assert_true(dockerignore_excluded(di, "Dockerfile"));
	assert_true(dockerignore_excluded(di, "Dockerfile.naive"));
	assert_false(dockerignore_excluded(di, "server.js"));
	assert_false(dockerignore_excluded(di, "package.json"));
	dockerignore_free(di);

	di = load_corpus("typical.dockerignore");
	assert_int_equal(dockerignore_check(di, ".git", true), DOCKERIGNORE_SKIP_DIR);
	assert_int_equal(dockerignore_check(di, "config", true), DOCKERIGNORE_EXCLUDE);
	assert_int_equal(dockerignore_check(di, "config/default.yml", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "config/secret.yml", false), DOCKERIGNORE_EXCLUDE);
	assert_true(dockerignore_excluded(di, "a/b/.DS_Store"));
	assert_true(dockerignore_excluded(di, "pkg/__pycache__/m.cpython-311.pyc"));
	assert_true(dockerignore_excluded(di, "x.swp"));
	assert_false(dockerignore_excluded(di, "README.md"));
	assert_true(dockerignore_excluded(di, "CHANGELOG.md"));
	assert_false(dockerignore_excluded(di, "docs/guide.md"));
	assert_true(dockerignore_excluded(di, "Dockerfile.dev"));
	assert_true(dockerignore_excluded(di, ".dockerignore"));
	assert_int_equal(dockerignore_check(di, "dist", true), DOCKERIGNORE_SKIP_DIR);
	assert_int_equal(dockerignore_check(di, "src", true), DOCKERIGNORE_INCLUDE);
	assert_false(dockerignore_excluded(di, "src/main.c"));
	dockerignore_free(di);

	di = load_corpus("allowlist.dockerignore");
	assert_int_equal(dockerignore_check(di, "src", true), DOCKERIGNORE_EXCLUDE);
	assert_int_equal(dockerignore_check(di, "src/a.c", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "src/x/y.c", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "src/x/y.h", false), DOCKERIGNORE_EXCLUDE);
	assert_int_equal(dockerignore_check(di, "include/foo.h", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "CMakeLists.txt", false), DOCKERIGNORE_INCLUDE);
	assert_int_equal(dockerignore_check(di, "build", true), DOCKERIGNORE_EXCLUDE);
	assert_true(dockerignore_excluded(di, "README"));
	dockerignore_free(di);
}

/* ---- robustness: what a fuzzer would try first ---- */

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_robustness(void **state)
{
	(void)state;
	uint32_t seed = 12345;
	static const char alphabet[] = "ab/*?[]^!-\\#. \n\r\xce\xb1\xff";
	static const char path_alphabet[] = "ab/.*\xce\xb1\xff";
	for (int round = 0; round < 3000; round++) {
		size_t n = rnd(&seed) % 48;
		char *buf = malloc(n ? n : 1); /* exact size: ASan sees any overread */
		for (size_t i = 0; i < n; i++)
			buf[i] = alphabet[rnd(&seed) % (sizeof alphabet - 1)];
		char *err = NULL;
		struct dockerignore *di = dockerignore_parse(buf, n, NULL, &err);
		free(buf);
		if (!di) {
			assert_non_null(err);
			free(err);
			continue;
		}
		for (int k = 0; k < 8; k++) {
			char path[32];
			size_t pl = rnd(&seed) % (sizeof path - 1);
			for (size_t i = 0; i < pl; i++)
				path[i] = path_alphabet[rnd(&seed) % (sizeof path_alphabet - 1)];
			path[pl] = 0;
			(void)dockerignore_check(di, path, k & 1);
		}
		dockerignore_free(di);
	}
	/* a pattern that backtracking matchers choke on stays linear here */
	char pat[256] = "", path[4096];
	for (int i = 0; i < 40; i++)
		strcat(pat, "*a");
	strcat(pat, "b\n");
	memset(path, 'a', sizeof path - 1);
	path[sizeof path - 1] = 0;
	KEPT(pat, path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patternmatcher_table),
		cmocka_unit_test(test_filepath_match_table),
		cmocka_unit_test(test_docker_docs),
		cmocka_unit_test(test_reading),
		cmocka_unit_test(test_directories),
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_robustness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
