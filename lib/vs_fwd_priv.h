/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_FWD_PRIV_H
#define VS_FWD_PRIV_H

/*
 * Internals of the forwarding lcores, shared by the loop (vs_fwd.c) and
 * its sleep path (vs_fwd_sleep.c).
 *
 * Ownership:
 * - A poll list belongs to one lcore; the control thread builds a new one
 *   and publishes it (vs_fwd_rebalance()); the lcore reads it once per
 *   pass and reports an RCU quiescent state after the pass, sleep
 *   included, so the control thread frees an old list after
 *   vs_fwd_synchronize().
 * - An rx queue is in at most one lcore's list at any time that lcore can
 *   see: moving one takes two publications with a grace period between
 *   (removed from the old owner, then added to the new one).
 * - Everything else in struct vs_lcore is the lcore's own, read without
 *   locks (torn reads at most) by lcore/show and busyloop/show.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include "vs_port.h"
#include "vs_vlan.h"

extern int vs_logtype_fwd;
#define FWD_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_logtype_fwd, "vswitch.fwd: " fmt, \
		##__VA_ARGS__)

/*
 * Frames buffered per destination before a send: 64 is two librte_vhost
 * enqueue calls (32 each), and bounds the mbufs parked per lcore and port.
 */
#define VS_TXBUF 64
#define VS_MAX_BURST 512
/* Bursts an underlay's rx queue may give in one pass (vs_fwd_rxq_poll). */
#define VS_UL_POLLS 4
/* Rx queues one lcore can sleep on; with more it sleeps on a timer. */
#define VS_MAX_ARMED 256
/* Ethdev interrupt wake-ups in a row with no frame before they are muted. */
#define VS_ETH_SPURIOUS 16

struct vs_rxq {
	uint16_t port_id;
	uint16_t queue;
	uint64_t serial; /* vs_port.serial of the port it was assigned for */
	uint64_t last_pkt; /* TSC of its last non-empty burst; owner only */
};

struct vs_poll_list {
	uint64_t
		gen; /* unique per list: tells a new list from a reused address */
	uint16_t n;
	struct vs_rxq q[];
};

/* What a sleeping lcore armed, by value: ports may go while it sleeps. */
struct vs_armed {
	uint16_t port_id;
	uint16_t queue;
	int kfd; /* our dup of the kick eventfd, or -1 */
	bool eth; /* an ethdev's rx interrupt fd */
};

struct vs_txbuf {
	uint16_t n;
	/*
	 * --tx-coalesce applies: the port is a guest's (vhost-user), whose
	 * interrupts the wait saves. Set with @port. In the padding after @n:
	 * the layout (and the 552-byte stride) of the datapath's buffers is
	 * what it was without it.
	 */
	bool coalesce;
	/*
	 * The port the frames go to, read once when the first frame is
	 * buffered: a port/del that unpublishes it meanwhile cannot free it
	 * before this lcore's next quiescent state, which comes after the
	 * flush, so the frames are sent or counted, never lost uncounted.
	 */
	struct vs_port *port;
	/*
	 * With --tx-flush-interval the frames wait across passes: @port is
	 * looked up again by id, and must still have this serial.
	 */
	uint64_t serial;
	uint64_t since; /* TSC of the pass that buffered the first frame */
	/*
	 * --tx-flush-interval, as OVS's: TSC of the last send to the port,
	 * which waits until that plus the interval for its next send. A frame
	 * after a quiet interval goes at once; a stream goes in batches.
	 */
	uint64_t last_tx;
	struct rte_mbuf *pkts[VS_TXBUF];
};

struct vs_lcore {
	unsigned int lcore_id;
	unsigned int idx;
	struct vs_poll_list *_Atomic poll;
	uint64_t seen_gen; /* gen of the list the last pass used */
	uint64_t busy_cycles;
	uint64_t idle_cycles;
	uint64_t pkts;
	uint64_t owner_conflicts; /* -Dchecks=true builds only */
	/* Sleeping (busy-loop timeout). */
	int epfd;
	int wakefd;
	uint32_t ep_kick_gen;
	uint64_t ep_list_gen;
	uint16_t nb_armed; /* armed[i] is poll list entry i */
	struct vs_armed armed[VS_MAX_ARMED];
	_Atomic bool sleeping;
	bool ep_mute; /* the set leaves ethdev interrupts out */
	bool eth_fired; /* last wake came from an ethdev interrupt */
	uint16_t eth_empty; /* such wake-ups in a row that found nothing */
	uint64_t eth_mute_until; /* TSC; see vs_fwd_try_sleep() */
	uint64_t sleeps;
	uint64_t wake_kick;
	uint64_t wake_timer;
	uint64_t wake_ctl;
	uint64_t sleep_cycles;
	uint64_t pass_tsc; /* when the current pass began */
	uint16_t nb_dirty;
	uint16_t dirty[VS_MAX_PORTS];
	struct vs_txbuf tx[VS_MAX_PORTS];
	struct vs_storm storm[VS_MAX_PORTS];
} __rte_cache_aligned;

/* What vs_fwd_try_sleep() did. */
enum vs_sleep_result {
	VS_SLEEP_NONE, /* not idle long enough, or a change came in */
	VS_SLEEP_FORWARDED, /* the last look at the rings found frames */
	VS_SLEEP_SLEPT,
};

/*
 * Poll entry @p i of @p pl once: rx burst, counters, capture, forwarding.
 * Returns the number of frames received. The one rx path of the loop and
 * of the sleep path's last look.
 */
uint16_t vs_fwd_rxq_poll(struct vs_lcore *lc, struct vs_poll_list *pl,
			 uint16_t i, uint64_t now);

/* Send every buffered frame. */
void vs_fwd_txbuf_flush(struct vs_lcore *lc);

/* Whether vs_fwd_stop() was called. */
bool vs_fwd_quitting(void);

/*
 * The busy-loop timeout: sleep if every queue of @p pl has been idle for
 * its timeout. Called with @p pl, the list this pass polled, still held.
 */
enum vs_sleep_result vs_fwd_try_sleep(struct vs_lcore *lc,
				      struct vs_poll_list *pl, uint64_t now);

/* Close the dup'd fds of the sleep set. */
void vs_fwd_sleep_fini(struct vs_lcore *lc);

#endif /* VS_FWD_PRIV_H */
