/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vs-latency: one-way latency through a switch between two ports, one frame
 * at a time, with an idle gap between frames.
 *
 * Port 0 and port 1 are the two ends (virtio-user ports on two vhost-user
 * sockets of the switch). Every --gap-us the tool stamps the TSC into a
 * frame (src MAC of port 0, dst MAC of port 1), sends it on port 0 and polls
 * port 1 until it comes back out of the switch. The gap is much longer than
 * the switch's busy-loop timeout, so a switch with a timeout is asleep when
 * each frame arrives: the delay is then "kick to forward", the wake-up
 * latency. One lcore does everything and busy-polls, so the tool's own side
 * adds only its rx/tx cost and never a scheduler wake-up of its own.
 *
 * Before sampling, port 1 sends a few frames so that the switch learns its
 * MAC (otherwise every sample would be flooded, which a 2-port switch also
 * delivers, but that is not the path under test). Then it idles --idle-ms
 * (printing "idle begin" / "idle end" so that a caller can measure the
 * switch's CPU use while nothing is sent), then it samples.
 *
 * Output: one "RESULT key=value ..." line, and with --out FILE every sample
 * in microseconds, one per line.
 *
 *   vs-latency [EAL options] --vdev net_virtio_user0,path=S0,mac=M0 \
 *       --vdev net_virtio_user1,path=S1,mac=M1 -- \
 *       [--samples N] [--gap-us US] [--idle-ms MS] [--size BYTES] [--out FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/* IEEE 802 "local experimental" ethertype: no switch treats it specially. */
#define LAT_ETHERTYPE 0x88b5
#define LAT_MAGIC 0x76736c61746e6379ULL /* "vslatncy" */
#define LAT_BURST 32
#define LAT_DESC 256
/*
 * A frame not seen after 1 s is lost: a sleeping switch wakes at least
 * every 100 ms (VS_SLEEP_MAX_US), so a missed kick shows as ~100 ms, not
 * as a loss.
 */
#define LAT_TIMEOUT_US 1000000

struct lat_payload {
	uint64_t magic;
	uint64_t seq;
	uint64_t tsc;
} __rte_packed;

static struct {
	unsigned int samples;
	unsigned int gap_us;
	unsigned int idle_ms;
	unsigned int size;
	const char *out;
} opt = {
	.samples = 2000,
	.gap_us = 1000,
	.idle_ms = 0,
	.size = 64,
	.out = NULL,
};

static struct rte_ether_addr mac[2];

static int
parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "samples", required_argument, NULL, 's' },
		{ "gap-us", required_argument, NULL, 'g' },
		{ "idle-ms", required_argument, NULL, 'i' },
		{ "size", required_argument, NULL, 'z' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			opt.samples = strtoul(optarg, NULL, 0);
			break;
		case 'g':
			opt.gap_us = strtoul(optarg, NULL, 0);
			break;
		case 'i':
			opt.idle_ms = strtoul(optarg, NULL, 0);
			break;
		case 'z':
			opt.size = strtoul(optarg, NULL, 0);
			break;
		case 'o':
			opt.out = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (opt.samples == 0 || opt.size < 60 ||
	    opt.size > RTE_MBUF_DEFAULT_DATAROOM)
		return -EINVAL;
	return 0;
}

static int
port_init(uint16_t port, struct rte_mempool *mp)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_link link;
	unsigned int i;
	int ret;

	ret = rte_eth_dev_configure(port, 1, 1, &conf);
	if (ret == 0)
		ret = rte_eth_rx_queue_setup(port, 0, LAT_DESC,
					     rte_eth_dev_socket_id(port), NULL,
					     mp);
	if (ret == 0)
		ret = rte_eth_tx_queue_setup(port, 0, LAT_DESC,
					     rte_eth_dev_socket_id(port), NULL);
	if (ret == 0)
		ret = rte_eth_dev_start(port);
	if (ret == 0)
		ret = rte_eth_macaddr_get(port, &mac[port]);
	if (ret != 0)
		return ret;
	/* virtio-user's link is up once the vhost-user backend is ready. */
	for (i = 0; i < 100; i++) {
		if (rte_eth_link_get_nowait(port, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP)
			return 0;
		rte_delay_ms(100);
	}
	return -ENOLINK;
}

static struct rte_mbuf *
make_frame(struct rte_mempool *mp, uint16_t from, uint16_t to, uint64_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ether_hdr *eth;
	struct lat_payload *pl;

	if (m == NULL)
		return NULL;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, opt.size);
	if (eth == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(eth, 0, opt.size);
	rte_ether_addr_copy(&mac[from], &eth->src_addr);
	rte_ether_addr_copy(&mac[to], &eth->dst_addr);
	eth->ether_type = rte_cpu_to_be_16(LAT_ETHERTYPE);
	pl = (struct lat_payload *)(eth + 1);
	pl->magic = LAT_MAGIC;
	pl->seq = seq;
	pl->tsc = rte_rdtsc();
	return m;
}

static int
send_one(uint16_t port, struct rte_mbuf *m)
{
	unsigned int tries;

	for (tries = 0; tries < 1000; tries++)
		if (rte_eth_tx_burst(port, 0, &m, 1) == 1)
			return 0;
	rte_pktmbuf_free(m);
	return -EAGAIN;
}

/*
 * Poll @p port once. Returns the TSC delta of the frame with sequence
 * @p seq if it arrived, else 0. Every other frame is dropped.
 */
static uint64_t
poll_port(uint16_t port, uint64_t seq)
{
	struct rte_mbuf *pkts[LAT_BURST];
	uint64_t now = rte_rdtsc(), delta = 0;
	uint16_t n, i;

	n = rte_eth_rx_burst(port, 0, pkts, LAT_BURST);
	for (i = 0; i < n; i++) {
		const struct rte_ether_hdr *eth =
			rte_pktmbuf_mtod(pkts[i], struct rte_ether_hdr *);
		const struct lat_payload *pl =
			(const struct lat_payload *)(eth + 1);

		if (rte_pktmbuf_data_len(pkts[i]) >=
			    sizeof(*eth) + sizeof(*pl) &&
		    eth->ether_type == rte_cpu_to_be_16(LAT_ETHERTYPE) &&
		    pl->magic == LAT_MAGIC && pl->seq == seq)
			delta = now - pl->tsc;
	}
	rte_pktmbuf_free_bulk(pkts, n);
	return delta;
}

/* Poll both ports, dropping everything, for @p us microseconds. */
static void
drain(uint64_t us)
{
	uint64_t end = rte_rdtsc() + us * rte_get_tsc_hz() / 1000000;

	while (rte_rdtsc() < end) {
		poll_port(0, UINT64_MAX);
		poll_port(1, UINT64_MAX);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
pct(const double *v, unsigned int n, double p)
{
	unsigned int i = (unsigned int)(p / 100.0 * (n - 1) + 0.5);

	return v[RTE_MIN(i, n - 1)];
}

int
main(int argc, char **argv)
{
	struct rte_mempool *mp;
	uint64_t hz, gap, timeout, next, seq, lost = 0;
	double *lat, sum = 0;
	unsigned int got = 0, i;
	FILE *f;
	int ret;

	ret = rte_eal_init(argc, argv);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "vs-latency: EAL init failed\n");
	if (parse_args(argc - ret, argv + ret) != 0)
		rte_exit(2,
			 "vs-latency: bad arguments (see the comment at the "
			 "top of vs-latency.c)\n");
	if (rte_eth_dev_count_avail() != 2)
		rte_exit(EXIT_FAILURE,
			 "vs-latency: need exactly 2 ports, "
			 "got %u\n",
			 rte_eth_dev_count_avail());
	mp = rte_pktmbuf_pool_create("lat", 4095, 256, 0,
				     RTE_MBUF_DEFAULT_BUF_SIZE,
				     rte_socket_id());
	if (mp == NULL)
		rte_exit(EXIT_FAILURE, "vs-latency: no mbuf pool\n");
	for (i = 0; i < 2; i++)
		if (port_init(i, mp) != 0)
			rte_exit(EXIT_FAILURE, "vs-latency: port %u: no link\n",
				 i);
	lat = calloc(opt.samples, sizeof(*lat));
	if (lat == NULL)
		rte_exit(EXIT_FAILURE, "vs-latency: no memory\n");
	hz = rte_get_tsc_hz();
	gap = (uint64_t)opt.gap_us * hz / 1000000;
	timeout = (uint64_t)LAT_TIMEOUT_US * hz / 1000000;

	/* Both MACs learned: each port says hello to the other. */
	for (i = 0; i < 4; i++) {
		struct rte_mbuf *m1 = make_frame(mp, 1, 0, UINT64_MAX - 1);
		struct rte_mbuf *m0 = make_frame(mp, 0, 1, UINT64_MAX - 1);

		if (m1 == NULL || m0 == NULL || send_one(1, m1) != 0 ||
		    send_one(0, m0) != 0)
			rte_exit(EXIT_FAILURE, "vs-latency: cannot send\n");
		drain(10000);
	}
	drain(100000);
	printf("idle begin\n");
	fflush(stdout);
	drain((uint64_t)opt.idle_ms * 1000);
	printf("idle end\n");
	fflush(stdout);

	next = rte_rdtsc() + gap;
	for (seq = 0; got < opt.samples; seq++) {
		struct rte_mbuf *m;
		uint64_t t0, d = 0;

		/* The idle gap: the switch sees nothing for gap_us. */
		while (rte_rdtsc() < next) {
			poll_port(0, UINT64_MAX);
			poll_port(1, UINT64_MAX);
		}
		m = make_frame(mp, 0, 1, seq);
		if (m == NULL || send_one(0, m) != 0)
			rte_exit(EXIT_FAILURE, "vs-latency: cannot send\n");
		t0 = rte_rdtsc();
		while (d == 0 && rte_rdtsc() - t0 < timeout) {
			d = poll_port(1, seq);
			poll_port(0, UINT64_MAX);
		}
		if (d == 0) {
			lost++;
			if (lost > opt.samples / 10)
				rte_exit(EXIT_FAILURE,
					 "vs-latency: %" PRIu64 " frames lost "
					 "(is the switch forwarding?)\n",
					 lost);
		} else {
			lat[got] = (double)d * 1e6 / hz;
			sum += lat[got];
			got++;
		}
		next = rte_rdtsc() + gap;
	}

	if (opt.out != NULL) {
		f = fopen(opt.out, "w");
		if (f == NULL)
			rte_exit(EXIT_FAILURE, "vs-latency: %s: %s\n", opt.out,
				 strerror(errno));
		for (i = 0; i < got; i++)
			fprintf(f, "%.3f\n", lat[i]);
		fclose(f);
	}
	qsort(lat, got, sizeof(*lat), cmp_double);
	printf("RESULT samples=%u lost=%" PRIu64 " gap_us=%u size=%u "
	       "min_us=%.2f p50_us=%.2f p90_us=%.2f p99_us=%.2f "
	       "p999_us=%.2f max_us=%.2f mean_us=%.2f\n",
	       got, lost, opt.gap_us, opt.size, lat[0], pct(lat, got, 50),
	       pct(lat, got, 90), pct(lat, got, 99), pct(lat, got, 99.9),
	       lat[got - 1], sum / got);
	fflush(stdout);
	free(lat);
	for (i = 0; i < 2; i++) {
		rte_eth_dev_stop(i);
		rte_eth_dev_close(i);
	}
	rte_eal_cleanup();
	return 0;
}
