# SPDX-License-Identifier: BSD-3-Clause
"""The control socket (JSON-RPC 2.0), vhost-switch-ctl and the /vswitch/*
telemetry commands, checked against the switch's real state: testpmd
virtio-user guests (vstest.Guest, with pcaps), and plain testpmd
streamers (class Pmd) for continuous traffic.

Every test talks to the switch through a --ctl socket in its own work
directory. The JSON-RPC client (class Rpc) checks the envelope of every
reply (jsonrpc, id); the tests check the results.
"""
import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time

from scapy.all import Ether, IP, UDP, Raw

import vstest
from vstest import read_pcap, wait_for

CTL_BIN = os.path.join(vstest.BUILD, "app", "vhost-switch-ctl",
                       "vhost-switch-ctl")
TELEMETRY = shutil.which("dpdk-telemetry.py") or "/usr/bin/dpdk-telemetry.py"

# Generous: two CPUs shared with busy-polling guests and other test runs.
T_LINK = 45
T_TRAFFIC = 30
T_RPC = 30

BCAST = "ff:ff:ff:ff:ff:ff"
SIZES = [64, 128, 512, 1024, 1518, 65, 300]
MIB = 1 << 20

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
FAILED = -32000

METHODS = ["version", "help", "info", "shutdown", "port/list", "port/show",
           "port/add", "port/del", "port/enable", "port/disable",
           "vring/show", "mem/show", "features/show", "stats/show",
           "stats/clear", "fdb/show", "fdb/add", "fdb/del", "fdb/flush",
           "fdb/aging", "fdb/info", "lcore/show", "lcore/rebalance"]

PORT_KEYS = {"id", "name", "kind", "driver", "state", "link", "path", "rxq",
             "txq", "numa", "rx_pkts", "tx_pkts", "drops"}
PORT_DETAIL_KEYS = PORT_KEYS | {"rx_bytes", "tx_bytes", "drops_by_reason"}
DROP_REASONS = {"no_mbuf", "tx_full", "port_down", "same_port", "no_dest",
                "runt", "rx_missed", "rx_error", "too_big", "mtu",
                "offload_error", "vlan_denied", "src_denied", "storm",
                "unresolved", "underlay"}
STATS_KEYS = {"id", "name", "rx_pkts", "rx_bytes", "tx_pkts",
              "tx_bytes"} | DROP_REASONS
VRING_KEYS = {"vring", "queue", "direction", "enabled", "size",
              "last_avail_idx", "last_used_idx", "desc", "avail", "used",
              "log_guest_addr", "log", "kickfd", "callfd", "notification",
              "packets", "calls"}
MEM_KEYS = {"region", "guest_phys_addr", "memory_size", "userspace_addr",
            "host_addr", "mmap_size"}
FEATURE_KEYS = {"features", "feature_names", "protocol_features",
                "protocol_feature_names"}
FDB_KEYS = {"mac", "port_id", "port", "type", "age"}
FDB_INFO_KEYS = {"entries", "capacity", "aging"}
LCORE_KEYS = {"lcore", "rxqs", "nb_rxq", "busy_cycles", "idle_cycles",
              "pkts", "busy_pct", "cycles_per_pkt"}
INFO_KEYS = {"version", "dpdk", "pid", "ports", "lcores", "fdb_entries",
             "fdb_capacity", "mbufs", "mbufs_in_use"}

# Packed virtqueues: librte_vhost reports the ring's wrap counter in bit 15
# of last_avail_idx / last_used_idx (as VHOST_GET_VRING_BASE does).


def mac(n):
    return "02:00:00:%02x:%02x:%02x" % (os.getpid() >> 8 & 0xff,
                                        os.getpid() & 0xff, n)


def frame(src, dst, n, size=64, tag=0):
    """A UDP frame of @size bytes (FCS excluded), unique by @n and @tag."""
    p = Ether(src=src, dst=dst) / IP(src="10.2.%d.1" % (tag & 0xff),
                                     dst="10.2.0.2") / \
        UDP(sport=1000 + n, dport=4000 + tag)
    return bytes(p / Raw(bytes([tag & 0xff]) * max(0, size - 4 - len(p))))


def same_mac(a, b):
    return a.lower() == b.lower()


# ---------------------------------------------------------------------------
# Clients: JSON-RPC, vhost-switch-ctl, dpdk-telemetry.py
# ---------------------------------------------------------------------------

AUTO = object()


class Rpc:
    """One connection to the control socket; one request per line."""

    def __init__(self, path, timeout=T_RPC):
        self.path = path
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.next_id = 1

    def send(self, data):
        self.s.sendall(data)

    def readline(self):
        """The next reply line as bytes; b"" once the switch closed."""
        while b"\n" not in self.buf:
            try:
                r = self.s.recv(65536)
            except ConnectionResetError:
                r = b""
            if not r:
                line, self.buf = self.buf, b""
                return line
            self.buf += r
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def reply(self):
        line = self.readline()
        assert line.endswith(b"\n"), "connection closed (got %r)" % line[:200]
        r = json.loads(line)
        assert isinstance(r, dict) and r.get("jsonrpc") == "2.0", r
        assert ("result" in r) != ("error" in r), r
        return r

    def call(self, method, *params, rid=AUTO):
        if rid is AUTO:
            rid = self.next_id
            self.next_id += 1
        req = {"jsonrpc": "2.0", "id": rid, "method": method,
               "params": list(params)}
        self.send((json.dumps(req) + "\n").encode())
        r = self.reply()
        assert r["id"] == rid, (req, r)
        return r

    def ok(self, method, *params):
        r = self.call(method, *params)
        assert "error" not in r, "%s %s: %s" % (method, params, r["error"])
        return r["result"]

    def err(self, method, *params, code=INVALID_PARAMS, contains=None):
        r = self.call(method, *params)
        assert "error" in r, "%s %s: expected error %d, got %s" % (
            method, params, code, r)
        e = r["error"]
        assert e["code"] == code, (method, params, e)
        assert isinstance(e["message"], str) and len(e["message"]) > 10, e
        if contains is not None:
            assert contains in e["message"], (method, params, e)
        return e

    def closed(self, timeout=10):
        """Whether the switch closed this connection (EOF or reset)."""
        self.s.settimeout(timeout)
        try:
            while True:
                r = self.s.recv(65536)
                if not r:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def ctl(*args, timeout=60):
    return subprocess.run([CTL_BIN] + list(args), capture_output=True,
                          text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def telemetry(prefix, cmds, timeout=60):
    """Run @cmds through dpdk-telemetry.py; one reply value per command."""
    p = subprocess.run([TELEMETRY, "-f", prefix], input="\n".join(cmds) +
                       "\n", capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    out = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))   # every reply is valid JSON
    assert len(out) == len(cmds), p.stdout[:3000]
    vals = []
    for cmd, o in zip(cmds, out):
        key = cmd.split(",")[0]
        assert list(o) == [key], (cmd, o)
        vals.append(o[key])
    return vals


def tel_list(d):
    """A telemetry dict keyed "0", "1", ... as the list it stands for."""
    assert isinstance(d, dict), d
    assert sorted(d, key=int) == [str(i) for i in range(len(d))], d
    return [d[str(i)] for i in range(len(d))]


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

class Pmd:
    """A testpmd with one virtio-user port and no pcap, non-interactive:
    it forwards in @mode until SIGINT (or SIGKILL)."""

    def __init__(self, env, name, sock, mac_addr, mode, extra=()):
        self.name = name
        self.sock = sock
        self.mac = mac_addr
        self.mode = mode
        self.extra = list(extra)
        self.log = env.file(name + ".log")
        self.proc = None
        env.procs.append(self)  # the env fixture kills it if still alive

    def argv(self):
        vu = "net_virtio_user0,path=%s,mac=%s" % (self.sock, self.mac)
        return [vstest.TESTPMD, "--lcores", vstest.GUEST_LCORES,
                "--no-huge", "-m", "256", "--file-prefix",
                "vt" + vstest.uid(), "--no-pci", "--vdev", vu, "--",
                "--total-num-mbufs=8192", "--stats-period", "1",
                "--forward-mode=%s" % self.mode] + self.extra

    def start(self):
        self.proc = vstest.Proc(self.argv(), self.log,
                                stdin=subprocess.DEVNULL)
        return self

    def stop(self, sig=signal.SIGINT):
        return self.proc.stop(sig, timeout=30)


def start_switch(env, ports, vdevs=(), args=()):
    """A switch with vhost ports @ports (server mode) and a --ctl socket;
    returns it and a connected Rpc."""
    a = []
    for p in ports:
        a += ["--vhost", "%s,name=%s" % (env.sock(p), p)]
    a += ["--ctl", env.file("ctl")] + list(args)
    sw = env.switch(args=a, vdevs=list(vdevs)).start()
    return sw, Rpc(env.file("ctl"))


def start_guests(sw, *guests):
    for g in guests:
        g.proc = vstest.Proc(g.argv(), g.log, stdin=subprocess.PIPE)
    for g in guests:
        g.proc.wait_log(r"testpmd> ", timeout=T_LINK)
    for g in guests:
        sw.wait_link(g.name, timeout=T_LINK)
    return guests


def stream(env, sw, rpc, src="s", dst="r"):
    """Guest @dst (rxonly) announces itself with one burst to its own MAC
    (the switch learns it and drops the burst as same_port); guest @src
    (txonly) then streams 64-byte frames to it at full speed."""
    S, R = mac(0x5), mac(0x7)
    r = Pmd(env, dst, env.sock(dst), R, "rxonly",
            ["--tx-first", "--eth-peer=0,%s" % R]).start()
    sw.wait_link(dst, timeout=T_LINK)
    wait_rpc(rpc, lambda: rpc.ok("stats/show", dst)["same_port"] >= 32,
             "%s learned" % dst)
    s = Pmd(env, src, env.sock(src), S, "txonly",
            ["--eth-peer=0,%s" % R]).start()
    sw.wait_link(src, timeout=T_LINK)
    wait_rpc(rpc, lambda: rpc.ok("stats/show", dst)["tx_pkts"] > 0,
             "the stream reaches %s" % dst)
    return s, r


def wait_rpc(rpc, pred, what, timeout=T_TRAFFIC):
    return wait_for(pred, timeout, interval=0.2, what=what)


def wait_stat(rpc, port, key, n, timeout=T_TRAFFIC):
    box = {}

    def ok():
        box["v"] = rpc.ok("stats/show", port)[key]
        return box["v"] >= n
    try:
        wait_for(ok, timeout, interval=0.2, what="%s %s" % (port, key))
    except TimeoutError:
        raise AssertionError("port %s %s=%s, expected >= %d" % (
            port, key, box.get("v"), n))


def wait_pcap(path, n, timeout=T_TRAFFIC):
    box = []

    def enough():
        box[:] = [read_pcap(path)]
        return len(box[0]) >= n
    try:
        wait_for(enough, timeout, interval=0.2, what="%d frames" % n)
    except TimeoutError:
        raise AssertionError("%s: %d frames, expected %d" % (
            path, len(box[0]) if box else -1, n))
    return box[0]


def wait_mbufs_zero(rpc, timeout=T_TRAFFIC):
    box = {}

    def zero():
        box["v"] = rpc.ok("info")["mbufs_in_use"]
        return box["v"] == 0
    try:
        wait_for(zero, timeout, interval=0.3, what="mbufs_in_use == 0")
    except TimeoutError:
        raise AssertionError("mbufs_in_use stays at %s" % box.get("v"))


def growing(rpc, port, key="tx_pkts", samples=3, interval=2.0):
    """@key of @port read @samples+1 times, @interval apart: each reading
    must be above the one before."""
    vals = [rpc.ok("stats/show", port)[key]]
    for _ in range(samples):
        time.sleep(interval)
        vals.append(rpc.ok("stats/show", port)[key])
    assert all(b > a for a, b in zip(vals, vals[1:])), \
        "%s %s not growing: %s" % (port, key, vals)
    return vals


def hexint(s):
    assert isinstance(s, str) and s.startswith("0x"), s
    return int(s, 16)


# ---------------------------------------------------------------------------
# 1. Every method against the switch's real state, and its errors.
# ---------------------------------------------------------------------------

def test_methods_against_switch_state(env):
    """Two guests: a (split ring, queue_size=512, mergeable buffers) and b
    (packed ring, mrg_rxbuf=0, default queue size 256), and a net_null
    port. b says hello (broadcast), a sends 10 frames to b. Every
    read-only method then describes exactly that; the mutating ones
    change it; each has its error cases; shutdown stops the switch."""
    A, B = mac(0xa), mac(0xb)
    hello_b = frame(B, BCAST, 0, tag=0xbb)
    a_to_b = [frame(A, B, k, SIZES[k % len(SIZES)], tag=0xab)
              for k in range(10)]
    sw, rpc = start_switch(env, "ab", vdevs=["net_null0,no-rx=1"])
    a = env.guest("a", env.sock("a"), a_to_b, mac=A,
                  devargs="queue_size=512,mrg_rxbuf=1")
    b = env.guest("b", env.sock("b"), [hello_b], mac=B,
                  devargs="packed_vq=1,mrg_rxbuf=0")
    ctl_path = env.file("ctl")
    st = os.stat(ctl_path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660

    # No guest yet: the introspection methods say so.
    for m in ("vring/show", "mem/show", "features/show"):
        rpc.err(m, "a", code=FAILED, contains="no guest attached")
    pa = rpc.ok("port/show", "a")
    assert pa["link"] == "down" and pa["vid"] == -1
    assert "dirty_log" not in pa

    start_guests(sw, a, b)
    b.send()
    wait_stat(rpc, "a", "tx_pkts", 1)
    a.send()
    wait_stat(rpc, "b", "tx_pkts", len(a_to_b))
    wait_pcap(b.out, len(a_to_b))
    time.sleep(0.5)

    # version, help
    v = rpc.ok("version")
    assert set(v) == {"version", "dpdk"}
    assert v["dpdk"].startswith("DPDK 22.11"), v
    h = rpc.ok("help")
    names = [x["method"] for x in h]
    assert set(METHODS) <= set(names) and len(set(names)) == len(names)
    assert all(set(x) == {"method", "usage", "help"} and x["help"]
               for x in h), h
    assert rpc.ok("help", "port/show") == {
        "method": "port/show", "usage": "PORT",
        "help": next(x["help"] for x in h if x["method"] == "port/show"),
        "telemetry": "port"}
    assert rpc.ok("help", "port/add")["usage"] == (
        "PATH [client] [queues=N] [name=NAME] [KEY=VAL...] | vxlan NAME "
        "vni=N local=IP remote=IP[+IP...] via=PORT [KEY=VAL...]")

    # info
    info = rpc.ok("info")
    assert INFO_KEYS <= set(info)
    assert info["pid"] == sw.proc.pid
    fwd = sw.fwd_lcores()
    assert info["ports"] == 3 and info["lcores"] == len(fwd)
    assert info["fdb_entries"] == 2
    assert info["mbufs"] > 0 and 0 <= info["mbufs_in_use"] <= info["mbufs"]
    assert info["version"] == v["version"]

    # port/list, port/show (by name and by id)
    pl = rpc.ok("port/list")
    assert [(p["id"], p["name"]) for p in pl] == \
        [(0, "net_null0"), (1, "a"), (2, "b")]
    for p in pl:
        assert PORT_KEYS <= set(p), p
        assert p["state"] == "enabled" and p["link"] == "up"
        # An ethdev has an rx queue (net_null has RSS) and a tx queue per
        # forwarding lcore.
        nq = len(fwd) if p["kind"] == "ethdev" else 1
        assert p["rxq"] == nq and p["txq"] == nq, p
    null, pa, pb = pl
    assert (null["kind"], null["driver"], null["path"]) == \
        ("ethdev", "net_null", "net_null0")
    assert "mode" not in null
    assert (pa["kind"], pa["mode"], pa["path"]) == \
        ("vhost", "server", env.sock("a"))
    assert (pa["rx_pkts"], pa["tx_pkts"]) == (len(a_to_b), 1)
    assert (pb["rx_pkts"], pb["tx_pkts"]) == (1, len(a_to_b))
    assert null["tx_pkts"] == 1          # b's hello, flooded
    show_a = rpc.ok("port/show", "a")
    assert rpc.ok("port/show", "1")["name"] == "a"
    assert rpc.ok("port/show", 1)["name"] == "a"   # an integer param
    assert PORT_DETAIL_KEYS | {"mode", "vid", "dirty_log", "log_base",
                               "log_size"} <= set(show_a)
    assert show_a["rx_bytes"] == sum(len(f) for f in a_to_b)
    assert show_a["tx_bytes"] == len(hello_b)
    assert set(show_a["drops_by_reason"]) == DROP_REASONS
    assert show_a["drops"] == 0
    assert show_a["vid"] >= 0 and show_a["vid"] != rpc.ok(
        "port/show", "b")["vid"]
    assert show_a["dirty_log"] is False and show_a["log_size"] == 0
    show_null = rpc.ok("port/show", "net_null0")
    assert "vid" not in show_null and "dirty_log" not in show_null

    # vring/show: sizes from queue_size, indexes = frames through the ring
    va = rpc.ok("vring/show", "a")
    assert all(VRING_KEYS <= set(x) for x in va) and len(va) == 2
    rx, tx = va
    assert (rx["vring"], rx["queue"], rx["direction"]) == (0, 0, "guest_rx")
    assert (tx["vring"], tx["queue"], tx["direction"]) == (1, 0, "guest_tx")
    assert rx["size"] == tx["size"] == 512
    assert rx["enabled"] is True and tx["enabled"] is True
    assert tx["last_avail_idx"] == tx["last_used_idx"] == len(a_to_b)
    assert tx["packets"] == len(a_to_b)
    assert rx["last_avail_idx"] == rx["last_used_idx"] == 1
    assert rx["packets"] == 1
    for x in va:
        assert hexint(x["desc"]) and hexint(x["avail"]) and hexint(x["used"])
        assert x["log"] is False and hexint(x["log_guest_addr"]) == 0
        assert x["kickfd"] >= 0 and x["callfd"] >= 0
        assert isinstance(x["notification"], str) and x["calls"] >= 0
    assert [x["vring"] for x in rpc.ok("vring/show", "a", "0")] == [0, 1]
    vb = rpc.ok("vring/show", "b")
    assert [x["size"] for x in vb] == [256, 256]
    # packed ring: librte_vhost keeps the wrap counter in bit 15 of the
    # base; vring/show gives the index and the counter apart.
    assert all(x["ring"] == "packed" for x in vb)
    assert all(x["ring"] == "split" for x in va)
    assert (vb[1]["last_avail_idx"], vb[1]["avail_wrap_counter"]) == \
        (1, 1), vb[1]
    assert (vb[0]["last_avail_idx"], vb[0]["avail_wrap_counter"]) == \
        (len(a_to_b), 1), vb[0]
    assert vb[0]["used_wrap_counter"] == vb[1]["used_wrap_counter"] == 1
    assert vb[0]["packets"] == len(a_to_b) and vb[1]["packets"] == 1

    # mem/show: the guest's -m 256 memory, no hugepages
    for g in "ab":
        regions = rpc.ok("mem/show", g)
        assert regions, g
        assert [r["region"] for r in regions] == list(range(len(regions)))
        total = 0
        for r in regions:
            assert MEM_KEYS <= set(r)
            size = hexint(r["memory_size"])
            assert r["mmap_size"] >= size > 0
            assert hexint(r["host_addr"]) != 0
            hexint(r["guest_phys_addr"])
            hexint(r["userspace_addr"])
            total += size
        assert 256 * MIB <= total <= 512 * MIB, (g, regions)

    # features/show: what each guest negotiated
    fa, fb = rpc.ok("features/show", "a"), rpc.ok("features/show", "b")
    for f in (fa, fb):
        assert FEATURE_KEYS <= set(f)
        assert bin(hexint(f["features"])).count("1") == \
            len(f["feature_names"])
        assert bin(hexint(f["protocol_features"])).count("1") == \
            len(f["protocol_feature_names"])
        assert "VERSION_1" in f["feature_names"]
        assert hexint(f["features"]) & (1 << 32)
        # the offloads the switch refuses
        assert not {"CSUM", "GUEST_CSUM", "HOST_TSO4",
                    "GUEST_TSO4"} & set(f["feature_names"])
        assert "MQ" in f["protocol_feature_names"]
    assert "MRG_RXBUF" in fa["feature_names"]
    assert hexint(fa["features"]) & (1 << 15)
    assert "RING_PACKED" not in fa["feature_names"]
    assert "RING_PACKED" in fb["feature_names"]
    assert hexint(fb["features"]) & (1 << 34)
    assert "MRG_RXBUF" not in fb["feature_names"]

    # stats/show agrees with the SIGUSR1 counters
    ports, _ = sw.stats()
    stats = rpc.ok("stats/show")
    assert [s["name"] for s in stats] == ["net_null0", "a", "b"]
    for s in stats:
        assert STATS_KEYS <= set(s)
        want = dict(ports[s["name"]])
        assert {k: s[k] for k in want} == want
    assert rpc.ok("stats/show", "b") == stats[2]

    # fdb: each guest's MAC on its port
    fdb = rpc.ok("fdb/show")
    assert all(FDB_KEYS <= set(e) for e in fdb), fdb
    got = sorted((e["mac"].lower(), e["port"], e["port_id"], e["type"])
                 for e in fdb)
    assert got == sorted([(A, "a", 1, "learned"), (B, "b", 2, "learned")])
    assert all(0 <= e["age"] < 60 for e in fdb)
    fa_ = rpc.ok("fdb/show", "a")
    assert len(fa_) == 1 and same_mac(fa_[0]["mac"], A)
    assert rpc.ok("fdb/show", "net_null0") == []
    assert rpc.ok("fdb/info") == {"entries": 2, "capacity": 65536,
                                  "aging": 300}
    assert rpc.ok("fdb/aging") == {"aging": 300}
    assert rpc.ok("fdb/aging", "120") == {"aging": 120}
    assert rpc.ok("fdb/aging", 0) == {"aging": 0}
    assert rpc.ok("fdb/info")["aging"] == 0

    # lcore/show: one entry per forwarding lcore, every rx queue on
    # exactly one of them
    for m in ("lcore/show", "lcore/rebalance"):
        lc = rpc.ok(m)
        assert [x["lcore"] for x in lc] == fwd, lc
        assert all(LCORE_KEYS <= set(x) for x in lc), lc
        assert sorted(vstest.rxq_owners(lc)) == ["a:0", "b:0"] + \
            ["net_null0:%d" % q for q in range(len(fwd))]
        assert [x["nb_rxq"] for x in lc] == \
            [len(x["rxqs"].split()) for x in lc]
        assert sum(x["nb_rxq"] for x in lc) == 2 + len(fwd)
        assert sum(x["pkts"] for x in lc) == len(a_to_b) + 1
        assert all(0 <= x["busy_pct"] <= 100 for x in lc)

    # stats/clear zeroes: one port, then all
    assert rpc.ok("stats/clear", "a") == {"cleared": 1}
    sa = rpc.ok("stats/show", "a")
    assert all(sa[k] == 0 for k in STATS_KEYS - {"id", "name"}), sa
    assert rpc.ok("stats/show", "b")["tx_pkts"] == len(a_to_b)
    assert rpc.ok("stats/clear") == {"cleared": 3}
    for s in rpc.ok("stats/show"):
        assert all(s[k] == 0 for k in STATS_KEYS - {"id", "name"}), s
    assert sw.stats()[0]["b"]["tx_pkts"] == 0
    assert rpc.ok("port/show", "b")["tx_bytes"] == 0

    # errors
    rpc.err("nope", code=METHOD_NOT_FOUND, contains="unknown method")
    rpc.err("version", "x", contains="usage: version")
    rpc.err("info", "x")
    rpc.err("shutdown", "now")
    rpc.err("help", "nope", contains="nope")
    rpc.err("help", "a", "b")
    rpc.err("port/list", "a")
    for m in ("port/show", "vring/show", "mem/show", "features/show",
              "port/enable", "port/disable", "port/del"):
        rpc.err(m, "zz", contains="no port 'zz'")
        rpc.err(m, "99", contains="no port '99'")
        rpc.err(m)
        rpc.err(m, "a", "0", "x")
    for m in ("vring/show", "mem/show", "features/show"):
        rpc.err(m, "net_null0", contains="not a vhost-user port")
    rpc.err("vring/show", "a", "1", contains="not a queue pair")
    rpc.err("vring/show", "a", "x")
    rpc.err("stats/show", "zz")
    rpc.err("stats/show", "a", "b")
    rpc.err("stats/clear", "zz")
    rpc.err("fdb/show", "zz")
    rpc.err("fdb/flush", "zz")
    rpc.err("fdb/aging", "-1")
    rpc.err("fdb/aging", "abc")
    rpc.err("fdb/aging", "99999999999")
    rpc.err("fdb/info", "x")
    rpc.err("lcore/show", "x")
    rpc.err("lcore/rebalance", "x")
    # nothing above changed anything
    assert [p["name"] for p in rpc.ok("port/list")] == ["net_null0", "a", "b"]
    assert rpc.ok("fdb/info")["entries"] == 2

    out = {g.name: g.finish() for g in (a, b)}
    assert out["b"] == a_to_b
    assert out["a"] == [hello_b]

    # shutdown: a reply, then a graceful stop
    assert rpc.ok("shutdown") == {"status": "stopping"}
    sw.proc.p.wait(30)
    assert sw.stop() == 0
    assert "vhost-switch: stopped" in sw.output()
    assert not os.path.exists(ctl_path)
    assert not os.path.exists(env.sock("a"))


# ---------------------------------------------------------------------------
# fdb/add steers, fdb/del and fdb/flush remove, static entries stay put.
# ---------------------------------------------------------------------------

def test_fdb_static_entries_steer(env):
    """A static entry for a MAC nobody owns (X) and one overriding a
    learned MAC (B, learned on b, made static on c): a's frames to X and
    to B reach c only. fdb/del and fdb/flush remove entries, static ones
    included; bad MACs and ports are refused."""
    A, B, C, X = mac(0xa), mac(0xb), mac(0xc), mac(0x99)
    hello_b = frame(B, BCAST, 0, tag=0xbb)
    a_out = [frame(A, X, k, s, tag=1) for k, s in enumerate(SIZES[:4])] + \
        [frame(A, B, k, s, tag=2) for k, s in enumerate(SIZES[:4])]
    sw, rpc = start_switch(env, "abc")
    a = env.guest("a", env.sock("a"), a_out, mac=A)
    b = env.guest("b", env.sock("b"), [hello_b], mac=B)
    c = env.guest("c", env.sock("c"), [], mac=C)
    start_guests(sw, a, b, c)
    c.send()
    b.send()
    wait_stat(rpc, "c", "tx_pkts", 1)
    entries = rpc.ok("fdb/show")
    assert [(e["mac"].lower(), e["port"], e["type"]) for e in entries] == \
        [(B, "b", "learned")]

    assert rpc.ok("fdb/add", X, "c") == {"mac": X, "vlan": 0, "port": "c",
                                         "type": "static"}
    assert rpc.ok("fdb/add", B, "2") == {"mac": B, "vlan": 0, "port": "2",
                                         "type": "static"}
    got = sorted((e["mac"].lower(), e["vlan"], e["port"], e["port_id"],
                  e["type"]) for e in rpc.ok("fdb/show"))
    assert got == sorted([(X, 0, "c", 2, "static"),
                          (B, 0, "c", 2, "static")])
    assert len(rpc.ok("fdb/show", "c")) == 2
    assert rpc.ok("fdb/show", "b") == []

    a.send()
    wait_stat(rpc, "c", "tx_pkts", 1 + len(a_out))
    wait_pcap(c.out, 1 + len(a_out))
    time.sleep(0.5)
    out = {g.name: g.finish() for g in (a, b, c)}
    assert out["c"] == [hello_b] + a_out
    assert out["b"] == []
    assert out["a"] == [hello_b]
    ports, _ = sw.stats()
    assert ports["b"]["tx_pkts"] == 0
    assert ports["c"]["tx_pkts"] == 1 + len(a_out)
    # static entries are not aged
    rpc.ok("fdb/aging", "1")
    time.sleep(3)
    assert len(rpc.ok("fdb/show", "c")) == 2
    assert [e["mac"].lower() for e in rpc.ok("fdb/show", "a")] == []
    rpc.ok("fdb/aging", "300")

    # errors
    for bad in ("zz:00:00:00:00:01", "02:00:00:00:00", "02-00-00-00-00-01",
                "0200.0000.0001", "02:00:00:00:00:01:02", "", "x"):
        rpc.err("fdb/add", bad, "c", contains="not a MAC address")
        rpc.err("fdb/del", bad, contains="not a MAC address")
    rpc.err("fdb/add", "01:00:5e:00:00:01", "c", contains="multicast")
    rpc.err("fdb/add", BCAST, "c", contains="multicast")
    rpc.err("fdb/add", "00:00:00:00:00:00", "c", contains="zero")
    rpc.err("fdb/add", mac(0x98), "zz", contains="no port 'zz'")
    rpc.err("fdb/add", mac(0x98))
    rpc.err("fdb/add", mac(0x98), "c", "x", contains="invalid VLAN 'x'")
    rpc.err("fdb/add", mac(0x98), "c", "4096", contains="invalid VLAN")
    rpc.err("fdb/add", mac(0x98), "c", "1", "2")
    rpc.err("fdb/del", X, "10", contains="not in the MAC table (VLAN 10)")
    rpc.err("fdb/del")
    rpc.err("fdb/del", mac(0x98), contains="not in the MAC table")
    rpc.err("fdb/flush", "a", "b")
    assert len(rpc.ok("fdb/show")) == 2

    assert rpc.ok("fdb/del", X) == {"deleted": X}
    rpc.err("fdb/del", X, contains="not in the MAC table")
    assert [e["mac"] for e in rpc.ok("fdb/show")] == [B]  # lower case
    rpc.ok("fdb/add", X.upper(), "a")
    assert rpc.ok("fdb/flush", "a") == {"flushed": 1}
    # flush removes every entry of the port, static ones included
    assert rpc.ok("fdb/flush") == {"flushed": 1}
    assert rpc.ok("fdb/show") == []
    assert sw.stop() == 0


def test_fdb_entry_count_after_delete(env):
    """fdb/info's entries and info's fdb_entries follow fdb/add, fdb/del
    and fdb/flush: they equal the length of fdb/show."""
    sw, rpc = start_switch(env, "ab")
    macs = [mac(0x40 + i) for i in range(4)]
    for i, m in enumerate(macs):
        rpc.ok("fdb/add", m, "ab"[i % 2])
    assert rpc.ok("fdb/info")["entries"] == len(rpc.ok("fdb/show")) == 4
    rpc.ok("fdb/del", macs[0])
    assert len(rpc.ok("fdb/show")) == 3
    time.sleep(0.5)
    assert rpc.ok("fdb/info")["entries"] == 3
    rpc.ok("fdb/flush")
    assert rpc.ok("fdb/show") == []
    time.sleep(0.5)
    assert rpc.ok("fdb/info")["entries"] == 0
    assert rpc.ok("info")["fdb_entries"] == 0


# ---------------------------------------------------------------------------
# port/add, port/del
# ---------------------------------------------------------------------------

def test_port_add_del(env):
    """port/add creates a server socket a guest attaches to and forwards
    through, byte for byte; a client-mode port connects out; port/del
    removes the port, its socket and its MAC table entries."""
    A, N = mac(0xa), mac(0x1e)
    hello_n = frame(N, BCAST, 0, tag=0xee)
    a_to_n = [frame(A, N, k, s, tag=0xae) for k, s in enumerate(SIZES)]
    sw, rpc = start_switch(env, "a", vdevs=["net_null0,no-rx=1"])
    path = env.sock("n")
    assert not os.path.exists(path)
    res = rpc.ok("port/add", path, "name=n")
    assert res == {"id": 2, "path": path}
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    pn = rpc.ok("port/show", "n")
    assert (pn["id"], pn["kind"], pn["mode"], pn["link"], pn["state"],
            pn["path"], pn["rxq"]) == (2, "vhost", "server", "down",
                                       "enabled", path, 1)
    nnull = len(sw.fwd_lcores())   # net_null: an rx queue per lcore
    lc = rpc.ok("lcore/show")
    assert "n:0" in vstest.rxq_owners(lc)
    assert sum(x["nb_rxq"] for x in lc) == 2 + nnull

    # errors
    rpc.err("port/add", path, code=FAILED, contains="exists")
    rpc.err("port/add", env.sock("n2"), "name=a", code=FAILED,
            contains="exists")
    rpc.err("port/add", env.sock("n2"), "queues=0", contains="queues")
    rpc.err("port/add", env.sock("n2"), "queues=33", contains="queues")
    rpc.err("port/add", env.sock("n2"), "colour=red", contains="colour")
    rpc.err("port/add", env.sock("n2"), "name=a b", contains="name")
    rpc.err("port/add")
    rpc.err("port/add", env.sock("n2"), "client", "queues=1", "name=x", "y")
    rpc.err("port/add", "", contains="path")
    rpc.err("port/add", "/%s.sock" % ("x" * 120), contains="107")
    # A path that cannot be bound is refused before librte_vhost sees it:
    # its failed bind() closes the listening fd and unregistering closes
    # that fd number again, by then maybe a guest's connection. Again and
    # again: nothing of the first attempt stays behind.
    for _ in range(2):
        rpc.err("port/add", env.file("nodir/x.sock"), code=FAILED,
                contains="No such file or directory")
    assert "failed to bind" not in sw.output()
    assert "stays registered" not in sw.output()
    with open(env.file("plain"), "w") as f:
        f.write("not a socket")
    rpc.err("port/add", env.file("plain"), code=FAILED)
    assert open(env.file("plain")).read() == "not a socket"
    assert not os.path.exists(env.sock("n2"))
    assert [p["name"] for p in rpc.ok("port/list")] == ["net_null0", "a",
                                                         "n"]

    # a guest on the new port, forwarding exactly
    a = env.guest("a", env.sock("a"), a_to_n, mac=A)
    n = env.guest("n", path, [hello_n], mac=N, devargs="queue_size=128")
    start_guests(sw, a, n)
    assert [x["size"] for x in rpc.ok("vring/show", "n")] == [128, 128]
    n.send()
    wait_stat(rpc, "a", "tx_pkts", 1)
    a.send()
    wait_stat(rpc, "n", "tx_pkts", len(a_to_n))
    wait_pcap(n.out, len(a_to_n))
    assert [e["port"] for e in rpc.ok("fdb/show") if same_mac(e["mac"], N)] \
        == ["n"]

    # a client-mode port: the switch connects (there is nothing there)
    cpath = env.sock("cl")
    res = rpc.ok("port/add", cpath, "client", "queues=2", "name=cl")
    assert res["id"] == 3
    pc = rpc.ok("port/show", "cl")
    assert (pc["mode"], pc["link"], pc["rxq"]) == ("client", "down", 2)
    assert not os.path.exists(cpath)
    rpc.err("vring/show", "cl", code=FAILED, contains="no guest attached")
    lc = rpc.ok("lcore/show")
    assert {"cl:0", "cl:1"} <= set(vstest.rxq_owners(lc))
    assert sum(x["nb_rxq"] for x in lc) == 4 + nnull

    # port/del: by name and by id; ethdevs cannot be deleted
    rpc.err("port/del", "net_null0", contains="ethdev")
    rpc.err("port/del", "nope", contains="no port 'nope'")
    assert rpc.ok("port/del", "3") == {"deleted": "3"}
    assert rpc.ok("port/del", "n") == {"deleted": "n"}
    assert not os.path.exists(path)
    rpc.err("port/show", "n", contains="no port 'n'")
    rpc.err("port/del", "n", contains="no port 'n'")
    assert [p["name"] for p in rpc.ok("port/list")] == ["net_null0", "a"]
    assert not [e for e in rpc.ok("fdb/show") if same_mac(e["mac"], N)]
    assert sorted(vstest.rxq_owners(rpc.ok("lcore/show"))) == \
        ["a:0"] + ["net_null0:%d" % q for q in range(nnull)]
    assert n.finish() == a_to_n
    # the same path and name can be added again
    assert rpc.ok("port/add", path, "name=n") == {"id": 2, "path": path}
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert a.finish() == [hello_n]
    assert sw.stop() == 0
    assert not os.path.exists(path)


# ---------------------------------------------------------------------------
# vhost-switch-ctl
# ---------------------------------------------------------------------------

def test_ctl_client_output_and_exit_codes(env):
    """vhost-switch-ctl against a switch on its default control socket
    (found with -f PREFIX) and by --ctl PATH: tables, key/value lists,
    --json, and exit status 0 / 1 / 2."""
    sw = env.switch(args=["--vhost", "%s,name=a" % env.sock("a")],
                    vdevs=["net_null0,no-rx=1"]).start()
    path = "/var/run/dpdk/%s/vhost-switch.ctl" % sw.prefix
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    rpc = Rpc(path)

    # port/list: a table, one row per port, columns in the JSON's order
    p = ctl("-f", sw.prefix, "port/list")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "kind", "driver", "state",
                                "link", "path", "rxq", "txq", "numa",
                                "rx_pkts", "tx_pkts", "drops", "mode"]
    assert len(lines) == 3
    # net_null: an rx and a tx queue per forwarding lcore
    nq = str(len(sw.fwd_lcores()))
    assert lines[1].split() == ["0", "net_null0", "ethdev", "net_null",
                                "enabled", "up", "net_null0", nq, nq, "0",
                                "0", "0", "0"]
    assert lines[2].split() == ["1", "a", "vhost", "vhost", "enabled",
                                "down", env.sock("a"), "1", "1", "0", "0",
                                "0", "0", "server"]
    # columns line up: each header starts where its values start
    col = lines[0].index("path")
    assert lines[2][col:].startswith(env.sock("a"))

    # an object: "key : value" lines; a nested object as k=v pairs
    p = ctl("--ctl", path, "port/show", "a")
    assert p.returncode == 0, p.stderr
    kv = {}
    for line in p.stdout.splitlines():
        k, v = line.split(" : ", 1)
        kv[k.strip()] = v.strip()
    show = rpc.ok("port/show", "a")
    assert list(kv) == list(show)
    assert kv["name"] == "a" and kv["path"] == env.sock("a")
    assert kv["vid"] == "-1" and kv["rx_pkts"] == "0"
    assert kv["drops_by_reason"].split() == \
        ["%s=0" % r for r in show["drops_by_reason"]]

    # --json: the reply line itself
    for args in (["port/show", "a"], ["port/list"], ["info"], ["help"],
                 ["fdb/show"], ["lcore/show"]):
        p = ctl("--ctl", path, "--json", *args)
        assert p.returncode == 0, p.stderr
        r = json.loads(p.stdout)
        assert r["jsonrpc"] == "2.0" and r["id"] == 1 and "result" in r
        want = rpc.ok(*args)
        if args[0] not in ("info", "lcore/show"):   # counters move
            assert r["result"] == want
    p = ctl("-f", sw.prefix, "--json", "version")
    assert json.loads(p.stdout)["result"] == rpc.ok("version")
    # arguments are strings: numbers and ids work the same
    p = ctl("--ctl", path, "--json", "port/show", "1")
    assert json.loads(p.stdout)["result"]["name"] == "a"
    p = ctl("--ctl", path, "fdb/aging", "42")
    assert p.returncode == 0 and p.stdout.split() == ["aging", ":", "42"]
    assert rpc.ok("fdb/aging") == {"aging": 42}
    # an empty list prints nothing
    p = ctl("--ctl", path, "fdb/show")
    assert (p.returncode, p.stdout) == (0, "")
    # help: every method, with its usage
    p = ctl("--ctl", path, "help")
    assert p.returncode == 0
    rows = p.stdout.splitlines()
    assert rows[0].split() == ["method", "usage", "help"]
    assert [r.split()[0] for r in rows[1:]] == \
        [x["method"] for x in rpc.ok("help")]
    assert set(METHODS) <= {r.split()[0] for r in rows[1:]}

    # error replies: exit 1, the message on stderr
    p = ctl("--ctl", path, "port/show", "nope")
    assert p.returncode == 1 and p.stdout == ""
    assert "error -32602" in p.stderr and "no port 'nope'" in p.stderr
    p = ctl("--ctl", path, "--json", "port/show", "nope")
    assert p.returncode == 1
    r = json.loads(p.stdout)
    assert r["error"]["code"] == INVALID_PARAMS and r["id"] == 1
    p = ctl("--ctl", path, "no/such")
    assert p.returncode == 1 and "-32601" in p.stderr
    p = ctl("--ctl", path, "vring/show", "a")
    assert p.returncode == 1 and "no guest attached" in p.stderr
    p = ctl("--ctl", path, "version", "extra")
    assert p.returncode == 1 and "usage: version" in p.stderr

    # no switch, bad usage: exit 2
    for args in ([], ["--bogus", "port/list"], ["--json"],
                 ["--ctl", env.file("none.ctl"), "port/list"],
                 ["-f", "nosuchprefix" + vstest.uid(), "port/list"],
                 ["--ctl"], ["--ctl", "/" + "x" * 120, "info"]):
        p = ctl(*args)
        assert p.returncode == 2, (args, p.returncode, p.stdout, p.stderr)
        assert p.stdout == "" and p.stderr, args
    p = ctl("--ctl", env.file("none.ctl"), "port/list")
    assert "cannot connect" in p.stderr and env.file("none.ctl") in p.stderr
    p = ctl("--help")
    assert p.returncode == 0 and "Usage" in p.stdout
    # a file that is not a socket
    with open(env.file("plain"), "w") as f:
        f.write("x")
    assert ctl("--ctl", env.file("plain"), "info").returncode == 2

    # the switch answers the client and stops on "shutdown"
    p = ctl("--ctl", path, "shutdown")
    assert p.returncode == 0 and "stopping" in p.stdout
    sw.proc.p.wait(30)
    assert sw.stop() == 0
    assert not os.path.exists(path)
    assert ctl("-f", sw.prefix, "info").returncode == 2


# ---------------------------------------------------------------------------
# 2. Telemetry
# ---------------------------------------------------------------------------

def test_telemetry_endpoints(env):
    """Every /vswitch/* command answers valid JSON with the documented
    keys and the same values as the control socket; lists come as dicts
    keyed "0", "1", ...; booleans as 0/1; errors as {"error": ...}."""
    A = mac(0xa)
    sw, rpc = start_switch(env, "ab", vdevs=["net_null0,no-rx=1"])
    a = env.guest("a", env.sock("a"), [frame(A, BCAST, 0)], mac=A,
                  devargs="queue_size=512")
    start_guests(sw, a)
    a.send()
    wait_stat(rpc, "a", "rx_pkts", 1)
    cmds = ["/vswitch/info", "/vswitch/ports", "/vswitch/port,a",
            "/vswitch/port,1", "/vswitch/vrings,a", "/vswitch/vrings,a,0",
            "/vswitch/mem,a", "/vswitch/features,a", "/vswitch/fdb",
            "/vswitch/fdb,a", "/vswitch/fdb_info", "/vswitch/lcores",
            "/vswitch/stats", "/vswitch/stats,b",
            "/vswitch/port,zz", "/vswitch/port", "/vswitch/vrings,b",
            "/vswitch/mem,net_null0", "/vswitch/features,zz",
            "/vswitch/vrings,a,7", "/", "/help,/vswitch/port",
            "/vswitch/busyloop"]
    (info, ports, port_a, port_1, vrings, vrings0, mem, feat, fdb, fdb_a,
     fdb_info, lcores, stats, stats_b, e_zz, e_noarg, e_noguest, e_eth,
     e_feat, e_queue, root, help_port, busyloop) = telemetry(sw.prefix,
                                                             cmds)

    assert INFO_KEYS <= set(info) and info["pid"] == sw.proc.pid
    assert info["ports"] == 3 and info["fdb_entries"] == 1
    pl = tel_list(ports)
    assert [p["name"] for p in pl] == ["net_null0", "a", "b"]
    assert all(PORT_KEYS <= set(p) for p in pl)
    assert pl == rpc.ok("port/list")
    assert set(port_a) == set(rpc.ok("port/show", "a"))
    assert port_a["dirty_log"] == 0                  # a boolean as 0/1
    assert set(port_a["drops_by_reason"]) == DROP_REASONS
    assert port_a["rx_pkts"] == 1 and port_a["name"] == "a"
    assert port_1 == port_a
    vl = tel_list(vrings)
    assert len(vl) == 2 and all(VRING_KEYS <= set(v) for v in vl)
    assert [v["size"] for v in vl] == [512, 512]
    assert [v["enabled"] for v in vl] == [1, 1] and vl[0]["log"] == 0
    assert vl[1]["last_avail_idx"] == 1
    want = rpc.ok("vring/show", "a")

    def tel(x):
        return int(x) if isinstance(x, bool) else "" if x is None else x
    for v, w in zip(vl, want):
        # Telemetry flattens a dict in a list's dict: "call_relay/full".
        flat = {}
        for k, x in w.items():
            if isinstance(x, dict):
                flat.update({k + "/" + k2: tel(x2) for k2, x2 in x.items()})
            else:
                flat[k] = tel(x)
        assert v == flat
        assert {"call_relay/relayed", "call_relay/full",
                "call_relay/blocked"} <= set(v)
    # vhost-switch-ctl's table: an object of numbers in a cell as one
    # word of k=v pairs, the columns still split by spaces.
    p = ctl("--ctl", env.file("ctl"), "vring/show", "a")
    assert p.returncode == 0, p.stderr
    head, *rows = p.stdout.splitlines()
    cols = head.split()
    assert len(rows) == 2 and all(len(r.split()) >= len(cols) - 1
                                  for r in rows), p.stdout
    i = cols.index("call_relay")
    for r in rows:
        w = dict(x.split("=") for x in r.split()[i].split(","))
        assert set(w) == {"relayed", "full", "blocked"}, r
        assert all(x.isdigit() for x in w.values()), r
    assert tel_list(vrings0) == vl
    ml = tel_list(mem)
    assert ml and all(MEM_KEYS <= set(m) for m in ml)
    assert ml == rpc.ok("mem/show", "a")
    assert feat == rpc.ok("features/show", "a")
    assert "VERSION_1" in feat["feature_names"]
    fl = tel_list(fdb)
    assert [(e["mac"].lower(), e["port"]) for e in fl] == [(A, "a")]
    assert all(FDB_KEYS <= set(e) for e in fl)
    fl_a = tel_list(fdb_a)
    assert [(e["mac"], e["port"]) for e in fl_a] == \
        [(e["mac"], e["port"]) for e in fl]
    assert fdb_info == rpc.ok("fdb/info")
    ll = tel_list(lcores)
    assert [x["lcore"] for x in ll] == sw.fwd_lcores(), ll
    assert all(LCORE_KEYS <= set(x) for x in ll), ll
    assert sorted(vstest.rxq_owners(ll)) == ["a:0", "b:0"] + \
        ["net_null0:%d" % q for q in range(len(sw.fwd_lcores()))]
    for x in ll:
        float(x["busy_pct"])                         # a float as a string
    sl = tel_list(stats)
    assert [s["name"] for s in sl] == ["net_null0", "a", "b"]
    assert all(STATS_KEYS <= set(s) for s in sl)
    assert sl[1]["rx_pkts"] == 1
    assert stats_b == rpc.ok("stats/show", "b")

    assert set(e_zz) == {"error"} and "no port 'zz'" in e_zz["error"]
    assert "usage" in e_noarg["error"]
    assert "no guest attached" in e_noguest["error"]
    assert "not a vhost-user port" in e_eth["error"]
    assert "no port 'zz'" in e_feat["error"]
    assert "not a queue pair" in e_queue["error"]
    assert {"/vswitch/info", "/vswitch/ports", "/vswitch/port",
            "/vswitch/vrings", "/vswitch/mem", "/vswitch/features",
            "/vswitch/fdb", "/vswitch/fdb_info", "/vswitch/lcores",
            "/vswitch/stats", "/vswitch/busyloop"} <= set(root)
    # the mutating methods are not telemetry commands
    assert not [c for c in root if c.startswith("/vswitch/") and
                c.split("/")[-1] in ("shutdown", "add", "del", "clear")]
    assert help_port == {"/vswitch/port": "/vswitch/port,PORT: " +
                         rpc.ok("help", "port/show")["help"]}
    bl = tel_list(busyloop)
    assert [x["lcore"] for x in bl] == sw.fwd_lcores()
    assert all(x["state"] in ("polling", "sleeping") for x in bl), bl
    # DPDK's own ethdev commands see the same ports
    eth, = telemetry(sw.prefix, ["/ethdev/list"])
    assert eth == [0]
    a.finish()
    assert sw.stop() == 0


def test_telemetry_long_strings(env):
    """/vswitch/lcores with ten ports of long names per forwarding lcore
    (each lcore's rxqs string is over 128 bytes), and an error about a
    long port name, still answer (a truncated string, or a list) rather
    than null."""
    sw, rpc = start_switch(env, "a")
    n = 10 * len(sw.fwd_lcores())
    for i in range(n):
        rpc.ok("port/add", env.sock("p%d" % i),
               "name=a_rather_long_port_name_%d" % i)
    assert all(len(x["rxqs"]) > 128 for x in rpc.ok("lcore/show"))
    long = "n" * 150
    lcores, err = telemetry(sw.prefix, ["/vswitch/lcores",
                                        "/vswitch/port," + long])
    assert lcores is not None
    assert sum(x["nb_rxq"] for x in tel_list(lcores)) == n + 1
    assert err is not None and "no port" in err["error"]


# ---------------------------------------------------------------------------
# 3. 50 concurrent clients x 100 requests under traffic
# ---------------------------------------------------------------------------

CLIENTS = 50
REQUESTS = 100


def test_concurrent_clients_under_traffic(env):
    """50 clients, each on its own connection, send 100 requests each
    (reads; writes: stats/clear, port/disable and port/enable of an idle
    port z, fdb/aging, lcore/rebalance, port/add + port/del of a port of
    their own; and requests that must fail) while guest s streams to
    guest r. Every reply carries its request's id and the right result,
    and r keeps receiving during and after."""
    sw, rpc = start_switch(env, "srz")
    s, r = stream(env, sw, rpc)
    sid = rpc.ok("port/show", "s")["id"]

    def is_list_of(keys):
        return lambda x: isinstance(x, list) and x and \
            all(keys <= set(e) for e in x)

    checks = [
        (("version",), lambda x: set(x) == {"version", "dpdk"}),
        (("port/list",), lambda x: [p["name"] for p in x][:3] ==
         ["s", "r", "z"]),
        (("port/show", "r"), lambda x: x["name"] == "r" and
         x["link"] == "up" and set(x["drops_by_reason"]) == DROP_REASONS),
        (("port/show", sid), lambda x: x["name"] == "s"),
        (("stats/show", "s"), lambda x: STATS_KEYS <= set(x) and
         x["rx_pkts"] > 0),
        (("stats/show",), lambda x: [p["name"] for p in x][:3] ==
         ["s", "r", "z"]),
        (("vring/show", "r"), lambda x: [v["direction"] for v in x] ==
         ["guest_rx", "guest_tx"] and x[0]["size"] == 256),
        (("mem/show", "s"), is_list_of(MEM_KEYS)),
        (("features/show", "r"), lambda x: "VERSION_1" in
         x["feature_names"]),
        (("fdb/show",), lambda x: {e["port"] for e in x} == {"s", "r"}),
        (("fdb/info",), lambda x: FDB_INFO_KEYS <= set(x)),
        (("info",), lambda x: x["ports"] >= 3 and x["pid"] == sw.proc.pid),
        (("lcore/show",), lambda x: {"s:0", "r:0", "z:0"} <=
         set(vstest.rxq_owners(x))),
        (("lcore/rebalance",), lambda x: {"s:0", "r:0", "z:0"} <=
         set(vstest.rxq_owners(x))),
        (("stats/clear", "z"), lambda x: x == {"cleared": 1}),
        (("port/disable", "z"), lambda x: x == {"port": "z",
                                               "state": "disabled"}),
        (("port/enable", "z"), lambda x: x == {"port": "z",
                                              "state": "enabled"}),
        (("fdb/aging", "300"), lambda x: x == {"aging": 300}),
        (("vring/show", "z"), FAILED),
        (("help", "fdb/add"), lambda x: x["usage"] == "MAC PORT [VLAN]"),
        (("port/show", "nope"), INVALID_PARAMS),
        (("no/such/method",), METHOD_NOT_FOUND),
        (("vring/show", "r", "5"), INVALID_PARAMS),
    ]
    errors = []
    done = [0] * CLIENTS
    barrier = threading.Barrier(CLIENTS + 1, timeout=120)

    def client(n):
        try:
            c = Rpc(env.file("ctl"), timeout=120)
            c.ok("version")
            barrier.wait()
            for i in range(REQUESTS):
                args, check = checks[(n + i) % len(checks)]
                rid = n * 1000 + i if i % 3 else "c%d-%d" % (n, i)
                rep = c.call(*args, rid=rid)          # checks the id
                if isinstance(check, int):
                    ok = "error" in rep and rep["error"]["code"] == check
                else:
                    ok = "result" in rep and check(rep["result"])
                if not ok:
                    errors.append((n, i, args, rep))
                done[n] += 1
                if i % 20 == 0:
                    # a port of this client's own, added and deleted
                    name = "t%d_%d" % (n, i)
                    path = env.sock(name)
                    rep = c.call("port/add", path, "name=" + name)
                    if rep.get("result", {}).get("path") != path or \
                            not stat.S_ISSOCK(os.lstat(path).st_mode):
                        errors.append((n, i, "port/add", rep))
                    rep = c.call("port/del", name)
                    if rep.get("result") != {"deleted": name} or \
                            os.path.exists(path):
                        errors.append((n, i, "port/del", rep))
            c.close()
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append((n, "exception", repr(e)))
            try:
                barrier.abort()
            except Exception:     # noqa: BLE001
                pass

    threads = [threading.Thread(target=client, args=(n,), daemon=True)
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    barrier.wait()   # all 50 connected at once
    t0 = time.monotonic()
    samples = [rpc.ok("stats/show", "r")["tx_pkts"]]
    while any(t.is_alive() for t in threads):
        time.sleep(1.0)
        samples.append(rpc.ok("stats/show", "r")["tx_pkts"])
        assert time.monotonic() - t0 < 240, "clients too slow: %s" % done
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    time.sleep(1.0)
    samples.append(rpc.ok("stats/show", "r")["tx_pkts"])
    assert not errors, errors[:5]
    assert sum(done) == CLIENTS * REQUESTS
    assert sw.proc.alive()
    assert [p["name"] for p in rpc.ok("port/list")] == ["s", "r", "z"]
    # z's state is whichever client came last; it still obeys
    rpc.ok("port/enable", "z")
    assert rpc.ok("port/show", "z")["state"] == "enabled"
    # forwarding went on during the requests and goes on after them
    assert samples[-1] > samples[0], samples
    assert all(b >= a for a, b in zip(samples, samples[1:])), samples
    growing(rpc, "r")
    print("%d requests in %.1fs" % (CLIENTS * REQUESTS, elapsed))
    s.stop()
    r.stop()
    wait_mbufs_zero(rpc)
    assert sw.stop() == 0


# ---------------------------------------------------------------------------
# 4. Malformed requests
# ---------------------------------------------------------------------------

def req(**kw):
    d = {"jsonrpc": "2.0", "id": 1, "method": "version"}
    d.update(kw)
    return (json.dumps({k: v for k, v in d.items() if v is not None})
            + "\n").encode()


MALFORMED = [
    # (name, bytes, expected code, expected id)
    ("bad json", b'{"jsonrpc": "2.0", "id": 1, "method": \n',
     PARSE_ERROR, None),
    ("unterminated string", b'{"jsonrpc": "2.0", "id": 1, "method": "ver\n',
     PARSE_ERROR, None),
    ("trailing garbage", b'{"jsonrpc": "2.0", "id": 1, "method": "info"} x\n',
     PARSE_ERROR, None),
    ("not an object", b'"version"\n', PARSE_ERROR, None),
    ("a number", b'42\n', PARSE_ERROR, None),
    ("nested 60000", b"[" * 60000 + b"\n", PARSE_ERROR, None),
    ("nested 3000 closed", b"[" * 3000 + b"]" * 3000 + b"\n",
     PARSE_ERROR, None),
    ("nested objects", b'{"a":' * 5000 + b'1' + b'}' * 5000 + b"\n",
     PARSE_ERROR, None),
    ("invalid utf-8", b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}\n',
     PARSE_ERROR, None),
    ("escaped nul", b'{"jsonrpc":"2.0","id":1,"method":"version\\u0000"}\n',
     PARSE_ERROR, None),
    ("raw nul", b'{"jsonrpc":"2.0","id":1,\x00"method":"version"}\n',
     PARSE_ERROR, None),
    ("duplicate key", b'{"jsonrpc":"2.0","id":1,"id":2,"method":"info"}\n',
     PARSE_ERROR, None),
    ("huge integer", req(params=[], id=None)[:-2] +
     b', "id": 123456789012345678901234567890}\n', PARSE_ERROR, None),
    ("batch", b'[' + req()[:-1] + b',' + req(id=2)[:-1] + b']\n',
     INVALID_REQUEST, None),
    ("empty batch", b'[]\n', INVALID_REQUEST, None),
    ("no jsonrpc", req(jsonrpc=None), INVALID_REQUEST, 1),
    ("jsonrpc 1.0", req(jsonrpc="1.0"), INVALID_REQUEST, 1),
    ("jsonrpc number", req(jsonrpc=2), INVALID_REQUEST, 1),
    ("no method", req(method=None), INVALID_REQUEST, 1),
    ("method number", req(method=5), INVALID_REQUEST, 1),
    ("method list", req(method=["version"]), INVALID_REQUEST, 1),
    ("id object", req(id={"a": 1}), INVALID_REQUEST, None),
    ("id float", req(id=1.5), INVALID_REQUEST, None),
    ("id list", req(id=[1]), INVALID_REQUEST, None),
    ("unknown method", req(method="port/frobnicate"), METHOD_NOT_FOUND, 1),
    ("empty method", req(method=""), METHOD_NOT_FOUND, 1),
    ("params object", req(method="port/show", params={"port": "a"}),
     INVALID_PARAMS, 1),
    ("params string", req(method="port/show", params="a"),
     INVALID_PARAMS, 1),
    ("param float", req(method="port/show", params=[1.5]),
     INVALID_PARAMS, 1),
    ("param negative", req(method="port/show", params=[-1]),
     INVALID_PARAMS, 1),
    ("param nested array", req(method="port/show", params=[["a"]]),
     INVALID_PARAMS, 1),
    ("param object", req(method="port/show", params=[{"a": 1}]),
     INVALID_PARAMS, 1),
    ("param bool", req(method="port/show", params=[True]),
     INVALID_PARAMS, 1),
    ("param null", req(method="port/show", params=[None]),
     INVALID_PARAMS, 1),
    ("9 params", req(method="port/add", params=["x"] * 9),
     INVALID_PARAMS, 1),
    ("wrong count", req(method="port/show", params=[]), INVALID_PARAMS, 1),
    ("bad port", req(method="port/show", params=["nope"]),
     INVALID_PARAMS, 1),
]


def send_bytes(c, data):
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def test_malformed_requests(env):
    """Each malformed request gets a JSON-RPC error object with the right
    code (and the request's id when it could be read), or, for an
    oversized line, an error and a closed connection. Meanwhile an idle
    client and a client with half a request keep their connections, other
    clients are served, and guest s's stream to guest r goes on."""
    sw, rpc = start_switch(env, "sr")
    s, r = stream(env, sw, rpc)
    idle = Rpc(env.file("ctl"))
    half = Rpc(env.file("ctl"))
    half.send(b'{"jsonrpc":"2.0","id":"half","meth')
    tx0 = rpc.ok("stats/show", "r")["tx_pkts"]

    for name, data, code, rid in MALFORMED:
        c = Rpc(env.file("ctl"))
        c.send(data)
        rep = c.reply()
        assert "error" in rep, (name, rep)
        assert rep["error"]["code"] == code, (name, rep)
        assert rep["id"] == rid, (name, rep)
        assert len(rep["error"]["message"]) > 10, (name, rep)
        # the connection stays usable after an error
        assert c.ok("version")["version"], name
        c.close()
        assert rpc.ok("port/show", "r")["link"] == "up", name

    # binary garbage, several lines of it, on one connection
    rnd = random.Random(1234)
    c = Rpc(env.file("ctl"))
    for _ in range(20):
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4000)))
        junk = junk.replace(b"\n", b"").lstrip(b" \t\r") or b"\x01"
        if junk[0] in b"[{":
            junk = b"\x01" + junk
        c.send(junk + b"\n")
        rep = c.reply()
        assert rep["id"] is None and rep["error"]["code"] == PARSE_ERROR, rep
    # empty lines and a CR LF request
    c.send(b"\n\r\n\n" + req(id=77)[:-1] + b"\r\n")
    rep = c.reply()
    assert rep["id"] == 77 and "result" in rep
    c.close()

    # oversized lines: an error, then the switch closes the connection
    for size in (65537, MIB, 100000):
        c = Rpc(env.file("ctl"))
        body = b"[" * size if size == 100000 else b"x" * size
        t = threading.Thread(target=send_bytes, args=(c, body + b"\n"))
        t.start()
        line = c.readline()
        if line:
            rep = json.loads(line)
            assert rep["error"]["code"] == INVALID_REQUEST, rep
            assert rep["id"] is None
            assert "65536" in rep["error"]["message"]
        assert c.closed(), size
        t.join(30)
        c.close()
    # a line of exactly 65536 bytes is still read
    c = Rpc(env.file("ctl"))
    line = req(id=65536)[:-2] + b', "pad": "'
    line += b"p" * (65536 - len(line) - 2) + b'"}'
    assert len(line) == 65536
    c.send(line + b"\n")
    rep = c.reply()
    assert rep["id"] == 65536 and "result" in rep
    c.close()

    # notifications (no id): run, no reply
    c = Rpc(env.file("ctl"))
    c.send(b'{"jsonrpc":"2.0","method":"fdb/aging","params":["77"]}\n')
    c.send(b'{"jsonrpc":"2.0","method":"no/such"}\n')
    c.send(b'{"jsonrpc":"2.0","method":"port/show","params":["zz"]}\n')
    assert c.call("fdb/aging", rid=5) == {"jsonrpc": "2.0", "id": 5,
                                          "result": {"aging": 77}}
    # several requests in one write: replies in order
    c.send(req(id=10) + req(id=11, method="info") + req(id=12, method="x"))
    assert [c.reply()["id"] for _ in range(3)] == [10, 11, 12]
    # string and null ids come back as they were
    assert c.call("version", rid="abc")["id"] == "abc"
    assert c.call("version", rid=None)["id"] is None
    c.close()

    # the idle client and the half request were kept
    half.send(b'od":"port/show","params":["r"]}\n')
    rep = half.reply()
    assert rep["id"] == "half" and rep["result"]["name"] == "r"
    assert idle.ok("port/show", "s")["name"] == "s"

    # 64 clients at most: the 65th is told so and closed
    extra = []
    tries = 0
    while len(extra) < 64 - 3:       # rpc, idle, half are connected
        e = Rpc(env.file("ctl"))
        send_bytes(e, req(id=1))
        rep = e.reply()
        if "error" in rep and tries < 50:
            # the switch may not have seen the closes above yet
            assert "too many" in rep["error"]["message"], rep
            e.close()
            tries += 1
            time.sleep(0.2)
            continue
        assert "result" in rep, rep
        extra.append(e)
    c = Rpc(env.file("ctl"))
    rep = c.reply()
    assert rep["error"]["code"] == FAILED and rep["id"] is None
    assert "too many" in rep["error"]["message"]
    assert c.closed()
    c.close()
    extra.pop().close()

    def served():
        try:
            c = Rpc(env.file("ctl"), timeout=5)
            ok = "result" in c.call("version")
            c.close()
            return ok
        except (AssertionError, OSError):
            return False
    wait_for(served, 10, what="a free client slot")
    for e in extra:
        e.close()

    # forwarding went on throughout
    assert rpc.ok("stats/show", "r")["tx_pkts"] > tx0
    growing(rpc, "r", samples=2)
    assert sw.proc.alive()
    s.stop()
    r.stop()
    wait_mbufs_zero(rpc)
    assert sw.stop() == 0


def test_pipelined_requests_slow_reader(env):
    """A client writes 3000 requests at once and reads the replies only
    afterwards (its socket buffer fills meanwhile): every reply comes,
    intact and in order, and the switch lives on."""
    sw, rpc = start_switch(env, "a")
    n = 3000
    c = Rpc(env.file("ctl"))
    data = b"".join(req(id=i, method="help") for i in range(n))
    t = threading.Thread(target=send_bytes, args=(c, data))
    t.start()
    time.sleep(3)
    want = rpc.ok("help")
    for i in range(n):
        rep = c.reply()
        assert rep["id"] == i and rep["result"] == want, i
    t.join(30)
    assert sw.proc.alive()
    assert rpc.ok("version")


def test_half_closed_client_gets_every_reply(env):
    """A client writes 3000 requests, shuts down its sending side (as
    `nc -N` does) and reads only then: every reply comes, in order, and
    then the end of the stream. (The switch used to close at the end of
    the requests, with replies still unsent.)"""
    sw, rpc = start_switch(env, "a")
    n = 3000
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(T_RPC)
    s.connect(env.file("ctl"))
    data = b"".join(req(id=i, method="help") for i in range(n))

    def send_and_shut():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t = threading.Thread(target=send_and_shut)
    t.start()
    time.sleep(2)
    buf = b""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        buf += chunk
    t.join(30)
    s.close()
    ids = [json.loads(line)["id"] for line in buf.splitlines()]
    assert ids == list(range(n)), "%d replies of %d" % (len(ids), n)
    assert sw.proc.alive() and rpc.ok("version")


def test_notification_with_bad_params_gets_no_reply(env):
    sw, rpc = start_switch(env, "a")
    rpc.send(b'{"jsonrpc":"2.0","method":"port/show","params":[1.5]}\n')
    rpc.send(b'{"jsonrpc":"2.0","method":"port/show","params":{"a":1}}\n')
    assert rpc.call("version", rid=3)["id"] == 3


# ---------------------------------------------------------------------------
# 5. port/add + port/del churn under traffic
# ---------------------------------------------------------------------------

CHURN = 100


def test_port_add_del_churn_under_traffic(env):
    """100 port/add + port/del (server and client mode, 1 or 2 queues;
    twice with a guest attached and streaming) while guest s streams to
    guest r: the switch lives, r keeps receiving, no stale port, socket
    or MAC entry stays, every mbuf comes back once traffic stops, and
    guests a and b, attached throughout, still talk byte for byte."""
    A, B, C = mac(0xa), mac(0xb), mac(0xc)
    hello_b = frame(B, BCAST, 0, tag=0xbb)
    a_to_b = [frame(A, B, k, s, tag=0xab) for k, s in enumerate(SIZES * 2)]
    sw, rpc = start_switch(env, "absr")
    a = env.guest("a", env.sock("a"), a_to_b, mac=A)
    b = env.guest("b", env.sock("b"), [hello_b], mac=B)
    start_guests(sw, a, b)
    s, r = stream(env, sw, rpc)
    R = r.mac
    base = {p["name"]: p["id"] for p in rpc.ok("port/list")}
    samples = [rpc.ok("stats/show", "r")["tx_pkts"]]
    t_sample = time.monotonic()

    for i in range(CHURN):
        client = i % 4 == 3
        path = env.sock("c%d" % (i % 3))
        args = [path] + (["client"] if client else []) + \
            (["queues=2"] if i % 2 else []) + ["name=c%d" % i]
        res = rpc.ok("port/add", *args)
        assert res == {"id": 4, "path": path}, (i, res)   # first free id
        if not client:
            assert stat.S_ISSOCK(os.lstat(path).st_mode), i
        p = rpc.ok("port/show", "c%d" % i)
        assert (p["rxq"], p["mode"]) == (2 if i % 2 else 1,
                                         "client" if client else "server")
        assert len(vstest.rxq_owners(rpc.ok("lcore/show"))) == \
            4 + p["rxq"]
        if i in (30, 70):
            # a guest on the churned port, streaming to r when deleted
            g = Pmd(env, "g%d" % i, path, C, "txonly",
                    ["--eth-peer=0,%s" % R]).start()
            sw.wait_link("c%d" % i, timeout=T_LINK)
            wait_stat(rpc, "c%d" % i, "rx_pkts", 1)
            assert [e["port"] for e in rpc.ok("fdb/show")
                    if same_mac(e["mac"], C)] == ["c%d" % i]
        assert rpc.ok("port/del", "c%d" % i) == {"deleted": "c%d" % i}
        assert not os.path.exists(path) or client, i
        if i in (30, 70):
            assert not [e for e in rpc.ok("fdb/show")
                        if same_mac(e["mac"], C)]
            g.stop()
        if time.monotonic() - t_sample > 1.0:
            samples.append(rpc.ok("stats/show", "r")["tx_pkts"])
            t_sample = time.monotonic()
        assert sw.proc.alive(), i

    samples.append(rpc.ok("stats/show", "r")["tx_pkts"])
    assert samples[-1] > samples[0], samples
    assert all(y >= x for x, y in zip(samples, samples[1:])), samples
    growing(rpc, "r", samples=2)
    assert {p["name"]: p["id"] for p in rpc.ok("port/list")} == base
    assert sorted(vstest.rxq_owners(rpc.ok("lcore/show"))) == \
        ["a:0", "b:0", "r:0", "s:0"]
    assert {e["port"] for e in rpc.ok("fdb/show")} <= {"a", "b", "s", "r"}
    assert not [f for f in os.listdir(env.wd.path)
                if f.startswith("c") and f.endswith(".sock")]
    assert rpc.ok("info")["ports"] == 4

    # traffic stops: every mbuf comes back
    s.stop()
    r.stop()
    wait_mbufs_zero(rpc)

    # a and b, attached throughout, exactly
    rpc.ok("stats/clear")
    b.send()
    wait_stat(rpc, "a", "tx_pkts", 1)
    a.send()
    wait_stat(rpc, "b", "tx_pkts", len(a_to_b))
    wait_pcap(b.out, len(a_to_b))
    out = {g.name: g.finish() for g in (a, b)}
    assert out["b"] == a_to_b
    assert out["a"] == [hello_b]
    wait_mbufs_zero(rpc)
    ports, _ = sw.stats()
    assert ports["a"]["rx_pkts"] == len(a_to_b)
    assert sum(ports["b"][k] for k in DROP_REASONS) == 0
    assert sw.stop() == 0


# ---------------------------------------------------------------------------
# 6. port/disable, port/enable
# ---------------------------------------------------------------------------

def test_port_disable_enable(env):
    """port/disable stops a port's rings with the guest still attached:
    nothing is taken from its tx vring (the frames the guest sends wait
    there), nothing is put into its rx vring (unicast to it is dropped as
    port_down, floods skip it), its link stays up. port/enable resumes:
    the frames that waited in the ring arrive, in order, exactly."""
    A, B, C = mac(0xa), mac(0xb), mac(0xc)
    hello_b = frame(B, BCAST, 0, tag=0xbb)
    a_to_b = [frame(A, B, k, s, tag=0xab) for k, s in enumerate(SIZES * 2)]
    c_to_a = [frame(C, A, k, s, tag=0xca) for k, s in enumerate(SIZES)]
    c_bcast = frame(C, BCAST, 99, tag=0xcb)
    sw, rpc = start_switch(env, "abc")
    a = env.guest("a", env.sock("a"), a_to_b, mac=A)
    b = env.guest("b", env.sock("b"), [hello_b], mac=B)
    c = env.guest("c", env.sock("c"), c_to_a + [c_bcast], mac=C)
    start_guests(sw, a, b, c)
    rpc.ok("fdb/add", A, "a")        # frames to A are unicast to port a
    b.send()
    wait_stat(rpc, "a", "tx_pkts", 1)
    wait_stat(rpc, "c", "tx_pkts", 1)

    assert rpc.ok("port/disable", "a") == {"port": "a", "state": "disabled"}
    pa = rpc.ok("port/show", "a")
    assert (pa["state"], pa["link"]) == ("disabled", "up")
    assert [p["state"] for p in rpc.ok("port/list")] == \
        ["disabled", "enabled", "enabled"]
    ring0 = rpc.ok("vring/show", "a")
    assert ring0[1]["last_avail_idx"] == 0
    stats0 = rpc.ok("stats/show", "a")

    # a sends while disabled: the frames wait in a's tx vring
    a.send()
    c.send()
    wait_stat(rpc, "a", "port_down", len(c_to_a))
    wait_stat(rpc, "b", "tx_pkts", 1)          # c's broadcast reached b
    time.sleep(2)
    sa = rpc.ok("stats/show", "a")
    assert sa["rx_pkts"] == stats0["rx_pkts"] == 0
    assert sa["tx_pkts"] == stats0["tx_pkts"] == 1
    assert sa["port_down"] == len(c_to_a)      # unicast to a: dropped
    assert sa["no_dest"] == 0
    assert rpc.ok("stats/show", "b")["tx_pkts"] == 1   # nothing from a
    ring1 = rpc.ok("vring/show", "a")
    assert ring1[1]["last_avail_idx"] == ring1[1]["last_used_idx"] == 0
    assert ring1[0]["last_used_idx"] == ring0[0]["last_used_idx"] == 1
    assert rpc.ok("port/show", "a")["link"] == "up"
    rpc.err("port/disable", "zz", contains="no port")
    # disabling twice is harmless
    assert rpc.ok("port/disable", "a")["state"] == "disabled"

    assert rpc.ok("port/enable", "a") == {"port": "a", "state": "enabled"}
    wait_stat(rpc, "b", "tx_pkts", 1 + len(a_to_b))
    wait_pcap(b.out, 1 + len(a_to_b))
    time.sleep(0.5)
    sa = rpc.ok("stats/show", "a")
    assert sa["rx_pkts"] == len(a_to_b)
    ring2 = rpc.ok("vring/show", "a")
    assert ring2[1]["last_avail_idx"] == len(a_to_b)
    assert rpc.ok("port/show", "a")["state"] == "enabled"
    out = {g.name: g.finish() for g in (a, b, c)}
    # a's frames, held in its ring, arrive after enable, in order
    assert out["b"] == [c_bcast] + a_to_b
    # c's frames to a while a was disabled are lost, its broadcast too
    assert out["a"] == [hello_b]
    assert out["c"] == [hello_b]
    ports, _ = sw.stats()
    assert ports["a"]["port_down"] == len(c_to_a)
    assert ports["a"]["tx_pkts"] == 1
    assert ports["b"]["tx_pkts"] == 1 + len(a_to_b)
    assert sw.stop() == 0
