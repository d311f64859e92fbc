/* shale push: an image to a registry; only the blobs it lacks are uploaded. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bars.h"
#include "blobdir.h"
#include "cli.h"
#include "imagedoc.h"
#include "layer_tar.h"
#include "reference.h"
#include "registry.h"

static const char push_help[] =
	"Usage:  shale push [OPTIONS] IMAGE [HOST[:PORT]/REPO[:TAG]]\n\n"
	"Push an image to a registry (OCI distribution API). With one argument, the image's\n"
	"name says where (127.0.0.1:5000/app:1); a destination without a tag takes IMAGE's.\n\n"
	"Each layer goes as a gzip (or zstd) blob, made reproducibly: the same layer always\n"
	"gives the same blob, whose digests are cached in the store. A blob is checked with\n"
	"HEAD first and uploaded only if the registry lacks it (or mounted from another\n"
	"repository of the registry known to have it), in chunks (POST, PATCH..., PUT\n"
	"?digest=). So pushing again uploads nothing, and an interrupted push, run again,\n"
	"uploads only what did not arrive. The manifest's digest is recorded in the image\n"
	"(shale images --digests).\n\n"
	"Options:\n"
	"      --chunk-size bytes    Upload chunk size (default 16777216)\n"
	"      --compression string  Layer compression: gzip (default) or zstd\n"
	"      --insecure            Allow plain HTTP and TLS without certificate checks\n"
	"  -q, --quiet               Suppress verbose output\n\n"
	"SHALE_HTTP_TIMEOUT=SECONDS: give up on a registry silent that long (default 60).\n";

struct push {
	shale_store *s;
	struct registry reg;
	struct reg_ref ref;
	char repo[600]; /* HOST/REPO */
	enum oci_compression comp;
	uint64_t chunk;
	struct bars bars;
	uint64_t uploaded; /* blobs uploaded */
	bool quiet;
};

/* Is this blob in the registry already, or can it be mounted there? */
static int present(struct push *p, const struct blob_info *b, size_t bar)
{
	int r = registry_has_blob(&p->reg, b->digest);
	if (r != 0) {
		if (r == 1)
			bars_status(&p->bars, bar, "Layer already exists");
		return r;
	}
	char **repos;
	size_t n;
	blobcache_repos(p->s, b->digest, &repos, &n);
	char prefix[300];
	snprintf(prefix, sizeof prefix, "%s/", p->ref.domain);
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *from = repos[i] + strlen(prefix);
		if (strncmp(repos[i], prefix, strlen(prefix)) || !strcmp(from, p->ref.repo))
			continue;
		if (registry_mount_blob(&p->reg, b->digest, from) == 1) {
			char msg[300];
			snprintf(msg, sizeof msg, "Mounted from %s", from);
			bars_status(&p->bars, bar, msg);
			r = 1;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(repos[i]);
	free(repos);
	return r;
}

/* Does the registry have a blob for this layer already (or can it mount one)?
 * 1 yes (*out: that blob), 0 no, -1 error. */
static int layer_present(struct push *p, const shale_id *layer, size_t bar, struct blob_info *out)
{
	/* Candidates: our export (when its digest is cached), then the blobs the
	 * layer was pulled or loaded from. */
	struct blob_info *src, own;
	size_t nsrc;
	blobcache_sources(p->s, layer, &src, &nsrc);
	int r = 0;
	if (blobcache_export_get(p->s, layer, p->comp, &own) == 1 && (r = present(p, &own, bar)) == 1)
		*out = own;
	for (size_t k = 0; k < nsrc && r == 0; k++)
		if ((r = present(p, &src[k], bar)) == 1)
			*out = src[k];
	free(src);
	return r;
}

/* Blobs made by worker threads (compression is most of a push: one layer per
 * CPU), uploaded by the main thread in layer order as soon as each is ready. */
struct makers {
	struct push *p;
	const shale_id *layers;
	size_t n, next;
	const bool *need;
	bool *done, stop;
	int *rc;
	char (*err)[1024];
	struct blob_info *info;
	char **paths;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *maker(void *arg)
{
	struct makers *m = arg;
	for (;;) {
		pthread_mutex_lock(&m->mu);
		while (m->next < m->n && !m->need[m->next])
			m->next++;
		size_t i = m->next++;
		bool stop = m->stop || i >= m->n;
		pthread_mutex_unlock(&m->mu);
		if (stop)
			return NULL;
		size_t bar = m->n - 1 - i;
		struct bar_ref br = {&m->p->bars, bar};
		if (m->p->bars.tty)
			bars_status(&m->p->bars, bar, "Preparing");
		int r = oci_layer_blob(m->p->s, &m->layers[i], m->p->comp, &m->info[i], &m->paths[i],
				       bars_bytes_cb, &br);
		pthread_mutex_lock(&m->mu);
		m->rc[i] = r;
		if (r < 0)
			snprintf(m->err[i], sizeof m->err[i], "%s", shale_errmsg());
		m->done[i] = true;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
	}
}

/* Upload the blob made for layer i (unless it turns out to be there already). */
static int upload_made(struct push *p, size_t i, size_t bar, const struct blob_info *b,
		       const char *path)
{
	char id[13];
	oci_digest_short(b->digest, id);
	bars_id(&p->bars, bar, id);
	int r = present(p, b, bar); /* the digest may be new (nothing was cached): ask again */
	if (r != 0)
		return r < 0 ? -1 : 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return shale_err(errno, "%s: %s", path, strerror(errno));
	bars_status(&p->bars, bar, "Pushing");
	struct bar_ref br = {&p->bars, bar};
	r = registry_upload_blob(&p->reg, b->digest, (uint64_t)b->size, fd, NULL, p->chunk,
				 bars_bytes_cb, &br);
	close(fd);
	if (r < 0)
		return shale_err_prefix("layer %zu", i + 1);
	bars_status(&p->bars, bar, "Pushed");
	p->uploaded++;
	return 0;
}

/* Make sure the registry has a blob for every layer; blobs[i]: the one used. */
static int push_layers(struct push *p, const shale_id *layers, size_t n, struct blob_info *blobs)
{
	bool *need = calloc(n + 1, sizeof *need), *done = calloc(n + 1, sizeof *done);
	int *rc = calloc(n + 1, sizeof *rc);
	char(*err)[1024] = calloc(n + 1, sizeof *err);
	char **paths = calloc(n + 1, sizeof *paths);
	size_t nneed = 0;
	int ret = -1;
	for (size_t i = 0; i < n; i++) {
		int r = layer_present(p, &layers[i], n - 1 - i, &blobs[i]);
		if (r < 0) {
			shale_err_prefix("layer %zu", i + 1);
			goto out;
		}
		need[i] = r == 0;
		nneed += need[i];
	}
	struct makers m = {.p = p, .layers = layers, .n = n, .need = need, .done = done, .rc = rc,
			   .err = err, .info = blobs, .paths = paths};
	pthread_mutex_init(&m.mu, NULL);
	pthread_cond_init(&m.cv, NULL);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nthreads = nneed < (size_t)(cpus > 0 ? cpus : 1) ? nneed : (size_t)(cpus > 0 ? cpus : 1);
	if (nthreads > 8)
		nthreads = 8;
	pthread_t th[8];
	size_t started = 0;
	for (; started < nthreads; started++)
		if (pthread_create(&th[started], NULL, maker, &m))
			break;
	if (nneed && !started)
		maker(&m); /* no thread: make them all here */
	ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (!need[i])
			continue;
		pthread_mutex_lock(&m.mu);
		while (!done[i])
			pthread_cond_wait(&m.cv, &m.mu);
		pthread_mutex_unlock(&m.mu);
		if (rc[i] < 0) {
			ret = shale_err(EIO, "layer %zu: %s", i + 1, err[i]);
			break;
		}
		ret = upload_made(p, i, n - 1 - i, &blobs[i], paths[i]);
		if (ret == 0) /* made again byte for byte if ever needed */
			unlink(paths[i]);
	}
	pthread_mutex_lock(&m.mu);
	m.stop = true; /* after an error: no new blobs */
	pthread_mutex_unlock(&m.mu);
	for (size_t t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	/* After a failure, the blobs not uploaded stay in ROOT/tmp/blobs: the next
	 * push uses them (after checking them) instead of compressing again. */
	pthread_mutex_destroy(&m.mu);
	pthread_cond_destroy(&m.cv);
out:
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(need);
	free(done);
	free(rc);
	free(err);
	return ret;
}

struct retag {
	shale_id from;
	char **refs;
	size_t n;
};

static int collect_tags(void *ctx, const char *ref, const shale_id *id)
{
	struct retag *t = ctx;
	if (!shale_id_cmp(id, &t->from)) {
		t->refs = realloc(t->refs, (t->n + 1) * sizeof *t->refs);
		t->refs[t->n++] = strdup(ref);
	}
	return 0;
}

struct parent_of {
	char hex[SHALE_ID_HEX];
	bool found;
};

static int is_parent(void *ctx, const shale_id *id, json_t *img)
{
	struct parent_of *p = ctx;
	(void)id;
	const char *parent = json_string_value(json_object_get(img, "parent"));
	p->found |= parent && !strcmp(parent, p->hex);
	return 0;
}

/* Does anything refer to the image by its id (a container, a mount, the build
 * cache, a child image)? Then its old record stays. */
static bool still_needed(shale_store *s, const shale_id *id)
{
	char who[256];
	struct parent_of p = {.found = false};
	shale_id_hex(id, p.hex);
	if (shale_image_users(s, id, who, sizeof who) != 0 || shale_image_cached(s, id))
		return true;
	return shale_image_foreach(s, is_parent, &p) < 0 || p.found;
}

/* Record the registry digest in the image: a new image record (its id changes),
 * and the tags of the old one move to it; the old record goes unless
 * something refers to it by id. */
static int record_digest(shale_store *s, const shale_id *id, json_t *img, const char *digest)
{
	const char *old = json_string_value(json_object_get(img, "digest"));
	if (old && !strcmp(old, digest))
		return 0;
	struct retag t = {.from = *id};
	if (shale_tag_foreach(s, collect_tags, &t) < 0)
		return -1;
	int ret = 0;
	if (t.n) { /* an untagged image would only become another dangling one */
		json_t *copy = json_deep_copy(img);
		json_object_set_new(copy, "digest", json_string(digest));
		shale_id new_id;
		ret = shale_image_put(s, copy, &new_id);
		json_decref(copy);
		for (size_t i = 0; i < t.n && ret == 0; i++)
			ret = shale_tag_set(s, t.refs[i], &new_id);
		if (ret == 0 && shale_id_cmp(&new_id, id) && !still_needed(s, id))
			shale_image_delete(s, id);
	}
	for (size_t i = 0; i < t.n; i++)
		free(t.refs[i]);
	free(t.refs);
	return ret;
}

static int push(struct push *p, const shale_id *image_id, const char *tag)
{
	json_t *img = shale_image_get(p->s, image_id);
	shale_id *layers = NULL;
	size_t n = 0;
	struct blob_info *blobs = NULL;
	struct oci_docs docs = {0};
	int ret = -1;
	if (!img || shale_image_layers(img, &layers, &n) < 0) {
		json_decref(img);
		return -1;
	}
	if (!p->quiet) {
		printf("The push refers to repository [%s]\n", p->repo);
		fflush(stdout);
	}
	blobs = calloc(n ? n : 1, sizeof *blobs);
	bars_init(&p->bars, n, p->quiet, true);
	/* Docker's order on screen: the top layer first. */
	for (size_t i = 0; i < n; i++) {
		char id[13];
		struct blob_info b;
		if (blobcache_export_get(p->s, &layers[i], p->comp, &b) == 1)
			oci_digest_short(b.digest, id);
		else
			id_short(&layers[i], id);
		bars_id(&p->bars, n - 1 - i, id);
	}
	if (push_layers(p, layers, n, blobs) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		blobcache_note_repo(p->s, &blobs[i], p->repo);
	bars_finish(&p->bars);
	if (oci_docs_build(img, blobs, n, &docs) < 0)
		goto out;
	int has = registry_has_blob(&p->reg, docs.config_digest);
	if (has < 0 || (has == 0 && registry_upload_blob(&p->reg, docs.config_digest, docs.config_len,
							 -1, docs.config, p->chunk, NULL, NULL) < 0))
		goto out;
	char stored[OCI_DIGEST_LEN];
	if (registry_put_manifest(&p->reg, tag, OCI_MT_MANIFEST, docs.manifest, docs.manifest_len,
				  stored) < 0)
		goto out;
	if (stored[0] && strcmp(stored, docs.manifest_digest)) {
		shale_err(EIO, "the registry stored the manifest as %s, not %s", stored,
			  docs.manifest_digest);
		goto out;
	}
	printf("%s: digest: %s size: %zu\n", tag, docs.manifest_digest, docs.manifest_len);
	if (record_digest(p->s, image_id, img, docs.manifest_digest) < 0)
		goto out;
	ret = 0;
out:
	bars_free(&p->bars);
	oci_docs_free(&docs);
	free(blobs);
	free(layers);
	json_decref(img);
	return ret;
}

/* Does a reference name a tag after its last '/'? */
static bool has_tag(const char *ref)
{
	const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');
	return colon && (!slash || colon > slash);
}

int cmd_push(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"insecure", no_argument, 0, 'k'},
					   {"compression", required_argument, 0, 'c'},
					   {"chunk-size", required_argument, 0, 'C'},
					   {"quiet", no_argument, 0, 'q'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	struct push p = {.comp = OCI_COMP_GZIP, .chunk = 16u << 20};
	bool insecure = false;
	int o;
	while ((o = cli_getopt(argc, argv, "qh", lo)) != -1) {
		switch (o) {
		case 'k': insecure = true; break;
		case 'q': p.quiet = true; break;
		case 'c': {
			int comp = oci_compression_parse(optarg);
			if (comp != OCI_COMP_GZIP && comp != OCI_COMP_ZSTD)
				return cli_usage_error("push", "unknown compression '%s' (gzip, zstd)",
						       optarg);
			p.comp = (enum oci_compression)comp;
			break;
		}
		case 'C': {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (*end || v < 1024)
				return cli_usage_error("push", "invalid chunk size '%s' (bytes, >= 1024)",
						       optarg);
			p.chunk = v;
			break;
		}
		case 'h': return cli_help(push_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_error("push", "\"shale push\" requires 1 or 2 arguments.");
	const char *image = argv[optind], *dest = argc - optind == 2 ? argv[optind + 1] : image;
	if (strchr(dest, '@'))
		return cli_usage_error("push", "cannot push to a digest: %s", dest);
	if (reg_ref_parse(dest, &p.ref) < 0)
		return cli_fail();
	char norm[512], name[512], tag[256];
	if (!has_tag(dest) && shale_ref_normalize(image, norm, sizeof norm) == 0 &&
	    shale_ref_split(norm, name, sizeof name, tag, sizeof tag) == 0)
		snprintf(p.ref.tag, sizeof p.ref.tag, "%.128s", tag); /* the destination takes IMAGE's tag */
	reg_ref_repo(&p.ref, p.repo, sizeof p.repo);
	p.s = cli_store(c);
	if (!p.s)
		return EXIT_ERR;
	shale_id id;
	if (shale_image_resolve(p.s, image, &id) < 0)
		return cli_fail();
	if (registry_open(&p.reg, c->root, p.ref.domain, p.ref.host, p.ref.repo, insecure, true, NULL,
			  NULL) < 0) {
		shale_err_prefix("push %s", p.repo);
		return cli_fail();
	}
	/* Keep prune away from the layers we read, for the whole push. */
	int r = shale_lock_shared(p.s);
	if (r == 0) {
		r = push(&p, &id, p.ref.tag);
		shale_unlock(p.s);
	}
	registry_close(&p.reg);
	if (r < 0) {
		shale_err_prefix("push %s", p.repo);
		return cli_fail();
	}
	return EXIT_OK;
}
