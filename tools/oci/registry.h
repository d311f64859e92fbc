/* A client of the OCI distribution API (registry v2) for one repository:
 * ping and authentication (Basic, or bearer tokens from the registry's realm),
 * manifests, blob existence checks, resumable blob downloads, chunked uploads
 * (POST, PATCH chunks, PUT ?digest=) and cross-repository mounts. */
#ifndef SHALE_OCI_REGISTRY_H
#define SHALE_OCI_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "blobcache.h"
#include "http.h"

struct registry {
	struct http http;
	char base[300]; /* https://HOST or http://HOST */
	char host[256], repo[256];
	bool push;
	char *user, *pass; /* from `shale login`, or given to login */
	char *authz;       /* the Authorization header value in use */
	uint64_t bytes_in, bytes_out;
};

/* Connect to host (https; with insecure, TLS without checks or else plain
 * http), authenticating as the registry asks. user/pass NULL: the credentials
 * `shale login` stored for cred_host (the name as written: "docker.io") in
 * the store root `root`. repo may be "" (login). */
int registry_open(struct registry *r, const char *root, const char *cred_host, const char *host,
		  const char *repo, bool insecure, bool push, const char *user, const char *pass);
void registry_close(struct registry *r);

/* GET a manifest by tag or digest: body (malloc'd), media type and the
 * registry's Docker-Content-Digest (or "") */
int registry_get_manifest(struct registry *r, const char *ref, char **buf, size_t *len,
			  char **media_type, char digest[OCI_DIGEST_LEN]);
/* PUT a manifest under a tag; *digest: what the registry says it stored. */
int registry_put_manifest(struct registry *r, const char *tag, const char *media_type,
			  const char *buf, size_t len, char digest[OCI_DIGEST_LEN]);

/* A small blob in memory, checked against its digest and size. */
int registry_get_blob(struct registry *r, const char *digest, int64_t size, size_t max, char **buf,
		      size_t *len);
/* A blob into `final` (checked), through `partial`, resumed where a previous
 * attempt stopped. *fetched: bytes transferred by this call. */
int registry_fetch_blob(struct registry *r, const char *digest, int64_t size, const char *final,
			const char *partial, oci_bytes_fn progress, void *ctx, uint64_t *fetched);

/* 1 if the repository has the blob, 0 if not. */
int registry_has_blob(struct registry *r, const char *digest);
/* Try to mount a blob from another repository of the registry: 1 done, 0 not. */
int registry_mount_blob(struct registry *r, const char *digest, const char *from_repo);
/* Upload a blob from fd (or memory when fd < 0) in chunks of `chunk` bytes. */
int registry_upload_blob(struct registry *r, const char *digest, uint64_t size, int fd,
			 const void *buf, uint64_t chunk, oci_bytes_fn progress, void *ctx);

#endif
