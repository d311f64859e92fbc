/* shale pull: an image from a registry, checked digest by digest, resumable. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bars.h"
#include "blobdir.h"
#include "cli.h"
#include "ingest.h"
#include "reference.h"
#include "registry.h"

static const char pull_help[] =
	"Usage:  shale pull [OPTIONS] NAME[:TAG|@DIGEST]\n\n"
	"Pull an image from a registry (OCI distribution API), e.g. 127.0.0.1:5000/app:1 or\n"
	"HOST/REPO@sha256:... (a name without HOST is on docker.io). For a multi-platform\n"
	"image, the one for linux and this machine's architecture is taken.\n\n"
	"The manifest's digest and every blob's sha256 and size are checked before anything\n"
	"is stored, and every layer's diff_id as it is imported: a mismatch leaves nothing\n"
	"in the store. Layers\n"
	"already in the store are not downloaded. An interrupted pull keeps what it got\n"
	"under ROOT/tmp/blobs and resumes from there (HTTP Range) when run again.\n\n"
	"Options:\n"
	"      --insecure          Allow plain HTTP and TLS without certificate checks\n"
	"      --platform string   os/arch[/variant] to take from a multi-platform image\n"
	"  -q, --quiet             Only print the image name\n\n"
	"SHALE_HTTP_TIMEOUT=SECONDS: give up on a registry silent that long (default 60).\n";

struct pull {
	shale_store *s;
	struct registry reg;
	struct reg_ref ref;
	char os[32], arch[32], variant[32];
	bool quiet;
};

/* The image manifest for the reference: through an index when there is one.
 * *top: the digest the reference names (what `images --digests` shows). */
static int fetch_manifest(struct pull *p, struct oci_manifest *m, char top[OCI_DIGEST_LEN])
{
	char *buf = NULL, *ctype = NULL, hdr[OCI_DIGEST_LEN], got[OCI_DIGEST_LEN];
	size_t len;
	const char *want = p->ref.digest[0] ? p->ref.digest : p->ref.tag;
	if (registry_get_manifest(&p->reg, want, &buf, &len, &ctype, hdr) < 0)
		return -1;
	oci_sha256_buf(buf, len, got);
	int ret = -1;
	if (p->ref.digest[0] && strcmp(got, p->ref.digest)) {
		shale_err(EINVAL, "manifest digest mismatch: asked for %s, the registry sent %s",
			  p->ref.digest, got);
		goto out;
	}
	if (hdr[0] && strcmp(hdr, got)) {
		shale_err(EINVAL, "manifest digest mismatch: the registry says %s, its content is %s",
			  hdr, got);
		goto out;
	}
	strcpy(top, got);
	enum oci_kind kind = oci_detect_kind(ctype, buf, len);
	if (kind == OCI_KIND_INDEX) {
		struct oci_index x;
		if (oci_index_parse(buf, len, &x) < 0)
			goto out;
		ssize_t k = oci_index_pick(&x, p->os, p->arch, p->variant[0] ? p->variant : NULL);
		if (k < 0) {
			shale_err(ENOENT, "no matching manifest for %s/%s in the manifest list entries",
				  p->os, p->arch);
			oci_index_free(&x);
			goto out;
		}
		struct oci_desc d = x.manifests[k];
		char digest[OCI_DIGEST_LEN];
		strcpy(digest, d.digest);
		int64_t size = d.size;
		oci_index_free(&x);
		free(buf);
		free(ctype);
		buf = ctype = NULL;
		if (registry_get_manifest(&p->reg, digest, &buf, &len, &ctype, hdr) < 0)
			goto out;
		oci_sha256_buf(buf, len, got);
		if (strcmp(got, digest) || (int64_t)len != size) {
			shale_err(EINVAL, "manifest digest mismatch: the index says %s, the registry "
					  "sent %s",
				  digest, got);
			goto out;
		}
		kind = oci_detect_kind(ctype, buf, len);
	}
	if (kind != OCI_KIND_MANIFEST) {
		shale_err(EINVAL, "%s is not an image (media type %s)", want, ctype ? ctype : "unknown");
		goto out;
	}
	ret = oci_manifest_parse(buf, len, m);
out:
	free(buf);
	free(ctype);
	return ret;
}

static int pull(struct pull *p)
{
	struct oci_manifest m = {0};
	struct ingest ig = {0};
	struct bars bars = {0};
	char top[OCI_DIGEST_LEN], *cfg = NULL, repo[600];
	size_t cfg_len;
	int ret = -1;
	reg_ref_repo(&p->ref, repo, sizeof repo);
	if (fetch_manifest(p, &m, top) < 0)
		goto out;
	if (!p->quiet)
		printf("%s: Pulling from %s\n", p->ref.tag[0] ? p->ref.tag : p->ref.digest, p->ref.repo);
	/* The config of an image pulled before is in the blobs table: pulling an
	 * image we have then downloads nothing. */
	bool cached = blobcache_config_get(p->s, m.config.digest, &cfg, &cfg_len) == 1;
	if ((!cached && registry_get_blob(&p->reg, m.config.digest, m.config.size, OCI_CONFIG_MAX,
					  &cfg, &cfg_len) < 0) ||
	    ingest_begin(&ig, p->s, cfg, cfg_len, &m) < 0) {
		shale_err_prefix("image config");
		goto out;
	}
	bars_init(&bars, ig.n, p->quiet, true);
	ig.bars = &bars;
	for (size_t i = 0; i < ig.n; i++) {
		char id[13];
		ingest_label(&ig, i, id);
		bars_id(&bars, i, id);
		bars_status(&bars, i, ig.l[i].have ? "Already exists" : "Pulling fs layer");
	}
	/* Download everything missing, each blob checked as it completes. */
	char *dir = blobdir(p->s);
	if (!dir)
		goto out;
	free(dir);
	for (size_t i = 0; i < ig.n; i++) {
		struct ingest_layer *l = &ig.l[i];
		if (l->have)
			continue;
		l->path = blobdir_path(p->s, l->blob.digest);
		char *partial = blobdir_partial(p->s, l->blob.digest);
		if (access(l->path, F_OK) != 0) {
			bars_status(&bars, i, "Downloading");
			struct bar_ref br = {&bars, i};
			uint64_t got;
			int r = registry_fetch_blob(&p->reg, l->blob.digest, l->blob.size, l->path, partial,
						    bars_bytes_cb, &br, &got);
			if (r < 0) {
				free(partial);
				shale_err_prefix("layer %zu", i + 1);
				goto out;
			}
		}
		free(partial);
		bars_status(&bars, i, "Download complete");
	}
	/* Every blob matched its digest as it arrived; diff_ids are checked as the
	 * layers are imported (a mismatch removes what was imported). */
	for (size_t i = 0; i < ig.n; i++)
		if (!ig.l[i].have)
			ingest_downloaded(&ig, i);
	shale_id old, image;
	bool had = p->ref.tag[0] && shale_tag_get(p->s, p->ref.local, &old) == 0;
	if (ingest_commit(&ig, top, &image) < 0) {
		/* A diff_id mismatch or content the importer refuses (EINVAL: a hostile or
		 * broken layer) fails the same way every time: never use those blobs again.
		 * I/O errors (a full disk) keep them for the next attempt. */
		int code = shale_errcode();
		if (code == EINVAL || code == ENAMETOOLONG || strstr(shale_errmsg(), "diff_id mismatch"))
			for (size_t i = 0; i < ig.n; i++)
				if (!ig.l[i].have)
					blobdir_remove(p->s, ig.l[i].blob.digest);
		goto out;
	}
	bars_finish(&bars);
	if (p->ref.tag[0] && shale_tag_set(p->s, p->ref.local, &image) < 0)
		goto out;
	SHALE_CRASH_POINT("pull tagged");
	blobcache_config_put(p->s, m.config.digest, cfg, cfg_len);
	for (size_t i = 0; i < ig.n; i++) {
		if (!ig.l[i].verified) {
			/* a layer we have: its blob, if a pull killed after importing it
			 * left one, is of no more use (a .partial may be another pull's) */
			char *left = blobdir_path(p->s, ig.l[i].blob.digest);
			if (left)
				unlink(left);
			free(left);
			continue;
		}
		blobcache_note_repo(p->s, &ig.l[i].blob, repo);
		blobdir_remove(p->s, ig.l[i].blob.digest); /* in the store now */
	}
	char hex[SHALE_ID_HEX];
	shale_id_hex(&image, hex);
	if (!p->quiet) {
		printf("Digest: %s\n", top);
		bool same = had && !shale_id_cmp(&old, &image);
		printf("Status: %s for %s\n", same ? "Image is up to date" : "Downloaded newer image",
		       p->ref.tag[0] ? p->ref.local : repo);
	}
	if (p->ref.tag[0])
		printf("%s\n", p->ref.local);
	else
		printf("%s@%s (image %.12s, untagged)\n", repo, top, hex);
	ret = 0;
out:
	bars_free(&bars);
	ingest_free(&ig);
	oci_manifest_free(&m);
	free(cfg);
	return ret;
}

int cmd_pull(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"insecure", no_argument, 0, 'k'},
					   {"platform", required_argument, 0, 'P'},
					   {"quiet", no_argument, 0, 'q'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	struct pull p = {0};
	bool insecure = false;
	snprintf(p.os, sizeof p.os, "linux");
	snprintf(p.arch, sizeof p.arch, "%s", oci_host_arch());
	int o;
	while ((o = cli_getopt(argc, argv, "qh", lo)) != -1) {
		switch (o) {
		case 'k': insecure = true; break;
		case 'q': p.quiet = true; break;
		case 'P':
			if (sscanf(optarg, "%31[^/]/%31[^/]/%31s", p.os, p.arch, p.variant) < 2)
				return cli_usage_error("pull", "invalid platform '%s' (os/arch[/variant])",
						       optarg);
			break;
		case 'h': return cli_help(pull_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("pull", "\"shale pull\" requires exactly 1 argument.");
	if (reg_ref_parse(argv[optind], &p.ref) < 0)
		return cli_fail();
	p.s = cli_store(c);
	if (!p.s)
		return EXIT_ERR;
	if (registry_open(&p.reg, c->root, p.ref.domain, p.ref.host, p.ref.repo, insecure, false, NULL,
			  NULL) < 0) {
		shale_err_prefix("pull %s", argv[optind]);
		return cli_fail();
	}
	int r = pull(&p);
	registry_close(&p.reg);
	if (r < 0) {
		shale_err_prefix("pull %s", argv[optind]);
		return cli_fail();
	}
	return EXIT_OK;
}
