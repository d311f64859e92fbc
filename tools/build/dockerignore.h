// .dockerignore: which files of the build context are left out, with Docker's rules
// (moby/patternmatcher and its ignorefile reader, and BuildKit's context walker,
// tonistiigi/fsutil). Line comments here: the glob examples would end a block comment.
//
// The file: one pattern a line. A line starting with '#' is a comment (only in the
// first column: "  # x" is a pattern, as in Docker). Lines are trimmed; blank lines
// are skipped. A pattern is cleaned like Go's filepath.Clean ("a//b/../c/" is "a/c")
// and a leading '/' dropped ("/x" is "x"); "!pattern" is an exception that includes
// again what earlier patterns excluded. The last pattern that matches a path decides.
//
// Matching: `*` is any run of characters but '/', `?` one character but '/',
// `[a-z]` `[^a-z]` a class (never '/'), `\` escapes the next character, and `**`
// any number of directories, zero included ("**/*.go" matches "a.go" and "a/b/c.go";
// "dir/**" everything below dir). A pattern that matches a directory excludes
// everything below it: "docs" excludes "docs/a/b.md" (unless an exception such as
// "!docs/a/b.md" re-includes it). Patterns are matched against whole paths relative
// to the context root, not against base names: "*.md" is "README.md" but not
// "docs/x.md".
//
// Errors are one line with the line number: ".dockerignore:3: syntax error in pattern: \"[\"".

#ifndef SHALE_DOCKERIGNORE_H
#define SHALE_DOCKERIGNORE_H

#include <stdbool.h>
#include <stddef.h>

struct dockerignore;

/* Parse a .dockerignore from a buffer (not NUL-terminated, never read beyond len; any
 * input is safe). `file` names it in messages (NULL: ".dockerignore"). Returns NULL
 * with *err set to a malloc'd one-line message on error. An empty file excludes
 * nothing. */
struct dockerignore *dockerignore_parse(const char *buf, size_t len, const char *file, char **err);
void dockerignore_free(struct dockerignore *di);

/* Is this path (relative to the context root, '/'-separated; it is cleaned first)
 * left out of the context? The root itself ("" or ".") never is. */
bool dockerignore_excluded(const struct dockerignore *di, const char *path);

// For an excluded directory: may an exception re-include something below it? Then
// the walker must still descend into it (and, for each path it keeps there, create
// the excluded directories above it). False means the whole subtree can be skipped.
// BuildKit's rule: true when any exception has wildcards (beyond a trailing "/*" or
// "/**"), else when an exception names a path inside the directory.
bool dockerignore_may_reinclude(const struct dockerignore *di, const char *dir);

/* Both questions at once, for a walker. */
enum dockerignore_verdict {
	DOCKERIGNORE_INCLUDE,  /* send it (a directory: and walk into it) */
	DOCKERIGNORE_EXCLUDE,  /* leave it out; a directory must still be walked */
	DOCKERIGNORE_SKIP_DIR, /* a directory left out with everything below it */
};
enum dockerignore_verdict dockerignore_check(const struct dockerignore *di, const char *path,
					     bool is_dir);

/* The patterns as cleaned, in order (for messages and tests). */
size_t dockerignore_count(const struct dockerignore *di);
const char *dockerignore_pattern(const struct dockerignore *di, size_t i, bool *exception);

#endif
