/* Unit tests of the Dockerfile parser (tools/build/dockerfile.h): directives,
 * continuations, every instruction in its forms, errors and their lines, Docker's
 * variable substitution (cases from BuildKit's shell lexer tests and envVarTest),
 * multi-stage lookups, history strings, heredocs, and the example Dockerfiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dockerfile.h"

/* ---- helpers ---- */

static struct dockerfile *parse_ok(const char *text)
{
	char *err = NULL;
	struct dockerfile *df = dockerfile_parse(text, strlen(text), NULL, &err);
	if (!df)
		fail_msg("unexpected error: %s\n--- in:\n%s", err, text);
	return df;
}

static void parse_err(const char *text, const char *expected)
{
	char *err = NULL;
	struct dockerfile *df = dockerfile_parse(text, strlen(text), NULL, &err);
	if (df) {
		dockerfile_free(df);
		fail_msg("parsed, expected error: %s\n--- in:\n%s", expected, text);
	}
	assert_non_null(err);
	if (strcmp(err, expected))
		fail_msg("error\n  got:      %s\n  expected: %s", err, expected);
	free(err);
}

/* The first instruction of the first stage. */
static const struct df_instruction *first(const struct dockerfile *df)
{
	assert_true(df->nstages >= 1);
	assert_true(df->stages[0].ninstructions >= 1);
	return &df->stages[0].instructions[0];
}

/* Parse "FROM x\n" + line and return its instruction (df kept in *out). */
static const struct df_instruction *one(const char *line, struct dockerfile **out)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "FROM scratch\n%s\n", line);
	*out = parse_ok(buf);
	assert_int_equal((*out)->stages[0].ninstructions, 1);
	return first(*out);
}

static void one_err(const char *line, const char *expected)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "FROM scratch\n%s\n", line);
	parse_err(buf, expected);
}

static void assert_args(const struct df_instruction *in, size_t n, ...)
{
	va_list ap;
	if (in->nargs != n)
		fail_msg("%s: %zu arguments, expected %zu", in->original, in->nargs, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(in->args[i], va_arg(ap, const char *));
	va_end(ap);
}

/* A variable table for the lexer: "NAME=value" strings, NULL-terminated. */
static const char *table_lookup(void *ctx, const char *name)
{
	for (const char *const *e = ctx; *e; e++) {
		size_t n = strcspn(*e, "=");
		if (strlen(name) == n && !strncmp(*e, name, n))
			return (*e)[n] ? *e + n + 1 : "";
	}
	return NULL;
}

static char *read_corpus(const char *dir, const char *name, size_t *len)
{
	/* the seed corpus lives next to this file: tests/fuzz/corpus */
	char path[4096];
	const char *slash = strrchr(__FILE__, '/');
	int base = slash ? (int)(slash - __FILE__) : 0;
	snprintf(path, sizeof path, "%.*s%s../fuzz/corpus/%s/%s", base, __FILE__, base ? "/" : "", dir,
		 name);
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

/* ---- the example application (copies of /work/shared/examples/node-app) ---- */

static void test_node_app(void **state)
{
	(void)state;
	size_t len;
	char *buf = read_corpus("dockerfile", "node-app.Dockerfile", &len);
	char *err = NULL;
	struct dockerfile *df = dockerfile_parse(buf, len, "Dockerfile", &err);
	free(buf);
	if (!df)
		fail_msg("%s", err);
	assert_int_equal(df->nmeta_args, 0);
	assert_int_equal(df->nstages, 1);
	const struct df_stage *st = &df->stages[0];
	assert_null(st->name);
	assert_string_equal(st->base, "node");
	assert_int_equal(st->from->line, 2);
	assert_int_equal(st->ninstructions, 6);
	const struct df_instruction *in = st->instructions;
	static const enum df_command cmds[] = {DF_WORKDIR, DF_COPY, DF_RUN, DF_COPY, DF_EXPOSE, DF_CMD};
	static const unsigned lines[] = {4, 6, 8, 10, 12, 14};
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(in[i].cmd, cmds[i]);
		assert_int_equal(in[i].line, lines[i]);
		assert_int_equal(in[i].end_line, lines[i]);
	}
	assert_args(&in[0], 1, "/app");
	assert_args(&in[1], 2, "package.json", "/app");
	assert_args(&in[2], 1, "npm install");
	assert_false(in[2].json);
	assert_false(in[2].expand);
	assert_args(&in[3], 2, ".", "/app");
	assert_args(&in[4], 1, "80");
	assert_args(&in[5], 2, "node", "server.js");
	assert_true(in[5].json);
	assert_string_equal(in[5].original, "CMD [\"node\", \"server.js\"]");

	char *cb = df_created_by(&in[2], NULL);
	assert_string_equal(cb, "/bin/sh -c npm install");
	free(cb);
	cb = df_created_by(&in[5], NULL);
	assert_string_equal(cb, "/bin/sh -c #(nop)  CMD [\"node\" \"server.js\"]");
	free(cb);
	dockerfile_free(df);

	buf = read_corpus("dockerfile", "node-app-naive.Dockerfile", &len);
	df = dockerfile_parse(buf, len, "Dockerfile.naive", &err);
	free(buf);
	if (!df)
		fail_msg("%s", err);
	assert_int_equal(df->nstages, 1);
	st = &df->stages[0];
	assert_int_equal(st->ninstructions, 5);
	in = st->instructions;
	static const enum df_command naive[] = {DF_WORKDIR, DF_COPY, DF_RUN, DF_EXPOSE, DF_CMD};
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(in[i].cmd, naive[i]);
	assert_args(&in[1], 2, ".", "/app");
	assert_int_equal(in[2].line, 8);
	assert_string_equal(in[2].file, "Dockerfile.naive");
	dockerfile_free(df);
}

/* Every file of the seed corpus parses. */
static void test_corpus_parses(void **state)
{
	(void)state;
	static const char *files[] = {"multistage-go.Dockerfile", "python-web.Dockerfile",
				      "heredoc.Dockerfile", "windows-escape.Dockerfile"};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		size_t len;
		char *buf = read_corpus("dockerfile", files[i], &len), *err = NULL;
		struct dockerfile *df = dockerfile_parse(buf, len, files[i], &err);
		free(buf);
		if (!df)
			fail_msg("%s", err);
		dockerfile_free(df);
	}

	size_t len;
	char *buf = read_corpus("dockerfile", "multistage-go.Dockerfile", &len), *err = NULL;
	struct dockerfile *df = dockerfile_parse(buf, len, NULL, &err);
	free(buf);
	assert_non_null(df);
	assert_string_equal(df->syntax, "docker/dockerfile:1");
	assert_int_equal(df->nmeta_args, 2);
	assert_string_equal(df->meta_args[0].kvs[0].key, "GO_VERSION");
	assert_string_equal(df->meta_args[0].kvs[0].value, "1.22");
	assert_int_equal(df->nstages, 2);
	assert_string_equal(df->stages[0].name, "build");
	assert_string_equal(df->stages[0].platform, "$BUILDPLATFORM");
	assert_string_equal(df->stages[0].base, "golang:${GO_VERSION}-alpine");
	const struct df_instruction *run = &df->stages[0].instructions[3];
	assert_int_equal(run->cmd, DF_RUN);
	assert_int_equal(run->line, 10);
	assert_int_equal(run->end_line, 11);
	assert_string_equal(df_flag_value(run, "mount"), "type=cache,target=/go/pkg/mod");
	assert_args(run, 1, "go mod download");
	const struct df_instruction *hc = &df->stages[1].instructions[4];
	assert_int_equal(hc->cmd, DF_HEALTHCHECK);
	assert_int_equal(hc->health->ntest, 4);
	assert_string_equal(hc->health->test[0], "CMD");
	assert_string_equal(hc->health->test[1], "wget");
	assert_true(hc->health->interval == 30000000000LL);
	assert_true(hc->health->start_period == 5000000000LL);
	assert_int_equal(hc->health->retries, 3);
	dockerfile_free(df);
}

/* ---- directives, comments, continuations ---- */

static void test_directives(void **state)
{
	(void)state;
	struct dockerfile *df = parse_ok("# syntax=docker/dockerfile:1.7\n# escape=`\nFROM x\n");
	assert_string_equal(df->syntax, "docker/dockerfile:1.7");
	assert_int_equal(df->escape, '`');
	dockerfile_free(df);

	/* keys are case-insensitive, blanks around '=' are fine */
	df = parse_ok("#  ESCAPE = `  \nFROM x\n");
	assert_int_equal(df->escape, '`');
	dockerfile_free(df);

	df = parse_ok("# check=skip=JSONArgsRecommended\n# escape=`\nFROM x\n");
	assert_int_equal(df->escape, '`');
	dockerfile_free(df);

	/* after a comment, a blank line or an instruction, a directive is a comment */
	df = parse_ok("# About my dockerfile\n# escape=`\nFROM x\nRUN a \\\n b\n");
	assert_int_equal(df->escape, '\\');
	assert_args(first(df), 1, "a  b");
	dockerfile_free(df);
	df = parse_ok("\n# escape=`\nFROM x\n");
	assert_int_equal(df->escape, '\\');
	dockerfile_free(df);
	df = parse_ok("# unknowndirective=value\n# escape=`\nFROM x\n");
	assert_int_equal(df->escape, '\\');
	dockerfile_free(df);
	df = parse_ok("FROM x\n# escape=`\n");
	assert_int_equal(df->escape, '\\');
	dockerfile_free(df);

	parse_err("# escape=\\\n# escape=`\nFROM x\n",
		  "Dockerfile:2: only one escape parser directive can be used");
	parse_err("# syntax=a\n# syntax=b\nFROM x\n",
		  "Dockerfile:2: only one syntax parser directive can be used");
	parse_err("# escape=x\nFROM x\n",
		  "Dockerfile:1: invalid escape token 'x' does not match ` or \\");
}

static void test_escape_backtick(void **state)
{
	(void)state;
	/* Docker's documented Windows example */
	struct dockerfile *df = parse_ok("# escape=`\n\nFROM microsoft/nanoserver\n"
					 "COPY testfile.txt c:\\\nRUN dir c:\\\n"
					 "RUN echo one `\n    two\n");
	const struct df_stage *st = &df->stages[0];
	assert_int_equal(st->ninstructions, 3);
	assert_args(&st->instructions[0], 2, "testfile.txt", "c:\\");
	assert_args(&st->instructions[1], 1, "dir c:\\");
	assert_args(&st->instructions[2], 1, "echo one     two");
	assert_int_equal(st->instructions[2].line, 6);
	assert_int_equal(st->instructions[2].end_line, 7);
	dockerfile_free(df);

	/* with the default escape, the same file joins lines */
	df = parse_ok("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
	st = &df->stages[0];
	assert_int_equal(st->ninstructions, 1);
	assert_args(&st->instructions[0], 4, "testfile.txt", "c:RUN", "dir", "c:");
	dockerfile_free(df);
}

static void test_comments_and_blanks(void **state)
{
	(void)state;
	struct dockerfile *df = parse_ok("\xef\xbb\xbf# comment\r\n\r\n   # indented comment\n"
					 "  from   alpine  \r\n\t run echo hi # not a comment\n"
					 "\n\n");
	assert_string_equal(df->stages[0].base, "alpine");
	assert_int_equal(df->stages[0].from->line, 4);
	const struct df_instruction *in = first(df);
	assert_int_equal(in->cmd, DF_RUN);
	assert_string_equal(in->keyword, "run");
	assert_int_equal(in->line, 5);
	assert_args(in, 1, "echo hi # not a comment");
	assert_string_equal(in->original, "run echo hi # not a comment");
	dockerfile_free(df);
}

static void test_continuations(void **state)
{
	(void)state;
	/* Docker's own example: comment lines inside a continuation are dropped,
	 * empty ones too (with a warning); continuation lines keep their indentation. */
	struct dockerfile *df = parse_ok("FROM alpine:3.6\n"              /* 1 */
					 "\n"                              /* 2 */
					 "RUN valid \\\n"                  /* 3 */
					 "    continuation\n"              /* 4 */
					 "\n"                              /* 5 */
					 "RUN something \\\n"              /* 6 */
					 "\n"                              /* 7 */
					 "    following \\\n"              /* 8 */
					 "\n"                              /* 9 */
					 "    more\n"                      /* 10 */
					 "\n"                              /* 11 */
					 "RUN non-indented \\\n"           /* 12 */
					 "# this is a comment\n"           /* 13 */
					 "   after-comment\n"              /* 14 */
					 "\n"                              /* 15 */
					 "RUN indented \\\n"               /* 16 */
					 "    # this is an indented comment\n" /* 17 */
					 "    comment\n"                   /* 18 */
					 "RUN trailing blanks \\  \t\n"    /* 19 */
					 "  ok\n"                          /* 20 */
					 "RUN escaped escape \\\\\n"       /* 21 */
					 "RUN last \\\n");                 /* 22 */
	const struct df_stage *st = &df->stages[0];
	assert_int_equal(st->ninstructions, 7);
	const struct df_instruction *in = st->instructions;
	assert_args(&in[0], 1, "valid     continuation");
	assert_int_equal(in[0].line, 3);
	assert_int_equal(in[0].end_line, 4);
	assert_args(&in[1], 1, "something     following     more");
	assert_int_equal(in[1].line, 6);
	assert_int_equal(in[1].end_line, 10);
	assert_args(&in[2], 1, "non-indented    after-comment");
	assert_args(&in[3], 1, "indented     comment");
	assert_int_equal(in[3].end_line, 18);
	assert_args(&in[4], 1, "trailing blanks   ok");
	assert_args(&in[5], 1, "escaped escape \\\\");
	assert_int_equal(in[5].end_line, 21);
	assert_args(&in[6], 1, "last");
	assert_int_equal(in[6].line, 22);
	assert_int_equal(df->nwarnings, 1);
	assert_string_equal(df->warnings[0],
			    "Dockerfile:6: empty continuation line (Docker will make this an error)");
	dockerfile_free(df);

	/* a lone escape character continues too; a comment never does */
	df = parse_ok("FROM x\n# comment \\\nRUN a\\\n\\\nb\n");
	assert_int_equal(df->stages[0].ninstructions, 1);
	assert_args(first(df), 1, "ab");
	dockerfile_free(df);
}

/* ---- instructions ---- */

static void test_from(void **state)
{
	(void)state;
	struct dockerfile *df = parse_ok("FROM --platform=linux/arm64 Debian:12 As Build-1.x\n"
					 "FROM build-1.X\nfrom scratch as last\n");
	assert_int_equal(df->nstages, 3);
	const struct df_stage *s = df->stages;
	assert_string_equal(s[0].name, "build-1.x");
	assert_string_equal(s[0].base, "Debian:12");
	assert_string_equal(s[0].platform, "linux/arm64");
	assert_int_equal(s[0].index, 0);
	assert_string_equal(s[0].from->original, "FROM --platform=linux/arm64 Debian:12 As Build-1.x");
	assert_null(s[1].name);
	assert_null(s[1].platform);
	assert_string_equal(s[1].base, "build-1.X");
	assert_string_equal(s[2].name, "last");
	assert_int_equal(s[2].index, 2);
	dockerfile_free(df);

	parse_err("FROM\n", "Dockerfile:1: FROM requires at least one argument");
	parse_err("# c\n\nFROM\n", "Dockerfile:3: FROM requires at least one argument");
	parse_err("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments");
	parse_err("FROM a AS b c\n", "Dockerfile:1: FROM requires either one or three arguments");
	parse_err("FROM a AS 1st\n",
		  "Dockerfile:1: invalid name for build stage: \"1st\", name can't start with a number or contain symbols");
	parse_err("FROM a AS x$y\n",
		  "Dockerfile:1: invalid name for build stage: \"x$y\", name can't start with a number or contain symbols");
	parse_err("FROM --foo=bar a\n", "Dockerfile:1: unknown flag: --foo");
	parse_err("FROM --platform a\n", "Dockerfile:1: Missing a value on flag: platform");
	parse_err("FROM a AS x\nFROM b AS X\n", "Dockerfile:2: duplicate stage name \"x\"");
}

static void test_run_cmd_entrypoint(void **state)
{
	(void)state;
	struct dockerfile *df;
	const struct df_instruction *in = one("RUN echo \"hello  world\" && ls", &df);
	assert_false(in->json);
	assert_args(in, 1, "echo \"hello  world\" && ls");
	dockerfile_free(df);

	in = one("RUN [\"/bin/bash\", \"-c\", \"echo hi\"]", &df);
	assert_true(in->json);
	assert_args(in, 3, "/bin/bash", "-c", "echo hi");
	dockerfile_free(df);

	/* JSON escapes are JSON's */
	in = one("RUN [\"printf\", \"a\\tb\\u00e9\\\"\"]", &df);
	assert_args(in, 2, "printf", "a\tb\xc3\xa9\"");
	dockerfile_free(df);

	/* not valid JSON: the shell form, as written */
	in = one("RUN [ \"echo\", 'single' ]", &df);
	assert_false(in->json);
	assert_args(in, 1, "[ \"echo\", 'single' ]");
	dockerfile_free(df);
	in = one("CMD [\"a\" \"b\"]", &df);
	assert_false(in->json);
	assert_args(in, 1, "[\"a\" \"b\"]");
	dockerfile_free(df);
	in = one("CMD [\"a\"] trailing", &df);
	assert_false(in->json);
	dockerfile_free(df);

	/* a JSON array of non-strings is an error, as in Docker */
	one_err("RUN [\"a\", 1]",
		"Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only");
	one_err("CMD [[\"a\"]]",
		"Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only");

	in = one("RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=npm "
		 "--network=none npm ci",
		 &df);
	assert_int_equal(in->nflags, 3);
	assert_string_equal(in->flags[0].name, "mount");
	assert_string_equal(in->flags[0].value, "type=cache,target=/root/.cache");
	assert_string_equal(in->flags[1].value, "type=secret,id=npm");
	assert_string_equal(df_flag_value(in, "network"), "none");
	assert_null(df_flag_value(in, "security"));
	assert_args(in, 1, "npm ci");
	dockerfile_free(df);

	/* `--` ends the flags */
	in = one("RUN -- --not-a-flag", &df);
	assert_int_equal(in->nflags, 0);
	assert_args(in, 1, "--not-a-flag");
	dockerfile_free(df);

	one_err("RUN --foo=1 x", "Dockerfile:2: unknown flag: --foo");
	one_err("RUN", "Dockerfile:2: RUN requires at least one argument");

	in = one("CMD [\"node\", \"server.js\"]", &df);
	assert_int_equal(in->cmd, DF_CMD);
	assert_true(in->json);
	dockerfile_free(df);
	in = one("cmd npm start", &df);
	assert_args(in, 1, "npm start");
	dockerfile_free(df);
	in = one("CMD []", &df);
	assert_true(in->json);
	assert_int_equal(in->nargs, 0);
	dockerfile_free(df);
	in = one("ENTRYPOINT [\"/docker-entrypoint.sh\"]", &df);
	assert_int_equal(in->cmd, DF_ENTRYPOINT);
	assert_args(in, 1, "/docker-entrypoint.sh");
	dockerfile_free(df);
	in = one("ENTRYPOINT exec top -b", &df);
	assert_false(in->json);
	assert_args(in, 1, "exec top -b");
	dockerfile_free(df);
	one_err("CMD --verbose x", "Dockerfile:2: unknown flag: --verbose");
}

static void test_shell(void **state)
{
	(void)state;
	struct dockerfile *df;
	const struct df_instruction *in = one("SHELL [\"powershell\", \"-command\"]", &df);
	assert_true(in->json);
	assert_args(in, 2, "powershell", "-command");
	dockerfile_free(df);
	one_err("SHELL /bin/bash -c", "Dockerfile:2: SHELL requires the arguments to be in JSON form");
	one_err("SHELL []", "Dockerfile:2: SHELL requires at least one argument");
	one_err("SHELL", "Dockerfile:2: SHELL requires at least one argument");
}

static void test_env_label(void **state)
{
	(void)state;
	struct dockerfile *df;
	/* Docker's documented examples; values stay raw until expanded */
	const struct df_instruction *in =
		one("ENV MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog MY_CAT=fluffy", &df);
	assert_int_equal(in->cmd, DF_ENV);
	assert_int_equal(in->nargs, 0);
	assert_int_equal(in->nkvs, 3);
	assert_string_equal(in->kvs[0].key, "MY_NAME");
	assert_string_equal(in->kvs[0].value, "\"John Doe\"");
	assert_string_equal(in->kvs[1].key, "MY_DOG");
	assert_string_equal(in->kvs[1].value, "Rex\\ The\\ Dog");
	assert_string_equal(in->kvs[2].value, "fluffy");
	dockerfile_free(df);

	/* the legacy form: the rest of the line is the value */
	in = one("ENV MY_VAR my-value with  spaces", &df);
	assert_int_equal(in->nkvs, 1);
	assert_string_equal(in->kvs[0].key, "MY_VAR");
	assert_string_equal(in->kvs[0].value, "my-value with  spaces");
	dockerfile_free(df);

	in = one("ENV EMPTY= A='x=y'", &df);
	assert_string_equal(in->kvs[0].value, "");
	assert_string_equal(in->kvs[1].value, "'x=y'");
	dockerfile_free(df);

	in = one("LABEL \"com.example.vendor\"=\"ACME Incorporated\" com.example.label-with-value=\"foo\" "
		 "version=\"1.0\" description=\"This text illustrates \\\n that label-values can span multiple lines.\"",
		 &df);
	assert_int_equal(in->cmd, DF_LABEL);
	assert_int_equal(in->nkvs, 4);
	assert_string_equal(in->kvs[0].key, "\"com.example.vendor\"");
	assert_string_equal(in->kvs[3].value,
			    "\"This text illustrates  that label-values can span multiple lines.\"");
	dockerfile_free(df);

	/* blanks inside quotes do not split; escaped quotes do not close */
	in = one("LABEL a=\"x \\\" y\" b='c d'", &df);
	assert_int_equal(in->nkvs, 2);
	assert_string_equal(in->kvs[0].value, "\"x \\\" y\"");
	assert_string_equal(in->kvs[1].value, "'c d'");
	dockerfile_free(df);

	one_err("ENV", "Dockerfile:2: ENV requires at least one argument");
	one_err("ENV FOO", "Dockerfile:2: ENV must have two arguments");
	one_err("ENV a=1 b",
		"Dockerfile:2: Syntax error - can't find = in \"b\". Must be of the form: name=value");
	one_err("LABEL", "Dockerfile:2: LABEL requires at least one argument");
	one_err("LABEL =x", "Dockerfile:2: LABEL names can not be blank");
	one_err("ENV --x=1 A=b", "Dockerfile:2: unknown flag: --x");
	parse_err("FROM a\n\n# c\n\nENV =value\n", "Dockerfile:5: ENV names can not be blank");
}

static void test_arg(void **state)
{
	(void)state;
	struct dockerfile *df = parse_ok("ARG VERSION=latest\nARG A B=2 C=\"x y\"\n"
					 "FROM busybox:$VERSION\nARG VERSION\nARG user1=someuser\n");
	assert_int_equal(df->nmeta_args, 2);
	const struct df_instruction *m = df->meta_args;
	assert_int_equal(m[0].cmd, DF_ARG);
	assert_true(m[0].expand);
	assert_string_equal(m[0].kvs[0].key, "VERSION");
	assert_string_equal(m[0].kvs[0].value, "latest");
	assert_int_equal(m[1].nkvs, 3);
	assert_string_equal(m[1].kvs[0].key, "A");
	assert_null(m[1].kvs[0].value);
	assert_string_equal(m[1].kvs[1].value, "2");
	assert_string_equal(m[1].kvs[2].value, "\"x y\"");
	const struct df_stage *st = &df->stages[0];
	assert_string_equal(st->base, "busybox:$VERSION");
	assert_int_equal(st->ninstructions, 2);
	assert_string_equal(st->instructions[0].kvs[0].key, "VERSION");
	assert_null(st->instructions[0].kvs[0].value);
	dockerfile_free(df);

	parse_err("ARG\nFROM x\n", "Dockerfile:1: ARG requires at least one argument");
	parse_err("ARG =x\nFROM x\n", "Dockerfile:1: ARG names can not be blank");
}

static void test_copy_add(void **state)
{
	(void)state;
	struct dockerfile *df;
	const struct df_instruction *in =
		one("COPY --from=build --chown=55:mygroup --chmod=644 --link files* /mydir/", &df);
	assert_int_equal(in->cmd, DF_COPY);
	assert_true(in->expand);
	assert_string_equal(df_flag_value(in, "from"), "build");
	assert_string_equal(df_flag_value(in, "chown"), "55:mygroup");
	assert_string_equal(df_flag_value(in, "chmod"), "644");
	assert_string_equal(df_flag_value(in, "link"), "true");
	assert_args(in, 2, "files*", "/mydir/");
	dockerfile_free(df);

	in = one("COPY --link=false a b c /d/", &df);
	assert_string_equal(df_flag_value(in, "link"), "false");
	assert_args(in, 4, "a", "b", "c", "/d/");
	dockerfile_free(df);

	/* flags may be quoted */
	in = one("COPY --chown=\"app user\" a b", &df);
	assert_string_equal(df_flag_value(in, "chown"), "app user");
	dockerfile_free(df);

	/* JSON form for paths with spaces */
	in = one("COPY [\"my file.txt\", \"other file\", \"/dest dir/\"]", &df);
	assert_true(in->json);
	assert_args(in, 3, "my file.txt", "other file", "/dest dir/");
	dockerfile_free(df);

	in = one("ADD --keep-git-dir=true --checksum=sha256:abc https://example.com/x.git /src", &df);
	assert_int_equal(in->cmd, DF_ADD);
	assert_string_equal(df_flag_value(in, "keep-git-dir"), "true");
	assert_string_equal(df_flag_value(in, "checksum"), "sha256:abc");
	assert_args(in, 2, "https://example.com/x.git", "/src");
	dockerfile_free(df);
	in = one("ADD [\"a b.tar.gz\", \"/x\"]", &df);
	assert_true(in->json);
	dockerfile_free(df);

	one_err("COPY onlyone",
		"Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined");
	one_err("ADD", "Dockerfile:2: ADD requires at least two arguments, but only one was provided. Destination could not be determined");
	one_err("COPY --bogus a b", "Dockerfile:2: unknown flag: --bogus");
	one_err("COPY --from a b", "Dockerfile:2: Missing a value on flag: from");
	one_err("COPY --link=maybe a b", "Dockerfile:2: Expecting boolean value for flag link, not: maybe");
	one_err("COPY --link= a b", "Dockerfile:2: Missing a value on flag: link");
	one_err("COPY --from=a --from=b x y", "Dockerfile:2: Duplicate flag specified: from");
	one_err("ADD --from=a x y", "Dockerfile:2: unknown flag: --from");
	one_err("COPY a <<EOF\nEOF", "Dockerfile:2: COPY cannot accept a heredoc as a destination");
}

static void test_expose_volume_user_workdir(void **state)
{
	(void)state;
	struct dockerfile *df;
	const struct df_instruction *in = one("EXPOSE 8080 80/udp 443/tcp", &df);
	assert_args(in, 3, "443/tcp", "80/udp", "8080"); /* sorted, as Docker */
	dockerfile_free(df);
	one_err("EXPOSE", "Dockerfile:2: EXPOSE requires at least one argument");

	in = one("VOLUME [\"/data\", \"/var/log\"]", &df);
	assert_true(in->json);
	assert_args(in, 2, "/data", "/var/log");
	dockerfile_free(df);
	in = one("VOLUME /var/log /var/db", &df);
	assert_false(in->json);
	assert_args(in, 2, "/var/log", "/var/db");
	dockerfile_free(df);
	one_err("VOLUME [\"\"]", "Dockerfile:2: VOLUME specified can not be an empty string");
	one_err("VOLUME", "Dockerfile:2: VOLUME requires at least one argument");

	in = one("USER patrick:staff", &df);
	assert_args(in, 1, "patrick:staff");
	dockerfile_free(df);
	one_err("USER", "Dockerfile:2: USER requires exactly one argument");

	/* WORKDIR, USER... take the rest of the line, blanks included */
	in = one("WORKDIR /path to/my dir", &df);
	assert_args(in, 1, "/path to/my dir");
	dockerfile_free(df);
	one_err("WORKDIR", "Dockerfile:2: WORKDIR requires exactly one argument");
	one_err("WORKDIR --x=1 /a", "Dockerfile:2: unknown flag: --x");

	in = one("STOPSIGNAL SIGKILL", &df);
	assert_int_equal(in->cmd, DF_STOPSIGNAL);
	assert_args(in, 1, "SIGKILL");
	dockerfile_free(df);
	one_err("STOPSIGNAL", "Dockerfile:2: STOPSIGNAL requires exactly one argument");

	in = one("MAINTAINER Jane Doe <jane@example.com>", &df);
	assert_int_equal(in->cmd, DF_MAINTAINER);
	assert_false(in->expand);
	assert_args(in, 1, "Jane Doe <jane@example.com>");
	dockerfile_free(df);
	one_err("MAINTAINER", "Dockerfile:2: MAINTAINER requires exactly one argument");
	one_err("MAINTAINER --boo joe@example.com", "Dockerfile:2: unknown flag: --boo");
}

static void test_healthcheck(void **state)
{
	(void)state;
	struct dockerfile *df;
	const struct df_instruction *in =
		one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms "
		    "--retries=4 CMD curl -f http://localhost/ || exit 1",
		    &df);
	const struct df_healthcheck *h = in->health;
	assert_non_null(h);
	assert_int_equal(h->ntest, 2);
	assert_string_equal(h->test[0], "CMD-SHELL");
	assert_string_equal(h->test[1], "curl -f http://localhost/ || exit 1");
	assert_true(h->interval == 300000000000LL);
	assert_true(h->timeout == 3000000000LL);
	assert_true(h->start_period == 90000000000LL);
	assert_true(h->start_interval == 500000000LL);
	assert_int_equal(h->retries, 4);
	dockerfile_free(df);

	in = one("healthcheck cmd [\"/bin/check\", \"--quick\"]", &df);
	assert_int_equal(in->health->ntest, 3);
	assert_string_equal(in->health->test[0], "CMD");
	assert_string_equal(in->health->test[2], "--quick");
	assert_true(in->health->interval == 0);
	assert_int_equal(in->health->retries, 0);
	dockerfile_free(df);

	in = one("HEALTHCHECK NONE", &df);
	assert_int_equal(in->health->ntest, 1);
	assert_string_equal(in->health->test[0], "NONE");
	dockerfile_free(df);

	in = one("HEALTHCHECK --interval=0s --timeout=1.5ms CMD true", &df);
	assert_true(in->health->interval == 0);
	assert_true(in->health->timeout == 1500000);
	dockerfile_free(df);

	one_err("HEALTHCHECK", "Dockerfile:2: HEALTHCHECK requires at least one argument");
	one_err("HEALTHCHECK NONE x", "Dockerfile:2: HEALTHCHECK NONE takes no arguments");
	one_err("HEALTHCHECK RUN x", "Dockerfile:2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)");
	one_err("HEALTHCHECK CMD", "Dockerfile:2: Missing command after HEALTHCHECK CMD");
	one_err("HEALTHCHECK --interval=soon CMD x", "Dockerfile:2: --interval: invalid duration \"soon\"");
	one_err("HEALTHCHECK --interval=10 CMD x", "Dockerfile:2: --interval: invalid duration \"10\"");
	one_err("HEALTHCHECK --timeout=50ns CMD x",
		"Dockerfile:2: Interval \"timeout\" cannot be less than 1ms");
	one_err("HEALTHCHECK --retries=0 CMD x", "Dockerfile:2: --retries must be at least 1 (not 0)");
	one_err("HEALTHCHECK --retries=three CMD x", "Dockerfile:2: --retries: invalid number \"three\"");
	one_err("HEALTHCHECK --bogus=1 CMD x", "Dockerfile:2: unknown flag: --bogus");
}

static void test_onbuild(void **state)
{
	(void)state;
	struct dockerfile *df;
	const struct df_instruction *in = one("ONBUILD RUN /usr/local/bin/python-build --dir /app/src", &df);
	assert_int_equal(in->cmd, DF_ONBUILD);
	assert_false(in->expand);
	assert_args(in, 1, "RUN /usr/local/bin/python-build --dir /app/src");
	assert_non_null(in->trigger);
	assert_int_equal(in->trigger->cmd, DF_RUN);
	assert_args(in->trigger, 1, "/usr/local/bin/python-build --dir /app/src");
	dockerfile_free(df);

	in = one("onbuild  COPY --chown=1:1 [\"a\", \"b\"]", &df);
	assert_args(in, 1, "COPY --chown=1:1 [\"a\", \"b\"]");
	assert_int_equal(in->trigger->cmd, DF_COPY);
	assert_true(in->trigger->json);
	assert_string_equal(df_flag_value(in->trigger, "chown"), "1:1");
	dockerfile_free(df);

	/* Docker checks a trigger only when it runs: accepted, not parsed */
	in = one("ONBUILD RUNN x", &df);
	assert_null(in->trigger);
	assert_args(in, 1, "RUNN x");
	dockerfile_free(df);

	one_err("ONBUILD", "Dockerfile:2: ONBUILD requires at least one argument");
	one_err("ONBUILD ONBUILD RUN touch foobar",
		"Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
	one_err("ONBUILD FROM scratch", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger");
	one_err("ONBUILD maintainer me", "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger");

	/* a trigger of a base image, parsed when a child image is built */
	char *err = NULL;
	const char *t = "COPY --chown=app . /src";
	struct df_instruction *p = df_parse_instruction(t, strlen(t), '\\', NULL, &err);
	assert_non_null(p);
	assert_int_equal(p->cmd, DF_COPY);
	assert_args(p, 2, ".", "/src");
	df_instruction_free(p);
	t = "COPY x";
	assert_null(df_parse_instruction(t, strlen(t), '\\', "ONBUILD", &err));
	assert_string_equal(err, "ONBUILD:1: COPY requires at least two arguments, but only one was provided. Destination could not be determined");
	free(err);
	t = "RUN a\nRUN b";
	assert_null(df_parse_instruction(t, strlen(t), '\\', NULL, &err));
	assert_string_equal(err, "Dockerfile: expected one instruction, found 2");
	free(err);
}

/* ---- errors and their lines ---- */

static void test_errors(void **state)
{
	(void)state;
	parse_err("FROM a\n\n\n# one\n# two\n\n\n\n\nRUN ok\n\nRUNN x\n", "Dockerfile:12: unknown instruction: RUNN");
	parse_err("FROM a\nfoo bar\n", "Dockerfile:2: unknown instruction: foo");
	parse_err("RUN echo hi\nFROM a\n",
		  "Dockerfile:1: no build stage in current context (RUN before the first FROM)");
	parse_err("ARG a\nENV b=c\nFROM x\n",
		  "Dockerfile:2: no build stage in current context (ENV before the first FROM)");
	parse_err("", "Dockerfile: file with no instructions");
	parse_err("# only\n\n   \n# comments\n", "Dockerfile: file with no instructions");
	parse_err("ARG A=1\n", "Dockerfile: dockerfile contains no stages to build (no FROM instruction)");
	/* an error in a continued instruction is reported at its first line */
	parse_err("FROM a\nCOPY \\\n  \\\n  x\nRUN y\n",
		  "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined");
	/* lines after continuations and heredocs are counted */
	parse_err("FROM a\nRUN a \\\n b \\\n c\nRUN <<EOF\nx\nEOF\nBAD\n", "Dockerfile:8: unknown instruction: BAD");
	/* errors of the first pass (splitting) win, as in Docker */
	parse_err("FROM a\nFOO\nRUN [\"a\", 2]\n",
		  "Dockerfile:3: when using JSON array syntax, arrays must be comprised of strings only");

	/* the file name is the caller's */
	char *err = NULL;
	const char *text = "FROM a\nCOPY x\n";
	assert_null(dockerfile_parse(text, strlen(text), "app/Containerfile", &err));
	assert_string_equal(err, "app/Containerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined");
	free(err);

	/* what a C string cannot hold, and Docker's line limit */
	static const char nul[] = "FROM a\nRUN a\0b\n";
	assert_null(dockerfile_parse(nul, sizeof nul - 1, NULL, &err));
	assert_string_equal(err, "Dockerfile:2: NUL byte in the Dockerfile");
	free(err);
	size_t n = 70000;
	char *big = malloc(n + 16);
	memcpy(big, "FROM a\nRUN ", 11);
	memset(big + 11, 'x', n);
	assert_null(dockerfile_parse(big, n + 11, NULL, &err));
	assert_string_equal(err, "Dockerfile:2: dockerfile line greater than max allowed size of 65535");
	free(err);
	free(big);

	/* a NULL buffer is an empty file */
	assert_null(dockerfile_parse(NULL, 5, NULL, &err));
	assert_string_equal(err, "Dockerfile: file with no instructions");
	free(err);
}

/* ---- heredocs ---- */

static void test_heredocs(void **state)
{
	(void)state;
	struct dockerfile *df = parse_ok("FROM a\n"
					 "RUN <<EOF\napt-get update\napt-get install -y vim\nEOF\n"
					 "COPY <<-\"END\" /etc/motd\n\tHello $USER\n\t\tindented\n\tEND\n"
					 "COPY <<one.txt <<'two.txt' /dst/\n1\none.txt\n2\ntwo.txt\n"
					 "RUN 3<<CONF cat /proc/self/fd/3\nk=v\nCONF\n"
					 "RUN [\"<<EOF\"]\n"
					 "RUN cat <<< \"here string\"\n"
					 "RUN echo after\n");
	const struct df_stage *st = &df->stages[0];
	assert_int_equal(st->ninstructions, 7);
	const struct df_instruction *in = st->instructions;

	assert_int_equal(in[0].line, 2);
	assert_int_equal(in[0].end_line, 5);
	assert_args(&in[0], 1, "<<EOF");
	assert_int_equal(in[0].nheredocs, 1);
	assert_string_equal(in[0].heredocs[0].name, "EOF");
	assert_string_equal(in[0].heredocs[0].content, "apt-get update\napt-get install -y vim\n");
	assert_true(in[0].heredocs[0].expand);
	assert_false(in[0].heredocs[0].chomp);

	assert_int_equal(in[1].line, 6);
	assert_int_equal(in[1].end_line, 9);
	assert_string_equal(in[1].heredocs[0].name, "END");
	assert_false(in[1].heredocs[0].expand); /* quoted delimiter */
	assert_true(in[1].heredocs[0].chomp);
	assert_string_equal(in[1].heredocs[0].content, "Hello $USER\nindented\n");

	assert_int_equal(in[2].nheredocs, 2);
	assert_string_equal(in[2].heredocs[0].name, "one.txt");
	assert_string_equal(in[2].heredocs[0].content, "1\n");
	assert_true(in[2].heredocs[0].expand);
	assert_string_equal(in[2].heredocs[1].name, "two.txt");
	assert_string_equal(in[2].heredocs[1].content, "2\n");
	assert_false(in[2].heredocs[1].expand);
	assert_args(&in[2], 3, "<<one.txt", "<<'two.txt'", "/dst/");

	assert_int_equal(in[3].heredocs[0].fd, 3);
	assert_string_equal(in[3].heredocs[0].content, "k=v\n");

	assert_int_equal(in[4].nheredocs, 0); /* exec form: no heredocs */
	assert_int_equal(in[5].nheredocs, 0); /* <<< is not a heredoc */
	assert_args(&in[6], 1, "echo after");
	assert_int_equal(in[6].line, 20);
	dockerfile_free(df);

	parse_err("FROM a\nRUN <<EOF\nno end\n", "Dockerfile:2: unterminated heredoc");
}

/* ---- variable substitution ---- */

struct word_case {
	const char *in, *out; /* out NULL: an error */
};

static void check_words(const struct word_case *c, size_t n, const char *const *env, char escape)
{
	for (size_t i = 0; i < n; i++) {
		char *err = NULL;
		char *r = df_expand_word(c[i].in, escape, table_lookup, (void *)env, &err);
		if (!c[i].out) {
			if (r)
				fail_msg("%s: expected an error, got \"%s\"", c[i].in, r);
			assert_non_null(err);
			free(err);
			continue;
		}
		if (!r)
			fail_msg("%s: unexpected error: %s", c[i].in, err);
		if (strcmp(r, c[i].out))
			fail_msg("%s\n  got:      \"%s\"\n  expected: \"%s\"", c[i].in, r, c[i].out);
		free(r);
	}
}

/* BuildKit's shell/envVarTest (the lines for all platforms and Unix). */
static void test_expand_envvartest(void **state)
{
	(void)state;
	static const char *const env[] = {"PWD=/home", "SHELL=bash", "KOREAN=\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", "NULL=", NULL};
	static const struct word_case cases[] = {
		{"hello", "hello"},
		{"he'll'o", "hello"},
		{"he'llo", NULL},
		{"he\\'llo", "he'llo"},
		{"he\\\\'llo", NULL},
		{"abc\\tdef", "abctdef"},
		{"\"abc\\tdef\"", "abc\\tdef"},
		{"\"abc\\\\tdef\"", "abc\\tdef"},
		{"'abc\\tdef'", "abc\\tdef"},
		{"hello\\", "hello"},
		{"hello\\\\", "hello\\"},
		{"\"hello", NULL},
		{"\"hello\\\"", NULL},
		{"\"hel'lo\"", "hel'lo"},
		{"'hello", NULL},
		{"'hello\\'", "hello\\"},
		{"'hello\\there'", "hello\\there"},
		{"'hello\\\\there'", "hello\\\\there"},
		{"\"''\"", "''"},
		{"$.", "$."},
		{"$1", ""},
		{"he$1x", "hex"},
		{"he$.x", "he$.x"},
		{"he$pwd.", "he."},
		{"he$PWD", "he/home"},
		{"he\\$PWD", "he$PWD"},
		{"he\\\\$PWD", "he\\/home"},
		{"\"he\\$PWD\"", "he$PWD"},
		{"\"he\\\\$PWD\"", "he\\/home"},
		{"\\${}", "${}"},
		{"\\${}aaa", "${}aaa"},
		{"he\\${}", "he${}"},
		{"he\\${}xx", "he${}xx"},
		{"${}", NULL},
		{"${}aaa", NULL},
		{"he${}", NULL},
		{"he${}xx", NULL},
		{"he${hi}", "he"},
		{"he${hi}xx", "hexx"},
		{"he${PWD}", "he/home"},
		{"he${.}", NULL},
		{"he${XXX:-000}xx", "he000xx"},
		{"he${PWD:-000}xx", "he/homexx"},
		{"he${XXX:-$PWD}xx", "he/homexx"},
		{"he${XXX:-${PWD:-yyy}}xx", "he/homexx"},
		{"he${XXX:-${YYY:-yyy}}xx", "heyyyxx"},
		{"he${XXX:YYY}", NULL},
		{"he${XXX:+${PWD}}xx", "hexx"},
		{"he${PWD:+${XXX}}xx", "hexx"},
		{"he${PWD:+${SHELL}}xx", "hebashxx"},
		{"he${XXX:+000}xx", "hexx"},
		{"he${PWD:+000}xx", "he000xx"},
		{"'he${XX}'", "he${XX}"},
		{"\"he${PWD}\"", "he/home"},
		{"\"he'$PWD'\"", "he'/home'"},
		{"\"$PWD\"", "/home"},
		{"'$PWD'", "$PWD"},
		{"'\\$PWD'", "\\$PWD"},
		{"'\"hello\"'", "\"hello\""},
		{"he\\$PWD", "he$PWD"},
		{"\"he\\$PWD\"", "he$PWD"},
		{"'he\\$PWD'", "he\\$PWD"},
		{"he${PWD", NULL},
		{"he${PWD:=000}xx", NULL},
		{"he${PWD:+${PWD}:}xx", "he/home:xx"},
		{"he${XXX:-\\$PWD:}xx", "he$PWD:xx"},
		{"he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"},
		{"\xec\x95\x88\xeb\x85\x95$KOREAN", "\xec\x95\x88\xeb\x85\x95\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"},
		{"\xec\x95\x88'\xeb\x85\x95'", "\xec\x95\x88\xeb\x85\x95"},
		{"${{aaa}", NULL},
		{"${aaa}}", "}"},
		{"${aaa", NULL},
		{"${{aaa:-bbb}", NULL},
		{"${aaa:-bbb}}", "bbb}"},
		{"${aaa:-bbb", NULL},
		{"${aaa:-bbb}", "bbb"},
		{"${aaa:-${bbb:-ccc}}", "ccc"},
		{"${aaa:-bbb ${foo}", NULL},
		{"${aaa:-bbb {foo}", "bbb {foo"},
		{"${:}", NULL},
		{"${:-bbb}", NULL},
		{"${:+bbb}", NULL},
		/* set but empty */
		{"${NULL:-x}", "x"},
		{"${NULL-x}", ""},
		{"${NULL:+x}", ""},
		{"${NULL+x}", "x"},
	};
	check_words(cases, sizeof cases / sizeof *cases, env, '\\');
}

/* BuildKit's TestProcessWithMatches and TestShellParserMandatoryEnvVars. */
static void test_expand_modifiers(void **state)
{
	(void)state;
	static const char *const env1[] = {"FOO=xxx", "BAR=", NULL};
	static const struct word_case c1[] = {
		{"${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", "xxx  ccc"},
		{"${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", "xxx bbb ccc"},
		{"${FOO:-}", "xxx"},
		{"${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", "aaa bbb "},
		{"${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", "aaa  "},
		{"${FOO?aaa}", "xxx"},
		{"${BAR?bbb}", ""},
		{"${BAZ?ccc}", NULL},
		{"${FOO:?aaa}", "xxx"},
		{"${BAR:?bbb}", NULL},
		{"${BAZ:?ccc}", NULL},
		{"${BAZ:?}", NULL},
		{"${FOO=aaa}", NULL},
		{"${FOO=:aaa}", NULL},
	};
	check_words(c1, sizeof c1 / sizeof *c1, env1, '\\');

	static const char *const env2[] = {"FOO=xxyy", "BAR=x", "EMPTY=", NULL};
	static const struct word_case c2[] = {
		{"${FOO#*x*y}", "y"},
		{"${FOO#*}", "xxyy"},
		{"${FOO#$BAR}", "xyy"},
		{"${FOO#$EMPTY}", "xxyy"},
		{"${FOO#}", "xxyy"},
		{"${FOO##*x}", "yy"},
		{"${FOO##}", "xxyy"},
		{"${ABC:-.}${FOO%x}${ABC:-.}", ".xxyy."},
		{"${FOO%}", "xxyy"},
		{"${FOO%%$EMPTY}", "xxyy"},
		{"${FOO%y}", "xxy"},
		{"${FOO%%y*}", "xx"},
		{"${FOO%y*}", "xxy"},
		{"${FOO/$EMPTY/ww}", "wwxxyy"},
		{"${FOO//ww}", NULL},
		{"${FOO//}", NULL},
		{"${FOO///}", "xxyy"},
		{"${NOPE///}", ""},
		{"${FOO#\\q}", NULL}, /* invalid escape in a pattern */
	};
	check_words(c2, sizeof c2 / sizeof *c2, env2, '\\');

	static const char *const env3[] = {"FOO=()[]{}^$.*?|\\x", NULL};
	static const struct word_case c3[] = {{"${FOO#()[]{\\}^$.\\*\\?|\\\\}", "x"}};
	check_words(c3, 1, env3, '\\');
	static const char *const env4[] = {"FOO=xx**", NULL};
	static const struct word_case c4[] = {{"${FOO%%\\**}", "xx"}};
	check_words(c4, 1, env4, '\\');
	static const char *const env5[] = {"FOO=a***yy*", NULL};
	static const struct word_case c5[] = {{"${FOO%%\\**\\*}", "a"}};
	check_words(c5, 1, env5, '\\');
	static const char *const env6[] = {"FOO=???y", NULL};
	static const struct word_case c6[] = {{"${FOO#?\\?}", "?y"}};
	check_words(c6, 1, env6, '\\');

	static const char *const env7[] = {"FOO=/foo*/*/*.txt", "NEEDLE=\\*/", NULL};
	static const struct word_case c7[] = {{"${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", "/foo.*/*.txt - /foo..*.txt"}};
	check_words(c7, 1, env7, '\\');
	static const char *const env8[] = {"FOO=/tmp/tmp/bar.txt", "NEEDLE=/tmp", NULL};
	static const struct word_case c8[] = {{"${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", "/tmp/bar.txt - /bar.txt"}};
	check_words(c8, 1, env8, '\\');
	static const char *const env9[] = {"FOO=/a/foo/b/c.txt", "NEEDLE=/?/", "REPLACEMENT=/", NULL};
	static const struct word_case c9[] = {{"${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}", "/foo/b/c.txt - /foo/c.txt"}};
	check_words(c9, 1, env9, '\\');
	static const char *const env10[] = {"FOO=http://google.de", "NEEDLE=http://", "REPLACEMENT=https://", NULL};
	static const struct word_case c10[] = {{"${FOO/$NEEDLE/$REPLACEMENT}", "https://google.de"}};
	check_words(c10, 1, env10, '\\');
	static const char *const env11[] = {"FOO=/tmp/foo.txt", NULL};
	static const struct word_case c11[] = {{"${FOO//\\//\\/}", "\\/tmp\\/foo.txt"}};
	check_words(c11, 1, env11, '\\');

	/* BuildKit's release file name example */
	static const char *const env12[] = {"VERSION=v1.2.3", "TARGETOS=linux", "TARGETARCH=arm", "TARGETVARIANT=v7", NULL};
	static const struct word_case c12[] = {
		{"something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
		 "something-v1.2.3.linux-arm-v7.tar.gz"}};
	check_words(c12, 1, env12, '\\');

	/* mandatory variables: the message is the user's */
	static const char *const set[] = {"VAR=plain", "ARG=x", NULL};
	static const char *const empty[] = {"VAR=", "ARG=x", NULL};
	static const char *const unset[] = {"ARG=x", NULL};
	char *err = NULL;
	char *r = df_expand_word("${VAR:?message here$ARG}", '\\', table_lookup, (void *)set, &err);
	assert_string_equal(r, "plain");
	free(r);
	assert_null(df_expand_word("${VAR:?message here$ARG}", '\\', table_lookup, (void *)empty, &err));
	assert_string_equal(err, "failed to process \"${VAR:?message here$ARG}\": VAR: message herex");
	free(err);
	assert_null(df_expand_word("${VAR:?message here$ARG}", '\\', table_lookup, (void *)unset, &err));
	assert_string_equal(err, "failed to process \"${VAR:?message here$ARG}\": VAR: message herex");
	free(err);
	r = df_expand_word("${VAR?message here$ARG}", '\\', table_lookup, (void *)empty, &err);
	assert_string_equal(r, "");
	free(r);
	assert_null(df_expand_word("${VAR?}", '\\', table_lookup, (void *)unset, &err));
	assert_string_equal(err, "failed to process \"${VAR?}\": VAR: is not allowed to be unset");
	free(err);
	assert_null(df_expand_word("${VAR:?}", '\\', table_lookup, (void *)empty, &err));
	assert_string_equal(err, "failed to process \"${VAR:?}\": VAR: is not allowed to be empty");
	free(err);
	assert_null(df_expand_word("\"unterminated", '\\', table_lookup, (void *)empty, &err));
	assert_string_equal(err, "failed to process \"\\\"unterminated\": unexpected end of statement while looking for matching double-quote");
	free(err);
	/* a NULL lookup: nothing is set */
	r = df_expand_word("a${X:-b}$Y", '\\', NULL, NULL, &err);
	assert_string_equal(r, "ab");
	free(r);
	/* deep nesting is refused, not recursed into */
	char deep[2000] = "";
	for (int i = 0; i < 300; i++)
		strcat(deep, "${a:-");
	assert_null(df_expand_word(deep, '\\', NULL, NULL, &err));
	free(err);
}

/* The escape character is the Dockerfile's: with `, a backslash is literal. */
static void test_expand_backtick(void **state)
{
	(void)state;
	static const char *const env[] = {"PWD=C:\\Users", NULL};
	static const struct word_case cases[] = {
		{"c:\\windows\\system32", "c:\\windows\\system32"},
		{"he`$PWD", "he$PWD"},
		{"$PWD\\x", "C:\\Users\\x"},
		{"\"a`\"b\"", "a\"b"},
		{"a` b", "a b"},
	};
	check_words(cases, sizeof cases / sizeof *cases, env, '`');
}

/* BuildKit's wordsTest: ProcessWords, for EXPOSE. */
static void test_expand_words(void **state)
{
	(void)state;
	static const char *const env[] = {"hi=hi", "space=abc  def", "leading=  ab c", "trailing=ab c   ", NULL};
	static const struct {
		const char *in;
		const char *out[4];
	} cases[] = {
		{"hello", {"hello"}},
		{"hello${hi}bye", {"hellohibye"}},
		{"hello${space}bye", {"helloabc", "defbye"}},
		{"hello\"${space}\"bye", {"helloabc  defbye"}},
		{"hello \"${space}\"bye", {"hello", "abc  defbye"}},
		{"hello${leading}def", {"hello", "ab", "cdef"}},
		{"hello\"${leading}\" def", {"hello  ab c", "def"}},
		{"hello\"${leading}\"", {"hello  ab c"}},
		{"hello${leading}", {"hello", "ab", "c"}},
		{"hello${trailing}", {"helloab", "c"}},
		{"hello${trailing}d", {"helloab", "c", "d"}},
		{"hello\"${trailing}\"d", {"helloab c   d"}},
		{"hel\"lo${trailing}\"", {"helloab c   "}},
		{"hello\" there  \"", {"hello there  "}},
		{"hello there     ", {"hello", "there"}},
		{"hello\\ there", {"hello there"}},
		{"hello\\\" there", {"hello\"", "there"}},
		{"hello\"\\\\there\"", {"hello\\there"}},
		{"hello\"\\there\"", {"hello\\there"}},
		{"hello'\\\\there'", {"hello\\\\there"}},
		{"hello'\\there'", {"hello\\there"}},
		{"hello'$there'", {"hello$there"}},
		{"\"\"", {NULL}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *err = NULL;
		size_t n, want = 0;
		while (want < 4 && cases[i].out[want])
			want++;
		char **w = df_expand_words(cases[i].in, '\\', table_lookup, (void *)env, &n, &err);
		if (!w)
			fail_msg("%s: %s", cases[i].in, err);
		if (n != want)
			fail_msg("%s: %zu words, expected %zu", cases[i].in, n, want);
		for (size_t k = 0; k < n; k++)
			if (strcmp(w[k], cases[i].out[k]))
				fail_msg("%s: word %zu is \"%s\", expected \"%s\"", cases[i].in, k, w[k], cases[i].out[k]);
		assert_null(w[n]);
		df_strv_free(w);
	}
	char *err = NULL;
	size_t n;
	assert_null(df_expand_words("hello\" there", '\\', NULL, NULL, &n, &err));
	free(err);
}

/* df_expand_instruction applies Docker's expansion to what Docker expands. */
static void test_expand_instructions(void **state)
{
	(void)state;
	static const char *const env[] = {"APP=/srv/app", "PORTS=80 443", "U=node", "V=1.0", "NAME=web",
					  "TAG=12", "GRP=staff", NULL};
	struct dockerfile *df = parse_ok(
		"ARG TAG=11\n"
		"FROM debian:${TAG:-10} AS base\n"                     /* 2 */
		"ENV DIR=$APP MSG=\"hello world\" LIT='$APP' ESC=a\\ b\n" /* 3 */
		"LABEL \"version\"=\"$V\" ${NAME}.x=y\n"                /* 4 */
		"COPY --chown=$U:$GRP --chmod=755 --from=$NAME [\"$APP/a b\", \"${APP}/\"]\n"
		"EXPOSE $PORTS 8080/udp\n"                             /* 6 */
		"WORKDIR ${APP}/sub dir\n"                             /* 7 */
		"USER $U\n"
		"VOLUME $APP/data /x\n"
		"STOPSIGNAL SIG$NAME\n"
		"ARG B=$APP/b C\n"
		"RUN echo $APP\n"                                      /* 12 */
		"CMD [\"$APP\"]\n"
		"ENV BAD=\"unterminated\n"                             /* 14 */
		"WORKDIR ${UNSET:?must be set}\n");                    /* 15 */
	char *err = NULL;
	struct df_instruction *e;

	e = df_expand_instruction(df->stages[0].from, '\\', table_lookup, (void *)env, &err);
	assert_args(e, 3, "debian:12", "AS", "base");
	df_instruction_free(e);

	const struct df_instruction *in = df->stages[0].instructions;
	e = df_expand_instruction(&in[0], df->escape, table_lookup, (void *)env, &err);
	assert_int_equal(e->nkvs, 4);
	assert_string_equal(e->kvs[0].value, "/srv/app");
	assert_string_equal(e->kvs[1].value, "hello world");
	assert_string_equal(e->kvs[2].value, "$APP");
	assert_string_equal(e->kvs[3].value, "a b");
	char *cb = df_created_by(e, NULL);
	assert_string_equal(cb, "/bin/sh -c #(nop)  ENV DIR=/srv/app MSG=hello world LIT=$APP ESC=a b");
	free(cb);
	df_instruction_free(e);

	e = df_expand_instruction(&in[1], '\\', table_lookup, (void *)env, &err);
	assert_string_equal(e->kvs[0].key, "version");
	assert_string_equal(e->kvs[0].value, "1.0");
	assert_string_equal(e->kvs[1].key, "web.x");
	df_instruction_free(e);

	e = df_expand_instruction(&in[2], '\\', table_lookup, (void *)env, &err);
	assert_args(e, 2, "/srv/app/a b", "/srv/app/");
	assert_string_equal(df_flag_value(e, "chown"), "node:staff");
	assert_string_equal(df_flag_value(e, "from"), "web");
	assert_string_equal(df_flag_value(e, "chmod"), "755");
	/* the original is untouched */
	assert_string_equal(df_flag_value(&in[2], "chown"), "$U:$GRP");
	df_instruction_free(e);

	e = df_expand_instruction(&in[3], '\\', table_lookup, (void *)env, &err);
	assert_args(e, 3, "80", "443", "8080/udp");
	df_instruction_free(e);

	e = df_expand_instruction(&in[4], '\\', table_lookup, (void *)env, &err);
	assert_args(e, 1, "/srv/app/sub dir");
	df_instruction_free(e);
	e = df_expand_instruction(&in[5], '\\', table_lookup, (void *)env, &err);
	assert_args(e, 1, "node");
	df_instruction_free(e);
	e = df_expand_instruction(&in[6], '\\', table_lookup, (void *)env, &err);
	assert_args(e, 2, "/srv/app/data", "/x");
	df_instruction_free(e);
	e = df_expand_instruction(&in[7], '\\', table_lookup, (void *)env, &err);
	assert_args(e, 1, "SIGweb");
	df_instruction_free(e);
	e = df_expand_instruction(&in[8], '\\', table_lookup, (void *)env, &err);
	assert_string_equal(e->kvs[0].value, "/srv/app/b");
	assert_null(e->kvs[1].value);
	df_instruction_free(e);

	/* RUN and CMD are the container shell's business */
	assert_false(in[9].expand);
	e = df_expand_instruction(&in[9], '\\', table_lookup, (void *)env, &err);
	assert_args(e, 1, "echo $APP");
	df_instruction_free(e);
	e = df_expand_instruction(&in[10], '\\', table_lookup, (void *)env, &err);
	assert_args(e, 1, "$APP");
	df_instruction_free(e);

	/* errors name the line */
	assert_null(df_expand_instruction(&in[11], '\\', table_lookup, (void *)env, &err));
	assert_string_equal(err, "Dockerfile:14: failed to process \"\\\"unterminated\": unexpected end of statement while looking for matching double-quote");
	free(err);
	assert_null(df_expand_instruction(&in[12], '\\', table_lookup, (void *)env, &err));
	assert_string_equal(err, "Dockerfile:15: failed to process \"${UNSET:?must be set}\": UNSET: must be set");
	free(err);
	dockerfile_free(df);

	/* which instructions Docker expands */
	static const enum df_command yes[] = {DF_ADD, DF_ARG, DF_COPY, DF_ENV, DF_EXPOSE, DF_FROM,
					      DF_LABEL, DF_STOPSIGNAL, DF_USER, DF_VOLUME, DF_WORKDIR};
	static const enum df_command no[] = {DF_CMD, DF_ENTRYPOINT, DF_HEALTHCHECK, DF_MAINTAINER,
					     DF_ONBUILD, DF_RUN, DF_SHELL};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		assert_true(df_command_expands(yes[i]));
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		assert_false(df_command_expands(no[i]));
	assert_string_equal(df_command_name(DF_HEALTHCHECK), "HEALTHCHECK");
}

/* ---- stages ---- */

static void test_stage_lookup(void **state)
{
	(void)state;
	struct dockerfile *df = parse_ok("ARG BASE=alpine\n"
					 "FROM $BASE AS Builder\nRUN make\n"
					 "FROM builder AS test\nRUN make test\n"
					 "FROM scratch\nCOPY --from=BUILDER /out /\nCOPY --from=1 /r /r\n");
	assert_int_equal(df->nstages, 3);
	assert_ptr_equal(dockerfile_stage(df, "builder"), &df->stages[0]);
	assert_ptr_equal(dockerfile_stage(df, "BuIlDeR"), &df->stages[0]);
	assert_ptr_equal(dockerfile_stage_by_name(df, "TEST"), &df->stages[1]);
	assert_ptr_equal(dockerfile_stage(df, "0"), &df->stages[0]);
	assert_ptr_equal(dockerfile_stage(df, "2"), &df->stages[2]);
	assert_null(dockerfile_stage(df, "3"));
	assert_null(dockerfile_stage(df, "99999999999999999999999"));
	assert_null(dockerfile_stage(df, "nope"));
	assert_null(dockerfile_stage(df, ""));
	assert_null(dockerfile_stage(df, "-1"));
	assert_null(dockerfile_stage_by_name(df, "2"));
	/* FROM of an earlier stage: the builder looks the base up */
	assert_ptr_equal(dockerfile_stage_by_name(df, df->stages[1].base), &df->stages[0]);
	assert_int_equal(df->stages[2].ninstructions, 2);
	assert_string_equal(df_flag_value(&df->stages[2].instructions[0], "from"), "BUILDER");
	dockerfile_free(df);
}

/* ---- history ---- */

static void test_created_by(void **state)
{
	(void)state;
	struct dockerfile *df = parse_ok(
		"FROM a\n"
		"RUN npm install\n"
		"RUN [\"npm\", \"ci\"]\n"
		"CMD npm start\n"
		"ENTRYPOINT [\"/bin/tini\", \"--\"]\n"
		"WORKDIR app\n"
		"COPY --chown=1000:1000 . /app\n"
		"ADD x.tar.gz /\n"
		"LABEL a=b c=\"d e\"\n"
		"EXPOSE 80 443\n"
		"VOLUME /data /logs\n"
		"SHELL [\"/bin/bash\", \"-c\"]\n"
		"USER node\n"
		"STOPSIGNAL SIGQUIT\n"
		"ARG V=1 W\n"
		"ONBUILD RUN make\n"
		"HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD [\"curl\", \"-f\", \"x\"]\n"
		"HEALTHCHECK NONE\n"
		"MAINTAINER me\n"
		"CMD [\"say \\\"hi\\\"\\n\"]\n");
	const struct df_instruction *in = df->stages[0].instructions;
	static char *const bash[] = {"/bin/bash", "-c"};
	static char *const args[] = {"V=1", "A=x"};
	static const struct df_history_ctx plain = {0},
					   with_args = {.build_args = args, .nbuild_args = 2},
					   shell = {.shell = bash, .nshell = 2},
					   resolved = {.resolved = "/srv/app"},
					   src = {.resolved = "dir:3f2a"};
	static const struct {
		size_t i;
		const struct df_history_ctx *hc;
		const char *want;
	} cases[] = {
		{0, NULL, "/bin/sh -c npm install"},
		{0, &with_args, "|2 A=x V=1 /bin/sh -c npm install"},
		{0, &shell, "/bin/bash -c npm install"},
		{1, &plain, "npm ci"},
		{1, &with_args, "|2 A=x V=1 npm ci"},
		{2, NULL, "/bin/sh -c #(nop)  CMD [\"/bin/sh\" \"-c\" \"npm start\"]"},
		{2, &shell, "/bin/bash -c #(nop)  CMD [\"/bin/bash\" \"-c\" \"npm start\"]"},
		{3, NULL, "/bin/sh -c #(nop)  ENTRYPOINT [\"/bin/tini\" \"--\"]"},
		{4, NULL, "/bin/sh -c #(nop) WORKDIR app"},
		{4, &resolved, "/bin/sh -c #(nop) WORKDIR /srv/app"},
		{5, NULL, "/bin/sh -c #(nop) COPY --chown=1000:1000. in /app "},
		{5, &src, "/bin/sh -c #(nop) COPY --chown=1000:1000dir:3f2a in /app "},
		{6, NULL, "/bin/sh -c #(nop) ADD x.tar.gz in / "},
		{7, NULL, "/bin/sh -c #(nop)  LABEL a=b c=\"d e\""},
		{8, NULL, "/bin/sh -c #(nop)  EXPOSE 443 80"},
		{9, NULL, "/bin/sh -c #(nop)  VOLUME [/data /logs]"},
		{10, NULL, "/bin/sh -c #(nop)  SHELL [/bin/bash -c]"},
		{11, NULL, "/bin/sh -c #(nop)  USER node"},
		{12, NULL, "/bin/sh -c #(nop)  STOPSIGNAL SIGQUIT"},
		{13, NULL, "/bin/sh -c #(nop)  ARG V=1 W"},
		{14, NULL, "/bin/sh -c #(nop)  ONBUILD RUN make"},
		{15, NULL, "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD\" \"curl\" \"-f\" \"x\"] \"1m30s\" \"500ms\" \"0s\" \"0s\" '\\x03'}"},
		{16, NULL, "/bin/sh -c #(nop)  HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" \"0s\" '\\x00'}"},
		{17, NULL, "/bin/sh -c #(nop)  MAINTAINER me"},
		{18, NULL, "/bin/sh -c #(nop)  CMD [\"say \\\"hi\\\"\\n\"]"},
	};
	assert_int_equal(df->stages[0].ninstructions, 19);
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		char *cb = df_created_by(&in[cases[k].i], cases[k].hc);
		if (strcmp(cb, cases[k].want))
			fail_msg("%s\n  got:      %s\n  expected: %s", in[cases[k].i].original, cb, cases[k].want);
		free(cb);
	}
	assert_null(df_created_by(df->stages[0].from, NULL));
	dockerfile_free(df);
}

/* ---- robustness: what a fuzzer would try first ---- */

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static const char *lookup_any(void *ctx, const char *name)
{
	(void)ctx;
	return name[0] & 1 ? "v a*l/ue" : NULL;
}

static void try_parse(const char *buf, size_t len)
{
	char *err = NULL;
	struct dockerfile *df = dockerfile_parse(buf, len, NULL, &err);
	if (!df) {
		assert_non_null(err);
		free(err);
		return;
	}
	for (size_t s = 0; s < df->nstages; s++) {
		const struct df_stage *st = &df->stages[s];
		for (size_t i = 0; i < st->ninstructions; i++) {
			struct df_instruction *e = df_expand_instruction(&st->instructions[i], df->escape,
									 lookup_any, NULL, &err);
			if (!e) {
				free(err);
				continue;
			}
			char *cb = df_created_by(e, NULL);
			free(cb);
			df_instruction_free(e);
		}
	}
	dockerfile_free(df);
}

static void test_robustness(void **state)
{
	(void)state;
	static const char *files[] = {"multistage-go.Dockerfile", "python-web.Dockerfile", "heredoc.Dockerfile",
				      "windows-escape.Dockerfile", "node-app.Dockerfile"};
	uint32_t seed = 0x9e3779b9;
	for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
		size_t len;
		char *buf = read_corpus("dockerfile", files[f], &len);
		/* every prefix: cuts in the middle of quotes, JSON, heredocs, continuations */
		for (size_t n = 0; n <= len; n++) {
			char *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
			memcpy(copy, buf, n);
			try_parse(copy, n);
			free(copy);
		}
		/* random byte flips */
		char *m = malloc(len);
		for (int round = 0; round < 300; round++) {
			memcpy(m, buf, len);
			for (int k = 0; k < 4; k++) {
				static const char bytes[] = "\\`\"'$-{}[]:=#\n <\t\x80\xff";
				m[rnd(&seed) % len] = bytes[rnd(&seed) % (sizeof bytes - 1)];
			}
			try_parse(m, len);
		}
		free(m);
		free(buf);
	}
	/* random words through the lexer */
	for (int round = 0; round < 3000; round++) {
		char w[40];
		size_t n = rnd(&seed) % (sizeof w - 1);
		static const char alphabet[] = "${}:-+?#%/*\\\"'ab_ 1";
		for (size_t i = 0; i < n; i++)
			w[i] = alphabet[rnd(&seed) % (sizeof alphabet - 1)];
		w[n] = 0;
		char *err = NULL, *r = df_expand_word(w, '\\', lookup_any, NULL, &err);
		free(r);
		free(err);
		size_t nw;
		char **words = df_expand_words(w, '`', lookup_any, NULL, &nw, &err);
		if (words)
			df_strv_free(words);
		else
			free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_app),
		cmocka_unit_test(test_corpus_parses),
		cmocka_unit_test(test_directives),
		cmocka_unit_test(test_escape_backtick),
		cmocka_unit_test(test_comments_and_blanks),
		cmocka_unit_test(test_continuations),
		cmocka_unit_test(test_from),
		cmocka_unit_test(test_run_cmd_entrypoint),
		cmocka_unit_test(test_shell),
		cmocka_unit_test(test_env_label),
		cmocka_unit_test(test_arg),
		cmocka_unit_test(test_copy_add),
		cmocka_unit_test(test_expose_volume_user_workdir),
		cmocka_unit_test(test_healthcheck),
		cmocka_unit_test(test_onbuild),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_heredocs),
		cmocka_unit_test(test_expand_envvartest),
		cmocka_unit_test(test_expand_modifiers),
		cmocka_unit_test(test_expand_backtick),
		cmocka_unit_test(test_expand_words),
		cmocka_unit_test(test_expand_instructions),
		cmocka_unit_test(test_stage_lookup),
		cmocka_unit_test(test_created_by),
		cmocka_unit_test(test_robustness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
