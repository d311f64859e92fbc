/* Per-thread error message and code: the store reports, the tools print. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

static _Thread_local char errmsg[1024];
static _Thread_local int errcode;

const char *shale_errmsg(void)
{
	return errmsg[0] ? errmsg : "unknown error";
}

int shale_errcode(void)
{
	return errcode;
}

int shale_err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	errcode = code ? code : EIO;
	return -1;
}

int shale_err_prefix(const char *fmt, ...)
{
	char prefix[512], old[sizeof errmsg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, errmsg, sizeof old);
	size_t n = strlen(prefix);
	if (n > sizeof errmsg - 3)
		n = sizeof errmsg - 3;
	memcpy(errmsg, prefix, n);
	memcpy(errmsg + n, ": ", 2);
	size_t room = sizeof errmsg - n - 3, ol = strlen(old);
	if (ol > room)
		ol = room;
	memcpy(errmsg + n + 2, old, ol);
	errmsg[n + 2 + ol] = 0;
	return -1;
}
