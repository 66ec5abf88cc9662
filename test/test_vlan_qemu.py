# SPDX-License-Identifier: BSD-3-Clause
"""A Linux guest's 802.1Q sub-interface through a trunk port (issue 13,
acceptance point 7; SPEC section 10).

  port vm1       vhost-user, trunks=10:20   QEMU guest g1: eth0 10.0.99.1/24
                                            (untagged, VLAN 0: not in the
                                            trunk), eth0.10 10.0.10.1/24
  port net_tap0  net_tap, vlan=10           the tap in a netns, 10.0.10.2/24

g1 and the namespace ping each other: g1's frames leave eth0.10 tagged 10,
the switch strips the tag towards the access port, and tags the replies
again towards the trunk. A capture of vm1 (capture/start) shows every frame
of the exchange tagged 10 on the trunk, the namespace's capture shows them
untagged. g1's untagged frames (eth0) are VLAN 0, which trunks=10:20 does
not carry: dropped, counted vlan_denied.

The guest image of scripts/guest-image has no 802.1Q module: this test
appends a second cpio archive to its initramfs (the kernel unpacks every
archive of a concatenation) with 8021q.ko and its dependencies from the
same kernel's modules, and loads them through the command server.
"""
import gzip
import os
import re
import signal

import pytest
from scapy.all import ARP, ICMP, IP, Dot1Q, rdpcap

import ctlclient
import qemu
import vstest
from vstest import sh, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="QEMU guests, taps and netns need root")

# Generous: a TCG guest on two CPUs shared with other DPDK test runs.
T = 90
MAC_G = "52:54:00:5e:0d:01"
MAC_NS = "02:00:00:5e:0d:02"
IP_G, IP_NS = "10.0.10.1", "10.0.10.2"
IP_UNTAGGED = "10.0.99.1"
VLAN_MODULES = "8021q"



def guest_kernel_version():
    """The kernel scripts/guest-image boots: the one linux-image-amd64
    depends on."""
    dep = sh("dpkg-query", "-W", "-f=${Depends}", "linux-image-amd64")
    return re.search(r"linux-image-([0-9][^ ,]*)", dep).group(1)


def newc(entries):
    """A cpio archive in the kernel's initramfs format (newc): @entries
    are (name, mode, data); data None for a directory."""
    out = b""
    for ino, (name, mode, data) in enumerate(
            entries + [("TRAILER!!!", 0, b"")], 1):
        data = data or b""
        nm = name.encode() + b"\0"
        hdr = b"070701" + b"".join(b"%08x" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0))
        out += hdr + nm + b"\0" * (-(len(hdr) + len(nm)) % 4)
        out += data + b"\0" * (-len(data) % 4)
    return out


def vlan_initrd(path):
    """The guest image's initramfs plus an archive with /vlan/*.ko:
    8021q and what it depends on, in load order (/vlan/order)."""
    kver = guest_kernel_version()
    deps = sh("modprobe", "-S", kver, "--show-depends", VLAN_MODULES)
    kos = [ln.split()[1] for ln in deps.splitlines()
           if ln.startswith("insmod ")]
    assert kos and kos[-1].endswith("/8021q.ko"), deps
    entries = [("vlan", 0o40755, None)]
    for ko in kos:
        with open(ko, "rb") as f:
            entries.append(("vlan/" + os.path.basename(ko), 0o100644,
                            f.read()))
    order = "".join("/vlan/%s\n" % os.path.basename(k) for k in kos)
    entries.append(("vlan/order", 0o100644, order.encode()))
    with open(qemu.guest_image()["initrd"], "rb") as f:
        base = f.read()
    with open(path, "wb") as f:
        f.write(base + gzip.compress(newc(entries)))
    return path


class VlanVM(qemu.VM):
    """qemu.VM booting @initrd instead of the image's own."""

    def __init__(self, *a, initrd, **kw):
        super().__init__(*a, **kw)
        self.initrd = initrd

    def argv(self):
        a = super().argv()
        a[a.index("-initrd") + 1] = self.initrd
        return a


class Lab:
    def __init__(self):
        self.wd = vstest.Workdir()
        self.ctl_path = self.wd.file("ctl")
        self.tap = "vsl%s" % vstest.uid()[:6]
        self.ns = None
        self.vm = None
        self.sw = None

    def ctl(self, method, *params):
        return ctlclient.call(self.ctl_path, method, *params)

    def ns_exec(self, *argv, **kw):
        return sh("ip", "netns", "exec", self.ns, *argv, **kw)

    def cleanup(self, keep):
        qemu.teardown(self.wd, keep, vms=[self.vm], sw=self.sw,
                      netns=self.ns)


@pytest.fixture(scope="module")
def lab(request):
    failed_before = request.session.testsfailed
    lab = Lab()
    wd = lab.wd
    try:
        initrd = vlan_initrd(wd.file("initramfs-vlan.gz"))
        lab.sw = vstest.Switch(
            wd.path, name="sw", vdevs=["net_tap0,iface=%s" % lab.tap],
            args=["--vhost", "%s,name=vm1,trunks=10:20" % wd.sock("vm1"),
                  "--port", "net_tap0,vlan=10", "--ctl", lab.ctl_path])
        lab.sw.start()
        lab.vm = VlanVM(wd.path, "g1", wd.sock("vm1"), MAC_G,
                        ip=IP_UNTAGGED + "/24", initrd=initrd).start()
        # The namespace while the guest boots.
        lab.ns = "vsl" + vstest.uid()
        sh("ip", "netns", "add", lab.ns)
        lab.ns_exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "link", "set", lab.tap, "netns", lab.ns)
        lab.ns_exec("sysctl", "-qw",
                    "net.ipv6.conf.%s.disable_ipv6=1" % lab.tap)
        lab.ns_exec("ip", "link", "set", lab.tap, "address", MAC_NS)
        lab.ns_exec("ip", "addr", "add", IP_NS + "/24", "dev", lab.tap)
        lab.ns_exec("ip", "link", "set", lab.tap, "up")
        lab.ns_exec("ip", "link", "set", "lo", "up")
        lab.vm.wait_ready()
        lab.sw.wait_link("vm1", timeout=T)
        yield lab
    finally:
        lab.cleanup(keep=request.session.testsfailed > failed_before)


def guest_ping(vm, ip, count=3):
    """busybox ping from the guest: the number of replies (one retry: a
    TCG guest on a loaded machine may be late for one echo)."""
    got = 0
    for attempt in (1, 2):
        st, out = vm.run("ping -c %d -W 5 %s" % (count, ip), timeout=T)
        m = re.search(r"(\d+) packets received", out)
        got = int(m.group(1)) if m else 0
        if got == count:
            break
    return got, out


def test_vlan_subinterface_on_trunk_pings_access_port(lab):
    """g1's eth0.10 (802.1Q, VLAN 10) on the trunk port and a namespace on
    an access port of VLAN 10 ping each other; on vm1 every frame of the
    exchange is tagged 10, in the namespace none is; both MACs are in the
    table in VLAN 10. g1's untagged eth0 gets nothing through
    (vlan_denied on vm1)."""
    vm = lab.vm
    st, out = vm.run("for m in $(cat /vlan/order); do insmod $m || exit 1;"
                     " done")
    assert st == 0, out
    vm.check("ip link add link eth0 name eth0.10 type vlan id 10")
    vm.check("ip addr add %s/24 dev eth0.10" % IP_G)
    vm.check("ip link set eth0.10 up")
    # (busybox's ip has no -d; the 8021q module lists its devices)
    assert re.search(r"^eth0\.10\s*\|\s*10\s*\|\s*eth0$",
                     vm.check("cat /proc/net/vlan/config"), re.M)

    cap = lab.wd.file("vm1.pcapng")
    lab.ctl("capture/start", "vm1", cap)
    sniff = vstest.Proc(["ip", "netns", "exec", lab.ns, "tcpdump", "-i",
                         lab.tap, "-w", lab.wd.file("ns.pcap"), "-U", "-n",
                         "-s", "0", "--immediate-mode", "-Z", "root"],
                        lab.wd.file("tcpdump.log"))
    try:
        sniff.wait_log(r"listening on", timeout=T)
        got, out = guest_ping(vm, IP_NS)
        assert got == 3, out
        for attempt in (1, 2):
            out = lab.ns_exec("busybox", "ping", "-c", "3", "-W", "5", IP_G,
                              check=False)
            if "3 packets received" in out:
                break
        assert "3 packets received" in out, out
    finally:
        lab.ctl("capture/stop", "vm1")
        sniff.stop(signal.SIGINT, timeout=T)

    fdb = {(e["vlan"], e["mac"].lower()): e["port"]
           for e in lab.ctl("fdb/show")}
    assert fdb.get((10, MAC_G)) == "vm1", fdb
    assert fdb.get((10, MAC_NS)) == "net_tap0", fdb

    def ours(frames):
        """ARP and ICMP between the two addresses of VLAN 10."""
        out = []
        for e in frames:
            if ARP in e and {e[ARP].psrc, e[ARP].pdst} == {IP_G, IP_NS}:
                out.append(e)
            elif ICMP in e and {e[IP].src, e[IP].dst} == {IP_G, IP_NS}:
                out.append(e)
        return out

    on_trunk = ours(rdpcap(cap))
    on_access = ours(rdpcap(lab.wd.file("ns.pcap")))
    # 3 + 3 echo requests and as many replies, each seen on both sides.
    assert len([e for e in on_trunk if ICMP in e]) >= 12, on_trunk
    assert len([e for e in on_access if ICMP in e]) >= 12, on_access
    assert all(Dot1Q in e and e[Dot1Q].vlan == 10 and e.type == 0x8100
               for e in on_trunk), [e.summary() for e in on_trunk]
    assert not [e for e in on_access if Dot1Q in e or e.type == 0x8100]
    # What crossed is the same frames, tag aside (the ICMP payloads).
    icmp = sorted(bytes(e[ICMP]) for e in on_trunk if ICMP in e)
    assert icmp == sorted(bytes(e[ICMP]) for e in on_access if ICMP in e)

    # Untagged from g1: VLAN 0, not carried by trunks=10:20.
    denied = lab.ctl("port/show", "vm1")["drops_by_reason"]["vlan_denied"]
    st, out = vm.run("ping -c 2 -W 1 10.0.99.2", timeout=T)
    assert "0 packets received" in out, out
    wait_for(lambda: lab.ctl("port/show", "vm1")["drops_by_reason"][
        "vlan_denied"] >= denied + 2, T, what="vm1 vlan_denied")
    assert lab.ctl("port/show", "net_tap0")["drops_by_reason"][
        "vlan_denied"] == 0
    show = lab.ctl("port/show", "vm1")
    assert show["trunks"] == "10:20" and show["vlan"] is None
    assert lab.ctl("port/show", "net_tap0")["vlan"] == 10
