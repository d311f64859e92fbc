/* libFuzzer target: the .dockerignore reader and matcher (tools/build/dockerignore.c).
 *
 * What must hold whatever the bytes:
 *   - a refused file gives a one-line message;
 *   - the cleaned patterns, written back one a line, read back to the same patterns
 *     (cleaning is idempotent);
 *   - paths are cleaned before matching: "p", "./p" and "p//." get one answer;
 *     the root is never excluded;
 *   - dockerignore_check agrees with dockerignore_excluded and may_reinclude;
 *   - a directory the walker may skip (SKIP_DIR) has nothing below it that is
 *     included again: checked on paths made from the patterns themselves. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerignore.h"
#include "build/textutil.h"
#include "fuzz_common.h"

#define MAX_PATHS 24 /* each path is matched ~8 times against every pattern */

struct paths {
	char *v[MAX_PATHS];
	size_t n;
};

static void add_path(struct paths *ps, const char *p, size_t len)
{
	if (ps->n == MAX_PATHS || len == 0 || len > 200)
		return;
	for (size_t i = 0; i < ps->n; i++)
		if (strlen(ps->v[i]) == len && !memcmp(ps->v[i], p, len))
			return;
	ps->v[ps->n++] = strndup(p, len);
}

/* A concrete path a pattern matches, more or less: wildcards become 'x', classes
 * their first character, escapes what they escape. Then it and its parents. */
static void paths_of(struct paths *ps, const char *pat)
{
	char buf[256];
	size_t n = 0;
	for (const char *p = pat; *p && n < sizeof buf - 1; p++) {
		if (*p == '*') {
			while (p[1] == '*')
				p++;
			buf[n++] = 'x';
		} else if (*p == '?') {
			buf[n++] = 'x';
		} else if (*p == '\\' && p[1]) {
			buf[n++] = *++p;
		} else if (*p == '[') {
			const char *e = strchr(p + 1, ']');
			char c = p[1] == '^' || p[1] == '!' ? 'x' : p[1];
			buf[n++] = c && c != ']' && c != '/' ? c : 'x';
			if (e)
				p = e;
		} else {
			buf[n++] = *p;
		}
	}
	buf[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '/')
			add_path(ps, buf, i);
	add_path(ps, buf, n);
	/* and something below it */
	if (n + 2 < sizeof buf) {
		buf[n] = '/';
		buf[n + 1] = 'y';
		add_path(ps, buf, n + 2);
	}
}

static void check_cleaning(const struct dockerignore *di, const char *p)
{
	bool ex = dockerignore_excluded(di, p);
	char buf[300];
	static const char *const forms[] = {"./%s", "%s//."};
	for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
		snprintf(buf, sizeof buf, forms[i], p);
		FUZZ_CHECK(dockerignore_excluded(di, buf) == ex, "'%s' %s but '%s' not", p,
			   ex ? "excluded" : "included", buf);
	}
	for (int d = 0; d < 2; d++) {
		enum dockerignore_verdict v = dockerignore_check(di, p, d);
		FUZZ_CHECK((v == DOCKERIGNORE_INCLUDE) == !ex, "'%s': check and excluded disagree", p);
		FUZZ_CHECK(v != DOCKERIGNORE_SKIP_DIR || (d && !dockerignore_may_reinclude(di, p)),
			   "'%s': skipped", p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
	struct dockerignore *di = dockerignore_parse((const char *)data, size, NULL, &err);
	if (!di) {
		FUZZ_CHECK_ERR(err);
		free(err);
		return 0;
	}
	FUZZ_CHECK(!dockerignore_excluded(di, "") && !dockerignore_excluded(di, "."),
		   "the root is excluded");
	size_t n = dockerignore_count(di);

	/* write the patterns back, read them again */
	size_t cap = 1, len = 0;
	bool writable = true;
	for (size_t i = 0; i < n; i++) {
		const char *p = dockerignore_pattern(di, i, NULL);
		FUZZ_CHECK(p, "pattern %zu of %zu", i, n);
		cap += strlen(p) + 2;
		/* a pattern that reads back as something else when written alone */
		const char *t = p;
		size_t tl = strlen(p);
		go_trim_space(&t, &tl); /* lines are trimmed as Go's strings.TrimSpace */
		/* (a BOM is dropped at the start of the file only) */
		if (!*p || *p == '#' || strchr(p, '\n') || strchr(p, '\r') || t != p ||
		    tl != strlen(p) || !strncmp(p, "\xef\xbb\xbf", 3))
			writable = false;
	}
	if (writable) {
		char *text = malloc(cap);
		if (!text)
			abort();
		for (size_t i = 0; i < n; i++) {
			bool exc;
			const char *p = dockerignore_pattern(di, i, &exc);
			len += (size_t)sprintf(text + len, "%s%s\n", exc ? "!" : "", p);
		}
		struct dockerignore *again = dockerignore_parse(text, len, NULL, &err);
		FUZZ_CHECK(again, "cleaned patterns refused: %s\n%s", err ? err : "", text);
		FUZZ_CHECK(dockerignore_count(again) == n, "%zu patterns, then %zu", n,
			   dockerignore_count(again));
		for (size_t i = 0; i < n; i++) {
			bool e1, e2;
			const char *p1 = dockerignore_pattern(di, i, &e1);
			const char *p2 = dockerignore_pattern(again, i, &e2);
			FUZZ_CHECK(e1 == e2 && !strcmp(p1, p2), "pattern %zu '%s%s' read back as '%s%s'",
				   i, e1 ? "!" : "", p1, e2 ? "!" : "", p2);
		}
		dockerignore_free(again);
		free(text);
	}

	struct paths ps = {.n = 0};
	for (size_t i = 0; i < n; i++)
		paths_of(&ps, dockerignore_pattern(di, i, NULL));
	for (size_t i = 0; i < ps.n; i++)
		check_cleaning(di, ps.v[i]);
	/* a skipped directory has nothing included below it */
	for (size_t i = 0; i < ps.n; i++) {
		if (dockerignore_check(di, ps.v[i], true) != DOCKERIGNORE_SKIP_DIR)
			continue;
		size_t dl = strlen(ps.v[i]);
		for (size_t k = 0; k < ps.n; k++)
			if (!strncmp(ps.v[k], ps.v[i], dl) && ps.v[k][dl] == '/')
				FUZZ_CHECK(dockerignore_excluded(di, ps.v[k]),
					   "'%s' is skipped but '%s' below it is included", ps.v[i],
					   ps.v[k]);
	}
	for (size_t i = 0; i < ps.n; i++)
		free(ps.v[i]);
	dockerignore_free(di);
	return 0;
}
