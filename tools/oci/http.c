/* libcurl behind the registry client (see http.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "curl_lib.h"

#include "http.h"
#include "store.h"

int http_init(struct http *h, bool insecure)
{
	static bool global;
	if (!global) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global = true;
	}
	memset(h, 0, sizeof *h);
	h->curl = curl_easy_init();
	h->insecure = insecure;
	const char *t = getenv("SHALE_HTTP_TIMEOUT");
	h->timeout = t && atol(t) > 0 ? atol(t) : 60;
	return h->curl ? 0 : shale_err(ENOMEM, "cannot start libcurl");
}

void http_cleanup(struct http *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
}

void http_req_init(struct http_req *r, const char *method, const char *url, size_t max)
{
	memset(r, 0, sizeof *r);
	r->method = method;
	r->url = url;
	r->body_fd = -1;
	r->out_fd = -1;
	r->out_max = -1;
	r->max_body = max;
}

void http_resp_free(struct http_resp *r)
{
	free(r->location);
	free(r->content_type);
	free(r->digest);
	free(r->www_auth);
	free(r->range);
	free(r->content_range);
	free(r->body);
	memset(r, 0, sizeof *r);
}

struct xfer {
	CURL *curl;
	const struct http_req *req;
	struct http_resp *resp;
	uint64_t sent;
	int werr;
	bool too_big;
	uint64_t limit; /* the limit a too big body went past */
};

static size_t on_header(char *buf, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;
	const char *colon = memchr(buf, ':', len);
	if (!strncmp(buf, "HTTP/", 5)) {
		/* a new response (after a redirect or a 100 Continue): forget the last */
		struct http_resp *r = x->resp;
		free(r->location);
		free(r->content_type);
		free(r->digest);
		free(r->www_auth);
		free(r->range);
		free(r->content_range);
		r->location = r->content_type = r->digest = r->www_auth = r->range = r->content_range = NULL;
		return len;
	}
	if (!colon)
		return len;
	size_t kl = (size_t)(colon - buf);
	const char *v = colon + 1, *end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	static const struct {
		const char *name;
		size_t off;
	} keep[] = {
		{"Location", offsetof(struct http_resp, location)},
		{"Content-Type", offsetof(struct http_resp, content_type)},
		{"Docker-Content-Digest", offsetof(struct http_resp, digest)},
		{"WWW-Authenticate", offsetof(struct http_resp, www_auth)},
		{"Range", offsetof(struct http_resp, range)},
		{"Content-Range", offsetof(struct http_resp, content_range)},
	};
	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
		if (kl == strlen(keep[i].name) && !strncasecmp(buf, keep[i].name, kl)) {
			char **slot = (char **)((char *)x->resp + keep[i].off);
			if (!*slot) /* the first WWW-Authenticate is the one to use */
				*slot = strndup(v, (size_t)(end - v));
		}
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	struct http_resp *r = x->resp;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	/* Only a successful body goes to the file; error bodies are kept in memory. */
	if (x->req->out_fd >= 0 && (status == 200 || status == 206)) {
		/* out_off is where a partial response (206) starts; a whole one starts at 0 */
		uint64_t base = status == 206 ? x->req->out_off : 0;
		size_t done = 0;
		/* A body longer than the blob can be is cut, not written to the disk's end. */
		if (x->req->out_max >= 0 && base + r->received + len > (uint64_t)x->req->out_max) {
			x->too_big = true;
			x->limit = (uint64_t)x->req->out_max;
			return 0;
		}
		while (done < len) {
			ssize_t w = pwrite(x->req->out_fd, buf + done, len - done,
					   (off_t)(base + r->received + done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				x->werr = errno;
				return 0; /* makes curl stop with CURLE_WRITE_ERROR */
			}
			done += (size_t)w;
			SHALE_CRASH_POINT("blob data received");
		}
		r->received += len;
		return len;
	}
	size_t max = x->req->out_fd >= 0 ? 65536 : x->req->max_body;
	if (r->body_len + len > max) {
		x->too_big = true;
		x->limit = max;
		return 0;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		/* doubling: curl hands over a few kilobytes at a time, and copying the
		 * whole body at each of them made a 4 MiB one take seconds */
		size_t cap = r->body_cap ? r->body_cap : 16384;
		while (cap < r->body_len + len + 1)
			cap *= 2;
		char *nb = realloc(r->body, cap);
		if (!nb)
			return 0;
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, buf, len);
	r->body_len += len;
	r->body[r->body_len] = 0;
	r->received += len;
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	const struct http_req *q = x->req;
	size_t want = size * n;
	if (q->body) {
		size_t left = q->body_len - x->sent;
		if (want > left)
			want = left;
		memcpy(buf, (const char *)q->body + x->sent, want);
		x->sent += want;
		return want;
	}
	uint64_t left = q->body_size - x->sent;
	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	ssize_t r;
	do
		r = pread(q->body_fd, buf, want, (off_t)(q->body_off + x->sent));
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		x->werr = r < 0 ? errno : EIO;
		return CURL_READFUNC_ABORT;
	}
	x->sent += (uint64_t)r;
	return (size_t)r;
}

/* Rewind an upload (curl does it when it must send the body again). */
static int on_seek(void *ctx, curl_off_t off, int origin)
{
	struct xfer *x = ctx;
	if (origin != SEEK_SET)
		return CURL_SEEKFUNC_CANTSEEK;
	x->sent = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = ctx;
	const struct http_req *q = x->req;
	(void)dltotal;
	(void)ultotal;
	if (q->progress)
		q->progress(q->pctx, q->progress_base + (uint64_t)(q->out_fd >= 0 ? dlnow : ulnow),
			    q->progress_total);
	return 0;
}

bool http_tls_error(const struct http_resp *r)
{
	switch (r->curl_code) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return true;
	default:
		return false;
	}
}

char *http_escape(struct http *h, const char *s)
{
	char *e = curl_easy_escape(h->curl, s, 0);
	char *out = e ? strdup(e) : NULL;
	curl_free(e);
	return out;
}

int http_do(struct http *h, const struct http_req *q, struct http_resp *r)
{
	CURL *c = h->curl;
	memset(r, 0, sizeof *r);
	struct xfer x = {.req = q, .resp = r, .curl = c};
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	char line[2048];
	curl_easy_reset(c); /* keeps the connection cache */
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "shale");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A stalled peer: fail after `timeout` seconds below 1 byte/s. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->timeout);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	if (h->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (q->follow) {
		/* Redirects (blob storage): curl drops our Authorization on other hosts. */
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	}
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	if (q->authorization) { /* bearer tokens with certificate chains run to kilobytes */
		char *auth = NULL;
		if (asprintf(&auth, "Authorization: %s", q->authorization) < 0)
			return shale_err(ENOMEM, "out of memory");
		hdrs = curl_slist_append(hdrs, auth);
		free(auth);
	}
	if (q->accept) {
		snprintf(line, sizeof line, "Accept: %s", q->accept);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (q->range) {
		snprintf(line, sizeof line, "Range: %s", q->range);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (q->content_range) {
		snprintf(line, sizeof line, "Content-Range: %s", q->content_range);
		hdrs = curl_slist_append(hdrs, line);
	}
	bool has_body = q->body || q->body_fd >= 0;
	uint64_t body_len = q->body ? q->body_len : q->body_fd >= 0 ? q->body_size : 0;
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(q->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		/* POST, PATCH, PUT: an upload of exactly body_len bytes (maybe 0). */
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
		snprintf(line, sizeof line, "Content-Type: %s",
			 q->content_type ? q->content_type : "application/octet-stream");
		hdrs = curl_slist_append(hdrs, line);
		hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
		(void)has_body;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	CURLcode rc = curl_easy_perform(c);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	r->sent = x.sent;
	r->curl_code = (int)rc;
	r->too_big = x.too_big;
	if (rc == CURLE_OK)
		return 0;
	if (x.werr)
		snprintf(r->error, sizeof r->error, "%s", strerror(x.werr));
	else if (x.too_big)
		snprintf(r->error, sizeof r->error, "response larger than %llu bytes",
			 (unsigned long long)x.limit);
	else
		snprintf(r->error, sizeof r->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	/* the URL without its query (upload state tokens say nothing to a user) */
	int ulen = (int)strcspn(q->url, "?");
	return shale_err(x.werr ? x.werr : EIO, "%s %.*s: %s", q->method, ulen, q->url, r->error);
}
