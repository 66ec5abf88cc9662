/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The busy-loop timeout (the kernel's VHOST_SET_VRING_BUSYLOOP_TIMEOUT):
 * once every rx queue of an lcore has been empty for longer than its
 * timeout, the lcore arms the guests' kicks, looks at every ring once
 * more, and sleeps in epoll until a kick, a control wake-up or a bounded
 * time.
 *
 * A guest's kick eventfd is the guest's: its file description (and so its
 * O_NONBLOCK flag) is shared with the frontend, which may read it too. The
 * lcore therefore never reads one: the set is edge-triggered, and every
 * write to an eventfd is a new edge. Only the lcore's own wake eventfd is
 * read.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_rcu_qsbr.h>

#include "vs_fwd.h"
#include "vs_fwd_priv.h"
#include "vs_port_priv.h"

/*
 * The longest a sleeping lcore waits when only kicks can wake it: a missed
 * wake-up (a packed ring whose last look met librte_vhost's vring lock
 * taken) then costs 100 ms, not a hang.
 */
#define VS_SLEEP_MAX_US 100000
#define WAKE_CTL UINT64_MAX

static void
armed_close(struct vs_lcore *lc)
{
	uint16_t i;

	for (i = 0; i < lc->nb_armed; i++)
		if (lc->armed[i].kfd >= 0)
			close(lc->armed[i].kfd);
	lc->nb_armed = 0;
}

void
vs_fwd_sleep_fini(struct vs_lcore *lc)
{
	armed_close(lc);
	if (lc->epfd >= 0)
		close(lc->epfd);
	lc->epfd = -1;
}

/* Arm (or disarm) kicks on every queue of the set; armed[i] is pl->q[i]. */
static void
arm_all(struct vs_lcore *lc, const struct vs_poll_list *pl, bool on)
{
	uint16_t i;

	for (i = 0; i < lc->nb_armed; i++) {
		struct vs_port *p = vs_port_get(lc->armed[i].port_id);

		if (p != NULL && p->serial == pl->q[i].serial &&
		    p->ops->notify != NULL)
			p->ops->notify(p, lc->armed[i].queue, on);
	}
}

/*
 * (Re)build the set this lcore sleeps on: its wake eventfd and a dup of
 * the kick eventfd of each of its rx queues. The dup keeps the eventfd
 * ours even if librte_vhost closes its copy while we sleep.
 */
static int
epoll_rebuild(struct vs_lcore *lc, const struct vs_poll_list *pl,
	      uint32_t kick_gen, bool mute)
{
	struct epoll_event ev = { .events = EPOLLIN };
	uint16_t i;

	vs_fwd_sleep_fini(lc);
	lc->ep_list_gen = UINT64_MAX;
	lc->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lc->epfd < 0)
		return -errno;
	ev.data.u64 = WAKE_CTL;
	if (epoll_ctl(lc->epfd, EPOLL_CTL_ADD, lc->wakefd, &ev) != 0)
		return -errno;
	for (i = 0; i < pl->n && i < VS_MAX_ARMED; i++) {
		struct vs_port *p = vs_port_get(pl->q[i].port_id);
		struct vs_armed *a = &lc->armed[i];
		int fd = -1;

		a->port_id = pl->q[i].port_id;
		a->queue = pl->q[i].queue;
		a->kfd = -1;
		a->eth = p != NULL && p->kind == VS_PORT_ETHDEV;
		lc->nb_armed = i + 1;
		if (p == NULL || p->serial != pl->q[i].serial)
			continue;
		if (p->ops->kickfd != NULL && !(mute && a->eth))
			fd = p->ops->kickfd(p, a->queue);
		if (fd >= 0)
			a->kfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (a->kfd < 0)
			continue;
		/*
		 * Edge-triggered: a kick eventfd (or a VFIO interrupt eventfd)
		 * is never read, and net_tap's queue fd holds the frames
		 * themselves. Each write or frame is a new event.
		 */
		ev.events = EPOLLIN | EPOLLET;
		ev.data.u64 = i;
		if (epoll_ctl(lc->epfd, EPOLL_CTL_ADD, a->kfd, &ev) != 0) {
			close(a->kfd);
			a->kfd = -1;
		}
	}
	lc->ep_kick_gen = kick_gen;
	lc->ep_list_gen = pl->gen;
	lc->ep_mute = mute;
	return 0;
}

/*
 * Whether rx queue @p q of @p p has something that could bring a frame
 * and no fd of ours to tell: it must be polled on a timer.
 */
static bool
needs_timer(const struct vs_port *p)
{
	if (p->kind == VS_PORT_ETHDEV)
		return true;
	/* A vhost port without a guest: new_device wakes us (kick_gen). */
	return atomic_load_explicit(&p->vhost.vid, memory_order_relaxed) >= 0;
}

enum vs_sleep_result
vs_fwd_try_sleep(struct vs_lcore *lc, struct vs_poll_list *pl, uint64_t now)
{
	struct epoll_event evs[32];
	uint64_t max_us = VS_SLEEP_MAX_US, t0, v;
	struct vs_poll_list *cur;
	struct timespec ts;
	/*
	 * An ethdev interrupt that fires with no frame behind it (net_tap's
	 * fd is readable while its interface is down) would wake us in a
	 * loop: after VS_ETH_SPURIOUS such wake-ups in a row, ethdevs are
	 * polled every timeout for a second before their interrupts are
	 * trusted again.
	 */
	bool mute = now < lc->eth_mute_until, same;
	uint32_t kick_gen;
	uint16_t i;
	int nev, k;

	for (i = 0; i < pl->n; i++) {
		struct vs_rxq *q = &pl->q[i];
		struct vs_port *p = vs_port_get(q->port_id);
		uint64_t t;

		if (p == NULL)
			continue;
		t = atomic_load_explicit(&p->busyloop_tsc[q->queue],
					 memory_order_relaxed);
		if (t == 0 || now - q->last_pkt < t)
			return VS_SLEEP_NONE;
	}
	kick_gen = vs_port_kick_gen();
	if (kick_gen != lc->ep_kick_gen || pl->gen != lc->ep_list_gen ||
	    mute != lc->ep_mute)
		if (epoll_rebuild(lc, pl, kick_gen, mute) < 0)
			return VS_SLEEP_NONE;
	/*
	 * What nothing can wake us for is polled every timeout: an ethdev
	 * without rx interrupts (or muted), a guest that gave no kick fd,
	 * queues past VS_MAX_ARMED.
	 */
	for (i = 0; i < pl->n; i++) {
		struct vs_port *p = vs_port_get(pl->q[i].port_id);

		if (p == NULL || p->serial != pl->q[i].serial)
			continue;
		if ((i >= lc->nb_armed || lc->armed[i].kfd < 0) &&
		    needs_timer(p))
			max_us = RTE_MIN(
				max_us,
				(uint64_t)atomic_load(
					&p->busyloop_us[pl->q[i].queue]));
	}

	/*
	 * Say we sleep, then look again at what the control thread publishes
	 * before it wakes sleepers (vs_fwd_wake_all() reads "sleeping" after
	 * its change): a change we did not see is one it wakes us for.
	 */
	atomic_store(&lc->sleeping, true);
	if (vs_port_kick_gen() != kick_gen || atomic_load(&lc->poll) != pl) {
		atomic_store(&lc->sleeping, false);
		return VS_SLEEP_NONE;
	}
	arm_all(lc, pl, true);
	/*
	 * The lost wake-up race: a guest that published a frame before it saw
	 * notifications enabled did not kick. Order the arming store before
	 * the ring loads (the virtio spec's "driver must re-check after
	 * enabling" from our side), then look at every ring once more.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	for (i = 0; i < pl->n; i++) {
		struct vs_port *p;

		if (vs_fwd_rxq_poll(lc, pl, i, now) > 0) {
			vs_fwd_txbuf_flush(lc);
			atomic_store(&lc->sleeping, false);
			arm_all(lc, pl, false);
			return VS_SLEEP_FORWARDED;
		}
		/* An empty burst may be a vring lock another thread held. */
		p = vs_port_get(pl->q[i].port_id);
		if (p != NULL && p->serial == pl->q[i].serial &&
		    p->ops->pending != NULL &&
		    atomic_load_explicit(&p->enabled, memory_order_relaxed) &&
		    p->ops->pending(p, pl->q[i].queue)) {
			atomic_store(&lc->sleeping, false);
			arm_all(lc, pl, false);
			return VS_SLEEP_NONE;
		}
	}

	t0 = rte_rdtsc();
	ts.tv_sec = max_us / 1000000;
	ts.tv_nsec = (max_us % 1000000) * 1000;
	/*
	 * Asleep, this lcore holds no reference: RCU must not wait for it.
	 * From here on pl may be freed; only lc->armed (by value) is used.
	 */
	rte_rcu_qsbr_thread_offline(vs_fwd_qsbr(), lc->idx);
	nev = vs_fwd_quitting()
		? 0
		: epoll_pwait2(lc->epfd, evs, RTE_DIM(evs), &ts, NULL);
	if (nev < 0 && errno == ENOSYS) /* kernels before 5.11: ms only */
		nev = epoll_wait(lc->epfd, evs, RTE_DIM(evs),
				 (max_us + 999) / 1000);
	rte_rcu_qsbr_thread_online(vs_fwd_qsbr(), lc->idx);
	atomic_store_explicit(&lc->sleeping, false, memory_order_release);

	/*
	 * Queues may have moved to another lcore while we slept: touch the
	 * armed queues only if the list we armed is still ours (a new list is
	 * disarmed by its owner, see adopt() in vs_fwd.c).
	 */
	cur = atomic_load_explicit(&lc->poll, memory_order_acquire);
	same = cur != NULL && cur->gen == lc->ep_list_gen;
	lc->sleeps++;
	if (nev <= 0)
		lc->wake_timer++;
	for (k = 0; k < nev; k++) {
		uint64_t idx = evs[k].data.u64;
		struct vs_port *p;

		if (idx == WAKE_CTL) {
			/* Ours, non-blocking. */
			if (read(lc->wakefd, &v, sizeof(v)) < 0)
				v = 0;
			lc->wake_ctl++;
			continue;
		}
		lc->wake_kick++;
		if (!same || idx >= lc->nb_armed)
			continue;
		if (lc->armed[idx].eth)
			lc->eth_fired = true;
		p = vs_port_get(lc->armed[idx].port_id);
		if (p != NULL && p->serial == cur->q[idx].serial)
			p->rxq_kicks[lc->armed[idx].queue]++;
	}
	if (same)
		arm_all(lc, cur, false);
	lc->sleep_cycles += rte_rdtsc() - t0;
	return VS_SLEEP_SLEPT;
}
