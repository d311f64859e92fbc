/* Registry references: [HOST[:PORT]/]REPO[:TAG][@sha256:DIGEST], as Docker reads
 * them (no host: Docker Hub, and "library/" for one-component names). */
#ifndef SHALE_OCI_REFERENCE_H
#define SHALE_OCI_REFERENCE_H

#include <stdbool.h>

#include "digest.h"

struct reg_ref {
	char domain[256]; /* as written, "docker.io" by default */
	char host[256];   /* where to connect: registry-1.docker.io for Docker Hub */
	char repo[256];   /* "library/busybox", "test/app" */
	char tag[130];    /* "" when only a digest was given */
	char digest[OCI_DIGEST_LEN];
	char local[512];  /* the shale name: "127.0.0.1:5000/test/app:1" ("busybox:1" for the Hub) */
};

/* Parse a reference; "latest" is the tag when neither tag nor digest is given. */
int reg_ref_parse(const char *s, struct reg_ref *out);
/* "HOST/REPO" as shown to users ("127.0.0.1:5000/test/app"). */
void reg_ref_repo(const struct reg_ref *r, char *out, size_t len);

#endif
