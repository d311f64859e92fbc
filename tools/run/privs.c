/* Become the container's user. Root in the container keeps only Docker's default
 * capabilities, so that it cannot, say, mount the host's disks or load modules; any
 * other user ends up with none, as setuid() clears them. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"

#define CAPBIT(c) (UINT64_C(1) << (c))
static const uint64_t default_caps =
	CAPBIT(CAP_CHOWN) | CAPBIT(CAP_DAC_OVERRIDE) | CAPBIT(CAP_FSETID) | CAPBIT(CAP_FOWNER) |
	CAPBIT(CAP_MKNOD) | CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_SETGID) | CAPBIT(CAP_SETUID) |
	CAPBIT(CAP_SETFCAP) | CAPBIT(CAP_SETPCAP) | CAPBIT(CAP_NET_BIND_SERVICE) |
	CAPBIT(CAP_SYS_CHROOT) | CAPBIT(CAP_KILL) | CAPBIT(CAP_AUDIT_WRITE);

int privs_drop(const struct run_user *u, char *err, size_t errlen)
{
	/* The bounding set first: dropping needs CAP_SETPCAP. PR_CAPBSET_READ fails past
	 * the kernel's last capability. */
	for (int cap = 0; cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
		if (!(default_caps & CAPBIT(cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			run_err(err, errlen, "drop capability %d: %s", cap, strerror(errno));
			return -1;
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (setgroups(u->ngroups, u->groups) < 0) {
		run_err(err, errlen, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setgid(u->gid) < 0) {
		run_err(err, errlen, "setgid %u: %s", (unsigned)u->gid, strerror(errno));
		return -1;
	}
	if (setuid(u->uid) < 0) {
		run_err(err, errlen, "setuid %u: %s", (unsigned)u->uid, strerror(errno));
		return -1;
	}
	if (u->uid != 0)
		return 0;
	/* Root: effective and permitted down to the default set, inheritable empty
	 * (as Docker since CVE-2022-24769). */
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	for (int i = 0; i < 2; i++)
		data[i].effective = data[i].permitted = (uint32_t)(default_caps >> (32 * i));
	if (syscall(SYS_capset, &hdr, data) < 0) {
		run_err(err, errlen, "capset: %s", strerror(errno));
		return -1;
	}
	return 0;
}
