/* Internal helpers of the build parsers (see textutil.h). */
#include "textutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocation (xmalloc and friends) comes from the store library. */

/* ---- arena ---- */

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	_Alignas(max_align_t) unsigned char data[];
};

struct df_arena {
	struct arena_block *head;
};

struct df_arena *arena_new(void)
{
	return xcalloc(1, sizeof(struct df_arena));
}

void arena_free(struct df_arena *a)
{
	if (!a)
		return;
	for (struct arena_block *b = a->head, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

void *arena_alloc(struct df_arena *a, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	n = (n + align - 1) & ~(align - 1);
	struct arena_block *b = a->head;
	if (!b || b->size - b->used < n) {
		size_t size = n > 8192 ? n : 8192;
		b = xmalloc(sizeof *b + size);
		b->used = 0;
		b->size = size;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

char *arena_strndup(struct df_arena *a, const char *s, size_t n)
{
	char *d = arena_alloc(a, n + 1);
	memcpy(d, s, n);
	return d;
}

char *arena_strdup(struct df_arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

void *arena_memdup(struct df_arena *a, const void *p, size_t n, size_t size)
{
	if (!n)
		return NULL;
	void *d = arena_alloc(a, n * size);
	memcpy(d, p, n * size);
	return d;
}

/* ---- strbuf ---- */

static void sb_grow(struct strbuf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + n + 1)
		cap *= 2;
	b->s = xrealloc(b->s, cap);
	b->cap = cap;
}

void sb_put(struct strbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	if (n)
		memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

void sb_puts(struct strbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

void sb_putc(struct strbuf *b, char c)
{
	sb_put(b, &c, 1);
}

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	sb_puts(b, s);
	free(s);
}

const char *sb_str(struct strbuf *b)
{
	return b->s ? b->s : "";
}

char *sb_steal(struct strbuf *b)
{
	char *s = b->s ? b->s : xstrndup("", 0);
	*b = (struct strbuf){0};
	return s;
}

void sb_reset(struct strbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = 0;
}

void sb_free(struct strbuf *b)
{
	free(b->s);
	*b = (struct strbuf){0};
}

/* ---- strv ---- */

void strv_push(struct strv *v, char *owned)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 8;
		v->v = xrealloc(v->v, v->cap * sizeof *v->v);
	}
	v->v[v->n++] = owned;
}

void strv_free(struct strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	*v = (struct strv){0};
}

/* ---- UTF-8 and Go's text rules ---- */

uint32_t utf8_decode(const char *s, size_t len, size_t *width)
{
	const unsigned char *u = (const unsigned char *)s;
	*width = 1;
	if (!len)
		return UTF8_INVALID;
	if (u[0] < 0x80)
		return u[0];
	size_t n;
	uint32_t r, min;
	if ((u[0] & 0xe0) == 0xc0) {
		n = 2, r = u[0] & 0x1f, min = 0x80;
	} else if ((u[0] & 0xf0) == 0xe0) {
		n = 3, r = u[0] & 0x0f, min = 0x800;
	} else if ((u[0] & 0xf8) == 0xf0) {
		n = 4, r = u[0] & 0x07, min = 0x10000;
	} else {
		return UTF8_INVALID + u[0];
	}
	if (len < n)
		return UTF8_INVALID + u[0];
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return UTF8_INVALID + u[0];
		r = r << 6 | (u[i] & 0x3f);
	}
	if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
		return UTF8_INVALID + u[0];
	*width = n;
	return r;
}

bool go_is_space(uint32_t r)
{
	switch (r) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
	case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202f: case 0x205f: case 0x3000:
		return true;
	}
	return r >= 0x2000 && r <= 0x200a;
}

size_t go_space_at(const char *s, size_t len)
{
	size_t w;
	uint32_t r = utf8_decode(s, len, &w);
	return go_is_space(r) ? w : 0;
}

void go_trim_left_space(const char **s, size_t *len)
{
	size_t w;
	while (*len && (w = go_space_at(*s, *len))) {
		*s += w;
		*len -= w;
	}
}

void go_trim_space(const char **s, size_t *len)
{
	go_trim_left_space(s, len);
	/* Scan forward so multi-byte spaces at the end are found whole. */
	size_t end = 0, i = 0;
	while (i < *len) {
		size_t w = go_space_at(*s + i, *len - i);
		if (w) {
			i += w;
		} else {
			utf8_decode(*s + i, *len - i, &w);
			i += w;
			end = i;
		}
	}
	*len = end;
}

void go_quote(struct strbuf *b, const char *s, size_t len)
{
	sb_putc(b, '"');
	for (size_t i = 0; i < len;) {
		size_t w;
		uint32_t r = utf8_decode(s + i, len - i, &w);
		if (r >= UTF8_INVALID) {
			sb_printf(b, "\\x%02x", (unsigned char)s[i]);
		} else if (r == '"' || r == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)r);
		} else if (r >= 0x20 && r < 0x7f) {
			sb_putc(b, (char)r);
		} else if (r < 0x80) {
			static const char esc[] = "\a\b\f\n\r\t\v", name[] = "abfnrtv";
			const char *e = r ? strchr(esc, (int)r) : NULL;
			if (e)
				sb_printf(b, "\\%c", name[e - esc]);
			else
				sb_printf(b, "\\x%02x", (unsigned)r);
		} else if (r < 0xa0 || r == 0xad || go_is_space(r)) {
			/* not printable in Go's sense: control characters and odd spaces */
			sb_printf(b, r < 0x10000 ? "\\u%04x" : "\\U%08x", (unsigned)r);
		} else {
			sb_put(b, s + i, w);
		}
		i += w;
	}
	sb_putc(b, '"');
}
