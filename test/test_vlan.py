# SPDX-License-Identifier: BSD-3-Clause
"""VLANs and port security (issue 13; SPEC section 10), with testpmd
guests and a net_pcap trunk; frames crafted here and compared byte for byte.

One switch is shared by the traffic tests of this module:

  port a          vhost, vlan=10         guest A  (testpmd)
  port b          vhost, vlan=10         guest B  (testpmd)
  port c          vhost, vlan=20         guest C  (testpmd)
  port net_pcap0  net_pcap, trunks=10:20 the trunk: reads a veth, writes a
                                         pcap file

Each guest is a testpmd in io forwarding between a net_pcap port and its
virtio-user port, as vstest.Guest, except that its net_pcap port reads a
live veth (rx_iface_in) instead of a file: the test writes frames into the
veth's other end with an AF_PACKET socket whenever it wants, so a test
runs in phases (learn, then send unicast; attack while A and B talk).
What a guest receives goes to its tx pcap file, which net_pcap flushes
after every burst: the test reads it while the guest runs. The trunk is
the same on the switch's side: net_pcap0 reads a veth and writes a file.

The port-security tests add their port at run time (port/add PATH KEY=VAL)
with a guest of their own, and delete it at the end (which also flushes
its MAC entries):

  port m   vlan=10 max-macs=16      a pcap of 100,000 random source MACs
  port s   vlan=10 allowed-macs=..  frames from its own and from others' MACs
  port st  vlan=10 flood-pps=1000   broadcasts from a looping pcap
                                    (net_pcap infinite_rx) at full speed

Malformed keys: at start (exit 2, one line naming the option and the
value), in the config file, and at run time (JSON-RPC -32602).

Every veth is created with IPv6 off, so the kernel sends nothing on them
and every frame a guest or the trunk receives is one the test sent.
"""
import concurrent.futures
import os
import random
import socket
import struct
import subprocess
import time

import pytest
from scapy.all import IP, UDP, Dot1Q, Ether, Raw

import ctlclient
import vstest
from vstest import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="veths and AF_PACKET sockets need "
                                       "root")

# Generous: two CPUs shared with other DPDK test runs.
T = 60
BCAST = "ff:ff:ff:ff:ff:ff"
MAC = {"a": "02:00:00:0d:00:0a", "b": "02:00:00:0d:00:0b",
       "c": "02:00:00:0d:00:0c", "t": "02:00:00:0d:00:1e",
       "x": "02:00:00:0d:00:99"}
TRUNK = "net_pcap0"
# How long a port that should receive nothing is watched after the frames
# that did go somewhere arrived there: the switch sends a flooded frame to
# every destination in the same pass.
QUIET = 0.5
TPID = 0x8100


def sh(*argv, check=True):
    p = subprocess.run(list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=T)
    out = p.stdout.decode(errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(argv),
                                                p.returncode, out))
    return out


# --- frames ---------------------------------------------------------------

_seq = [0]


def frame(src, dst, size=64, vlan=None, prio=0):
    """A UDP frame of exactly @size bytes (no FCS), unique in the module
    (a sequence number in the UDP ports and the payload); 802.1Q-tagged
    when @vlan is not None (vlan=0: a priority tag)."""
    _seq[0] += 1
    n = _seq[0]
    p = Ether(src=src, dst=dst)
    if vlan is not None:
        p = p / Dot1Q(vlan=vlan, prio=prio)
    p = p / IP(src="10.13.0.1", dst="10.13.0.2") / \
        UDP(sport=1024 + n % 60000, dport=4000 + n // 60000)
    pad = size - len(p)
    assert pad >= 4
    return bytes(p / Raw(struct.pack("!I", n) + b"\xa5" * (pad - 4)))


def tag(f, vid, prio=0):
    """@f with an 802.1Q header (TPID 0x8100) after the MAC addresses."""
    return f[:12] + struct.pack("!HH", TPID, prio << 13 | vid) + f[12:]


def untag(f):
    assert struct.unpack("!H", f[12:14])[0] == TPID
    return f[:12] + f[16:]


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def src_of(f):
    return ":".join("%02x" % b for b in f[6:12])


# --- pcap files, fast (a pcap of 100,000 frames through scapy takes
# seconds) --------------------------------------------------------------------

def pcap_write(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)))
            f.write(fr)


def pcap_read(path, times=False):
    """The frames of a pcap file (micro- or nanosecond, either byte
    order); a record still being written at the end is left out. With
    @times, (seconds, frame) pairs."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    if len(data) < 24:
        return []
    magic = data[:4]
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
             b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}[magic]
    div = 1e9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") \
        else 1e6
    rec = struct.Struct(order + "IIII")
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, _ = rec.unpack_from(data, off)
        if off + 16 + caplen > len(data):
            break
        fr = data[off + 16:off + 16 + caplen]
        out.append((sec + frac / div, fr) if times else fr)
        off += 16 + caplen
    return out


# --- rigs --------------------------------------------------------------------

class Feed:
    """A veth pair: DPDK's net_pcap reads `inner` (rx_iface_in); the test
    writes frames into `outer` with an AF_PACKET socket, in order."""

    def __init__(self, tag_):
        u = vstest.uid()[:6]
        self.inner = "vsv%s%si" % (u, tag_)
        self.outer = "vsv%s%so" % (u, tag_)
        assert len(self.inner) <= 15
        sh("ip", "link", "add", self.inner, "mtu", "9000", "type", "veth",
           "peer", "name", self.outer, "mtu", "9000")
        self.sock = None
        for i in (self.inner, self.outer):
            sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % i)
            sh("ip", "link", "set", i, "up")
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.bind((self.outer, 0))

    def send(self, frames):
        for i, f in enumerate(frames):
            self.sock.send(f)
            # The sending syscall also delivers to the other end; a pause
            # now and then leaves the pcap reader time to keep up.
            if i % 64 == 63:
                time.sleep(0.002)

    def close(self):
        if self.sock:
            self.sock.close()
        subprocess.run(["ip", "link", "del", self.inner],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=T)


class VGuest(vstest.Guest):
    """vstest.Guest whose net_pcap port reads a Feed (feed=) or loops over
    its pcap for ever (loop=True, net_pcap's infinite_rx), or reads its
    pcap once (neither). Received frames: received()."""

    def __init__(self, wd, sock, name, feed=None, loop=False, frames=(),
                 mac=None):
        super().__init__(wd, sock, name, (), mac=mac)
        self.feed = feed
        self.loop = loop
        if frames:
            pcap_write(self.inp, frames)

    def argv(self):
        a = super().argv()
        i = [n for n, x in enumerate(a) if x.startswith("net_pcap0,")][0]
        if self.feed:
            a[i] = "net_pcap0,rx_iface_in=%s,tx_pcap=%s" % (self.feed.inner,
                                                           self.out)
        elif self.loop:
            a[i] = "net_pcap0,rx_pcap=%s,infinite_rx=1,tx_pcap=%s" % (
                self.inp, self.out)
        return a

    def launch(self):
        self.proc = vstest.Proc(self.argv(), self.log,
                                stdin=subprocess.PIPE)
        return self

    def ready(self):
        self.proc.wait_log(r"testpmd> ", timeout=T)
        return self

    def received(self):
        return pcap_read(self.out)

    def stop(self):
        """Quit testpmd; the frames it received."""
        if self.proc is None:
            return []
        self.finish(timeout=T)
        return pcap_read(self.out)


class Lab:
    """The module's switch, feeds and guests."""

    def __init__(self):
        self.wd = vstest.Workdir()
        self.ctl_path = self.wd.file("ctl")
        self.feeds = {}
        self.guests = {}
        self.sw = None
        self.trunk_out = self.wd.file("trunk_out.pcap")

    def ctl(self, method, *params):
        return ctlclient.call(self.ctl_path, method, *params)

    def ctl_error(self, method, *params):
        try:
            r = self.ctl(method, *params)
        except ctlclient.RpcError as e:
            return e
        raise AssertionError("%s %s succeeded: %s" % (method, params, r))

    def feed(self, name):
        f = Feed(name)
        self.feeds[name] = f
        return f

    def guest(self, name, **kw):
        g = VGuest(self.wd.path, self.wd.sock(name), name,
                   mac=MAC.get(name), **kw)
        self.guests[name] = g
        return g

    def received(self, port):
        """Everything @port sent out so far: a guest's tx pcap, or the
        trunk's."""
        if port == TRUNK:
            return pcap_read(self.trunk_out)
        return self.guests[port].received()

    def counters(self, ports):
        return {p: self.ctl("port/show", p) for p in ports}

    def fdb(self):
        """{(vlan, mac): port name}."""
        return {(e.get("vlan"), e["mac"].lower()): e["port"]
                for e in self.ctl("fdb/show")}

    def cleanup(self, keep):
        for g in self.guests.values():
            if g.proc is not None and g.proc.alive():
                g.proc.kill()
                g.proc.p.wait()
        if self.sw and self.sw.proc and self.sw.proc.alive():
            self.sw.stop()
        for f in self.feeds.values():
            f.close()
        if keep:
            print("logs kept in %s" % self.wd.path)
        self.wd.cleanup(keep=keep)


@pytest.fixture(scope="module")
def lab(request):
    failed_before = request.session.testsfailed
    lab = Lab()
    try:
        trunk = lab.feed("t")
        for g in "abc":
            lab.feed(g)
        wd = lab.wd
        args = ["--ctl", lab.ctl_path,
                "--vhost", "%s,name=a,vlan=10" % wd.sock("a"),
                "--vhost", "%s,name=b,vlan=10" % wd.sock("b"),
                "--vhost", "%s,name=c" % wd.sock("c"),
                "--port", "c,vlan=20",
                "--port", "%s,trunks=10:20" % TRUNK]
        lab.sw = vstest.Switch(
            wd.path, name="sw", args=args,
            vdevs=["%s,rx_iface_in=%s,tx_pcap=%s" % (TRUNK, trunk.inner,
                                                     lab.trunk_out)])
        lab.sw.start()
        gs = [lab.guest(g, feed=lab.feeds[g]).launch() for g in "abc"]
        for g in gs:
            g.ready()
            g.send()
        for g in "abc":
            lab.sw.wait_link(g, timeout=T)
        yield lab
    finally:
        lab.cleanup(keep=request.session.testsfailed > failed_before)


class Exchange:
    """What the given ports receive from here on, and their counters."""

    def __init__(self, lab, ports):
        self.lab = lab
        self.ports = list(ports)
        self.base = {p: len(lab.received(p)) for p in self.ports}
        self.c0 = lab.counters(self.ports)

    def got(self, port):
        return self.lab.received(port)[self.base[port]:]

    def wait(self, want, quiet=QUIET):
        """Wait until every port of @want ({port: frames}) received as
        many frames as listed (ports not listed: none), then for @quiet
        seconds more; return {port: frames received}. The caller compares
        them with what it wants."""
        def enough():
            return all(len(self.got(p)) >= len(want.get(p, ()))
                       for p in self.ports)
        try:
            wait_for(enough, T, interval=0.05, what="frames delivered")
        except TimeoutError:
            pass        # the comparison below shows what is missing
        time.sleep(quiet)
        return {p: self.got(p) for p in self.ports}

    def check(self, want, quiet=QUIET):
        got = self.wait(want, quiet)
        for p in self.ports:
            w = want.get(p, [])
            assert got[p] == w, "port %s received %d frames, wanted %d%s" % (
                p, len(got[p]), len(w), diff(got[p], w))
        return got

    def delta(self):
        """Counters since the start: {port: {counter: delta}} for the
        packet counters and every drop reason."""
        c1 = self.lab.counters(self.ports)
        out = {}
        for p in self.ports:
            d = {k: c1[p][k] - self.c0[p][k] for k in ("rx_pkts", "tx_pkts")}
            for k, v in c1[p]["drops_by_reason"].items():
                d[k] = v - self.c0[p]["drops_by_reason"].get(k, 0)
            out[p] = d
        return out

    def expect(self, **want):
        """Counter deltas: each port's rx_pkts / tx_pkts as given (a
        number or a list of frames; default 0) and every drop reason 0 but
        those named, e.g. expect(a=dict(rx=3, tx=[...], vlan_denied=1))."""
        got = self.delta()
        for p in self.ports:
            w = dict(want.get(p, {}))
            rx, tx = w.pop("rx", 0), w.pop("tx", 0)
            exp = {k: 0 for k in got[p]}
            exp["rx_pkts"] = rx if isinstance(rx, int) else len(rx)
            exp["tx_pkts"] = tx if isinstance(tx, int) else len(tx)
            exp.update(w)
            assert got[p] == exp, "port %s counters" % p
        return got


def diff(got, want):
    """The first difference between two frame lists, for a message."""
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "; first difference at %d:\n got  %s\n want %s" % (
                i, g.hex(), w.hex())
    if len(got) > len(want):
        return "; first extra: %s" % got[len(want)].hex()
    if len(want) > len(got):
        return "; first missing: %s" % want[len(got)].hex()
    return ""


ALL = ("a", "b", "c", TRUNK)


def learn(lab, *names):
    """Each of @names (a, b, c) says hello (a broadcast from its MAC): the
    switch learns it. Returns once the hello reached the other ports of
    the lab in its VLAN (so that it is not taken for a frame of the
    caller's); what else it reaches is the business of the tests that
    care. Ports a test adds get it too, if attached: learn first."""
    vl = {"a": 10, "b": 10, "c": 20}
    for n in names:
        ex = Exchange(lab, ALL)
        lab.feeds[n].send([frame(MAC[n], BCAST)])
        to = [p for p in ALL if p != n and (p == TRUNK or vl[p] == vl[n])]
        wait_for(lambda: all(len(ex.got(p)) == 1 for p in to), T,
                 what="hello from %s at %s" % (n, to))
    fdb = lab.fdb()
    for n in names:
        assert fdb.get((vl[n], MAC[n])) == n, fdb


# --- 1. access ports ---------------------------------------------------------

def test_access_ports_flood_and_unicast_inside_their_vlan(lab):
    """A and B in VLAN 10, C in VLAN 20. A's broadcast, multicast and
    unknown unicast reach B (untagged, exactly) and the trunk (tagged 10),
    never C. After B said hello, A <-> B unicast in every size arrives
    exactly, and nowhere else. C's broadcast reaches only the trunk,
    tagged 20. port/show prints each port's keys; fdb/show has the
    entries with their VLAN."""
    show = lab.counters(ALL)
    for p in "ab":
        assert show[p]["vlan"] == 10 and show[p]["trunks"] is None
        assert show[p]["native"] is None
    assert show["c"]["vlan"] == 20
    assert show[TRUNK]["vlan"] is None
    assert show[TRUNK]["trunks"] == "10:20"
    assert show[TRUNK]["native"] is None
    for p in ALL:
        assert show[p]["max_macs"] == 0 and show[p]["allowed_macs"] == []
        assert show[p]["flood_pps"] == 0

    floods = [frame(MAC["a"], BCAST, 64), frame(MAC["a"], BCAST, 1514),
              frame(MAC["a"], "01:00:5e:00:00:fb", 128),
              frame(MAC["a"], "33:33:00:00:00:01", 512),
              frame(MAC["a"], "02:00:00:0d:99:99", 1000)]
    ex = Exchange(lab, ALL)
    lab.feeds["a"].send(floods)
    ex.check({"b": floods, TRUNK: [tag(f, 10) for f in floods]})
    ex.expect(a=dict(rx=floods), b=dict(tx=floods),
              **{TRUNK: dict(tx=floods)})

    ex = Exchange(lab, ALL)
    hello_b = [frame(MAC["b"], BCAST, 80)]
    lab.feeds["b"].send(hello_b)
    ex.check({"a": hello_b, TRUNK: [tag(f, 10) for f in hello_b]})
    fdb = lab.fdb()
    assert fdb[(10, MAC["a"])] == "a" and fdb[(10, MAC["b"])] == "b", fdb
    entries = [e for e in lab.ctl("fdb/show") if e["mac"].lower() in
               (MAC["a"], MAC["b"])]
    assert sorted((e["vlan"], e["port"]) for e in entries) == \
        [(10, "a"), (10, "b")], entries

    sizes = (60, 64, 128, 512, 1024, 1514)
    a_to_b = [frame(MAC["a"], MAC["b"], s) for s in sizes]
    b_to_a = [frame(MAC["b"], MAC["a"], s) for s in sizes]
    ex = Exchange(lab, ALL)
    lab.feeds["a"].send(a_to_b)
    lab.feeds["b"].send(b_to_a)
    ex.check({"a": b_to_a, "b": a_to_b})
    ex.expect(a=dict(rx=a_to_b, tx=b_to_a), b=dict(rx=b_to_a, tx=a_to_b))

    # C: its broadcast goes to the trunk only, its unicast to A's MAC
    # (which is not in VLAN 20) floods inside VLAN 20: the trunk again.
    from_c = [frame(MAC["c"], BCAST, 100), frame(MAC["c"], MAC["a"], 200)]
    ex = Exchange(lab, ALL)
    lab.feeds["c"].send(from_c)
    ex.check({TRUNK: [tag(f, 20) for f in from_c]})
    ex.expect(c=dict(rx=from_c), **{TRUNK: dict(tx=from_c)})
    assert lab.fdb()[(20, MAC["c"])] == "c"


def test_access_port_drops_tagged_frames(lab):
    """An access port takes untagged frames (and priority-tagged ones: VLAN
    id 0 counts as untagged) and drops 802.1Q frames of any VLAN, even its
    own, counting them vlan_denied. A priority-tagged frame leaves B
    untagged and the trunk tagged 10 with its PCP."""
    learn(lab, "a", "b")
    tagged = [frame(MAC["a"], BCAST, 100, vlan=10),
              frame(MAC["a"], MAC["b"], 100, vlan=10),
              frame(MAC["a"], BCAST, 100, vlan=20),
              frame(MAC["a"], BCAST, 100, vlan=4094, prio=7)]
    ex = Exchange(lab, ALL)
    lab.feeds["a"].send(tagged)
    wait_for(lambda: ex.delta()["a"]["vlan_denied"] >= len(tagged), T,
             what="vlan_denied on a")
    ex.check({}, quiet=QUIET)
    ex.expect(a=dict(rx=tagged, vlan_denied=len(tagged)))

    prio = [frame(MAC["a"], BCAST, 128, vlan=0, prio=5)]
    ex = Exchange(lab, ALL)
    lab.feeds["a"].send(prio)
    f = untag(prio[0])
    ex.check({"b": [f], TRUNK: [tag(f, 10, 5)]})
    ex.expect(a=dict(rx=prio), b=dict(tx=prio), **{TRUNK: dict(tx=prio)})


# --- 2. the trunk ------------------------------------------------------------

def test_trunk_port(lab):
    """net_pcap0 with trunks=10:20: frames tagged 20 arriving on it reach
    only C, untagged (PCP and all: the 4 bytes go), in every size; tagged
    10 reach A and B (broadcast) or A alone (A's MAC); tagged 30,
    untagged (VLAN 0, not listed) and priority-tagged ones (VLAN 0 too)
    are dropped, counted vlan_denied. A's frames leave the trunk tagged
    10 with PCP 0 (checked in the first test too)."""
    learn(lab, "a", "b", "c")
    sizes = (64, 65, 128, 1000, 1518)
    t20 = [frame(MAC["t"], BCAST, s, vlan=20, prio=i % 8)
           for i, s in enumerate(sizes)]
    t20 += [frame(MAC["t"], MAC["c"], s, vlan=20, prio=3) for s in sizes]
    t20 += [frame(MAC["t"], "02:00:00:0d:99:98", 200, vlan=20)]
    ex = Exchange(lab, ALL)
    lab.feeds["t"].send(t20)
    ex.check({"c": [untag(f) for f in t20]})
    ex.expect(c=dict(tx=t20), **{TRUNK: dict(rx=t20)})
    assert lab.fdb()[(20, MAC["t"])] == TRUNK

    t10 = [frame(MAC["t"], BCAST, 100, vlan=10, prio=6),
           frame(MAC["t"], MAC["a"], 300, vlan=10)]
    ex = Exchange(lab, ALL)
    lab.feeds["t"].send(t10)
    ex.check({"a": [untag(f) for f in t10], "b": [untag(t10[0])]})
    ex.expect(a=dict(tx=2), b=dict(tx=1), **{TRUNK: dict(rx=t10)})
    fdb = lab.fdb()
    assert fdb[(10, MAC["t"])] == TRUNK and fdb[(20, MAC["t"])] == TRUNK

    denied = [frame(MAC["t"], BCAST, 100, vlan=30),
              frame(MAC["t"], MAC["c"], 100, vlan=30),
              frame(MAC["t"], BCAST, 100),
              frame(MAC["t"], MAC["a"], 100),
              frame(MAC["t"], BCAST, 100, vlan=0, prio=4),
              frame(MAC["t"], BCAST, 100, vlan=4094)]
    ex = Exchange(lab, ALL)
    lab.feeds["t"].send(denied)
    wait_for(lambda: ex.delta()[TRUNK]["vlan_denied"] >= len(denied), T,
             what="vlan_denied on the trunk")
    ex.check({})
    ex.expect(**{TRUNK: dict(rx=denied, vlan_denied=len(denied))})
    # What the trunk denied, it did not learn.
    assert (30, MAC["t"]) not in lab.fdb() and (0, MAC["t"]) not in lab.fdb()


def test_trunk_native_vlan_at_run_time(lab):
    """port/set net_pcap0 native=20: the trunk's untagged (and
    priority-tagged) frames belong to VLAN 20 and reach C; C's frames
    leave the trunk untagged; tagged 20 still pass. native=none and the
    trunk drops untagged frames again; trunks=10 and VLAN 20 is gone from
    it (tagged 20 denied, C's broadcast goes nowhere)."""
    learn(lab, "c")
    try:
        r = lab.ctl("port/set", TRUNK, "native=20")
        assert r["id"] == lab.ctl("port/show", TRUNK)["id"]
        assert r["name"] == TRUNK and r["native"] == 20, r
        assert r["trunks"] == "10:20", r
        show = lab.ctl("port/show", TRUNK)
        assert show["native"] == 20 and show["trunks"] == "10:20"

        untagged = [frame(MAC["t"], BCAST, 90),
                    frame(MAC["t"], MAC["c"], 91),
                    frame(MAC["t"], BCAST, 92, vlan=0, prio=2),
                    frame(MAC["t"], MAC["c"], 93, vlan=20, prio=1)]
        ex = Exchange(lab, ALL)
        lab.feeds["t"].send(untagged)
        ex.check({"c": untagged[:2] + [untag(f) for f in untagged[2:]]})
        ex.expect(c=dict(tx=4), **{TRUNK: dict(rx=untagged)})

        from_c = [frame(MAC["c"], BCAST, 94), frame(MAC["c"], MAC["t"], 95)]
        ex = Exchange(lab, ALL)
        lab.feeds["c"].send(from_c)
        ex.check({TRUNK: from_c})
        ex.expect(c=dict(rx=from_c), **{TRUNK: dict(tx=from_c)})

        r = lab.ctl("port/set", TRUNK, "native=none")
        assert r["native"] is None and r["trunks"] == "10:20", r
        ex = Exchange(lab, ALL)
        again = [frame(MAC["t"], BCAST, 96)]
        lab.feeds["t"].send(again)
        wait_for(lambda: ex.delta()[TRUNK]["vlan_denied"] >= 1, T,
                 what="vlan_denied on the trunk")
        ex.check({})
        ex.expect(**{TRUNK: dict(rx=again, vlan_denied=1)})

        r = lab.ctl("port/set", TRUNK, "trunks=10")
        assert r["trunks"] == "10", r
        ex = Exchange(lab, ALL)
        t20 = [frame(MAC["t"], MAC["c"], 97, vlan=20)]
        lab.feeds["t"].send(t20)
        c_bc = [frame(MAC["c"], BCAST, 98)]
        lab.feeds["c"].send(c_bc)
        wait_for(lambda: ex.delta()["c"]["rx_pkts"] >= 1, T, what="c rx")
        ex.check({})
        d = ex.delta()
        assert d[TRUNK]["vlan_denied"] == 1 and d[TRUNK]["rx_pkts"] == 1
        # C alone in VLAN 20: its broadcast has no destination.
        assert d["c"]["rx_pkts"] == 1 and d["c"]["no_dest"] == 1, d
    finally:
        lab.ctl("port/set", TRUNK, "trunks=10:20", "native=none")
    show = lab.ctl("port/show", TRUNK)
    assert show["trunks"] == "10:20" and show["native"] is None


# --- 3. one MAC, two VLANs ---------------------------------------------------

def test_same_mac_in_two_vlans(lab):
    """MAC X behind A (VLAN 10) and behind the trunk in VLAN 20: two
    entries, each forwarding in its VLAN (B -> X reaches A only; C -> X
    the trunk only, tagged 20). fdb/del X 10 removes one of them;
    fdb/add X c 20 makes a static one in VLAN 20."""
    x = MAC["x"]
    learn(lab, "b", "c")
    hello = [frame(x, BCAST, 70)]
    lab.feeds["a"].send(hello)
    hello_t = [frame(x, BCAST, 71, vlan=20)]
    lab.feeds["t"].send(hello_t)
    wait_for(lambda: {(10, x), (20, x)} <= set(lab.fdb()), T,
             what="X learned in VLANs 10 and 20")
    fdb = lab.fdb()
    assert fdb[(10, x)] == "a" and fdb[(20, x)] == TRUNK, fdb
    assert len([e for e in lab.ctl("fdb/show")
                if e["mac"].lower() == x]) == 2

    b_to_x = [frame(MAC["b"], x, s) for s in (64, 700, 1514)]
    c_to_x = [frame(MAC["c"], x, s) for s in (64, 700, 1514)]
    ex = Exchange(lab, ALL)
    lab.feeds["b"].send(b_to_x)
    lab.feeds["c"].send(c_to_x)
    ex.check({"a": b_to_x, TRUNK: [tag(f, 20) for f in c_to_x]})
    ex.expect(a=dict(tx=b_to_x), b=dict(rx=b_to_x), c=dict(rx=c_to_x),
              **{TRUNK: dict(tx=c_to_x)})

    lab.ctl("fdb/del", x, "10")
    fdb = lab.fdb()
    assert (10, x) not in fdb and fdb[(20, x)] == TRUNK, fdb
    # Unknown again in VLAN 10: flooded there (A and the trunk, tagged 10).
    once = [frame(MAC["b"], x, 80)]
    ex = Exchange(lab, ALL)
    lab.feeds["b"].send(once)
    ex.check({"a": once, TRUNK: [tag(once[0], 10)]})

    lab.ctl("fdb/add", x, "c", "20")
    fdb = lab.fdb()
    assert fdb[(20, x)] == "c" and (10, x) not in fdb, fdb
    st = [e for e in lab.ctl("fdb/show") if e["mac"].lower() == x]
    assert [(e["vlan"], e["port"], e["type"]) for e in st] == \
        [(20, "c", "static")], st
    to_x = [frame(MAC["t"], x, 81, vlan=20, prio=7)]
    ex = Exchange(lab, ALL)
    lab.feeds["t"].send(to_x)
    ex.check({"c": [untag(to_x[0])]})
    lab.ctl("fdb/del", x, "20")
    assert not [k for k in lab.fdb() if k[1] == x]


# --- 5. spoofing -------------------------------------------------------------

OK1, OK2, OTHER = "02:00:00:0d:00:51", "02:00:00:0d:00:52", \
    "02:00:00:0d:00:53"


def add_port(lab, name, *keys):
    """port/add at run time with keys; the port's guest is the caller's."""
    lab.ctl("port/add", lab.wd.sock(name), "name=%s" % name, *keys)
    return lab.ctl("port/show", name)


def del_port(lab, name):
    g = lab.guests.pop(name, None)
    if g is not None:
        g.stop()
    try:
        lab.ctl("port/del", name)
    except ctlclient.RpcError:
        pass


def test_allowed_macs_stop_spoofing(lab):
    """A port with allowed-macs=OK1+OK2: frames from any other source MAC,
    A's and B's included, go nowhere (src_denied) and move no entry; the
    allowed ones are forwarded. allowed-macs=none at run time lets the
    others through."""
    ports = ALL + ("s",)
    try:
        show = add_port(lab, "s", "vlan=10", "allowed-macs=%s+%s" % (
            OK1, OK2.upper()))
        assert [m.lower() for m in show["allowed_macs"]] == [OK1, OK2]
        assert show["vlan"] == 10
        learn(lab, "a", "b")
        feed = lab.feeds.get("s") or lab.feed("s")
        lab.guest("s", feed=feed).launch().ready().send()
        lab.sw.wait_link("s", timeout=T)

        spoofed = [frame(MAC["a"], BCAST, 64), frame(MAC["a"], MAC["b"], 64),
                   frame(MAC["b"], MAC["a"], 300), frame(OTHER, BCAST, 64),
                   frame(OTHER, MAC["a"], 1514),
                   frame(MAC["a"], BCAST, 64, vlan=0)]
        allowed = [frame(OK1, BCAST, 128), frame(OK2, MAC["b"], 256)]
        ex = Exchange(lab, ports)
        lab.feeds["s"].send(spoofed + allowed)
        ex.check({"a": allowed[:1], "b": allowed,
                  TRUNK: [tag(allowed[0], 10)]})
        ex.expect(s=dict(rx=spoofed + allowed, src_denied=len(spoofed)),
                  a=dict(tx=1), b=dict(tx=2), **{TRUNK: dict(tx=1)})
        fdb = lab.fdb()
        assert fdb[(10, MAC["a"])] == "a" and fdb[(10, MAC["b"])] == "b"
        assert fdb[(10, OK1)] == "s" and fdb[(10, OK2)] == "s"
        assert (10, OTHER) not in fdb, fdb

        r = lab.ctl("port/set", "s", "allowed-macs=none")
        assert r["allowed_macs"] == [] and r["name"] == "s", r
        other = [frame(OTHER, BCAST, 100)]
        ex = Exchange(lab, ports)
        lab.feeds["s"].send(other)
        ex.check({"a": other, "b": other, TRUNK: [tag(other[0], 10)]})
        assert lab.fdb()[(10, OTHER)] == "s"
    finally:
        del_port(lab, "s")
    assert not [k for k, p in lab.fdb().items() if p == "s"]


# --- 4. MAC flooding ---------------------------------------------------------

ATTACK_MACS = 100000
MAX_MACS = 16


def attack_frames(n):
    """@n frames from n different random unicast source MACs, all to the
    first of them: once that one is learned on the attacker's port, every
    frame is known unicast back to where it came from (a same_port drop),
    so the attack floods no other port and the exact checks stay exact."""
    rnd = random.Random(13)
    taken = {mac_bytes(m) for m in MAC.values()}
    macs = []
    while len(macs) < n:
        m = bytes([0x02]) + rnd.getrandbits(40).to_bytes(5, "big")
        if m not in taken:
            taken.add(m)
            macs.append(m)
    body = bytes(frame("02:00:00:00:00:01", BCAST, 64))[12:]
    return [macs[0] + m + body for m in macs]


def test_mac_flooding_attack(lab):
    """A guest on a port with max-macs=16 sends frames from 100,000
    random source MACs while A and B exchange unicast: A's and B's entries
    stay, their unicast arrives exactly and never reaches the attacker,
    the table holds 16 of the attacker's MACs, port/show counts the rest
    as mac_limit (they are still forwarded: here, back to their own port,
    same_port)."""
    ports = ALL + ("m",)
    frames = attack_frames(ATTACK_MACS)
    srcs = {src_of(f) for f in frames}
    try:
        show = add_port(lab, "m", "vlan=10", "max-macs=%d" % MAX_MACS)
        assert show["max_macs"] == MAX_MACS and show["macs"] == 0
        assert show["mac_limit"] == 0
        learn(lab, "a", "b")
        m = lab.guest("m", frames=frames).launch()
        m.ready()
        # Retry towards a full ring instead of dropping: all 100,000 go.
        m.cmd("set fwd io retry")
        m.cmd("set burst tx delay 20 retry 500")
        lab.sw.wait_link("m", timeout=T)
        ex = Exchange(lab, ports)
        a_to_b, b_to_a = [], []

        def round_trip(k):
            ab = [frame(MAC["a"], MAC["b"], 64 + 50 * (i % 20))
                  for i in range(k)]
            ba = [frame(MAC["b"], MAC["a"], 64 + 50 * (i % 20))
                  for i in range(k)]
            a_to_b.extend(ab)
            b_to_a.extend(ba)
            lab.feeds["a"].send(ab)
            lab.feeds["b"].send(ba)

        m.send()
        during, last, still = 0, -1, time.monotonic()
        end = time.monotonic() + T
        while time.monotonic() < end:
            rx = lab.ctl("port/show", "m")["rx_pkts"]
            if rx >= ATTACK_MACS or (rx == last and
                                     time.monotonic() - still > 1.0):
                break
            if rx != last:
                last, still = rx, time.monotonic()
            if rx > 0:
                during += 1
            round_trip(10)
        round_trip(20)
        got = ex.check({"a": b_to_a, "b": a_to_b})
        assert got["m"] == []
        c = lab.ctl("port/show", "m")
        rx = c["rx_pkts"]
        print("attack: %d of %d frames entered the switch; %d rounds of A "
              "<-> B unicast during it" % (rx, ATTACK_MACS, during))
        assert rx >= ATTACK_MACS // 2, "the attack did not happen"
        assert c["macs"] == MAX_MACS, c
        assert c["mac_limit"] == rx - MAX_MACS, c
        ex.expect(m=dict(rx=rx, same_port=rx),
                  a=dict(rx=a_to_b, tx=b_to_a), b=dict(rx=b_to_a, tx=a_to_b))
        fdb = lab.fdb()
        on_m = [k for k, p in fdb.items() if p == "m"]
        assert len(on_m) == MAX_MACS, on_m
        assert all(v == 10 and mac in srcs for v, mac in on_m), on_m
        assert (10, src_of(frames[0])) in on_m
        assert fdb[(10, MAC["a"])] == "a" and fdb[(10, MAC["b"])] == "b"
    finally:
        del_port(lab, "m")
    assert not [k for k, p in lab.fdb().items() if p == "m"]


# --- 6. broadcast storm ------------------------------------------------------

FLOOD_PPS = 1000
WINDOW = 5.0


def test_broadcast_storm(lab):
    """A guest sends broadcasts as fast as it can (testpmd looping over a
    pcap) on a port with flood-pps=1000: over 5 s, A, B and the trunk each
    receive 1000/s +-20 % of them (counted by the timestamps net_pcap
    writes in their pcaps), the sender sent far more, the rest is counted
    storm; A <-> B unicast sent during the storm arrives exactly; C sees
    nothing."""
    ports = ALL + ("st",)
    st_mac = "02:00:00:0d:00:57"
    storm = [frame(st_mac, BCAST, 64) for _ in range(16)]
    a_to_b, b_to_a = [], []
    try:
        show = add_port(lab, "st", "vlan=10", "flood-pps=%d" % FLOOD_PPS)
        assert show["flood_pps"] == FLOOD_PPS
        learn(lab, "a", "b")
        g = lab.guest("st", loop=True, frames=storm).launch()
        g.ready()
        lab.sw.wait_link("st", timeout=T)
        ex = Exchange(lab, ports)
        g.send()
        # Past the token bucket's initial burst, whatever its depth.
        time.sleep(1.5)
        c0, w0 = lab.counters(["st"])["st"], time.time()
        while time.time() - w0 < WINDOW:
            ab = [frame(MAC["a"], MAC["b"], 64 + 40 * i) for i in range(10)]
            ba = [frame(MAC["b"], MAC["a"], 64 + 40 * i) for i in range(10)]
            a_to_b.extend(ab)
            b_to_a.extend(ba)
            lab.feeds["a"].send(ab)
            lab.feeds["b"].send(ba)
            time.sleep(0.25)
        c1, w1 = lab.counters(["st"])["st"], time.time()
        g.stop()
        got = ex.wait({"a": b_to_a, "b": a_to_b}, quiet=1.0)
        sent = c1["rx_pkts"] - c0["rx_pkts"]
        fwd = sent - (c1["drops_by_reason"]["storm"] -
                      c0["drops_by_reason"]["storm"])
        rates = {}
        for p in ("a", "b", TRUNK):
            out = lab.trunk_out if p == TRUNK else lab.guests[p].out
            ts = [t for t, f in pcap_read(out, times=True)[ex.base[p]:]
                  if src_of(f) == st_mac]
            rates[p] = len([t for t in ts if w0 <= t < w1]) / (w1 - w0)
        print("storm: sender %.0f frames/s into the switch, %.0f/s "
              "forwarded; received per second: %s" % (
                  sent / (w1 - w0), fwd / (w1 - w0),
                  {p: round(r) for p, r in rates.items()}))
        for p, r in rates.items():
            assert 0.8 * FLOOD_PPS <= r <= 1.2 * FLOOD_PPS, rates
        assert 0.8 * FLOOD_PPS <= fwd / (w1 - w0) <= 1.2 * FLOOD_PPS
        assert sent >= 10 * fwd, "the sender sent %d, %d forwarded" % (
            sent, fwd)
        assert got["c"] == [] and got["st"] == []
        d = ex.delta()
        total = d["st"]["rx_pkts"] - d["st"]["storm"]
        for p, uni in (("a", b_to_a), ("b", a_to_b), (TRUNK, [])):
            # Unicast between A and B: all of it, in order.
            assert [f for f in got[p] if src_of(f) != st_mac] == uni, p
            # Every storm frame forwarded reached each of them, as sent.
            mine = [f for f in got[p] if src_of(f) == st_mac]
            assert len(mine) == total, (p, len(mine), total)
            assert set(mine) <= set(tag(s, 10) if p == TRUNK else s
                                    for s in storm), p
            assert d[p]["tx_pkts"] == total + len(uni), (p, d[p])
        for p in ports:
            assert {k: v for k, v in d[p].items()
                    if k not in ("rx_pkts", "tx_pkts", "storm")} == \
                {k: 0 for k in d[p] if k not in ("rx_pkts", "tx_pkts",
                                                  "storm")}, (p, d[p])
    finally:
        del_port(lab, "st")


def test_lab_switch_stops_cleanly(lab):
    """After all of the above: SIGTERM stops the lab's switch with exit 0,
    and a sanitizer build reported nothing."""
    for g in lab.guests.values():
        g.stop()
    assert lab.sw.stop() == 0
    out = lab.sw.output()
    assert "AddressSanitizer" not in out and "runtime error:" not in out, \
        out[-3000:]


# --- 8. malformed keys -------------------------------------------------------

EAL = ["--no-huge", "-m", "256", "--no-pci", "--vdev", "net_null0"]

# (key=value, what the message names: the value, or the item of it that
# is wrong)
BAD_KEYS = [
    ("vlan=0", "invalid vlan '0'"), ("vlan=4095", "invalid vlan '4095'"),
    ("vlan=5000", "invalid vlan '5000' (1..4094 or none)"),
    ("vlan=-1", "invalid vlan '-1'"), ("vlan=10x", "invalid vlan '10x'"),
    ("vlan=", "invalid vlan ''"), ("vlan=0x10", "invalid vlan '0x10'"),
    ("vlan=99999999999999999999", "invalid vlan '99999999999999999999'"),
    ("trunks=4095", "invalid trunks '4095'"),
    ("trunks=10-4095", "invalid trunks '10-4095'"),
    ("trunks=20-10", "invalid trunks '20-10'"),
    ("trunks=10:", "invalid trunks '10:'"),
    ("trunks=:10", "invalid trunks ':10'"),
    ("trunks=10::20", "invalid trunks '10::20'"),
    ("trunks=10--20", "invalid trunks '10--20'"),
    ("trunks=a", "invalid trunks 'a'"), ("trunks=", "invalid trunks ''"),
    ("trunks=10,20", None),     # ',' separates keys: '20' is no key
    ("native=0", "invalid native '0'"),
    ("native=4095", "invalid native '4095'"),
    ("native=x", "invalid native 'x'"),
    ("max-macs=-1", "invalid max-macs '-1'"),
    ("max-macs=many", "invalid max-macs 'many'"),
    ("max-macs=", "invalid max-macs ''"),
    ("max-macs=99999999999999999999",
     "invalid max-macs '99999999999999999999'"),
    ("allowed-macs=02:00:00:00:00", "02:00:00:00:00"),
    ("allowed-macs=02:00:00:00:00:01+", "allowed-macs"),
    ("allowed-macs=02:00:00:00:00:01+zz:00:00:00:00:02",
     "zz:00:00:00:00:02"),
    ("allowed-macs=", "allowed-macs"),
    ("allowed-macs=" + "+".join("02:00:00:00:01:%02x" % i
                                for i in range(17)), "allowed-macs"),
    ("flood-pps=-5", "invalid flood-pps '-5'"),
    ("flood-pps=fast", "invalid flood-pps 'fast'"),
    ("flood-pps=1.5", "invalid flood-pps '1.5'"),
]
CONFLICTS = [
    (("vlan=10", "trunks=10"), "vlan= and trunks= exclude each other"),
    (("trunks=10", "vlan=10"), "vlan= and trunks= exclude each other"),
    (("vlan=10", "native=10"), "vlan= and native= exclude each other"),
]


def start_error(args, timeout=20):
    """Start the switch with @args, which it must refuse: exit 2 and one
    "vhost-switch: ..." line on stderr. (True, that line), or (False,
    what happened instead)."""
    argv = [vstest.SWITCH_BIN, "-l", "0,1", "--file-prefix",
            "vs" + vstest.uid()] + EAL + ["--"] + args
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, "accepted: still running after %ds" % timeout
    err = p.stderr.decode(errors="replace")
    lines = [ln for ln in err.splitlines() if ln.startswith("vhost-switch:")]
    if p.returncode == 2 and len(lines) == 1:
        return True, lines[0]
    return False, "exit %s, stderr:\n    %s" % (p.returncode, "\n    ".join(
        ln for ln in err.splitlines()[-4:] if not ln.startswith("EAL:")))


def test_malformed_keys_at_start(tmp_path):
    """Each malformed key, in --port (an ethdev and a vhost port by name),
    in --vhost and in [port.NAME] / [vhost.NAME]: exit 2 and one line
    naming the option as given and what is wrong with it."""
    n = iter(range(1000))

    def sockpath():
        """A socket path per case: the cases run side by side."""
        return str(tmp_path / ("v%d.sock" % next(n)))

    cases = []
    for kv, msg in BAD_KEYS:
        sock = sockpath()
        # (the switch may shorten a long option in its message)
        cases.append((["--port", "net_null0," + kv],
                      ["--port '%s" % ("net_null0," + kv)[:60], msg]))
        cases.append((["--vhost", "%s,name=v,%s" % (sock, kv)],
                      ["--vhost '%s,name=v,%s'" % (sock, kv), msg]))
    for kvs, msg in CONFLICTS:
        opt = "net_null0," + ",".join(kvs)
        cases.append((["--port", opt], ["--port '%s'" % opt, msg]))
        opt = "%s,name=v,%s" % (sockpath(), ",".join(kvs))
        cases.append((["--vhost", opt], ["--vhost '%s'" % opt, msg]))
        # the keys split over two --port options of the same port
        cases.append((["--vhost", sockpath() + ",name=v", "--port",
                       "v," + kvs[0], "--port", "v," + kvs[1]], [msg]))
    for i, (kv, msg) in enumerate(BAD_KEYS[::3] + [
            ("vlan=10\ntrunks=20", CONFLICTS[0][1])]):
        k, _, v = kv.partition("=")
        ini = tmp_path / ("bad%d.ini" % i)
        ini.write_text("[port.net_null0]\n%s = %s\n" % (k, v))
        cases.append((["--config", str(ini)], [str(ini), "[port.net_null0]",
                                               msg]))
        ini = tmp_path / ("badv%d.ini" % i)
        ini.write_text("[vhost.v]\npath = %s\n%s = %s\n" % (sockpath(), k,
                                                             v))
        cases.append((["--config", str(ini)], [str(ini), "[vhost.v]", msg]))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda c: start_error(c[0]), cases))
    bad = ["%s:\n  %s\n  wanted %s" % (" ".join(args), line, want)
           for (args, want), (ok, line) in zip(cases, got)
           if not ok or not all(w is None or w in line for w in want)]
    assert not bad, "\n".join(bad)
    assert not list(tmp_path.glob("*.sock"))


SIXTEEN = ["02:00:00:00:01:%02x" % i for i in range(16)]
GOOD = [
    # (keys, what port/show prints)
    (["vlan=4094"], dict(vlan=4094, trunks=None, native=None)),
    (["vlan=none"], dict(vlan=None, trunks=None, native=None)),
    (["trunks=0-4094"], dict(vlan=None, trunks="0-4094", native=None)),
    (["trunks=10-20:30", "native=1"], dict(trunks="10-20:30", native=1)),
    (["trunks=none", "native=none"], dict(trunks=None, native=None)),
    (["trunks=0"], dict(trunks="0", native=None)),
    (["max-macs=0", "flood-pps=0"], dict(max_macs=0, flood_pps=0)),
    (["max-macs=100000", "flood-pps=14880952"],
     dict(max_macs=100000, flood_pps=14880952)),
    (["allowed-macs=02:00:00:00:00:0A+02:00:00:00:00:0b"],
     dict(allowed_macs=["02:00:00:00:00:0a", "02:00:00:00:00:0b"])),
    (["allowed-macs=none"], dict(allowed_macs=[])),
]
KEYS = ("vlan", "trunks", "native", "max_macs", "allowed_macs", "flood_pps")


def shown(d, keys=KEYS):
    out = {k: d[k] for k in keys}
    if out.get("allowed_macs"):
        out["allowed_macs"] = [m.lower() for m in out["allowed_macs"]]
    return out


class Ctl:
    def __init__(self, path):
        self.path = path

    def __call__(self, *a):
        return ctlclient.call(self.path, *a)

    def error(self, *a):
        """The RpcError of a call that must fail."""
        try:
            r = ctlclient.call(self.path, *a)
        except ctlclient.RpcError as e:
            return e
        raise AssertionError("%s succeeded: %s" % (a, r))


def test_keys_at_start(env):
    """The keys in --vhost (several, then more in --port), --port (an
    ethdev) and the config file ([port.NAME], [vhost.NAME]): port/show
    prints them, with no MAC learned and no drop yet."""
    ini = env.file("vs.ini")
    with open(ini, "w") as f:
        f.write("[port.net_null0]\ntrunks = 10-20:30\nnative = 5\n"
                "max-macs = 3\n\n[vhost.w]\npath = %s\nvlan = 7\n"
                "allowed-macs = 02:00:00:00:00:01+02:00:00:00:00:02\n"
                "flood-pps = 50\n" % env.sock("w"))
    ctl = Ctl(env.file("ctl"))
    sw = env.switch(eal=["--vdev", "net_null0", "--vdev", "net_null1"],
                    args=["--ctl", ctl.path, "--config", ini,
                          "--vhost", env.sock("v") + ",name=v,vlan=3,"
                          "max-macs=8,allowed-macs=02:00:00:00:00:03",
                          "--port", "v,flood-pps=100",
                          "--port", "net_null1,vlan=none"]).start()
    assert shown(ctl("port/show", "net_null0")) == dict(
        vlan=None, trunks="10-20:30", native=5, max_macs=3, allowed_macs=[],
        flood_pps=0)
    assert shown(ctl("port/show", "w")) == dict(
        vlan=7, trunks=None, native=None, max_macs=0,
        allowed_macs=["02:00:00:00:00:01", "02:00:00:00:00:02"],
        flood_pps=50)
    assert shown(ctl("port/show", "v")) == dict(
        vlan=3, trunks=None, native=None, max_macs=8,
        allowed_macs=["02:00:00:00:00:03"], flood_pps=100)
    assert shown(ctl("port/show", "net_null1")) == dict(
        vlan=None, trunks=None, native=None, max_macs=0, allowed_macs=[],
        flood_pps=0)
    for p in ("v", "w"):
        v = ctl("port/show", p)
        assert (v["macs"], v["mac_limit"]) == (0, 0)
        for k in ("vlan_denied", "src_denied", "storm"):
            assert v["drops_by_reason"][k] == 0
    assert sw.stop() == 0


def test_allowed_macs_takes_sixteen(env):
    """allowed-macs takes up to 16 MACs, at start and at run time."""
    ctl = Ctl(env.file("ctl"))
    env.switch(eal=["--vdev", "net_null0"],
               args=["--ctl", ctl.path, "--port", "net_null0,allowed-macs=" +
                     "+".join(SIXTEEN)]).start()
    assert shown(ctl("port/show", "net_null0"))["allowed_macs"] == SIXTEEN
    ctl("port/set", "net_null0", "allowed-macs=none")
    r = ctl("port/set", "net_null0", "allowed-macs=" + "+".join(SIXTEEN))
    assert shown(r)["allowed_macs"] == SIXTEEN


def test_keys_at_run_time(env):
    """port/set changes the keys at run time and answers with them;
    a malformed one (or a conflict) is -32602 with the same message and
    leaves the port as it was; port/add takes the keys, and adds no port
    when one is malformed."""
    ctl = Ctl(env.file("ctl"))
    sw = env.switch(eal=["--vdev", "net_null0"],
                    args=["--ctl", ctl.path,
                          "--vhost", env.sock("v") + ",name=v"]).start()
    for keys, want in GOOD:
        for port in ("net_null0", "v"):
            # (one key of each kind per call: whether vlan= replaces
            # trunks= or conflicts with it is not this test's business)
            ctl("port/set", port, "vlan=none")
            ctl("port/set", port, "trunks=none", "native=none")
            r = ctl("port/set", port, *keys)
            assert r["id"] == ctl("port/show", port)["id"], r
            assert r["name"] == port
            assert shown(r, want) == want, (port, keys, r)
            assert shown(ctl("port/show", port), want) == want

    # Malformed, and conflicting: refused, nothing changed.
    ctl("port/set", "v", "trunks=none", "native=none")
    ctl("port/set", "v", "vlan=3", "max-macs=8", "flood-pps=100",
        "allowed-macs=none")
    before = shown(ctl("port/show", "v"))
    bad = [([kv], msg) for kv, msg in BAD_KEYS
           if msg and "," not in kv and len(kv) < 200] + \
        [(list(kvs), msg) for kvs, msg in CONFLICTS] + \
        [(["max-macs=2", "vlan=0"], "invalid vlan '0'")]
    wrong = []
    for keys, msg in bad:
        e = ctl.error("port/set", "v", *keys)
        if e.code != -32602 or msg not in e.message:
            wrong.append("port/set v %s: %d %s" % (keys, e.code, e.message))
    assert not wrong, "\n".join(wrong)
    assert shown(ctl("port/show", "v")) == before

    n = len(ctl("port/list"))
    for keys, msg in bad[::4]:
        e = ctl.error("port/add", env.sock("x"), "name=x", *keys)
        assert e.code == -32602 and msg in e.message, (keys, e)
        assert not os.path.exists(env.sock("x"))
    assert len(ctl("port/list")) == n
    ctl("port/add", env.sock("x"), "name=x", "trunks=1-3:9", "native=2",
        "max-macs=1", "allowed-macs=02:00:00:00:00:09", "flood-pps=7")
    assert shown(ctl("port/show", "x")) == dict(
        vlan=None, trunks="1-3:9", native=2, max_macs=1,
        allowed_macs=["02:00:00:00:00:09"], flood_pps=7)
    assert sw.stop() == 0
