/* shale fsck: check the store and every container's upper directory. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "containers.h"
#include "fs.h"

static const char fsck_help[] =
	"Usage:  shale fsck [OPTIONS]\n\n"
	"Check the store: every object against its digest, every layer against its\n"
	"id, every reference (entries to objects, images to layers, tags to images,\n"
	"containers, mounts and the build cache to images), the view indexes, and each\n"
	"container's upper directory. Prints one line per problem:\n"
	"  error:     damage, or a reference to something missing\n"
	"  leftover:  unreferenced data an interrupted command left ('shale prune' or\n"
	"             --repair reclaims it; not an error)\n"
	"Exit status 0 when no error remains, 1 otherwise.\n\n"
	"Options:\n"
	"      --repair   Sweep leftovers, drop dangling tags and build cache records,\n"
	"                 drop damaged view indexes (rebuilt when used), restore missing\n"
	"                 object records. Never deletes anything an image, a container\n"
	"                 or the build cache needs.\n"
	"  -q, --quiet    Print only problems, not the summary\n";

struct fsck_out {
	bool quiet;
	struct progress *prog;
};

static void report(void *ctx, enum shale_fsck_kind kind, const char *msg)
{
	static const char *const label[] = {"error", "leftover", "repaired"};
	struct fsck_out *o = ctx;
	progress_done(o->prog); /* clear the progress line */
	printf("%s: %s\n", label[kind], msg);
	fflush(stdout);
}

static void fsck_progress(void *ctx, const shale_progress *p)
{
	char b[32];
	shale_human_size(p->bytes, b, sizeof b);
	progress_update(ctx, "%llu entries, %s of objects verified", (unsigned long long)p->entries, b);
}

struct upper_ctx {
	shale_store *s;
	struct fsck_out *o;
	uint64_t checked, problems;
};

static int check_container(void *ctx, const char *key, json_t *c)
{
	struct upper_ctx *u = ctx;
	const char *up = container_str(c, "upper"), *img = container_str(c, "image");
	shale_id image;
	uint64_t n = 0;
	if (!up || !img || shale_id_parse(img, &image) < 0)
		return 0; /* reported by the store's check */
	if (shale_fs_check_upper(u->s, &image, up, report, u->o, &n) == 0)
		u->checked++;
	u->problems += n;
	return 0;
}

int cmd_fsck(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"repair", no_argument, 0, 'r'},
					   {"quiet", no_argument, 0, 'q'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	bool repair = false;
	struct progress prog;
	struct fsck_out out = {.prog = &prog};
	int o;
	while ((o = cli_getopt(argc, argv, "qh", lo)) != -1) {
		switch (o) {
		case 'r': repair = true; break;
		case 'q': out.quiet = true; break;
		case 'h': return cli_help(fsck_help);
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("fsck", "\"shale fsck\" accepts no arguments.");
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	progress_init(&prog, "Checking");
	shale_fsck_stats st;
	if (shale_fsck(s, repair, report, &out, fsck_progress, &prog, &st) < 0) {
		progress_done(&prog);
		return cli_fail();
	}
	struct upper_ctx u = {.s = s, .o = &out};
	if (shale_table_foreach(s, SHALE_T_CONTAINERS, check_container, &u) < 0) {
		progress_done(&prog);
		return cli_fail();
	}
	progress_done(&prog);
	uint64_t errors = st.errors + u.problems;
	if (!out.quiet) {
		char b[32];
		shale_human_size(st.object_bytes, b, sizeof b);
		printf("checked %llu objects (%s), %llu chunk lists, %llu layers (%llu entries), "
		       "%llu images, %llu tags, %llu records, %llu container uppers\n",
		       (unsigned long long)st.objects, b, (unsigned long long)st.chunk_lists,
		       (unsigned long long)st.layers, (unsigned long long)st.entries,
		       (unsigned long long)st.images, (unsigned long long)st.tags,
		       (unsigned long long)st.records, (unsigned long long)u.checked);
		printf("%llu errors, %llu leftovers, %llu repaired\n", (unsigned long long)errors,
		       (unsigned long long)st.leftovers, (unsigned long long)st.repaired);
	}
	return errors ? EXIT_ERR : EXIT_OK;
}
