/* The control socket: the container's processes report setup and exec errors, and
 * pass the pty's master, to the caller. A SOCK_SEQPACKET socket keeps messages whole;
 * the container's end is close-on-exec, so the caller sees its end close when the
 * command has been executed (or everything died). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime.h"

void run_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void ctl_error(int fd, int code, const char *fmt, ...)
{
	struct ctl_msg m = {.kind = CTL_ERROR, .code = code};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof m.text, fmt, ap);
	va_end(ap);
	while (send(fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

int ctl_send_fd(int fd, int kind, int passfd)
{
	struct ctl_msg m = {.kind = kind};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct iovec iov = {&m, sizeof m};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof u.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	ssize_t n;
	while ((n = sendmsg(fd, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return n == (ssize_t)sizeof m ? 0 : -1;
}

int ctl_recv(int fd, struct ctl_msg *m, int *passfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {m, sizeof *m};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof u.buf};
	*passfd = -1;
	ssize_t n;
	while ((n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return errno == EAGAIN ? -1 : 0;
	if (n == 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(passfd, CMSG_DATA(c), sizeof(int));
	if (n != (ssize_t)sizeof *m) { /* not ours: ignore it */
		if (*passfd >= 0)
			close(*passfd);
		*passfd = -1;
		return -1;
	}
	m->text[sizeof m->text - 1] = 0;
	return 1;
}
