/* The session's device I/O, ours rather than libfuse's (a custom io: plain
 * read and writev), for what libfuse 3.14 cannot do:
 *  - ask for FUSE_HANDLE_KILLPRIV_V2 (killpriv.c), amending the INIT reply
 *    when the kernel offers it, and note each request's kill flag, which
 *    libfuse drops, for the worker thread that reads it (a worker handles
 *    what it reads);
 *  - act once the kernel has taken the INIT reply (super.c: settings the
 *    kernel would otherwise reset while processing it). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/* From Linux's uapi fuse.h; bookworm's libfuse headers are older. */
enum {
	OP_OPEN = 14,
	OP_WRITE = 16,
	OP_INIT = 26,
	OP_CREATE = 35,
};
#define INIT_HANDLE_KILLPRIV_V2 (1u << 28)
#define WRITE_KILL_SUIDGID (1u << 2)  /* fuse_write_in.write_flags */
#define OPEN_KILL_SUIDGID (1u << 0)   /* fuse_open_in / fuse_create_in.open_flags */
#define IN_HEADER 40                  /* sizeof(struct fuse_in_header) */
#define OUT_HEADER 16                 /* sizeof(struct fuse_out_header) */
#define INIT_IN_FLAGS (IN_HEADER + 12) /* fuse_init_in.flags */
#define INIT_OUT_FLAGS 12             /* fuse_init_out.flags */
#define OPEN_IN_OPEN_FLAGS (IN_HEADER + 4)
#define CREATE_IN_OPEN_FLAGS (IN_HEADER + 12)
#define WRITE_IN_WRITE_FLAGS (IN_HEADER + 20)

static _Thread_local bool req_kill; /* the request this thread read says so */

static uint32_t get32(const void *buf, size_t off)
{
	uint32_t v;
	memcpy(&v, (const char *)buf + off, 4);
	return v;
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fs *fs = userdata;
	ssize_t r = read(fd, buf, len);
	req_kill = false;
	if (r < IN_HEADER)
		return r;
	size_t n = (size_t)r;
	switch (get32(buf, 4)) {
	case OP_WRITE:
		req_kill = n >= WRITE_IN_WRITE_FLAGS + 4 &&
			   (get32(buf, WRITE_IN_WRITE_FLAGS) & WRITE_KILL_SUIDGID);
		break;
	case OP_OPEN:
		req_kill = n >= OPEN_IN_OPEN_FLAGS + 4 &&
			   (get32(buf, OPEN_IN_OPEN_FLAGS) & OPEN_KILL_SUIDGID);
		break;
	case OP_CREATE:
		req_kill = n >= CREATE_IN_OPEN_FLAGS + 4 &&
			   (get32(buf, CREATE_IN_OPEN_FLAGS) & OPEN_KILL_SUIDGID);
		break;
	case OP_INIT:
		memcpy(&fs->init_unique, (char *)buf + 8, 8);
		if (fs->killpriv == KILLPRIV_WANT && n >= INIT_IN_FLAGS + 4 &&
		    (get32(buf, INIT_IN_FLAGS) & INIT_HANDLE_KILLPRIV_V2))
			fs->killpriv = KILLPRIV_OFFERED;
		__atomic_store_n(&fs->init_pending, true, __ATOMIC_RELEASE);
		break;
	}
	return r;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fs *fs = userdata;
	bool init = false;
	if (__atomic_load_n(&fs->init_pending, __ATOMIC_ACQUIRE) && count >= 2 &&
	    iov[0].iov_len == OUT_HEADER) {
		uint64_t unique;
		int32_t error;
		memcpy(&error, (char *)iov[0].iov_base + 4, 4);
		memcpy(&unique, (char *)iov[0].iov_base + 8, 8);
		if (unique == fs->init_unique) {
			init = error == 0;
			if (init && fs->killpriv == KILLPRIV_OFFERED &&
			    iov[1].iov_len >= INIT_OUT_FLAGS + 4) {
				uint32_t flags = get32(iov[1].iov_base, INIT_OUT_FLAGS) |
						 INIT_HANDLE_KILLPRIV_V2;
				memcpy((char *)iov[1].iov_base + INIT_OUT_FLAGS, &flags, 4);
			}
			__atomic_store_n(&fs->init_pending, false, __ATOMIC_RELEASE);
		}
	}
	ssize_t r = writev(fd, iov, count);
	if (init) {
		int e = errno;
		/* the kernel has processed the reply by now (within this write) */
		__atomic_store_n(&fs->killpriv,
				 r > 0 && fs->killpriv == KILLPRIV_OFFERED ? KILLPRIV_ON : KILLPRIV_OFF,
				 __ATOMIC_RELEASE);
		if (r > 0)
			mount_after_init(fs);
		errno = e;
	}
	return r;
}

int devio_setup(struct fs *fs, bool killpriv)
{
	/* no splice_receive: requests must pass through io_read (libfuse then
	 * reads them into memory, as it does for us anyway); no splice_send:
	 * replies are copied (file.c: reply_pieces) */
	static const struct fuse_custom_io io = {
		.read = io_read,
		.writev = io_writev,
	};
	fs->killpriv = killpriv ? KILLPRIV_WANT : KILLPRIV_OFF;
	int r = fuse_session_custom_io(fs->se, &io, fuse_session_fd(fs->se));
	if (r < 0)
		fs->killpriv = KILLPRIV_OFF;
	return r;
}

bool req_kill_suidgid(void)
{
	return req_kill;
}
