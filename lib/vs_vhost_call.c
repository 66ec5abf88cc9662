/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vring call relay. librte_vhost 22.11 interrupts a guest with
 * eventfd_write() on the call eventfd of the vring, from the forwarding
 * lcore, inside the enqueue. That eventfd is the frontend's: it shares the
 * file description, so it decides whether it blocks (O_NONBLOCK is a flag
 * of the description, and it can clear it at any time), and it can fill
 * the counter to 2^64 - 2 and never read it. eventfd_write() then blocks
 * the lcore, and every port the lcore serves, until the frontend reads
 * (test_hostile.py::test_saturated_blocking_call_eventfd). DPDK 23.03
 * added a guest_notify callback for this; 22.11 has none.
 *
 * So the message guard hands librte_vhost an eventfd of ours in place of
 * the frontend's in SET_VRING_CALL: non-blocking, its description never
 * leaves the process, its counter drained here. One relay thread waits on
 * all of them and passes each interrupt on to the frontend's fd:
 *   - a frontend counter that cannot take one more (poll() without
 *     POLLOUT) already holds an interrupt the guest has not consumed:
 *     nothing to add ("full");
 *   - a write that blocks anyway (the frontend filled the counter between
 *     the poll() and the write()) is cut short by a timer signal after
 *     RELAY_WRITE_MS ("blocked"), and the vring is not relayed to for
 *     RELAY_MUTE_MS after it: one frontend can delay the other guests'
 *     interrupts by at most that, and no lcore ever waits on a frontend.
 * The cost is one thread wake-up per interrupt a guest asks for; guests
 * that poll (DPDK's virtio PMD) suppress interrupts and never reach here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "vs_port_priv.h"
#include "vs_vhost_call.h"

#define RELAY_MAX 4096
#define RELAY_WRITE_MS 10
#define RELAY_MUTE_MS 1000
#define RELAY_SIG (SIGRTMIN + 3)
#define RELAY_STOP UINT64_MAX

struct slot {
	int vid; /* -1: free */
	uint16_t vring;
	uint32_t gen; /* bumped when the slot is freed: stale events */
	int ours; /* our reference to the eventfd librte_vhost writes */
	int theirs; /* the frontend's call eventfd */
	uint64_t mute_until; /* TSC: no relay before (after a blocked write) */
	struct vs_call_stats st;
};

static struct {
	pthread_mutex_t lock; /* slots; held by the relay while it writes */
	struct slot *s;
	uint32_t n; /* slots ever used: the free ones below are reused */
	int epfd;
	int stopfd;
	pthread_t thread;
	/*
	 * Set by start() before any vhost socket exists; cleared by stop()
	 * under the lock, which take(), drop() and vring() check it under;
	 * totals() reads it without.
	 */
	_Atomic bool running;
	timer_t timer;
	bool timer_ok;
	_Atomic uint64_t relayed, full, blocked;
} rl = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.epfd = -1,
	.stopfd = -1,
};

static void
relay_sig(int sig __rte_unused)
{
	/* Only to interrupt a write(): no SA_RESTART. */
}

static void
slot_free(struct slot *s)
{
	epoll_ctl(rl.epfd, EPOLL_CTL_DEL, s->ours, NULL);
	close(s->ours);
	close(s->theirs);
	s->vid = -1;
	s->gen++;
}

/* One interrupt librte_vhost raised on @p s: passed on. rl.lock held. */
static void
relay(struct slot *s)
{
	struct itimerspec on = { .it_value = { 0, RELAY_WRITE_MS * 1000000L } },
			  off = { 0 };
	struct pollfd pfd = { .fd = s->theirs, .events = POLLOUT };
	uint64_t v, now;
	ssize_t n;

	if (read(s->ours, &v, sizeof(v)) != sizeof(v))
		return; /* nothing pending */
	now = rte_get_tsc_cycles();
	if (now < s->mute_until || poll(&pfd, 1, 0) != 1 ||
	    !(pfd.revents & POLLOUT)) {
		s->st.full++;
		atomic_fetch_add_explicit(&rl.full, 1, memory_order_relaxed);
		return;
	}
	v = 1;
	if (rl.timer_ok)
		timer_settime(rl.timer, 0, &on, NULL);
	n = write(s->theirs, &v, sizeof(v));
	if (rl.timer_ok)
		timer_settime(rl.timer, 0, &off, NULL);
	if (n == sizeof(v)) {
		s->st.relayed++;
		atomic_fetch_add_explicit(&rl.relayed, 1, memory_order_relaxed);
	} else if (errno == EINTR) {
		s->st.blocked++;
		atomic_fetch_add_explicit(&rl.blocked, 1, memory_order_relaxed);
		s->mute_until = now + rte_get_tsc_hz() * RELAY_MUTE_MS / 1000;
		PORT_LOG(
			WARNING,
			"vid %d vring %u: the frontend's call eventfd blocked a write for %d ms: not relayed to for %d ms\n",
			s->vid, s->vring, RELAY_WRITE_MS, RELAY_MUTE_MS);
	} else {
		s->st.full++;
		atomic_fetch_add_explicit(&rl.full, 1, memory_order_relaxed);
	}
}

static void *
relay_thread(void *arg __rte_unused)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID,
				.sigev_signo = RELAY_SIG };
	struct epoll_event ev[32];
	sigset_t set;
	int n, i;

	sev._sigev_un._tid = gettid();
	/* Without its timer the relay still keeps every lcore safe. */
	rl.timer_ok = timer_create(CLOCK_MONOTONIC, &sev, &rl.timer) == 0;
	if (!rl.timer_ok)
		PORT_LOG(
			ERR,
			"call relay: timer_create: %s: a frontend can block the relay thread\n",
			strerror(errno));
	sigemptyset(&set);
	sigaddset(&set, RELAY_SIG);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		n = epoll_wait(rl.epfd, ev, RTE_DIM(ev), -1);
		if (n < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&rl.lock);
		for (i = 0; i < n; i++) {
			uint64_t key = ev[i].data.u64;
			uint32_t idx = (uint32_t)key;

			if (key == RELAY_STOP) {
				pthread_mutex_unlock(&rl.lock);
				goto out;
			}
			/* A slot freed or reused since epoll_wait(). */
			if (idx < rl.n && rl.s[idx].vid >= 0 &&
			    rl.s[idx].gen == (uint32_t)(key >> 32))
				relay(&rl.s[idx]);
		}
		pthread_mutex_unlock(&rl.lock);
	}
out:
	if (rl.timer_ok)
		timer_delete(rl.timer);
	return NULL;
}

int
vs_call_relay_start(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = RELAY_STOP };
	struct sigaction sa = { .sa_handler = relay_sig };
	int ret;

	if (rl.running)
		return 0;
	rl.s = calloc(RELAY_MAX, sizeof(*rl.s));
	rl.epfd = epoll_create1(EPOLL_CLOEXEC);
	rl.stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rl.s == NULL || rl.epfd < 0 || rl.stopfd < 0 ||
	    epoll_ctl(rl.epfd, EPOLL_CTL_ADD, rl.stopfd, &ev) != 0) {
		ret = -errno;
		goto fail;
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(RELAY_SIG, &sa, NULL) != 0) {
		ret = -errno;
		goto fail;
	}
	ret = rte_ctrl_thread_create(&rl.thread, "vs-call", NULL, relay_thread,
				     NULL);
	if (ret != 0) {
		ret = -ret;
		goto fail;
	}
	rl.running = true;
	return 0;
fail:
	if (rl.stopfd >= 0)
		close(rl.stopfd);
	if (rl.epfd >= 0)
		close(rl.epfd);
	free(rl.s);
	rl.s = NULL;
	rl.epfd = rl.stopfd = -1;
	return ret;
}

void
vs_call_relay_stop(void)
{
	uint32_t i;

	/* take(), drop() and vring() check it under the lock. */
	pthread_mutex_lock(&rl.lock);
	if (!rl.running) {
		pthread_mutex_unlock(&rl.lock);
		return;
	}
	rl.running = false;
	pthread_mutex_unlock(&rl.lock);
	eventfd_write(rl.stopfd, 1);
	pthread_join(rl.thread, NULL);
	for (i = 0; i < rl.n; i++)
		if (rl.s[i].vid >= 0)
			slot_free(&rl.s[i]);
	close(rl.stopfd);
	close(rl.epfd);
	free(rl.s);
	rl.s = NULL;
	rl.n = 0;
	rl.epfd = rl.stopfd = -1;
}

/* The slot of (@p vid, @p vring), or NULL. rl.lock held. */
static struct slot *
find(int vid, uint16_t vring)
{
	uint32_t i;

	for (i = 0; i < rl.n; i++)
		if (rl.s[i].vid == vid && rl.s[i].vring == vring)
			return &rl.s[i];
	return NULL;
}

void
vs_call_relay_take(int vid, uint16_t vring, int *fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct slot *s;
	uint32_t i;
	int ours, dup_fd;

	if (*fd < 0)
		return;
	ours = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dup_fd = ours >= 0 ? fcntl(ours, F_DUPFD_CLOEXEC, 0) : -1;
	pthread_mutex_lock(&rl.lock);
	if (!rl.running) {
		pthread_mutex_unlock(&rl.lock);
		if (dup_fd >= 0)
			close(dup_fd);
		if (ours >= 0)
			close(ours);
		return;
	}
	s = find(vid, vring);
	if (s != NULL)
		slot_free(s); /* its fd replaced: librte_vhost closes its own */
	for (i = 0; i < rl.n && rl.s[i].vid >= 0; i++)
		;
	if (dup_fd < 0 || i == RELAY_MAX)
		goto direct;
	s = &rl.s[i];
	ev.data.u64 = (uint64_t)s->gen << 32 | i;
	if (epoll_ctl(rl.epfd, EPOLL_CTL_ADD, dup_fd, &ev) != 0)
		goto direct;
	if (i == rl.n)
		rl.n++;
	s->vid = vid;
	s->vring = vring;
	s->ours = dup_fd;
	s->theirs = *fd;
	s->mute_until = 0;
	memset(&s->st, 0, sizeof(s->st));
	s->st.relay = true;
	pthread_mutex_unlock(&rl.lock);
	/* librte_vhost owns this one: it writes, and closes it. */
	*fd = ours;
	return;
direct:
	pthread_mutex_unlock(&rl.lock);
	PORT_LOG(
		WARNING,
		"vid %d vring %u: no call relay (%s): librte_vhost writes the frontend's eventfd itself\n",
		vid, vring,
		i == RELAY_MAX ? "all slots in use" : strerror(errno));
	if (dup_fd >= 0)
		close(dup_fd);
	if (ours >= 0)
		close(ours);
}

void
vs_call_relay_drop(int vid, int vring)
{
	uint32_t i;

	pthread_mutex_lock(&rl.lock);
	for (i = 0; rl.running && i < rl.n; i++)
		if (rl.s[i].vid == vid && (vring < 0 || rl.s[i].vring == vring))
			slot_free(&rl.s[i]);
	pthread_mutex_unlock(&rl.lock);
}

void
vs_call_relay_totals(struct vs_call_stats *st)
{
	st->relay = rl.running;
	st->relayed = atomic_load(&rl.relayed);
	st->full = atomic_load(&rl.full);
	st->blocked = atomic_load(&rl.blocked);
}

void
vs_call_relay_vring(int vid, uint16_t vring, struct vs_call_stats *st)
{
	struct slot *s;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&rl.lock);
	s = rl.running ? find(vid, vring) : NULL;
	if (s != NULL)
		*st = s->st;
	pthread_mutex_unlock(&rl.lock);
}
