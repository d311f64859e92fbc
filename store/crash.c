/* Fault injection for the crash tests (tests/integration/crash_*.sh), built
 * only with -DSHALE_FAULTS=ON. Every process of a test shares one counter of
 * crash points passed, a u64 in the file SHALE_CRASH_FILE (made and zeroed by
 * the test); the process that passes point number SHALE_CRASH_AT kills itself
 * with SIGKILL, as a power cut or the OOM killer would, after writing the
 * point's name to SHALE_CRASH_FILE.where. Without SHALE_CRASH_AT the points
 * are only counted, so a test learns how many an operation has. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint64_t *counter; /* shared by every process of the test */
static uint64_t crash_at;
static const char *where_file;

static void setup(void)
{
	const char *f = getenv("SHALE_CRASH_FILE"), *at = getenv("SHALE_CRASH_AT");
	if (!f || !*f)
		return;
	int fd = open(f, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	void *p = mmap(NULL, sizeof *counter, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return;
	counter = p;
	crash_at = at ? strtoull(at, NULL, 10) : 0;
	static char wf[4096];
	snprintf(wf, sizeof wf, "%s.where", f);
	where_file = wf;
}

void shale_crash_point(const char *where)
{
	pthread_once(&once, setup);
	if (!counter)
		return;
	uint64_t n = __atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);
	if (!crash_at || n != crash_at)
		return;
	int fd = open(where_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		char line[160];
		int len = snprintf(line, sizeof line, "%llu %s pid %d\n", (unsigned long long)n, where,
				   (int)getpid());
		if (write(fd, line, (size_t)len) < 0) { /* nothing to do: we die anyway */
		}
		close(fd);
	}
	kill(getpid(), SIGKILL);
	pause();
}
