/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_MBUF_H
#define VS_MBUF_H

/**
 * @file
 * Mbuf pools, one per NUMA socket that has a forwarding lcore or a port.
 */

#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

/** Sizing inputs; see doc/architecture.md for the formula. */
struct vs_mbuf_sizing {
	uint32_t
		ring_mbufs; /**< Sum over ethdev queues of their descriptors. */
	uint32_t
		vhost_queues; /**< Sum over vhost ports of their queue pairs. */
	uint16_t nb_ports;
	uint16_t nb_lcores; /**< Forwarding lcores. */
	uint16_t burst;
};

/** Mbufs per pool for @p s (at least VS_MBUF_MIN). */
uint32_t vs_mbuf_pool_size(const struct vs_mbuf_sizing *s);

/**
 * Create a pool of @p n mbufs on every socket in @p socket_mask.
 * @return 0, or -ENOMEM / -rte_errno.
 */
int vs_mbuf_init(uint64_t socket_mask, uint32_t n);

/** The pool on @p socket, or the first pool if that socket has none. */
struct rte_mempool *vs_mbuf_pool(int socket);

/** Mbufs not in any pool (in rings, in flight, in lcore caches). */
uint32_t vs_mbuf_in_use(int socket, uint32_t *size);

/**
 * The bytes of @p n frames (their pkt_len), four at a time: the counters'
 * loop on every burst, in fewer instructions a frame than one at a time.
 */
static inline uint64_t
vs_mbuf_bytes(struct rte_mbuf *const *pkts, unsigned int n)
{
	uint64_t b = 0;
	unsigned int i = 0;

	for (; i + 4 <= n; i += 4)
		b += (uint64_t)rte_pktmbuf_pkt_len(pkts[i]) +
			rte_pktmbuf_pkt_len(pkts[i + 1]) +
			rte_pktmbuf_pkt_len(pkts[i + 2]) +
			rte_pktmbuf_pkt_len(pkts[i + 3]);
	for (; i < n; i++)
		b += rte_pktmbuf_pkt_len(pkts[i]);
	return b;
}

/**
 * rte_pktmbuf_free_bulk() of @p n mbufs, the usual ones (direct, one
 * segment, nobody else holding them, all from the first one's pool) put
 * back to their pool in one rte_mempool_put_bulk(): what a NIC's tx does
 * under RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE, found per call, not promised.
 * The others from the first one of them on go through
 * rte_pktmbuf_free_bulk(), which checks each.
 */
static inline void
vs_mbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n)
{
	struct rte_mempool *mp;
	unsigned int i;

	if (n == 0)
		return;
	mp = pkts[0]->pool;
	for (i = 0; i < n; i++) {
		const struct rte_mbuf *m = pkts[i];

		/* nb_segs 1: m->next is NULL (not read: second cache line). */
		if (m->pool != mp || rte_mbuf_refcnt_read(m) != 1 ||
		    m->nb_segs != 1 || !RTE_MBUF_DIRECT(m))
			break;
	}
	if (i > 0)
		rte_mempool_put_bulk(mp, (void *const *)pkts, i);
	if (i < n)
		rte_pktmbuf_free_bulk(pkts + i, n - i);
}

/** Free every pool. */
void vs_mbuf_fini(void);

#endif /* VS_MBUF_H */
