# SPDX-License-Identifier: BSD-3-Clause
"""Linux guests under QEMU (TCG) on the switch: what a real virtio-net
driver negotiates and does.

One switch and two booted guests are shared by the whole module (a TCG boot
takes tens of seconds on a loaded machine):

  port vm1  vhost-user server (QEMU connects)       guest g1 10.0.0.1/24
  port vm2  vhost-user client (QEMU is the server)  guest g2 10.0.0.2/24,
                                                    rx_queue_size=1024
  port vm3  vhost-user server                       g1's migration target
  net_tap0  a kernel tap moved into a netns          10.0.0.3/24

The guests are the minimal image of scripts/guest-image (busybox, the
Debian kernel), driven through a command server on their second serial
port (test/qemu.py). The migration tests run last: they move g1 to vm3,
then onto vm3's socket again.
"""
import os
import re

import pytest
from scapy.all import Ether

import ctlclient
import qemu
import vstest
from vstest import read_pcap, sh, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="QEMU guests, taps and netns need root")

# Generous: TCG guests on two CPUs shared with other DPDK test runs.
T = 90
MAC1 = "52:54:00:5e:00:01"
MAC2 = "52:54:00:5e:00:02"
MAC_NS = "02:00:00:5e:00:03"
IP1, IP2, IP_NS = "10.0.0.1", "10.0.0.2", "10.0.0.3"
BLOB_MB = 4



class Lab:
    def __init__(self):
        self.wd = vstest.Workdir()
        self.ctl_path = self.wd.file("ctl")
        self.tap = "vsq%s" % vstest.uid()[:6]
        self.ns = None
        self.vms = []
        self.sw = None

    def ctl(self, method, *params):
        return ctlclient.call(self.ctl_path, method, *params)

    def fdb(self):
        # rte_ether_format_addr() prints upper case hex
        return {e["mac"].lower(): e["port"] for e in self.ctl("fdb/show")}

    def vm(self, *a, **kw):
        v = qemu.VM(self.wd.path, *a, **kw)
        self.vms.append(v)
        return v

    def cleanup(self, keep):
        qemu.teardown(self.wd, keep, vms=self.vms, sw=self.sw,
                      netns=self.ns)


@pytest.fixture(scope="module")
def lab(request):
    qemu.guest_image()          # build it (or find it cached) first
    failed_before = request.session.testsfailed
    lab = Lab()
    wd = lab.wd
    lab.sw = vstest.Switch(
        wd.path, name="sw", vdevs=["net_tap0,iface=%s" % lab.tap],
        args=["--vhost", "%s,name=vm1" % wd.sock("vm1"),
              "--vhost", "%s,client,name=vm2" % wd.sock("vm2"),
              "--vhost", "%s,name=vm3" % wd.sock("vm3"),
              "--ctl", lab.ctl_path])
    try:
        lab.sw.start()
        # g1 without GUEST_ANNOUNCE: after its migration, QEMU has the
        # switch announce it (VHOST_USER_SEND_RARP, librte_vhost's RARP).
        lab.g1 = lab.vm("g1", wd.sock("vm1"), MAC1, ip=IP1 + "/24",
                        guest_announce=False).start()
        lab.g1_port = "vm1"     # the migration tests move it
        lab.g2 = lab.vm("g2", wd.sock("vm2"), MAC2, ip=IP2 + "/24",
                        server=True, rx_queue_size=1024).start()
        lab.g1.wait_ready()
        lab.g2.wait_ready()
        lab.sw.wait_link("vm1", timeout=T)
        lab.sw.wait_link("vm2", timeout=T)
        yield lab
    finally:
        lab.cleanup(keep=request.session.testsfailed > failed_before)


def ping(vm, ip, count=3):
    """Ping from a guest; every reply must come back. One retry: a TCG
    guest on a loaded machine may be late for one echo."""
    for attempt in (1, 2):
        st, out = vm.run("ping -c %d -W 5 %s" % (count, ip), timeout=T)
        m = re.search(r"(\d+) packets received", out)
        if m and int(m.group(1)) == count:
            return True
    raise AssertionError("guest %s: ping %s twice:\n%s" % (vm.name, ip, out))


def wait_fdb(lab, mac, port, timeout=T):
    try:
        wait_for(lambda: lab.fdb().get(mac) == port, timeout, interval=0.2,
                 what="%s on %s in fdb/show" % (mac, port))
    except TimeoutError:
        raise AssertionError("%s not on %s: fdb/show %s" % (
            mac, port, lab.ctl("fdb/show")))


def test_ping_and_bulk_transfer(lab):
    """g1 and g2 ping each other, then g1 fetches a 4 MB random file from
    g2's busybox httpd: same md5. Both MACs are learned on their ports,
    both socket modes carry traffic."""
    g1, g2 = lab.g1, lab.g2
    assert ping(g1, IP2)
    assert ping(g2, IP1)
    fdb = lab.fdb()
    assert fdb.get(MAC1) == "vm1", fdb
    assert fdb.get(MAC2) == "vm2", fdb
    assert lab.ctl("port/show", "vm1")["mode"] == "server"
    assert lab.ctl("port/show", "vm2")["mode"] == "client"

    ports0, _ = lab.sw.stats()
    g2.check("dd if=/dev/urandom of=/srv/blob bs=1M count=%d 2>/dev/null"
             % BLOB_MB)
    want = g2.check("md5sum /srv/blob").split()[0]
    g2.check("httpd -p 8080 -h /srv")
    g1.check("wget -q -O /tmp/blob http://%s:8080/blob" % IP2, timeout=3 * T)
    got = g1.check("md5sum /tmp/blob").split()[0]
    size = int(g1.check("stat -c %s /tmp/blob"))
    g2.run("killall httpd")
    g1.run("rm -f /tmp/blob")
    assert size == BLOB_MB << 20
    assert got == want
    ports, _ = lab.sw.stats()
    # The file crossed the switch from vm2 to vm1 in MTU-sized frames.
    assert ports["vm1"]["tx_bytes"] - ports0["vm1"]["tx_bytes"] > size
    assert ports["vm2"]["rx_bytes"] - ports0["vm2"]["rx_bytes"] > size
    # (tx_full may count a few frames: a TCG guest refills its rx ring
    # slowly, and TCP resends what the switch dropped after its retries.)
    for p in ("vm1", "vm2"):
        assert ports[p]["no_mbuf"] == 0, ports


def test_negotiated_by_linux(lab):
    """vring/show has the ring sizes the Linux driver and QEMU set up
    (virtio-net-pci's default 256; rx_queue_size=1024 on g2);
    features/show has what a Linux guest negotiates: the checksum and
    TSO offloads, no UFO; mem/show has the guest's 256 MB."""
    def rings(port):
        return {v["direction"]: v for v in lab.ctl("vring/show", port)}

    ping(lab.g1, IP2, 1)
    r1, r2 = rings("vm1"), rings("vm2")
    assert r1["guest_rx"]["size"] == 256
    assert r1["guest_tx"]["size"] == 256
    assert r2["guest_rx"]["size"] == 1024
    assert r2["guest_tx"]["size"] == 256
    for r in list(r1.values()) + list(r2.values()):
        assert r["enabled"] is True
        assert r["log"] is False                 # no migration running
        assert int(r["desc"], 16) != 0
        assert r["packets"] > 0                  # the ping above
        # Linux wants interrupts (no busy polling): librte_vhost raised
        # some for those frames, never more than one each.
        assert 0 < r["calls"] <= r["packets"], r
    for port in ("vm1", "vm2"):
        f = lab.ctl("features/show", port)
        names = set(f["feature_names"])
        assert {"VERSION_1", "RING_EVENT_IDX", "MRG_RXBUF"} <= names, f
        assert "VHOST_F_LOG_ALL" not in names, f
        # Offloads on by default: a Linux guest takes all of them; UFO is
        # never offered.
        assert {"CSUM", "GUEST_CSUM", "HOST_TSO4", "GUEST_TSO4",
                "HOST_TSO6", "GUEST_TSO6"} <= names, f
        assert not names & {"HOST_UFO", "GUEST_UFO"}, f
        assert int(f["features"], 16) >> 32 & 1       # VERSION_1, bit 32
        proto = set(f["protocol_feature_names"])
        assert {"LOG_SHMFD", "RARP"} <= proto, f      # migration needs them
        # virtio-net-pci's guest_announce property, as negotiated
        assert ("GUEST_ANNOUNCE" in names) == (port == "vm2"), f
        mem = lab.ctl("mem/show", port)
        total = sum(m["memory_size"] if isinstance(m["memory_size"], int)
                    else int(m["memory_size"], 0) for m in mem)
        assert 250 << 20 <= total <= 256 << 20, mem


def test_tap_in_netns(lab):
    """A network namespace on a net_tap port and a Linux guest ping each
    other through the switch; the namespace's MAC is learned on net_tap0."""
    lab.ns = "vsq" + vstest.uid()
    ns = ["ip", "netns", "exec", lab.ns]
    sh("ip", "netns", "add", lab.ns)
    sh(*ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
       "net.ipv6.conf.default.disable_ipv6=1")
    sh("ip", "link", "set", lab.tap, "netns", lab.ns)
    sh(*ns, "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % lab.tap)
    sh(*ns, "ip", "link", "set", lab.tap, "address", MAC_NS)
    sh(*ns, "ip", "addr", "add", IP_NS + "/24", "dev", lab.tap)
    sh(*ns, "ip", "link", "set", lab.tap, "up")
    sh(*ns, "ip", "link", "set", "lo", "up")
    # The tap's carrier follows the switch's open queue; it is up now.
    # busybox-static's ping (iputils-ping need not be installed)
    for attempt in (1, 2):      # one retry, as ping() does
        out = sh(*ns, "busybox", "ping", "-c", "3", "-W", "5", IP1,
                 check=False)
        if "3 packets received" in out:
            break
    assert "3 packets received" in out, out
    assert ping(lab.g1, IP_NS)
    assert ping(lab.g2, IP_NS)
    wait_fdb(lab, MAC_NS, "net_tap0")
    ports, _ = lab.sw.stats()
    assert ports["net_tap0"]["rx_pkts"] >= 6
    assert ports["net_tap0"]["tx_pkts"] >= 6


def migrate_g1(lab, dst_port, name):
    """Live-migrate g1 (lab.g1, on whatever port it is) to a new QEMU on
    dst_port, over loopback TCP. Checks the dirty log on the source port
    while it runs, the guest's state, the RARP the switch injects on
    dst_port, the MAC on dst_port in the FDB, and traffic both ways after.
    lab.g1 is the destination afterwards."""
    src, g2 = lab.g1, lab.g2
    src_port = lab.g1_port
    marker = "before-%s" % name
    src.check("echo %s > /tmp/marker" % marker)
    ups = lab.sw.link_ups(dst_port)
    port = qemu.free_port()
    dst = lab.vm(name, lab.wd.sock(dst_port), MAC1, ip=IP1 + "/24",
                 incoming=port, guest_announce=False)
    dst.proc = vstest.Proc(dst.argv(), dst.log)
    wait_for(lambda: os.path.exists(dst.qmp_path) or dst._dead("starting"),
             T, what="destination QEMU up")
    assert dst.qmp.execute("query-status")["status"] == "inmigrate"
    cap = lab.wd.file("%s.pcapng" % name)
    lab.ctl("capture/start", dst_port, cap)
    pre = lab.ctl("port/show", src_port)
    assert pre["dirty_log"] is False and pre["log_size"] == 0, pre

    q = src.qmp
    # Slow at first, so the migration is still running while we look at
    # the switch; then at full speed.
    q.execute("migrate-set-parameters", **{"max-bandwidth": 4 << 20})
    q.execute("migrate", uri="tcp:127.0.0.1:%d" % port)
    seen = {}

    def logging_seen():
        try:
            p = lab.ctl("port/show", src_port)
            f = lab.ctl("features/show", src_port)
            v = lab.ctl("vring/show", src_port)
        except ctlclient.RpcError as e:
            raise AssertionError("%s gone during migration: %s; %s" % (
                src_port, e, q.execute("query-migrate")))
        st = q.execute("query-migrate")["status"]
        if st in ("completed", "failed", "cancelled"):
            raise AssertionError("migration %s before the dirty log was "
                                 "seen: %s" % (st, p))
        if p["dirty_log"] and p["log_size"] > 0 and \
                "VHOST_F_LOG_ALL" in f["feature_names"] and \
                all(r["log"] and int(r["log_guest_addr"], 16) for r in v):
            seen.update(port=p, features=f, vrings=v)
            return True
        return False
    wait_for(logging_seen, T, interval=0.05,
             what="dirty log on %s" % src_port)
    # The log covers guest memory: one bit per 4 KiB page.
    assert seen["port"]["log_size"] >= (256 << 20) // 4096 // 8
    assert int(seen["port"]["log_base"], 16) != 0

    q.execute("migrate-set-parameters", **{"max-bandwidth": 1 << 30})
    info = qemu.migration_end(q, 3 * T)
    assert info["status"] == "completed", info
    assert q.execute("query-status")["status"] == "postmigrate"
    lab.sw.wait_link(dst_port, count=ups + 1, timeout=T)
    lab.g1, lab.g1_port = dst, dst_port

    # The guest goes on on the destination, state and all.
    dst.reconnect_serial()
    assert dst.check("cat /tmp/marker").strip() == marker
    # The guest has no GUEST_ANNOUNCE: QEMU sends VHOST_USER_SEND_RARP and
    # librte_vhost injects a RARP from g1's MAC into dst_port's guest TX
    # path, which moves the MAC before the guest says anything.
    wait_fdb(lab, MAC1, dst_port)
    lab.ctl("capture/stop", dst_port)
    rarps = [e for e in (Ether(f) for f in read_pcap(cap))
             if e.src.lower() == MAC1 and e.type == 0x8035]
    assert rarps, "no RARP from %s in the capture of %s" % (MAC1, dst_port)
    assert rarps[0].dst == "ff:ff:ff:ff:ff:ff"
    assert ping(g2, IP1)
    assert ping(dst, IP2)
    r = {v["direction"]: v for v in lab.ctl("vring/show", dst_port)}
    # The rings went on from where the source left them.
    assert r["guest_tx"]["last_avail_idx"] > 0
    assert r["guest_rx"]["last_avail_idx"] > 0
    assert lab.ctl("port/show", dst_port)["dirty_log"] is False
    src.qmp.execute("quit")
    src.proc.p.wait(T)
    assert lab.fdb().get(MAC1) == dst_port
    assert ping(g2, IP1)
    return src_port


def test_live_migration(lab):
    """g1 migrates from vm1 to a new QEMU on vm3. While it runs, the switch
    shows the dirty log on vm1 in port/show, features/show and
    vring/show; afterwards g1's MAC is on vm3 (the RARP the switch
    injected), the guest kept its state, and g2 reaches it again."""
    g2 = lab.g2
    src = lab.g1_port
    dst = "vm3" if src != "vm3" else "vm1"
    ping(g2, IP1, 1)
    wait_fdb(lab, MAC1, src)
    downs = lab.sw.output().count("%s: link down" % src)
    assert migrate_g1(lab, dst, "g1d") == src
    lab.sw.wait_log(r"port \d+ %s: link down" % src, count=downs + 1,
                    timeout=T)
    assert lab.ctl("port/show", src)["link"] == "down"
    assert ping(g2, IP1)


def test_live_migration_same_socket(lab):
    """g1 migrates to a new QEMU on the socket it is on: the switch keeps
    both connections, the old device stops, the new one starts on the same
    port, and traffic goes on."""
    port = lab.g1_port
    wait_fdb(lab, MAC1, port)
    assert migrate_g1(lab, port, "g1e") == port
    assert lab.ctl("port/show", port)["link"] == "up"
    assert ping(lab.g2, IP1)
