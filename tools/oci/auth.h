/* Registry credentials and authentication challenges.
 *
 * `shale login` keeps credentials in ROOT/auth.json (the store root; mode 0600),
 * in Docker's config.json layout: {"auths": {"HOST[:PORT]": {"auth": base64(user:pass)}}}.
 * They are sent as HTTP Basic auth, or exchanged for a bearer token at the realm
 * a registry names in its WWW-Authenticate challenge. */
#ifndef SHALE_OCI_AUTH_H
#define SHALE_OCI_AUTH_H

#include <stddef.h>

/* The credentials file of a store root (malloc'd path). */
char *auth_file(const char *root);
/* 1 and malloc'd user/pass when logged in to host, 0 when not, -1 on error. */
int auth_get(const char *root, const char *host, char **user, char **pass);
int auth_put(const char *root, const char *host, const char *user, const char *pass);
/* 1 removed, 0 was not logged in, -1 error. */
int auth_delete(const char *root, const char *host);

enum auth_scheme { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct auth_challenge {
	enum auth_scheme scheme;
	char realm[1024];
	char service[256];
	char scope[1024];
};

/* Parse a WWW-Authenticate value (buffer and length; never aborts). */
int auth_parse_challenge(const char *buf, size_t len, struct auth_challenge *out);

/* "Basic base64(user:pass)" (malloc'd). */
char *auth_basic_header(const char *user, const char *pass);

#endif
