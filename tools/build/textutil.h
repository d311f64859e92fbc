/* Internal helpers of the build parsers: an arena, growable strings and string
 * vectors, UTF-8 decoding, and the few Go library behaviours (unicode.IsSpace,
 * strconv.Quote) that Docker's messages and rules depend on.
 * Allocation failure aborts: inputs are bounded, so only a broken machine gets there. */
#ifndef SHALE_BUILD_TEXTUTIL_H
#define SHALE_BUILD_TEXTUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h" /* xmalloc and friends */


/* Everything allocated from an arena is freed at once. Allocations are zeroed. */
struct df_arena;
struct df_arena *arena_new(void);
void arena_free(struct df_arena *a);
void *arena_alloc(struct df_arena *a, size_t n);
char *arena_strndup(struct df_arena *a, const char *s, size_t n);
char *arena_strdup(struct df_arena *a, const char *s);
/* Copy n elements of `size` bytes into the arena (NULL when n is 0). */
void *arena_memdup(struct df_arena *a, const void *p, size_t n, size_t size);

struct strbuf {
	char *s; /* always NUL-terminated once anything was added */
	size_t len, cap;
};
void sb_put(struct strbuf *b, const char *s, size_t n);
void sb_puts(struct strbuf *b, const char *s);
void sb_putc(struct strbuf *b, char c);
void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sb_str(struct strbuf *b); /* "" when empty */
char *sb_steal(struct strbuf *b);     /* malloc'd, never NULL; b is reset */
void sb_reset(struct strbuf *b);
void sb_free(struct strbuf *b);

/* A vector of malloc'd strings. */
struct strv {
	char **v;
	size_t n, cap;
};
void strv_push(struct strv *v, char *owned);
void strv_free(struct strv *v);

/* Decode one UTF-8 character of s[0..len). An invalid byte decodes as
 * UTF8_INVALID + the byte, width 1, so that distinct bytes stay distinct. */
#define UTF8_INVALID 0x110000u
uint32_t utf8_decode(const char *s, size_t len, size_t *width);

/* Go's unicode.IsSpace. */
bool go_is_space(uint32_t r);
/* Width of the white space character at s (Go's unicode.IsSpace), 0 if none. */
size_t go_space_at(const char *s, size_t len);
/* Go's strings.TrimSpace / TrimLeftFunc(unicode.IsSpace), as offsets into s. */
void go_trim_space(const char **s, size_t *len);
void go_trim_left_space(const char **s, size_t *len);
/* Go's strconv.Quote (as printed by %q): "..." with Go escapes. */
void go_quote(struct strbuf *b, const char *s, size_t len);

#endif
