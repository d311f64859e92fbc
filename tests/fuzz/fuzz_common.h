/* Shared by the fuzz targets: an invariant check that aborts (libFuzzer then saves
 * the input as crash-*), and the one-line error rule. */
#ifndef SHALE_FUZZ_COMMON_H
#define SHALE_FUZZ_COMMON_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                              \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, \
				#cond);                                                    \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* Errors are one non-empty line. */
#define FUZZ_CHECK_ERR(msg)                                                                \
	FUZZ_CHECK((msg) && *(msg) && !strchr((msg), '\n'), "error message '%s'",            \
		   (msg) ? (msg) : "(null)")

/* The input as a NUL-terminated string (inputs with a NUL are cut there). */
static inline char *fuzz_strndup(const unsigned char *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}
#endif
