/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "vs_mbuf.h"

/*
 * Per-lcore mempool cache: 256 is DPDK's RTE_MEMPOOL_CACHE_MAX_SIZE / 2,
 * large enough to absorb a burst of 32 on both alloc and free sides with
 * a flush threshold of 1.5x, as l2fwd and testpmd size it.
 */
#define VS_MBUF_CACHE 256
/* Room for a 1518-byte frame plus headroom in one segment: the default. */
#define VS_MBUF_DATA RTE_MBUF_DEFAULT_BUF_SIZE
#define VS_MBUF_MIN 8192

static struct rte_mempool *pools[RTE_MAX_NUMA_NODES];

uint32_t
vs_mbuf_pool_size(const struct vs_mbuf_sizing *s)
{
	uint64_t n;

	/*
	 * Descriptors of every NIC ring, a burst in flight per vhost queue,
	 * every lcore's cache, and per lcore a tx buffer per port plus the
	 * burst being looked up.
	 */
	n = (uint64_t)s->ring_mbufs + (uint64_t)s->vhost_queues * s->burst +
		(uint64_t)s->nb_lcores * (VS_MBUF_CACHE * 3 / 2) +
		(uint64_t)s->nb_lcores * (s->nb_ports + 1u) * s->burst;
	if (n < VS_MBUF_MIN)
		n = VS_MBUF_MIN;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

int
vs_mbuf_init(uint64_t socket_mask, uint32_t n)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	unsigned int s;

	for (s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		if (!(socket_mask & (1ull << s)))
			continue;
		snprintf(name, sizeof(name), "vs_mbuf_s%u", s);
		pools[s] = rte_pktmbuf_pool_create(name, n, VS_MBUF_CACHE, 0,
						   VS_MBUF_DATA, s);
		/* --no-huge and single-node machines report socket 0 only. */
		if (pools[s] == NULL)
			pools[s] = rte_pktmbuf_pool_create(
				name, n, VS_MBUF_CACHE, 0, VS_MBUF_DATA,
				SOCKET_ID_ANY);
		if (pools[s] == NULL) {
			vs_mbuf_fini();
			return -rte_errno;
		}
	}
	return 0;
}

struct rte_mempool *
vs_mbuf_pool(int socket)
{
	unsigned int s;

	if (socket >= 0 && socket < RTE_MAX_NUMA_NODES && pools[socket])
		return pools[socket];
	for (s = 0; s < RTE_MAX_NUMA_NODES; s++)
		if (pools[s] != NULL)
			return pools[s];
	return NULL;
}

uint32_t
vs_mbuf_in_use(int socket, uint32_t *size)
{
	struct rte_mempool *mp;

	if (socket < 0 || socket >= RTE_MAX_NUMA_NODES)
		return 0;
	mp = pools[socket];
	if (mp == NULL) {
		if (size)
			*size = 0;
		return 0;
	}
	if (size)
		*size = mp->size;
	/* avail_count includes the lcore caches: they are not "in use". */
	return mp->size - rte_mempool_avail_count(mp);
}

void
vs_mbuf_fini(void)
{
	unsigned int s;

	for (s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		rte_mempool_free(pools[s]);
		pools[s] = NULL;
	}
}
