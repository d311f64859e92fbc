/* HTTP requests through libcurl, as the registry client needs them: small
 * bodies in memory, downloads into a file descriptor, uploads from one; the
 * response headers a registry uses. One connection is kept for a session. */
#ifndef SHALE_OCI_HTTP_H
#define SHALE_OCI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layer_tar.h"

struct http {
	void *curl;
	bool insecure; /* TLS without certificate checks */
	long timeout;  /* seconds without progress before giving up */
};

struct http_req {
	const char *method; /* GET, HEAD, POST, PATCH, PUT */
	const char *url;
	const char *authorization; /* full header value, or NULL */
	const char *accept, *content_type, *range, *content_range;
	bool follow; /* follow redirects (blob downloads) */
	/* request body: memory, or a file range */
	const void *body;
	size_t body_len;
	int body_fd; /* -1: none */
	uint64_t body_off, body_size;
	/* response body: to a file descriptor (a 206 response at out_off, a 200 one
	 * at 0), else to memory */
	int out_fd; /* -1: memory, at most max_body bytes */
	uint64_t out_off;
	int64_t out_max; /* out_fd: the file never grows beyond this (-1: no limit) */
	size_t max_body;
	oci_bytes_fn progress; /* bytes sent or received, plus progress_base */
	void *pctx;
	uint64_t progress_base, progress_total;
};

struct http_resp {
	long status;
	int curl_code; /* CURLcode; 0 when the exchange completed */
	char error[256];
	char *location, *content_type, *digest, *www_auth, *range, *content_range;
	char *body;
	size_t body_len, body_cap;
	uint64_t received; /* body bytes received (into out_fd too) */
	uint64_t sent;
	bool too_big; /* the body went past max_body or out_max: the transfer was cut */
};

int http_init(struct http *h, bool insecure);
void http_cleanup(struct http *h);
/* A request; 0 when a response came (any status), -1 with shale_err when not. */
int http_do(struct http *h, const struct http_req *req, struct http_resp *resp);
void http_resp_free(struct http_resp *r);
/* An http_req with no body and output to memory (max bytes). */
void http_req_init(struct http_req *r, const char *method, const char *url, size_t max);
/* Was the failure a TLS problem (so that plain HTTP may be tried)? */
bool http_tls_error(const struct http_resp *r);
/* A URL-encoded copy (malloc'd). */
char *http_escape(struct http *h, const char *s);

#endif
