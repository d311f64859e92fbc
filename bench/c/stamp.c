/* stamp: print the realtime clock as SECONDS.NANOSECONDS. Linked statically so that it
 * runs in any image; `shale run IMAGE /stamp` tells when the command started (bench run). */
#include <stdio.h>
#include <time.h>

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    printf("%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
    return 0;
}
