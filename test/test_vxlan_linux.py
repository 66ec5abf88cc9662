# SPDX-License-Identifier: BSD-3-Clause
"""A Linux guest behind a vhost-switch VXLAN tunnel and a Linux kernel
VXLAN device (issue 14, acceptance point 1; SPEC section 11).

Two hosts, joined by a veth pair:

  root namespace ("host 1")               namespace L ("host 2")
  QEMU guest g, 10.42.1.1/24 -- vhost vm
  vhost-switch                            vx0: vxlan id 42 local
    vx42: VNI 42, local 10.201.1.1,         10.201.1.2 remote 10.201.1.1
    remote 10.201.1.2, via                  dstport 4789, 10.42.1.2/24,
    net_af_packet0 (veth A) ===== veth B    learning on; veth B
                                            10.201.1.2/24

One switch, one booted guest and the namespace serve every test:
  - ARP: the guest resolves the namespace's vx0 and the namespace the
    guest, each at the other's MAC; both learn where the other lives
    (the switch's fdb/show: vx0's MAC behind vx42 with remote 10.201.1.2;
    `bridge fdb show dev vx0`: the guest's MAC at dst 10.201.1.1);
  - ping both ways;
  - a 16 MB random file over HTTP both ways (busybox httpd and wget or
    curl), md5 identical at the far end; tcpdump on the veth in the
    namespace sees only RFC 7348 frames from the switch (and its ARP), none
    larger than the veth's MTU allows.

The guest runs under TCG pinned to CPU 0 (VS_QEMU_CPUS), the switch's
forwarding lcore on CPU 1 (vstest's default --lcores 0,1).
"""
import os
import subprocess
import time

import pytest
from scapy.all import ARP, Ether

import ctlclient
import qemu
import vstest
from test_ethdev import PING, PYTHON, sh
from test_tap_offload import file_md5, pcap_frame_lengths
from test_vxlan import decap
from vstest import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="QEMU guests and namespaces need root")

T = 90
T_XFER = 300
GUEST_CPUS = os.environ.get("VS_QEMU_CPUS", "0")
MEM = 256
MAC_G = "52:54:00:5e:0e:01"
MAC_A = "02:42:01:00:00:01"      # the switch's veth (net_af_packet0)
MAC_B = "02:42:01:00:00:02"      # the namespace's veth
MAC_VX0 = "02:42:01:00:00:42"
UL1, UL2 = "10.201.1.1", "10.201.1.2"
IP_G, IP_VX0 = "10.42.1.1", "10.42.1.2"
BLOB_MB = 16
PORT_G, PORT_NS = 8080, 8081
UL_MTU = 1500


class Lab:
    def __init__(self):
        self.wd = vstest.Workdir()
        u = vstest.uid()[:6]
        self.ns = "vsn%sx" % u
        self.va = "vs%sa" % u
        self.vb = "vs%sb" % u
        self.ctl_path = self.wd.file("ctl")
        self.sw = None
        self.vm = None
        self.have_ns = False
        self.procs = []

    def ctl(self, method, *params):
        return ctlclient.call(self.ctl_path, method, *params)

    def nsx(self, *argv, **kw):
        return sh("ip", "netns", "exec", self.ns, *argv, **kw)

    def build(self):
        sh("ip", "netns", "add", self.ns)
        self.have_ns = True
        self.nsx("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                 "net.ipv6.conf.default.disable_ipv6=1")
        self.nsx("ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", self.va, "address", MAC_A, "type", "veth",
           "peer", "name", self.vb, "netns", self.ns)
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % self.va)
        sh("ip", "link", "set", self.va, "up")
        self.nsx("ip", "link", "set", self.vb, "address", MAC_B, "up")
        self.nsx("ip", "addr", "add", UL2 + "/24", "dev", self.vb)
        # The kernel finishes its checksums before the veth: net_af_packet
        # reads frames without their virtio-net header, so a partial
        # checksum (TP_STATUS_CSUMNOTREADY) would reach the guest as a bad
        # one. (A real NIC computes them on the wire.)
        self.nsx("ethtool", "-K", self.vb, "tx", "off")
        self.nsx("ip", "link", "add", "vx0", "address", MAC_VX0, "type",
                 "vxlan", "id", "42", "local", UL2, "remote", UL1,
                 "dstport", "4789", "dev", self.vb)
        self.nsx("ip", "addr", "add", IP_VX0 + "/24", "dev", "vx0")
        self.nsx("ip", "link", "set", "vx0", "up")
        busy = [] if vstest.BUSYLOOP else ["--busyloop-timeout", "200"]
        self.sw = vstest.Switch(
            self.wd.path, name="sw",
            vdevs=["net_af_packet0,iface=%s" % self.va],
            args=busy + ["--ctl", self.ctl_path,
                         "--vhost", "%s,name=vm" % self.wd.sock("vm"),
                         "--vxlan", "vx42,vni=42,local=%s,remote=%s,"
                         "via=net_af_packet0" % (UL1, UL2)])
        self.sw.start()
        self.vm = qemu.VM(self.wd.path, "g", self.wd.sock("vm"), MAC_G,
                          ip=IP_G + "/24", mem=MEM, cpus=GUEST_CPUS)
        self.vm.start()
        self.vm.wait_ready()
        self.sw.wait_link("vm", timeout=T)
        # The overlay's MTU, as for any VXLAN guest (the tunnel port's MTU
        # is the via port's minus 50).
        self.vm.check("ip link set eth0 mtu %d" % (UL_MTU - 50))
        os.mkdir(self.wd.file("srv"))
        self.blob = self.wd.file("srv/blob")
        with open(self.blob, "wb") as f:
            f.write(os.urandom(BLOB_MB << 20))
        self.md5 = file_md5(self.blob)

    def cleanup(self, keep):
        for p in self.procs:
            if p.alive():
                p.kill()
                p.p.wait()
            p._logf.close()
        if self.vm is not None and self.vm.proc is not None:
            self.vm.proc.kill()
            self.vm.proc.p.wait()
            self.vm.stop()
        if self.sw and self.sw.proc and self.sw.proc.alive():
            self.sw.stop()
        if self.have_ns:
            subprocess.run(["ip", "netns", "del", self.ns],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=T)
        subprocess.run(["ip", "link", "del", self.va],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=T)
        if keep:
            print("logs kept in %s" % self.wd.path)
        self.wd.cleanup(keep=keep)


@pytest.fixture(scope="module")
def lab(request):
    qemu.guest_image()
    failed_before = request.session.testsfailed
    lab = Lab()
    try:
        lab.build()
        yield lab
    finally:
        lab.cleanup(keep=request.session.testsfailed > failed_before)


class Capture:
    """tcpdump on the namespace's veth: every frame both ways."""

    def __init__(self, lab, name, snap=0):
        self.path = lab.wd.file(name + ".pcap")
        argv = ["ip", "netns", "exec", lab.ns, "tcpdump", "-i", lab.vb,
                "-w", self.path, "-U", "-n", "-s", str(snap), "-B", "32768",
                "--immediate-mode", "-Z", "root"]
        self.proc = vstest.Proc(argv, lab.wd.file(name + ".log"))
        self.proc.wait_log(r"listening on", timeout=T)

    def stop(self):
        self.proc.stop(2, timeout=T)
        return self.path


def test_arp_and_ping_both_ways(lab):
    """The guest pings the namespace's vx0 and the namespace pings the
    guest, 3 each; each side's neighbour table has the other's MAC; the
    switch learned vx0's MAC behind vx42 with the namespace's underlay IP;
    the kernel's vxlan learned the guest's MAC at the switch's local IP.
    Every frame on the veth from the switch is ARP for the underlay or an
    RFC 7348 frame to 10.201.1.2; the inner frames are ARP and ICMP
    between the guest and vx0 only."""
    cap = Capture(lab, "ping")
    out = lab.vm.check("ping -c 3 -W 5 %s" % IP_VX0, timeout=T)
    assert "3 packets received" in out, out
    out = lab.nsx(PYTHON, "-c", PING, IP_G, "3", timeout=2 * T)
    assert out.strip() == "3 received", out
    time.sleep(0.5)
    frames = vstest.read_pcap(cap.stop())
    neigh = lab.vm.check("ip neigh show %s" % IP_VX0)
    assert MAC_VX0 in neigh.lower(), neigh
    neigh = lab.nsx("ip", "neigh", "show", IP_G, "dev", "vx0")
    assert "lladdr %s" % MAC_G in neigh, neigh
    fdb = {(e["mac"], e["vlan"]): (e["port"], e.get("remote"))
           for e in lab.ctl("fdb/show")}
    assert fdb[(MAC_VX0, 0)] == ("vx42", UL2), fdb
    assert fdb[(MAC_G, 0)] == ("vm", None), fdb
    lf = lab.nsx("bridge", "fdb", "show", "dev", "vx0")
    assert "%s dst %s" % (MAC_G, UL1) in lf, lf
    t = lab.ctl("vxlan/show")["tunnels"][0]
    r = t["remotes"][0]
    assert (r["ip"], r["mac"], r["state"]) == (UL2, MAC_B, "resolved"), t

    from_sw = [f for f in frames if Ether(f).src == MAC_A]
    inner = []
    for f in from_sw:
        e = Ether(f)
        if ARP in e and e.type == 0x0806:
            assert e[ARP].psrc == UL1, e.summary()
            continue
        inner.append(Ether(decap(f, MAC_A, MAC_B, UL1, UL2, 42)[0]))
    kinds = sorted({(i.type, i[ARP].op if ARP in i else i["ICMP"].type)
                    for i in inner if i.type in (0x0800, 0x0806)})
    assert all(i.src == MAC_G for i in inner), [i.summary() for i in inner]
    # Echo requests and replies from the guest; an ARP request (and the
    # reply to the namespace's).
    assert (0x0800, 8) in kinds and (0x0800, 0) in kinds, kinds
    assert (0x0806, 1) in kinds or (0x0806, 2) in kinds, kinds
    icmp = [i for i in inner if i.type == 0x0800]
    assert len(icmp) == 6, [i.summary() for i in inner]


def http_ns_to_guest(lab):
    httpd = vstest.Proc(["ip", "netns", "exec", lab.ns, "busybox", "httpd",
                         "-f", "-p", str(PORT_NS), "-h", lab.wd.file("srv")],
                        lab.wd.file("httpd-ns.log"))
    lab.procs.append(httpd)
    try:
        wait_for(lambda: "LISTEN" in lab.nsx("ss", "-Hltn", "sport",
                                             "= :%d" % PORT_NS), T,
                 interval=0.1, what="httpd in the namespace")
        t0 = time.monotonic()
        lab.vm.check("wget -q -O /srv/blob http://%s:%d/blob" % (
            IP_VX0, PORT_NS), timeout=T_XFER)
        return time.monotonic() - t0
    finally:
        httpd.stop()


def http_guest_to_ns(lab, path):
    vm = lab.vm
    vm.check("httpd -p %d -h /srv" % PORT_G)
    try:
        vm.wait_listen(PORT_G)
        t0 = time.monotonic()
        lab.nsx("curl", "-sS", "--max-time", str(T_XFER), "-o", path,
                "http://%s:%d/blob" % (IP_G, PORT_G), timeout=T_XFER + 10)
        return time.monotonic() - t0
    finally:
        vm.run("killall httpd")


def test_tcp_md5_both_ways(lab):
    """16 MB namespace -> guest and the guest's copy back guest ->
    namespace, md5 identical; no frame on the veth above its MTU (the
    switch segmented the guest's TSO frames to the tunnel's MTU before
    encapsulating them); the switch dropped nothing on the way."""
    size = BLOB_MB << 20
    back = lab.wd.file("back")
    before = {p: lab.ctl("port/show", p) for p in ("vm", "vx42")}
    sniff = Capture(lab, "xfer", snap=96)
    try:
        s1 = http_ns_to_guest(lab)
        assert int(lab.vm.check("stat -c %s /srv/blob")) == size
        assert lab.vm.check("md5sum /srv/blob", timeout=T).split()[0] == \
            lab.md5, "namespace -> guest: md5 differs"
        s2 = http_guest_to_ns(lab, back)
        assert os.path.getsize(back) == size
        assert file_md5(back) == lab.md5, "guest -> namespace: md5 differs"
    finally:
        path = sniff.stop()
        lab.vm.run("rm -f /srv/blob")
    print("%d MB ns->guest %.1f s, guest->ns %.1f s" % (BLOB_MB, s1, s2))
    lens = pcap_frame_lengths(path)
    assert len(lens) > 2 * size // UL_MTU
    assert max(lens) <= UL_MTU + 14, max(lens)
    after = {p: lab.ctl("port/show", p) for p in ("vm", "vx42")}
    for p in ("vx42",):
        d = {k: after[p]["drops_by_reason"][k] -
             before[p]["drops_by_reason"][k]
             for k in after[p]["drops_by_reason"]}
        assert not {k: v for k, v in d.items() if v}, (p, d)
    # Both directions crossed the tunnel port.
    assert after["vx42"]["tx_pkts"] - before["vx42"]["tx_pkts"] > \
        size // UL_MTU
    assert after["vx42"]["rx_pkts"] - before["vx42"]["rx_pkts"] > \
        size // UL_MTU
