/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_PORT_PRIV_H
#define VS_PORT_PRIV_H

/* Internals of the port module, shared by the port kinds and the datapath. */

#include <pthread.h>
#include <stdatomic.h>

#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_spinlock.h>

#include "vs_capture.h"
#include "vs_port.h"

extern int vs_logtype_port;
#define PORT_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_logtype_port, "vswitch.port: " fmt, \
		##__VA_ARGS__)

/*
 * librte_vhost offers up to 128 queue pairs; 32 is what the launcher
 * accepts (vs_conf.c) and sizes the per-queue arrays below.
 */
#define VS_PORT_MAX_QUEUES 32

/* Counters one lcore writes; the control thread only reads and sums. */
struct vs_port_lstats {
	uint64_t rx_pkts;
	uint64_t rx_bytes;
	uint64_t tx_pkts;
	uint64_t tx_bytes;
	uint64_t drops[VS_DROP_MAX];
	uint64_t rx_gso;
	uint64_t rx_csum_partial;
	uint64_t tx_gso;
	uint64_t sw_csum;
	uint64_t sw_gso;
	uint64_t sw_gso_segs;
	uint64_t mac_limit;
} __rte_cache_aligned;

/* Frames a tx op took but dropped itself (counted under a reason). */
struct vs_tx_lost {
	uint32_t pkts;
	uint64_t bytes;
};

struct vs_port_ops {
	const char *kind;
	/* Raw rx burst from queue @q; 0 when there is no link. */
	uint16_t (*rx)(struct vs_port *p, uint16_t q, struct rte_mbuf **pkts,
		       uint16_t n);
	/*
	 * Raw tx burst to queue @q; returns how many were accepted. When
	 * tx_copies is set the port copied them (vhost enqueue) and the
	 * caller still owns every mbuf; otherwise accepted mbufs belong to
	 * the port. Accepted frames the op dropped itself (freed, counted in
	 * drops[] under their reason) are added to @lost: they are not sent.
	 */
	uint16_t (*tx)(struct vs_port *p, uint16_t q, struct rte_mbuf **pkts,
		       uint16_t n, struct vs_tx_lost *lost);
	bool tx_copies;
	/*
	 * The device tx queue the lcore with forwarding index @lc uses now,
	 * given @nq usable queues (nb_txq()). Optional: lc % nq.
	 */
	uint16_t (*txq_of)(const struct vs_port *p, unsigned int lc,
			   uint16_t nq);
	/*
	 * Whether rx queue @q has frames waiting, asked when an rx burst came
	 * back empty on the way to sleep: librte_vhost's dequeue gives up on a
	 * vring whose lock another thread holds and returns 0 as if empty.
	 * Optional: no op means the empty burst is the truth.
	 */
	bool (*pending)(struct vs_port *p, uint16_t q);
	/* Tx queues usable right now (the guest may enable fewer). */
	uint16_t (*nb_txq)(const struct vs_port *p);
	void (*info)(const struct vs_port *p, struct vs_port_info *info);
	/*
	 * Sleeping lcores. notify() arms (or disarms) the guest's kicks on rx
	 * queue @q; kickfd() is the eventfd a kick arrives on, or -1. Ports
	 * without them (ethdevs) are polled by a bounded sleep instead.
	 */
	void (*notify)(struct vs_port *p, uint16_t q, bool on);
	int (*kickfd)(const struct vs_port *p, uint16_t q);
	/*
	 * Whether the device reports carrier; asked only when a send failed,
	 * to tell port_down from tx_full. Optional: no op means up.
	 */
	bool (*carrier)(const struct vs_port *p);
	/* Add what the device counts itself (NIC drops) to @st. Optional. */
	void (*stats)(const struct vs_port *p, struct vs_port_stats *st);
	void (*destroy)(struct vs_port *p);
	/* Set the MTU (port/set mtu=); returns 0 or -errno. */
	int (*set_mtu)(struct vs_port *p, uint16_t mtu);
};

/*
 * A port's VLAN membership and port security (vs_port_set_keys()): built
 * whole, published with one pointer store, freed after a grace period;
 * the lcores never see one half changed.
 */
struct vs_l2 {
	/* No VLAN key, no security key: member of every VLAN, tags all but 0. */
	bool plain;
	/*
	 * The datapath's shortcuts. in_vid: the VLAN of an untagged frame
	 * arriving, -1 if the port takes none. out_vid: the one VLAN whose
	 * frames leave the port as they are with nothing to check (the access
	 * VLAN, or 0 for a port without VLAN keys); -1 for a trunk.
	 */
	int16_t in_vid;
	int16_t out_vid;
	uint16_t access; /* vlan=: the one VLAN, untagged; 0 none */
	uint16_t native; /* native=: the untagged VLAN of a trunk; 0 none */
	bool trunk_list; /* trunks= given: member of those only */
	uint16_t nb_allowed; /* allowed-macs= */
	uint32_t max_macs; /* 0: no limit */
	uint32_t flood_pps; /* 0: no storm control */
	uint64_t allowed[VS_MAX_ALLOWED_MACS]; /* vs_fdb_key(mac, 0) */
	uint64_t trunks[64];
};

/* What a port without VLAN or security keys points to. */
extern const struct vs_l2 vs_l2_plain;

static inline bool
vs_l2_trunk_has(const struct vs_l2 *c, uint16_t vid)
{
	return (c->trunks[vid / 64] >> (vid % 64)) & 1;
}

/* Whether frames of VLAN @p vid may leave by a port with @p c. */
static inline bool
vs_l2_member(const struct vs_l2 *c, uint16_t vid)
{
	if (c->access)
		return vid == c->access;
	if (c->native && vid == c->native)
		return true;
	/* A port's untagged frames are its native VLAN's, not VLAN 0's. */
	if (c->native && vid == 0)
		return false;
	return !c->trunk_list || vs_l2_trunk_has(c, vid);
}

/* Whether frames of VLAN @p vid leave a member port with @p c tagged. */
static inline bool
vs_l2_tagged(const struct vs_l2 *c, uint16_t vid)
{
	return vid != 0 && vid != c->access && vid != c->native;
}

struct vs_underlay;
struct vs_vxlan;

struct vs_vhost {
	char path[PATH_MAX];
	bool client;
	bool registered;
	bool fd_lost; /* server start failed: librte_vhost closed its fd */
	_Atomic int vid; /* -1: no device */
	/*
	 * Held by the control thread from reading @vid to its last
	 * rte_vhost_*() call on it (vring/show, mem/show, features/show), and
	 * by destroy_device(): librte_vhost frees the device when that
	 * returns.
	 */
	pthread_mutex_t dev_lock;
	bool packed; /* the device negotiated VIRTIO_F_RING_PACKED */
	_Atomic uint32_t rx_enabled; /* guest RX vrings enabled, by pair */
	_Atomic uint32_t tx_enabled; /* guest TX vrings enabled, by pair */
	struct rte_mempool *pool; /* mbufs for dequeue, on the guest's node */
	uint16_t conf_mtu; /* mtu= given; 0: the guest's, if it sets one */
	int32_t sock_uid, sock_gid; /* owner=, group=; -1: as created */
	uint32_t sock_mode; /* mode=; 0: as created */
	_Atomic uint64_t refused; /* messages the vhost-user guard refused */
};

struct vs_port {
	uint16_t id;
	/*
	 * Unique for the life of the process: tells a port from a later one
	 * that reuses its id (the lcore assignment table, vs_fwd.c).
	 */
	uint64_t serial;
	char name[VS_NAME_LEN];
	enum vs_port_kind kind;
	const struct vs_port_ops *ops;
	_Atomic bool enabled;
	_Atomic bool link_up;
	uint16_t nb_rxq;
	uint16_t nb_txq;
	int socket_id;
	/* A packet capture in progress, or NULL (vs_capture.c). */
	struct vs_capture *_Atomic capture;
	/*
	 * Set when several forwarding lcores can send on one tx queue: an
	 * ethdev with fewer tx queues than lcores, or a vhost port with more
	 * than one forwarding lcore (see vs_port_vhost_create()). Fixed at
	 * creation. Then every send takes tx_lock[] of the queue it uses.
	 */
	bool tx_shared;
	rte_spinlock_t tx_lock[VS_PORT_MAX_QUEUES];
	/* Sends that found tx_lock[] taken by another lcore. */
	_Atomic uint64_t tx_lock_contended;
	/*
	 * Offloads. rx_ol: frames from this port may carry offload requests
	 * (a vhost port with offloads on). tx_ol: VS_OL_* this port takes as
	 * they are (vhost: what the guest negotiated, set at new_device).
	 * max_frame: the largest frame without a TSO request it gets, MTU +
	 * Ethernet header + one VLAN tag; 0: no limit known.
	 */
	bool rx_ol;
	_Atomic uint32_t tx_ol;
	/* VS_OL_* the port could take (tx_ol with offloads on). */
	uint32_t ol_capa;
	/* offloads=off given. */
	bool ol_off;
	/*
	 * The destination's receive buffers have one fixed size (a guest
	 * without VIRTIO_NET_F_MRG_RXBUF): a frame larger than they are can
	 * never go in (too_big). Set at new_device.
	 */
	bool tx_fixed_bufs;
	uint16_t mtu;
	uint32_t max_frame;
	/* VLAN and security (struct vs_l2); never NULL. */
	const struct vs_l2 *_Atomic l2;
	/* The keys as given, merged (port/show, port/set). */
	struct vs_port_keys keys;
	/*
	 * Set on an ethdev that carries VXLAN tunnels (via=): its frames go
	 * to the VTEP (vs_vxlan.c), not to L2 switching.
	 */
	struct vs_underlay *_Atomic ul;
	union {
		struct vs_vhost vhost;
		struct vs_vxlan *vx;
		struct {
			uint16_t port_id;
			bool rx_intr; /* rx interrupts wake a sleeping lcore */
			/* A TSO segment's Ethernet header counts in the MTU. */
			bool tso_l2_in_mtu;
		} eth;
	};
	/* Per queue: rx written by the owner lcore, tx added per burst. */
	uint64_t rxq_pkts[VS_PORT_MAX_QUEUES];
	uint64_t rxq_kicks[VS_PORT_MAX_QUEUES];
	_Atomic bool rxq_armed[VS_PORT_MAX_QUEUES];
	/*
	 * Builds with -Dchecks=true: the forwarding index of the lcore inside
	 * an rx burst on the queue, -1 when none; vs_fwd.c counts any overlap.
	 */
	_Atomic int16_t rxq_owner[VS_PORT_MAX_QUEUES];
	/* Busy-loop timeout per rx queue (VHOST_SET_VRING_BUSYLOOP_TIMEOUT). */
	_Atomic uint32_t busyloop_us[VS_PORT_MAX_QUEUES];
	_Atomic uint64_t busyloop_tsc[VS_PORT_MAX_QUEUES];
	_Atomic uint64_t txq_pkts[VS_PORT_MAX_QUEUES];
	/* One slot per EAL lcore, plus one for non-EAL threads. */
	struct vs_port_lstats stats[RTE_MAX_LCORE + 1];
};

/*
 * Bumped whenever a guest's kick eventfds may have changed (new_device,
 * destroy_device, vring_state_changed): sleeping lcores fetch them again.
 */
uint32_t vs_port_kick_gen(void);
void vs_port_kick_gen_bump(void);

/* Publish @p port in the table; assigns its id. */
int vs_port_register(struct vs_port *port);
/* Unpublish, wait for the lcores (RCU), destroy. */
void vs_port_unregister(struct vs_port *port);
/* Allocate a zeroed port of this kind on @p socket. */
struct vs_port *vs_port_alloc(enum vs_port_kind kind, const char *name,
			      const struct vs_port_ops *ops, int socket);
/* Every port, in id order: destroy all (at shutdown). */
void vs_port_destroy_all(void);

/* Port kinds. */
int vs_port_ethdev_probe_all(uint16_t nb_fwd_lcores);
struct vs_port *vs_port_vhost_create(const struct vs_vhost_conf *vc);
int vs_port_vhost_start(struct vs_port *port);

/*
 * owner=, group=, mode= of a running server socket (SIGHUP): -1, -1, 0
 * (none) is refused, the socket's first owner and mode being unknown.
 */
int vs_port_vhost_set_perms(struct vs_port *port, int32_t uid, int32_t gid,
			    uint32_t mode);

static inline bool
vs_port_up(const struct vs_port *p)
{
	return atomic_load_explicit(&p->link_up, memory_order_acquire) &&
		atomic_load_explicit(&p->enabled, memory_order_relaxed);
}

/*
 * Send @p n mbufs, all of which this call consumes: the ones the port
 * takes, the ones it copied and the ones dropped (counted as tx_full after
 * @p retries extra attempts). @p lc is the caller's forwarding index,
 * which picks the tx queue. Returns the number sent.
 */
uint16_t vs_port_tx(struct vs_port *p, unsigned int lc, struct rte_mbuf **pkts,
		    uint16_t n, uint32_t retries);

/* vs_port_tx() of frames whose bytes the caller summed: @p bytes. */
uint16_t vs_port_tx_bytes(struct vs_port *p, unsigned int lc,
			  struct rte_mbuf **pkts, uint16_t n, uint32_t retries,
			  uint64_t bytes);

/* The counter slot of the calling thread. */
static inline unsigned int
vs_lcore_slot(void)
{
	unsigned int id = rte_lcore_id();

	return id < RTE_MAX_LCORE ? id : RTE_MAX_LCORE;
}

/* Count @p n drops of @p reason on the calling lcore and free the mbufs. */
static inline void
vs_port_drop(struct vs_port *p, enum vs_drop reason, struct rte_mbuf **pkts,
	     uint16_t n)
{
	p->stats[vs_lcore_slot()].drops[reason] += n;
	rte_pktmbuf_free_bulk(pkts, n);
}

/*
 * The vhost port with socket @p path, or NULL. For librte_vhost's threads:
 * safe against a concurrent port/del (the lcores use vs_port_get under RCU).
 */
struct vs_port *vs_port_find_vhost(const char *path);

#endif /* VS_PORT_PRIV_H */
