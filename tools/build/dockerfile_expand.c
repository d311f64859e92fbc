/* Variable substitution as Docker does it: BuildKit's shell lexer
 * (frontend/dockerfile/shell/lex.go), and its application to instructions. */
#include <stdlib.h>
#include <string.h>

#include "dockerfile_internal.h"

#define LEX_EOF (-1)
/* Nested ${a:-${b:-...}} deeper than this is refused rather than recursed into. */
#define LEX_MAX_DEPTH 100

struct lexer {
	const char *s;
	size_t len, pos;
	const struct lex_opts *o;
	bool raw_escapes; /* the current setting: ${x#pat} patterns keep escapes */
	df_lookup_fn lookup;
	void *ctx;
	char *err;
	int depth;
};

/* Go's text/scanner reads runes; an invalid byte reads as U+FFFD. */
static int32_t lx_peek(struct lexer *l)
{
	if (l->pos >= l->len)
		return LEX_EOF;
	size_t w;
	uint32_t r = utf8_decode(l->s + l->pos, l->len - l->pos, &w);
	return r >= UTF8_INVALID ? 0xfffd : (int32_t)r;
}

static int32_t lx_next(struct lexer *l)
{
	if (l->pos >= l->len)
		return LEX_EOF;
	size_t w;
	uint32_t r = utf8_decode(l->s + l->pos, l->len - l->pos, &w);
	l->pos += w;
	return r >= UTF8_INVALID ? 0xfffd : (int32_t)r;
}

static void put_rune(struct strbuf *b, int32_t r)
{
	char u[4];
	if (r < 0)
		r = 0xfffd; /* Go's string(rune(-1)) */
	if (r < 0x80) {
		sb_putc(b, (char)r);
	} else if (r < 0x800) {
		u[0] = (char)(0xc0 | r >> 6), u[1] = (char)(0x80 | (r & 0x3f));
		sb_put(b, u, 2);
	} else if (r < 0x10000) {
		u[0] = (char)(0xe0 | r >> 12), u[1] = (char)(0x80 | (r >> 6 & 0x3f));
		u[2] = (char)(0x80 | (r & 0x3f));
		sb_put(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | r >> 18), u[1] = (char)(0x80 | (r >> 12 & 0x3f));
		u[2] = (char)(0x80 | (r >> 6 & 0x3f)), u[3] = (char)(0x80 | (r & 0x3f));
		sb_put(b, u, 4);
	}
}

static int lx_fail(struct lexer *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int lx_fail(struct lexer *l, const char *fmt, ...)
{
	if (!l->err) {
		va_list ap;
		va_start(ap, fmt);
		l->err = xvasprintf(fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- words (ProcessWords) ---- */

struct words {
	struct strbuf word;
	bool in_word;
	struct strv *out;
};

static void w_raw_char(struct words *w, int32_t r)
{
	if (!w)
		return;
	put_rune(&w->word, r);
	w->in_word = true;
}

static void w_char(struct words *w, int32_t r)
{
	if (!w)
		return;
	bool space = r >= 0 && go_is_space((uint32_t)r);
	if (space && w->in_word) {
		if (w->word.len) {
			strv_push(w->out, sb_steal(&w->word));
			w->in_word = false;
		}
	} else if (!space) {
		w_raw_char(w, r);
	}
}

static void w_string(struct words *w, const char *s, size_t len)
{
	for (size_t i = 0, k; i < len; i += k) {
		uint32_t r = utf8_decode(s + i, len - i, &k);
		w_char(w, r >= UTF8_INVALID ? 0xfffd : (int32_t)r);
	}
}

static void w_raw_string(struct words *w, const char *s, size_t len)
{
	if (!w)
		return;
	sb_put(&w->word, s, len);
	w->in_word = true;
}

/* ---- the lexer ---- */

static int process_dollar(struct lexer *l, struct strbuf *out);
static int single_quote(struct lexer *l, struct strbuf *out);
static int double_quote(struct lexer *l, struct strbuf *out);

/* processStopOn: read up to `stop` (consumed) or the end. */
static int stop_on(struct lexer *l, int32_t stop, bool raw_escapes, struct strbuf *out,
		   struct words *w)
{
	bool saved = l->raw_escapes;
	int rc = -1;
	l->raw_escapes = raw_escapes;
	if (++l->depth > LEX_MAX_DEPTH) {
		lx_fail(l, "syntax error: substitutions nested too deeply");
		goto out;
	}
	while (lx_peek(l) != LEX_EOF) {
		int32_t ch = lx_peek(l);
		if (stop != LEX_EOF && ch == stop) {
			lx_next(l);
			rc = 0;
			goto out;
		}
		if (ch == '$' || ch == '\'' || ch == '"') {
			struct strbuf tmp = {0};
			int r = ch == '$' ? process_dollar(l, &tmp)
				: ch == '\'' ? single_quote(l, &tmp)
					     : double_quote(l, &tmp);
			if (r == 0) {
				sb_put(out, sb_str(&tmp), tmp.len);
				if (ch == '$')
					w_string(w, sb_str(&tmp), tmp.len);
				else
					w_raw_string(w, sb_str(&tmp), tmp.len);
			}
			sb_free(&tmp);
			if (r < 0)
				goto out;
			continue;
		}
		ch = lx_next(l);
		if (ch == (unsigned char)l->o->escape) {
			if (l->raw_escapes) {
				w_raw_char(w, ch);
				put_rune(out, ch);
			}
			ch = lx_next(l);
			if (ch == LEX_EOF)
				break; /* an escape at the end is dropped */
			w_raw_char(w, ch);
		} else {
			w_char(w, ch);
		}
		put_rune(out, ch);
	}
	if (stop != LEX_EOF) {
		struct strbuf s = {0};
		put_rune(&s, stop);
		lx_fail(l, "unexpected end of statement while looking for matching %s", sb_str(&s));
		sb_free(&s);
		goto out;
	}
	rc = 0;
out:
	l->depth--;
	l->raw_escapes = saved;
	return rc;
}

/* '...': everything literal, no escapes. */
static int single_quote(struct lexer *l, struct strbuf *out)
{
	int32_t ch = lx_next(l);
	if (l->o->raw_quotes)
		put_rune(out, ch);
	for (;;) {
		ch = lx_next(l);
		if (ch == LEX_EOF)
			return lx_fail(l, "unexpected end of statement while looking for matching single-quote");
		if (ch == '\'') {
			if (l->o->raw_quotes)
				put_rune(out, ch);
			return 0;
		}
		put_rune(out, ch);
	}
}

/* "...": literal but for $ substitutions and escaped " $ and escape characters. */
static int double_quote(struct lexer *l, struct strbuf *out)
{
	int32_t ch = lx_next(l);
	if (l->o->raw_quotes)
		put_rune(out, ch);
	for (;;) {
		switch (lx_peek(l)) {
		case LEX_EOF:
			return lx_fail(l, "unexpected end of statement while looking for matching double-quote");
		case '"':
			ch = lx_next(l);
			if (l->o->raw_quotes)
				put_rune(out, ch);
			return 0;
		case '$':
			if (process_dollar(l, out) < 0)
				return -1;
			break;
		default:
			ch = lx_next(l);
			if (ch == (unsigned char)l->o->escape) {
				if (l->raw_escapes)
					put_rune(out, ch);
				int32_t nx = lx_peek(l);
				if (nx == LEX_EOF)
					continue;
				if (nx == '"' || nx == '$' || nx == (unsigned char)l->o->escape)
					ch = lx_next(l);
			}
			put_rune(out, ch);
		}
	}
}

static bool is_special_param(int32_t c)
{
	return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' ||
	       c == '0';
}

static bool is_digit(int32_t c)
{
	return c >= '0' && c <= '9';
}

/* Go's unicode.IsLetter for ASCII; other characters count as letters unless they
 * are spaces or the replacement character (close enough for variable names). */
static bool is_letter(int32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	return c != 0xfffd && !go_is_space((uint32_t)c);
}

/* A name: letters, digits, _; or all digits; or one special parameter. */
static void process_name(struct lexer *l, struct strbuf *name)
{
	while (lx_peek(l) != LEX_EOF) {
		int32_t ch = lx_peek(l);
		if (!name->len && is_digit(ch)) {
			while (is_digit(lx_peek(l)))
				put_rune(name, lx_next(l));
			return;
		}
		if (!name->len && is_special_param(ch)) {
			put_rune(name, lx_next(l));
			return;
		}
		if (!is_letter(ch) && !is_digit(ch) && ch != '_')
			break;
		put_rune(name, lx_next(l));
	}
}

static const char *get_env(struct lexer *l, const char *name)
{
	return l->lookup ? l->lookup(l->ctx, name) : NULL;
}

/* ---- shell patterns of ${x#pat} ${x%pat} ${x/pat/repl}: *, ? and \ escapes ---- */

enum ptok_type { PT_LIT, PT_ANY, PT_STAR };

struct ptok {
	enum ptok_type type;
	uint32_t r;
};

struct pattern {
	struct ptok *t;
	size_t n;
};

/* convertShellPatternToRegex, as tokens. */
static int compile_pattern(struct lexer *l, const char *pat, struct pattern *out)
{
	size_t len = strlen(pat), i = 0, w;
	out->t = xcalloc(len + 1, sizeof *out->t);
	out->n = 0;
	while (i < len) {
		uint32_t r = utf8_decode(pat + i, len - i, &w);
		i += w;
		if (r >= UTF8_INVALID)
			r = 0xfffd;
		if (r == '*') {
			out->t[out->n++] = (struct ptok){PT_STAR, 0};
			continue;
		}
		if (r == '?') {
			out->t[out->n++] = (struct ptok){PT_ANY, 0};
			continue;
		}
		if (r == '\\') {
			/* an escaped } or / was only escaped for ${...}: the backslash goes */
			if (i < len && (pat[i] == '}' || pat[i] == '/'))
				continue;
			r = i < len ? utf8_decode(pat + i, len - i, &w) : 0xfffd;
			if (i < len)
				i += w;
			if (r != '*' && r != '?' && r != '\\') {
				struct strbuf c = {0};
				put_rune(&c, r >= UTF8_INVALID ? 0xfffd : (int32_t)r);
				lx_fail(l, "invalid pattern (%s) in substitution: invalid escape '\\%s'", pat,
					sb_str(&c));
				sb_free(&c);
				free(out->t);
				out->t = NULL;
				return -1;
			}
		}
		out->t[out->n++] = (struct ptok){PT_LIT, r};
	}
	return 0;
}

/* A string as runes, with the byte offset of each (and of the end). */
struct runes {
	uint32_t *r;
	size_t *off;
	size_t n;
};

static void to_runes(const char *s, struct runes *out)
{
	size_t len = strlen(s), w;
	out->r = xmalloc((len + 1) * sizeof *out->r);
	out->off = xmalloc((len + 1) * sizeof *out->off);
	out->n = 0;
	for (size_t i = 0; i < len; i += w) {
		out->off[out->n] = i;
		out->r[out->n++] = utf8_decode(s + i, len - i, &w);
	}
	out->off[out->n] = len;
}

static void add_state(const struct pattern *p, bool *set, size_t i)
{
	/* a star may match nothing: its follower is active too */
	for (; i <= p->n; i++) {
		set[i] = true;
		if (i == p->n || p->t[i].type != PT_STAR)
			break;
	}
}

/* Where a match of p starting at rune `start` can end: ends[k] for rune index k. */
static void match_ends(const struct pattern *p, const struct runes *s, size_t start, bool *ends)
{
	bool *cur = xcalloc(p->n + 1, 1), *nxt = xcalloc(p->n + 1, 1);
	memset(ends, 0, s->n + 1);
	add_state(p, cur, 0);
	for (size_t k = start;; k++) {
		ends[k] = cur[p->n];
		if (k == s->n)
			break;
		memset(nxt, 0, p->n + 1);
		bool any = false;
		for (size_t i = 0; i < p->n; i++) {
			if (!cur[i])
				continue;
			const struct ptok *t = &p->t[i];
			if (t->type == PT_STAR) {
				add_state(p, nxt, i);
				any = true;
			} else if (t->type == PT_ANY || t->r == s->r[k]) {
				add_state(p, nxt, i + 1);
				any = true;
			}
		}
		bool *tmp = cur;
		cur = nxt;
		nxt = tmp;
		if (!any)
			break;
	}
	free(cur);
	free(nxt);
}

/* ${x#pat} ${x##pat}: drop the shortest (longest) matching prefix. */
static void trim_prefix(const struct pattern *p, const char *value, bool longest, struct strbuf *out)
{
	struct runes s;
	to_runes(value, &s);
	bool *ends = xmalloc(s.n + 1);
	match_ends(p, &s, 0, ends);
	size_t cut = 0;
	bool found = false;
	for (size_t k = 0; k <= s.n; k++)
		if (ends[k]) {
			cut = k;
			found = true;
			if (!longest)
				break;
		}
	sb_puts(out, value + (found ? s.off[cut] : 0));
	free(ends);
	free(s.r);
	free(s.off);
}

/* ${x%pat} ${x%%pat}: drop the shortest (longest) matching suffix. */
static void trim_suffix(const struct pattern *p, const char *value, bool longest, struct strbuf *out)
{
	struct runes s;
	to_runes(value, &s);
	bool *ends = xmalloc(s.n + 1);
	size_t keep = s.n;
	for (size_t i = 0; i <= s.n; i++) {
		size_t start = longest ? i : s.n - i;
		match_ends(p, &s, start, ends);
		if (ends[s.n]) {
			keep = start;
			break;
		}
	}
	sb_put(out, value, s.off[keep]);
	free(ends);
	free(s.r);
	free(s.off);
}

/* ${x/pat/repl} ${x//pat/repl}: Go's Regexp.ReplaceAllString with a greedy pattern
 * (the leftmost match, as long as possible; an empty match never right after another). */
static void replace(const struct pattern *p, const char *value, const char *repl, bool all,
		    struct strbuf *out)
{
	struct runes s;
	to_runes(value, &s);
	bool *ends = xmalloc(s.n + 1);
	size_t search = 0, last_end = 0;
	bool matched_before = false;
	while (search <= s.n) {
		size_t ms = 0, me = 0;
		bool found = false;
		for (size_t st = search; st <= s.n && !found; st++) {
			match_ends(p, &s, st, ends);
			for (size_t k = s.n + 1; k-- > st;)
				if (ends[k]) {
					ms = st, me = k, found = true;
					break;
				}
		}
		if (!found)
			break;
		sb_put(out, value + s.off[last_end], s.off[ms] - s.off[last_end]);
		if (me > last_end || ms == 0 || !matched_before)
			sb_puts(out, repl);
		last_end = me;
		matched_before = true;
		search = me > search ? me : search + 1;
		if (!all)
			break;
	}
	sb_puts(out, value + s.off[last_end]);
	free(ends);
	free(s.r);
	free(s.off);
}

/* ---- $ ---- */

static int process_dollar(struct lexer *l, struct strbuf *out)
{
	lx_next(l); /* $ */
	struct strbuf name = {0}, word = {0}, chs = {0};
	int rc = -1;
	if (lx_peek(l) != '{') {
		process_name(l, &name);
		if (!name.len) {
			sb_putc(out, '$');
			rc = 0;
			goto out;
		}
		const char *v = get_env(l, sb_str(&name));
		if (!v && l->o->skip_unset) {
			sb_putc(out, '$');
			sb_puts(out, sb_str(&name));
		} else if (v) {
			sb_puts(out, v);
		}
		rc = 0;
		goto out;
	}
	lx_next(l); /* { */
	int32_t ch = lx_peek(l);
	if (ch == LEX_EOF) {
		lx_fail(l, "syntax error: missing '}'");
		goto out;
	}
	if (ch == '{' || ch == '}' || ch == ':') {
		lx_fail(l, "syntax error: bad substitution");
		goto out;
	}
	process_name(l, &name);
	const char *nm = sb_str(&name);
	ch = lx_next(l);
	if (ch == LEX_EOF) {
		/* Go says "unsupported modifier (\ufffd)" here: say what is wrong instead */
		lx_fail(l, "syntax error: missing '}'");
		goto out;
	}
	put_rune(&chs, ch);
	bool null_is_unset = false;
	if (ch == '}') {
		const char *v = get_env(l, nm);
		if (!v && l->o->skip_unset)
			sb_printf(out, "${%s}", nm);
		else if (v)
			sb_puts(out, v);
		rc = 0;
		goto out;
	}
	if (ch == ':') {
		null_is_unset = true;
		ch = lx_next(l);
		put_rune(&chs, ch);
		goto modifier; /* whatever follows, as Go's fallthrough */
	}
	if (ch == '+' || ch == '-' || ch == '?' || ch == '#' || ch == '%')
		goto modifier;
	if (ch == '/') {
		bool all = lx_peek(l) == '/';
		if (all)
			lx_next(l);
		struct strbuf pat = {0}, repl = {0};
		if (stop_on(l, '/', true, &pat, NULL) < 0) {
			if (lx_peek(l) == LEX_EOF) {
				free(l->err);
				l->err = NULL;
				lx_fail(l, "syntax error: missing '/' in ${}");
			}
			goto slash_out;
		}
		if (stop_on(l, '}', true, &repl, NULL) < 0) {
			if (lx_peek(l) == LEX_EOF) {
				free(l->err);
				l->err = NULL;
				lx_fail(l, "syntax error: missing '}'");
			}
			goto slash_out;
		}
		const char *v = get_env(l, nm);
		if (!v && l->o->skip_unset) {
			sb_printf(out, "${%s/%s/%s}", nm, sb_str(&pat), sb_str(&repl));
			rc = 0;
			goto slash_out;
		}
		struct pattern cp;
		if (compile_pattern(l, sb_str(&pat), &cp) < 0)
			goto slash_out;
		replace(&cp, v ? v : "", sb_str(&repl), all, out);
		free(cp.t);
		rc = 0;
	slash_out:
		sb_free(&pat);
		sb_free(&repl);
		goto out;
	}
	lx_fail(l, "unsupported modifier (%s) in substitution", sb_str(&chs));
	goto out;

modifier:
	if (stop_on(l, '}', ch == '#' || ch == '%', &word, NULL) < 0) {
		if (lx_peek(l) == LEX_EOF) {
			free(l->err);
			l->err = NULL;
			lx_fail(l, "syntax error: missing '}'");
		}
		goto out;
	}
	const char *v = get_env(l, nm);
	const char *w = sb_str(&word);
	if (!v && l->o->skip_unset) {
		sb_printf(out, "${%s%s%s}", nm, sb_str(&chs), w);
		rc = 0;
		goto out;
	}
	bool unset = !v || (null_is_unset && !*v);
	switch (ch) {
	case '-':
		sb_puts(out, unset ? w : v);
		break;
	case '+':
		sb_puts(out, unset ? "" : w);
		break;
	case '?':
		if (!v) {
			lx_fail(l, "%s: %s", nm, *w ? w : "is not allowed to be unset");
			goto out;
		}
		if (null_is_unset && !*v) {
			lx_fail(l, "%s: %s", nm, *w ? w : "is not allowed to be empty");
			goto out;
		}
		sb_puts(out, v);
		break;
	case '#':
	case '%': {
		bool longest = *w == (char)ch;
		if (longest)
			w++;
		struct pattern cp;
		char *pat = xasprintf("%s", w);
		int r = compile_pattern(l, pat, &cp);
		free(pat);
		if (r < 0)
			goto out;
		if (ch == '#')
			trim_prefix(&cp, v ? v : "", longest, out);
		else
			trim_suffix(&cp, v ? v : "", longest, out);
		free(cp.t);
		break;
	}
	default:
		lx_fail(l, "unsupported modifier (%s) in substitution", sb_str(&chs));
		goto out;
	}
	rc = 0;
out:
	sb_free(&name);
	sb_free(&word);
	sb_free(&chs);
	return rc;
}

int lex_process(const char *word, size_t len, const struct lex_opts *o, df_lookup_fn lookup,
		void *ctx, struct strbuf *result, struct strv *words, char **err)
{
	struct lexer l = {.s = word, .len = len, .o = o, .raw_escapes = o->raw_escapes,
			  .lookup = lookup, .ctx = ctx};
	struct words w = {.out = words};
	int rc = stop_on(&l, LEX_EOF, o->raw_escapes, result, words ? &w : NULL);
	if (rc == 0 && words && w.word.len)
		strv_push(words, sb_steal(&w.word));
	sb_free(&w.word);
	if (rc < 0)
		*err = l.err ? l.err : xasprintf("syntax error");
	else
		free(l.err);
	return rc;
}

/* ---- public ---- */

static char *process_error(const char *word, char *inner)
{
	struct strbuf b = {0};
	sb_puts(&b, "failed to process ");
	go_quote(&b, word, strlen(word));
	sb_puts(&b, ": ");
	sb_puts(&b, inner);
	free(inner);
	return sb_steal(&b);
}

char *df_expand_word(const char *word, char escape, df_lookup_fn lookup, void *ctx, char **err)
{
	struct lex_opts o = {.escape = escape ? escape : '\\'};
	struct strbuf out = {0};
	char *inner = NULL;
	if (lex_process(word, strlen(word), &o, lookup, ctx, &out, NULL, &inner) < 0) {
		sb_free(&out);
		*err = process_error(word, inner);
		return NULL;
	}
	return sb_steal(&out);
}

char **df_expand_words(const char *word, char escape, df_lookup_fn lookup, void *ctx, size_t *n,
		       char **err)
{
	struct lex_opts o = {.escape = escape ? escape : '\\'};
	struct strbuf out = {0};
	struct strv words = {0};
	char *inner = NULL;
	int rc = lex_process(word, strlen(word), &o, lookup, ctx, &out, &words, &inner);
	sb_free(&out);
	if (rc < 0) {
		strv_free(&words);
		*err = process_error(word, inner);
		return NULL;
	}
	strv_push(&words, NULL);
	*n = words.n - 1;
	return words.v;
}

void df_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* ---- instructions ---- */

struct expander {
	struct df_arena *a;
	const struct df_instruction *in;
	char escape;
	df_lookup_fn lookup;
	void *ctx;
	char *err;
};

/* Expand *s in place (into the arena). */
static int expand(struct expander *x, char **s)
{
	if (!*s)
		return 0;
	char *err = NULL, *r = df_expand_word(*s, x->escape, x->lookup, x->ctx, &err);
	if (!r) {
		x->err = xasprintf("%s:%u: %s", x->in->file, x->in->line, err);
		free(err);
		return -1;
	}
	*s = arena_strdup(x->a, r);
	free(r);
	return 0;
}

static int expand_flag(struct expander *x, struct df_instruction *e, const char *name)
{
	for (size_t i = 0; i < e->nflags; i++)
		if (!strcmp(e->flags[i].name, name) && expand(x, &e->flags[i].value) < 0)
			return -1;
	return 0;
}

/* EXPOSE: each port may expand to several words. */
static int expand_ports(struct expander *x, struct df_instruction *e)
{
	struct strv all = {0};
	for (size_t i = 0; i < e->nargs; i++) {
		char *err = NULL;
		size_t n;
		char **w = df_expand_words(e->args[i], x->escape, x->lookup, x->ctx, &n, &err);
		if (!w) {
			x->err = xasprintf("%s:%u: %s", e->file, e->line, err);
			free(err);
			strv_free(&all);
			return -1;
		}
		for (size_t k = 0; k < n; k++)
			strv_push(&all, w[k]);
		free(w);
	}
	e->args = arena_alloc(x->a, (all.n ? all.n : 1) * sizeof *e->args);
	for (size_t i = 0; i < all.n; i++)
		e->args[i] = arena_strdup(x->a, all.v[i]);
	e->nargs = all.n;
	strv_free(&all);
	return 0;
}

static int expand_all(struct expander *x, struct df_instruction *e)
{
	switch (e->cmd) {
	case DF_ENV:
	case DF_LABEL:
	case DF_ARG:
		for (size_t i = 0; i < e->nkvs; i++)
			if (expand(x, &e->kvs[i].key) < 0 || expand(x, &e->kvs[i].value) < 0)
				return -1;
		return 0;
	case DF_ADD:
	case DF_COPY:
		for (size_t i = 0; i < e->nargs; i++)
			if (expand(x, &e->args[i]) < 0)
				return -1;
		return expand_flag(x, e, "chown") < 0 || expand_flag(x, e, "chmod") < 0 ||
		       expand_flag(x, e, "from") < 0 ? -1 : 0;
	case DF_FROM:
		if (expand(x, &e->args[0]) < 0)
			return -1;
		return expand_flag(x, e, "platform");
	case DF_EXPOSE:
		return expand_ports(x, e);
	case DF_VOLUME:
	case DF_USER:
	case DF_WORKDIR:
	case DF_STOPSIGNAL:
		for (size_t i = 0; i < e->nargs; i++)
			if (expand(x, &e->args[i]) < 0)
				return -1;
		return 0;
	default:
		return 0; /* used as written */
	}
}

struct df_instruction *df_expand_instruction(const struct df_instruction *in, char escape,
					     df_lookup_fn lookup, void *ctx, char **err)
{
	struct df_arena *a = arena_new();
	struct df_instruction *e = arena_alloc(a, sizeof *e);
	df_copy_instruction(a, e, in);
	struct expander x = {a, in, escape ? escape : '\\', lookup, ctx, NULL};
	if (expand_all(&x, e) < 0) {
		*err = x.err;
		arena_free(a);
		return NULL;
	}
	e->own_ = a;
	return e;
}
