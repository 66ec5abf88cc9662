/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MAC table on rte_hash. The hash maps a MAC to a key position; the port,
 * last-seen time and flags live in a parallel array indexed by that
 * position, so the datapath updates them with plain stores and never
 * calls a hash writer for a MAC it already knows.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_log.h>
#include <rte_malloc.h>

#include "vs_fdb.h"
#include "vs_port.h"

RTE_LOG_REGISTER(vs_logtype_fdb, vswitch.fdb, INFO);
#define FDB_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_logtype_fdb, "vswitch.fdb: " fmt, \
		##__VA_ARGS__)

/*
 * Refresh an entry's last-seen time at most every 100 ms: ageing works in
 * seconds, and one store per entry per 100 ms keeps the line from
 * bouncing between lcores that see the same source MAC.
 */
#define VS_FDB_TOUCH_US 100000

struct fdb_slot {
	struct rte_ether_addr mac;
	_Atomic uint16_t port;
	_Atomic uint8_t in_use;
	uint8_t is_static;
	_Atomic uint64_t seen;
};

/*
 * A MAC as one 48-bit integer. Keys are MACs in frame data, at any
 * alignment: memcpy, never a cast (rte_hash_crc's 4-byte loads of such a
 * key are misaligned, undefined behaviour).
 */
static inline uint64_t
mac_u64(const void *mac)
{
	uint32_t hi;
	uint16_t lo;

	memcpy(&hi, mac, 4);
	memcpy(&lo, (const uint8_t *)mac + 4, 2);
	return (uint64_t)hi | (uint64_t)lo << 32;
}

static uint32_t
mac_hash(const void *key, uint32_t len __rte_unused, uint32_t init)
{
	return rte_hash_crc_8byte(mac_u64(key), init);
}

/*
 * rte_hash has inline compares for 16..128-byte keys only; a 6-byte key
 * would go to libc memcmp() through the PLT for every compare.
 */
static int
mac_cmp(const void *a, const void *b, size_t len __rte_unused)
{
	return mac_u64(a) != mac_u64(b);
}

static struct {
	struct rte_hash *h;
	struct fdb_slot *slots;
	uint32_t nslots;
	uint32_t capacity;
	uint32_t aging_s;
	uint64_t aging_tsc;
	uint64_t touch_tsc;
	/*
	 * Entries in use. rte_hash_count() also counts deleted keys that
	 * wait in the RCU defer queue.
	 */
	_Atomic uint32_t used;
} fdb;

int
vs_fdb_init(uint32_t size, uint32_t aging, struct rte_rcu_qsbr *qsbr)
{
	struct rte_hash_parameters hp = {
		.name = "vs_fdb",
		.entries = size,
		.key_len = RTE_ETHER_ADDR_LEN,
		.hash_func = mac_hash,
		.socket_id = SOCKET_ID_ANY,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF |
			RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD,
	};
	struct rte_hash_rcu_config rcu = {
		.v = qsbr,
		.mode = RTE_HASH_QSBR_MODE_DQ,
	};
	int32_t max;

	fdb.h = rte_hash_create(&hp);
	if (fdb.h == NULL)
		return -rte_errno;
	rte_hash_set_cmp_func(fdb.h, mac_cmp);
	if (qsbr != NULL && rte_hash_rcu_qsbr_add(fdb.h, &rcu) != 0) {
		FDB_LOG(ERR, "cannot attach RCU to the MAC table: %s\n",
			rte_strerror(rte_errno));
		goto fail;
	}
	max = rte_hash_max_key_id(fdb.h);
	if (max < 0)
		goto fail;
	fdb.nslots = (uint32_t)max + 1;
	fdb.slots = rte_zmalloc("vs_fdb_slots", sizeof(*fdb.slots) * fdb.nslots,
				RTE_CACHE_LINE_SIZE);
	if (fdb.slots == NULL)
		goto fail;
	fdb.capacity = size;
	fdb.touch_tsc = rte_get_tsc_hz() / (1000000 / VS_FDB_TOUCH_US);
	vs_fdb_set_aging(aging);
	return 0;
fail:
	rte_hash_free(fdb.h);
	fdb.h = NULL;
	return -ENOMEM;
}

void
vs_fdb_fini(void)
{
	rte_hash_free(fdb.h);
	rte_free(fdb.slots);
	memset(&fdb, 0, sizeof(fdb));
}

void
vs_fdb_set_aging(uint32_t sec)
{
	fdb.aging_s = sec;
	fdb.aging_tsc = (uint64_t)sec * rte_get_tsc_hz();
}

uint32_t
vs_fdb_get_aging(void)
{
	return fdb.aging_s;
}

void
vs_fdb_lookup_bulk(const struct rte_ether_addr **macs, uint16_t n,
		   uint16_t *ports)
{
	int32_t pos[RTE_HASH_LOOKUP_BULK_MAX];
	uint16_t i, done, chunk;

	for (done = 0; done < n; done += chunk) {
		chunk = RTE_MIN(n - done, RTE_HASH_LOOKUP_BULK_MAX);
		if (rte_hash_lookup_bulk(fdb.h, (const void **)(macs + done),
					 chunk, pos) != 0) {
			for (i = 0; i < chunk; i++)
				ports[done + i] = VS_PORT_INVALID;
			continue;
		}
		for (i = 0; i < chunk; i++)
			ports[done + i] = pos[i] < 0
				? VS_PORT_INVALID
				: atomic_load_explicit(&fdb.slots[pos[i]].port,
						       memory_order_acquire);
	}
}

void
vs_fdb_learn(const struct rte_ether_addr *mac, uint16_t port, uint64_t now)
{
	struct fdb_slot *s;
	int32_t pos;

	pos = rte_hash_lookup(fdb.h, mac);
	if (likely(pos >= 0)) {
		s = &fdb.slots[pos];
		if (unlikely(atomic_load_explicit(
				     &s->port, memory_order_relaxed) != port) &&
		    !s->is_static) {
			/* A MAC that moved (e.g. live migration's RARP). */
			atomic_store_explicit(&s->port, port,
					      memory_order_release);
			atomic_store_explicit(&s->seen, now,
					      memory_order_relaxed);
			return;
		}
		if (now - atomic_load_explicit(&s->seen, memory_order_relaxed) >
		    fdb.touch_tsc)
			atomic_store_explicit(&s->seen, now,
					      memory_order_relaxed);
		return;
	}
	pos = rte_hash_add_key(fdb.h, mac);
	if (pos < 0)
		return; /* Full: the frame still floods; ageing makes room. */
	s = &fdb.slots[pos];
	s->mac = *mac;
	s->is_static = 0;
	atomic_store_explicit(&s->seen, now, memory_order_relaxed);
	atomic_store_explicit(&s->port, port, memory_order_release);
	if (!atomic_exchange(&s->in_use, 1))
		atomic_fetch_add(&fdb.used, 1);
}

/* Remove slot @p pos; the hash frees the position after a grace period. */
static void
slot_del(uint32_t pos)
{
	struct fdb_slot *s = &fdb.slots[pos];

	if (atomic_exchange(&s->in_use, 0))
		atomic_fetch_sub(&fdb.used, 1);
	atomic_store_explicit(&s->port, VS_PORT_INVALID, memory_order_release);
	rte_hash_del_key(fdb.h, &s->mac);
}

unsigned int
vs_fdb_age(uint64_t now)
{
	unsigned int n = 0;
	uint32_t i;

	if (fdb.aging_tsc == 0)
		return 0;
	for (i = 0; i < fdb.nslots; i++) {
		struct fdb_slot *s = &fdb.slots[i];

		if (!atomic_load_explicit(&s->in_use, memory_order_acquire) ||
		    s->is_static)
			continue;
		if (now - atomic_load_explicit(&s->seen, memory_order_relaxed) <
		    fdb.aging_tsc)
			continue;
		FDB_LOG(DEBUG,
			"aged out " RTE_ETHER_ADDR_PRT_FMT " on port %u\n",
			RTE_ETHER_ADDR_BYTES(&s->mac),
			(unsigned int)atomic_load(&s->port));
		slot_del(i);
		n++;
	}
	return n;
}

unsigned int
vs_fdb_flush(uint16_t port)
{
	unsigned int n = 0;
	uint32_t i;

	for (i = 0; i < fdb.nslots; i++) {
		struct fdb_slot *s = &fdb.slots[i];

		if (!atomic_load_explicit(&s->in_use, memory_order_acquire))
			continue;
		if (port != VS_PORT_INVALID && atomic_load(&s->port) != port)
			continue;
		slot_del(i);
		n++;
	}
	return n;
}

int
vs_fdb_add_static(const struct rte_ether_addr *mac, uint16_t port)
{
	struct fdb_slot *s;
	int32_t pos;

	if (rte_is_multicast_ether_addr(mac) || rte_is_zero_ether_addr(mac))
		return -EINVAL;
	pos = rte_hash_add_key(fdb.h, mac);
	if (pos < 0)
		return pos == -ENOSPC ? -ENOSPC : -EINVAL;
	s = &fdb.slots[pos];
	s->mac = *mac;
	s->is_static = 1;
	atomic_store_explicit(&s->seen, rte_get_tsc_cycles(),
			      memory_order_relaxed);
	atomic_store_explicit(&s->port, port, memory_order_release);
	if (!atomic_exchange(&s->in_use, 1))
		atomic_fetch_add(&fdb.used, 1);
	return 0;
}

int
vs_fdb_del(const struct rte_ether_addr *mac)
{
	int32_t pos = rte_hash_lookup(fdb.h, mac);

	if (pos < 0)
		return -ENOENT;
	slot_del(pos);
	return 0;
}

unsigned int
vs_fdb_walk(uint16_t port,
	    void (*cb)(const struct vs_fdb_entry_info *e, void *arg), void *arg)
{
	struct vs_fdb_entry_info e;
	uint64_t now = rte_get_tsc_cycles(), hz = rte_get_tsc_hz();
	unsigned int n = 0;
	uint32_t i;

	for (i = 0; i < fdb.nslots; i++) {
		struct fdb_slot *s = &fdb.slots[i];

		if (!atomic_load_explicit(&s->in_use, memory_order_acquire))
			continue;
		e.mac = s->mac;
		e.port_id = atomic_load(&s->port);
		if (e.port_id == VS_PORT_INVALID)
			continue;
		if (port != VS_PORT_INVALID && e.port_id != port)
			continue;
		e.is_static = s->is_static;
		e.age_s = (now - atomic_load(&s->seen)) / hz;
		cb(&e, arg);
		n++;
	}
	return n;
}

uint32_t
vs_fdb_count(uint32_t *capacity)
{
	if (capacity)
		*capacity = fdb.capacity;
	return atomic_load(&fdb.used);
}
