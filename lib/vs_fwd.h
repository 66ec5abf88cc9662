/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_FWD_H
#define VS_FWD_H

/**
 * @file
 * Forwarding lcores. Every EAL worker lcore runs one run-to-completion
 * loop over its poll list of (port, rx queue) pairs: rx burst, learn,
 * look the burst up, chain each frame to its destinations' tx buffers,
 * then send once per destination. The main lcore never forwards.
 *
 * Each rx queue has exactly one owner lcore, so a vring is dequeued by one
 * thread only. Poll lists and ports are published with RCU: the lcores
 * report a quiescent state once per loop, and the control thread frees
 * what it unpublished after vs_fwd_synchronize().
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_rcu_qsbr.h>

#include "vs_conf.h"

/** Per-lcore figures for lcore/show and the stats line. */
struct vs_fwd_lcore_info {
	unsigned int lcore_id;
	unsigned int nb_rxq;
	uint64_t busy_cycles; /**< Cycles of loops that moved packets. */
	uint64_t idle_cycles; /**< Cycles of empty loops. */
	uint64_t pkts; /**< Frames received. */
	bool sleeping; /**< Asleep (busy-loop timeout passed). */
	uint64_t sleeps;
	uint64_t wake_kick; /**< Woken by a guest's kick. */
	uint64_t wake_timer; /**< Woken by the bounded sleep time. */
	uint64_t wake_ctl; /**< Woken by a control change. */
	uint64_t sleep_cycles; /**< TSC cycles asleep. */
	/** Builds with -Dchecks=true: times a queue had two pollers. */
	uint64_t owner_conflicts;
};

/**
 * Size the lcore contexts and the RCU variable from the EAL worker lcores.
 * @return 0, -ENODEV if there is no worker lcore, -ENOMEM.
 */
int vs_fwd_init(const struct vs_conf *conf);
void vs_fwd_fini(void);

/** Number of forwarding lcores. */
unsigned int vs_fwd_nb_lcores(void);

/** The RCU variable every forwarding lcore reports to. */
struct rte_rcu_qsbr *vs_fwd_qsbr(void);

/**
 * Wait until every forwarding lcore has finished the loop iteration it was
 * in, so nothing unpublished before the call is still referenced.
 * Never call from a forwarding lcore.
 */
void vs_fwd_synchronize(void);

/**
 * Give every rx queue of every port an owner lcore and publish the poll
 * lists: a queue keeps its lcore, a new one goes to the least loaded
 * lcore (port/add, port/del). A queue that moves is first removed from
 * its old lcore, which acknowledges (RCU), then added to the new one.
 * Control thread only.
 * @return 0, or -ENOMEM (the old lists stay).
 */
int vs_fwd_rebalance(void);

/**
 * As vs_fwd_rebalance(), but even the counts out (they differ by at most
 * one), moving as few queues as that takes (lcore/rebalance).
 * @return 0, or -ENOMEM.
 */
int vs_fwd_rebalance_even(void);

/**
 * Wake every sleeping lcore: a poll list, a port or a guest's kick
 * eventfds changed. Any thread.
 */
void vs_fwd_wake_all(void);

/**
 * --tx-flush-interval: a frame may wait up to @p usec in its lcore's tx
 * buffer for more frames to the same port (OVS's other_config:
 * tx-flush-interval); 0 sends every buffer after each rx burst. Any
 * thread; the lcores see it from their next pass.
 */
void vs_fwd_set_tx_flush(uint32_t usec);
uint32_t vs_fwd_get_tx_flush(void);

/**
 * --tx-coalesce: a frame to a guest's (vhost-user) port that finds its
 * lcore's tx buffer for the port empty waits there up to @p usec, so that
 * the frames after it go with it and the guest takes them on one
 * interrupt (what a NIC's rx-usecs does); a full buffer goes at once. 0
 * (the default): no wait. Any thread; the lcores see it from their next
 * pass.
 */
void vs_fwd_set_tx_coalesce(uint32_t usec);
uint32_t vs_fwd_get_tx_coalesce(void);

/** Launch the loops on the worker lcores. */
int vs_fwd_start(void);

/** Stop the loops: tx buffers are flushed, lcores go offline. */
void vs_fwd_stop(void);

/**
 * Figures of forwarding lcore number @p idx.
 * @return 0, or -ENOENT.
 */
int vs_fwd_lcore_info(unsigned int idx, struct vs_fwd_lcore_info *info);

/**
 * The rx queues lcore @p idx polls: up to @p max (port id, queue) pairs.
 * @return the number filled, or -ENOENT.
 */
int vs_fwd_lcore_rxqs(unsigned int idx, uint16_t *ports, uint16_t *queues,
		      unsigned int max);

/** Register lcore/show and lcore/rebalance. */
int vs_fwd_cmd_register(void);

#endif /* VS_FWD_H */
