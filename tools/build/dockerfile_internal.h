/* Shared between dockerfile.c (the parser), dockerfile_expand.c (Docker's shell
 * lexer) and dockerfile_history.c. Not a public header. */
#ifndef SHALE_DOCKERFILE_INTERNAL_H
#define SHALE_DOCKERFILE_INTERNAL_H

#include "dockerfile.h"
#include "textutil.h"

/* BuildKit's shell.Lex options. */
struct lex_opts {
	char escape;      /* the escape character: '\\' or '`' */
	bool raw_quotes;  /* keep the quote characters in the result */
	bool raw_escapes; /* keep the escape characters in the result */
	bool skip_unset;  /* leave references to unset variables as written */
};

/* Docker's Lex.process on word[0..len): the expanded string into *result and, when
 * words is not NULL, the expansion split at unquoted white space into *words.
 * Returns 0, or -1 with a malloc'd message in *err (without the "failed to process"
 * prefix). */
int lex_process(const char *word, size_t len, const struct lex_opts *o, df_lookup_fn lookup,
		void *ctx, struct strbuf *result, struct strv *words, char **err);

/* Deep copy of an instruction into an arena. */
void df_copy_instruction(struct df_arena *a, struct df_instruction *dst,
			 const struct df_instruction *src);

/* Go's time.Duration String() and ParseDuration (HEALTHCHECK intervals). */
void go_duration_string(struct strbuf *b, int64_t ns);
int go_parse_duration(const char *s, int64_t *ns);

#endif
