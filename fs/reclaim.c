/* Keeping the daemon's file descriptors bounded.
 *
 * Every inode the kernel holds keeps an O_PATH fd on its upper object (inode.c),
 * and the kernel forgets inodes only under memory pressure: extracting a tar of
 * 50,000 files into a mount would hold 50,000 fds, and once RLIMIT_NOFILE is
 * reached, creates and setattrs fail. So when the node table grows past a high
 * mark, a thread counts the nodes holding an fd and, above the mark, asks the
 * kernel to drop the dentries of idle ones (notify_inval_entry, as a network
 * filesystem does when a name changes behind it). The kernel then forgets those
 * inodes, which closes their fds; a later lookup simply opens the object again.
 * Idle means: no children and no open files (refs == 0). Notifications go out
 * from this thread, never from a request handler: the kernel takes the parent's
 * lock to process them, which a handler's own request may be holding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "internal.h"

#define RECLAIM_BATCH 4096

struct victim {
	fuse_ino_t parent;
	char *name;
};

/* Nodes holding an fd; up to `max` idle ones go to v. Table lock held. */
static size_t scan_locked(struct fs *fs, struct victim *v, size_t max, size_t *nv)
{
	size_t holding = 0;
	*nv = 0;
	for (size_t k = 0; k < fs->table_cap; k++) {
		size_t i = (fs->reclaim_cursor + k) % fs->table_cap;
		for (struct node *n = fs->table[i]; n; n = n->hnext) {
			if (__atomic_load_n(&n->ufd, __ATOMIC_ACQUIRE) < 0)
				continue;
			holding++;
			if (*nv < max && n != fs->root && n->parent && n->nlookup && !n->refs) {
				v[*nv].parent = node_id(fs, n->parent);
				v[*nv].name = strdup(n->name);
				if (v[*nv].name)
					(*nv)++;
				if (*nv == max)
					fs->reclaim_cursor = i + 1; /* the next pass starts elsewhere */
			}
		}
	}
	return holding;
}

static void *reclaimer(void *arg)
{
	struct fs *fs = arg;
	struct victim *v = calloc(RECLAIM_BATCH, sizeof *v);
	pthread_mutex_lock(&fs->table_mu);
	while (v && !fs->reclaim_quit) {
		if (fs->table_n <= fs->reclaim_trigger) {
			/* woken by a new node past the trigger, or every 2 s: a copy-up
			 * gives an existing node an fd without growing the table */
			struct timespec t;
			clock_gettime(CLOCK_REALTIME, &t);
			t.tv_sec += 2;
			if (pthread_cond_timedwait(&fs->reclaim_cv, &fs->table_mu, &t) == 0 ||
			    fs->table_n <= fs->reclaim_low)
				continue;
		}
		size_t nv, excess = 0;
		size_t holding = scan_locked(fs, v, RECLAIM_BATCH, &nv);
		if (holding > fs->reclaim_high) {
			excess = holding - fs->reclaim_low;
		} else {
			/* each new node adds at most one fd: nothing to do before this */
			fs->reclaim_trigger = fs->table_n + (fs->reclaim_high - holding);
			for (size_t i = 0; i < nv; i++)
				free(v[i].name);
			nv = 0;
		}
		pthread_mutex_unlock(&fs->table_mu);
		size_t sent = 0;
		for (size_t i = 0; i < nv; i++) {
			if (i < excess &&
			    fuse_lowlevel_notify_inval_entry(fs->se, v[i].parent, v[i].name,
							     strlen(v[i].name)) == 0)
				sent++;
			free(v[i].name);
		}
		pthread_mutex_lock(&fs->table_mu);
		if (!sent && !fs->reclaim_quit && holding > fs->reclaim_high) {
			/* all busy: wait for forgets or a second before trying again */
			struct timespec t;
			clock_gettime(CLOCK_REALTIME, &t);
			t.tv_sec += 1;
			pthread_cond_timedwait(&fs->reclaim_cv, &fs->table_mu, &t);
		}
	}
	pthread_mutex_unlock(&fs->table_mu);
	free(v);
	return NULL;
}

void reclaim_start(struct fs *fs)
{
	struct rlimit rl;
	rlim_t lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
			     ? rl.rlim_cur
			     : 1u << 20;
	/* half the descriptors for nodes, the rest for open files and the store */
	fs->reclaim_high = lim / 2;
	fs->reclaim_low = lim / 4;
	fs->reclaim_trigger = fs->reclaim_high;
	pthread_cond_init(&fs->reclaim_cv, NULL);
	fs->reclaim_on = pthread_create(&fs->reclaim_tid, NULL, reclaimer, fs) == 0;
}

void reclaim_stop(struct fs *fs)
{
	if (!fs->reclaim_on)
		return;
	pthread_mutex_lock(&fs->table_mu);
	fs->reclaim_quit = true;
	pthread_cond_signal(&fs->reclaim_cv);
	pthread_mutex_unlock(&fs->table_mu);
	pthread_join(fs->reclaim_tid, NULL);
	pthread_cond_destroy(&fs->reclaim_cv);
	fs->reclaim_on = false;
}
