/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pcapng writer (draft-ietf-opsawg-pcapng): one Section Header Block, one
 * Interface Description Block for the port, then an Enhanced Packet Block
 * per frame with nanosecond timestamps and the direction in epb_flags.
 * DPDK 22.11's librte_pcapng numbers interfaces by ethdev port and has no
 * way to add a vhost port as an interface (rte_pcapng_add_interface came
 * in 23.03), hence this small writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "vs_capture.h"
#include "vs_cmd.h"
#include "vs_fwd.h"
#include "vs_port_priv.h"

/*
 * 4096 copies in flight: at 10 Mpps the writer, woken every 10 ms, would
 * need 100000; a capture at line rate loses frames (counted as dropped in
 * capture/stop), as dpdk-dumpcap does. Captures are for diagnosis.
 */
#define CAP_RING 4096
#define CAP_MBUFS (CAP_RING + 1024)
/* Frames the writer takes from the ring at once. */
#define CAP_BATCH 64

struct cap_meta {
	uint64_t tsc;
	uint32_t dir;
};

struct vs_capture {
	FILE *f;
	char file[PATH_MAX];
	struct rte_ring *ring;
	struct rte_mempool *mp;
	_Atomic uint64_t
		budget; /* frames still to take; UINT64_MAX = no limit */
	_Atomic uint64_t dropped;
	uint64_t written;
	uint64_t tsc0;
	uint64_t ns0;
	uint64_t hz;
};

static struct vs_capture *active[VS_MAX_PORTS];
static unsigned int cap_seq;
/*
 * The writer (control thread) against capture/stop, which a command runs
 * from any front end (the prompt runs on the main lcore): active[], each
 * capture's ring (single consumer), file and counters. Commands hold the
 * command lock around it; the writer holds it alone, so commands other
 * than the capture's own are never held up by its file writes.
 */
static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;

static int
put_block(FILE *f, uint32_t type, const void *body, uint32_t len)
{
	uint32_t total = 12 + ((len + 3) & ~3u);
	static const uint8_t pad[4];

	if (fwrite(&type, 4, 1, f) != 1 || fwrite(&total, 4, 1, f) != 1 ||
	    (len && fwrite(body, len, 1, f) != 1) ||
	    fwrite(pad, (4 - len % 4) % 4, 1, f) > 1 ||
	    fwrite(&total, 4, 1, f) != 1)
		return -EIO;
	return 0;
}

/* Append option @p code of @p len bytes to @p buf at @p off. */
static size_t
put_opt(uint8_t *buf, size_t off, uint16_t code, const void *v, uint16_t len)
{
	memcpy(buf + off, &code, 2);
	memcpy(buf + off + 2, &len, 2);
	if (len > 0)
		memcpy(buf + off + 4, v, len);
	memset(buf + off + 4 + len, 0, (4 - len % 4) % 4);
	return off + 4 + ((len + 3) & ~3u);
}

static int
write_header(struct vs_capture *c, const char *ifname)
{
	uint8_t shb[256], idb[256];
	const char *app = "vhost-switch " VS_VERSION;
	uint32_t magic = 0x1a2b3c4d;
	uint16_t major = 1, minor = 0;
	int64_t seclen = -1;
	uint8_t tsresol = 9; /* nanoseconds */
	uint16_t linktype = 1, reserved = 0;
	uint32_t snaplen = 0;
	size_t off = 0;

	memcpy(shb, &magic, 4);
	memcpy(shb + 4, &major, 2);
	memcpy(shb + 6, &minor, 2);
	memcpy(shb + 8, &seclen, 8);
	off = put_opt(shb, 16, 4 /* shb_userappl */, app, strlen(app));
	off = put_opt(shb, off, 0, NULL, 0);
	if (put_block(c->f, 0x0a0d0d0a, shb, off) != 0)
		return -EIO;
	memcpy(idb, &linktype, 2);
	memcpy(idb + 2, &reserved, 2);
	memcpy(idb + 4, &snaplen, 4);
	off = put_opt(idb, 8, 2 /* if_name */, ifname, strlen(ifname));
	off = put_opt(idb, off, 9 /* if_tsresol */, &tsresol, 1);
	off = put_opt(idb, off, 0, NULL, 0);
	return put_block(c->f, 0x00000001, idb, off);
}

static int
write_packet(struct vs_capture *c, struct rte_mbuf *m)
{
	const struct cap_meta *meta = rte_mbuf_to_priv(m);
	uint32_t len = rte_pktmbuf_pkt_len(m), type = 6, hdr[5], total;
	/* In two steps: d * 10^9 passes 2^64 after a few seconds of TSC. */
	uint64_t d = meta->tsc - c->tsc0,
		 ns = c->ns0 + d / c->hz * 1000000000ull +
		d % c->hz * 1000000000ull / c->hz;
	uint32_t opt[3] = { 2 /* epb_flags */ | (4u << 16), meta->dir, 0 };
	static const uint8_t pad[4];
	const struct rte_mbuf *s;

	total = 12 + 20 + ((len + 3) & ~3u) + sizeof(opt);
	hdr[0] = 0; /* interface id */
	hdr[1] = ns >> 32;
	hdr[2] = (uint32_t)ns;
	hdr[3] = len;
	hdr[4] = len;
	if (fwrite(&type, 4, 1, c->f) != 1 || fwrite(&total, 4, 1, c->f) != 1 ||
	    fwrite(hdr, sizeof(hdr), 1, c->f) != 1)
		return -EIO;
	for (s = m; s != NULL; s = s->next)
		if (s->data_len &&
		    fwrite(rte_pktmbuf_mtod(s, void *), s->data_len, 1, c->f) !=
			    1)
			return -EIO;
	if (fwrite(pad, (4 - len % 4) % 4, 1, c->f) > 1 ||
	    fwrite(opt, sizeof(opt), 1, c->f) != 1 ||
	    fwrite(&total, 4, 1, c->f) != 1)
		return -EIO;
	return 0;
}

void
vs_capture_burst(struct vs_capture *c, struct rte_mbuf **pkts, uint16_t n,
		 enum vs_capture_dir dir)
{
	struct rte_mbuf *cp[VS_CAPTURE_MAX_BURST];
	uint64_t tsc = rte_rdtsc(), left;
	uint16_t i, k = 0;

	left = atomic_load_explicit(&c->budget, memory_order_relaxed);
	if (left == 0)
		return;
	n = RTE_MIN(n, VS_CAPTURE_MAX_BURST);
	/*
	 * Take our share of the budget in one compare-and-swap: exact under
	 * several lcores, and the budget never passes through a value that is
	 * not what is left (a subtract that overshoots and is given back
	 * would show another lcore a wrapped, huge budget, or UINT64_MAX,
	 * "no limit", meanwhile).
	 */
	while (left != UINT64_MAX) {
		uint64_t take = RTE_MIN(left, (uint64_t)n);

		if (atomic_compare_exchange_weak_explicit(
			    &c->budget, &left, left - take,
			    memory_order_relaxed, memory_order_relaxed)) {
			n = take;
			break;
		}
		if (left == 0)
			return;
	}
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m =
			rte_pktmbuf_copy(pkts[i], c->mp, 0, UINT32_MAX);
		struct cap_meta *meta;

		if (m == NULL)
			break;
		meta = rte_mbuf_to_priv(m);
		meta->tsc = tsc;
		meta->dir = dir;
		cp[k++] = m;
	}
	i = rte_ring_enqueue_burst(c->ring, (void **)cp, k, NULL);
	if (i < k)
		rte_pktmbuf_free_bulk(cp + i, k - i);
	if (n - i)
		atomic_fetch_add(&c->dropped, n - i);
}

/* Write one batch of what the lcores queued. cap_lock held. @return n. */
static unsigned int
drain_batch(struct vs_capture *c)
{
	struct rte_mbuf *m[CAP_BATCH];
	unsigned int n, i;

	n = rte_ring_dequeue_burst(c->ring, (void **)m, RTE_DIM(m), NULL);
	for (i = 0; i < n; i++)
		if (write_packet(c, m[i]) == 0)
			c->written++;
	rte_pktmbuf_free_bulk(m, n);
	return n;
}

/* Write everything queued (no lcore queues any more). cap_lock held. */
static void
drain(struct vs_capture *c)
{
	while (drain_batch(c) > 0)
		;
	fflush(c->f);
}

int
vs_capture_poll(void)
{
	unsigned int i, n, done;
	int any = 0;

	for (i = 0; i < VS_MAX_PORTS; i++) {
		/*
		 * One batch per hold of the lock, so a capture/stop waits
		 * for one batch at most; and one ring's worth per call, so
		 * under a stream faster than the file the writer does not
		 * loop for ever (the ring fills, the lcores count drops).
		 */
		for (done = 0; done < CAP_RING; done += n) {
			struct vs_capture *c;

			pthread_mutex_lock(&cap_lock);
			c = active[i];
			n = c != NULL ? drain_batch(c) : 0;
			if (c != NULL &&
			    (n < CAP_BATCH || done + n >= CAP_RING))
				fflush(c->f);
			pthread_mutex_unlock(&cap_lock);
			any |= c != NULL;
			if (n < CAP_BATCH)
				break;
		}
	}
	return any;
}

/*
 * Open the capture file for writing without following a symbolic link and
 * without opening anything but a regular file: a new file (O_EXCL), or,
 * with @p overwrite, an existing regular file, truncated. A FIFO, a device
 * or a socket is refused before it is opened (opening one can block or
 * act on the device); O_NONBLOCK covers a FIFO put there in between, and
 * fstat() checks what was opened. The directory part of the path is the
 * caller's: it may hold links.
 * @return the fd, or -errno (-EEXIST, -ELOOP: a link, -EINVAL: not a
 * regular file).
 */
static int
open_capture_file(const char *file, bool overwrite)
{
	int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
		O_NONBLOCK;
	struct stat st;
	int fd;

	if (lstat(file, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return -ELOOP;
		if (!S_ISREG(st.st_mode))
			return -EINVAL;
		if (!overwrite)
			return -EEXIST;
	}
	if (!overwrite)
		flags |= O_EXCL;
	fd = open(file, flags, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	/* Back to blocking writes; O_NONBLOCK was for the open only. */
	if (fcntl(fd, F_SETFL, 0) != 0 || ftruncate(fd, 0) != 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

int
vs_capture_start(struct vs_port *p, const char *file, uint64_t count,
		 bool overwrite)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct timespec ts;
	struct vs_capture *c;
	int ret = -ENOMEM, fd = -1;

	if (active[p->id] != NULL || p->capture != NULL)
		return -EBUSY;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	snprintf(name, sizeof(name), "vs_cap%u", cap_seq++);
	c->ring = rte_ring_create(name, CAP_RING, SOCKET_ID_ANY, RING_F_SC_DEQ);
	c->mp = rte_pktmbuf_pool_create(
		name, CAP_MBUFS, 0, sizeof(struct cap_meta) + 16,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (c->ring == NULL || c->mp == NULL)
		goto fail;
	fd = open_capture_file(file, overwrite);
	if (fd < 0) {
		ret = fd;
		goto fail;
	}
	c->f = fdopen(fd, "wb");
	if (c->f == NULL) {
		ret = -errno;
		goto fail;
	}
	fd = -1; /* the FILE has it */
	strlcpy(c->file, file, sizeof(c->file));
	clock_gettime(CLOCK_REALTIME, &ts);
	c->hz = rte_get_tsc_hz();
	c->tsc0 = rte_rdtsc();
	c->ns0 = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	atomic_init(&c->budget, count ? count : UINT64_MAX);
	if (write_header(c, p->name) != 0) {
		ret = -EIO;
		goto fail;
	}
	fflush(c->f);
	pthread_mutex_lock(&cap_lock);
	active[p->id] = c;
	pthread_mutex_unlock(&cap_lock);
	atomic_store_explicit(&p->capture, c, memory_order_release);
	return 0;
fail:
	if (c->f != NULL)
		fclose(c->f);
	if (fd >= 0)
		close(fd);
	rte_ring_free(c->ring);
	rte_mempool_free(c->mp);
	free(c);
	return ret;
}

int64_t
vs_capture_stop(struct vs_port *p)
{
	/* Only start and stop (commands, one at a time) change active[]. */
	struct vs_capture *c = active[p->id];
	int64_t n;

	if (c == NULL)
		return -ENOENT;
	/*
	 * Unpublish, let every lcore finish its burst, take it from the
	 * writer, then drain and free.
	 */
	atomic_store_explicit(&p->capture, NULL, memory_order_release);
	vs_fwd_synchronize();
	pthread_mutex_lock(&cap_lock);
	active[p->id] = NULL;
	drain(c);
	pthread_mutex_unlock(&cap_lock);
	fclose(c->f);
	n = c->written;
	rte_ring_free(c->ring);
	rte_mempool_free(c->mp);
	free(c);
	return n;
}

int
vs_capture_info(const struct vs_port *p, uint64_t *written, const char **file)
{
	const struct vs_capture *c = active[p->id];

	if (c == NULL)
		return -ENOENT;
	pthread_mutex_lock(&cap_lock);
	*written = c->written;
	pthread_mutex_unlock(&cap_lock);
	*file = c->file;
	return 0;
}

static int
cmd_capture_start(int argc, const char *const *argv, json_t **res, char *err,
		  size_t errlen)
{
	unsigned long count = 0;
	struct vs_port *p = vs_port_lookup(argv[0]);
	bool overwrite = false;
	int ret, i;

	if (p == NULL)
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "no port '%s' (see port/list)", argv[0]);
	/* [COUNT] [overwrite], in that order. */
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "overwrite") == 0 && i == argc - 1)
			overwrite = true;
		else if (i > 2 ||
			 vs_cmd_parse_uint(argv[i], UINT32_MAX, &count) != 0)
			return vs_cmd_err(
				err, errlen, VS_RPC_INVALID_PARAMS,
				"'%s': COUNT is a number of frames (0 = no limit), then optionally the word overwrite",
				argv[i]);
	}
	ret = vs_capture_start(p, argv[1], count, overwrite);
	if (ret == -EBUSY)
		return vs_cmd_err(
			err, errlen, VS_RPC_FAILED,
			"port '%s' is already being captured (capture/stop first)",
			p->name);
	if (ret == -EEXIST)
		return vs_cmd_err(
			err, errlen, VS_RPC_FAILED,
			"cannot capture to %s: it exists (add the word overwrite to replace a regular file)",
			argv[1]);
	if (ret == -ELOOP)
		return vs_cmd_err(
			err, errlen, VS_RPC_FAILED,
			"cannot capture to %s: it is a symbolic link, which a capture never follows",
			argv[1]);
	if (ret == -EINVAL)
		return vs_cmd_err(
			err, errlen, VS_RPC_FAILED,
			"cannot capture to %s: not a regular file (a capture never writes to a FIFO, device, socket or directory)",
			argv[1]);
	if (ret < 0)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED,
				  "cannot capture to %s: %s", argv[1],
				  strerror(-ret));
	*res = json_pack("{s:s, s:s, s:I, s:b}", "port", p->name, "file",
			 argv[1], "count", (json_int_t)count, "overwrite",
			 overwrite);
	return 0;
}

static int
cmd_capture_stop(int argc, const char *const *argv, json_t **res, char *err,
		 size_t errlen)
{
	struct vs_port *p = vs_port_lookup(argv[0]);
	struct vs_capture *c;
	uint64_t dropped;
	int64_t n;

	if (p == NULL)
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "no port '%s' (see port/list)", argv[0]);
	c = active[p->id];
	dropped = c ? atomic_load(&c->dropped) : 0;
	n = vs_capture_stop(p);
	if (n < 0)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED,
				  "port '%s' is not being captured", p->name);
	*res = json_pack("{s:s, s:I, s:I}", "port", p->name, "written",
			 (json_int_t)n, "dropped", (json_int_t)dropped);
	return 0;
}

static const struct vs_cmd capture_cmds[] = {
	{ "capture/start", "PORT FILE [COUNT] [overwrite]",
	  "pcapng capture of a port's rx and tx into a new file (overwrite: or replace a regular file)",
	  2, 4, NULL, cmd_capture_start },
	{ "capture/stop", "PORT", "stop a capture and close its file", 1, 1,
	  NULL, cmd_capture_stop },
};

int
vs_capture_cmd_register(void)
{
	return vs_cmd_register(capture_cmds, RTE_DIM(capture_cmds));
}
