/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarding loop. Two passes per burst, as netmap's VALE does: look
 * every frame up and chain it to its destination's tx buffer, then send
 * once per destination.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "vs_fdb.h"
#include "vs_fwd.h"
#include "vs_port_priv.h"

RTE_LOG_REGISTER(vs_logtype_fwd, vswitch.fwd, INFO);
#define FWD_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_logtype_fwd, "vswitch.fwd: " fmt, \
		##__VA_ARGS__)

/*
 * Frames buffered per destination before a send: 64 is two librte_vhost
 * enqueue calls (32 each), and bounds the mbufs parked per lcore and port.
 */
#define VS_TXBUF 64
#define VS_MAX_BURST 512

/*
 * The longest a sleeping lcore waits when only kicks can wake it: a missed
 * wake-up (there should be none) then costs 100 ms, not a hang.
 */
#define VS_SLEEP_MAX_US 100000
/* Rx queues one lcore can sleep on; more are polled without sleeping. */
#define VS_MAX_ARMED 256
#define WAKE_CTL UINT64_MAX
/* Ethdev interrupt wake-ups in a row with no frame before they are muted. */
#define VS_ETH_SPURIOUS 16
/*
 * Quiet queues. An rx queue that has had no frame for VS_QUIET_US is polled
 * on one pass in VS_QUIET_EVERY (staggered by its place in the poll list),
 * not on every pass: an empty poll of a vhost ring costs librte_vhost a
 * device lookup, a trylock and ring reads, and with 62 idle guests that was
 * 13 % of the datapath's time per frame of the one busy pair. The price: the
 * first frame on a queue quiet for 10 ms waits at most VS_QUIET_EVERY - 1
 * passes more, and such passes are short (they skip the other quiet queues).
 */
#define VS_QUIET_US 10000
#define VS_QUIET_EVERY 8 /* a power of two */

struct vs_rxq {
	uint16_t port_id;
	uint16_t queue;
	uint64_t last_pkt; /* TSC of its last non-empty burst; owner only */
};

/* What a sleeping lcore armed, by value: ports may go while it sleeps. */
struct vs_armed {
	uint16_t port_id;
	uint16_t queue;
	int kfd; /* our dup of the kick eventfd, or -1 */
	bool drain; /* an eventfd: read it after it fired */
};

struct vs_poll_list {
	uint16_t n;
	struct vs_rxq q[];
};

struct vs_txbuf {
	uint16_t n;
	struct rte_mbuf *pkts[VS_TXBUF];
};

struct vs_lcore {
	unsigned int lcore_id;
	unsigned int idx;
	struct vs_poll_list *_Atomic poll;
	uint64_t busy_cycles;
	uint64_t idle_cycles;
	uint64_t pkts;
	/* Sleeping (busy-loop timeout). */
	int epfd;
	int wakefd;
	uint32_t ep_gen;
	const struct vs_poll_list *ep_poll;
	uint16_t nb_armed;
	struct vs_armed armed[VS_MAX_ARMED];
	_Atomic bool sleeping;
	bool ep_mute; /* the set leaves ethdev interrupts out */
	bool eth_fired; /* last wake came from an ethdev interrupt */
	uint16_t eth_empty; /* such wake-ups in a row that found nothing */
	uint64_t eth_mute_until; /* TSC; see try_sleep() */
	uint64_t sleeps;
	uint64_t wake_kick;
	uint64_t wake_timer;
	uint64_t wake_ctl;
	uint64_t sleep_cycles;
	uint16_t nb_dirty;
	uint16_t dirty[VS_MAX_PORTS];
	struct vs_txbuf tx[VS_MAX_PORTS];
} __rte_cache_aligned;

static struct {
	unsigned int nb;
	struct vs_lcore *lc[RTE_MAX_LCORE];
	struct rte_rcu_qsbr *qsbr;
	uint16_t burst;
	uint32_t retries;
	uint64_t quiet_tsc; /* VS_QUIET_US in TSC cycles */
	volatile bool quit;
} fwd;

unsigned int
vs_fwd_nb_lcores(void)
{
	return fwd.nb;
}

struct rte_rcu_qsbr *
vs_fwd_qsbr(void)
{
	return fwd.qsbr;
}

void
vs_fwd_synchronize(void)
{
	if (fwd.qsbr != NULL)
		rte_rcu_qsbr_synchronize(fwd.qsbr, RTE_QSBR_THRID_INVALID);
}

int
vs_fwd_init(const struct vs_conf *conf)
{
	unsigned int lcore, i = 0;
	size_t sz;

	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct vs_lcore *lc;

		lc = rte_zmalloc_socket("vs_lcore", sizeof(*lc),
					RTE_CACHE_LINE_SIZE,
					rte_lcore_to_socket_id(lcore));
		if (lc == NULL)
			lc = rte_zmalloc("vs_lcore", sizeof(*lc),
					 RTE_CACHE_LINE_SIZE);
		if (lc == NULL)
			goto nomem;
		lc->lcore_id = lcore;
		lc->idx = i;
		lc->epfd = -1;
		lc->ep_gen = UINT32_MAX;
		lc->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		fwd.lc[i++] = lc;
		if (lc->wakefd < 0)
			goto nomem;
	}
	fwd.nb = i;
	if (fwd.nb == 0)
		return -ENODEV;
	sz = rte_rcu_qsbr_get_memsize(fwd.nb);
	fwd.qsbr = rte_zmalloc("vs_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (fwd.qsbr == NULL || rte_rcu_qsbr_init(fwd.qsbr, fwd.nb) != 0)
		goto nomem;
	fwd.burst = RTE_MIN(conf->burst, VS_MAX_BURST);
	fwd.retries = conf->tx_retries;
	fwd.quiet_tsc = rte_get_tsc_hz() / (1000000 / VS_QUIET_US);
	return 0;
nomem:
	vs_fwd_fini();
	return -ENOMEM;
}

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
vs_fwd_wake_all(void)
{
	uint64_t one = 1;
	unsigned int i;

	for (i = 0; i < fwd.nb; i++)
		if (atomic_load_explicit(&fwd.lc[i]->sleeping,
					 memory_order_acquire) &&
		    write(fwd.lc[i]->wakefd, &one, sizeof(one)) < 0)
			FWD_LOG(DEBUG, "wake lcore %u: %s\n",
				fwd.lc[i]->lcore_id, strerror(errno));
}

void
vs_fwd_fini(void)
{
	unsigned int i;

	for (i = 0; i < RTE_MAX_LCORE; i++) {
		if (fwd.lc[i] == NULL)
			continue;
		armed_close(fwd.lc[i]);
		if (fwd.lc[i]->epfd >= 0)
			close(fwd.lc[i]->epfd);
		if (fwd.lc[i]->wakefd >= 0)
			close(fwd.lc[i]->wakefd);
		rte_free(atomic_load(&fwd.lc[i]->poll));
		rte_free(fwd.lc[i]);
		fwd.lc[i] = NULL;
	}
	rte_free(fwd.qsbr);
	fwd.qsbr = NULL;
	fwd.nb = 0;
}

int
vs_fwd_rebalance(void)
{
	struct vs_poll_list *nl[RTE_MAX_LCORE] = { NULL };
	struct vs_poll_list *old[RTE_MAX_LCORE];
	unsigned int total = 0, i, next = 0;
	uint16_t pid, q;

	if (fwd.nb == 0)
		return 0;
	for (pid = 0; pid < vs_port_count(); pid++) {
		struct vs_port *p = vs_port_get(pid);

		if (p != NULL)
			total += p->nb_rxq;
	}
	for (i = 0; i < fwd.nb; i++) {
		nl[i] = rte_zmalloc(
			"vs_poll",
			sizeof(*nl[i]) + sizeof(nl[i]->q[0]) * (total + 1), 0);
		if (nl[i] == NULL)
			goto nomem;
	}
	/*
	 * Round robin over queue number first, so the queues of a
	 * multi-queue port land on different lcores.
	 */
	for (q = 0; q < VS_PORT_MAX_QUEUES; q++) {
		for (pid = 0; pid < vs_port_count(); pid++) {
			struct vs_port *p = vs_port_get(pid);
			struct vs_poll_list *l;

			if (p == NULL || q >= p->nb_rxq)
				continue;
			l = nl[next++ % fwd.nb];
			l->q[l->n].port_id = pid;
			l->q[l->n].queue = q;
			l->n++;
		}
	}
	for (i = 0; i < fwd.nb; i++)
		old[i] = atomic_exchange(&fwd.lc[i]->poll, nl[i]);
	vs_fwd_wake_all();
	vs_fwd_synchronize();
	for (i = 0; i < fwd.nb; i++)
		rte_free(old[i]);
	return 0;
nomem:
	for (i = 0; i < fwd.nb; i++)
		rte_free(nl[i]);
	return -ENOMEM;
}

static inline void
txbuf_flush_one(struct vs_lcore *lc, uint16_t pid)
{
	struct vs_txbuf *b = &lc->tx[pid];
	struct vs_port *p = vs_port_get(pid);

	if (b->n == 0)
		return;
	if (likely(p != NULL))
		vs_port_tx(p, lc->idx, b->pkts, b->n, fwd.retries);
	else
		rte_pktmbuf_free_bulk(b->pkts, b->n); /* port just deleted */
	b->n = 0;
}

static inline void
txbuf_flush(struct vs_lcore *lc)
{
	uint16_t i;

	for (i = 0; i < lc->nb_dirty; i++)
		txbuf_flush_one(lc, lc->dirty[i]);
	lc->nb_dirty = 0;
}

static inline void
txbuf_add(struct vs_lcore *lc, uint16_t pid, struct rte_mbuf *m)
{
	struct vs_txbuf *b = &lc->tx[pid];

	if (b->n == 0) {
		/* A buffer flushed when full stays listed; don't list it twice. */
		uint16_t i;

		for (i = 0; i < lc->nb_dirty; i++)
			if (lc->dirty[i] == pid)
				break;
		if (i == lc->nb_dirty)
			lc->dirty[lc->nb_dirty++] = pid;
	}
	b->pkts[b->n++] = m;
	if (unlikely(b->n == VS_TXBUF))
		txbuf_flush_one(lc, pid);
}

/* Every segment carries its own reference count. */
static inline void
mbuf_ref_add(struct rte_mbuf *m, int16_t v)
{
	for (; m != NULL; m = m->next)
		rte_mbuf_refcnt_update(m, v);
}

static void
fwd_burst(struct vs_lcore *lc, struct vs_port *in, struct rte_mbuf **pkts,
	  uint16_t n, uint64_t now)
{
	const struct rte_ether_addr *uniq[VS_MAX_BURST];
	const struct rte_ether_addr *last_src = NULL;
	/* Frame j goes to out[map[j]], the port of its destination uniq[]. */
	uint16_t out[VS_MAX_BURST], map[VS_MAX_BURST];
	uint16_t nu = 0;
	uint16_t flood[VS_MAX_PORTS];
	int nb_flood = -1; /* computed on the first flooded frame */
	uint16_t i, j, k, in_id = in->id;

	/* Pass 1: drop runts, learn sources, look destinations up. */
	for (i = 0, j = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct rte_ether_hdr *eth;

		if (unlikely(rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN)) {
			vs_port_drop(in, VS_DROP_RUNT, &m, 1);
			continue;
		}
		eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		/* One-entry cache: a burst usually has one source. */
		if ((last_src == NULL ||
		     !rte_is_same_ether_addr(last_src, &eth->src_addr)) &&
		    rte_is_valid_assigned_ether_addr(&eth->src_addr)) {
			vs_fdb_learn(&eth->src_addr, in_id, now);
			last_src = &eth->src_addr;
		}
		/*
		 * Last-MAC cache: a run of frames to one destination (the usual
		 * burst) costs one hash lookup, not one per frame.
		 */
		if (nu == 0 ||
		    !rte_is_same_ether_addr(uniq[nu - 1], &eth->dst_addr))
			uniq[nu++] = &eth->dst_addr;
		map[j] = nu - 1;
		pkts[j++] = m;
	}
	n = j;
	vs_fdb_lookup_bulk(uniq, nu, out);
	/* Broadcast and multicast flood, whatever the table says. */
	for (i = 0; i < nu; i++)
		if (rte_is_multicast_ether_addr(uniq[i]))
			out[i] = VS_PORT_INVALID;

	/* Pass 2: chain every frame to its destinations. */
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint16_t to = out[map[i]];

		if (likely(to != VS_PORT_INVALID)) {
			if (unlikely(to == in_id))
				vs_port_drop(in, VS_DROP_SAME_PORT, &m, 1);
			else
				txbuf_add(lc, to, m);
			continue;
		}
		/* Broadcast, multicast, unknown unicast: every other up port. */
		if (nb_flood < 0) {
			nb_flood = 0;
			for (k = 0; k < vs_port_count(); k++) {
				struct vs_port *p = vs_port_get(k);

				if (k != in_id && p != NULL && vs_port_up(p))
					flood[nb_flood++] = k;
			}
		}
		if (nb_flood == 0) {
			vs_port_drop(in, VS_DROP_NO_DEST, &m, 1);
			continue;
		}
		if (nb_flood > 1)
			mbuf_ref_add(m, nb_flood - 1);
		for (k = 0; k < nb_flood; k++)
			txbuf_add(lc, flood[k], m);
	}
}

/* Arm (or disarm) kicks on everything this lcore sleeps on. */
static void
arm_all(struct vs_lcore *lc, bool on)
{
	uint16_t i;

	for (i = 0; i < lc->nb_armed; i++) {
		struct vs_port *p = vs_port_get(lc->armed[i].port_id);

		if (p != NULL && p->ops->notify != NULL)
			p->ops->notify(p, lc->armed[i].queue, on);
	}
}

/*
 * (Re)build the set this lcore sleeps on: its wake eventfd and a dup of
 * the kick eventfd of each of its vhost rx queues. The dup keeps the
 * eventfd ours even if librte_vhost closes its copy while we sleep.
 */
static int
epoll_rebuild(struct vs_lcore *lc, const struct vs_poll_list *pl, uint32_t gen,
	      bool mute)
{
	struct epoll_event ev = { .events = EPOLLIN };
	uint16_t i;

	armed_close(lc);
	if (lc->epfd >= 0)
		close(lc->epfd);
	lc->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lc->epfd < 0)
		return -errno;
	ev.data.u64 = WAKE_CTL;
	if (epoll_ctl(lc->epfd, EPOLL_CTL_ADD, lc->wakefd, &ev) != 0)
		return -errno;
	for (i = 0; i < pl->n && lc->nb_armed < VS_MAX_ARMED; i++) {
		struct vs_port *p = vs_port_get(pl->q[i].port_id);
		struct vs_armed *a = &lc->armed[lc->nb_armed];
		struct stat st;
		int fd;

		if (p == NULL)
			continue;
		a->port_id = pl->q[i].port_id;
		a->queue = pl->q[i].queue;
		a->kfd = -1;
		fd = p->ops->kickfd ? p->ops->kickfd(p, a->queue) : -1;
		if (mute && p->kind == VS_PORT_ETHDEV)
			fd = -1;
		if (fd >= 0)
			a->kfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		/*
		 * Kick and VFIO interrupt eventfds count and must be read;
		 * a character device (net_tap's queue fd) holds the frames
		 * themselves and must not be.
		 */
		a->drain = a->kfd >= 0 && fstat(a->kfd, &st) == 0 &&
			!S_ISCHR(st.st_mode) && !S_ISSOCK(st.st_mode);
		if (a->kfd >= 0) {
			ev.data.u64 = lc->nb_armed;
			if (epoll_ctl(lc->epfd, EPOLL_CTL_ADD, a->kfd, &ev) !=
			    0) {
				close(a->kfd);
				a->kfd = -1;
			}
		}
		lc->nb_armed++;
	}
	lc->ep_gen = gen;
	lc->ep_poll = pl;
	lc->ep_mute = mute;
	return 0;
}

/*
 * The busy-loop timeout (the kernel's VHOST_SET_VRING_BUSYLOOP_TIMEOUT):
 * once every rx queue of this lcore has been empty for longer than its
 * timeout, arm the guests' kicks, look at every ring once more, and sleep
 * until a kick, a control wake-up or a bounded time. Returns true if it
 * slept or forwarded.
 */
static bool
try_sleep(struct vs_lcore *lc, struct vs_poll_list *pl, uint64_t now)
{
	struct rte_mbuf *pkts[VS_MAX_BURST];
	struct epoll_event evs[32];
	uint64_t max_us = VS_SLEEP_MAX_US, t0, v;
	struct timespec ts;
	/*
	 * An ethdev interrupt that fires with no frame behind it (net_tap's
	 * fd is readable while its interface is down) would wake us in a
	 * loop: after VS_ETH_SPURIOUS such wake-ups in a row, ethdevs are
	 * polled every timeout for a second before their interrupts are
	 * trusted again.
	 */
	bool mute = now < lc->eth_mute_until;
	uint32_t gen;
	uint16_t i, n;
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
			return false;
		/*
		 * Nothing to wake us (an ethdev without rx interrupts): poll
		 * it every timeout. A vhost port without a guest needs
		 * nothing: new_device wakes us (vs_port_kick_gen_bump).
		 */
		if (p->kind == VS_PORT_ETHDEV && (!p->eth.rx_intr || mute))
			max_us = RTE_MIN(max_us,
					 (uint64_t)atomic_load(
						 &p->busyloop_us[q->queue]));
	}
	gen = vs_port_kick_gen();
	if (gen != lc->ep_gen || pl != lc->ep_poll || mute != lc->ep_mute)
		if (epoll_rebuild(lc, pl, gen, mute) < 0)
			return false;
	atomic_store_explicit(&lc->sleeping, true, memory_order_release);
	arm_all(lc, true);
	/*
	 * The lost wake-up race: a guest that published a frame before it saw
	 * notifications enabled did not kick. Order the arming store before
	 * the ring loads (the virtio spec's "driver must re-check after
	 * enabling" from our side), then look at every ring once more.
	 */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (i = 0; i < pl->n; i++) {
		struct vs_port *p = vs_port_get(pl->q[i].port_id);

		if (p == NULL || !atomic_load(&p->enabled))
			continue;
		n = p->ops->rx(p, pl->q[i].queue, pkts, fwd.burst);
		if (n == 0)
			continue;
		atomic_store(&lc->sleeping, false);
		arm_all(lc, false);
		p->stats[lc->lcore_id].rx_pkts += n;
		for (k = 0; k < n; k++)
			p->stats[lc->lcore_id].rx_bytes +=
				rte_pktmbuf_pkt_len(pkts[k]);
		p->rxq_pkts[pl->q[i].queue] += n;
		pl->q[i].last_pkt = now;
		if (unlikely(atomic_load(&p->capture) != NULL))
			vs_capture_burst(atomic_load(&p->capture), pkts, n,
					 VS_CAPTURE_RX);
		lc->pkts += n;
		fwd_burst(lc, p, pkts, n, now);
		txbuf_flush(lc);
		return true;
	}

	t0 = rte_rdtsc();
	ts.tv_sec = max_us / 1000000;
	ts.tv_nsec = (max_us % 1000000) * 1000;
	/* Asleep, this lcore holds no reference: RCU must not wait for it. */
	rte_rcu_qsbr_thread_offline(fwd.qsbr, lc->idx);
	nev = fwd.quit ? 0
		       : epoll_pwait2(lc->epfd, evs, RTE_DIM(evs), &ts, NULL);
	if (nev < 0 && errno == ENOSYS) /* kernels before 5.11: ms only */
		nev = epoll_wait(lc->epfd, evs, RTE_DIM(evs),
				 (max_us + 999) / 1000);
	rte_rcu_qsbr_thread_online(fwd.qsbr, lc->idx);
	atomic_store_explicit(&lc->sleeping, false, memory_order_release);

	lc->sleeps++;
	if (nev <= 0)
		lc->wake_timer++;
	for (k = 0; k < nev; k++) {
		uint64_t idx = evs[k].data.u64;

		if (idx == WAKE_CTL) {
			if (read(lc->wakefd, &v, sizeof(v)) < 0)
				v = 0;
			lc->wake_ctl++;
			continue;
		}
		/* Drain the kick: the eventfd stays readable until read. */
		if (!lc->armed[idx].drain ||
		    read(lc->armed[idx].kfd, &v, sizeof(v)) == sizeof(v)) {
			struct vs_port *p = vs_port_get(lc->armed[idx].port_id);

			if (p != NULL)
				p->rxq_kicks[lc->armed[idx].queue]++;
			if (!lc->armed[idx].drain)
				lc->eth_fired = true;
		}
		lc->wake_kick++;
	}
	arm_all(lc, false);
	lc->sleep_cycles += rte_rdtsc() - t0;
	return true;
}

static int
fwd_loop(void *arg)
{
	struct vs_lcore *lc = arg;
	struct rte_mbuf *pkts[VS_MAX_BURST];
	uint64_t prev = rte_rdtsc(), now;
	uint32_t pass = 0;
	bool full = true; /* poll quiet queues too: the pass after a sleep */

	rte_rcu_qsbr_thread_register(fwd.qsbr, lc->idx);
	rte_rcu_qsbr_thread_online(fwd.qsbr, lc->idx);
	FWD_LOG(INFO, "lcore %u forwarding\n", lc->lcore_id);

	while (!fwd.quit) {
		struct vs_poll_list *pl =
			atomic_load_explicit(&lc->poll, memory_order_acquire);
		uint64_t got = 0;
		uint16_t i;

		pass++;
		for (i = 0; pl != NULL && i < pl->n; i++) {
			struct vs_port *p;
			struct vs_port_lstats *st;
			struct vs_capture *cap;
			uint16_t n, k;

			if (!full && ((pass + i) & (VS_QUIET_EVERY - 1)) != 0 &&
			    unlikely(prev - pl->q[i].last_pkt > fwd.quiet_tsc))
				continue; /* quiet: see VS_QUIET_US */
			p = vs_port_get(pl->q[i].port_id);
			if (p == NULL ||
			    !atomic_load_explicit(&p->enabled,
						  memory_order_relaxed))
				continue;
			n = p->ops->rx(p, pl->q[i].queue, pkts, fwd.burst);
			if (n == 0)
				continue;
			st = &p->stats[lc->lcore_id];
			st->rx_pkts += n;
			p->rxq_pkts[pl->q[i].queue] += n;
			pl->q[i].last_pkt = prev;
			cap = atomic_load_explicit(&p->capture,
						   memory_order_acquire);
			if (unlikely(cap != NULL))
				vs_capture_burst(cap, pkts, n, VS_CAPTURE_RX);
			for (k = 0; k < n; k++)
				st->rx_bytes += rte_pktmbuf_pkt_len(pkts[k]);
			got += n;
			fwd_burst(lc, p, pkts, n, prev);
		}
		txbuf_flush(lc);
		rte_rcu_qsbr_quiescent(fwd.qsbr, lc->idx);
		full = false;

		now = rte_rdtsc();
		if (unlikely(lc->eth_fired)) {
			lc->eth_fired = false;
			lc->eth_empty = got ? 0 : lc->eth_empty + 1;
			if (lc->eth_empty >= VS_ETH_SPURIOUS) {
				lc->eth_empty = 0;
				lc->eth_mute_until = now + rte_get_tsc_hz();
			}
		}
		if (got) {
			lc->busy_cycles += now - prev;
			lc->pkts += got;
		} else {
			lc->idle_cycles += now - prev;
			if (pl != NULL && try_sleep(lc, pl, now)) {
				now = rte_rdtsc(); /* sleep is not idle time */
				/* A kick woke us: its queue may be quiet. */
				full = true;
				prev = now;
				continue;
			}
		}
		prev = now;
	}
	txbuf_flush(lc);
	rte_rcu_qsbr_thread_offline(fwd.qsbr, lc->idx);
	rte_rcu_qsbr_thread_unregister(fwd.qsbr, lc->idx);
	FWD_LOG(INFO, "lcore %u stopped\n", lc->lcore_id);
	return 0;
}

int
vs_fwd_start(void)
{
	unsigned int i;
	int ret;

	fwd.quit = false;
	for (i = 0; i < fwd.nb; i++) {
		ret = rte_eal_remote_launch(fwd_loop, fwd.lc[i],
					    fwd.lc[i]->lcore_id);
		if (ret != 0) {
			vs_fwd_stop();
			return ret;
		}
	}
	return 0;
}

void
vs_fwd_stop(void)
{
	unsigned int i;
	uint64_t one = 1;

	fwd.quit = true;
	for (i = 0; i < fwd.nb; i++)
		if (write(fwd.lc[i]->wakefd, &one, sizeof(one)) < 0)
			FWD_LOG(DEBUG, "wake: %s\n", strerror(errno));
	rte_eal_mp_wait_lcore();
}

int
vs_fwd_lcore_info(unsigned int idx, struct vs_fwd_lcore_info *info)
{
	struct vs_lcore *lc;
	struct vs_poll_list *pl;

	if (idx >= fwd.nb)
		return -ENOENT;
	lc = fwd.lc[idx];
	pl = atomic_load(&lc->poll);
	info->lcore_id = lc->lcore_id;
	info->nb_rxq = pl ? pl->n : 0;
	info->busy_cycles = lc->busy_cycles;
	info->idle_cycles = lc->idle_cycles;
	info->pkts = lc->pkts;
	info->sleeping = atomic_load(&lc->sleeping);
	info->sleeps = lc->sleeps;
	info->wake_kick = lc->wake_kick;
	info->wake_timer = lc->wake_timer;
	info->wake_ctl = lc->wake_ctl;
	info->sleep_cycles = lc->sleep_cycles;
	return 0;
}

int
vs_fwd_lcore_rxqs(unsigned int idx, uint16_t *ports, uint16_t *queues,
		  unsigned int max)
{
	struct vs_poll_list *pl;
	unsigned int i;

	if (idx >= fwd.nb)
		return -ENOENT;
	/* Control thread only: it is also the only writer of poll lists. */
	pl = atomic_load(&fwd.lc[idx]->poll);
	for (i = 0; pl != NULL && i < pl->n && i < max; i++) {
		ports[i] = pl->q[i].port_id;
		queues[i] = pl->q[i].queue;
	}
	return i;
}
