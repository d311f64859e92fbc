/* Image history "created_by" strings as Docker's classic builder writes them
 * (moby builder/dockerfile/dispatchers.go), and Go's duration syntax for HEALTHCHECK. */
#include <stdlib.h>
#include <string.h>

#include "dockerfile_internal.h"

/* ---- Go's time.Duration ---- */

/* Go's fmtFrac: the fraction of v below 10^prec, without trailing zeros. */
static void put_frac(struct strbuf *b, uint64_t v, int prec, uint64_t *rest)
{
	char buf[32];
	int n = 0;
	bool print = false;
	for (int i = 0; i < prec; i++) {
		int digit = (int)(v % 10);
		print = print || digit != 0;
		if (print)
			buf[n++] = (char)('0' + digit);
		v /= 10;
	}
	if (print) {
		sb_putc(b, '.');
		while (n)
			sb_putc(b, buf[--n]);
	}
	*rest = v;
}

void go_duration_string(struct strbuf *b, int64_t ns)
{
	uint64_t u = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
	struct strbuf t = {0};
	if (u < 1000000000ull) {
		/* below a second: ns, µs or ms with a fraction */
		const char *unit;
		int prec;
		if (u == 0) {
			sb_puts(b, "0s");
			return;
		} else if (u < 1000ull) {
			prec = 0, unit = "ns";
		} else if (u < 1000000ull) {
			prec = 3, unit = "\xc2\xb5s";
		} else {
			prec = 6, unit = "ms";
		}
		uint64_t whole;
		put_frac(&t, u, prec, &whole);
		if (ns < 0)
			sb_putc(b, '-');
		sb_printf(b, "%llu%s%s", (unsigned long long)whole, sb_str(&t), unit);
		sb_free(&t);
		return;
	}
	uint64_t secs;
	put_frac(&t, u, 9, &secs);
	if (ns < 0)
		sb_putc(b, '-');
	uint64_t h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
	if (h)
		sb_printf(b, "%lluh", (unsigned long long)h);
	if (h || m)
		sb_printf(b, "%llum", (unsigned long long)m);
	sb_printf(b, "%llu%ss", (unsigned long long)s, sb_str(&t));
	sb_free(&t);
}

/* Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0". */
int go_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {{"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000},
		     {"ms", 1000000}, {"s", 1000000000ull}, {"m", 60000000000ull},
		     {"h", 3600000000000ull}};
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	if (!*s)
		return -1;
	uint64_t total = 0;
	while (*s) {
		uint64_t whole = 0, frac = 0, scale = 1;
		bool digits = false;
		for (; *s >= '0' && *s <= '9'; s++, digits = true) {
			if (whole > (UINT64_MAX - 9) / 10)
				return -1;
			whole = whole * 10 + (uint64_t)(*s - '0');
		}
		if (*s == '.') {
			s++;
			for (; *s >= '0' && *s <= '9'; s++, digits = true)
				if (scale < 1000000000000000000ull)
					frac = frac * 10 + (uint64_t)(*s - '0'), scale *= 10;
		}
		if (!digits)
			return -1;
		size_t ul = 0;
		while (s[ul] && s[ul] != '.' && (s[ul] < '0' || s[ul] > '9'))
			ul++;
		uint64_t unit = 0;
		for (size_t i = 0; i < sizeof units / sizeof *units; i++)
			if (strlen(units[i].name) == ul && !strncmp(s, units[i].name, ul))
				unit = units[i].ns;
		if (!unit)
			return -1; /* missing or unknown unit */
		s += ul;
		if (whole > INT64_MAX / unit)
			return -1;
		uint64_t v = whole * unit;
		/* frac/scale of a unit, without overflowing: unit fits in 42 bits */
		v += (uint64_t)((long double)frac * (long double)unit / (long double)scale);
		if (v > INT64_MAX || total > INT64_MAX - v)
			return -1;
		total += v;
	}
	*ns = neg ? -(int64_t)total : (int64_t)total;
	return 0;
}

/* ---- created_by ---- */

/* Go's %q of a []string: ["a" "b"]. */
static void put_quoted_list(struct strbuf *b, char *const *v, size_t n)
{
	sb_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_putc(b, ' ');
		go_quote(b, v[i], strlen(v[i]));
	}
	sb_putc(b, ']');
}

/* Go's %v of a []string: [a b]. */
static void put_list(struct strbuf *b, char *const *v, size_t n)
{
	sb_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_putc(b, ' ');
		sb_puts(b, v[i]);
	}
	sb_putc(b, ']');
}

static void put_shell(struct strbuf *b, const struct df_history_ctx *hc)
{
	if (hc && hc->shell && hc->nshell) {
		for (size_t i = 0; i < hc->nshell; i++) {
			if (i)
				sb_putc(b, ' ');
			sb_puts(b, hc->shell[i]);
		}
	} else {
		sb_puts(b, "/bin/sh -c");
	}
}

/* The command a shell-form CMD/ENTRYPOINT becomes: the shell and the line. */
static void put_command(struct strbuf *b, const struct df_instruction *in,
			const struct df_history_ctx *hc)
{
	if (in->json) {
		put_quoted_list(b, in->args, in->nargs);
		return;
	}
	static char *const default_shell[] = {"/bin/sh", "-c"};
	char *const *sh = hc && hc->shell && hc->nshell ? hc->shell : default_shell;
	size_t nsh = hc && hc->shell && hc->nshell ? hc->nshell : 2;
	char **v = xmalloc((nsh + in->nargs) * sizeof *v);
	memcpy(v, sh, nsh * sizeof *v);
	if (in->nargs)
		memcpy(v + nsh, in->args, in->nargs * sizeof *v);
	put_quoted_list(b, v, nsh + in->nargs);
	free(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Go's %q of an int: a rune literal ('\x03'). */
static void put_rune_literal(struct strbuf *b, int v)
{
	if (v >= 0x20 && v < 0x7f && v != '\'' && v != '\\')
		sb_printf(b, "'%c'", v);
	else if (v == '\'' || v == '\\')
		sb_printf(b, "'\\%c'", v);
	else if (v >= 0 && v < 0x80)
		sb_printf(b, "'\\x%02x'", v);
	else
		sb_printf(b, "'\\u%04x'", (unsigned)v & 0xffff);
}

char *df_created_by(const struct df_instruction *in, const struct df_history_ctx *hc)
{
	struct strbuf b = {0};
	const char *resolved = hc ? hc->resolved : NULL;
	if (in->cmd == DF_FROM)
		return NULL;
	if (in->cmd == DF_RUN) {
		if (hc && hc->nbuild_args) {
			char **v = xmalloc(hc->nbuild_args * sizeof *v);
			memcpy(v, hc->build_args, hc->nbuild_args * sizeof *v);
			qsort(v, hc->nbuild_args, sizeof *v, cmp_str);
			sb_printf(&b, "|%zu", hc->nbuild_args);
			for (size_t i = 0; i < hc->nbuild_args; i++)
				sb_printf(&b, " %s", v[i]);
			sb_putc(&b, ' ');
			free(v);
		}
		if (!in->json) {
			put_shell(&b, hc);
			sb_putc(&b, ' ');
		}
		for (size_t i = 0; i < in->nargs; i++) {
			if (i)
				sb_putc(&b, ' ');
			sb_puts(&b, in->args[i]);
		}
		return sb_steal(&b);
	}
	put_shell(&b, hc);
	if (in->cmd == DF_WORKDIR) {
		sb_printf(&b, " #(nop) WORKDIR %s", resolved ? resolved : in->args[0]);
		return sb_steal(&b);
	}
	if (in->cmd == DF_COPY || in->cmd == DF_ADD) {
		const char *chown = df_flag_value(in, "chown");
		sb_printf(&b, " #(nop) %s ", df_command_name(in->cmd));
		if (chown && *chown)
			sb_printf(&b, "--chown=%s", chown); /* no space: as Docker writes it */
		if (resolved) {
			sb_puts(&b, resolved);
		} else {
			for (size_t i = 0; i + 1 < in->nargs; i++)
				sb_printf(&b, "%s%s", i ? " " : "", in->args[i]);
		}
		sb_printf(&b, " in %s ", in->nargs ? in->args[in->nargs - 1] : "");
		return sb_steal(&b);
	}
	/* Metadata steps: "#(nop) " and the description, joined by a space. */
	sb_puts(&b, " #(nop)  ");
	sb_puts(&b, df_command_name(in->cmd));
	switch (in->cmd) {
	case DF_ENV:
	case DF_LABEL:
	case DF_ARG:
		for (size_t i = 0; i < in->nkvs; i++)
			sb_printf(&b, in->kvs[i].value ? " %s=%s" : " %s", in->kvs[i].key,
				  in->kvs[i].value ? in->kvs[i].value : "");
		break;
	case DF_CMD:
	case DF_ENTRYPOINT:
		sb_putc(&b, ' ');
		put_command(&b, in, hc);
		break;
	case DF_SHELL:
	case DF_VOLUME:
		sb_putc(&b, ' ');
		put_list(&b, in->args, in->nargs);
		break;
	case DF_HEALTHCHECK: {
		const struct df_healthcheck *h = in->health;
		sb_puts(&b, " &{");
		put_quoted_list(&b, h->test, h->ntest);
		int64_t d[] = {h->interval, h->timeout, h->start_period, h->start_interval};
		for (size_t i = 0; i < 4; i++) {
			struct strbuf t = {0};
			go_duration_string(&t, d[i]);
			sb_putc(&b, ' ');
			go_quote(&b, sb_str(&t), t.len);
			sb_free(&t);
		}
		sb_putc(&b, ' ');
		put_rune_literal(&b, h->retries);
		sb_putc(&b, '}');
		break;
	}
	default: /* EXPOSE USER STOPSIGNAL MAINTAINER ONBUILD: the words */
		for (size_t i = 0; i < in->nargs; i++)
			sb_printf(&b, " %s", in->args[i]);
		break;
	}
	return sb_steal(&b);
}
