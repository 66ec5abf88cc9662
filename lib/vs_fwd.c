/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarding loop. Two passes per burst, as netmap's VALE does: look
 * every frame up and chain it to its destination's tx buffer, then send
 * once per destination.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

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

struct vs_rxq {
	uint16_t port_id;
	uint16_t queue;
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
		fwd.lc[i++] = lc;
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
	return 0;
nomem:
	vs_fwd_fini();
	return -ENOMEM;
}

void
vs_fwd_fini(void)
{
	unsigned int i;

	for (i = 0; i < RTE_MAX_LCORE; i++) {
		if (fwd.lc[i] == NULL)
			continue;
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
	const struct rte_ether_addr *dst[VS_MAX_BURST];
	const struct rte_ether_addr *last_src = NULL;
	uint16_t out[VS_MAX_BURST];
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
		dst[j] = &eth->dst_addr;
		pkts[j++] = m;
	}
	n = j;
	vs_fdb_lookup_bulk(dst, n, out);

	/* Pass 2: chain every frame to its destinations. */
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		if (likely(!rte_is_multicast_ether_addr(dst[i]) &&
			   out[i] != VS_PORT_INVALID)) {
			if (unlikely(out[i] == in_id))
				vs_port_drop(in, VS_DROP_SAME_PORT, &m, 1);
			else
				txbuf_add(lc, out[i], m);
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

static int
fwd_loop(void *arg)
{
	struct vs_lcore *lc = arg;
	struct rte_mbuf *pkts[VS_MAX_BURST];
	uint64_t prev = rte_rdtsc(), now;

	rte_rcu_qsbr_thread_register(fwd.qsbr, lc->idx);
	rte_rcu_qsbr_thread_online(fwd.qsbr, lc->idx);
	FWD_LOG(INFO, "lcore %u forwarding\n", lc->lcore_id);

	while (!fwd.quit) {
		struct vs_poll_list *pl =
			atomic_load_explicit(&lc->poll, memory_order_acquire);
		uint64_t got = 0;
		uint16_t i;

		for (i = 0; pl != NULL && i < pl->n; i++) {
			struct vs_port *p = vs_port_get(pl->q[i].port_id);
			struct vs_port_lstats *st;
			uint16_t n, k;

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
			for (k = 0; k < n; k++)
				st->rx_bytes += rte_pktmbuf_pkt_len(pkts[k]);
			got += n;
			fwd_burst(lc, p, pkts, n, prev);
		}
		txbuf_flush(lc);
		rte_rcu_qsbr_quiescent(fwd.qsbr, lc->idx);

		now = rte_rdtsc();
		if (got) {
			lc->busy_cycles += now - prev;
			lc->pkts += got;
		} else {
			lc->idle_cycles += now - prev;
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
	fwd.quit = true;
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
