/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MAC table on rte_hash, keyed by (VLAN, MAC): one 64-bit key, the MAC in
 * its low 48 bits and the VLAN id above (vs_fdb_key()). The port of a key is the key's data in the hash
 * (rte_hash_add_key_data), so a reader gets the key and its port from one
 * lookup: rte_hash stores the data into the key's entry before it publishes
 * the key (a release store of the bucket's key index; readers load it with
 * acquire), and a move replaces the data with one release store. A lookup
 * therefore never sees a port that was not written for that key, not even
 * while another lcore is adding it. The last-seen time lives in a parallel
 * array indexed by the key's position, so the datapath refreshes it with a
 * plain store and never calls a hash writer for a MAC it already knows.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_spinlock.h>

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

/*
 * The hash's data for a key: the port, a static flag, and a bit that is
 * never zero in data we stored, so a key published without data (there is
 * none: every add goes through rte_hash_add_key_data) could not read as
 * port 0.
 */
#define FDB_DATA_PORT_MASK 0xffffu
#define FDB_DATA_STATIC (1u << 16)
#define FDB_DATA_VALID (1u << 17)
/* The remote VTEP a MAC behind a tunnel port is at: index + 1, 0 none. */
#define FDB_DATA_REMOTE_SHIFT 24

static inline void *
fdb_data(uint16_t port, bool is_static, uint8_t remote)
{
	return (void *)(uintptr_t)(FDB_DATA_VALID | port |
				   (is_static ? FDB_DATA_STATIC : 0) |
				   (uint32_t)remote << FDB_DATA_REMOTE_SHIFT);
}

static inline uint8_t
fdb_data_remote(const void *d)
{
	return (uint8_t)((uintptr_t)d >> FDB_DATA_REMOTE_SHIFT);
}

static inline uint16_t
fdb_data_port(const void *d)
{
	uintptr_t v = (uintptr_t)d;

	return v & FDB_DATA_VALID ? (uint16_t)(v & FDB_DATA_PORT_MASK)
				  : VS_PORT_INVALID;
}

static inline bool
fdb_data_static(const void *d)
{
	return ((uintptr_t)d & FDB_DATA_STATIC) != 0;
}

/*
 * Book-keeping at a key's position, for ageing and walks. Nothing here
 * decides where a frame goes: that is the key's data.
 */
struct fdb_slot {
	uint64_t key;
	/*
	 * The port the entry is counted on, | FDB_SLOT_USED; 0 when free.
	 * Swapped atomically, so the per-port counts (max-macs) stay exact
	 * whichever lcores add, move and delete.
	 */
	_Atomic uint32_t owner;
	_Atomic uint64_t seen;
};

#define FDB_SLOT_USED (1u << 16)

static inline uint64_t
key_load(const void *k)
{
	uint64_t v;

	memcpy(&v, k, sizeof(v));
	return v;
}

static uint32_t
key_hash(const void *key, uint32_t len __rte_unused, uint32_t init)
{
	return rte_hash_crc_8byte(key_load(key), init);
}

/*
 * rte_hash has inline compares for 16..128-byte keys only; an 8-byte key
 * would go to libc memcmp() through the PLT for every compare.
 */
static int
key_cmp(const void *a, const void *b, size_t len __rte_unused)
{
	return key_load(a) != key_load(b);
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
	/* Entries per port (max-macs). */
	_Atomic uint32_t port_macs[VS_MAX_PORTS];
	/*
	 * Every write (a MAC learned or moved, a static entry, a delete):
	 * one at a time, each deciding on what the table holds then, so the
	 * key, its slot's owner and the counts change together. Lookups and
	 * the refresh of a known MAC (the fast path) do not take it.
	 */
	rte_spinlock_t lock;
} fdb;

/* Account slot @p s to @p owner (port | FDB_SLOT_USED, or 0: free). */
static void
slot_own(struct fdb_slot *s, uint32_t owner)
{
	uint32_t old = atomic_exchange(&s->owner, owner);

	if (old == owner)
		return;
	if (old & FDB_SLOT_USED)
		atomic_fetch_sub(&fdb.port_macs[old & 0xffff], 1);
	else
		atomic_fetch_add(&fdb.used, 1);
	if (owner & FDB_SLOT_USED)
		atomic_fetch_add(&fdb.port_macs[owner & 0xffff], 1);
	else
		atomic_fetch_sub(&fdb.used, 1);
}

int
vs_fdb_init(uint32_t size, uint32_t aging, struct rte_rcu_qsbr *qsbr)
{
	struct rte_hash_parameters hp = {
		.name = "vs_fdb",
		.entries = size,
		.key_len = sizeof(uint64_t),
		.hash_func = key_hash,
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
	rte_hash_set_cmp_func(fdb.h, key_cmp);
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
	rte_spinlock_init(&fdb.lock);
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

/* What vs_fdb_lookup_bulk() gives for an entry: its port, its remote. */
static inline uint32_t
fdb_data_ports(const void *d)
{
	return fdb_data_port(d) | (uint32_t)fdb_data_remote(d) << 16;
}

void
vs_fdb_lookup_bulk(const uint64_t *keys, uint16_t n, uint32_t *ports)
{
	const void *kp[RTE_HASH_LOOKUP_BULK_MAX];
	void *data[RTE_HASH_LOOKUP_BULK_MAX];
	uint64_t hits;
	uint16_t i, done, chunk;

	/*
	 * One key, the usual burst (fwd_burst() looks a run of frames to one
	 * destination up once): librte_hash's bulk lookup costs about three
	 * times its single one there (473 instructions against about 150,
	 * scripts/callgrind-pvp).
	 */
	if (n == 1) {
		void *d;

		ports[0] = rte_hash_lookup_data(fdb.h, &keys[0], &d) < 0
			? VS_PORT_INVALID
			: fdb_data_ports(d);
		return;
	}
	for (done = 0; done < n; done += chunk) {
		chunk = RTE_MIN(n - done, RTE_HASH_LOOKUP_BULK_MAX);
		for (i = 0; i < chunk; i++)
			kp[i] = &keys[done + i];
		if (rte_hash_lookup_bulk_data(fdb.h, kp, chunk, &hits, data) <
		    0)
			hits = 0;
		for (i = 0; i < chunk; i++)
			ports[done + i] = hits & (1ull << i)
				? fdb_data_ports(data[i])
				: VS_PORT_INVALID;
	}
}

/*
 * Add @p mac with @p data (or replace its data), then note its position
 * for ageing. The data is in the key's entry before the key is visible.
 * Under fdb.lock.
 */
static int
fdb_add(uint64_t key, void *data, uint64_t now)
{
	struct fdb_slot *s;
	int32_t pos;
	int ret;

	ret = rte_hash_add_key_data(fdb.h, &key, data);
	if (ret < 0)
		return ret;
	/* Deletes take fdb.lock too: the key is there. */
	pos = rte_hash_lookup(fdb.h, &key);
	if (pos < 0)
		return 0;
	s = &fdb.slots[pos];
	s->key = key;
	atomic_store_explicit(&s->seen, now, memory_order_relaxed);
	slot_own(s, FDB_SLOT_USED | fdb_data_port(data));
	return 0;
}

/* Whether @p port may hold one more entry under a limit of @p max. */
static inline bool
room_for(uint16_t port, uint32_t max)
{
	return max == 0 ||
		atomic_load_explicit(&fdb.port_macs[port],
				     memory_order_relaxed) < max;
}

/*
 * A new MAC, or one that moved: decided again under the lock, on what the
 * table holds now (another lcore may have learned it meanwhile, on the
 * same port or another, or a command made it static).
 */
static __rte_noinline int
learn_slow(uint64_t key, uint16_t port, uint8_t remote, uint64_t now,
	   uint32_t max)
{
	int ret = 0;
	int32_t pos;
	void *d;

	rte_spinlock_lock(&fdb.lock);
	pos = rte_hash_lookup_data(fdb.h, &key, &d);
	if (pos >= 0 &&
	    (fdb_data_static(d) ||
	     (fdb_data_port(d) == port && fdb_data_remote(d) == remote))) {
		atomic_store_explicit(&fdb.slots[pos].seen, now,
				      memory_order_relaxed);
	} else if ((pos < 0 || fdb_data_port(d) != port) &&
		   !room_for(port, max)) {
		/*
		 * Over the port's limit: not learned, nobody else's entry
		 * goes. (A full table: the frame still floods; ageing
		 * makes room.)
		 */
		ret = -ENOSPC;
	} else {
		/*
		 * New, or moved (e.g. live migration's RARP): one release
		 * store of the key's data (rte_hash looks for the key before
		 * it takes a free position, so a full table is no bar).
		 */
		fdb_add(key, fdb_data(port, false, remote), now);
	}
	rte_spinlock_unlock(&fdb.lock);
	return ret;
}

int
vs_fdb_learn(uint64_t key, uint16_t port, uint8_t remote, uint64_t now,
	     uint32_t max)
{
	struct fdb_slot *s;
	void *d;
	int32_t pos;

	pos = rte_hash_lookup_data(fdb.h, &key, &d);
	if (unlikely(pos < 0) ||
	    unlikely((fdb_data_port(d) != port ||
		      fdb_data_remote(d) != remote) &&
		     !fdb_data_static(d)))
		return learn_slow(key, port, remote, now, max);
	s = &fdb.slots[pos];
	if (now - atomic_load_explicit(&s->seen, memory_order_relaxed) >
	    fdb.touch_tsc)
		atomic_store_explicit(&s->seen, now, memory_order_relaxed);
	return 0;
}

uint32_t
vs_fdb_port_count(uint16_t port)
{
	return port < VS_MAX_PORTS ? atomic_load(&fdb.port_macs[port]) : 0;
}

/*
 * The data of the key at @p pos, if the slot's MAC is still that key.
 * Control side (the only one that deletes, so the key stays meanwhile).
 */
static bool
slot_data(uint32_t pos, void **d)
{
	return rte_hash_lookup_data(fdb.h, &fdb.slots[pos].key, d) ==
		(int32_t)pos;
}

/*
 * Remove slot @p pos; the hash frees the position after a grace period.
 * Under fdb.lock.
 */
static void
slot_del(uint32_t pos)
{
	struct fdb_slot *s = &fdb.slots[pos];

	slot_own(s, 0);
	rte_hash_del_key(fdb.h, &s->key);
}

/*
 * rte_hash writers (add with MULTI_WRITER_ADD, delete with the RCU defer
 * queue) index per-lcore caches by rte_lcore_id(): a thread EAL does not
 * know (LCORE_ID_ANY) would index past them.
 */
static inline bool
writer_ok(void)
{
	if (likely(rte_lcore_id() != LCORE_ID_ANY))
		return true;
	FDB_LOG(ERR, "MAC table write from a thread without an lcore id\n");
	return false;
}

unsigned int
vs_fdb_age(uint64_t now)
{
	unsigned int n = 0;
	uint32_t i;

	if (fdb.aging_tsc == 0 || !writer_ok())
		return 0;
	for (i = 0; i < fdb.nslots; i++) {
		struct fdb_slot *s = &fdb.slots[i];
		uint64_t seen;
		void *d;

		if (!(atomic_load_explicit(&s->owner, memory_order_acquire) &
		      FDB_SLOT_USED))
			continue;
		if (now - atomic_load_explicit(&s->seen, memory_order_relaxed) <
		    fdb.aging_tsc)
			continue;
		/*
		 * Only entries past their time, looked at again under the
		 * lock: statics stay, and so does one just refreshed or
		 * learned again.
		 */
		rte_spinlock_lock(&fdb.lock);
		seen = atomic_load_explicit(&s->seen, memory_order_relaxed);
		if ((atomic_load_explicit(&s->owner, memory_order_relaxed) &
		     FDB_SLOT_USED) &&
		    now - seen >= fdb.aging_tsc && slot_data(i, &d) &&
		    !fdb_data_static(d)) {
			FDB_LOG(DEBUG,
				"aged out %012" PRIx64 " vlan %u on port %u\n",
				s->key & VS_FDB_MAC_MASK,
				(unsigned int)(s->key >> 48),
				(unsigned int)fdb_data_port(d));
			slot_del(i);
			n++;
		}
		rte_spinlock_unlock(&fdb.lock);
	}
	return n;
}

unsigned int
vs_fdb_flush(uint16_t port)
{
	unsigned int n = 0;
	uint32_t i;

	if (!writer_ok())
		return 0;
	for (i = 0; i < fdb.nslots; i++) {
		struct fdb_slot *s = &fdb.slots[i];
		void *d;

		if (!(atomic_load_explicit(&s->owner, memory_order_acquire) &
		      FDB_SLOT_USED))
			continue;
		rte_spinlock_lock(&fdb.lock);
		if ((atomic_load_explicit(&s->owner, memory_order_relaxed) &
		     FDB_SLOT_USED) &&
		    (port == VS_PORT_INVALID ||
		     (slot_data(i, &d) && fdb_data_port(d) == port))) {
			slot_del(i);
			n++;
		}
		rte_spinlock_unlock(&fdb.lock);
	}
	return n;
}

int
vs_fdb_add_static(const struct rte_ether_addr *mac, uint16_t vlan,
		  uint16_t port)
{
	int ret;

	if (rte_is_multicast_ether_addr(mac) || rte_is_zero_ether_addr(mac) ||
	    vlan > 4095)
		return -EINVAL;
	if (!writer_ok())
		return -EPERM;
	rte_spinlock_lock(&fdb.lock);
	ret = fdb_add(vs_fdb_key(mac, vlan), fdb_data(port, true, 0),
		      rte_get_tsc_cycles());
	rte_spinlock_unlock(&fdb.lock);
	if (ret < 0)
		return ret == -ENOSPC ? -ENOSPC : -EINVAL;
	return 0;
}

int
vs_fdb_del(const struct rte_ether_addr *mac, uint16_t vlan)
{
	uint64_t key = vs_fdb_key(mac, vlan);
	int32_t pos;

	if (!writer_ok())
		return -EPERM;
	rte_spinlock_lock(&fdb.lock);
	pos = rte_hash_lookup(fdb.h, &key);
	if (pos >= 0)
		slot_del(pos);
	rte_spinlock_unlock(&fdb.lock);
	return pos < 0 ? -ENOENT : 0;
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
		void *d;

		if (!(atomic_load_explicit(&s->owner, memory_order_acquire) &
		      FDB_SLOT_USED) ||
		    !slot_data(i, &d))
			continue;
		memcpy(&e.mac, &s->key, RTE_ETHER_ADDR_LEN);
		e.vlan = s->key >> 48;
		e.port_id = fdb_data_port(d);
		if (e.port_id == VS_PORT_INVALID)
			continue;
		if (port != VS_PORT_INVALID && e.port_id != port)
			continue;
		e.is_static = fdb_data_static(d);
		e.remote = fdb_data_remote(d);
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
