/* .dockerignore matcher (see dockerignore.h).
 *
 * moby/patternmatcher turns each pattern into a regular expression; here each
 * pattern is compiled into the same tokens and run as a small NFA over the path's
 * characters: linear time whatever the pattern, so no input can make it slow. */
#include <stdlib.h>
#include <string.h>

#include "dockerignore.h"
#include "textutil.h"

#define MAX_LINE 65535

enum tok_type {
	T_LIT,       /* one given character */
	T_ANY,       /* ?: one character but '/' */
	T_CLASS,     /* [...]: one character but '/', in (or not in) the class */
	T_STAR,      /* *: any run of characters but '/' */
	T_DSTAR_DIR, /* ** before more pattern: the regexp (.*\/)?, zero or more directories */
	T_DSTAR_END, /* ** at the end: the regexp .*, anything */
};

struct class {
	bool negated;
	uint32_t (*ranges)[2];
	size_t n;
};

struct tok {
	enum tok_type type;
	uint32_t r;          /* T_LIT */
	struct class *class; /* T_CLASS */
};

/* patternmatcher's match types: suffix patterns are compared as strings, which is
 * not quite what their regexp would do ("**foo" matches "afoo"). */
enum match_kind { M_EXACT, M_PREFIX, M_SUFFIX, M_REGEXP };

struct pattern {
	char *text; /* cleaned, without the '!' */
	bool exception;
	enum match_kind kind;
	struct tok *t;
	size_t n;
};

struct dockerignore {
	struct pattern *p;
	size_t n;
	bool exceptions;             /* any "!pattern" */
	bool only_prefix_exceptions; /* no exception has wildcards */
};

/* ---- Go's filepath.Clean ---- */

static char *go_clean(const char *s, size_t n)
{
	if (!n)
		return xstrndup(".", 1);
	char *out = xmalloc(2 * n + 2);
	bool rooted = s[0] == '/';
	size_t r = 0, w = 0, dotdot = 0;
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (s[r] == '/') {
			r++;
		} else if (s[r] == '.' && (r + 1 == n || s[r + 1] == '/')) {
			r++;
		} else if (s[r] == '.' && r + 1 < n && s[r + 1] == '.' && (r + 2 == n || s[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && s[r] != '/'; r++)
				out[w++] = s[r];
		}
	}
	if (!w)
		out[w++] = '.';
	out[w] = 0;
	return out;
}

/* ---- Go's filepath.Match pattern syntax (the validity check) ---- */

/* getEsc: one (maybe escaped) class character; false when the pattern is bad. */
static bool class_char(const char *s, size_t n, size_t *i, uint32_t *r)
{
	if (*i >= n || s[*i] == '-' || s[*i] == ']')
		return false;
	if (s[*i] == '\\' && ++*i >= n)
		return false;
	size_t w;
	*r = utf8_decode(s + *i, n - *i, &w);
	if (*r >= UTF8_INVALID)
		return false;
	*i += w;
	return *i < n; /* the class must go on: at least its ']' */
}

/* Parse a class after its '['; NULL when malformed. */
static struct class *parse_class(const char *s, size_t n, size_t *i)
{
	struct class *c = xcalloc(1, sizeof *c);
	size_t cap = 0;
	if (*i < n && s[*i] == '^') {
		c->negated = true;
		++*i;
	}
	for (;;) {
		if (*i < n && s[*i] == ']' && c->n > 0) {
			++*i;
			return c;
		}
		uint32_t lo, hi;
		if (!class_char(s, n, i, &lo))
			break;
		hi = lo;
		if (s[*i] == '-') {
			++*i;
			if (!class_char(s, n, i, &hi))
				break;
		}
		if (c->n == cap) {
			cap = cap ? 2 * cap : 4;
			c->ranges = xrealloc(c->ranges, cap * sizeof *c->ranges);
		}
		c->ranges[c->n][0] = lo;
		c->ranges[c->n][1] = hi;
		c->n++;
	}
	free(c->ranges);
	free(c);
	return NULL;
}

static bool valid_pattern(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (s[i] == '\\') {
			if (i + 1 >= n)
				return false;
			i += 2;
		} else if (s[i] == '[') {
			i++;
			struct class *c = parse_class(s, n, &i);
			if (!c)
				return false;
			free(c->ranges);
			free(c);
		} else {
			i++;
		}
	}
	return true;
}

/* ---- compiling (patternmatcher's compile) ---- */

static void push_tok(struct pattern *p, size_t *cap, struct tok t)
{
	if (p->n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		p->t = xrealloc(p->t, *cap * sizeof *p->t);
	}
	p->t[p->n++] = t;
}

static void compile(struct pattern *p)
{
	const char *s = p->text;
	size_t n = strlen(s), cap = 0, w;
	p->kind = M_EXACT;
	for (size_t i = 0, tokno = 0; i < n; tokno++) {
		uint32_t ch = utf8_decode(s + i, n - i, &w);
		i += w;
		if (ch == '*') {
			if (i < n && s[i] == '*') {
				i++;
				if (i < n && s[i] == '/')
					i++; /* treat **\/ as ** */
				if (i == n) {
					p->kind = p->kind == M_EXACT ? M_PREFIX : M_REGEXP;
					push_tok(p, &cap, (struct tok){.type = T_DSTAR_END});
				} else {
					p->kind = M_REGEXP;
					push_tok(p, &cap, (struct tok){.type = T_DSTAR_DIR});
				}
				if (tokno == 0)
					p->kind = M_SUFFIX;
			} else {
				p->kind = M_REGEXP;
				push_tok(p, &cap, (struct tok){.type = T_STAR});
			}
		} else if (ch == '?') {
			p->kind = M_REGEXP;
			push_tok(p, &cap, (struct tok){.type = T_ANY});
		} else if (ch == '\\') {
			/* validated: never the last character */
			ch = utf8_decode(s + i, n - i, &w);
			i += w;
			p->kind = M_REGEXP;
			push_tok(p, &cap, (struct tok){.type = T_LIT, .r = ch});
		} else if (ch == '[') {
			p->kind = M_REGEXP;
			push_tok(p, &cap, (struct tok){.type = T_CLASS, .class = parse_class(s, n, &i)});
		} else {
			if (ch == ']')
				p->kind = M_REGEXP;
			push_tok(p, &cap, (struct tok){.type = T_LIT, .r = ch});
		}
	}
}

/* ---- matching ---- */

static bool class_has(const struct class *c, uint32_t r)
{
	bool in = false;
	for (size_t i = 0; i < c->n && !in; i++)
		in = c->ranges[i][0] <= r && r <= c->ranges[i][1];
	return in != c->negated;
}

/* NFA states: 2*i is "at token i", 2*i+1 is "inside the directories of the ** at i". */
static void add_state(const struct pattern *p, bool *set, size_t i)
{
	for (; i <= p->n; i++) {
		set[2 * i] = true;
		if (i == p->n || (p->t[i].type != T_STAR && p->t[i].type != T_DSTAR_DIR &&
				  p->t[i].type != T_DSTAR_END))
			break;
	}
}

static bool nfa_match(const struct pattern *p, const char *s, size_t len)
{
	size_t nstates = 2 * (p->n + 1);
	bool *cur = xcalloc(nstates, 1), *nxt = xcalloc(nstates, 1);
	/* Regexps' '.' does not match a newline; prefix patterns compare strings. */
	bool dot_newline = p->kind != M_REGEXP;
	add_state(p, cur, 0);
	bool alive = true;
	for (size_t k = 0, w; k < len && alive; k += w) {
		uint32_t c = utf8_decode(s + k, len - k, &w);
		memset(nxt, 0, nstates);
		alive = false;
		for (size_t i = 0; i < p->n; i++) {
			bool at = cur[2 * i], inside = cur[2 * i + 1];
			if (!at && !inside)
				continue;
			const struct tok *t = &p->t[i];
			switch (t->type) {
			case T_LIT:
				if (at && c == t->r)
					add_state(p, nxt, i + 1), alive = true;
				break;
			case T_ANY:
				if (at && c != '/')
					add_state(p, nxt, i + 1), alive = true;
				break;
			case T_CLASS:
				if (at && c != '/' && class_has(t->class, c))
					add_state(p, nxt, i + 1), alive = true;
				break;
			case T_STAR:
				if (at && c != '/')
					add_state(p, nxt, i), alive = true;
				break;
			case T_DSTAR_DIR:
				if (c == '\n' && !dot_newline)
					break;
				nxt[2 * i + 1] = alive = true;
				if (c == '/')
					add_state(p, nxt, i + 1);
				break;
			case T_DSTAR_END:
				if (at && (c != '\n' || dot_newline))
					add_state(p, nxt, i), alive = true;
				break;
			}
		}
		bool *tmp = cur;
		cur = nxt;
		nxt = tmp;
	}
	bool ok = alive && cur[2 * p->n];
	free(cur);
	free(nxt);
	return ok;
}

static bool pattern_match(const struct pattern *p, const char *s, size_t len)
{
	if (p->kind == M_SUFFIX) {
		const char *suffix = p->text + 2;
		size_t sl = strlen(suffix);
		if (len >= sl && !memcmp(s + len - sl, suffix, sl))
			return true;
		return suffix[0] == '/' && len == sl - 1 && !memcmp(s, suffix + 1, len);
	}
	return nfa_match(p, s, len);
}

/* MatchesOrParentMatches: the path or one of its parent directories matches. */
static bool matches(const struct pattern *p, const char *path)
{
	size_t len = strlen(path);
	if (pattern_match(p, path, len))
		return true;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/' && pattern_match(p, path, i))
			return true;
	return false;
}

bool dockerignore_excluded(const struct dockerignore *di, const char *path)
{
	if (!di || !di->n)
		return false;
	const char *s = path ? path : "";
	while (*s == '/')
		s++;
	char *clean = go_clean(s, strlen(s));
	bool excluded = false;
	if (strcmp(clean, ".") && strncmp(clean, "../", 3) && strcmp(clean, "..")) {
		for (size_t i = 0; i < di->n; i++) {
			const struct pattern *p = &di->p[i];
			/* only a pattern that could change the verdict is worth matching */
			if (p->exception != excluded)
				continue;
			if (matches(p, clean))
				excluded = !p->exception;
		}
	}
	free(clean);
	return excluded;
}

/* fsutil's patternWithoutTrailingGlob. */
static size_t without_trailing_glob(const char *s)
{
	size_t n = strlen(s);
	if (n >= 3 && !strcmp(s + n - 3, "/**"))
		n -= 3;
	if (n >= 2 && !strncmp(s + n - 2, "/*", 2))
		n -= 2;
	return n;
}

bool dockerignore_may_reinclude(const struct dockerignore *di, const char *dir)
{
	if (!di || !di->exceptions)
		return false;
	if (!di->only_prefix_exceptions)
		return true;
	const char *d = dir ? dir : "";
	while (*d == '/')
		d++;
	char *clean = go_clean(d, strlen(d));
	size_t dl = strlen(clean);
	bool may = false;
	for (size_t i = 0; i < di->n && !may; i++) {
		const struct pattern *p = &di->p[i];
		if (!p->exception)
			continue;
		/* pattern + "/" starts with dir + "/" */
		size_t pl = without_trailing_glob(p->text);
		may = pl >= dl && !memcmp(p->text, clean, dl) && (pl == dl || p->text[dl] == '/');
	}
	free(clean);
	return may;
}

enum dockerignore_verdict dockerignore_check(const struct dockerignore *di, const char *path,
					     bool is_dir)
{
	if (!dockerignore_excluded(di, path))
		return DOCKERIGNORE_INCLUDE;
	if (is_dir && !dockerignore_may_reinclude(di, path))
		return DOCKERIGNORE_SKIP_DIR;
	return DOCKERIGNORE_EXCLUDE;
}

size_t dockerignore_count(const struct dockerignore *di)
{
	return di ? di->n : 0;
}

const char *dockerignore_pattern(const struct dockerignore *di, size_t i, bool *exception)
{
	if (!di || i >= di->n)
		return NULL;
	if (exception)
		*exception = di->p[i].exception;
	return di->p[i].text;
}

/* ---- reading ---- */

void dockerignore_free(struct dockerignore *di)
{
	if (!di)
		return;
	for (size_t i = 0; i < di->n; i++) {
		for (size_t k = 0; k < di->p[i].n; k++)
			if (di->p[i].t[k].class) {
				free(di->p[i].t[k].class->ranges);
				free(di->p[i].t[k].class);
			}
		free(di->p[i].t);
		free(di->p[i].text);
	}
	free(di->p);
	free(di);
}

/* ignorefile.ReadAll then patternmatcher.New for one line: 0 and *out set (NULL for
 * a line without a pattern), or -1 with *msg. */
static int read_pattern(const char *line, size_t n, struct pattern *out, bool *has, char **msg)
{
	*has = false;
	if (n && line[0] == '#')
		return 0;
	go_trim_space(&line, &n);
	if (!n)
		return 0;
	bool invert = line[0] == '!';
	char *pat;
	if (invert) {
		line++, n--;
		go_trim_space(&line, &n);
	}
	if (n) {
		char *c = go_clean(line, n);
		pat = xasprintf("%s%s", invert ? "!" : "", c[0] == '/' && c[1] ? c + 1 : c);
		free(c);
	} else {
		pat = xstrndup("!", 1);
	}
	/* patternmatcher.New cleans again, then takes the '!' off */
	char *p = go_clean(pat, strlen(pat));
	free(pat);
	bool exception = p[0] == '!';
	if (exception && !p[1]) {
		free(p);
		*msg = xasprintf("illegal exclusion pattern: \"!\"");
		return -1;
	}
	char *text = xstrndup(p + exception, strlen(p + exception));
	free(p);
	if (!valid_pattern(text, strlen(text))) {
		struct strbuf b = {0};
		sb_puts(&b, "syntax error in pattern: ");
		go_quote(&b, text, strlen(text));
		*msg = sb_steal(&b);
		free(text);
		return -1;
	}
	*out = (struct pattern){.text = text, .exception = exception};
	compile(out);
	*has = true;
	return 0;
}

struct dockerignore *dockerignore_parse(const char *buf, size_t len, const char *file, char **err)
{
	struct dockerignore *di = xcalloc(1, sizeof *di);
	size_t cap = 0;
	di->only_prefix_exceptions = true;
	file = file ? file : ".dockerignore";
	if (!buf)
		len = 0;
	unsigned line = 0;
	for (size_t pos = 0; pos < len;) {
		const char *s = buf + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += nl ? n + 1 : n;
		line++;
		char *msg = NULL;
		if (n > MAX_LINE)
			msg = xasprintf("line greater than max allowed size of %d", MAX_LINE);
		else if (memchr(s, 0, n))
			msg = xasprintf("NUL byte in the file");
		if (line == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
			s += 3, n -= 3;
		if (n && s[n - 1] == '\r')
			n--;
		struct pattern p;
		bool has = false;
		if (!msg && read_pattern(s, n, &p, &has, &msg) == 0 && has) {
			if (di->n == cap) {
				cap = cap ? 2 * cap : 16;
				di->p = xrealloc(di->p, cap * sizeof *di->p);
			}
			di->p[di->n++] = p;
			if (p.exception) {
				di->exceptions = true;
				size_t pl = without_trailing_glob(p.text);
				if (strcspn(p.text, "*[]?^\\") < pl)
					di->only_prefix_exceptions = false;
			}
		}
		if (msg) {
			*err = xasprintf("%s:%u: %s", file, line, msg);
			free(msg);
			dockerignore_free(di);
			return NULL;
		}
	}
	return di;
}
