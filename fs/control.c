/* The mount's control socket: `shale commit` freezes a live mount so that it
 * reads a consistent upper. While frozen, operations that change the upper
 * wait (in-flight ones finish first); the freeze ends on "thaw" or when the
 * connection closes, so a killed committer never leaves a mount frozen.
 * Protocol, one line each way: "freeze" -> "frozen", then "thaw" -> "thawed". */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

void freeze_enter(struct fs *fs)
{
	if (fs->control_fd >= 0)
		pthread_rwlock_rdlock(&fs->freeze_lock);
}

void freeze_leave(struct fs *fs)
{
	if (fs->control_fd >= 0)
		pthread_rwlock_unlock(&fs->freeze_lock);
}

static ssize_t read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return r < 0 && errno == EINTR ? read_line(fd, buf, len) : -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return (ssize_t)n;
}

static void serve_client(struct fs *fs, int c)
{
	char line[64];
	while (read_line(c, line, sizeof line) >= 0) {
		if (strcmp(line, "freeze")) {
			dprintf(c, "error unknown command\n");
			continue;
		}
		pthread_rwlock_wrlock(&fs->freeze_lock);
		/* the upper is quiet: list the chunks copied up, and make what it
		 * holds durable for the reader; a reader of unlisted chunks would
		 * take the image's data for them, so no freeze without it */
		int err = partial_flush_all(fs);
		if (err) {
			pthread_rwlock_unlock(&fs->freeze_lock);
			dprintf(c, "error cannot write the copy-up markers in the upper: %s\n",
				strerror(err));
			continue;
		}
		syncfs(fs->upper_fd);
		dprintf(c, "frozen\n");
		read_line(c, line, sizeof line); /* "thaw", or the peer is gone */
		pthread_rwlock_unlock(&fs->freeze_lock);
		dprintf(c, "thawed\n");
	}
}

static void *control_thread(void *arg)
{
	struct fs *fs = arg;
	for (;;) {
		struct pollfd p[2] = {{fs->control_fd, POLLIN, 0}, {fs->control_stop[0], POLLIN, 0}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		int c = accept4(fs->control_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_client(fs, c);
		close(c);
	}
	return NULL;
}

int control_start(struct fs *fs, const char *path)
{
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	/* a waiting freeze stops new writers from starving it */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&fs->freeze_lock, &a);
	pthread_rwlockattr_destroy(&a);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return shale_err(ENAMETOOLONG, "control socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 4) < 0 || pipe2(fs->control_stop, O_CLOEXEC) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return shale_err(e, "control socket %s: %s", path, strerror(e));
	}
	fs->control_fd = fd;
	if (pthread_create(&fs->control_tid, NULL, control_thread, fs)) {
		close(fd);
		fs->control_fd = -1;
		return shale_err(EAGAIN, "cannot start the control thread");
	}
	return 0;
}

void control_stop(struct fs *fs, const char *path)
{
	if (fs->control_fd < 0)
		return;
	if (write(fs->control_stop[1], "x", 1) < 0) {
		/* the thread sees the pipe anyway when it closes below */
	}
	pthread_join(fs->control_tid, NULL);
	close(fs->control_fd);
	close(fs->control_stop[0]);
	close(fs->control_stop[1]);
	unlink(path);
	pthread_rwlock_destroy(&fs->freeze_lock);
}
