/* libFuzzer target: the Dockerfile parser (tools/build/dockerfile*.c).
 *
 * What must hold whatever the bytes:
 *   - a refused file gives a one-line message;
 *   - a parsed one has at least one stage, each with its FROM and base image, line
 *     numbers that never go back, and stage lookups that find each stage again;
 *   - every instruction written on one line (no heredoc) parses again from its
 *     `original` text to the same command, flags and arguments (the round trip the
 *     builder relies on for ONBUILD triggers and the cache key);
 *   - a kept ONBUILD trigger parses again from its expression;
 *   - variable expansion (with some variables set, some not) either fails with a
 *     message or gives an instruction whose history line can be made. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile.h"
#include "fuzz_common.h"

/* A: set to a value with spaces and quotes; B: empty; everything else unset. */
static const char *lookup(void *ctx, const char *name)
{
	(void)ctx;
	if (name[0] == 'A')
		return "a 'b' \"c\" $d";
	if (name[0] == 'B')
		return "";
	return NULL;
}

static void same_instruction(const struct df_instruction *a, const struct df_instruction *b)
{
	FUZZ_CHECK(a->cmd == b->cmd, "'%s': command %d, then %d", a->original, a->cmd, b->cmd);
	FUZZ_CHECK(a->json == b->json, "'%s': json form changed", a->original);
	FUZZ_CHECK(a->nflags == b->nflags, "'%s': %zu flags, then %zu", a->original, a->nflags,
		   b->nflags);
	for (size_t i = 0; i < a->nflags; i++)
		FUZZ_CHECK(!strcmp(a->flags[i].name, b->flags[i].name) &&
				   !strcmp(a->flags[i].value, b->flags[i].value),
			   "'%s': flag %zu changed", a->original, i);
	FUZZ_CHECK(a->nargs == b->nargs, "'%s': %zu args, then %zu", a->original, a->nargs,
		   b->nargs);
	for (size_t i = 0; i < a->nargs; i++) {
		/* ONBUILD keeps its trigger as written, trailing blanks included, and
		 * original is trimmed: compare without them */
		size_t la = strlen(a->args[i]), lb = strlen(b->args[i]);
		if (a->cmd == DF_ONBUILD) {
			while (la && strchr(" \t\r\f\v", a->args[i][la - 1]))
				la--;
			while (lb && strchr(" \t\r\f\v", b->args[i][lb - 1]))
				lb--;
		}
		FUZZ_CHECK(la == lb && !memcmp(a->args[i], b->args[i], la),
			   "'%s': arg %zu '%s', then '%s'", a->original, i, a->args[i], b->args[i]);
	}
	FUZZ_CHECK(a->nkvs == b->nkvs, "'%s': %zu pairs, then %zu", a->original, a->nkvs, b->nkvs);
	for (size_t i = 0; i < a->nkvs; i++)
		FUZZ_CHECK(!strcmp(a->kvs[i].key, b->kvs[i].key) &&
				   !a->kvs[i].value == !b->kvs[i].value &&
				   (!a->kvs[i].value || !strcmp(a->kvs[i].value, b->kvs[i].value)),
			   "'%s': pair %zu changed", a->original, i);
}

static void check_instruction(const struct dockerfile *df, const struct df_instruction *in,
			      unsigned *last_line)
{
	FUZZ_CHECK(in->line >= 1 && in->line <= in->end_line, "lines %u-%u", in->line,
		   in->end_line);
	FUZZ_CHECK(in->line > *last_line, "line %u after line %u", in->line, *last_line);
	*last_line = in->end_line;
	FUZZ_CHECK(in->keyword && in->original && in->file, "instruction without text");
	FUZZ_CHECK(in->expand == df_command_expands(in->cmd), "expand flag of %s",
		   df_command_name(in->cmd));
	for (size_t i = 0; i < in->nargs; i++)
		FUZZ_CHECK(in->args[i], "NULL argument %zu", i);
	for (size_t i = 0; i < in->nflags; i++)
		(void)df_flag_value(in, in->flags[i].name);

	char *err = NULL;
	/* one-line instructions: original -> the same instruction */
	/* (not when original ends with the escape character: an escape followed by a
	 * vertical tab is no continuation, \v being no blank there, but original is
	 * trimmed of the \v and then it is one, in Docker too) */
	size_t ol = strlen(in->original);
	if (in->line == in->end_line && !in->nheredocs && !(ol && in->original[ol - 1] == df->escape)) {
		struct df_instruction *again =
			df_parse_instruction(in->original, strlen(in->original), df->escape, NULL, &err);
		FUZZ_CHECK(again, "'%s' does not parse again: %s", in->original, err ? err : "");
		same_instruction(in, again);
		df_instruction_free(again);
	}
	/* ONBUILD: a kept trigger parses again from the expression in args[0] */
	if (in->cmd == DF_ONBUILD && in->trigger) {
		FUZZ_CHECK(in->nargs == 1, "ONBUILD with %zu args", in->nargs);
		struct df_instruction *t =
			df_parse_instruction(in->args[0], strlen(in->args[0]), df->escape, NULL, &err);
		FUZZ_CHECK(t, "trigger '%s' does not parse again: %s", in->args[0], err ? err : "");
		FUZZ_CHECK(t->cmd == in->trigger->cmd, "trigger '%s' changed command", in->args[0]);
		df_instruction_free(t);
	}

	struct df_history_ctx hc = {0};
	if (in->expand) {
		struct df_instruction *e = df_expand_instruction(in, df->escape, lookup, NULL, &err);
		if (!e) {
			FUZZ_CHECK_ERR(err);
			free(err);
			err = NULL;
		} else {
			FUZZ_CHECK(e->cmd == in->cmd, "expansion changed the command");
			char *cb = df_created_by(e, &hc);
			FUZZ_CHECK(cb || e->cmd == DF_FROM, "no created_by for %s",
				   df_command_name(e->cmd));
			free(cb);
			df_instruction_free(e);
		}
	} else {
		char *cb = df_created_by(in, &hc);
		FUZZ_CHECK(cb || in->cmd == DF_FROM, "no created_by for %s", df_command_name(in->cmd));
		free(cb);
	}
	for (size_t i = 0; i < in->nargs && i < 4; i++) {
		size_t n = 0;
		char **w = df_expand_words(in->args[i], df->escape, lookup, NULL, &n, &err);
		if (!w) {
			FUZZ_CHECK_ERR(err);
			free(err);
			err = NULL;
			continue;
		}
		for (size_t k = 0; k < n; k++)
			FUZZ_CHECK(w[k], "word %zu of %zu is NULL", k, n);
		FUZZ_CHECK(!w[n], "words not NULL-terminated");
		df_strv_free(w);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
	struct dockerfile *df = dockerfile_parse((const char *)data, size, "Dockerfile", &err);
	if (!df) {
		FUZZ_CHECK_ERR(err);
		free(err);
		return 0;
	}
	FUZZ_CHECK(df->nstages >= 1, "no stage");
	FUZZ_CHECK(df->escape == '\\' || df->escape == '`', "escape '%c'", df->escape);
	unsigned last = 0;
	for (size_t i = 0; i < df->nmeta_args; i++) {
		FUZZ_CHECK(df->meta_args[i].cmd == DF_ARG, "meta instruction is not ARG");
		check_instruction(df, &df->meta_args[i], &last);
	}
	for (size_t s = 0; s < df->nstages; s++) {
		const struct df_stage *st = &df->stages[s];
		FUZZ_CHECK(st->index == s && st->from && st->from->cmd == DF_FROM && st->base,
			   "stage %zu", s);
		check_instruction(df, st->from, &last);
		char idx[32];
		snprintf(idx, sizeof idx, "%zu", s);
		const struct df_stage *found = dockerfile_stage(df, idx);
		FUZZ_CHECK(found, "stage %zu not found by index", s);
		if (st->name) {
			FUZZ_CHECK(dockerfile_stage_by_name(df, st->name) == st, "stage '%s' not found",
				   st->name);
			FUZZ_CHECK(dockerfile_stage(df, st->name) == st, "stage '%s' not found",
				   st->name);
		}
		for (size_t i = 0; i < st->ninstructions; i++) {
			FUZZ_CHECK(st->instructions[i].cmd != DF_FROM, "FROM inside a stage");
			check_instruction(df, &st->instructions[i], &last);
		}
	}
	for (size_t i = 0; i < df->nwarnings; i++)
		FUZZ_CHECK(df->warnings[i] && !strchr(df->warnings[i], '\n'), "warning %zu", i);
	dockerfile_free(df);
	return 0;
}
