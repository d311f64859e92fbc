/* OCI and Docker JSON documents: media types, parsers and builders.
 *
 * The parsers take a buffer and its length, validate everything they return
 * (digests, sizes, types), never abort on any input, and report errors with
 * shale_err (EINVAL). They are the fuzzing entry points for OCI JSON. */
#ifndef SHALE_OCI_MEDIA_H
#define SHALE_OCI_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "digest.h"

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define OCI_ANN_REF_NAME "org.opencontainers.image.ref.name"
#define CONTAINERD_ANN_NAME "io.containerd.image.name"

/* Size limits for JSON documents we read into memory. */
#define OCI_MANIFEST_MAX (4u << 20)
#define OCI_CONFIG_MAX (8u << 20)
#define OCI_MAX_LAYERS 4096

enum oci_compression { OCI_COMP_NONE, OCI_COMP_GZIP, OCI_COMP_ZSTD };

/* Parse "gzip", "zstd", "none"; -1 if unknown. */
int oci_compression_parse(const char *name);
const char *oci_compression_name(enum oci_compression c);
const char *oci_layer_media_type(enum oci_compression c);
/* Is this a layer media type we can read (tar, gzip, zstd; OCI or Docker)? */
bool oci_layer_media_ok(const char *media_type);

struct oci_desc {
	char *media_type;
	char digest[OCI_DIGEST_LEN];
	int64_t size;
	/* index entries only */
	char *os, *arch, *variant;
	char *ref_name;   /* org.opencontainers.image.ref.name */
	char *image_name; /* io.containerd.image.name */
};

struct oci_index {
	size_t n;
	struct oci_desc *manifests;
};

struct oci_manifest {
	char *media_type; /* OCI_MT_MANIFEST or DOCKER_MT_MANIFEST */
	struct oci_desc config;
	size_t n;
	struct oci_desc *layers;
};

struct oci_config {
	json_t *doc; /* the whole document (owned) */
	size_t n;
	char (*diff_ids)[OCI_DIGEST_LEN];
};

/* docker save's manifest.json: one entry per image. */
struct docker_entry {
	char *config;
	size_t ntags;
	char **tags;
	size_t nlayers;
	char **layers;
};
struct docker_manifest {
	size_t n;
	struct docker_entry *v;
};

enum oci_kind { OCI_KIND_UNKNOWN, OCI_KIND_MANIFEST, OCI_KIND_INDEX };
/* What a manifest-like document is: from the Content-Type when given (HTTP),
 * else from its mediaType member, else from its shape. */
enum oci_kind oci_detect_kind(const char *content_type, const char *buf, size_t len);

int oci_index_parse(const char *buf, size_t len, struct oci_index *out);
int oci_manifest_parse(const char *buf, size_t len, struct oci_manifest *out);
int oci_config_parse(const char *buf, size_t len, struct oci_config *out);
int docker_manifest_parse(const char *buf, size_t len, struct docker_manifest *out);
void oci_index_free(struct oci_index *x);
void oci_manifest_free(struct oci_manifest *m);
void oci_config_free(struct oci_config *c);
void docker_manifest_free(struct docker_manifest *d);

/* The index entry for a platform ("linux", "amd64", variant or NULL); -1 if none. */
ssize_t oci_index_pick(const struct oci_index *x, const char *os, const char *arch,
		       const char *variant);

/* Builders. All documents are dumped compact with sorted keys, so the same
 * input always gives the same bytes (and digest). */
char *oci_dump(json_t *doc);
json_t *oci_desc_json(const char *media_type, const char *digest, int64_t size);
/* The OCI config of a shale image, with these diff_ids. */
json_t *oci_config_from_image(json_t *image, char (*diff_ids)[OCI_DIGEST_LEN], size_t n);
/* A shale image document from an OCI config (layers still to fill in). */
json_t *oci_image_from_config(const struct oci_config *c);

/* The host's architecture as OCI names it (amd64, arm64, ...). */
const char *oci_host_arch(void);
/* A reference from an annotation or a RepoTag, as shale tags it ("name:tag"),
 * without Docker Hub's "docker.io/library/" prefix; -1 if invalid. */
int oci_familiar_ref(const char *ref, char *out, size_t len);

#endif
