/* libcurl, loaded when the registry is first used. Linking it would cost
 * every shale command its start-up (libcurl and its 30 libraries load in about
 * 12 ms here), for the few verbs that talk to a registry. Include this instead
 * of <curl/curl.h>: the curl_* calls below go through the loaded library. */
#ifndef SHALE_CURL_LIB_H
#define SHALE_CURL_LIB_H

#include <curl/curl.h>

struct curl_lib {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *h);
	void (*easy_reset)(CURL *h);
	CURLcode (*easy_setopt)(CURL *h, CURLoption o, ...);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO i, ...);
	CURLcode (*easy_perform)(CURL *h);
	const char *(*easy_strerror)(CURLcode c);
	char *(*easy_escape)(CURL *h, const char *s, int len);
	void (*free)(void *p);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

/* The library (loaded once). If it cannot be loaded, the calls fail with
 * CURLE_FAILED_INIT / NULL, and curl_lib_error() says why. */
const struct curl_lib *curl_lib(void);
const char *curl_lib_error(void);

#define curl_global_init (curl_lib()->global_init)
#define curl_easy_init (curl_lib()->easy_init)
#define curl_easy_cleanup (curl_lib()->easy_cleanup)
#define curl_easy_reset (curl_lib()->easy_reset)
#undef curl_easy_setopt
#define curl_easy_setopt (curl_lib()->easy_setopt)
#undef curl_easy_getinfo
#define curl_easy_getinfo (curl_lib()->easy_getinfo)
#define curl_easy_perform (curl_lib()->easy_perform)
#define curl_easy_strerror (curl_lib()->easy_strerror)
#define curl_easy_escape (curl_lib()->easy_escape)
#define curl_free (curl_lib()->free)
#define curl_slist_append (curl_lib()->slist_append)
#define curl_slist_free_all (curl_lib()->slist_free_all)

#endif
