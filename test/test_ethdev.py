# SPDX-License-Identifier: BSD-3-Clause
"""Guest <-> NIC port, both ways: net_pcap (a pcap file, and a live veth
whose peer lives in a network namespace) and net_tap (the kernel tap moved
into a network namespace). Frames are crafted with scapy and compared byte
for byte; the switch's counters are checked exactly.

The kernel side is driven from inside namespaces this file creates: frames
go in with scapy's sendp (`ip netns exec NS python3 ...`) and are captured
with tcpdump. IPv6 is disabled on every interface the tests create, so the
kernel adds no frames of its own (router solicitations, MLD, ND) and the
tests can insist that nothing but their frames crosses the switch.
"""
import os
import signal
import subprocess
import time

import pytest
from scapy.all import ARP, ICMP, IP, Ether

import vstest
from test_forwarding import frame
from vstest import read_pcap, sh, wait_for, write_pcap

PYTHON = "/usr/bin/python3"
BCAST = "ff:ff:ff:ff:ff:ff"
# Generous: the machine has 2 CPUs shared with other DPDK test runs.
T = 60

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="network namespaces need root")



def link_exists(name, ns=None):
    pre = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run(pre + ["ip", "link", "show", "dev", name],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          timeout=T).returncode == 0


class Sniffer:
    """tcpdump on an interface inside a namespace, to a pcap file."""

    def __init__(self, wd, ns, iface, name, direction="in"):
        self.path = wd.file(name + ".pcap")
        # -Z root: Debian's tcpdump drops to user tcpdump, which could not
        # write into the root-owned 0700 work directory.
        argv = ["ip", "netns", "exec", ns, "tcpdump", "-i", iface,
                "-w", self.path, "-U", "-n", "-s", "0", "--immediate-mode",
                "-Z", "root", "-Q", direction]
        self.proc = vstest.Proc(argv, wd.file(name + ".log"))
        self.proc.wait_log(r"listening on", timeout=T)

    def stop(self):
        self.proc.stop(signal.SIGINT, timeout=T)
        return read_pcap(self.path)


class Net:
    """Namespaces, veths and sniffers of one test; all removed at the end.
    Names carry a fresh uid, so concurrent runs never collide."""

    def __init__(self, env):
        self.env = env
        self.nss = []
        self.links = []
        self.sniffers = []

    @staticmethod
    def ifname(tag):
        name = "vs%s%s" % (vstest.uid()[:6], tag)
        assert len(name) <= 15
        return name

    def ns(self):
        name = "vsn" + vstest.uid()
        sh("ip", "netns", "add", name)
        self.nss.append(name)
        # Interfaces created in or moved into the namespace start with
        # IPv6 off: no router solicitations, MLD reports or DAD probes.
        self.exec(name, "sysctl", "-qw",
                  "net.ipv6.conf.all.disable_ipv6=1",
                  "net.ipv6.conf.default.disable_ipv6=1")
        self.exec(name, "ip", "link", "set", "lo", "up")
        return name

    def exec(self, ns, *argv, **kw):
        return sh("ip", "netns", "exec", ns, *argv, **kw)

    def veth(self, root_if, ns, ns_if):
        """A veth pair: root_if in the root namespace (the switch's side),
        ns_if in ns; both up, IPv6 off."""
        sh("ip", "link", "add", root_if, "type", "veth", "peer", "name",
           ns_if, "netns", ns)
        self.links.append(root_if)
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % root_if)
        self.exec(ns, "sysctl", "-qw",
                  "net.ipv6.conf.%s.disable_ipv6=1" % ns_if)
        sh("ip", "link", "set", root_if, "up")
        self.exec(ns, "ip", "link", "set", ns_if, "up")

    def adopt(self, ifname, ns, mac=None, addr=None):
        """Move a root-namespace interface (the switch's tap) into ns and
        bring it up there, IPv6 off, optionally with a MAC and an IPv4."""
        self.links.append(ifname)
        sh("ip", "link", "set", ifname, "netns", ns)
        self.exec(ns, "sysctl", "-qw",
                  "net.ipv6.conf.%s.disable_ipv6=1" % ifname)
        if mac:
            self.exec(ns, "ip", "link", "set", ifname, "address", mac)
        if addr:
            self.exec(ns, "ip", "addr", "add", addr, "dev", ifname)
        self.exec(ns, "ip", "link", "set", ifname, "up")

    def send(self, ns, iface, frames, name):
        """Send frames out of iface from inside ns, in order, with scapy."""
        path = self.env.file(name + ".pcap")
        write_pcap(path, frames)
        self.exec(ns, PYTHON, "-c",
                  "import sys\n"
                  "from scapy.all import rdpcap, sendp\n"
                  "sendp(rdpcap(sys.argv[1]), iface=sys.argv[2], verbose=0)\n",
                  path, iface, timeout=2 * T)

    def sniff(self, ns, iface, name, direction="in"):
        s = Sniffer(self.env.wd, ns, iface, name, direction)
        self.sniffers.append(s)
        return s

    def cleanup(self):
        # The switch first: its taps may sit in our namespaces.
        for p in reversed(self.env.procs):
            if p.proc is not None and p.proc.alive():
                p.proc.kill()
                p.proc.p.wait()
        for s in self.sniffers:
            if s.proc.alive():
                s.proc.kill()
                s.proc.p.wait()
        for ns in self.nss:
            subprocess.run(["ip", "netns", "del", ns],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=T)
        for ifname in self.links:
            if link_exists(ifname):
                subprocess.run(["ip", "link", "del", ifname],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=T)


# --- counters -------------------------------------------------------------

def counts(frames):
    return len(frames), sum(len(f) for f in frames)


def delta(now, base, port):
    b = base.get(port, {})
    return {k: v - b.get(k, 0) for k, v in now[port].items() if k != "id"}


def expect(ports, port, base=None, rx=(), tx=(), **drops):
    """Port's counters (since base, if given) are exactly: rx frames, tx
    frames (packets and bytes) and the drops named, every other drop 0."""
    got = delta(ports, base or {}, port)
    want = {k: 0 for k in got}
    want["rx_pkts"], want["rx_bytes"] = counts(rx)
    want["tx_pkts"], want["tx_bytes"] = counts(tx)
    want.update(drops)
    assert got == want, "port %s counters" % port


def wait_counter(sw, port, key, n, timeout=T, base=None):
    b = (base or {}).get(port, {}).get(key, 0)
    return wait_for(lambda: sw.stats()[0][port][key] - b >= n, timeout,
                    interval=0.2, what="%s %s >= %d" % (port, key, n))


def settle(sw, quiet=1.0, timeout=T):
    """Counters as soon as they stop moving for `quiet` seconds."""
    end = time.monotonic() + timeout
    last = sw.stats()[0]
    since = time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.2)
        cur = sw.stats()[0]
        if cur != last:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return cur
    raise TimeoutError("switch counters kept moving")


# --- frames -----------------------------------------------------------------

GUEST = "02:00:00:00:0e:01"    # the guest's frames
NIC = "02:00:00:00:0e:02"      # frames coming in from the NIC side


def mixed(src, known, n0, sizes=(60, 128, 512, 1024, 1514)):
    """Frames from src: broadcast, IPv4 and IPv6 multicast, unknown unicast
    and unicast to `known` (a MAC the switch has learned elsewhere), in
    every size from the minimum to 1514 bytes."""
    dsts = [BCAST, "01:00:5e:00:00:fb", "33:33:00:00:00:01",
            "02:00:00:00:99:99", known]
    out = []
    for i, size in enumerate(sizes):
        for j, dst in enumerate(dsts):
            out.append(frame(src, dst, n0 + i * len(dsts) + j, size + 4))
    for f in out:
        assert len(f) >= 60
    return out


def start_switch(env, vdevs, guests=("g",), args=()):
    a = list(args)
    for g in guests:
        a += ["--vhost", "%s,name=%s" % (env.sock(g), g)]
    sw = env.switch(args=a, vdevs=vdevs)
    sw.start()
    return sw


def attach(env, sw, name, frames=(), mac=GUEST):
    g = env.guest(name, env.sock(name), frames, mac=mac).start()
    sw.wait_link(name, timeout=T)
    return g


# --- net_pcap --------------------------------------------------------------


def test_pcap_file_both_ways(env):
    """net_pcap with files. NIC -> switch: the rx_pcap frames are read as
    soon as forwarding starts, while the only other port (a guest socket
    nobody is attached to yet) is down: each is counted as a no_dest drop,
    and their source MAC is learned on the NIC port. Guest -> NIC: every
    frame the guest sends (flooded, or unicast to the MAC learned from the
    NIC) comes out in tx_pcap exactly, in order; one addressed to the guest
    itself is dropped as same_port and appears nowhere."""
    nic_in = [frame(NIC, BCAST, 1, 64),
              frame(NIC, "02:00:00:00:99:98", 2, 128),
              frame(NIC, "01:00:5e:00:00:01", 3, 1518)]
    rx, tx = env.file("nic_in.pcap"), env.file("nic_out.pcap")
    write_pcap(rx, nic_in)
    sw = start_switch(env, ["net_pcap0,rx_pcap=%s,tx_pcap=%s" % (rx, tx)])
    wait_counter(sw, "net_pcap0", "no_dest", len(nic_in))
    ports = settle(sw)
    expect(ports, "net_pcap0", rx=nic_in, no_dest=len(nic_in))
    expect(ports, "g")

    to_nic = mixed(GUEST, NIC, 10)
    to_self = frame(GUEST, GUEST, 99, 64)
    g = attach(env, sw, "g", to_nic + [to_self])
    g.send()
    wait_counter(sw, "net_pcap0", "tx_pkts", len(to_nic))
    wait_counter(sw, "g", "same_port", 1)
    ports = settle(sw)
    assert g.finish() == []
    expect(ports, "net_pcap0", rx=nic_in, tx=to_nic, no_dest=len(nic_in))
    expect(ports, "g", rx=to_nic + [to_self], same_port=1)
    assert sw.stop() == 0
    # tx_pcap is flushed when the switch closes the port.
    assert read_pcap(tx) == to_nic
    expect(sw.final[0], "net_pcap0", rx=nic_in, tx=to_nic,
           no_dest=len(nic_in))
    assert sw.final[1][0]["in_use"] == 0


def test_pcap_iface_veth_both_ways(env, net):
    """net_pcap on a live interface: one end of a veth in the root
    namespace (rx_iface_in + tx_iface), the other in a namespace. Frames
    sent with scapy from the namespace reach the guest exactly; the guest's
    frames come out in the namespace exactly; no other frame crosses."""
    ns = net.ns()
    va, vb = net.ifname("a"), net.ifname("b")
    net.veth(va, ns, vb)
    sw = start_switch(env, ["net_pcap0,rx_iface_in=%s,tx_iface=%s" %
                            (va, va)])
    # Guest -> NIC first, so the guest's MAC is known for the way back.
    to_nic = mixed(GUEST, NIC, 10)
    g = attach(env, sw, "g", to_nic)
    cap = net.sniff(ns, vb, "ns_in")
    g.send()
    wait_counter(sw, "net_pcap0", "tx_pkts", len(to_nic))

    # NIC -> guest: from the namespace, through the veth, into the switch.
    to_guest = mixed(NIC, GUEST, 40)
    net.send(ns, vb, to_guest, "from_ns")
    wait_counter(sw, "g", "tx_pkts", len(to_guest))
    ports = settle(sw)
    assert g.finish() == to_guest
    assert cap.stop() == to_nic
    expect(ports, "net_pcap0", rx=to_guest, tx=to_nic)
    expect(ports, "g", rx=to_nic, tx=to_guest)
    assert sw.stop() == 0
    assert sw.final[1][0]["in_use"] == 0


# --- net_tap ---------------------------------------------------------------


def test_tap_in_netns_both_ways(env, net):
    """net_tap: the switch creates the kernel tap in the root namespace;
    the test moves it into a namespace. Frames sent there with scapy reach
    the guest exactly; the guest's frames are captured there exactly."""
    ns = net.ns()
    tap = net.ifname("t")
    sw = start_switch(env, ["net_tap0,iface=%s" % tap])
    assert link_exists(tap)
    net.adopt(tap, ns)
    to_nic = mixed(GUEST, NIC, 10)
    g = attach(env, sw, "g", to_nic)
    cap = net.sniff(ns, tap, "ns_in")
    # The tap was up in the root namespace for a moment before the move:
    # whatever the kernel sent then was flooded to nobody. Count from here.
    base = settle(sw)
    expect(base, "g")
    assert base["net_tap0"]["rx_pkts"] == base["net_tap0"]["no_dest"]

    g.send()
    wait_counter(sw, "net_tap0", "tx_pkts", len(to_nic), base=base)

    to_guest = mixed(NIC, GUEST, 40)
    net.send(ns, tap, to_guest, "from_ns")
    wait_counter(sw, "g", "tx_pkts", len(to_guest), base=base)
    ports = settle(sw)
    assert g.finish() == to_guest
    assert cap.stop() == to_nic
    expect(ports, "net_tap0", base, rx=to_guest, tx=to_nic)
    expect(ports, "g", base, rx=to_nic, tx=to_guest)
    assert sw.stop() == 0
    # (No mbuf count here: net_tap keeps its rx ring stocked with mbufs,
    # which are still in use when the final counters are printed.)
    # The switch owned the tap: it is gone with it.
    assert not link_exists(tap, ns)


def test_tap_link_down_drops_counted(env, net):
    """Guest -> NIC while the NIC's link is down (the tap set down in its
    namespace): every frame is dropped and counted on the NIC port, none is
    delivered late; once the link is back up the next frames come out
    exactly."""
    ns = net.ns()
    tap = net.ifname("d")
    sw = start_switch(env, ["net_tap0,iface=%s" % tap], guests=("g1", "g2"))
    net.adopt(tap, ns)
    while_down = [frame("02:00:00:00:0e:21", NIC, i, 64 + 100 * i)
                  for i in range(8)]
    when_up = [frame("02:00:00:00:0e:22", NIC, 20 + i, 64 + 100 * i)
               for i in range(8)]
    g1 = attach(env, sw, "g1", while_down, mac="02:00:00:00:0e:21")
    g2 = attach(env, sw, "g2", when_up, mac="02:00:00:00:0e:22")
    cap = net.sniff(ns, tap, "ns_in")
    base = settle(sw)
    expect(base, "g1")
    expect(base, "g2")

    # The NIC's MAC is learned on the tap port: the guests' frames to it
    # are known unicast, and go nowhere but the tap.
    hello = [frame(NIC, BCAST, 0, 64)]
    net.send(ns, tap, hello, "hello")
    wait_counter(sw, "g1", "tx_pkts", 1, base=base)
    wait_counter(sw, "g2", "tx_pkts", 1, base=base)

    net.exec(ns, "ip", "link", "set", tap, "down")
    g1.send()
    wait_for(lambda: sum(delta(sw.stats()[0], base, "net_tap0")[k]
                         for k in ("tx_full", "port_down")) >= len(while_down),
             T, interval=0.2, what="drops on the down tap")
    net.exec(ns, "ip", "link", "set", tap, "up")
    g2.send()
    wait_counter(sw, "net_tap0", "tx_pkts", len(when_up), base=base)
    ports = settle(sw)
    assert cap.stop() == when_up
    assert g1.finish() == hello
    assert g2.finish() == hello
    # A down NIC link drops as port_down (SPEC 4); this switch reports the
    # failed tx bursts as tx_full. Either way each frame is counted once.
    got = delta(ports, base, "net_tap0")
    assert got.pop("tx_full") + got.pop("port_down") == len(while_down)
    want = dict(rx_pkts=1, rx_bytes=len(hello[0]), tx_pkts=len(when_up),
                tx_bytes=sum(map(len, when_up)))
    assert got == dict({k: 0 for k in got}, **want)
    expect(ports, "g1", base, rx=while_down, tx=hello)
    expect(ports, "g2", base, rx=when_up, tx=hello)
    assert sw.stop() == 0


# ping(8) through the kernel's IP stack (iputils may not be installed): an
# ICMP raw socket; the kernel resolves the neighbour with ARP and routes.
PING = r"""
import os, socket, struct, sys, time
dst, count = sys.argv[1], int(sys.argv[2])

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff

s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(20)
ident, got = os.getpid() & 0xffff, 0
for seq in range(1, count + 1):
    data = b"vhost-switch ping %04d" % seq + bytes(range(42))
    csm = csum(struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data)
    s.sendto(struct.pack("!BBHHH", 8, 0, csm, ident, seq) + data, (dst, 0))
    while True:
        r = s.recv(4096)
        ihl = (r[0] & 15) * 4
        if (r[ihl], r[ihl + 4:ihl + 8], r[ihl + 8:]) == \
                (0, struct.pack("!HH", ident, seq), data):
            got += 1
            break
    time.sleep(0.2)
print("%d received" % got)
"""


def test_tap_ping_between_namespaces(env, net):
    """Two namespaces, each on its own net_tap port, ping each other through
    the switch: the ARP request is flooded (the guest on a third port sees
    it, and only it), the reply and every ICMP frame go unicast to the port
    the switch learned. Each namespace receives exactly the frames the other
    sent, and the counters of both tap ports match the captures."""
    ns1, ns2 = net.ns(), net.ns()
    t1, t2 = net.ifname("p"), net.ifname("q")
    mac1, mac2 = "02:00:00:00:0e:11", "02:00:00:00:0e:12"
    sw = start_switch(env, ["net_tap0,iface=%s" % t1,
                            "net_tap1,iface=%s" % t2])
    for ns, tap, mac, addr in ((ns1, t1, mac1, "10.99.0.1/24"),
                               (ns2, t2, mac2, "10.99.0.2/24")):
        net.adopt(tap, ns, mac=mac, addr=addr)
        # No ARP re-probe of a stale neighbour while the test runs.
        net.exec(ns, "sysctl", "-qw",
                 "net.ipv4.neigh.%s.delay_first_probe_time=120" % tap)
    g = attach(env, sw, "g")
    g.send()
    caps = {n: net.sniff(n, t, n + "_cap", "inout")
            for n, t in ((ns1, t1), (ns2, t2))}
    base = settle(sw)
    expect(base, "g")

    out = net.exec(ns1, PYTHON, "-c", PING, "10.99.0.2", "3", timeout=2 * T)
    assert out.strip() == "3 received", out
    ports = settle(sw)
    got = {n: c.stop() for n, c in caps.items()}
    g_out = g.finish()

    def by(frames, src):
        return [f for f in frames if Ether(f).src == src]

    sent1, sent2 = by(got[ns1], mac1), by(got[ns2], mac2)
    # What each namespace sent is exactly what the other received...
    assert by(got[ns2], mac1) == sent1
    assert by(got[ns1], mac2) == sent2
    # ...and nothing else crossed.
    assert len(got[ns1]) == len(sent1) + len(sent2)
    assert len(got[ns2]) == len(sent1) + len(sent2)
    # ARP request (broadcast), 3 echo requests; ARP reply, 3 echo replies.
    p1, p2 = [Ether(f) for f in sent1], [Ether(f) for f in sent2]
    assert p1[0].dst == BCAST and p1[0][ARP].op == 1
    assert p1[0][ARP].pdst == "10.99.0.2"
    assert p2[0].dst == mac1 and p2[0][ARP].op == 2
    assert [p[ICMP].type for p in p1[1:]] == [8, 8, 8]
    assert [p[ICMP].type for p in p2[1:]] == [0, 0, 0]
    assert all(p.dst == mac2 and p[IP].dst == "10.99.0.2" for p in p1[1:])
    assert all(p.dst == mac1 and p[IP].dst == "10.99.0.1" for p in p2[1:])
    # Learning: the guest saw the flooded ARP request and nothing else.
    assert g_out == sent1[:1]
    expect(ports, "net_tap0", base, rx=sent1, tx=sent2)
    expect(ports, "net_tap1", base, rx=sent2, tx=sent1)
    expect(ports, "g", base, tx=sent1[:1])
    assert sw.stop() == 0
