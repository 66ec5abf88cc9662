# SPDX-License-Identifier: BSD-3-Clause
"""VXLAN over an IPv6 underlay (SPEC section 11): vhost-switch and a Linux
kernel vxlan device, neighbour discovery instead of ARP.

  namespace G ("guest")        root namespace          namespace L ("host 2")
  tap (net_tap0 of the         vhost-switch            vx0: vxlan id 42 local
  switch, moved into G)          vx42: VNI 42, local     fd00:201::2 remote
  fd42::1/64, 10.42.6.1/24       fd00:201::1, remote     fd00:201::1 dstport
  MTU 1430 (the tunnel's)        fd00:201::2, via        4789, fd42::2/64,
                                 net_af_packet0          10.42.6.2/24;
                                 (veth A) ============== veth B fd00:201::2/64

The guest side is a net_tap port in its own namespace: a real Linux stack,
the cheapest one. The Linux side verifies every UDP checksum (rx checksum
offload off on veth B: a veth would otherwise mark the switch's frames
checked), so a transfer that completes proves the switch's checksums.
"""
import os
import random
import socket
import struct
import subprocess
import time

import pytest
from scapy.all import (Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, ICMPv6ND_NA, ICMPv6ND_NS,
                       ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, Raw, UDP)
from scapy.layers.vxlan import VXLAN

import ctlclient
import vstest
from test_cli import run as run_cli
from test_ethdev import PING, PYTHON, sh
from test_tap_offload import file_md5, pcap_frame_lengths, telemetry
from test_vxlan import SENDER, BigSniffer, read_frames, stop, write_frames
from vstest import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="network namespaces need root")

T = 60
MAC_A = "02:42:06:00:00:01"      # the switch's veth (net_af_packet0)
MAC_B = "02:42:06:00:00:02"      # the namespace's veth
MAC_VX0 = "02:42:06:00:00:42"
MAC_TAP = "02:42:06:00:00:a0"    # net_tap0's DPDK side
MAC_G = "02:42:06:00:00:a1"      # the kernel's end of the tap, in G
FUZZ_SRC = "02:42:0c:"           # inner source MACs of the malformed frames
UL1, UL2 = "fd00:201::1", "fd00:201::2"
IP6_G, IP6_VX0 = "fd42::1", "fd42::2"
IP_G, IP_VX0 = "10.42.6.1", "10.42.6.2"
VNI, PORT = 42, 4789
UL_MTU = 1500
TUN_MTU = UL_MTU - 70
BLOB_MB = 8
XFER_PORT = 5001
DROPS = ("bad_vni", "bad_header", "bad_csum", "ext_header", "nd_invalid",
         "fragment", "runt", "unknown_remote", "not_vtep")

# ping over ICMPv6 (no ping binary here): the kernel computes and checks
# the ICMPv6 checksums of a raw ICMPv6 socket (RFC 3542 3.1).
PING6 = r"""
import os, socket, struct, sys, time
dst, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.settimeout(20)
ident, got = os.getpid() & 0xffff, 0
for seq in range(1, count + 1):
    data = b"vhost-switch ping6 %04d" % seq + bytes(range(42))
    s.sendto(struct.pack("!BBHHH", 128, 0, 0, ident, seq) + data, (dst, 0))
    while True:
        r = s.recv(4096)
        if r[0] == 129 and r[4:8] == struct.pack("!HH", ident, seq) and \
                r[8:] == data:
            got += 1
            break
    time.sleep(0.1)
print("%d received" % got)
"""

# One TCP connection: "serve FILE" sends the file to the first client;
# "fetch HOST FILE" writes what it receives to FILE.
XFER = r"""
import socket, sys
port = %d
if sys.argv[1] == "serve":
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(1)
    print("listening", flush=True)
    c, _ = s.accept()
    with open(sys.argv[2], "rb") as f:
        c.sendall(f.read())
    c.close()
else:
    c = socket.create_connection((sys.argv[2], port), timeout=60)
    with open(sys.argv[3], "wb") as f:
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            f.write(b)
""" % XFER_PORT


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def check_outer(f, dst=UL2, vni=VNI, hlim=64, dport=PORT):
    """@f, a VXLAN frame from the switch, as an IPv6 VTEP must send it
    (AssertionError otherwise): Ethernet MAC_A -> MAC_B, IPv6 version 6,
    traffic class 0, a flow label, no extension header, hop limit @hlim,
    UL1 -> @dst, payload length consistent; UDP to @dport from
    49152..65535, length consistent, checksum non-zero and right; VXLAN
    flags 0x08, @vni. Returns the inner frame."""
    what = "VXLAN frame %s" % f[:90].hex()
    e = Ether(f)
    assert (e.src, e.dst, e.type) == (MAC_A, MAC_B, 0x86dd), what
    vtc, plen, nh, hl = struct.unpack("!IHBB", f[14:22])
    assert vtc >> 28 == 6 and (vtc >> 20) & 0xff == 0, what
    assert vtc & 0xfffff != 0, "flow label: " + what
    assert (nh, hl, plen) == (17, hlim, len(f) - 54), what
    assert e[IPv6].src == UL1 and e[IPv6].dst == dst, what
    sport, dp, ulen, ucsum = struct.unpack("!HHHH", f[54:62])
    assert dp == dport and 49152 <= sport and ulen == plen, what
    assert ucsum != 0, what
    pseudo = f[22:54] + struct.pack("!IxxxB", plen, 17)
    assert csum(pseudo + f[54:]) == 0xffff, "UDP checksum: " + what
    assert f[62:70] == struct.pack("!B3xI", 0x08, vni << 8), what
    return f[70:]


class Lab:
    def __init__(self):
        self.wd = vstest.Workdir()
        u = vstest.uid()[:5]
        self.ns_l = "vsn%s6l" % u
        self.ns_g = "vsn%s6g" % u
        self.va = "vs%s6a" % u
        self.vb = "vs%s6b" % u
        self.tap = "vs%s6t" % u
        self.ctl_path = self.wd.file("ctl")
        self.sw = None
        self.nss = []
        self.procs = []

    def ctl(self, method, *params):
        return ctlclient.call(self.ctl_path, method, *params)

    def nsx(self, ns, *argv, **kw):
        return sh("ip", "netns", "exec", ns, *argv, **kw)

    def ns(self, name):
        sh("ip", "netns", "add", name)
        self.nss.append(name)
        self.nsx(name, "ip", "link", "set", "lo", "up")
        # No duplicate address detection: the addresses work at once.
        self.nsx(name, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                 "net.ipv6.conf.default.accept_dad=0")

    def build(self):
        L, G = self.ns_l, self.ns_g
        self.ns(L)
        self.ns(G)
        sh("ip", "link", "add", self.va, "address", MAC_A, "type", "veth",
           "peer", "name", self.vb, "netns", L)
        # The root namespace's end is the switch's: no IPv6 of its own.
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % self.va)
        sh("ip", "link", "set", self.va, "up")
        self.nsx(L, "ip", "link", "set", self.vb, "address", MAC_B, "up")
        self.nsx(L, "ip", "-6", "addr", "add", UL2 + "/64", "dev", self.vb,
                 "nodad")
        # tx off: finished checksums towards net_af_packet (see
        # test_vxlan_linux); rx off: the kernel checks the switch's.
        self.nsx(L, "ethtool", "-K", self.vb, "tx", "off", "rx", "off")
        self.nsx(L, "ip", "link", "add", "vx0", "address", MAC_VX0, "type",
                 "vxlan", "id", str(VNI), "local", UL2, "remote", UL1,
                 "dstport", str(PORT), "dev", self.vb)
        # Linux's own rule for an IPv6 underlay: 70 bytes below veth B's.
        self.nsx(L, "ip", "link", "set", "vx0", "mtu", str(TUN_MTU))
        self.nsx(L, "ip", "-6", "addr", "add", IP6_VX0 + "/64", "dev", "vx0",
                 "nodad")
        self.nsx(L, "ip", "addr", "add", IP_VX0 + "/24", "dev", "vx0")
        self.nsx(L, "ip", "link", "set", "vx0", "up")
        busy = [] if vstest.BUSYLOOP else ["--busyloop-timeout", "200"]
        self.sw = vstest.Switch(
            self.wd.path, name="sw",
            vdevs=["net_af_packet0,iface=%s" % self.va,
                   "net_tap0,iface=%s,mac=%s" % (self.tap, MAC_TAP)],
            args=busy + ["--ctl", self.ctl_path,
                         "--vxlan", "vx42,vni=%d,local=%s,remote=%s,"
                         "via=net_af_packet0" % (VNI, UL1, UL2)])
        self.sw.start()
        sh("ip", "link", "set", self.tap, "netns", G)
        self.nsx(G, "ip", "link", "set", self.tap, "address", MAC_G, "mtu",
                 str(TUN_MTU), "up")
        self.nsx(G, "ethtool", "-K", self.tap, "tx", "off", check=False)
        self.nsx(G, "ip", "-6", "addr", "add", IP6_G + "/64", "dev",
                 self.tap, "nodad")
        self.nsx(G, "ip", "addr", "add", IP_G + "/24", "dev", self.tap)
        self.blob = self.wd.file("blob")
        with open(self.blob, "wb") as f:
            f.write(os.urandom(BLOB_MB << 20))
        self.md5 = file_md5(self.blob)

    def tunnel(self, name="vx42"):
        return [t for t in self.ctl("vxlan/show")["tunnels"]
                if t["name"] == name][0]

    def underlay(self):
        return self.ctl("vxlan/show")["underlays"][0]

    def cleanup(self, keep):
        for p in self.procs:
            if p.alive():
                p.kill()
                p.p.wait()
        if self.sw and self.sw.proc and self.sw.proc.alive():
            self.sw.stop()
        for ns in self.nss:
            subprocess.run(["ip", "netns", "del", ns],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=T)
        for ifname in (self.va, self.tap):
            subprocess.run(["ip", "link", "del", ifname],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=T)
        if keep:
            print("logs kept in %s" % self.wd.path)
        self.wd.cleanup(keep=keep)


@pytest.fixture(scope="module")
def lab(request):
    failed_before = request.session.testsfailed
    lab = Lab()
    try:
        lab.build()
        yield lab
    finally:
        lab.cleanup(keep=request.session.testsfailed > failed_before)


def ping6(lab, ns, dst, n=3):
    out = lab.nsx(ns, PYTHON, "-c", PING6, dst, str(n), timeout=2 * T)
    assert out.strip() == "%d received" % n, out


def test_nd_and_ping6_both_ways(lab):
    """The switch resolves its remote (vxlan/show: resolved, veth B's MAC;
    by its solicitation or from the namespace's, whichever comes first:
    test_config_save_reloads sees it solicit) and answers the namespace's (its
    neighbour table has the switch's MAC, REACHABLE or STALE) and its
    ping6 to the local address; the guest and vx0 ping each other over
    IPv6 and IPv4 inside the tunnel; the switch learned vx0's MAC behind
    vx42 with the IPv6 remote, the kernel the guest's at UL1; what the
    switch put on the underlay is RFC 7348 over IPv6 (check_outer)."""
    L, G = lab.ns_l, lab.ns_g
    wait_for(lambda: lab.tunnel()["remotes"][0]["state"] == "resolved", T,
             interval=0.1, what="remote resolved")
    t = lab.tunnel()
    assert (t["local"], t["remotes"][0]["ip"], t["remotes"][0]["mac"]) == \
        (UL1, UL2, MAC_B), t
    assert lab.ctl("port/show", "vx42")["mtu"] == TUN_MTU
    cap = BigSniffer(lab.wd, L, lab.vb, "ping", "in")
    u0 = lab.underlay()
    # The namespace asks for the switch's address afresh (a multicast
    # solicitation) and pings it.
    lab.nsx(L, "ip", "-6", "neigh", "flush", "dev", lab.vb)
    ping6(lab, L, UL1)
    neigh = lab.nsx(L, "ip", "-6", "neigh", "show", UL1, "dev", lab.vb)
    assert "lladdr %s" % MAC_A in neigh and \
        ("REACHABLE" in neigh or "STALE" in neigh), neigh
    u1 = lab.underlay()
    assert u1["icmp_echo_replies"] - u0["icmp_echo_replies"] == 3, (u0, u1)
    assert u1["nd_solicitations"] > u0["nd_solicitations"], (u0, u1)
    assert u1["nd_advertisements_sent"] > u0["nd_advertisements_sent"]
    assert u1["ips"] == [UL1], u1
    # Over the tunnel, both ways, IPv6 and IPv4 inside.
    ping6(lab, G, IP6_VX0)
    ping6(lab, L, IP6_G)
    out = lab.nsx(G, PYTHON, "-c", PING, IP_VX0, "2", timeout=2 * T)
    assert out.strip() == "2 received", out
    frames = stop(cap)
    fdb = {(e["mac"], e["vlan"]): (e["port"], e.get("remote"))
           for e in lab.ctl("fdb/show")}
    assert fdb[(MAC_VX0, 0)] == ("vx42", UL2), fdb
    assert fdb[(MAC_G, 0)] == ("net_tap0", None), fdb
    lf = lab.nsx(L, "bridge", "fdb", "show", "dev", "vx0")
    assert "%s dst %s" % (MAC_G, UL1) in lf, lf
    r = lab.tunnel()["remotes"][0]
    assert r["rx_pkts"] >= 7 and r["tx_pkts"] >= 7, r
    vx = [f for f in frames if len(f) > 62 and f[12:14] == b"\x86\xdd" and
          f[20] == 17]
    inner = [Ether(check_outer(f)) for f in vx]
    assert len([i for i in inner if i.src == MAC_G and
                IPv6 in i and i[IPv6].dst == IP6_VX0]) >= 3, \
        [i.summary() for i in inner]


def test_nd_dad_unicast_and_telemetry(lab):
    """A duplicate address detection probe for the switch's address (from
    ::, no source link-layer option) is answered to all-nodes with S clear
    and O set; a unicast solicitation without the option (Linux's
    reachability probe) is answered to its sender with S and O; both
    answers carry the target link-layer option and hop limit 255, and
    their ICMPv6 checksums are right (scapy). Telemetry's /vswitch/vxlan
    prints the IPv6 addresses as vxlan/show does."""
    dad = Ether(src=MAC_B, dst="33:33:ff:00:00:01") / \
        IPv6(src="::", dst="ff02::1:ff00:1", hlim=255) / ICMPv6ND_NS(tgt=UL1)
    uni = Ether(src=MAC_B, dst=MAC_A) / \
        IPv6(src=UL2, dst=UL1, hlim=255) / ICMPv6ND_NS(tgt=UL1)
    cap = BigSniffer(lab.wd, lab.ns_l, lab.vb, "dad", "in")
    u0 = lab.underlay()
    path = lab.wd.file("dad.bin")
    write_frames(path, [bytes(dad), bytes(uni)])
    lab.nsx(lab.ns_l, PYTHON, "-c", SENDER, path, lab.vb, "0", timeout=T)
    wait_for(lambda: lab.underlay()["nd_advertisements_sent"] -
             u0["nd_advertisements_sent"] >= 2, T, interval=0.1,
             what="two advertisements")
    time.sleep(0.3)
    na = [Ether(f) for f in stop(cap) if ICMPv6ND_NA in Ether(f)]
    got = set()
    for e in na:
        if e[ICMPv6ND_NA].tgt != UL1:
            continue
        want = e[ICMPv6ND_NA].cksum
        del e[ICMPv6ND_NA].cksum
        assert Ether(bytes(e))[ICMPv6ND_NA].cksum == want, e.summary()
        a = e[ICMPv6ND_NA]
        got.add((e.src, e.dst, e[IPv6].src, e[IPv6].dst, e[IPv6].hlim,
                 a.R, a.S, a.O, e[ICMPv6NDOptDstLLAddr].lladdr))
    assert got >= {
        (MAC_A, "33:33:00:00:00:01", UL1, "ff02::1", 255, 0, 0, 1, MAC_A),
        (MAC_A, MAC_B, UL1, UL2, 255, 0, 1, 1, MAC_A)}, got
    tel = telemetry(lab.sw.prefix, "/vswitch/vxlan")
    t = tel["tunnels/0"]
    assert (t["local"], t["remotes/0/ip"], t["remotes/0/mac"]) == \
        (UL1, UL2, MAC_B), tel
    assert tel["underlays/0"]["ips/0"] == UL1, tel


def test_tcp_md5_both_ways(lab):
    """8 MB guest -> namespace and namespace -> guest over one TCP
    connection each, md5 identical; no frame on the underlay above its
    MTU (the tunnel port's MTU is 70 below it); nothing dropped on the
    tunnel port; the kernel counted no bad UDP checksum."""
    L, G = lab.ns_l, lab.ns_g
    size = BLOB_MB << 20
    before = lab.ctl("port/show", "vx42")
    cap = vstest.Proc(["ip", "netns", "exec", L, "tcpdump", "-i", lab.vb,
                       "-w", lab.wd.file("xfer.pcap"), "-U", "-n", "-s",
                       "128", "-B", "32768", "--immediate-mode", "-Z",
                       "root"], lab.wd.file("xfer.log"))
    cap.wait_log(r"listening on", timeout=T)
    snmp0 = lab.nsx(L, "cat", "/proc/net/snmp6")
    t0 = time.monotonic()
    for srv, cli, dst in ((G, L, IP6_G), (L, G, IP6_VX0)):
        out = lab.wd.file("got-%s" % cli)
        p = vstest.Proc(["ip", "netns", "exec", srv, PYTHON, "-c", XFER,
                         "serve", lab.blob], lab.wd.file("serve-%s" % srv))
        lab.procs.append(p)
        p.wait_log("listening", timeout=T)
        lab.nsx(cli, PYTHON, "-c", XFER, "fetch", dst, out, timeout=3 * T)
        assert os.path.getsize(out) == size
        assert file_md5(out) == lab.md5, "%s -> %s: md5 differs" % (srv, cli)
        p.p.wait(timeout=T)
    took = time.monotonic() - t0
    cap.stop(2, timeout=T)
    print("2 x %d MB over the IPv6 tunnel in %.1f s" % (BLOB_MB, took))
    after = lab.ctl("port/show", "vx42")
    d = {k: after["drops_by_reason"][k] - before["drops_by_reason"][k]
         for k in after["drops_by_reason"]}
    assert not {k: v for k, v in d.items() if v}, d
    assert after["tx_pkts"] - before["tx_pkts"] > size // UL_MTU
    assert after["rx_pkts"] - before["rx_pkts"] > size // UL_MTU
    lens = [len(f) for f in read_frames(lab.wd.file("xfer.pcap"))]
    assert len(lens) > 2 * size // UL_MTU
    # The original lengths are in the records: none above the MTU.
    assert max(pcap_frame_lengths(lab.wd.file("xfer.pcap"))) <= \
        UL_MTU + 14
    snmp1 = lab.nsx(L, "cat", "/proc/net/snmp6")
    for k in ("Udp6InCsumErrors", "Udp6InErrors"):
        assert counter(snmp1, k) == counter(snmp0, k), k
    # The outer UDP source port follows the inner IPv6 flow (addresses and
    # TCP ports; the 128 captured bytes reach the inner ports): one port
    # per inner flow, and the flows do not all share one.
    local = socket.inet_pton(socket.AF_INET6, UL1)
    flows = {}
    for f in read_frames(lab.wd.file("xfer.pcap")):
        if (len(f) < 128 or f[12:14] != b"\x86\xdd" or f[20] != 17 or
                f[22:38] != local or f[82:84] != b"\x86\xdd" or
                f[90] != 6):
            continue
        flow = f[92:124] + f[124:128]
        flows.setdefault(flow, set()).add(struct.unpack("!H", f[54:56])[0])
    assert len(flows) >= 2, flows
    assert all(len(p) == 1 for p in flows.values()), flows
    assert len(set.union(*flows.values())) >= 2, flows


def counter(snmp, name):
    for ln in snmp.splitlines():
        k, _, v = ln.partition(" ")
        if k == name:
            return int(v)
    raise KeyError(name)


def vx6(inner, src=UL2, vni=VNI, flags=0x08, sport=50000, ext=None,
        hlim=64):
    ip = IPv6(src=src, dst=UL1, hlim=hlim)
    if ext is not None:
        ip = ip / ext
    return Ether(src=MAC_B, dst=MAC_A) / ip / UDP(sport=sport, dport=PORT) / \
        VXLAN(flags=flags, vni=vni) / Raw(inner)


def malformed(rnd):
    """{counter: [frames]}: IPv6 VXLAN frames from the namespace to the
    switch, each wrong in one way."""
    def inner(lo=14, hi=200):
        n = rnd.randint(lo, hi)
        return bytes.fromhex(MAC_G.replace(":", "")) + \
            bytes.fromhex((FUZZ_SRC + "00:00:01").replace(":", "")) + \
            rnd.randbytes(max(0, n - 12))

    def sport():
        return rnd.randint(49152, 65535)
    out = {k: [] for k in DROPS if k != "not_vtep"}
    for _ in range(30):
        good = bytes(vx6(inner(), sport=sport()))
        # Cut inside the UDP or VXLAN header or the inner frame.
        out["bad_header"].append(good[:rnd.randint(60, len(good) - 1)])
        out["bad_header"].append(bytes(vx6(
            inner(), flags=rnd.randrange(256) & ~0x08, sport=sport())))
        out["bad_vni"].append(bytes(vx6(inner(), vni=rnd.choice(
            [0, 41, 43, rnd.randint(44, 0xffffff)]), sport=sport())))
        f = vx6(inner(), sport=sport())
        c = bytes(f)[60:62]
        f[UDP].chksum = (struct.unpack("!H", c)[0] ^ (1 << rnd.randrange(
            16))) or 1
        out["bad_csum"].append(bytes(f))
        ext = rnd.choice([IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt()])
        out["ext_header"].append(bytes(vx6(inner(), sport=sport(),
                                           ext=ext)))
        out["fragment"].append(bytes(vx6(inner(), sport=sport(),
                                         ext=IPv6ExtHdrFragment(m=1))))
        out["runt"].append(bytes(vx6(inner()[:rnd.randint(0, 13)],
                                     sport=sport())))
        out["unknown_remote"].append(bytes(vx6(
            inner(), src="fd00:201::%x" % rnd.randint(3, 0xffff),
            sport=sport())))
        # A solicitation for the switch's address with hop limit 64: RFC
        # 4861 7.1.1 says discard it.
        out["nd_invalid"].append(bytes(
            Ether(src=MAC_B, dst="33:33:ff:00:00:01") /
            IPv6(src=UL2, dst="ff02::1:ff00:1", hlim=rnd.randint(1, 254)) /
            ICMPv6ND_NS(tgt=UL1) / ICMPv6NDOptSrcLLAddr(lladdr=MAC_B)))
    return out


def test_malformed_vxlan6_counted(lab):
    """300 malformed IPv6 VXLAN frames (truncated, flags without I,
    unknown VNIs, a wrong UDP checksum, an extension header or a fragment
    header before UDP, inner runts, unknown sources, neighbour
    solicitations with a hop limit below 255): each counted under its
    reason in vxlan/show, exactly; none decapsulated (no inner source
    learned); the switch still forwards over the tunnel afterwards."""
    cats = malformed(random.Random(6))
    frames = [f for fs in cats.values() for f in fs]
    random.Random(7).shuffle(frames)
    u0 = lab.underlay()
    path = lab.wd.file("fuzz.bin")
    write_frames(path, frames)
    out = lab.nsx(lab.ns_l, PYTHON, "-c", SENDER, path, lab.vb, "50",
                  timeout=T)
    assert out.strip() == str(len(frames)), out
    wait_for(lambda: lab.underlay()["rx_pkts"] - u0["rx_pkts"] >=
             len(frames), T, interval=0.1, what="the switch got the fuzz")
    u1 = lab.underlay()
    d = {k: u1[k] - u0[k] for k in DROPS}
    for k, fs in cats.items():
        assert d[k] == len(fs), (k, d)
    assert not [e for e in lab.ctl("fdb/show")
                if e["mac"].startswith(FUZZ_SRC)]
    ping6(lab, lab.ns_g, IP6_VX0, 2)
    assert lab.sw.proc.alive()
    log = lab.sw.output()
    assert "AddressSanitizer" not in log and "runtime error" not in log, \
        log[-3000:]


def test_port_add_mixed_family_refused(lab):
    """port/add vxlan with an IPv4 remote for an IPv6 local (or a bad
    IPv6 address) is refused with -32602 and a message naming the key;
    nothing is added."""
    ok = ["vni=7", "local=%s" % UL1, "via=net_af_packet0"]
    for bad, word in ((["remote=10.9.0.2"], "IPv4"),
                      (["remote=%s" % UL2, "gw=10.9.0.1"], "gw"),
                      (["remote=fd00:201::zz"], "fd00:201::zz"),
                      (["remote=ff02::1"], "ff02::1")):
        with pytest.raises(ctlclient.RpcError) as ei:
            lab.ctl("port/add", "vxlan", "vxbad", *(ok + bad))
        assert ei.value.code == -32602, ei.value
        assert word in ei.value.message, ei.value.message
    assert [t["name"] for t in lab.ctl("vxlan/show")["tunnels"]] == ["vx42"]


def test_config_save_reloads(lab):
    """An IPv6 tunnel added at run time (two remotes off the link behind
    gw=, ttl, dstport) resolves the gw by a solicitation and sends a
    broadcast from the guest to each remote at the gw's MAC with hop limit
    9 and port 4790; config/save writes it with its IPv6 addresses, and a
    switch started with the saved file (via renamed to its own port) runs
    it as saved."""
    cap = BigSniffer(lab.wd, lab.ns_l, lab.vb, "gw", "in")
    lab.ctl("port/add", "vxlan", "vx43",
            "vni=43,local=%s,remote=fd00:99::3+fd00:99::4,via=net_af_packet0,"
            "gw=%s,ttl=9,dstport=4790" % (UL1, UL2))
    path = lab.wd.file("saved.ini")
    try:
        t = lab.tunnel("vx43")
        assert (t["gw"], t["ttl"], [r["ip"] for r in t["remotes"]]) == \
            (UL2, 9, ["fd00:99::3", "fd00:99::4"]), t
        # The gw answers for both remotes.
        wait_for(lambda: lab.tunnel("vx43")["gw_mac"] == MAC_B, T,
                 interval=0.1, what="gw resolved")
        bcast = bytes(Ether(src=MAC_G, dst="ff:ff:ff:ff:ff:ff",
                            type=0x88b5) / Raw(b"vx43 " * 20))
        bpath = lab.wd.file("bcast.bin")
        write_frames(bpath, [bcast])
        lab.nsx(lab.ns_g, PYTHON, "-c", SENDER, bpath, lab.tap, "0",
                timeout=T)
        wait_for(lambda: all(r["tx_pkts"] >= 1 for r in
                             lab.tunnel("vx43")["remotes"]), T,
                 interval=0.1, what="the broadcast to both remotes")
        lab.ctl("config/save", path)
    finally:
        lab.ctl("port/del", "vx43")
        frames = stop(cap)
    # It asked for the gw: a solicitation with hop limit 255 to the gw's
    # solicited-node group, with the source link-layer address option.
    for far in ("fd00:99::3", "fd00:99::4"):
        vx = [f for f in frames if len(f) > 70 and f[12:14] == b"\x86\xdd"
              and Ether(f)[IPv6].dst == far]
        # (Floods from elsewhere may have gone along: the guest's and the
        # namespace's own multicast.)
        assert bcast in [check_outer(f, dst=far, vni=43, hlim=9,
                                     dport=4790) for f in vx], far
    ns = [Ether(f) for f in frames if ICMPv6ND_NS in Ether(f)]
    assert ns, [Ether(f).summary() for f in frames]
    for e in ns:
        assert (e.src, e.dst, e[IPv6].src, e[IPv6].dst, e[IPv6].hlim,
                e[ICMPv6ND_NS].tgt, e[ICMPv6NDOptSrcLLAddr].lladdr) == \
            (MAC_A, "33:33:ff:00:00:02", UL1, "ff02::1:ff00:2", 255, UL2,
             MAC_A), e.summary()
    text = open(path).read()
    assert "[vxlan.vx43]\nvni = 43\nlocal = %s\nremote = fd00:99::3+" \
        "fd00:99::4\nvia = net_af_packet0\ndstport = 4790\nttl = 9\n" \
        "gw = %s\n" % (UL1, UL2) in text, text
    # Only the tunnels, over a port the second switch has.
    secs = text.split("\n[")
    keep = [s for s in secs if s.startswith("vxlan.")]
    ini = lab.wd.file("reload.ini")
    with open(ini, "w") as f:
        f.write("[" + "\n[".join(keep).replace("net_af_packet0", "net_null0"))
    ctl = lab.wd.file("ctl2")
    sw = vstest.Switch(lab.wd.path, name="sw2", vdevs=["net_null0"],
                       args=["--ctl", ctl, "--config", ini])
    sw.start()
    try:
        got = {t["name"]: (t["local"], t["gw"], t["ttl"], t["dstport"],
                           [r["ip"] for r in t["remotes"]])
               for t in ctlclient.call(ctl, "vxlan/show")["tunnels"]}
        assert got == {"vx42": (UL1, None, 64, PORT, [UL2]),
                       "vx43": (UL1, UL2, 9, 4790,
                                ["fd00:99::3", "fd00:99::4"])}, got
    finally:
        assert sw.stop() == 0


MIXED = [
    ("t,vni=5,local=fd00::1,remote=10.9.0.2,via=net_null0",
     "remote '10.9.0.2' is IPv4"),
    ("t,vni=5,local=10.9.0.1,remote=fd00::2,via=net_null0",
     "remote 'fd00::2' is IPv6"),
    ("t,vni=5,local=fd00::1,remote=fd00::2+10.9.0.3,via=net_null0",
     "remote '10.9.0.3' is IPv4"),
    ("t,vni=5,local=fd00::1,remote=fd00::2,gw=10.9.0.1,via=net_null0",
     "gw '10.9.0.1' is IPv4"),
    ("t,vni=5,local=fd00::1::2,remote=fd00::2,via=net_null0",
     "invalid local 'fd00::1::2'"),
    ("t,vni=5,local=fd00::1,remote=ff02::1,via=net_null0",
     "invalid remote 'ff02::1'"),
    ("t,vni=5,local=::1,remote=fd00::2,via=net_null0", "invalid local '::1'"),
    ("t,vni=5,local=fd00::1,remote=fd00::1,via=net_null0",
     "a remote is the local address"),
]


@pytest.mark.parametrize("spec,msg", MIXED, ids=[m for _, m in MIXED])
def test_bad_vxlan6_option(spec, msg):
    """A tunnel that mixes IPv4 and IPv6, or has a bad IPv6 address, is a
    usage error: exit status 2 and one line naming --vxlan and what is
    wrong."""
    rc, out, err = run_cli(["--vdev", "net_null0", "--", "--vxlan", spec])
    assert rc == 2, out + err
    assert [ln for ln in (out + err).splitlines()
            if "--vxlan" in ln and msg in ln], out + err


def test_bad_vxlan6_config_file(tmp_path):
    """The same in a [vxlan.NAME] section: exit status 2, the message."""
    ini = tmp_path / "mixed.ini"
    ini.write_text("[vxlan.t]\nvni = 5\nlocal = fd00::1\nremote = fd00::2\n"
                   "gw = 192.0.2.1\nvia = net_null0\n")
    rc, out, err = run_cli(["--vdev", "net_null0", "--", "--config",
                            str(ini)])
    assert rc == 2, out + err
    assert "gw '192.0.2.1' is IPv4" in out + err, out + err
