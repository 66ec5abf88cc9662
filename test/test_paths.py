# SPDX-License-Identifier: BSD-3-Clause
"""Every virtio-user datapath, multi-queue guests, and jumbo frames.

Two testpmd guests with the same virtio-user devargs (or a packed / split
mix) exchange frames of 64, 1518 and, with mergeable rx buffers, 9000
bytes through the switch in both directions; every frame must arrive byte
for byte, in order. The switch's mbufs hold 2 KiB, so frames above that
are chained mbufs inside the switch and span several descriptors in the
guests' rings.

Frame sizes below are lengths on the wire without the 4-byte FCS, which
never crosses a vring (60 = a 64-byte frame, 1514 = 1518, 8996 = 9000,
9014 = the largest frame of a 9000-byte MTU).
"""
import collections
import platform
import random
import re

import pytest
from scapy.all import Ether, IP, UDP, Raw

import ctlclient
import vstest
from vstest import wait_for

MAC_A = "02:00:00:00:0a:01"
MAC_B = "02:00:00:00:0b:01"

SMALL = [60, 1514]
# 2049: one byte more than a switch mbuf's 2048-byte data room.
JUMBO = [60, 1514, 2049, 8996, 9014]
REPEAT = 2  # frames of each size, per direction

# The switch's per-port counters that count drops (SPEC §4).
DROPS = ("no_mbuf", "tx_full", "port_down", "same_port", "no_dest", "runt",
         "rx_missed", "rx_error", "too_big", "mtu", "offload_error")

TIMEOUT = 40  # seconds: the machine's two CPUs are shared with other tests


def make_frames(src, dst, sizes, seed, repeat=REPEAT):
    """Frames of exactly these lengths with a random payload each, so a
    lost, truncated, reordered or corrupted byte is seen."""
    rnd = random.Random(seed)
    out = []
    n = 0
    for _ in range(repeat):
        for size in sizes:
            hdr = Ether(src=src, dst=dst) / IP(src="10.0.0.1",
                                                dst="10.0.0.2") / \
                UDP(sport=1024 + n, dport=seed & 0xffff)
            pad = size - len(hdr)
            assert pad >= 0
            f = bytes(hdr / Raw(bytes(rnd.getrandbits(8)
                                      for _ in range(pad))))
            assert len(f) == size
            out.append(f)
            n += 1
    return out


class PathGuest(vstest.Guest):
    """A Guest with the virtio PMD's path choice logged, optional extra
    EAL options, and one pcap file per queue so that every
    virtio tx queue carries frames (testpmd's io streams map pcap rx queue
    q to virtio tx queue q)."""

    def __init__(self, *a, eal=(), **kw):
        self.eal = list(eal)
        super().__init__(*a, **kw)

    def qfile(self, base, q):
        return base if q == 0 else "%s.q%d" % (base, q)

    def set_queue_frames(self, per_queue):
        for q, frames in enumerate(per_queue):
            vstest.write_pcap(self.qfile(self.inp, q), frames)

    def argv(self):
        a = super().argv()
        i = [k for k, x in enumerate(a) if x.startswith("net_pcap0,")][0]
        pcap = "net_pcap0"
        for q in range(self.queues):
            pcap += ",rx_pcap=%s" % self.qfile(self.inp, q)
        for q in range(self.queues):
            pcap += ",tx_pcap=%s" % self.qfile(self.out, q)
        a[i] = pcap
        sep = a.index("--")
        # testpmd's stdout is a file: line-buffer it, or the answers to
        # interactive commands only show up at exit.
        return ["stdbuf", "-oL"] + a[:sep] + [
            "--log-level=pmd.net.virtio.init:info",
            "--log-level=pmd.net.virtio.driver:info"] + self.eal + \
            a[sep:]

    def paths(self):
        """{'Tx': ..., 'Rx': ...}: the paths the virtio PMD says it chose."""
        return {d: p for p, d in re.findall(
            r"virtio: using (.+?) (Tx|Rx) path on port 1",
            self.proc.output())}

    def features(self):
        """The virtio features virtio-user negotiated with the switch."""
        m = re.findall(r"set features: (0x[0-9a-f]+)", self.proc.output())
        assert m, "no 'set features' in %s" % self.log
        return int(m[-1], 16)

    def query(self, command, last_line, timeout=TIMEOUT):
        """Run an interactive command; its output, once @last_line (a
        regex) has appeared after it."""
        mark = "mark%s" % vstest.uid()
        # The prompt echoes this unknown command: where the answer starts.
        self.cmd(mark)
        self.cmd(command)

        def done():
            out = self.proc.output()
            k = out.find(mark)
            if k < 0:
                return None
            m = re.search(last_line, out[k:])
            return out[k:k + m.end()] if m else None
        return wait_for(done, timeout, interval=0.1,
                        what="'%s' output in %s" % (command, self.log))

    def port_stats(self, port):
        out = self.query("show port stats %d" % port,
                         r"TX-packets:\s+\d+.*\n")
        return {k: int(v) for k, v in
                re.findall(r"(RX-packets|RX-missed|RX-errors|RX-nombuf|"
                           r"TX-packets|TX-errors):\s+(\d+)", out)}

    def xstats(self, port):
        out = self.query("show port xstats %d" % port,
                         r"tx_q%d_size_1519_max_packets: \d+\n" %
                         (self.queues - 1))
        return {k: int(v) for k, v in re.findall(r"(\w+): (\d+)\n", out)}

    def wait_delivered(self, n, timeout=TIMEOUT):
        """Until the pcap port has written @n frames (or more)."""
        return wait_for(lambda: self.port_stats(0)["TX-packets"] >= n,
                        timeout, interval=0.2,
                        what="%s: %d frames written" % (self.name, n))

    def received(self):
        """Every frame written to the tx pcap files, queue by queue."""
        return [vstest.read_pcap(self.qfile(self.out, q))
                for q in range(self.queues)]


def guest(env, cls, name, sock, devargs="", **kw):
    g = cls(env.wd.path, sock, name, devargs=devargs, **kw)
    env.procs.append(g)
    return g


def vec_eal(devargs):
    # The packed ring's vectorized path is AVX512 and needs the EAL's
    # SIMD width limit raised; the split one is SSE/AVX2.
    return ["--force-max-simd-bitwidth=512"] if "vectorized=1" in devargs \
        else []


def check_switch(sw, sent):
    """The switch's counters once every frame crossed: @sent is {port:
    frames it received from that port}; with two ports each one's frames
    leave by the other."""
    ports, _ = sw.stats()
    other = {"a": "b", "b": "a"}
    for p, frames in sent.items():
        assert ports[p]["rx_pkts"] == len(frames), ports
        assert ports[p]["rx_bytes"] == sum(map(len, frames)), ports
        assert ports[other[p]]["tx_pkts"] == len(frames), ports
        assert ports[other[p]]["tx_bytes"] == sum(map(len, frames)), ports
    for p in ports:
        for d in DROPS:
            assert ports[p].get(d, 0) == 0, (p, d, ports[p])


def check_no_leak(sw, names):
    """Once the guests are gone, every mbuf (every segment of every
    chain) is back in the switch's pools. Not while a packed-ring guest
    is attached: librte_vhost's packed dequeue takes a whole burst from
    the pool before it looks at the ring, so a reading then races."""
    for g in names:
        sw.wait_log(r"port \d+ %s: link down" % g, timeout=TIMEOUT)
    _, mbufs = sw.stats()
    assert mbufs and all(m["in_use"] == 0 for m in mbufs.values()), mbufs


def wait_switch_tx(sw, want):
    def ok():
        ports = sw.stats()[0]
        return all(ports[p]["tx_pkts"] >= n for p, n in want.items())
    wait_for(ok, TIMEOUT, interval=0.2, what="switch tx %s" % want)


# --- 7. every virtio-user path ----------------------------------------------

def dev(packed, mrg, inorder, vec=0):
    return "packed_vq=%d,mrg_rxbuf=%d,in_order=%d,vectorized=%d" % (
        packed, mrg, inorder, vec)


# id: (devargs of guest A, devargs of guest B)
PATHS = {}
for _packed in (0, 1):
    for _mrg in (0, 1):
        for _io in (0, 1):
            PATHS["%s-%s-%s" % ("packed" if _packed else "split",
                                "mrg" if _mrg else "nomrg",
                                "inorder" if _io else "noinorder")] = \
                (dev(_packed, _mrg, _io),) * 2
PATHS.update({
    # DPDK 22.11 picks the split ring's vectorized rx path only without
    # in-order (in_order=1 turns use_vec_rx off in virtio_dev_configure).
    "split-vec": (dev(0, 0, 0, 1),) * 2,
    "split-vec-inorder": (dev(0, 0, 1, 1),) * 2,
    "packed-vec": (dev(1, 0, 1, 1),) * 2,
    # Vectorized tx, mergeable (scalar) rx: jumbo frames through the
    # AVX512 tx path's multi-segment fallback.
    "packed-vec-mrg": (dev(1, 1, 1, 1),) * 2,
    "mixed-packed-mrg-split-mrg": (dev(1, 1, 1), dev(0, 1, 0)),
    "mixed-packed-vec-split-vec": (dev(1, 0, 1, 1), dev(0, 0, 0, 1)),
})


# Feature bits the devargs control (linux/virtio_config.h, virtio_net.h).
FEATURES = {15: "mrg_rxbuf",      # VIRTIO_NET_F_MRG_RXBUF
            34: "packed_vq",      # VIRTIO_F_RING_PACKED
            35: "in_order"}       # VIRTIO_F_IN_ORDER


def expected_paths(devargs):
    """What the DPDK 22.11 virtio PMD logs for these devargs
    (set_rxtx_funcs). None: not asserted (the packed ring's vectorized
    paths need AVX512 in the CPU and the build, and may fall back)."""
    d = dict(kv.split("=") for kv in devargs.split(","))
    packed, mrg, io, vec = (d[k] == "1" for k in
                            ("packed_vq", "mrg_rxbuf", "in_order",
                             "vectorized"))
    if packed:
        tx = None if vec else "packed ring standard"
        if mrg:
            rx = "packed ring mergeable buffer"
        else:
            rx = None if vec else "packed ring standard"
    else:
        tx = "inorder" if io else "standard"
        if io:
            rx = "inorder"
        elif mrg:
            rx = "mergeable buffer"
        else:
            # The split ring's vectorized rx is SSE: always there on
            # x86_64; elsewhere it may be missing.
            rx = "standard" if not vec else \
                "vectorized" if platform.machine() == "x86_64" else None
    return {"Tx": tx, "Rx": rx}


@pytest.mark.parametrize("case", list(PATHS), ids=list(PATHS))
def test_virtio_path(env, case, record_property):
    """Guests A and B on one virtio-user path send each other frames of
    64 and 1518 bytes (and 2053, 9000 and 9018 with mergeable buffers on
    both; FCS included): each gets exactly the other's frames, in order,
    byte for byte; the switch counts every one and drops none, negotiated
    the features the devargs ask for, and has every mbuf back once the
    guests are gone."""
    dev_a, dev_b = PATHS[case]
    jumbo = "mrg_rxbuf=1" in dev_a and "mrg_rxbuf=1" in dev_b
    sizes = JUMBO if jumbo else SMALL
    to_b = make_frames(MAC_A, MAC_B, sizes, seed=1)
    to_a = make_frames(MAC_B, MAC_A, sizes, seed=2)

    ctl = env.wd.file("ctl")
    sw = env.switch(args=["--vhost", "%s,name=a" % env.sock("a"),
                          "--vhost", "%s,name=b" % env.sock("b"),
                          "--ctl", ctl])
    sw.start()
    ga = guest(env, PathGuest, "a", env.sock("a"), dev_a, frames=to_b,
               mac=MAC_A, eal=vec_eal(dev_a))
    gb = guest(env, PathGuest, "b", env.sock("b"), dev_b, frames=to_a,
               mac=MAC_B, eal=vec_eal(dev_b))
    ga.start()
    gb.start()
    sw.wait_link("a", timeout=TIMEOUT)
    sw.wait_link("b", timeout=TIMEOUT)

    paths = {"a": ga.paths(), "b": gb.paths()}
    record_property("virtio_paths", paths)
    print("virtio paths: %s" % paths)
    for g, d in ((ga, dev_a), (gb, dev_b)):
        # The switch offered what the devargs ask for: nothing fell back.
        feats = g.features()
        for bit, key in FEATURES.items():
            assert bool(feats >> bit & 1) == ("%s=1" % key in d), \
                (g.name, d, hex(feats))
    for g, d in (("a", dev_a), ("b", dev_b)):
        for direction, want in expected_paths(d).items():
            if want is not None:
                assert paths[g].get(direction) == want, (g, d, paths[g])

    gb.send()
    ga.send()
    wait_switch_tx(sw, {"a": len(to_a), "b": len(to_b)})
    ga.wait_delivered(len(to_a))
    gb.wait_delivered(len(to_b))
    check_switch(sw, {"a": to_b, "b": to_a})
    # vring/show: the ring layout, and a packed ring's indexes without
    # the wrap counter (librte_vhost keeps it in bit 15 of the base).
    for port, d, n_sent, n_got in (("a", dev_a, len(to_b), len(to_a)),
                                   ("b", dev_b, len(to_a), len(to_b))):
        packed = "packed_vq=1" in d
        for v in ctlclient.call(ctl, "vring/show", port):
            assert v["ring"] == ("packed" if packed else "split"), (port, v)
            if packed:
                assert v["last_avail_idx"] < v["size"], (port, v)
                assert v["avail_wrap_counter"] in (0, 1)
                assert v["used_wrap_counter"] in (0, 1)
            else:
                assert "avail_wrap_counter" not in v
            if v["direction"] == "guest_tx" and not packed:
                # Split: free-running 16-bit indexes, one per frame.
                assert v["last_avail_idx"] == n_sent % 65536, (port, v)
    got_a, got_b = ga.finish(), gb.finish()
    check_no_leak(sw, "ab")
    assert [len(f) for f in got_b] == [len(f) for f in to_b]
    assert got_b == to_b
    assert [len(f) for f in got_a] == [len(f) for f in to_a]
    assert got_a == to_a
    assert sw.stop() == 0


# --- 6. multi-queue guests --------------------------------------------------

def mq_frames(src, dst, seed):
    """Per tx queue a different set: queue 0 small frames, queue 1
    full-size ones, so a frame's queue is never in doubt."""
    return [make_frames(src, dst, [60, 200], seed, repeat=8),
            make_frames(src, dst, [1514, 700], seed + 100, repeat=6)]


def run_mq(env, sw):
    fa = mq_frames(MAC_A, MAC_B, 11)
    fb = mq_frames(MAC_B, MAC_A, 12)
    sw.start()
    ga = guest(env, PathGuest, "a", env.sock("a"), dev(0, 1, 1), mac=MAC_A,
               queues=2)
    gb = guest(env, PathGuest, "b", env.sock("b"), dev(0, 1, 1), mac=MAC_B,
               queues=2)
    ga.set_queue_frames(fa)
    gb.set_queue_frames(fb)
    ga.start()
    gb.start()
    sw.wait_link("a", timeout=TIMEOUT)
    sw.wait_link("b", timeout=TIMEOUT)

    to_b = fa[0] + fa[1]
    to_a = fb[0] + fb[1]
    gb.send()
    ga.send()
    wait_switch_tx(sw, {"a": len(to_a), "b": len(to_b)})
    ga.wait_delivered(len(to_a))
    gb.wait_delivered(len(to_b))
    check_switch(sw, {"a": to_b, "b": to_a})

    xs = {"a": ga.xstats(1), "b": gb.xstats(1)}
    for g, frames in (("a", fa), ("b", fb)):
        # Each of the sender's virtio tx queues carried its own pcap's
        # frames, all of them.
        for q in (0, 1):
            assert xs[g]["tx_q%d_good_packets" % q] == len(frames[q]), xs[g]
            assert xs[g]["tx_q%d_good_bytes" % q] == \
                sum(map(len, frames[q])), xs[g]
        assert xs[g]["rx_errors"] == 0 and xs[g]["tx_errors"] == 0, xs[g]
    for g, frames in (("a", to_a), ("b", to_b)):
        assert xs[g]["rx_q0_good_packets"] + xs[g]["rx_q1_good_packets"] \
            == len(frames), xs[g]

    ga.finish()
    gb.finish()
    check_no_leak(sw, "ab")
    got_a, got_b = ga.received(), gb.received()
    # Each virtio rx queue q is written to pcap file q.
    for g, got in (("a", got_a), ("b", got_b)):
        for q in (0, 1):
            assert len(got[q]) == xs[g]["rx_q%d_good_packets" % q], \
                (g, q, xs[g])
    # Order holds within a queue only: compare as multisets.
    assert collections.Counter(got_b[0] + got_b[1]) == \
        collections.Counter(to_b)
    assert collections.Counter(got_a[0] + got_a[1]) == \
        collections.Counter(to_a)
    assert sw.stop() == 0
    return xs


def mq_ports(env):
    return ["--vhost", "%s,name=a,queues=2" % env.sock("a"),
            "--vhost", "%s,name=b,queues=2" % env.sock("b")]


def test_multiqueue_both_queues(env):
    """Two guests with two queue pairs each send on both their tx queues
    (testpmd's own per-queue counters show each carried its frames):
    every frame reaches the other guest, in both directions."""
    run_mq(env, env.switch(args=mq_ports(env)))


def test_multiqueue_two_lcores(env):
    """The same with two forwarding lcores in the switch: each lcore sends
    to its own guest rx queue, so the guests' rx queue 1 carries frames
    too, and still every frame arrives exactly once."""
    # Two forwarding lcores, both on CPU 1 (vstest passes --lcores).
    sw = env.switch(args=mq_ports(env), lcores="0@0,1@1,2@1")
    xs = run_mq(env, sw)
    used = {q for g in xs for q in (0, 1)
            if xs[g]["rx_q%d_good_packets" % q] > 0}
    assert used == {0, 1}, xs


# --- jumbo frames flooded: one chained mbuf, several guests ------------------

def test_jumbo_flood(env):
    """Broadcast frames up to 9018 bytes from guest A reach guests B
    (packed ring) and C (split ring) both, byte for byte and in order: a
    flooded frame is one chain of 2 KiB mbufs in the switch, referenced
    once per destination and copied into each guest's ring."""
    macs = {"a": MAC_A, "b": MAC_B, "c": "02:00:00:00:0c:01"}
    devs = {"a": dev(0, 1, 1), "b": dev(1, 1, 1), "c": dev(0, 1, 0)}
    flood = make_frames(MAC_A, "ff:ff:ff:ff:ff:ff", JUMBO, seed=3)
    args = []
    for g in "abc":
        args += ["--vhost", "%s,name=%s" % (env.sock(g), g)]
    sw = env.switch(args=args)
    sw.start()
    gs = {g: guest(env, PathGuest, g, env.sock(g), devs[g], mac=macs[g],
                   frames=flood if g == "a" else []) for g in "abc"}
    for g in "abc":
        gs[g].start()
    for g in "abc":
        sw.wait_link(g, timeout=TIMEOUT)
    gs["b"].send()
    gs["c"].send()
    gs["a"].send()
    wait_switch_tx(sw, {"b": len(flood), "c": len(flood)})
    gs["b"].wait_delivered(len(flood))
    gs["c"].wait_delivered(len(flood))
    ports, _ = sw.stats()
    assert ports["a"]["rx_pkts"] == len(flood), ports
    assert ports["a"]["tx_pkts"] == 0, ports
    for g in "bc":
        assert ports[g]["tx_pkts"] == len(flood), ports
        assert ports[g]["tx_bytes"] == sum(map(len, flood)), ports
    for p in ports:
        for d in DROPS:
            assert ports[p].get(d, 0) == 0, (p, d, ports[p])
    out = {g: gs[g].finish() for g in "abc"}
    # Every segment of every chain, referenced twice, went back.
    check_no_leak(sw, "abc")
    assert out["b"] == flood
    assert out["c"] == flood
    assert out["a"] == []
    assert sw.stop() == 0
