/* Dockerfile parser for `shale build`: Docker/BuildKit's grammar, errors and
 * variable substitution, written for a builder's step loop.
 *
 *   struct dockerfile *df = dockerfile_parse(buf, len, "Dockerfile", &err);
 *   for each stage s: expand s->base with the meta ARGs, then for each instruction
 *   in s->instructions: if (in->expand) e = df_expand_instruction(in, lookup, ctx, &err);
 *   run or record it; history gets df_created_by(e, &hc).
 *
 * What is parsed (Docker's rules, BuildKit frontend/dockerfile/parser and instructions):
 *   - parser directives on the first lines (`# syntax=`, `# escape=\` or `` ` ``,
 *     `# check=`), each at most once, only before any comment, blank line or instruction;
 *   - comments (a line whose first non-blank character is #), blank lines, a leading
 *     UTF-8 BOM, CRLF line ends, leading whitespace;
 *   - line continuation with the escape character at the end of a line (followed by
 *     optional blanks); inside a continuation, comment lines and empty lines are skipped
 *     (empty ones with a warning, as Docker); continuation lines keep their leading
 *     whitespace;
 *   - keywords in any case; `--name[=value]` flags before the arguments;
 *   - heredocs (`RUN <<EOF`, `COPY <<EOF /dst`) on RUN, COPY and ADD in shell form.
 *
 * Arguments are kept raw, as Docker keeps them: quotes and escapes are still in place
 * in ENV/LABEL/ARG values, COPY sources, FROM images... and are removed by the word
 * expansion (df_expand_word), which the builder applies to exactly the instructions
 * Docker expands. Every string is NUL-terminated; a Dockerfile containing a NUL byte is
 * refused.
 *
 * Errors are one line naming the file and line: "Dockerfile:12: unknown instruction: RUNN".
 * Nothing here prints. */
#ifndef SHALE_DOCKERFILE_H
#define SHALE_DOCKERFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum df_command {
	DF_ADD,
	DF_ARG,
	DF_CMD,
	DF_COPY,
	DF_ENTRYPOINT,
	DF_ENV,
	DF_EXPOSE,
	DF_FROM,
	DF_HEALTHCHECK,
	DF_LABEL,
	DF_MAINTAINER, /* deprecated, accepted: sets the image's Author */
	DF_ONBUILD,
	DF_RUN,
	DF_SHELL,
	DF_STOPSIGNAL,
	DF_USER,
	DF_VOLUME,
	DF_WORKDIR,
};

/* "ADD", "ARG"... */
const char *df_command_name(enum df_command cmd);

/* Docker expands variables (df_expand_word) in these instructions, and only these:
 * ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR, and ARG (its names and
 * default values). RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER
 * are used as written: the shell of the container expands RUN/CMD/ENTRYPOINT.
 *
 * Scope: FROM (its image and --platform) sees only the ARGs declared before the
 * first FROM (the "meta ARGs", with --build-arg overrides). Inside a stage, a meta ARG
 * is visible only after the stage re-declares it (`ARG NAME` without a value takes the
 * meta value). Other instructions see the stage's ENV and the ARGs declared so far in
 * the stage, ENV winning over ARG; an instruction is expanded with the variables as
 * they were before it (`ENV a=1 b=$a` gives b the old a). */
bool df_command_expands(enum df_command cmd);

/* A `--name` or `--name=value` flag. Boolean flags (COPY --link...) are stored as
 * "true" or "false" whichever way they were written. */
struct df_flag {
	char *name;  /* without the dashes: "from", "chown", "mount" */
	char *value; /* "" for a bool written without a value: normalised to "true" */
};

/* ENV and LABEL pairs, ARG declarations. Raw: `ENV A="x y"` gives key A, value "x y"
 * with its quotes; df_expand_word removes them. */
struct df_kv {
	char *key;
	char *value;    /* NULL for an ARG without a default */
};

/* A heredoc body attached to RUN, COPY or ADD: `<<EOF` ... `EOF`. Its opening word
 * stays in the arguments as written (COPY's sources include "<<EOF"; RUN's command line
 * is "<<EOF" or "cat <<EOF > f"), in the order of the heredocs. */
struct df_heredoc {
	char *name;     /* the delimiter word, unquoted ("EOF") */
	char *content;  /* the lines between, each with its newline (for `<<-`, without
	                 * their leading tabs) */
	bool expand;    /* the delimiter was not quoted: expand variables in content */
	bool chomp;     /* `<<-`: leading tabs are stripped from content lines */
	unsigned fd;    /* `3<<EOF`: the file descriptor, else 0 */
};

/* HEALTHCHECK. */
struct df_healthcheck {
	/* Docker's HealthConfig.Test: {"NONE"}, {"CMD", argv...} or {"CMD-SHELL", line}. */
	char **test;
	size_t ntest;
	/* Nanoseconds; 0 means "not set" (inherit). --retries 0 means not set. */
	int64_t interval, timeout, start_period, start_interval;
	int retries;
};

struct df_instruction {
	enum df_command cmd;
	const char *file;       /* the name given to dockerfile_parse, for messages */
	unsigned line;          /* first line, 1-based */
	unsigned end_line;      /* last line (continuations and heredoc bodies included) */
	char *keyword;          /* as written: "run", "Copy" */
	char *original;         /* the instruction text, continuations joined, trimmed */
	struct df_flag *flags;  /* in order; see df_flag_value() */
	size_t nflags;
	/* The arguments, raw (see the top of this file):
	 *   RUN CMD ENTRYPOINT  json: the exec array; else one string, the command line
	 *   SHELL               the exec array (JSON is required)
	 *   COPY ADD            sources..., destination (JSON form: `COPY ["a b", "/x/"]`)
	 *   FROM                image [AS name]           (the stage has them parsed)
	 *   EXPOSE              ports, sorted as Docker sorts them (expand each with
	 *                       df_expand_words: one may become several)
	 *   VOLUME              paths (JSON or words)
	 *   USER WORKDIR STOPSIGNAL MAINTAINER   one string: the rest of the line
	 *   HEALTHCHECK         "NONE", or "CMD" and the command (see `health`)
	 *   ONBUILD             one string: the trigger as written ("RUN make")
	 *   ENV LABEL ARG       none: see kvs */
	char **args;
	size_t nargs;
	bool json;              /* the arguments were a JSON array (exec form) */
	struct df_kv *kvs;      /* ENV, LABEL: key=value pairs; ARG: declarations */
	size_t nkvs;
	struct df_healthcheck *health;   /* HEALTHCHECK */
	struct df_instruction *trigger;  /* ONBUILD: the trigger, parsed */
	struct df_heredoc *heredocs;
	size_t nheredocs;
	bool expand;            /* df_command_expands(cmd) */
	struct df_arena *own_;  /* private: set when the instruction owns its memory */
};

struct df_stage {
	size_t index;
	char *name;             /* the `AS` name, lowercased, or NULL */
	char *base;             /* the image or an earlier stage's name: raw, expand it with
	                         * the meta ARGs; "scratch" is the empty image */
	char *platform;         /* --platform, raw, or NULL */
	struct df_instruction *from;          /* the FROM line itself */
	struct df_instruction *instructions;  /* what follows it, in order */
	size_t ninstructions;
};

struct dockerfile {
	const char *file;
	char escape;            /* '\\', or '`' with `# escape=`` */
	char *syntax;           /* the `# syntax=` directive, or NULL */
	struct df_instruction *meta_args;   /* ARGs before the first FROM */
	size_t nmeta_args;
	struct df_stage *stages;            /* at least one */
	size_t nstages;
	char **warnings;        /* "Dockerfile:7: empty continuation line (Docker will
	                         * make this an error)" */
	size_t nwarnings;
	struct df_arena *arena_;            /* private */
};

/* Parse a Dockerfile from a buffer (not NUL-terminated, never read beyond len; any
 * input is safe). `file` names it in messages (NULL: "Dockerfile"). Returns NULL with
 * *err set to a malloc'd one-line message on error. */
struct dockerfile *dockerfile_parse(const char *buf, size_t len, const char *file, char **err);
void dockerfile_free(struct dockerfile *df);

/* Stage lookup, as COPY --from and FROM resolve them: a name (case-insensitive), else a
 * decimal index. NULL if there is none. */
const struct df_stage *dockerfile_stage(const struct dockerfile *df, const char *name_or_index);
const struct df_stage *dockerfile_stage_by_name(const struct dockerfile *df, const char *name);

/* Parse one instruction's text, e.g. an ONBUILD trigger of a base image
 * ("RUN make", "COPY . /src"). Free with df_instruction_free(). */
struct df_instruction *df_parse_instruction(const char *text, size_t len, char escape,
					    const char *file, char **err);

/* The value of a flag (the last one if repeated), or NULL if absent. */
const char *df_flag_value(const struct df_instruction *in, const char *name);

/* ---- variable substitution: Docker's shell lexer (ProcessWord/ProcessWords) ----
 *
 * $VAR ${VAR} ${VAR:-word} ${VAR-word} ${VAR:+word} ${VAR+word} ${VAR:?msg} ${VAR?msg}
 * ${VAR#pat} ${VAR##pat} ${VAR%pat} ${VAR%%pat} ${VAR/pat/repl} ${VAR//pat/repl}.
 * The escape character escapes the next character (and is removed); '...' keeps
 * everything literally; "..." keeps everything but $ substitution and escaped " $ and
 * escape. An unset variable expands to nothing; ${VAR?msg} makes it an error. */

/* Look a variable up: its value, or NULL when it is not set. */
typedef const char *(*df_lookup_fn)(void *ctx, const char *name);

/* ProcessWord: one word in, one string out (spaces kept). malloc'd; NULL with *err
 * ("failed to process \"${A?}\": A: is not allowed to be unset") on error. */
char *df_expand_word(const char *word, char escape, df_lookup_fn lookup, void *ctx, char **err);

/* ProcessWords: expanded and split at unquoted whitespace (EXPOSE). Returns a
 * NULL-terminated malloc'd array (free with df_strv_free) and its length in *n. */
char **df_expand_words(const char *word, char escape, df_lookup_fn lookup, void *ctx, size_t *n,
		       char **err);
void df_strv_free(char **v);

/* A copy of an instruction with Docker's expansion applied to what Docker expands
 * (see df_command_expands): ENV/LABEL keys and values, ARG names and defaults,
 * COPY/ADD paths, --chown, --chmod and --from, FROM's image and --platform, EXPOSE
 * ports (split), VOLUME paths, USER, WORKDIR, STOPSIGNAL. Other instructions are
 * copied unchanged. Errors name the line. Free with df_instruction_free(). */
struct df_instruction *df_expand_instruction(const struct df_instruction *in, char escape,
					     df_lookup_fn lookup, void *ctx, char **err);
/* Frees an instruction from df_expand_instruction or df_parse_instruction (not one that
 * belongs to a struct dockerfile). */
void df_instruction_free(struct df_instruction *in);

/* ---- history ---- */

/* What the build knows that the Dockerfile does not, for created_by. */
struct df_history_ctx {
	char *const *shell;       /* the SHELL in effect; NULL: /bin/sh -c */
	size_t nshell;
	char *const *build_args;  /* RUN: "NAME=value" build args used, or NULL */
	size_t nbuild_args;
	const char *resolved;     /* WORKDIR: the absolute directory; COPY/ADD: the source,
	                           * e.g. "file:<digest>" or "dir:<digest>"; NULL: as written */
};

/* Docker's classic builder "created_by" for an (expanded) instruction, malloc'd:
 *   RUN npm install            /bin/sh -c npm install
 *   RUN ["a", "b"] (ARG V=1)   |1 V=1 a b
 *   CMD ["node", "server.js"]  /bin/sh -c #(nop)  CMD ["node" "server.js"]
 *   WORKDIR /app               /bin/sh -c #(nop) WORKDIR /app
 *   COPY . /app                /bin/sh -c #(nop) COPY dir:<digest> in /app
 * NULL for FROM, which adds no history of its own. */
char *df_created_by(const struct df_instruction *in, const struct df_history_ctx *hc);

#endif
