/* Dockerfile parser (see dockerfile.h).
 *
 * Two passes, as BuildKit: pass 1 reads lines into nodes (directives, comments,
 * continuations, the per-instruction splitting of arguments, heredoc bodies) and
 * pass 2 gives each node its meaning (flags, argument checks, stages). Errors of
 * pass 1 anywhere in the file therefore win over errors of pass 2, as in Docker. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "dockerfile_internal.h"

/* Docker reads Dockerfiles with a bufio.Scanner: longer lines are an error. */
#define MAX_LINE 65535

#define VEC_PUSH(arr, n, cap, item)                                            \
	do {                                                                   \
		if ((n) == (cap)) {                                            \
			(cap) = (cap) ? 2 * (cap) : 8;                         \
			(arr) = xrealloc((arr), (cap) * sizeof *(arr));        \
		}                                                              \
		(arr)[(n)++] = (item);                                         \
	} while (0)

/* How pass 1 splits an instruction's arguments (BuildKit's dispatch table). */
enum split {
	SPLIT_JSON_OR_WORDS,  /* parseMaybeJSONToList: ADD COPY VOLUME */
	SPLIT_NAME_OR_VALUE,  /* parseNameOrNameVal: ARG */
	SPLIT_JSON_OR_STRING, /* parseMaybeJSON: CMD ENTRYPOINT RUN SHELL */
	SPLIT_NAME_VALUE,     /* parseNameVal: ENV LABEL */
	SPLIT_WHITESPACE,     /* parseStringsWhitespaceDelimited: EXPOSE FROM */
	SPLIT_HEALTH,         /* parseHealthConfig */
	SPLIT_STRING,         /* parseString: MAINTAINER STOPSIGNAL USER WORKDIR */
	SPLIT_SUBCOMMAND,     /* parseSubCommand: ONBUILD */
};

struct command_info {
	const char *name;
	enum df_command cmd;
	enum split split;
	bool expands;
};

static const struct command_info commands[] = {
	{"ADD", DF_ADD, SPLIT_JSON_OR_WORDS, true},
	{"ARG", DF_ARG, SPLIT_NAME_OR_VALUE, true},
	{"CMD", DF_CMD, SPLIT_JSON_OR_STRING, false},
	{"COPY", DF_COPY, SPLIT_JSON_OR_WORDS, true},
	{"ENTRYPOINT", DF_ENTRYPOINT, SPLIT_JSON_OR_STRING, false},
	{"ENV", DF_ENV, SPLIT_NAME_VALUE, true},
	{"EXPOSE", DF_EXPOSE, SPLIT_WHITESPACE, true},
	{"FROM", DF_FROM, SPLIT_WHITESPACE, true},
	{"HEALTHCHECK", DF_HEALTHCHECK, SPLIT_HEALTH, false},
	{"LABEL", DF_LABEL, SPLIT_NAME_VALUE, true},
	{"MAINTAINER", DF_MAINTAINER, SPLIT_STRING, false},
	{"ONBUILD", DF_ONBUILD, SPLIT_SUBCOMMAND, false},
	{"RUN", DF_RUN, SPLIT_JSON_OR_STRING, false},
	{"SHELL", DF_SHELL, SPLIT_JSON_OR_STRING, false},
	{"STOPSIGNAL", DF_STOPSIGNAL, SPLIT_STRING, true},
	{"USER", DF_USER, SPLIT_STRING, true},
	{"VOLUME", DF_VOLUME, SPLIT_JSON_OR_WORDS, true},
	{"WORKDIR", DF_WORKDIR, SPLIT_STRING, true},
};

#define NCOMMANDS (sizeof commands / sizeof *commands)

const char *df_command_name(enum df_command cmd)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].cmd == cmd)
			return commands[i].name;
	return "?";
}

bool df_command_expands(enum df_command cmd)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].cmd == cmd)
			return commands[i].expands;
	return false;
}

static const struct command_info *command_lookup(const char *keyword)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcasecmp(commands[i].name, keyword))
			return &commands[i];
	return NULL;
}

/* ---- parser state and errors ---- */

struct parser {
	struct df_arena *a;
	const char *file;
	char escape;
	bool directives_done;
	bool seen_escape, seen_syntax, seen_check;
	char *syntax;
	char *err; /* malloc'd, the first error */
	bool quiet; /* errors are expected and dropped (ONBUILD triggers) */
	struct strv warnings;
	/* the input, read line by line */
	const char *buf;
	size_t len, pos;
	unsigned line; /* physical lines read so far */
};

static int fail(struct parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, unsigned line, const char *fmt, ...)
{
	if (p->err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	p->err = line ? xasprintf("%s:%u: %s", p->file, line, msg) : xasprintf("%s: %s", p->file, msg);
	free(msg);
	return -1;
}

/* A Go-quoted string (%q), in the arena: for messages. */
static const char *quoted(struct parser *p, const char *s)
{
	struct strbuf b = {0};
	go_quote(&b, s, strlen(s));
	char *q = arena_strdup(p->a, sb_str(&b));
	sb_free(&b);
	return q;
}

/* ---- pass 1: lines ---- */

/* The next physical line, without its '\n'; *full includes it (heredoc bodies keep
 * it). False at the end of the input. */
static bool read_line(struct parser *p, const char **s, size_t *n, size_t *full)
{
	if (p->pos >= p->len)
		return false;
	const char *start = p->buf + p->pos;
	const char *nl = memchr(start, '\n', p->len - p->pos);
	*s = start;
	*n = nl ? (size_t)(nl - start) : p->len - p->pos;
	*full = nl ? *n + 1 : *n;
	p->pos += *full;
	p->line++;
	return true;
}

/* Refuse what a C string cannot hold and what Docker's line scanner refuses. */
static int check_input(struct parser *p)
{
	unsigned line = 1;
	size_t linestart = 0;
	for (size_t i = 0; i <= p->len; i++) {
		if (i == p->len || p->buf[i] == '\n') {
			if (i - linestart > MAX_LINE)
				return fail(p, line, "dockerfile line greater than max allowed size of %d",
					    MAX_LINE);
			line++;
			linestart = i + 1;
		} else if (p->buf[i] == 0) {
			return fail(p, line, "NUL byte in the Dockerfile");
		}
	}
	return 0;
}

/* Go's bytes.TrimRight(line, "\r\n"). */
static size_t trim_newline(const char *s, size_t n)
{
	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	return n;
}

/* Go regexp \s: [\t\n\f\r ]. */
static bool re_space(char c)
{
	return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

/* BuildKit's reWhitespace: [\t\v\f\r ]. */
static bool re_ws(char c)
{
	return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' ';
}

/* A comment line: its first non-blank character is '#'. */
static bool is_comment(const char *s, size_t n)
{
	go_trim_left_space(&s, &n);
	return n && s[0] == '#';
}

static bool is_blank(const char *s, size_t n)
{
	go_trim_left_space(&s, &n);
	return n == 0;
}

/* `# name=value` on the first lines: syntax, escape and check, each once. Anything
 * else (another comment, a blank line, an instruction) ends the directives. */
static int directive(struct parser *p, const char *s, size_t n)
{
	if (p->directives_done)
		return 0;
	size_t i = 1, ks, ke, vs, ve;
	if (!n || s[0] != '#')
		goto done;
	while (i < n && re_space(s[i]))
		i++;
	ks = i;
	if (i >= n || !isalpha((unsigned char)s[i]))
		goto done;
	while (i < n && isalnum((unsigned char)s[i]))
		i++;
	ke = i;
	while (i < n && re_space(s[i]))
		i++;
	if (i >= n || s[i] != '=')
		goto done;
	vs = ++i;
	while (vs < n && re_space(s[vs]))
		vs++;
	ve = n;
	while (ve > vs && re_space(s[ve - 1]))
		ve--;
	if (ve == vs) {
		if (i == n)
			goto done;
		vs = n - 1; /* the regexp's (.+?) settles for the last blank */
		ve = n;
	}
	char key[16];
	if (ke - ks >= sizeof key)
		goto done;
	for (size_t k = ks; k < ke; k++)
		key[k - ks] = (char)tolower((unsigned char)s[k]);
	key[ke - ks] = 0;
	bool *seen = !strcmp(key, "escape")   ? &p->seen_escape
		     : !strcmp(key, "syntax") ? &p->seen_syntax
		     : !strcmp(key, "check")  ? &p->seen_check
					      : NULL;
	if (!seen)
		goto done;
	if (*seen)
		return fail(p, p->line, "only one %s parser directive can be used", key);
	*seen = true;
	if (!strcmp(key, "escape")) {
		if (ve - vs != 1 || (s[vs] != '`' && s[vs] != '\\'))
			return fail(p, p->line, "invalid escape token '%.*s' does not match ` or \\",
				    (int)(ve - vs), s + vs);
		p->escape = s[vs];
	} else if (!strcmp(key, "syntax")) {
		p->syntax = arena_strndup(p->a, s + vs, ve - vs);
	}
	return 0;
done:
	p->directives_done = true;
	return 0;
}

/* Docker's line continuation: the escape character at the end of the line, maybe
 * followed by blanks, unless it is itself escaped. Appends what is kept to *out;
 * returns true when the instruction ends on this line. */
static bool trim_continuation(struct parser *p, const char *s, size_t n, struct strbuf *out)
{
	size_t end = n;
	while (end && (s[end - 1] == ' ' || s[end - 1] == '\t'))
		end--;
	if (end && s[end - 1] == p->escape && (end == 1 || s[end - 2] != p->escape)) {
		sb_put(out, s, end - 1);
		return false;
	}
	sb_put(out, s, n);
	return true;
}

/* ---- pass 1: nodes ---- */

struct node {
	const struct command_info *ci; /* NULL: unknown (an error in pass 2) */
	char *keyword;
	char *original;
	unsigned start, end;
	char **flagwords;
	size_t nflagwords;
	char **args;
	size_t nargs;
	bool json;
	struct node *child; /* ONBUILD's trigger */
	struct df_heredoc *heredocs; /* content as read (not yet chomped) */
	size_t nheredocs;
};

struct argv {
	char **v;
	size_t n, cap;
};

static void argv_push(struct argv *v, char *s)
{
	VEC_PUSH(v->v, v->n, v->cap, s);
}

static char **argv_finish(struct df_arena *a, struct argv *v, size_t *n)
{
	char **r = arena_memdup(a, v->v, v->n, sizeof *v->v);
	*n = v->n;
	free(v->v);
	*v = (struct argv){0};
	return r;
}

static void put_rune(struct strbuf *b, uint32_t r, const char *src, size_t w)
{
	if (r >= UTF8_INVALID)
		sb_puts(b, "\xef\xbf\xbd"); /* Go writes utf8.RuneError */
	else
		sb_put(b, src, w);
}

/* BuildKit's extractBuilderFlags: leading `--words` (quotes and backslashes
 * processed) up to the first other word, or a `--` word. */
static void extract_flags(struct parser *p, const char *line, size_t len, struct argv *flags,
			  const char **rest, size_t *restlen)
{
	enum { SPACES, WORD, QUOTE } phase = SPACES;
	struct strbuf word = {0};
	char quote = 0;
	bool blank_ok = false;
	*rest = line + len;
	*restlen = 0;
	for (size_t pos = 0; pos <= len; pos++) {
		char ch = pos < len ? line[pos] : 0;
		if (phase == SPACES) {
			if (pos == len)
				break;
			if (re_space(ch) || ch == '\v')
				continue;
			if (ch != '-' || pos + 1 == len || line[pos + 1] != '-') {
				*rest = line + pos;
				*restlen = len - pos;
				break;
			}
			phase = WORD;
		}
		if (pos == len) {
			if (strcmp(sb_str(&word), "--") && (blank_ok || word.len))
				argv_push(flags, arena_strdup(p->a, sb_str(&word)));
			break;
		}
		if (phase == WORD) {
			if (re_space(ch) || ch == '\v') {
				phase = SPACES;
				if (!strcmp(sb_str(&word), "--")) {
					*rest = line + pos;
					*restlen = len - pos;
					break;
				}
				if (blank_ok || word.len)
					argv_push(flags, arena_strdup(p->a, sb_str(&word)));
				sb_reset(&word);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = QUOTE;
				continue;
			}
			if (ch == '\\') {
				if (pos + 1 == len)
					continue;
				ch = line[++pos];
			}
			sb_putc(&word, ch);
			continue;
		}
		/* QUOTE */
		if (ch == quote) {
			phase = WORD;
			continue;
		}
		if (ch == '\\') {
			if (pos + 1 == len) {
				phase = WORD;
				continue;
			}
			ch = line[++pos];
		}
		sb_putc(&word, ch);
	}
	sb_free(&word);
}

/* BuildKit's parseWords: words separated by blanks, quotes and escapes kept. */
static void parse_words(struct parser *p, const char *rest, size_t len, struct argv *out)
{
	enum { SPACES, WORD, QUOTE } phase = SPACES;
	struct strbuf word = {0};
	uint32_t quote = 0, ch = 0;
	bool blank_ok = false;
	size_t w = 0;
	for (size_t pos = 0; pos <= len; pos += w) {
		if (pos != len)
			ch = utf8_decode(rest + pos, len - pos, &w);
		if (phase == SPACES) {
			if (pos == len)
				break;
			if (go_is_space(ch))
				continue;
			phase = WORD;
		}
		if (pos == len) {
			if (blank_ok || word.len)
				argv_push(out, arena_strdup(p->a, sb_str(&word)));
			break;
		}
		if (phase == WORD) {
			if (go_is_space(ch)) {
				phase = SPACES;
				if (blank_ok || word.len)
					argv_push(out, arena_strdup(p->a, sb_str(&word)));
				sb_reset(&word);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = QUOTE;
			}
			if (ch == (unsigned char)p->escape) {
				if (pos + w == len)
					continue; /* an escape at the very end is dropped */
				sb_putc(&word, p->escape);
				pos += w;
				ch = utf8_decode(rest + pos, len - pos, &w);
			}
			put_rune(&word, ch, rest + pos, w);
			continue;
		}
		/* QUOTE */
		if (ch == quote)
			phase = WORD;
		if (ch == (unsigned char)p->escape && quote != '\'') {
			if (pos + w == len) {
				phase = WORD;
				continue;
			}
			pos += w;
			sb_putc(&word, p->escape);
			ch = utf8_decode(rest + pos, len - pos, &w);
		}
		put_rune(&word, ch, rest + pos, w);
	}
	sb_free(&word);
}

/* reWhitespace.Split(rest, -1). */
static void split_whitespace(struct parser *p, const char *rest, size_t len, struct argv *out)
{
	if (!len)
		return;
	size_t i = 0;
	for (;;) {
		size_t j = i;
		while (j < len && !re_ws(rest[j]))
			j++;
		argv_push(out, arena_strndup(p->a, rest + i, j - i));
		if (j == len)
			break;
		while (j < len && re_ws(rest[j]))
			j++;
		i = j;
	}
}

enum json_result { JSON_NO, JSON_YES, JSON_NOT_STRINGS };

/* BuildKit's parseJSON: a JSON array of strings. Anything that is not JSON is "no"
 * (the caller falls back to the other form); an array of non-strings is an error. */
static enum json_result parse_json(struct parser *p, const char *rest, size_t len, struct argv *out)
{
	go_trim_left_space(&rest, &len);
	if (!len || rest[0] != '[')
		return JSON_NO;
	json_error_t jerr;
	json_t *j = json_loadb(rest, len, 0, &jerr);
	if (!j || !json_is_array(j)) {
		json_decref(j);
		return JSON_NO;
	}
	size_t i;
	json_t *e;
	json_array_foreach(j, i, e) {
		if (!json_is_string(e)) {
			json_decref(j);
			free(out->v);
			*out = (struct argv){0};
			return JSON_NOT_STRINGS;
		}
		argv_push(out, arena_strndup(p->a, json_string_value(e), json_string_length(e)));
	}
	json_decref(j);
	return JSON_YES;
}

static const char not_strings[] = "when using JSON array syntax, arrays must be comprised of strings only";

static struct node *new_node(struct parser *p, const char *line, size_t len, unsigned start,
			     int depth);

/* Pass 1's per-instruction splitting of the arguments. */
static int split_args(struct parser *p, struct node *nd, const char *rest, size_t rl, int depth)
{
	struct argv args = {0};
	enum json_result jr;
	switch (nd->ci->split) {
	case SPLIT_JSON_OR_WORDS:
		jr = parse_json(p, rest, rl, &args);
		if (jr == JSON_NOT_STRINGS)
			return fail(p, nd->start, not_strings);
		nd->json = jr == JSON_YES;
		if (!nd->json)
			split_whitespace(p, rest, rl, &args);
		break;
	case SPLIT_NAME_OR_VALUE:
		parse_words(p, rest, rl, &args);
		break;
	case SPLIT_JSON_OR_STRING:
		if (!rl)
			break;
		jr = parse_json(p, rest, rl, &args);
		if (jr == JSON_NOT_STRINGS)
			return fail(p, nd->start, not_strings);
		nd->json = jr == JSON_YES;
		if (!nd->json)
			argv_push(&args, arena_strndup(p->a, rest, rl));
		break;
	case SPLIT_NAME_VALUE: {
		/* `KEY value` (legacy) when the first word has no '=', else KEY=value... */
		struct argv words = {0};
		parse_words(p, rest, rl, &words);
		if (!words.n)
			break;
		if (!strchr(words.v[0], '=')) {
			free(words.v);
			size_t k = 0;
			while (k < rl && !re_ws(rest[k]))
				k++;
			if (k == rl)
				return fail(p, nd->start, "%s must have two arguments", nd->ci->name);
			size_t v = k;
			while (v < rl && re_ws(rest[v]))
				v++;
			argv_push(&args, arena_strndup(p->a, rest, k));
			argv_push(&args, arena_strndup(p->a, rest + v, rl - v));
			break;
		}
		for (size_t i = 0; i < words.n; i++) {
			char *eq = strchr(words.v[i], '=');
			if (!eq) {
				const char *w = quoted(p, words.v[i]);
				free(words.v);
				free(args.v);
				return fail(p, nd->start,
					    "Syntax error - can't find = in %s. Must be of the form: name=value",
					    w);
			}
			*eq = 0; /* the word is ours: split it in place */
			argv_push(&args, words.v[i]);
			argv_push(&args, eq + 1);
		}
		free(words.v);
		break;
	}
	case SPLIT_WHITESPACE:
		split_whitespace(p, rest, rl, &args);
		break;
	case SPLIT_HEALTH: {
		size_t sep = 0;
		while (sep < rl && !re_space(rest[sep]) && rest[sep] != '\v')
			sep++;
		if (!sep)
			break;
		size_t next = sep;
		while (next < rl && (re_space(rest[next]) || rest[next] == '\v'))
			next++;
		argv_push(&args, arena_strndup(p->a, rest, sep));
		if (next < rl) {
			jr = parse_json(p, rest + next, rl - next, &args);
			if (jr == JSON_NOT_STRINGS)
				return fail(p, nd->start, not_strings);
			nd->json = jr == JSON_YES;
			if (!nd->json)
				argv_push(&args, arena_strndup(p->a, rest + next, rl - next));
		}
		break;
	}
	case SPLIT_STRING:
		if (rl)
			argv_push(&args, arena_strndup(p->a, rest, rl));
		break;
	case SPLIT_SUBCOMMAND:
		if (!rl)
			break;
		/* One level is enough: ONBUILD ONBUILD is refused in pass 2. */
		if (depth == 0) {
			nd->child = new_node(p, rest, rl, nd->start, depth + 1);
			if (!nd->child)
				return -1;
		}
		break;
	}
	nd->args = argv_finish(p->a, &args, &nd->nargs);
	return 0;
}

/* BuildKit's newNodeFromLine: keyword, flags, arguments. */
static struct node *new_node(struct parser *p, const char *line, size_t len, unsigned start, int depth)
{
	struct node *nd = arena_alloc(p->a, sizeof *nd);
	nd->start = nd->end = start;
	nd->original = arena_strndup(p->a, line, len);
	const char *t = line;
	size_t tl = len;
	go_trim_space(&t, &tl);
	size_t k = 0;
	while (k < tl && !re_ws(t[k]))
		k++;
	nd->keyword = arena_strndup(p->a, t, k);
	const char *rest = t + tl;
	size_t rl = 0;
	if (k < tl) {
		while (k < tl && re_ws(t[k]))
			k++;
		struct argv flags = {0};
		extract_flags(p, t + k, tl - k, &flags, &rest, &rl);
		nd->flagwords = argv_finish(p->a, &flags, &nd->nflagwords);
	}
	go_trim_space(&rest, &rl);
	nd->ci = command_lookup(nd->keyword);
	if (nd->ci && split_args(p, nd, rest, rl, depth) < 0)
		return NULL;
	return nd;
}

/* ---- heredocs ---- */

static const char *no_variables(void *ctx, const char *name)
{
	(void)ctx, (void)name;
	return NULL;
}

static size_t count_quotes(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\'' || *s == '"';
	return n;
}

/* BuildKit's ParseHeredoc: `[fd]<<[-]WORD`. Returns 1 with *h filled, 0 if the word
 * is not a heredoc, -1 on error (*err set). */
static int parse_heredoc(struct parser *p, const char *word, struct df_heredoc *h, char **err)
{
	size_t i = 0;
	while (isdigit((unsigned char)word[i]))
		i++;
	size_t digits = i;
	if (strncmp(word + i, "<<", 2))
		return 0;
	i += 2;
	bool chomp = word[i] == '-';
	i += chomp;
	const char *rest = word + i;
	if (!*rest || strchr(rest, '<'))
		return 0;

	struct lex_opts o = {'\\', false, false, true};
	struct strbuf res = {0};
	struct strv words = {0}, raw = {0};
	int rc = 0;
	if (lex_process(rest, strlen(rest), &o, no_variables, NULL, &res, &words, err) < 0) {
		rc = -1;
		goto out;
	}
	if (words.n != 1)
		goto out;
	o.raw_quotes = true;
	sb_reset(&res);
	if (lex_process(rest, strlen(rest), &o, no_variables, NULL, &res, &raw, err) < 0) {
		rc = -1;
		goto out;
	}
	if (raw.n != 1) {
		*err = xasprintf("internal lexing of heredoc produced inconsistent results: %s", rest);
		rc = -1;
		goto out;
	}
	unsigned long fd = 0;
	for (size_t d = 0; d < digits; d++)
		fd = fd > UINT_MAX / 10 ? UINT_MAX : fd * 10 + (unsigned long)(word[d] - '0');
	*h = (struct df_heredoc){
		.name = arena_strdup(p->a, words.v[0]),
		.expand = count_quotes(words.v[0]) == count_quotes(raw.v[0]),
		.chomp = chomp,
		.fd = fd > UINT_MAX ? UINT_MAX : (unsigned)fd,
	};
	rc = 1;
out:
	sb_free(&res);
	strv_free(&words);
	strv_free(&raw);
	return rc;
}

/* RUN, COPY and ADD in shell form (also as an ONBUILD trigger) can take heredocs. */
static bool can_contain_heredoc(const struct node *nd)
{
	if (nd->ci && nd->ci->cmd == DF_ONBUILD && nd->child)
		nd = nd->child;
	if (!nd->ci || nd->json)
		return false;
	return nd->ci->cmd == DF_RUN || nd->ci->cmd == DF_COPY || nd->ci->cmd == DF_ADD;
}

/* Find the heredocs a line opens and read their bodies. */
static int read_heredocs(struct parser *p, struct node *nd, const char *line, size_t len)
{
	struct lex_opts o = {'\\', true, true, true};
	struct strbuf res = {0};
	struct strv words = {0};
	char *err = NULL;
	if (lex_process(line, len, &o, no_variables, NULL, &res, &words, &err) < 0) {
		free(err); /* not words: no heredocs, as BuildKit */
		strv_free(&words);
	}
	sb_free(&res);
	struct df_heredoc *docs = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (size_t i = 0; i < words.n; i++) {
		struct df_heredoc h;
		int r = parse_heredoc(p, words.v[i], &h, &err);
		if (r < 0) {
			rc = fail(p, nd->start, "%s", err);
			free(err);
			goto out;
		}
		if (r)
			VEC_PUSH(docs, n, cap, h);
	}
	for (size_t i = 0; i < n; i++) {
		struct strbuf content = {0};
		const char *s;
		size_t sl, full;
		bool terminated = false;
		while (read_line(p, &s, &sl, &full)) {
			size_t tl = trim_newline(s, full);
			const char *t = s;
			if (docs[i].chomp)
				while (tl && *t == '\t')
					t++, tl--;
			if (tl == strlen(docs[i].name) && !memcmp(t, docs[i].name, tl)) {
				terminated = true;
				break;
			}
			sb_put(&content, s, full);
		}
		docs[i].content = arena_strdup(p->a, sb_str(&content));
		sb_free(&content);
		if (!terminated) {
			rc = fail(p, nd->start, "unterminated heredoc");
			goto out;
		}
	}
	nd->heredocs = arena_memdup(p->a, docs, n, sizeof *docs);
	nd->nheredocs = n;
out:
	free(docs);
	strv_free(&words);
	return rc;
}

/* ---- pass 1: the whole file ---- */

struct nodes {
	struct node **v;
	size_t n, cap;
};

static int read_nodes(struct parser *p, struct nodes *out)
{
	const char *s;
	size_t n, full;
	while (read_line(p, &s, &n, &full)) {
		if (p->line == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
			s += 3, n -= 3;
		n = trim_newline(s, n);
		go_trim_left_space(&s, &n);
		if (directive(p, s, n) < 0)
			return -1;
		if (n && s[0] == '#')
			n = 0;
		unsigned start = p->line;
		struct strbuf line = {0};
		bool eol = trim_continuation(p, s, n, &line);
		if (eol && !line.len) {
			sb_free(&line);
			continue;
		}
		bool empty_continuation = false;
		while (!eol && read_line(p, &s, &n, &full)) {
			n = trim_newline(s, n);
			if (is_comment(s, n))
				continue;
			if (is_blank(s, n)) {
				empty_continuation = true;
				continue;
			}
			eol = trim_continuation(p, s, n, &line);
		}
		if (empty_continuation && !p->quiet)
			strv_push(&p->warnings,
				  xasprintf("%s:%u: empty continuation line (Docker will make this an error)",
					    p->file, start));
		struct node *nd = new_node(p, sb_str(&line), line.len, start, 0);
		if (nd && can_contain_heredoc(nd) && read_heredocs(p, nd, sb_str(&line), line.len) < 0)
			nd = NULL;
		sb_free(&line);
		if (!nd)
			return -1;
		nd->end = p->line;
		VEC_PUSH(out->v, out->n, out->cap, nd);
	}
	return 0;
}

/* ---- pass 2: flags ---- */

enum flag_type { FLAG_BOOL, FLAG_STRING, FLAG_STRINGS };

struct flag_def {
	const char *name;
	enum flag_type type;
};

static const struct flag_def no_flags[] = {{0}};
static const struct flag_def from_flags[] = {{"platform", FLAG_STRING}, {0}};
static const struct flag_def copy_flags[] = {
	{"chown", FLAG_STRING}, {"from", FLAG_STRING}, {"chmod", FLAG_STRING},
	{"link", FLAG_BOOL}, {"parents", FLAG_BOOL}, {"exclude", FLAG_STRINGS}, {0}};
static const struct flag_def add_flags[] = {
	{"chown", FLAG_STRING}, {"chmod", FLAG_STRING}, {"link", FLAG_BOOL},
	{"keep-git-dir", FLAG_BOOL}, {"checksum", FLAG_STRING}, {"unpack", FLAG_BOOL},
	{"exclude", FLAG_STRINGS}, {0}};
static const struct flag_def run_flags[] = {
	{"mount", FLAG_STRINGS}, {"network", FLAG_STRING}, {"security", FLAG_STRING},
	{"device", FLAG_STRINGS}, {0}};
static const struct flag_def health_flags[] = {
	{"interval", FLAG_STRING}, {"timeout", FLAG_STRING}, {"start-period", FLAG_STRING},
	{"start-interval", FLAG_STRING}, {"retries", FLAG_STRING}, {0}};

/* BuildKit's BFlags.Parse. */
static int parse_flags(struct parser *p, const struct node *nd, const struct flag_def *defs,
		       struct df_instruction *in)
{
	struct df_flag *flags = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < nd->nflagwords; i++) {
		const char *w = nd->flagwords[i];
		if (strncmp(w, "--", 2)) {
			free(flags);
			return fail(p, nd->start, "Arg should start with -- : %s", w);
		}
		if (!strcmp(w, "--"))
			break;
		const char *eq = strchr(w + 2, '=');
		size_t nl = eq ? (size_t)(eq - w - 2) : strlen(w + 2);
		char *name = arena_strndup(p->a, w + 2, nl);
		const struct flag_def *d = defs;
		while (d->name && strcmp(d->name, name))
			d++;
		int rc = 0;
		if (!d->name) {
			rc = fail(p, nd->start, "unknown flag: --%s", name);
		} else if (d->type != FLAG_STRINGS) {
			for (size_t k = 0; k < n; k++)
				if (!strcmp(flags[k].name, name))
					rc = fail(p, nd->start, "Duplicate flag specified: %s", name);
		}
		const char *value = eq ? eq + 1 : "";
		if (!rc && d->type == FLAG_BOOL) {
			if (eq && !*value)
				rc = fail(p, nd->start, "Missing a value on flag: %s", name);
			else if (!*value || !strcasecmp(value, "true"))
				value = "true";
			else if (!strcasecmp(value, "false"))
				value = "false";
			else
				rc = fail(p, nd->start, "Expecting boolean value for flag %s, not: %s", name,
					  value);
		} else if (!rc && !eq) {
			rc = fail(p, nd->start, "Missing a value on flag: %s", name);
		}
		if (rc) {
			free(flags);
			return -1;
		}
		struct df_flag f = {name, arena_strdup(p->a, value)};
		VEC_PUSH(flags, n, cap, f);
	}
	in->flags = arena_memdup(p->a, flags, n, sizeof *flags);
	in->nflags = n;
	free(flags);
	return 0;
}

const char *df_flag_value(const struct df_instruction *in, const char *name)
{
	const char *v = NULL;
	for (size_t i = 0; i < in->nflags; i++)
		if (!strcmp(in->flags[i].name, name))
			v = in->flags[i].value;
	return v;
}

/* ---- pass 2: instructions ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* HEALTHCHECK --interval and friends: 0 or at least 1ms. */
static int health_duration(struct parser *p, const struct node *nd, const struct df_instruction *in,
			   const char *flag, int64_t *out)
{
	const char *v = df_flag_value(in, flag);
	*out = 0;
	if (!v || !*v)
		return 0;
	if (go_parse_duration(v, out) < 0)
		return fail(p, nd->start, "--%s: invalid duration %s", flag, quoted(p, v));
	if (*out != 0 && *out < 1000000)
		return fail(p, nd->start, "Interval \"%s\" cannot be less than 1ms", flag);
	return 0;
}

static int make_healthcheck(struct parser *p, const struct node *nd, struct df_instruction *in)
{
	if (!nd->nargs)
		return fail(p, nd->start, "HEALTHCHECK requires at least one argument");
	struct df_healthcheck *h = arena_alloc(p->a, sizeof *h);
	in->health = h;
	char *type = arena_strdup(p->a, nd->args[0]);
	for (char *c = type; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	if (!strcmp(type, "NONE")) {
		if (nd->nargs > 1)
			return fail(p, nd->start, "HEALTHCHECK NONE takes no arguments");
		h->test = arena_alloc(p->a, sizeof *h->test);
		h->test[0] = type;
		h->ntest = 1;
		return 0;
	}
	if (parse_flags(p, nd, health_flags, in) < 0)
		return -1;
	if (strcmp(type, "CMD"))
		return fail(p, nd->start, "Unknown type %s in HEALTHCHECK (try CMD)", quoted(p, type));
	if (nd->nargs < 2)
		return fail(p, nd->start, "Missing command after HEALTHCHECK CMD");
	h->ntest = nd->nargs;
	h->test = arena_alloc(p->a, h->ntest * sizeof *h->test);
	h->test[0] = nd->json ? type : arena_strdup(p->a, "CMD-SHELL");
	for (size_t i = 1; i < nd->nargs; i++)
		h->test[i] = nd->args[i];
	if (health_duration(p, nd, in, "interval", &h->interval) < 0 ||
	    health_duration(p, nd, in, "timeout", &h->timeout) < 0 ||
	    health_duration(p, nd, in, "start-period", &h->start_period) < 0 ||
	    health_duration(p, nd, in, "start-interval", &h->start_interval) < 0)
		return -1;
	const char *r = df_flag_value(in, "retries");
	if (r && *r) {
		char *end;
		errno = 0;
		long long v = strtoll(r, &end, 10);
		if (*end || end == r || isspace((unsigned char)*r) || errno || v < INT32_MIN || v > INT32_MAX)
			return fail(p, nd->start, "--retries: invalid number %s", quoted(p, r));
		if (v < 1)
			return fail(p, nd->start, "--retries must be at least 1 (not %lld)", v);
		h->retries = (int)v;
	}
	return 0;
}

/* ENV and LABEL pairs, ARG declarations. */
static int make_kvs(struct parser *p, const struct node *nd, struct df_instruction *in)
{
	const char *name = nd->ci->name;
	if (!nd->nargs)
		return fail(p, nd->start, "%s requires at least one argument", name);
	if (in->cmd == DF_ARG) {
		in->kvs = arena_alloc(p->a, nd->nargs * sizeof *in->kvs);
		for (size_t i = 0; i < nd->nargs; i++) {
			char *eq = strchr(nd->args[i], '=');
			if (eq == nd->args[i])
				return fail(p, nd->start, "ARG names can not be blank");
			in->kvs[i].key = eq ? arena_strndup(p->a, nd->args[i], (size_t)(eq - nd->args[i]))
					    : nd->args[i];
			in->kvs[i].value = eq ? eq + 1 : NULL;
		}
		in->nkvs = nd->nargs;
		in->args = NULL;
		in->nargs = 0;
		return 0;
	}
	if (nd->nargs % 2)
		return fail(p, nd->start, "Bad input to %s, too many arguments", name);
	in->nkvs = nd->nargs / 2;
	in->kvs = arena_alloc(p->a, in->nkvs * sizeof *in->kvs);
	for (size_t i = 0; i < in->nkvs; i++) {
		if (!*nd->args[2 * i])
			return fail(p, nd->start, "%s names can not be blank", name);
		in->kvs[i] = (struct df_kv){nd->args[2 * i], nd->args[2 * i + 1]};
	}
	in->args = NULL;
	in->nargs = 0;
	return 0;
}

/* `^[a-z][a-z0-9-_\.]*$` on the lowercased name. */
static bool valid_stage_name(const char *s)
{
	if (!islower((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	return true;
}

static int make_from(struct parser *p, const struct node *nd, struct df_instruction *in)
{
	if (!nd->nargs)
		return fail(p, nd->start, "FROM requires at least one argument");
	if (nd->nargs == 3 && !strcasecmp(nd->args[1], "as")) {
		char *name = arena_strdup(p->a, nd->args[2]);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!valid_stage_name(name))
			return fail(p, nd->start,
				    "invalid name for build stage: %s, name can't start with a number or contain symbols",
				    quoted(p, nd->args[2]));
	} else if (nd->nargs != 1) {
		return fail(p, nd->start, "FROM requires either one or three arguments");
	}
	return parse_flags(p, nd, from_flags, in);
}

static int make_onbuild(struct parser *p, const struct node *nd, struct df_instruction *in);

static int exactly_one(struct parser *p, const struct node *nd)
{
	if (nd->nargs != 1)
		return fail(p, nd->start, "%s requires exactly one argument", nd->ci->name);
	return 0;
}

static int at_least_one(struct parser *p, const struct node *nd)
{
	if (!nd->nargs)
		return fail(p, nd->start, "%s requires at least one argument", nd->ci->name);
	return 0;
}

/* Heredoc bodies as the instructions use them: `<<-` strips leading tabs. */
static void copy_heredocs(struct parser *p, const struct node *nd, struct df_instruction *in)
{
	in->nheredocs = nd->nheredocs;
	in->heredocs = arena_memdup(p->a, nd->heredocs, nd->nheredocs, sizeof *nd->heredocs);
	for (size_t i = 0; i < in->nheredocs; i++) {
		struct df_heredoc *h = &in->heredocs[i];
		if (!h->chomp)
			continue;
		char *c = arena_strdup(p->a, h->content), *w = c;
		bool bol = true;
		for (const char *r = h->content; *r; r++) {
			if (bol && *r == '\t')
				continue;
			bol = *r == '\n';
			*w++ = *r;
		}
		*w = 0;
		h->content = c;
	}
}

/* BuildKit's ParseInstruction: a node's meaning, with its checks. */
static int make_instruction(struct parser *p, const struct node *nd, struct df_instruction *in)
{
	memset(in, 0, sizeof *in);
	in->file = p->file;
	in->line = nd->start;
	in->end_line = nd->end;
	in->keyword = nd->keyword;
	const char *o = nd->original;
	size_t ol = strlen(o);
	go_trim_space(&o, &ol);
	in->original = arena_strndup(p->a, o, ol);
	if (!nd->ci)
		return fail(p, nd->start, "unknown instruction: %s", nd->keyword);
	in->cmd = nd->ci->cmd;
	in->expand = nd->ci->expands;
	in->args = nd->args;
	in->nargs = nd->nargs;
	in->json = nd->json;
	copy_heredocs(p, nd, in);

	switch (in->cmd) {
	case DF_ENV:
	case DF_LABEL:
		return parse_flags(p, nd, no_flags, in) < 0 ? -1 : make_kvs(p, nd, in);
	case DF_ARG:
		return make_kvs(p, nd, in); /* BuildKit ignores ARG's flags */
	case DF_MAINTAINER:
	case DF_WORKDIR:
	case DF_USER:
		return exactly_one(p, nd) < 0 ? -1 : parse_flags(p, nd, no_flags, in);
	case DF_STOPSIGNAL:
		return exactly_one(p, nd); /* BuildKit ignores its flags */
	case DF_ADD:
	case DF_COPY: {
		if (nd->nargs < 2)
			return fail(p, nd->start,
				    "%s requires at least two arguments, but only one was provided. Destination could not be determined",
				    nd->ci->name);
		if (parse_flags(p, nd, in->cmd == DF_ADD ? add_flags : copy_flags, in) < 0)
			return -1;
		struct df_heredoc h;
		char *err = NULL;
		if (parse_heredoc(p, nd->args[nd->nargs - 1], &h, &err) == 1)
			return fail(p, nd->start, "%s cannot accept a heredoc as a destination",
				    nd->ci->name);
		free(err);
		return 0;
	}
	case DF_FROM:
		return make_from(p, nd, in);
	case DF_ONBUILD:
		return make_onbuild(p, nd, in);
	case DF_RUN:
		if (parse_flags(p, nd, run_flags, in) < 0)
			return -1;
		if (!nd->nargs)
			return fail(p, nd->start, "RUN requires at least one argument");
		return 0;
	case DF_CMD:
	case DF_ENTRYPOINT:
		return parse_flags(p, nd, no_flags, in);
	case DF_HEALTHCHECK:
		return make_healthcheck(p, nd, in);
	case DF_EXPOSE:
		if (at_least_one(p, nd) < 0 || parse_flags(p, nd, no_flags, in) < 0)
			return -1;
		in->args = arena_memdup(p->a, nd->args, nd->nargs, sizeof *nd->args);
		qsort(in->args, in->nargs, sizeof *in->args, cmp_str);
		return 0;
	case DF_VOLUME:
		if (at_least_one(p, nd) < 0 || parse_flags(p, nd, no_flags, in) < 0)
			return -1;
		in->args = arena_alloc(p->a, nd->nargs * sizeof *in->args);
		for (size_t i = 0; i < nd->nargs; i++) {
			const char *v = nd->args[i];
			size_t vl = strlen(v);
			go_trim_space(&v, &vl);
			if (!vl)
				return fail(p, nd->start, "VOLUME specified can not be an empty string");
			in->args[i] = arena_strndup(p->a, v, vl);
		}
		return 0;
	case DF_SHELL:
		if (parse_flags(p, nd, no_flags, in) < 0)
			return -1;
		if (!nd->nargs)
			return fail(p, nd->start, "SHELL requires at least one argument");
		if (!nd->json)
			return fail(p, nd->start, "SHELL requires the arguments to be in JSON form");
		return 0;
	}
	return 0;
}

static int make_onbuild(struct parser *p, const struct node *nd, struct df_instruction *in)
{
	if (!nd->child)
		return fail(p, nd->start, "ONBUILD requires at least one argument");
	if (parse_flags(p, nd, no_flags, in) < 0)
		return -1;
	const char *kw = nd->child->keyword;
	if (!strcasecmp(kw, "ONBUILD"))
		return fail(p, nd->start, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
	if (!strcasecmp(kw, "MAINTAINER") || !strcasecmp(kw, "FROM")) {
		char up[16];
		size_t i = 0;
		for (; kw[i] && i < sizeof up - 1; i++)
			up[i] = (char)toupper((unsigned char)kw[i]);
		up[i] = 0;
		return fail(p, nd->start, "%s isn't allowed as an ONBUILD trigger", up);
	}
	/* The expression: the line without `ONBUILD`, with its heredocs. */
	const char *e = nd->original;
	while (*e && re_space(*e))
		e++;
	e += strlen("ONBUILD");
	while (*e && re_space(*e))
		e++;
	struct strbuf expr = {0};
	sb_puts(&expr, e);
	for (size_t i = 0; i < nd->nheredocs; i++) {
		sb_putc(&expr, '\n');
		sb_puts(&expr, nd->heredocs[i].content);
		sb_puts(&expr, nd->heredocs[i].name);
	}
	in->nargs = 1;
	in->args = arena_alloc(p->a, sizeof *in->args);
	in->args[0] = arena_strdup(p->a, sb_str(&expr));
	sb_free(&expr);
	in->json = false;
	/* Docker checks a trigger only when an image is built FROM this one: keep it
	 * parsed when it is valid, and say nothing now when it is not. */
	struct node child = *nd->child;
	child.start = nd->start;
	child.end = nd->end;
	child.heredocs = nd->heredocs;
	child.nheredocs = nd->nheredocs;
	struct df_instruction *t = arena_alloc(p->a, sizeof *t);
	char *saved = p->err;
	p->err = NULL;
	if (make_instruction(p, &child, t) == 0)
		in->trigger = t;
	free(p->err);
	p->err = saved;
	return 0;
}

/* ---- stages ---- */

struct stage_build {
	struct df_stage st;
	struct df_instruction *v;
	size_t n, cap;
};

static int build_stages(struct parser *p, struct nodes *nodes, struct dockerfile *df)
{
	struct df_instruction *meta = NULL;
	size_t nmeta = 0, capmeta = 0;
	struct stage_build *stages = NULL;
	size_t nst = 0, capst = 0;
	int rc = -1;
	for (size_t i = 0; i < nodes->n; i++) {
		struct df_instruction in;
		if (make_instruction(p, nodes->v[i], &in) < 0)
			goto out;
		if (!nst && in.cmd == DF_ARG) {
			VEC_PUSH(meta, nmeta, capmeta, in);
		} else if (in.cmd == DF_FROM) {
			struct stage_build sb = {0};
			sb.st.index = nst;
			sb.st.base = in.args[0];
			sb.st.platform = (char *)df_flag_value(&in, "platform");
			if (in.nargs == 3) {
				sb.st.name = arena_strdup(p->a, in.args[2]);
				for (char *c = sb.st.name; *c; c++)
					*c = (char)tolower((unsigned char)*c);
				for (size_t k = 0; k < nst; k++)
					if (stages[k].st.name && !strcmp(stages[k].st.name, sb.st.name)) {
						fail(p, in.line, "duplicate stage name %s",
						     quoted(p, sb.st.name));
						goto out;
					}
			}
			sb.st.from = arena_memdup(p->a, &in, 1, sizeof in);
			VEC_PUSH(stages, nst, capst, sb);
		} else if (!nst) {
			fail(p, in.line, "no build stage in current context (%s before the first FROM)",
			     df_command_name(in.cmd));
			goto out;
		} else {
			struct stage_build *cur = &stages[nst - 1];
			VEC_PUSH(cur->v, cur->n, cur->cap, in);
		}
	}
	if (!nst) {
		fail(p, 0, "dockerfile contains no stages to build (no FROM instruction)");
		goto out;
	}
	df->meta_args = arena_memdup(p->a, meta, nmeta, sizeof *meta);
	df->nmeta_args = nmeta;
	df->stages = arena_alloc(p->a, nst * sizeof *df->stages);
	df->nstages = nst;
	for (size_t k = 0; k < nst; k++) {
		df->stages[k] = stages[k].st;
		df->stages[k].instructions = arena_memdup(p->a, stages[k].v, stages[k].n,
							  sizeof *stages[k].v);
		df->stages[k].ninstructions = stages[k].n;
	}
	rc = 0;
out:
	free(meta);
	for (size_t k = 0; k < nst; k++)
		free(stages[k].v);
	free(stages);
	return rc;
}

/* ---- public ---- */

struct dockerfile *dockerfile_parse(const char *buf, size_t len, const char *file, char **err)
{
	struct parser p = {.a = arena_new(), .escape = '\\', .buf = buf ? buf : "", .len = buf ? len : 0};
	p.file = arena_strdup(p.a, file ? file : "Dockerfile");
	struct nodes nodes = {0};
	struct dockerfile *df = arena_alloc(p.a, sizeof *df);
	df->arena_ = p.a;
	df->file = p.file;
	if (check_input(&p) < 0 || read_nodes(&p, &nodes) < 0)
		goto fail;
	if (!nodes.n) {
		fail(&p, 0, "file with no instructions");
		goto fail;
	}
	if (build_stages(&p, &nodes, df) < 0)
		goto fail;
	df->escape = p.escape;
	df->syntax = p.syntax;
	df->nwarnings = p.warnings.n;
	df->warnings = arena_alloc(p.a, (p.warnings.n + 1) * sizeof *df->warnings);
	for (size_t i = 0; i < p.warnings.n; i++)
		df->warnings[i] = arena_strdup(p.a, p.warnings.v[i]);
	strv_free(&p.warnings);
	free(nodes.v);
	return df;
fail:
	*err = p.err ? p.err : xasprintf("%s: cannot parse", p.file);
	strv_free(&p.warnings);
	free(nodes.v);
	arena_free(p.a);
	return NULL;
}

void dockerfile_free(struct dockerfile *df)
{
	if (df)
		arena_free(df->arena_);
}

const struct df_stage *dockerfile_stage_by_name(const struct dockerfile *df, const char *name)
{
	for (size_t i = 0; i < df->nstages; i++)
		if (df->stages[i].name && !strcasecmp(df->stages[i].name, name))
			return &df->stages[i];
	return NULL;
}

const struct df_stage *dockerfile_stage(const struct dockerfile *df, const char *ref)
{
	const struct df_stage *st = dockerfile_stage_by_name(df, ref);
	if (st || !*ref)
		return st;
	size_t i = 0;
	for (const char *c = ref; *c; c++) {
		if (!isdigit((unsigned char)*c) || i > df->nstages)
			return NULL;
		i = i * 10 + (size_t)(*c - '0');
	}
	return i < df->nstages ? &df->stages[i] : NULL;
}

struct df_instruction *df_parse_instruction(const char *text, size_t len, char escape,
					    const char *file, char **err)
{
	struct parser p = {.a = arena_new(), .escape = escape == '`' ? '`' : '\\',
			   .directives_done = true, .quiet = true, .buf = text ? text : "",
			   .len = text ? len : 0};
	p.file = arena_strdup(p.a, file ? file : "Dockerfile");
	struct nodes nodes = {0};
	struct df_instruction *in = arena_alloc(p.a, sizeof *in);
	if (check_input(&p) < 0 || read_nodes(&p, &nodes) < 0)
		goto fail;
	if (nodes.n != 1) {
		fail(&p, 0, "expected one instruction, found %zu", nodes.n);
		goto fail;
	}
	if (make_instruction(&p, nodes.v[0], in) < 0)
		goto fail;
	in->own_ = p.a;
	free(nodes.v);
	return in;
fail:
	*err = p.err;
	strv_free(&p.warnings);
	free(nodes.v);
	arena_free(p.a);
	return NULL;
}

void df_instruction_free(struct df_instruction *in)
{
	if (in && in->own_)
		arena_free(in->own_);
}

/* ---- copies ---- */

static char **copy_strs(struct df_arena *a, char *const *v, size_t n)
{
	if (!n)
		return NULL;
	char **r = arena_alloc(a, n * sizeof *r);
	for (size_t i = 0; i < n; i++)
		r[i] = arena_strdup(a, v[i]);
	return r;
}

void df_copy_instruction(struct df_arena *a, struct df_instruction *dst,
			 const struct df_instruction *src)
{
	*dst = *src;
	dst->own_ = NULL;
	dst->file = arena_strdup(a, src->file);
	dst->keyword = arena_strdup(a, src->keyword);
	dst->original = arena_strdup(a, src->original);
	dst->flags = arena_memdup(a, src->flags, src->nflags, sizeof *src->flags);
	for (size_t i = 0; i < src->nflags; i++) {
		dst->flags[i].name = arena_strdup(a, src->flags[i].name);
		dst->flags[i].value = arena_strdup(a, src->flags[i].value);
	}
	dst->args = copy_strs(a, src->args, src->nargs);
	dst->kvs = arena_memdup(a, src->kvs, src->nkvs, sizeof *src->kvs);
	for (size_t i = 0; i < src->nkvs; i++) {
		dst->kvs[i].key = arena_strdup(a, src->kvs[i].key);
		dst->kvs[i].value = arena_strdup(a, src->kvs[i].value);
	}
	if (src->health) {
		dst->health = arena_memdup(a, src->health, 1, sizeof *src->health);
		dst->health->test = copy_strs(a, src->health->test, src->health->ntest);
	}
	if (src->trigger) {
		dst->trigger = arena_alloc(a, sizeof *dst->trigger);
		df_copy_instruction(a, dst->trigger, src->trigger);
	}
	dst->heredocs = arena_memdup(a, src->heredocs, src->nheredocs, sizeof *src->heredocs);
	for (size_t i = 0; i < src->nheredocs; i++) {
		dst->heredocs[i].name = arena_strdup(a, src->heredocs[i].name);
		dst->heredocs[i].content = arena_strdup(a, src->heredocs[i].content);
	}
}
