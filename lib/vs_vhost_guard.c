/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user message guard: checks, before librte_vhost acts on them,
 * the frontend's messages that librte_vhost 22.11 trusts too far, and
 * refuses them. A refused message's fds are closed here (librte_vhost does
 * not close them when a pre-handler fails it); librte_vhost then answers
 * a NEED_REPLY message with an error, or drops the connection.
 *
 * What a guest (or any local process that can reach the socket) could do
 * without it, found by test/vhostuser_fuzz.py and replayed by the tests
 * in test/test_fuzz.py:
 *   - a SET_MEM_TABLE region that extends past the end of its file (or a
 *     short SET_MEM_TABLE whose missing bytes librte_vhost takes from
 *     stale stack memory): librte_vhost maps it, and the first access to
 *     a ring in the part past the end kills the switch with SIGBUS;
 *   - SET_LOG_BASE the same way: the dirty log is written by the lcores;
 *   - GET_INFLIGHT_FD on a device that never negotiated INFLIGHT_SHMFD:
 *     librte_vhost creates and zeroes num_queues x queue_size of shared
 *     memory (up to 64 GiB) on the vhost-user thread;
 *   - payloads shorter than the request's structure;
 *   - a vring kick, call or error fd that is not an eventfd (see
 *     check_vring_file()).
 *
 * The message layout is librte_vhost's struct vhu_msg_context (lib/vhost/
 * vhost_user.h, not installed; "can't be changed carelessly as external
 * message handlers rely on them"). It is mirrored here for the one DPDK
 * release this is built against; on any other the guard stays off and
 * says so.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_log.h>
#include <rte_version.h>
#include <rte_vhost.h>

#include "vs_port_priv.h"
#include "vs_vhost_call.h"
#include "vs_vhost_guard.h"

#if RTE_VERSION >= RTE_VERSION_NUM(22, 11, 0, 0) && \
	RTE_VERSION < RTE_VERSION_NUM(23, 3, 0, 0)
#define GUARD_LAYOUT_KNOWN 1
#else
#define GUARD_LAYOUT_KNOWN 0
#endif
/* sizeof the payload union of 22.11 (VhostUserCryptoSessionParam). */
#define VU_PAYLOAD_SIZE 632

#define VU_MAX_REGIONS 8
#define VU_MAX_VRINGS 256
#define VU_MAX_QUEUE_SIZE 32768
#define VU_F_INFLIGHT_SHMFD 12 /* VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD */
#define VU_VRING_NOFD (1ULL << 8) /* VHOST_USER_VRING_NOFD_MASK */
#define VU_VRING_IDX 0xffULL /* VHOST_USER_VRING_IDX_MASK */
/* What /proc/self/fd/N links to for an eventfd (fs/eventfd.c). */
#define EVENTFD_LINK "anon_inode:[eventfd]"

/* The requests the guard looks at (vhost-user.rst numbering). */
enum {
	VU_SET_FEATURES = 2,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_SET_VRING_ENABLE = 18,
	VU_NET_SET_MTU = 20,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
};

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		struct {
			uint32_t nregions; /* then the regions, unaligned */
			uint32_t padding;
		} mem;
		struct {
			uint64_t mmap_size;
			uint64_t mmap_offset;
		} log;
		struct {
			uint64_t mmap_size;
			uint64_t mmap_offset;
			uint16_t num_queues;
			uint16_t queue_size;
		} inflight;
		uint64_t u64; /* KICK, CALL, ERR: index, VU_VRING_NOFD */
		uint8_t raw[VU_PAYLOAD_SIZE];
	} payload;
} __rte_packed;

struct vu_ctx {
	struct vu_msg msg;
	int fds[VU_MAX_REGIONS];
	int fd_num;
} __rte_packed;

#if GUARD_LAYOUT_KNOWN
static_assert(offsetof(struct vu_ctx, fds) == 644,
	      "struct vhu_msg_context of DPDK 22.11");
#endif

static const char *const reason_names[VS_GUARD_MAX] = {
#define X(n, d) [VS_GUARD_##n] = #n,
	VS_GUARD_REASONS(X)
#undef X
};

static const char *const reason_desc[VS_GUARD_MAX] = {
#define X(n, d) [VS_GUARD_##n] = d,
	VS_GUARD_REASONS(X)
#undef X
};

static _Atomic uint64_t refused[VS_GUARD_MAX];
static _Atomic bool guard_off;

const char *
vs_vhost_guard_reason_name(enum vs_guard_reason r)
{
	return r < VS_GUARD_MAX ? reason_names[r] : "?";
}

uint64_t
vs_vhost_guard_refused(enum vs_guard_reason r)
{
	return r < VS_GUARD_MAX ? atomic_load(&refused[r]) : 0;
}

bool
vs_vhost_guard_active(void)
{
	return GUARD_LAYOUT_KNOWN && !atomic_load(&guard_off);
}

/*
 * Whether @len bytes at @off of @fd are backed by the file: mmap() of a
 * range past the end of a regular file succeeds, and the first access
 * past the end raises SIGBUS. Character devices (DAX) have no size here:
 * their mmap() fails or works on its own terms. Anything else cannot be
 * guest memory.
 */
static enum vs_guard_reason
check_backing(int fd, uint64_t off, uint64_t len)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0)
		return VS_GUARD_bad_fd;
	if (S_ISCHR(st.st_mode))
		return VS_GUARD_MAX;
	if (!S_ISREG(st.st_mode))
		return VS_GUARD_bad_fd;
	if (off + len < off || st.st_size < 0 ||
	    off + len > (uint64_t)st.st_size)
		return VS_GUARD_past_eof;
	return VS_GUARD_MAX;
}

static enum vs_guard_reason
check_mem_table(const struct vu_ctx *c)
{
	struct vu_region reg[VU_MAX_REGIONS];
	const struct vu_msg *m = &c->msg;
	uint32_t n, i, j;

	if (m->size < 8)
		return VS_GUARD_short;
	n = m->payload.mem.nregions;
	if (n == 0 || n > VU_MAX_REGIONS)
		return VS_GUARD_bad_value;
	if (m->size < 8 + n * sizeof(struct vu_region))
		return VS_GUARD_short;
	if (c->fd_num != (int)n)
		return VS_GUARD_bad_fd;
	/* The payload is packed: copy the regions out, aligned. */
	memcpy(reg, m->payload.raw + 8, n * sizeof(reg[0]));
	for (i = 0; i < n; i++) {
		const struct vu_region *r = &reg[i];
		enum vs_guard_reason why;

		if (r->size == 0 || r->gpa + r->size < r->gpa ||
		    r->uaddr + r->size < r->uaddr)
			return VS_GUARD_bad_region;
		for (j = 0; j < i; j++)
			if (r->gpa < reg[j].gpa + reg[j].size &&
			    reg[j].gpa < r->gpa + r->size)
				return VS_GUARD_bad_region;
		why = check_backing(c->fds[i], r->mmap_offset, r->size);
		if (why != VS_GUARD_MAX)
			return why;
	}
	return VS_GUARD_MAX;
}

/*
 * Whether @fd is an eventfd. fstat() cannot tell (an eventfd is an
 * anonymous inode, like a signalfd, a timerfd or an epoll fd); the name
 * of its /proc link can. The EAL needs /proc too: without it an fd counts
 * as no eventfd.
 */
static bool
is_eventfd(int fd)
{
	char path[32], link[sizeof(EVENTFD_LINK) + 1];
	ssize_t n;

	if (fd < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	return n == sizeof(EVENTFD_LINK) - 1 &&
		memcmp(link, EVENTFD_LINK, (size_t)n) == 0;
}

/*
 * SET_VRING_KICK, SET_VRING_CALL and SET_VRING_ERR carry "the event file
 * descriptor" (vhost-user.rst): an eventfd. librte_vhost 22.11 takes any
 * fd. The forwarding lcore sleeps in epoll on a dup of the kick fd (and
 * never reads it: edge-triggered epoll needs no read), and librte_vhost
 * writes the call fd from the lcore (eventfd_write()). What an eventfd
 * does there is known; a pipe, a socket, a FIFO or a device could be
 * anything: a pipe the guest never drains blocks the lcore's write once
 * it is full, a socket's other end can be any process. Its blocking flag
 * is no defence: the flag belongs to the file description, which the
 * guest shares and can change at any time.
 * A message without an fd (VU_VRING_NOFD) asks for polling; a number of
 * fds that does not match the flag is librte_vhost's to refuse
 * (validate_msg_fds() closes them).
 */
static enum vs_guard_reason
check_vring_file(const struct vu_ctx *c)
{
	if (c->msg.size != sizeof(c->msg.payload.u64))
		return VS_GUARD_short;
	if ((c->msg.payload.u64 & VU_VRING_NOFD) || c->fd_num != 1)
		return VS_GUARD_MAX;
	return is_eventfd(c->fds[0]) ? VS_GUARD_MAX : VS_GUARD_not_eventfd;
}

static enum vs_guard_reason
check(int vid, const struct vu_ctx *c)
{
	const struct vu_msg *m = &c->msg;
	uint64_t pf = 0;

	switch (m->request) {
	case VU_SET_MEM_TABLE:
		return check_mem_table(c);
	case VU_SET_LOG_BASE:
		if (m->size != sizeof(m->payload.log))
			return VS_GUARD_short;
		if (c->fd_num != 1)
			return VS_GUARD_bad_fd;
		return check_backing(c->fds[0], m->payload.log.mmap_offset,
				     m->payload.log.mmap_size);
	case VU_GET_INFLIGHT_FD:
	case VU_SET_INFLIGHT_FD:
		if (rte_vhost_get_negotiated_protocol_features(vid, &pf) != 0 ||
		    !(pf & (1ULL << VU_F_INFLIGHT_SHMFD)))
			return VS_GUARD_not_negotiated;
		if (m->size < 20)
			return VS_GUARD_short;
		if (m->payload.inflight.num_queues > VU_MAX_VRINGS ||
		    m->payload.inflight.queue_size > VU_MAX_QUEUE_SIZE)
			return VS_GUARD_bad_value;
		return VS_GUARD_MAX;
	case VU_SET_VRING_ADDR:
		return m->size == 40 ? VS_GUARD_MAX : VS_GUARD_short;
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
	case VU_NET_SET_MTU:
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
		return m->size == 8 ? VS_GUARD_MAX : VS_GUARD_short;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		return check_vring_file(c);
	default:
		return VS_GUARD_MAX;
	}
}

static enum rte_vhost_msg_result
guard_pre(int vid, void *arg)
{
	struct vu_ctx *c = arg;
	enum vs_guard_reason why;
	int i;

	if (!vs_vhost_guard_active())
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	/* A layout that does not hold: step aside rather than misread. */
	if (c->fd_num < 0 || c->fd_num > VU_MAX_REGIONS ||
	    c->msg.size > VU_PAYLOAD_SIZE) {
		if (!atomic_exchange(&guard_off, true))
			PORT_LOG(
				WARNING,
				"vhost-user guard off: message context of librte_vhost not as expected (fd_num %d, size %u)\n",
				c->fd_num, c->msg.size);
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	why = check(vid, c);
	if (why == VS_GUARD_MAX) {
		/* The call eventfd goes to the relay (vs_vhost_call.c). */
		if (c->msg.request == VU_SET_VRING_CALL) {
			uint16_t idx = c->msg.payload.u64 & VU_VRING_IDX;

			if (c->msg.payload.u64 & VU_VRING_NOFD)
				vs_call_relay_drop(vid, idx);
			else if (c->fd_num == 1) {
				int fd = c->fds[0];

				vs_call_relay_take(vid, idx, &fd);
				c->fds[0] = fd;
			}
		}
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}

	atomic_fetch_add(&refused[why], 1);
	PORT_LOG(
		WARNING,
		"port %s (vid %d): refused vhost-user request %u (size %u, %d fds): %s\n",
		vs_port_vhost_refused(vid), vid, c->msg.request, c->msg.size,
		c->fd_num, reason_desc[why]);
	for (i = 0; i < c->fd_num; i++) {
		if (c->fds[i] >= 0)
			close(c->fds[i]);
		c->fds[i] = -1;
	}
	c->fd_num = 0;
	/*
	 * librte_vhost answers a NEED_REPLY message with a failure and keeps
	 * the connection; any other failed message closes it.
	 */
	return RTE_VHOST_MSG_RESULT_ERR;
}

static const struct rte_vhost_user_extern_ops guard_ops = {
	.pre_msg_handle = guard_pre,
};

int
vs_vhost_guard_attach(int vid)
{
	if (!GUARD_LAYOUT_KNOWN) {
		static bool said;

		if (!said)
			PORT_LOG(
				WARNING,
				"vhost-user guard off: built for DPDK %s, whose message layout it does not know\n",
				rte_version());
		said = true;
		return 0;
	}
	if (rte_vhost_extern_callback_register(vid, &guard_ops, NULL) != 0) {
		PORT_LOG(ERR, "vid %d: cannot attach the vhost-user guard\n",
			 vid);
		return -1;
	}
	return 0;
}
