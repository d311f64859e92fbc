/* The distribution API client (see registry.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"
#include "media.h"
#include "registry.h"
#include "store.h"

#define MANIFEST_ACCEPT                                                                         \
	OCI_MT_MANIFEST ", " OCI_MT_INDEX ", " DOCKER_MT_MANIFEST ", " DOCKER_MT_LIST

/* A registry's error response as one line: "CODE: message", else the status. */
static int reg_error(struct registry *r, const struct http_resp *resp, const char *what)
{
	json_t *j = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	int err = resp->status == 404 ? ENOENT : resp->status == 401 || resp->status == 403 ? EACCES : EIO;
	if ((code || msg) && resp->status == 401 && !r->user)
		shale_err(err, "%s: %s%s%s (run 'shale login %s')", what, code ? code : "",
			  code && msg ? ": " : "", msg ? msg : "", r->host);
	else if (code || msg)
		shale_err(err, "%s: %s%s%s", what, code ? code : "", code && msg ? ": " : "",
			  msg ? msg : "");
	else if (resp->status == 401 && !r->user)
		shale_err(err, "%s: unauthorized: authentication required (run 'shale login %s')", what,
			  r->host);
	else if (resp->status == 401 || resp->status == 403)
		shale_err(err, "%s: denied: no access to %s/%s for %s", what, r->host, r->repo, r->user);
	else
		shale_err(err, "%s: %s answered HTTP %ld", what, r->host, resp->status);
	json_decref(j);
	return -1;
}

static char *url(struct registry *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *url(struct registry *r, const char *fmt, ...)
{
	char path[1024], *u = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	if (asprintf(&u, "%s%s", r->base, path) < 0)
		return NULL;
	return u;
}

/* Where an upload goes next: Location may be a path or a full URL. */
static char *resolve(struct registry *r, const char *loc)
{
	char *u = NULL;
	if (!strncmp(loc, "http://", 7) || !strncmp(loc, "https://", 8))
		return strdup(loc);
	if (asprintf(&u, "%s%s%s", r->base, loc[0] == '/' ? "" : "/", loc) < 0)
		return NULL;
	return u;
}

/* Get a bearer token from the realm the challenge names. */
static int get_token(struct registry *r, const struct auth_challenge *ch)
{
	struct http_req q;
	struct http_resp resp;
	char scope[1100], *u = NULL;
	if (ch->scope[0])
		snprintf(scope, sizeof scope, "%s", ch->scope);
	else if (r->repo[0])
		snprintf(scope, sizeof scope, "repository:%s:%s", r->repo, r->push ? "pull,push" : "pull");
	else
		scope[0] = 0;
	char *svc = http_escape(&r->http, ch->service), *sc = http_escape(&r->http, scope);
	int n = asprintf(&u, "%s%sservice=%s%s%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
			 svc ? svc : "", scope[0] ? "&scope=" : "", scope[0] ? sc : "");
	free(svc);
	free(sc);
	if (n < 0)
		return shale_err(ENOMEM, "out of memory");
	char *basic = r->user ? auth_basic_header(r->user, r->pass) : NULL;
	http_req_init(&q, "GET", u, 1 << 20);
	q.authorization = basic;
	int ret = http_do(&r->http, &q, &resp);
	free(basic);
	free(u);
	if (ret < 0)
		return shale_err_prefix("authentication at %s", ch->realm);
	if (resp.status == 401 || resp.status == 403) {
		http_resp_free(&resp);
		return shale_err(EACCES, "%s: unauthorized: %s", r->host,
				 r->user ? "incorrect username or password"
					 : "authentication required (run 'shale login')");
	}
	if (resp.status != 200) {
		reg_error(r, &resp, "authentication");
		http_resp_free(&resp);
		return -1;
	}
	json_t *j = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, NULL);
	const char *tok = json_string_value(json_object_get(j, "token"));
	if (!tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (!tok) {
		json_decref(j);
		http_resp_free(&resp);
		return shale_err(EACCES, "%s: the token server gave no token", ch->realm);
	}
	free(r->authz);
	if (asprintf(&r->authz, "Bearer %s", tok) < 0)
		r->authz = NULL;
	json_decref(j);
	http_resp_free(&resp);
	return 0;
}

static int authenticate(struct registry *r, const char *challenge)
{
	struct auth_challenge ch;
	if (!challenge)
		return shale_err(EACCES, "%s: unauthorized, without a challenge", r->host);
	if (auth_parse_challenge(challenge, strlen(challenge), &ch) < 0)
		return shale_err_prefix("%s", r->host);
	if (ch.scheme == AUTH_BASIC) {
		if (!r->user)
			return shale_err(EACCES, "%s: unauthorized: authentication required (run 'shale "
						 "login %s')",
					 r->host, r->host);
		free(r->authz);
		r->authz = auth_basic_header(r->user, r->pass);
		return 0;
	}
	return get_token(r, &ch);
}

/* A request with our credentials; on 401, authenticate as challenged and retry once. */
static int call(struct registry *r, struct http_req *q, struct http_resp *resp)
{
	for (int attempt = 0;; attempt++) {
		q->authorization = r->authz;
		int rc = http_do(&r->http, q, resp);
		r->bytes_in += resp->received;
		r->bytes_out += resp->sent;
		if (rc < 0) {
			/* keep what callers look at after a failure, free the rest */
			struct http_resp keep = {.curl_code = resp->curl_code,
						 .received = resp->received,
						 .sent = resp->sent,
						 .status = resp->status,
						 .too_big = resp->too_big};
			http_resp_free(resp);
			*resp = keep;
			return -1;
		}
		if (resp->status != 401 || attempt > 0)
			return 0;
		char *ch = resp->www_auth ? strdup(resp->www_auth) : NULL;
		http_resp_free(resp);
		int a = authenticate(r, ch);
		free(ch);
		if (a < 0)
			return -1;
	}
}

static int ping(struct registry *r)
{
	struct http_req q;
	struct http_resp resp;
	char *u = url(r, "/v2/");
	http_req_init(&q, "GET", u, 1 << 16);
	int ret = call(r, &q, &resp);
	free(u);
	if (ret < 0) {
		shale_err_prefix("%s", r->host);
		return http_tls_error(&resp) ? -2 : -1;
	}
	if (resp.status == 401) {
		ret = shale_err(EACCES, "%s: unauthorized: %s", r->host,
				r->user ? "incorrect username or password" : "authentication required");
	} else if (resp.status != 200) {
		reg_error(r, &resp, r->host);
		ret = shale_err_prefix("not a registry (GET /v2/)");
	}
	http_resp_free(&resp);
	return ret;
}

int registry_open(struct registry *r, const char *root, const char *cred_host, const char *host,
		  const char *repo, bool insecure, bool push, const char *user, const char *pass)
{
	memset(r, 0, sizeof *r);
	snprintf(r->host, sizeof r->host, "%s", host);
	snprintf(r->repo, sizeof r->repo, "%s", repo);
	r->push = push;
	if (user) {
		r->user = strdup(user);
		r->pass = strdup(pass ? pass : "");
	} else if (auth_get(root, cred_host, &r->user, &r->pass) < 0) {
		return -1;
	}
	if (http_init(&r->http, insecure) < 0)
		return -1;
	snprintf(r->base, sizeof r->base, "https://%s", host);
	int p = ping(r);
	if (p == -2 && insecure) {
		/* --insecure: a registry without TLS */
		snprintf(r->base, sizeof r->base, "http://%s", host);
		free(r->authz);
		r->authz = NULL;
		p = ping(r);
	}
	if (p < 0) {
		if (p == -2 && !insecure) {
			char msg[1024];
			snprintf(msg, sizeof msg, "%s", shale_errmsg());
			shale_err(EIO, "%s (use --insecure for a registry without TLS)", msg);
		}
		registry_close(r);
		return -1;
	}
	return 0;
}

void registry_close(struct registry *r)
{
	http_cleanup(&r->http);
	if (r->pass)
		explicit_bzero(r->pass, strlen(r->pass));
	free(r->user);
	free(r->pass);
	free(r->authz);
	r->user = r->pass = r->authz = NULL;
}

int registry_get_manifest(struct registry *r, const char *ref, char **buf, size_t *len,
			  char **media_type, char digest[OCI_DIGEST_LEN])
{
	struct http_req q;
	struct http_resp resp;
	char *u = url(r, "/v2/%s/manifests/%s", r->repo, ref);
	http_req_init(&q, "GET", u, OCI_MANIFEST_MAX);
	q.accept = MANIFEST_ACCEPT;
	int ret = call(r, &q, &resp);
	free(u);
	if (ret < 0)
		return -1;
	if (resp.status != 200) {
		char what[600];
		snprintf(what, sizeof what, "manifest for %s/%s%s%s not found", r->host, r->repo,
			 ref[0] == 's' && strchr(ref, ':') ? "@" : ":", ref);
		if (resp.status == 404)
			ret = reg_error(r, &resp, what);
		else
			ret = reg_error(r, &resp, "manifest");
		http_resp_free(&resp);
		return ret;
	}
	*buf = resp.body ? resp.body : strdup("");
	*len = resp.body_len;
	resp.body = NULL;
	*media_type = resp.content_type ? strdup(resp.content_type) : NULL;
	digest[0] = 0;
	if (resp.digest && oci_digest_valid(resp.digest))
		snprintf(digest, OCI_DIGEST_LEN, "%s", resp.digest);
	http_resp_free(&resp);
	return 0;
}

int registry_put_manifest(struct registry *r, const char *tag, const char *media_type,
			  const char *buf, size_t len, char digest[OCI_DIGEST_LEN])
{
	struct http_req q;
	struct http_resp resp;
	char *u = url(r, "/v2/%s/manifests/%s", r->repo, tag);
	http_req_init(&q, "PUT", u, 1 << 16);
	q.content_type = media_type;
	q.body = buf;
	q.body_len = len;
	int ret = call(r, &q, &resp);
	free(u);
	if (ret < 0)
		return -1;
	if (resp.status != 201 && resp.status != 200)
		ret = reg_error(r, &resp, "put manifest");
	digest[0] = 0;
	if (ret == 0 && resp.digest && oci_digest_valid(resp.digest))
		snprintf(digest, OCI_DIGEST_LEN, "%s", resp.digest);
	http_resp_free(&resp);
	return ret;
}

int registry_get_blob(struct registry *r, const char *digest, int64_t size, size_t max, char **buf,
		      size_t *len)
{
	struct http_req q;
	struct http_resp resp;
	char *u = url(r, "/v2/%s/blobs/%s", r->repo, digest);
	http_req_init(&q, "GET", u, max);
	q.follow = true;
	int ret = call(r, &q, &resp);
	free(u);
	if (ret < 0)
		return shale_err_prefix("blob %s", digest);
	if (resp.status != 200) {
		ret = reg_error(r, &resp, digest);
		http_resp_free(&resp);
		return ret;
	}
	char got[OCI_DIGEST_LEN];
	oci_sha256_buf(resp.body ? resp.body : "", resp.body_len, got);
	if (strcmp(got, digest) || (size >= 0 && (uint64_t)size != resp.body_len)) {
		http_resp_free(&resp);
		return shale_err(EINVAL, "blob %s: digest mismatch: the registry sent %s", digest, got);
	}
	*buf = resp.body ? resp.body : strdup("");
	*len = resp.body_len;
	resp.body = NULL;
	http_resp_free(&resp);
	return 0;
}

/* Check a complete download and move it into place. */
static int finish_blob(int fd, const char *digest, int64_t size, const char *final,
		       const char *partial)
{
	char got[OCI_DIGEST_LEN];
	uint64_t n;
	if (lseek(fd, 0, SEEK_SET) < 0 || oci_sha256_fd(fd, got, &n) < 0)
		return -1;
	if (strcmp(got, digest) || (size >= 0 && (uint64_t)size != n)) {
		unlink(partial); /* never resume from bad bytes */
		return shale_err(EINVAL, "blob %s: digest mismatch: the registry sent %s (%llu bytes)",
				 digest, got, (unsigned long long)n);
	}
	/* No fsync: a blob is hashed again as it is imported, so damage after a crash
	 * is found there, not trusted. */
	if (rename(partial, final) < 0)
		return shale_err(errno, "%s: %s", final, strerror(errno));
	SHALE_CRASH_POINT("blob committed");
	return 0;
}

int registry_fetch_blob(struct registry *r, const char *digest, int64_t size, const char *final,
			const char *partial, oci_bytes_fn progress, void *ctx, uint64_t *fetched)
{
	*fetched = 0;
	int fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return shale_err(errno, "%s: %s", partial, strerror(errno));
	/* Another shale fetching the same blob: wait for it, then use its result. */
	if (flock(fd, LOCK_EX) < 0) {
		int e = errno;
		close(fd);
		return shale_err(e, "%s: %s", partial, strerror(e));
	}
	int ret = -1;
	if (access(final, F_OK) == 0) {
		ret = 0;
		goto out;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		struct stat st;
		if (fstat(fd, &st) < 0) {
			shale_err(errno, "%s: %s", partial, strerror(errno));
			goto out;
		}
		uint64_t have = (uint64_t)st.st_size;
		if (size >= 0 && have > (uint64_t)size) {
			if (ftruncate(fd, 0) < 0)
				goto out;
			have = 0;
		}
		if (size >= 0 && have == (uint64_t)size && have > 0) {
			ret = finish_blob(fd, digest, size, final, partial);
			goto out;
		}
		struct http_req q;
		struct http_resp resp;
		char range[64], *u = url(r, "/v2/%s/blobs/%s", r->repo, digest);
		http_req_init(&q, "GET", u, 0);
		q.follow = true;
		q.out_fd = fd;
		q.out_off = have;
		q.out_max = size; /* a registry that sends more is cut off (-1: size unknown) */
		if (have) {
			snprintf(range, sizeof range, "bytes=%llu-", (unsigned long long)have);
			q.range = range;
		}
		q.progress = progress;
		q.pctx = ctx;
		q.progress_base = have;
		q.progress_total = size >= 0 ? (uint64_t)size : 0;
		int rc = call(r, &q, &resp);
		free(u);
		*fetched += resp.received;
		if (resp.status == 200 && have) {
			/* the registry ignored Range and sent it all (from offset 0) */
			if (ftruncate(fd, (off_t)resp.received) < 0)
				rc = -1;
			have = 0;
		}
		if (rc < 0 && resp.too_big && (resp.status == 200 || resp.status == 206)) {
			/* longer than the manifest says: never resume from those bytes */
			http_resp_free(&resp);
			unlink(partial);
			shale_err_prefix("blob %s: the registry sent more than its %lld bytes", digest,
					 (long long)size);
			goto out;
		}
		if (rc < 0) { /* what came stays in the partial file, for the next attempt */
			uint64_t now = have + resp.received;
			http_resp_free(&resp);
			shale_err_prefix("blob %s (%llu of %lld bytes downloaded; run the command again "
					 "to resume)",
					 digest, (unsigned long long)now, (long long)size);
			goto out;
		}
		bool range_ok = resp.content_range && !strncmp(resp.content_range, "bytes ", 6) &&
				strtoull(resp.content_range + 6, NULL, 10) == have;
		if (resp.status == 416 || (resp.status == 206 && !range_ok)) {
			/* our partial file does not match what the registry has: start over */
			http_resp_free(&resp);
			if (ftruncate(fd, 0) < 0)
				goto out;
			continue;
		}
		if (resp.status != 200 && resp.status != 206) {
			reg_error(r, &resp, digest);
			http_resp_free(&resp);
			goto out;
		}
		http_resp_free(&resp);
		ret = finish_blob(fd, digest, size, final, partial);
		goto out;
	}
	shale_err(EIO, "blob %s: the registry does not serve byte ranges consistently", digest);
out:
	close(fd); /* releases the lock */
	return ret;
}

int registry_has_blob(struct registry *r, const char *digest)
{
	struct http_req q;
	struct http_resp resp;
	char *u = url(r, "/v2/%s/blobs/%s", r->repo, digest);
	http_req_init(&q, "HEAD", u, 0);
	q.follow = true;
	int ret = call(r, &q, &resp);
	free(u);
	if (ret < 0)
		return -1;
	if (resp.status == 200)
		ret = 1;
	else if (resp.status == 404)
		ret = 0;
	else
		ret = reg_error(r, &resp, digest);
	http_resp_free(&resp);
	return ret;
}

/* Start an upload (optionally as a mount); *location set on 202. */
static int start_upload(struct registry *r, const char *digest, const char *from, char **location,
			bool *mounted)
{
	struct http_req q;
	struct http_resp resp;
	char *u;
	*location = NULL;
	*mounted = false;
	if (from) {
		char *d = http_escape(&r->http, digest), *f = http_escape(&r->http, from);
		u = url(r, "/v2/%s/blobs/uploads/?mount=%s&from=%s", r->repo, d, f);
		free(d);
		free(f);
	} else {
		u = url(r, "/v2/%s/blobs/uploads/", r->repo);
	}
	http_req_init(&q, "POST", u, 1 << 16);
	int ret = call(r, &q, &resp);
	free(u);
	if (ret < 0)
		return -1;
	if (resp.status == 201 && from) {
		*mounted = true;
	} else if (resp.status == 202 && resp.location) {
		*location = resolve(r, resp.location);
	} else {
		ret = reg_error(r, &resp, "start upload");
	}
	http_resp_free(&resp);
	return ret;
}

int registry_mount_blob(struct registry *r, const char *digest, const char *from_repo)
{
	char *loc;
	bool mounted;
	if (start_upload(r, digest, from_repo, &loc, &mounted) < 0)
		return -1;
	if (loc) { /* not mounted: drop the upload the registry started instead */
		struct http_req q;
		struct http_resp resp;
		http_req_init(&q, "DELETE", loc, 1 << 16);
		q.method = "DELETE";
		if (call(r, &q, &resp) == 0)
			http_resp_free(&resp);
		free(loc);
	}
	return mounted ? 1 : 0;
}

int registry_upload_blob(struct registry *r, const char *digest, uint64_t size, int fd,
			 const void *buf, uint64_t chunk, oci_bytes_fn progress, void *ctx)
{
	char *loc;
	bool mounted;
	if (start_upload(r, digest, NULL, &loc, &mounted) < 0)
		return shale_err_prefix("upload %s", digest);
	int ret = 0;
	if (!chunk)
		chunk = 16u << 20;
	for (uint64_t off = 0; off < size && ret == 0;) {
		uint64_t n = size - off < chunk ? size - off : chunk;
		struct http_req q;
		struct http_resp resp;
		char cr[64];
		snprintf(cr, sizeof cr, "%llu-%llu", (unsigned long long)off,
			 (unsigned long long)(off + n - 1));
		http_req_init(&q, "PATCH", loc, 1 << 16);
		q.content_range = cr;
		if (fd >= 0) {
			q.body_fd = fd;
			q.body_off = off;
			q.body_size = n;
		} else {
			q.body = (const char *)buf + off;
			q.body_len = (size_t)n;
		}
		q.progress = progress;
		q.pctx = ctx;
		q.progress_base = off;
		q.progress_total = size;
		ret = call(r, &q, &resp);
		if (ret == 0 && resp.status != 202)
			ret = reg_error(r, &resp, "upload chunk");
		if (ret == 0 && resp.location) {
			free(loc);
			loc = resolve(r, resp.location);
		}
		http_resp_free(&resp);
		off += n;
	}
	if (ret == 0) {
		char *d = http_escape(&r->http, digest), *u = NULL;
		if (asprintf(&u, "%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", d) < 0)
			u = NULL;
		free(d);
		struct http_req q;
		struct http_resp resp;
		http_req_init(&q, "PUT", u, 1 << 16);
		q.body = "";
		q.body_len = 0;
		ret = call(r, &q, &resp);
		if (ret == 0 && resp.status != 201)
			ret = reg_error(r, &resp, "finish upload");
		http_resp_free(&resp);
		free(u);
	}
	free(loc);
	return ret < 0 ? shale_err_prefix("upload %s", digest) : 0;
}
