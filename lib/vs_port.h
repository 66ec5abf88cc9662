/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_PORT_H
#define VS_PORT_H

/**
 * @file
 * Switch ports. A port is a vhost-user socket or a DPDK ethdev; both kinds
 * have the same two verbs, rx and tx, behind an ops table, and the same
 * counters. Ports live in one table indexed by a small port id; the
 * forwarding lcores read it without locks, and a port is retired with RCU
 * (unpublish, synchronize, free).
 *
 * Directions are named once, here: guest TX = vhost dequeue = switch RX,
 * and guest RX = vhost enqueue = switch TX.
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#include "vs_conf.h"
#include "vs_vhost_call.h"

#define VS_MAX_PORTS 256
#define VS_PORT_INVALID UINT16_MAX

/**
 * Drop reasons: one list, each with its counter name and a sentence for
 * people. Every frame the switch does not deliver is counted under one.
 */
#define VS_DROP_REASONS(_) \
	_(NO_MBUF, "no_mbuf", "no mbuf left in the pool (NIC counter)") \
	_(TX_FULL, "tx_full", "guest ring or NIC tx queue full after retries") \
	_(PORT_DOWN, "port_down", "destination port down or disabled") \
	_(SAME_PORT, "same_port", "destination is the port it came in on") \
	_(NO_DEST, "no_dest", "flooded with no other port up") \
	_(RUNT, "runt", "frame shorter than an Ethernet header") \
	_(RX_MISSED, "rx_missed", "the NIC's rx ring was full (NIC counter)") \
	_(RX_ERROR, "rx_error", "the port reported an rx error (NIC counter)") \
	_(TOO_BIG, "too_big", \
	  "larger than the guest's receive buffers (no mergeable buffers)") \
	_(MTU, "mtu", \
	  "larger than the destination's MTU (and not a TSO frame)") \
	_(OFFLOAD_ERROR, "offload_error", \
	  "needs a checksum or segmentation but its headers do not parse") \
	_(VLAN_DENIED, "vlan_denied", \
	  "its VLAN is not one of the port's (access port: tagged frame)") \
	_(SRC_DENIED, "src_denied", \
	  "source MAC not in the port's allowed-macs") \
	_(STORM, "storm", \
	  "broadcast, multicast or unknown unicast beyond the port's flood-pps") \
	_(UNRESOLVED, "unresolved", \
	  "tunnel: the remote VTEP's (or gateway's) MAC is not resolved yet") \
	_(UNDERLAY, "underlay", \
	  "on a tunnel's underlay port: not for a VTEP, or bad VXLAN (vxlan/show)")

enum vs_drop {
#define VS_DROP_ENUM(e, n, s) VS_DROP_##e,
	VS_DROP_REASONS(VS_DROP_ENUM)
#undef VS_DROP_ENUM
		VS_DROP_MAX
};

/** Counter name of a drop reason, e.g. "tx_full". */
const char *vs_drop_name(enum vs_drop d);
/** Human description of a drop reason. */
const char *vs_drop_help(enum vs_drop d);

enum vs_port_kind {
	VS_PORT_ETHDEV,
	VS_PORT_VHOST,
	VS_PORT_VXLAN,
};

/** Counters of one port, summed over every lcore. */
struct vs_port_stats {
	uint64_t rx_pkts;
	uint64_t rx_bytes;
	uint64_t tx_pkts;
	uint64_t tx_bytes;
	uint64_t drops[VS_DROP_MAX];
	/* Offloads (vs_offload.h). */
	uint64_t rx_gso; /**< TSO frames received (larger than the MTU) */
	uint64_t rx_csum_partial; /**< frames received with a partial sum */
	uint64_t tx_gso; /**< TSO frames sent as one frame (GUEST_TSO) */
	uint64_t sw_csum; /**< checksums completed for this destination */
	uint64_t sw_gso; /**< TSO frames segmented for this destination */
	uint64_t sw_gso_segs; /**< segments that made */
	/** Frames whose source was not learned: max-macs reached. */
	uint64_t mac_limit;
};

/** What port/list and port/show report. */
struct vs_port_info {
	uint16_t id;
	char name[VS_NAME_LEN];
	enum vs_port_kind kind;
	const char *kind_name; /**< "vhost" or the ethdev driver name. */
	char path[PATH_MAX]; /**< vhost socket, or the ethdev name. */
	bool client; /**< vhost: the switch connects. */
	bool enabled; /**< Administrative state. */
	bool link_up; /**< A guest is attached / link is up. */
	uint16_t nb_rxq;
	uint16_t nb_txq;
	int socket_id;
	int vid; /**< vhost device id, -1 if none. */
	/** Several lcores may send on one tx queue: sends take a lock. */
	bool tx_lock;
	/** Sends that found that lock taken. */
	uint64_t tx_lock_contended;
	bool offloads; /**< not offloads=off */
	uint32_t tx_ol; /**< VS_OL_* the port takes as they are */
	uint32_t ol_capa; /**< ethdev: VS_OL_* the device has */
	uint16_t mtu; /**< 0: no limit known */
	struct vs_port_keys keys; /**< as set: VLAN and security keys */
	uint32_t macs; /**< MAC table entries on the port */
};

struct vs_port;

/** Number of slots of the port table in use (ids are below this). */
uint16_t vs_port_count(void);

/** The port with this id, or NULL. Forwarding lcores call it in RCU. */
struct vs_port *vs_port_get(uint16_t id);

/** Find a port by name or decimal id; NULL with rte_errno ENOENT. */
struct vs_port *vs_port_lookup(const char *name_or_id);

/** Fill @p info. */
void vs_port_info_get(const struct vs_port *port, struct vs_port_info *info);

/** Sum the per-lcore counters of @p port into @p stats. */
void vs_port_stats_get(const struct vs_port *port, struct vs_port_stats *stats);

/**
 * Apply the keys given in @p keys (--port, port/set). Nothing changes
 * when one cannot be applied.
 * @return 0, or -errno with a one-line reason in @p err.
 */
int vs_port_set_keys(struct vs_port *port, const struct vs_port_keys *keys,
		     char *err, size_t errlen);

/** Zero the counters of @p port. */
void vs_port_stats_clear(struct vs_port *port);

/**
 * Resume (@p enable) or stop a port's rings without dropping the guest's
 * connection: the kernel's VHOST_NET_SET_BACKEND with fd -1. A disabled
 * port is not polled and frames to it are dropped as port_down.
 */
void vs_port_set_enabled(struct vs_port *port, bool enable);

/**
 * Set the busy-loop timeout of rx queue @p queue of @p port (every queue
 * if @p queue is -1), in microseconds; 0 = poll forever.
 * @return 0, or -EINVAL (no such queue).
 */
int vs_port_set_busyloop(struct vs_port *port, int queue, uint32_t usec);

/** The busy-loop timeout of an rx queue, in microseconds. */
uint32_t vs_port_get_busyloop(const struct vs_port *port, uint16_t queue);

/** The timeout new ports start with (--busyloop-timeout). */
void vs_port_set_default_busyloop(uint32_t usec);

/** The timeout new ports start with. */
uint32_t vs_port_get_default_busyloop(void);

/** One vring as vring/show reports it (the seed's vhost_vring_*). */
struct vs_vring_info {
	uint16_t vring; /**< librte_vhost index: 2q guest RX, 2q+1 TX */
	uint16_t queue; /**< queue pair */
	bool guest_tx; /**< switch rx side */
	bool enabled; /**< guest enabled it */
	uint16_t size; /**< vhost_vring_state.num */
	bool packed; /**< packed ring (VIRTIO_F_RING_PACKED) */
	uint16_t last_avail_idx; /**< VHOST_GET_VRING_BASE, wrap bit out */
	uint16_t last_used_idx;
	bool avail_wrap; /**< packed: the wrap counters (bit 15 of the base) */
	bool used_wrap;
	uint64_t desc; /**< vhost_vring_addr, host virtual */
	uint64_t avail;
	uint64_t used;
	uint64_t log_guest_addr;
	bool log; /**< dirty logging on (VHOST_F_LOG_ALL) */
	int kickfd; /**< vhost_vring_file */
	int callfd;
	bool guest_notify; /**< guest kicks us (we let it) */
	uint64_t packets; /**< through this vring */
	uint64_t calls; /**< interrupts raised to the guest */
	struct vs_call_stats call; /**< its interrupts through the relay */
	uint64_t kicks; /**< kicks that woke a sleeping lcore */
	uint32_t busyloop_us; /**< guest TX vrings: busy-loop timeout */
};

/**
 * Vrings of a vhost port's device.
 * @return the number of vrings, -ENOTSUP (not vhost), -ENOLINK (no guest).
 */
int vs_port_vring_count(const struct vs_port *port);

/** @return 0, -ENOTSUP, -ENOLINK, -ENOENT (no such vring). */
int vs_port_vring_info(const struct vs_port *port, uint16_t vring,
		       struct vs_vring_info *info);

/** One guest memory region (the seed's vhost_memory_region). */
struct vs_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr; /**< the guest's (QEMU's) address */
	uint64_t host_addr; /**< where the switch mapped it */
	uint64_t mmap_size;
};

/**
 * Fill up to @p max regions.
 * @return the number of regions, -ENOTSUP, -ENOLINK, -ENOMEM.
 */
int vs_port_mem_info(const struct vs_port *port, struct vs_mem_region *r,
		     unsigned int max);

/** Negotiated features. @return 0, -ENOTSUP, -ENOLINK. */
int vs_port_features(const struct vs_port *port, uint64_t *features,
		     uint64_t *protocol_features);

/** Dirty-page log state (VHOST_SET_LOG_BASE). @return 0, -ENOTSUP, -ENOLINK. */
int vs_port_log_info(const struct vs_port *port, bool *enabled, uint64_t *base,
		     uint64_t *size);

/** vhost-user messages the guard refused on this port (0 for ethdevs). */
uint64_t vs_port_vhost_refused_count(const struct vs_port *port);

/** Register the port commands (port/list, vring/show, mem/show, ...). */
int vs_port_cmd_register(void);

#endif /* VS_PORT_H */
