/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarding loop. Two passes per burst, as netmap's VALE does: look
 * every frame up and chain it to its destination's tx buffer, then send
 * once per destination. The sleep path (busy-loop timeout) is in
 * vs_fwd_sleep.c; who owns what is in vs_fwd_priv.h.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "vs_fdb.h"
#include "vs_fwd.h"
#include "vs_fwd_priv.h"
#include "vs_mbuf.h"
#include "vs_offload.h"
#include "vs_port_priv.h"
#include "vs_vlan.h"
#include "vs_vxlan.h"

RTE_LOG_REGISTER(vs_logtype_fwd, vswitch.fwd, INFO);

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

static struct {
	unsigned int nb;
	struct vs_lcore *lc[RTE_MAX_LCORE];
	struct rte_rcu_qsbr *qsbr;
	uint16_t burst;
	uint32_t retries;
	uint64_t quiet_tsc; /* VS_QUIET_US in TSC cycles */
	/* --tx-flush-interval: how long a frame may wait in a tx buffer. */
	_Atomic uint32_t flush_us;
	_Atomic uint64_t flush_tsc; /* the same in TSC cycles; 0: at once */
	/* --tx-coalesce: how long a guest's first buffered frame waits. */
	_Atomic uint32_t coal_us;
	_Atomic uint64_t coal_tsc;
	volatile bool quit;
} fwd;

/*
 * Which lcore (forwarding index) owns each rx queue, kept across
 * rebalances so that adding or removing a port moves nothing else.
 * Control thread only (vs_fwd_rebalance() callers are serialized).
 */
static struct {
	uint64_t serial; /* the port the row is for; 0: none */
	int16_t lc[VS_PORT_MAX_QUEUES];
} asg[VS_MAX_PORTS];
static uint64_t list_gen;

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
		lc->ep_kick_gen = UINT32_MAX;
		lc->ep_list_gen = UINT64_MAX;
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
	vs_fwd_set_tx_flush(conf->tx_flush_us);
	vs_fwd_set_tx_coalesce(conf->tx_coalesce_us);
	return 0;
nomem:
	vs_fwd_fini();
	return -ENOMEM;
}

bool
vs_fwd_quitting(void)
{
	return fwd.quit;
}

void
vs_fwd_wake_all(void)
{
	uint64_t one = 1;
	unsigned int i;

	/*
	 * Whatever the caller published (a poll list, a kick generation, a
	 * port state) is ordered before the loads of "sleeping"; an lcore
	 * orders its store of "sleeping" before it looks at them again
	 * (vs_fwd_try_sleep()), so one of the two sees the other.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	for (i = 0; i < fwd.nb; i++)
		if (atomic_load(&fwd.lc[i]->sleeping) &&
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
		vs_fwd_sleep_fini(fwd.lc[i]);
		if (fwd.lc[i]->wakefd >= 0)
			close(fwd.lc[i]->wakefd);
		rte_free(atomic_load(&fwd.lc[i]->poll));
		rte_free(fwd.lc[i]);
		fwd.lc[i] = NULL;
	}
	rte_free(fwd.qsbr);
	fwd.qsbr = NULL;
	fwd.nb = 0;
	memset(asg, 0, sizeof(asg));
}

static struct vs_poll_list *
list_alloc(unsigned int cap)
{
	struct vs_poll_list *l;

	l = rte_zmalloc("vs_poll", sizeof(*l) + sizeof(l->q[0]) * (cap + 1), 0);
	if (l != NULL)
		l->gen = ++list_gen;
	return l;
}

/* Publish @p nl as every lcore's poll list, wait for them, free the old. */
static void
lists_publish(struct vs_poll_list **nl)
{
	struct vs_poll_list *old[RTE_MAX_LCORE];
	unsigned int i;

	for (i = 0; i < fwd.nb; i++)
		old[i] = atomic_exchange(&fwd.lc[i]->poll, nl[i]);
	vs_fwd_wake_all();
	/*
	 * Every lcore passes a quiescent state after it finished the pass
	 * (sleep included) that may have used its old list.
	 */
	vs_fwd_synchronize();
	for (i = 0; i < fwd.nb; i++)
		rte_free(old[i]);
}

/*
 * Choose an owner for every rx queue of every port. Without @p even, a
 * queue keeps its lcore and a new queue goes to the least loaded lcore.
 * With @p even (lcore/rebalance), as many queues as the counts allow stay
 * put and the rest move so that the counts differ by at most one.
 */
/* How many of a port's @p nq queues @p want gives lcore @p i. */
static unsigned int
port_load(const int16_t *want, uint16_t nq, unsigned int i)
{
	unsigned int n = 0;
	uint16_t q;

	for (q = 0; q < nq; q++)
		n += want[q] == (int16_t)i;
	return n;
}

static unsigned int
assign(bool even, int16_t (*want)[VS_PORT_MAX_QUEUES])
{
	unsigned int load[RTE_MAX_LCORE] = { 0 }, quota[RTE_MAX_LCORE];
	unsigned int total = 0, i, best;
	uint16_t pid, q, np = vs_port_count();

	for (pid = 0; pid < VS_MAX_PORTS; pid++) {
		struct vs_port *p = pid < np ? vs_port_get(pid) : NULL;

		if (p == NULL) {
			asg[pid].serial = 0;
			continue;
		}
		if (asg[pid].serial != p->serial) {
			asg[pid].serial = p->serial;
			for (q = 0; q < VS_PORT_MAX_QUEUES; q++)
				asg[pid].lc[q] = -1;
		}
		total += p->nb_rxq;
	}
	if (even) {
		/*
		 * Every lcore ends with total / nb queues, and total % nb of
		 * them with one more: those that hold the most now, so that
		 * the fewest queues move.
		 */
		unsigned int have[RTE_MAX_LCORE] = { 0 }, extra, k;

		for (pid = 0; pid < np; pid++) {
			struct vs_port *p = vs_port_get(pid);

			for (q = 0; p != NULL && q < p->nb_rxq; q++)
				if (asg[pid].lc[q] >= 0 &&
				    (unsigned int)asg[pid].lc[q] < fwd.nb)
					have[asg[pid].lc[q]]++;
		}
		for (i = 0; i < fwd.nb; i++)
			quota[i] = total / fwd.nb;
		for (extra = total % fwd.nb; extra > 0; extra--) {
			for (best = RTE_MAX_LCORE, k = 0; k < fwd.nb; k++)
				if (quota[k] == total / fwd.nb &&
				    (best == RTE_MAX_LCORE ||
				     have[k] > have[best]))
					best = k;
			quota[best]++;
		}
	}
	/* Queue number first: a multi-queue port spreads over the lcores. */
	for (q = 0; q < VS_PORT_MAX_QUEUES; q++)
		for (pid = 0; pid < np; pid++) {
			struct vs_port *p = vs_port_get(pid);
			int16_t l;

			if (p == NULL || q >= p->nb_rxq)
				continue;
			l = asg[pid].lc[q];
			if (l >= 0 && (unsigned int)l < fwd.nb &&
			    (!even || load[l] < quota[l])) {
				want[pid][q] = l;
				load[l]++;
			} else {
				want[pid][q] = -1;
			}
		}
	for (q = 0; q < VS_PORT_MAX_QUEUES; q++)
		for (pid = 0; pid < np; pid++) {
			struct vs_port *p = vs_port_get(pid);

			if (p == NULL || q >= p->nb_rxq || want[pid][q] >= 0)
				continue;
			/* Least loaded; on a tie, the one with fewer of this
			 * port's queues. */
			for (best = 0, i = 1; i < fwd.nb; i++)
				if (load[i] < load[best] ||
				    (load[i] == load[best] &&
				     port_load(want[pid], p->nb_rxq, i) <
					     port_load(want[pid], p->nb_rxq,
						       best)))
					best = i;
			want[pid][q] = (int16_t)best;
			load[best]++;
		}
	return total;
}

static int
rebalance(bool even)
{
	static int16_t want[VS_MAX_PORTS][VS_PORT_MAX_QUEUES];
	static bool kept[VS_MAX_PORTS][VS_PORT_MAX_QUEUES];
	struct vs_poll_list *cur[RTE_MAX_LCORE], *l1[RTE_MAX_LCORE] = { NULL },
						 *l2[RTE_MAX_LCORE] = { NULL };
	bool moved = false, added = false;
	unsigned int total, i, k;
	uint16_t pid, q, np;
	uint64_t now = rte_rdtsc();

	if (fwd.nb == 0)
		return 0;
	total = assign(even, want);
	np = vs_port_count();
	memset(kept, 0, sizeof(kept));
	for (i = 0; i < fwd.nb; i++) {
		cur[i] = atomic_load(&fwd.lc[i]->poll);
		l1[i] = list_alloc(cur[i] != NULL ? cur[i]->n : 0);
		l2[i] = list_alloc(total);
		if (l1[i] == NULL || l2[i] == NULL)
			goto nomem;
	}
	/* Phase 1 lists: what each lcore keeps of its current list. */
	for (i = 0; i < fwd.nb; i++) {
		for (k = 0; cur[i] != NULL && k < cur[i]->n; k++) {
			const struct vs_rxq *e = &cur[i]->q[k];
			struct vs_port *p = e->port_id < np
				? vs_port_get(e->port_id)
				: NULL;

			if (p == NULL || p->serial != e->serial ||
			    e->queue >= p->nb_rxq ||
			    want[e->port_id][e->queue] != (int16_t)i) {
				moved = true;
				continue;
			}
			l1[i]->q[l1[i]->n++] = *e;
			kept[e->port_id][e->queue] = true;
		}
		memcpy(l2[i]->q, l1[i]->q, sizeof(l1[i]->q[0]) * l1[i]->n);
		l2[i]->n = l1[i]->n;
	}
	/* Phase 2 lists: and what it gains. */
	for (q = 0; q < VS_PORT_MAX_QUEUES; q++)
		for (pid = 0; pid < np; pid++) {
			struct vs_port *p = vs_port_get(pid);
			struct vs_poll_list *l;

			if (p == NULL || q >= p->nb_rxq || kept[pid][q])
				continue;
			l = l2[want[pid][q]];
			l->q[l->n].port_id = pid;
			l->q[l->n].queue = q;
			l->q[l->n].serial = p->serial;
			/* Not quiet, not idle: polled at once, no sleep yet. */
			l->q[l->n].last_pkt = now;
			l->n++;
			added = true;
		}
	/*
	 * Two phases, as OVS reloads its PMDs and VPP stops its workers at a
	 * barrier: a queue leaves its old lcore, which acknowledges through
	 * RCU, before its new lcore sees it. No rx queue ever has two pollers.
	 */
	if (moved) {
		lists_publish(l1);
	} else {
		for (i = 0; i < fwd.nb; i++)
			rte_free(l1[i]);
	}
	if (added) {
		lists_publish(l2);
	} else {
		for (i = 0; i < fwd.nb; i++)
			rte_free(l2[i]);
	}
	for (pid = 0; pid < np; pid++)
		for (q = 0; q < VS_PORT_MAX_QUEUES; q++)
			asg[pid].lc[q] = want[pid][q];
	return 0;
nomem:
	for (i = 0; i < fwd.nb; i++) {
		rte_free(l1[i]);
		rte_free(l2[i]);
	}
	return -ENOMEM;
}

int
vs_fwd_rebalance(void)
{
	return rebalance(false);
}

int
vs_fwd_rebalance_even(void)
{
	return rebalance(true);
}

/*
 * Send @p pid's buffer at TSC @p now. Frames buffered in an earlier pass
 * (they waited: --tx-flush-interval) may have outlived their port, since
 * the lcore reported quiescent states meanwhile: the port is looked up
 * again by id and must have the serial it had; frames of a port that is
 * gone are freed (nothing is left to count them on). A buffer filled in
 * this pass needs no look-up.
 */
static inline void
txbuf_flush_one(struct vs_lcore *lc, uint16_t pid, uint64_t now)
{
	struct vs_txbuf *b = &lc->tx[pid];

	if (b->n == 0)
		return;
	if (unlikely(b->since != lc->pass_tsc)) {
		struct vs_port *p = vs_port_get(pid);

		if (p == NULL || p->serial != b->serial) {
			rte_pktmbuf_free_bulk(b->pkts, b->n);
			b->n = 0;
			return;
		}
		b->port = p;
	}
	vs_port_tx(b->port, lc->idx, b->pkts, b->n, fwd.retries);
	b->n = 0;
	b->last_tx = now;
}

void
vs_fwd_set_tx_flush(uint32_t usec)
{
	atomic_store_explicit(&fwd.flush_tsc,
			      (uint64_t)usec * rte_get_tsc_hz() / 1000000,
			      memory_order_relaxed);
	atomic_store_explicit(&fwd.flush_us, usec, memory_order_relaxed);
}

uint32_t
vs_fwd_get_tx_flush(void)
{
	return atomic_load_explicit(&fwd.flush_us, memory_order_relaxed);
}

void
vs_fwd_set_tx_coalesce(uint32_t usec)
{
	atomic_store_explicit(&fwd.coal_tsc,
			      (uint64_t)usec * rte_get_tsc_hz() / 1000000,
			      memory_order_relaxed);
	atomic_store_explicit(&fwd.coal_us, usec, memory_order_relaxed);
}

uint32_t
vs_fwd_get_tx_coalesce(void)
{
	return atomic_load_explicit(&fwd.coal_us, memory_order_relaxed);
}

void
vs_fwd_txbuf_flush(struct vs_lcore *lc)
{
	uint16_t i;

	for (i = 0; i < lc->nb_dirty; i++)
		txbuf_flush_one(lc, lc->dirty[i], lc->pass_tsc);
	lc->nb_dirty = 0;
}

/*
 * --tx-flush-interval, as OVS-DPDK's dpif-netdev does it: a port's
 * buffer goes out once @p hold TSC cycles have passed since the last send
 * to the port (so at once after a quiet spell: light traffic pays no
 * latency). --tx-coalesce, for a guest's port: and once its first frame
 * has waited @p coal cycles (a lone frame pays them: the guest's
 * interrupt is put off, as a NIC's rx-usecs does). Other buffers stay
 * listed. Returns whether frames still wait.
 */
static bool
txbuf_flush_due(struct vs_lcore *lc, uint64_t now, uint64_t hold, uint64_t coal)
{
	uint16_t i, k = 0;

	for (i = 0; i < lc->nb_dirty; i++) {
		uint16_t pid = lc->dirty[i];
		struct vs_txbuf *b = &lc->tx[pid];

		if (b->n == 0)
			continue;
		if (now - b->last_tx < hold ||
		    (b->coalesce && now - b->since < coal)) {
			lc->dirty[k++] = pid;
			continue;
		}
		txbuf_flush_one(lc, pid, now);
	}
	lc->nb_dirty = k;
	return k != 0;
}

/* @p p's tx buffer @p b, made ready to take frames. */
static inline void
txbuf_open(struct vs_lcore *lc, struct vs_port *p, struct vs_txbuf *b)
{
	/*
	 * Frames that waited (--tx-flush-interval) for a port deleted since,
	 * whose id @p p now has: the port they were for is gone.
	 */
	if (unlikely(b->serial != p->serial)) {
		rte_pktmbuf_free_bulk(b->pkts, b->n); /* none: a no-op */
		b->n = 0;
		b->last_tx = 0; /* a new port: no send to wait after */
	}
	if (b->n == 0) {
		/* A buffer flushed when full stays listed; don't list it twice. */
		uint16_t i;

		b->port = p;
		b->serial = p->serial;
		b->coalesce = p->kind == VS_PORT_VHOST;
		b->since = lc->pass_tsc;
		for (i = 0; i < lc->nb_dirty; i++)
			if (lc->dirty[i] == p->id)
				break;
		if (i == lc->nb_dirty)
			lc->dirty[lc->nb_dirty++] = p->id;
	}
}

static inline void
txbuf_put(struct vs_lcore *lc, struct vs_port *p, struct rte_mbuf *m)
{
	struct vs_txbuf *b = &lc->tx[p->id];

	txbuf_open(lc, p, b);
	b->pkts[b->n++] = m;
	if (unlikely(b->n == VS_TXBUF))
		txbuf_flush_one(lc, p->id, lc->pass_tsc);
}

/* txbuf_put() of @p n frames: one copy of their pointers per buffer fill. */
static inline void
txbuf_put_bulk(struct vs_lcore *lc, struct vs_port *p, struct rte_mbuf **pkts,
	       uint16_t n)
{
	struct vs_txbuf *b = &lc->tx[p->id];
	uint16_t k;

	while (n > 0) {
		txbuf_open(lc, p, b);
		k = RTE_MIN(n, VS_TXBUF - b->n);
		memcpy(&b->pkts[b->n], pkts, k * sizeof(*pkts));
		b->n += k;
		pkts += k;
		n -= k;
		if (b->n == VS_TXBUF)
			txbuf_flush_one(lc, p->id, lc->pass_tsc);
	}
}

/* Whether @p m needs an offload @p p lacks, or is larger than its MTU. */
static inline bool
txbuf_needs_finish(const struct vs_port *p, const struct rte_mbuf *m)
{
	return (m->ol_flags & VS_OL_TX_FLAGS) ||
		(p->max_frame && rte_pktmbuf_pkt_len(m) > p->max_frame);
}

/* Frames needing an offload @p p lacks, or larger than its MTU. */
static __rte_noinline void
txbuf_finish(struct vs_lcore *lc, struct vs_port *p, struct rte_mbuf *m)
{
	struct rte_mbuf *out[VS_OL_MAX_SEGS];
	uint16_t n, i;

	n = vs_offload_finish(p, m, out, RTE_DIM(out));
	for (i = 0; i < n; i++)
		txbuf_put(lc, p, out[i]);
}

/*
 * @p m into @p p's tx buffer, through txbuf_finish() when an offload or
 * the MTU asks for it.
 */
static inline void
txbuf_put_checked(struct vs_lcore *lc, struct vs_port *p, struct rte_mbuf *m)
{
	/* Today's path: no offload request, within the MTU. */
	if (unlikely(txbuf_needs_finish(p, m)))
		txbuf_finish(lc, p, m);
	else
		txbuf_put(lc, p, m);
}

/*
 * A destination of pass 2: the port and its VLAN view, looked up once
 * for a run of frames to it. @p port NULL: deleted meanwhile.
 */
struct fwd_dest {
	uint32_t id; /* VS_PORT_INVALID: none yet */
	struct vs_port *port;
	const struct vs_l2 *l2;
};

static inline void
dest_set(struct fwd_dest *d, uint16_t pid)
{
	d->id = pid;
	d->port = vs_port_get(pid);
	if (d->port != NULL)
		d->l2 = atomic_load_explicit(&d->port->l2,
					     memory_order_acquire);
}

static inline void
txbuf_add(struct vs_lcore *lc, struct vs_port *in, const struct fwd_dest *to,
	  struct rte_mbuf *m)
{
	struct vs_port *p = to->port;
	uint16_t vid;

	if (unlikely(p == NULL)) { /* just deleted */
		vs_port_drop(in, VS_DROP_PORT_DOWN, &m, 1);
		return;
	}
	/*
	 * VLANs: nothing to do for a frame of the one VLAN the port takes
	 * untagged without a check (its access VLAN; VLAN 0 without keys).
	 */
	vid = m->vlan_tci & RTE_VLAN_ID_MASK;
	if (unlikely(vid != to->l2->out_vid)) {
		m = vs_vlan_out(in, to->l2, m, vid, p->socket_id);
		if (m == NULL)
			return;
	}
	txbuf_put_checked(lc, p, m);
}

/*
 * txbuf_add() of @p n frames to port @p p, which sends their VLAN
 * untagged: each frame's remote VTEP (@p remote, for a tunnel) noted, the
 * offload and MTU checks made on the run as a whole (the flags of all
 * the frames, the longest), per frame only when it fails.
 */
static inline void
txbuf_add_run(struct vs_lcore *lc, struct vs_port *p, struct rte_mbuf **pkts,
	      uint16_t n, uint32_t remote)
{
	uint64_t fl = 0;
	uint32_t len = 0;
	uint16_t i;

	for (i = 0; i < n; i++) {
		pkts[i]->hash.usr = remote;
		fl |= pkts[i]->ol_flags;
		len = RTE_MAX(len, rte_pktmbuf_pkt_len(pkts[i]));
	}
	if (!(fl & VS_OL_TX_FLAGS) &&
	    (p->max_frame == 0 || len <= p->max_frame)) {
		txbuf_put_bulk(lc, p, pkts, n);
		return;
	}
	for (i = 0; i < n; i++)
		txbuf_put_checked(lc, p, pkts[i]);
}

/* Every segment carries its own reference count. */
static inline void
mbuf_ref_add(struct rte_mbuf *m, int16_t v)
{
	for (; m != NULL; m = m->next)
		rte_mbuf_refcnt_update(m, v);
}

/* How many of @p in's rx queues poll list @p pl holds (storm control). */
static uint16_t
pl_share(const struct vs_poll_list *pl, const struct vs_port *in)
{
	uint16_t i, k = 0;

	for (i = 0; i < pl->n; i++)
		k += pl->q[i].port_id == in->id;
	return k;
}

static void
fwd_burst(struct vs_lcore *lc, struct vs_port *in,
	  const struct vs_poll_list *pl, struct rte_mbuf **pkts, uint16_t n,
	  uint64_t now, bool same)
{
	const struct vs_l2 *c =
		atomic_load_explicit(&in->l2, memory_order_acquire);
	struct vs_port_lstats *st = &in->stats[lc->lcore_id];
	uint64_t keys[VS_MAX_BURST];
	uint64_t last_src = 0;
	/* Frame j goes to out[map[j]], the port of its destination keys[]. */
	uint32_t out[VS_MAX_BURST];
	uint16_t map[VS_MAX_BURST];
	uint16_t nu = 0;
	bool tun_in = in->kind == VS_PORT_VXLAN;
	/*
	 * A NIC's frames arrive by DMA; a guest's and a tunnel's were just
	 * written (the vhost copy) or read (decapsulation) by this lcore.
	 */
	bool pf = in->kind == VS_PORT_ETHDEV;
	struct fwd_dest flood[VS_MAX_PORTS], last = { .id = VS_PORT_INVALID };
	int nb_flood = -1; /* computed on the first flooded frame */
	int flood_vid = -1; /* the VLAN flood[] is for */
	int share = -1; /* in's rx queues this lcore polls; storm control */
	uint16_t i, j, k, in_id = in->id;

	/* Pass 1: drop runts, learn sources, look destinations up. */
	for (i = 0, j = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct rte_ether_hdr *eth;
		uint64_t src, dst, lo;
		uint32_t hi;
		bool untagged;
		int vid;

		if (unlikely(rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN)) {
			vs_port_drop(in, VS_DROP_RUNT, &m, 1);
			continue;
		}
		if (pf && i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		untagged = eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_VLAN) &&
			c->in_vid >= 0;
		if (likely(untagged)) {
			/* Untagged, into the port's VLAN: no tag to pop. */
			vid = c->in_vid;
			m->vlan_tci = vid;
		} else {
			vid = vs_vlan_in(c, m);
			if (unlikely(vid < 0)) {
				vs_port_drop(in, VS_DROP_VLAN_DENIED, &m, 1);
				continue;
			}
			eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		}
		src = vs_fdb_key(&eth->src_addr, vid);
		if (unlikely(c->nb_allowed) &&
		    !vs_src_allowed(c, src & VS_FDB_MAC_MASK)) {
			vs_port_drop(in, VS_DROP_SRC_DENIED, &m, 1);
			continue;
		}
		/* One-entry cache: a burst usually has one source. */
		if (src != last_src &&
		    rte_is_valid_assigned_ether_addr(&eth->src_addr)) {
			if (unlikely(vs_fdb_learn(src, in_id,
						  tun_in ? (uint8_t)m->hash.usr
							 : 0,
						  now, c->max_macs) < 0))
				st->mac_limit++;
			last_src = src;
		}
		/*
		 * Last-MAC cache: a run of frames to one destination (the usual
		 * burst) costs one hash lookup, not one per frame.
		 */
		dst = vs_fdb_key(&eth->dst_addr, vid);
		if (nu == 0 || keys[nu - 1] != dst)
			keys[nu++] = dst;
		map[j] = nu - 1;
		pkts[j++] = m;
		if (!untagged)
			continue;
		/*
		 * @p same (a tunnel's frames, compared as they were
		 * decapsulated): the others have the first one's MACs and
		 * EtherType, and are long enough to.
		 */
		if (same && i == 0 && j == 1) {
			for (k = 1; k < n; k++) {
				pkts[k]->vlan_tci = vid;
				map[k] = 0;
			}
			j = n;
			break;
		}
		/*
		 * The frames after it with its MACs, untagged too (a burst is
		 * usually one flow): the same VLAN, the source allowed and
		 * learned, the destination's key the last one in keys[].
		 */
		memcpy(&lo, eth, sizeof(lo));
		memcpy(&hi, (const uint8_t *)eth + sizeof(lo), sizeof(hi));
		for (; i + 1 < n; i++) {
			uint64_t lo2;
			uint32_t hi2;

			m = pkts[i + 1];
			if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN)
				break;
			if (pf && i + 2 < n)
				rte_prefetch0(
					rte_pktmbuf_mtod(pkts[i + 2], void *));
			eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
			memcpy(&lo2, eth, sizeof(lo2));
			memcpy(&hi2, (const uint8_t *)eth + sizeof(lo2),
			       sizeof(hi2));
			if (lo2 != lo || hi2 != hi ||
			    eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_VLAN))
				break;
			m->vlan_tci = vid;
			map[j] = nu - 1;
			pkts[j++] = m;
		}
	}
	n = j;
	if (unlikely(nu == 0))
		return;
	vs_fdb_lookup_bulk(keys, nu, out);
	/*
	 * Broadcast and multicast flood, whatever the table says; so does a
	 * MAC still in the table for a port just deleted (port/del flushes
	 * its entries once no lcore can see the port any more). Bit 0 of a
	 * key is the MAC's group bit.
	 */
	for (i = 0; i < nu; i++)
		if ((keys[i] & 1) ||
		    (out[i] != VS_PORT_INVALID &&
		     unlikely(vs_port_get(out[i] & 0xffff) == NULL)))
			out[i] = VS_PORT_INVALID;

	/*
	 * Pass 2 of the usual burst, one known unicast destination other than
	 * @p in that sends the burst's VLAN untagged: the checks that depend
	 * on the destination alone are made once, not per frame.
	 */
	if (nu == 1 && out[0] != VS_PORT_INVALID &&
	    (out[0] & 0xffff) != in_id) {
		dest_set(&last, out[0] & 0xffff);
		if (likely(last.port != NULL) &&
		    likely((uint16_t)(keys[0] >> 48) == last.l2->out_vid)) {
			txbuf_add_run(lc, last.port, pkts, n, out[0] >> 16);
			return;
		}
	}

	/* Pass 2: chain every frame to its destinations. */
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint16_t to = out[map[i]] & 0xffff;
		int vid;

		if (likely(to != VS_PORT_INVALID)) {
			/* The remote VTEP behind a tunnel port, or 0. */
			m->hash.usr = out[map[i]] >> 16;
			if (unlikely(to == in_id)) {
				vs_port_drop(in, VS_DROP_SAME_PORT, &m, 1);
				continue;
			}
			if (to != last.id)
				dest_set(&last, to);
			txbuf_add(lc, in, &last, m);
			continue;
		}
		if (unlikely(c->flood_pps) && share < 0)
			share = pl_share(pl, in); /* once per burst */
		if (unlikely(c->flood_pps) &&
		    !vs_storm_ok(&lc->storm[in->id], in, c, (uint16_t)share,
				 now)) {
			vs_port_drop(in, VS_DROP_STORM, &m, 1);
			continue;
		}
		/*
		 * Broadcast, multicast, unknown unicast: every other up port
		 * of the frame's VLAN.
		 */
		vid = m->vlan_tci & RTE_VLAN_ID_MASK;
		if (nb_flood < 0 || vid != flood_vid) {
			nb_flood = 0;
			flood_vid = vid;
			for (k = 0; k < vs_port_count(); k++) {
				struct vs_port *p = vs_port_get(k);

				if (k != in_id && p != NULL && vs_port_up(p) &&
				    atomic_load_explicit(
					    &p->ul, memory_order_relaxed) ==
					    NULL &&
				    vs_l2_member(atomic_load_explicit(
							 &p->l2,
							 memory_order_acquire),
						 vid))
					dest_set(&flood[nb_flood++], k);
			}
		}
		if (nb_flood == 0) {
			vs_port_drop(in, VS_DROP_NO_DEST, &m, 1);
			continue;
		}
		m->hash.usr = 0; /* a tunnel sends it to every remote */
		if (nb_flood > 1)
			mbuf_ref_add(m, nb_flood - 1);
		for (k = 0; k < nb_flood; k++)
			txbuf_add(lc, in, &flood[k], m);
	}
}

struct tun_ctx {
	struct vs_lcore *lc;
	const struct vs_poll_list *pl;
	uint64_t now;
};

/* Frames a tunnel port received (decapsulated): its ingress. */
static void
tun_deliver(void *arg, struct vs_port *t, struct rte_mbuf **pkts, uint16_t n,
	    uint64_t bytes, bool same)
{
	struct tun_ctx *c = arg;
	struct vs_port_lstats *st = &t->stats[c->lc->lcore_id];
	struct vs_capture *cap;

	if (!atomic_load_explicit(&t->enabled, memory_order_relaxed)) {
		vs_port_drop(t, VS_DROP_PORT_DOWN, pkts, n);
		return;
	}
	st->rx_pkts += n;
	st->rx_bytes += bytes;
	cap = atomic_load_explicit(&t->capture, memory_order_acquire);
	if (unlikely(cap != NULL))
		vs_capture_burst(cap, pkts, n, VS_CAPTURE_RX);
	fwd_burst(c->lc, t, c->pl, pkts, n, c->now, same);
}

uint16_t
vs_fwd_rxq_poll(struct vs_lcore *lc, struct vs_poll_list *pl, uint16_t i,
		uint64_t now)
{
	struct rte_mbuf *pkts[VS_MAX_BURST];
	struct vs_rxq *rq = &pl->q[i];
	struct vs_port_lstats *st;
	struct vs_capture *cap;
	struct vs_port *p;
	uint16_t n, total = 0;
	unsigned int polls = 0;

	p = vs_port_get(rq->port_id);
	if (p == NULL || p->serial != rq->serial ||
	    !atomic_load_explicit(&p->enabled, memory_order_relaxed))
		return 0;
again :
#ifdef VS_CHECKS
{
	/* Debug builds: prove one poller per rx queue. */
	int16_t none = -1;

	if (!atomic_compare_exchange_strong(&p->rxq_owner[rq->queue], &none,
					    (int16_t)lc->idx)) {
		lc->owner_conflicts++;
		FWD_LOG(ERR,
			"lcore %u: %s rx queue %u is polled by forwarding index %d too\n",
			lc->lcore_id, p->name, rq->queue, none);
		return 0;
	}
	n = p->ops->rx(p, rq->queue, pkts, fwd.burst);
	atomic_store(&p->rxq_owner[rq->queue], -1);
}
#else
	n = p->ops->rx(p, rq->queue, pkts, fwd.burst);
#endif
	/* A VXLAN underlay: ARP requests the control thread queued. */
	if (unlikely(atomic_load_explicit(&p->ul, memory_order_relaxed) !=
		     NULL) &&
	    rq->queue == 0)
		vs_vxlan_drain(p, lc->idx);
	if (n == 0)
		return total;
	total += n;
	st = &p->stats[lc->lcore_id];
	st->rx_pkts += n;
	p->rxq_pkts[rq->queue] += n;
	rq->last_pkt = now;
	/* One load: capture/stop may clear it meanwhile. */
	cap = atomic_load_explicit(&p->capture, memory_order_acquire);
	if (unlikely(cap != NULL))
		vs_capture_burst(cap, pkts, n, VS_CAPTURE_RX);
	lc->pkts += n;
	if (unlikely(atomic_load_explicit(&p->ul, memory_order_acquire) !=
		     NULL)) {
		struct tun_ctx ctx = { lc, pl, now };

		/* It sums their bytes as it reads them. */
		st->rx_bytes += vs_vxlan_rx(p, lc->idx, pkts, n, now,
					    tun_deliver, &ctx);
		/*
		 * An underlay queue carries every tunnel's and every remote's
		 * traffic: a full burst is followed by more, up to
		 * VS_UL_POLLS bursts a pass, so that it keeps up with the
		 * ports whose frames go out over it.
		 */
		if (n == fwd.burst && ++polls < VS_UL_POLLS)
			goto again;
		return total;
	}
	st->rx_bytes += vs_mbuf_bytes(pkts, n);
	fwd_burst(lc, p, pl, pkts, n, now, false);
	return total;
}

/*
 * A new poll list: queues it gained may have been left armed by their
 * previous owner (it was asleep when they moved); this lcore polls them,
 * so the guests need not kick.
 */
static void
adopt(struct vs_lcore *lc, struct vs_poll_list *pl)
{
	uint16_t i;

	for (i = 0; i < pl->n; i++) {
		struct vs_port *p = vs_port_get(pl->q[i].port_id);

		if (p != NULL && p->serial == pl->q[i].serial &&
		    p->ops->notify != NULL &&
		    atomic_load_explicit(&p->rxq_armed[pl->q[i].queue],
					 memory_order_relaxed))
			p->ops->notify(p, pl->q[i].queue, false);
	}
	lc->seen_gen = pl->gen;
}

static int
fwd_loop(void *arg)
{
	struct vs_lcore *lc = arg;
	uint64_t prev = rte_rdtsc(), now;
	uint32_t pass = 0;
	bool full = true; /* poll quiet queues too: the pass after a sleep */

	rte_rcu_qsbr_thread_register(fwd.qsbr, lc->idx);
	rte_rcu_qsbr_thread_online(fwd.qsbr, lc->idx);
	FWD_LOG(INFO, "lcore %u forwarding\n", lc->lcore_id);

	while (!fwd.quit) {
		struct vs_poll_list *pl =
			atomic_load_explicit(&lc->poll, memory_order_acquire);
		enum vs_sleep_result r;
		uint64_t got = 0,
			 hold = atomic_load_explicit(&fwd.flush_tsc,
						     memory_order_relaxed),
			 coal = atomic_load_explicit(&fwd.coal_tsc,
						     memory_order_relaxed);
		bool held = false;
		uint16_t i, n;

		if (pl != NULL && unlikely(pl->gen != lc->seen_gen))
			adopt(lc, pl);
		pass++;
		lc->pass_tsc = prev;
		for (i = 0; pl != NULL && i < pl->n; i++) {
			if (!full && ((pass + i) & (VS_QUIET_EVERY - 1)) != 0 &&
			    unlikely(prev - pl->q[i].last_pkt > fwd.quiet_tsc))
				continue; /* quiet: see VS_QUIET_US */
			/*
			 * What a burst buffered goes out before the next queue
			 * is polled (as OVS's default tx-flush-interval 0):
			 * the frames are still in the cache, and a sender's
			 * ACKs do not wait behind another port's bulk copy.
			 * With --tx-flush-interval or --tx-coalesce, the
			 * buffers not yet due wait for more.
			 */
			n = vs_fwd_rxq_poll(lc, pl, i, prev);
			if (n) {
				got += n;
				if ((hold | coal) == 0)
					vs_fwd_txbuf_flush(lc);
				else
					txbuf_flush_due(lc, rte_rdtsc(), hold,
							coal);
			}
		}
		now = rte_rdtsc();
		if (lc->nb_dirty > 0)
			held = txbuf_flush_due(lc, now, hold, coal);
		full = false;

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
		} else {
			lc->idle_cycles += now - prev;
			/* No sleep while frames wait: at most the interval. */
			r = pl != NULL && !held ? vs_fwd_try_sleep(lc, pl, now)
						: VS_SLEEP_NONE;
			if (r == VS_SLEEP_SLEPT) {
				/* Sleep is not idle time; a kick's queue may
				 * be quiet: poll everything next. */
				now = rte_rdtsc();
				full = true;
			} else if (r == VS_SLEEP_FORWARDED) {
				uint64_t t = rte_rdtsc();

				lc->busy_cycles += t - now;
				now = t;
			}
		}
		/* After the pass and the sleep: pl is not used past here. */
		rte_rcu_qsbr_quiescent(fwd.qsbr, lc->idx);
		prev = now;
	}
	/* After the last quiescent state: every buffer is looked up again. */
	lc->pass_tsc = 0;
	txbuf_flush_due(lc, rte_rdtsc(), 0, 0);
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
	info->owner_conflicts = lc->owner_conflicts;
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
