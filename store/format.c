/* Docker's human-readable sizes and ages, shared by the tools. */
#include <stdio.h>
#include <time.h>

#include "store.h"

void shale_human_size(uint64_t bytes, char *out, size_t len)
{
	/* go-units HumanSize with 3 significant digits, decimal units */
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	double v = (double)bytes;
	int i = 0;
	while (v >= 1000 && i < 6) {
		v /= 1000;
		i++;
	}
	snprintf(out, len, "%.3g%s", v, units[i]);
}

void shale_human_duration(int64_t d, char *out, size_t len)
{
	if (d < 1)
		snprintf(out, len, "Less than a second");
	else if (d < 60)
		snprintf(out, len, "%lld seconds", (long long)d);
	else if (d < 120)
		snprintf(out, len, "About a minute");
	else if (d < 3600)
		snprintf(out, len, "%lld minutes", (long long)(d / 60));
	else if (d < 7200)
		snprintf(out, len, "About an hour");
	else if (d < 48 * 3600)
		snprintf(out, len, "%lld hours", (long long)(d / 3600));
	else if (d < 14 * 86400)
		snprintf(out, len, "%lld days", (long long)(d / 86400));
	else if (d < 60 * 86400)
		snprintf(out, len, "%lld weeks", (long long)(d / (7 * 86400)));
	else if (d < 2 * 365 * 86400)
		snprintf(out, len, "%lld months", (long long)(d / (30 * 86400)));
	else
		snprintf(out, len, "%lld years", (long long)(d / (365 * 86400)));
}

void shale_human_age(int64_t then, char *out, size_t len)
{
	if (then <= 0) {
		snprintf(out, len, "N/A");
		return;
	}
	char d[48];
	shale_human_duration((int64_t)time(NULL) - then, d, sizeof d);
	snprintf(out, len, "%s ago", d);
}
