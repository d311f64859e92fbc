/* Loading libcurl on first use (see curl_lib.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "curl_lib.h"

static struct curl_lib lib;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char error[256];

/* stand-ins when the library is missing: every call fails cleanly */
static CURLcode no_init(long f) { (void)f; return CURLE_FAILED_INIT; }
static CURL *no_easy(void) { return NULL; }
static void no_handle(CURL *h) { (void)h; }
static CURLcode no_opt(CURL *h, CURLoption o, ...) { (void)h; (void)o; return CURLE_FAILED_INIT; }
static CURLcode no_info(CURL *h, CURLINFO i, ...) { (void)h; (void)i; return CURLE_FAILED_INIT; }
static CURLcode no_perform(CURL *h) { (void)h; return CURLE_FAILED_INIT; }
static const char *no_strerror(CURLcode c) { (void)c; return error; }
static char *no_escape(CURL *h, const char *s, int l) { (void)h; (void)s; (void)l; return NULL; }
static void no_free(void *p) { (void)p; }
static struct curl_slist *no_append(struct curl_slist *l, const char *s) { (void)s; return l; }
static void no_free_all(struct curl_slist *l) { (void)l; }

static void load(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	struct curl_lib l = {0};
	if (h) {
		*(void **)&l.global_init = dlsym(h, "curl_global_init");
		*(void **)&l.easy_init = dlsym(h, "curl_easy_init");
		*(void **)&l.easy_cleanup = dlsym(h, "curl_easy_cleanup");
		*(void **)&l.easy_reset = dlsym(h, "curl_easy_reset");
		*(void **)&l.easy_setopt = dlsym(h, "curl_easy_setopt");
		*(void **)&l.easy_getinfo = dlsym(h, "curl_easy_getinfo");
		*(void **)&l.easy_perform = dlsym(h, "curl_easy_perform");
		*(void **)&l.easy_strerror = dlsym(h, "curl_easy_strerror");
		*(void **)&l.easy_escape = dlsym(h, "curl_easy_escape");
		*(void **)&l.free = dlsym(h, "curl_free");
		*(void **)&l.slist_append = dlsym(h, "curl_slist_append");
		*(void **)&l.slist_free_all = dlsym(h, "curl_slist_free_all");
	}
	if (h && l.global_init && l.easy_init && l.easy_cleanup && l.easy_reset && l.easy_setopt &&
	    l.easy_getinfo && l.easy_perform && l.easy_strerror && l.easy_escape && l.free &&
	    l.slist_append && l.slist_free_all) {
		lib = l;
		return;
	}
	snprintf(error, sizeof error, "cannot load libcurl.so.4 (install libcurl4): %s",
		 h ? "symbols missing" : dlerror());
	lib = (struct curl_lib){no_init, no_easy, no_handle, no_handle, no_opt, no_info,
				     no_perform, no_strerror, no_escape, no_free, no_append, no_free_all};
}

const struct curl_lib *curl_lib(void)
{
	pthread_once(&once, load);
	return &lib;
}

const char *curl_lib_error(void)
{
	return error;
}
