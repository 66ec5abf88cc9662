/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_FDB_H
#define VS_FDB_H

/**
 * @file
 * The MAC table: MAC address -> port id, learned on ingress, aged by the
 * control thread. Forwarding lcores look up and learn without locks
 * (rte_hash lock-free readers, multi-writer add); deleted slots are reused
 * only after every lcore has passed a quiescent state (RCU QSBR).
 *
 * The port is the key's data in the hash, written before the key is
 * published: a lookup on one lcore never sees a MAC another lcore is adding
 * with a port that was not written for it.
 *
 * Writers (learning, fdb/add, fdb/del, flush, ageing) must run on a thread
 * with an lcore id (an EAL lcore or rte_thread_register()): rte_hash keeps
 * per-lcore caches of free positions. The control side (everything but
 * vs_fdb_lookup_bulk and vs_fdb_learn) runs one call at a time: it is the
 * only one that deletes.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_rcu_qsbr.h>

#include "vs_port.h"

struct vs_fdb_entry_info {
	struct rte_ether_addr mac;
	uint16_t vlan;
	uint16_t port_id;
	bool is_static;
	uint8_t remote; /**< tunnel port: its remote VTEP, index + 1; 0 none */
	uint32_t age_s; /**< Seconds since last seen. */
};

/**
 * Create the table.
 *
 * @param size   Entries (rounded up by rte_hash).
 * @param aging  Seconds after which an unseen entry goes; 0 = never.
 * @param qsbr   The forwarding lcores' RCU variable.
 * @return 0, -ENOMEM, -EINVAL.
 */
int vs_fdb_init(uint32_t size, uint32_t aging, struct rte_rcu_qsbr *qsbr);
void vs_fdb_fini(void);

#define VS_FDB_MAC_MASK (((uint64_t)1 << 48) - 1)

/**
 * The table's key of @p mac (in frame data, any alignment) in VLAN
 * @p vlan: the MAC's six bytes as they are in memory in the low 48 bits,
 * so bit 0 is the group (multicast) bit, and the VLAN id above.
 */
static inline uint64_t
vs_fdb_key(const void *mac, uint16_t vlan)
{
	uint32_t hi;
	uint16_t lo;

	memcpy(&hi, mac, 4);
	memcpy(&lo, (const uint8_t *)mac + 4, 2);
	return (uint64_t)hi | (uint64_t)lo << 32 | (uint64_t)vlan << 48;
}

/**
 * Look up @p n keys (vs_fdb_key()); ports[i] is the port or
 * VS_PORT_INVALID, with in bits 16..23 the remote VTEP (index + 1) for a
 * tunnel port. Datapath; any lcore.
 */
void vs_fdb_lookup_bulk(const uint64_t *keys, uint16_t n, uint32_t *ports);

/**
 * Learn @p key on @p port (at remote VTEP @p remote, index + 1, behind
 * a tunnel port; else 0) at TSC @p now. Datapath; any lcore.
 * An entry already right costs one lookup and, at most every
 * VS_FDB_TOUCH_US, one store.
 * @param max  the port's max-macs, 0 for no limit: a port holding that
 *   many entries learns no new one (and takes no MAC over from another).
 * @return 0, or -ENOSPC when @p max stopped it.
 */
int vs_fdb_learn(uint64_t key, uint16_t port, uint8_t remote, uint64_t now,
		 uint32_t max);

/** Entries on @p port. */
uint32_t vs_fdb_port_count(uint16_t port);

/** Remove entries older than the ageing time. Control thread. */
unsigned int vs_fdb_age(uint64_t now);

/** Remove the entries of @p port (every port if VS_PORT_INVALID). */
unsigned int vs_fdb_flush(uint16_t port);

/** Set the ageing time in seconds; 0 = never. */
void vs_fdb_set_aging(uint32_t sec);
uint32_t vs_fdb_get_aging(void);

/**
 * Add a static entry (never aged, never moved by learning).
 * @return 0, -ENOSPC, -EINVAL, -EPERM (a thread without an lcore id).
 */
int vs_fdb_add_static(const struct rte_ether_addr *mac, uint16_t vlan,
		      uint16_t port);

/** @return 0, -ENOENT, or -EPERM (a thread without an lcore id). */
int vs_fdb_del(const struct rte_ether_addr *mac, uint16_t vlan);

/**
 * Walk the table: @p cb is called for each entry (of @p port only, unless
 * VS_PORT_INVALID). Control thread.
 * @return number of entries visited.
 */
unsigned int vs_fdb_walk(uint16_t port,
			 void (*cb)(const struct vs_fdb_entry_info *e,
				    void *arg),
			 void *arg);

/** Entries in use, and the capacity. */
uint32_t vs_fdb_count(uint32_t *capacity);

/** Register the MAC table commands (fdb/show, fdb/add, ...). */
int vs_fdb_cmd_register(void);

#endif /* VS_FDB_H */
