/* -t on the caller's side: the host terminal in raw mode while the container runs (so
 * that Ctrl-C, arrows and the like reach the container's pty as bytes), the bytes
 * relayed between the host's stdin/stdout and the pty's master, window size changes
 * passed on. The master is non-blocking: a command that does not read its input must
 * not stop us from copying its output. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "runtime.h"

int tty_winsize(int fd, struct winsize *ws)
{
	return isatty(fd) && ioctl(fd, TIOCGWINSZ, ws) == 0 && ws->ws_row && ws->ws_col ? 0 : -1;
}

int tty_raw(struct relay *r, int fd)
{
	struct termios t;
	if (tcgetattr(fd, &t) < 0)
		return -1;
	r->saved = malloc(sizeof *r->saved);
	if (!r->saved)
		return -1;
	*r->saved = t;
	cfmakeraw(&t);
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		free(r->saved);
		r->saved = NULL;
		return -1;
	}
	r->raw_fd = fd;
	return 0;
}

void tty_restore(struct relay *r)
{
	if (r->raw_fd >= 0)
		tcsetattr(r->raw_fd, TCSADRAIN, r->saved);
	r->raw_fd = -1;
	free(r->saved);
	r->saved = NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) { /* someone made our stdout non-blocking */
			struct pollfd pf = {fd, POLLOUT, 0};
			poll(&pf, 1, -1);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int relay_from_master(struct relay *r)
{
	char buf[16384];
	ssize_t n = read(r->master, buf, sizeof buf); /* one read: signals wait for no one */
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) /* EIO: every slave fd is closed */
		return -1;
	write_all(r->out, buf, (size_t)n); /* if our stdout is gone, so is the output */
	return 0;
}

int relay_from_stdin(struct relay *r)
{
	ssize_t n = read(r->in, r->buf + r->len, sizeof r->buf - r->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1; /* end of input: the command keeps running, as with docker -it */
	r->len += (size_t)n;
	return relay_to_master(r);
}

int relay_to_master(struct relay *r)
{
	while (r->len) {
		ssize_t n = write(r->master, r->buf, r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			r->len = 0; /* the container is gone */
			return -1;
		}
		memmove(r->buf, r->buf + n, r->len - (size_t)n);
		r->len -= (size_t)n;
	}
	return 0;
}

void relay_drain(struct relay *r)
{
	/* Every process that held the slave is dead, so the master reads what is left
	 * and then EIO; the timeout only guards against a slave leaked somewhere. */
	for (;;) {
		struct pollfd pf = {r->master, POLLIN, 0};
		if (poll(&pf, 1, 1000) <= 0 || relay_from_master(r) < 0)
			return;
	}
}

void relay_winch(struct relay *r)
{
	struct winsize ws;
	if (tty_winsize(r->out, &ws) == 0 || tty_winsize(r->in, &ws) == 0)
		ioctl(r->master, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH inside */
}
