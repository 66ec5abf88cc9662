# SPDX-License-Identifier: BSD-3-Clause
"""TCP between two Linux guests under QEMU through the switch, with the
virtio checksum and segmentation offloads and without them (issue 12,
acceptance point 1; SPEC section 9).

Three configurations, each one switch and two booted guests shared by the
tests run on it (pytest runs every test of one before booting the next):

  offloads-on    both vhost ports with the switch's default (CSUM,
                 GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6 negotiated): the
                 guests send TCP frames of up to 64 KiB with a partial
                 checksum, which the switch delivers whole;
  offloads-off   both ports `offloads=off`: the guests segment and checksum
                 everything themselves;
  offloads-mixed vm1 with them, vm2 `offloads=off`: what g1 sends, the
                 switch segments and checksums in software for g2, whose
                 kernel verifies every checksum.

  port vm1  vhost-user server   guest g1 10.0.3.1/24
  port vm2  vhost-user server   guest g2 10.0.3.2/24

The guests (scripts/guest-image: busybox, Debian's kernel, iperf3 and
ethtool) run under TCG pinned to CPU 0 (VS_QEMU_CPUS), the switch's
forwarding lcore on CPU 1 (vstest's default --lcores 0,1).

In each configuration:
  - `ethtool -k eth0` in each guest shows the offloads on, or off;
  - a 64 MB random file goes g1 -> g2 and back g2 -> g1 over HTTP (busybox
    httpd and wget: the receiver has the whole file when wget returns;
    `iperf3 -F` truncates it, see qemu.VM.iperf3), md5 identical; port/show
    counts the TSO frames: offloads.rx_gso on the sender's port, tx_gso on
    the receiver's (frames larger than the MTU crossed as single frames,
    which the guests' drivers count too: `ethtool -S`), sw_gso where the
    receiver does not take them, none with offloads=off; the guests'
    kernels count no checksum or header error and log no complaint;
  - iperf3 -n 64M each way; its Mbit/s are recorded (junit properties),
    printed at the end of the module, never asserted.
"""
import os
import re
import sys
import time

import pytest

import ctlclient
import qemu
import vstest
from vstest import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="QEMU guests need root")

# Generous: TCG guests on two CPUs shared with other DPDK test runs.
T = 90
# A 64 MB transfer: 150 to 600 Mbit/s with offloads under TCG, 50 to 150
# without, and a loaded machine or the sanitizer build may take several
# times that.
T_XFER = 600
GUEST_CPUS = os.environ.get("VS_QEMU_CPUS", "0")
# 512 MB: each guest holds a 64 MB file in its rootfs (tmpfs, at most half
# the RAM) on top of the initramfs.
MEM = 512
MAC1 = "52:54:00:5e:03:01"
MAC2 = "52:54:00:5e:03:02"
IP1, IP2 = "10.0.3.1", "10.0.3.2"
BLOB_MB = 64
HTTP_PORT = 8080
# An Ethernet frame of MTU 1500, without FCS: the largest a guest sends or
# receives without segmentation offload.
MAX_FRAME = 1514

# Each configuration: the offloads= of vm1 and vm2.
CONFIGS = {"on": ("on", "on"), "off": ("off", "off"),
           "mixed": ("on", "off")}

# The virtio feature names features/show prints for the offloads.
OFFLOAD_FEATURES = {"CSUM", "GUEST_CSUM", "HOST_TSO4", "HOST_TSO6",
                    "GUEST_TSO4", "GUEST_TSO6"}
OL_COUNTERS = ("rx_gso", "rx_csum_partial", "tx_gso", "sw_csum", "sw_gso",
               "sw_gso_segs")

# {config: {"g1->g2": {...}, ...}}, printed when the module ends.
FIGURES = {}


class Lab:
    def __init__(self, config):
        self.config = config
        self.ol = dict(zip(("vm1", "vm2"), CONFIGS[config]))
        self.wd = vstest.Workdir()
        self.ctl_path = self.wd.file("ctl")
        self.sw = None
        self.vms = []

    def ctl(self, method, *params):
        return ctlclient.call(self.ctl_path, method, *params)

    def port_of(self, vm):
        return {self.g1: "vm1", self.g2: "vm2"}[vm]

    def takes(self, vm):
        """Whether @vm's port negotiates the offloads."""
        return self.ol[self.port_of(vm)] == "on"

    def counters(self):
        """{port: port/show} for both ports."""
        return {p: self.ctl("port/show", p) for p in ("vm1", "vm2")}

    def cleanup(self, keep):
        qemu.teardown(self.wd, keep, vms=self.vms, sw=self.sw)


@pytest.fixture(scope="module")
def figures(request):
    """The iperf3 figures of every configuration, printed at the end (past
    pytest's capture, so they show without -s)."""
    yield FIGURES
    if not FIGURES:
        return
    lines = ["", "iperf3 -n 64M between two TCG guests through vhost-switch"
             " (Mbit/s the receiver counted; the sender's; the client's run"
             " timed by the host; TCP retransmissions; frames the switch"
             " dropped, receiver's ring full):"]
    for cfg in [c for c in CONFIGS if c in FIGURES]:
        name = "offloads=%s" % cfg
        if cfg == "mixed":
            name += " (vm1 on, vm2 off)"
        for d, f in sorted(FIGURES[cfg].items()):
            lines.append("  %-32s %s  %6.1f Mbit/s  (sent %.1f, %.1f s; "
                         "host-timed %.1f, %.1f s; %d retransmits, %d "
                         "tx_full)" % (
                             name, d, f["mbps"], f["sender_mbps"],
                             f["seconds"], f["host_mbps"],
                             f["host_seconds"], f["retransmits"],
                             sum(f["tx_full"].values())))
            for g, r in sorted(f["skewed"].items()):
                lines.append("    guest %s's clock ran at %.2fx the host's: "
                             "iperf3's figures above are off; its TSC:" % (
                                 g, r))
                lines += ["      " + ln for ln in f["tsc"][g]]
    text = "\n".join(lines) + "\n"
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        with capman.global_and_fixture_disabled():
            sys.stdout.write(text)
            sys.stdout.flush()
    else:
        print(text)


@pytest.fixture(scope="module", params=list(CONFIGS),
                ids=["offloads-%s" % c for c in CONFIGS])
def lab(request, figures):
    qemu.guest_image()          # build it (or find it cached) first
    failed_before = request.session.testsfailed
    lab = Lab(request.param)
    wd = lab.wd

    def vhost(port):
        return "%s,name=%s%s" % (wd.sock(port), port,
                                 ",offloads=off" if lab.ol[port] == "off"
                                 else "")
    lab.sw = vstest.Switch(wd.path, name="sw",
                           args=["--vhost", vhost("vm1"),
                                 "--vhost", vhost("vm2"),
                                 "--ctl", lab.ctl_path])
    try:
        lab.sw.start()
        lab.g1 = qemu.VM(wd.path, "g1", wd.sock("vm1"), MAC1,
                         ip=IP1 + "/24", mem=MEM, cpus=GUEST_CPUS)
        lab.g2 = qemu.VM(wd.path, "g2", wd.sock("vm2"), MAC2,
                         ip=IP2 + "/24", mem=MEM, cpus=GUEST_CPUS)
        lab.vms += [lab.g1, lab.g2]
        lab.g1.start()
        lab.g2.start()
        lab.g1.wait_ready()
        lab.g2.wait_ready()
        lab.sw.wait_link("vm1", timeout=T)
        lab.sw.wait_link("vm2", timeout=T)
        yield lab
    finally:
        lab.cleanup(keep=request.session.testsfailed > failed_before)


def ol_delta(before, after, port):
    a, b = after[port]["offloads"], before[port]["offloads"]
    return {k: a[k] - b[k] for k in OL_COUNTERS}


def drops(before, after):
    """The drop reasons port/show counted between @before and @after."""
    a, b = after["drops_by_reason"], before["drops_by_reason"]
    return {k: a[k] - b[k] for k in a if a[k] != b[k]}


def check_counters(lab, before, after, src, dst, what):
    """What port/show counted while @what went from guest @src to @dst
    (the data; @dst sends only ACKs back)."""
    sp, dp = lab.port_of(src), lab.port_of(dst)
    s, d = ol_delta(before, after, sp), ol_delta(before, after, dp)
    info = "%s: %s %s, %s %s; drops %s %s, %s %s" % (
        what, sp, s, dp, d, sp, drops(before[sp], after[sp]), dp,
        drops(before[dp], after[dp]))
    print(info)
    for p in (sp, dp):
        # A frame the switch could not describe or that was above a
        # destination's MTU: the offload path lost it.
        for reason in ("offload_error", "mtu", "too_big"):
            assert after[p]["drops_by_reason"][reason] == \
                before[p]["drops_by_reason"][reason], info
    if not lab.takes(src):
        # MTU-sized frames with their checksums: nothing for the switch to
        # describe or finish, whatever the receiver takes. (The receiver's
        # own rx_* count what it sends: its ACKs, and iperf3's results on
        # the control connection, a TSO frame when they exceed the MSS.)
        assert s["rx_gso"] == 0 and s["rx_csum_partial"] == 0, info
        for k in ("tx_gso", "sw_csum", "sw_gso", "sw_gso_segs"):
            assert d[k] == 0, info
    elif lab.takes(dst):
        # The sender's TSO frames arrived as such on its port, and went
        # whole to the receiver, which takes them: nothing to finish in
        # software.
        assert s["rx_gso"] > 0, info
        assert d["tx_gso"] > 0, info
        assert d["sw_gso"] == 0 and d["sw_csum"] == 0, info
    else:
        # The receiver takes none: the switch segmented every TSO frame.
        assert s["rx_gso"] > 0, info
        assert d["tx_gso"] == 0, info
        assert d["sw_gso"] == s["rx_gso"], info
        assert d["sw_gso_segs"] > d["sw_gso"], info


def guest_counters(vm):
    c = vm.snmp()
    return {"Tcp.RetransSegs": c["Tcp"]["RetransSegs"],
            "Tcp.InCsumErrors": c["Tcp"]["InCsumErrors"],
            "Tcp.InErrs": c["Tcp"]["InErrs"],
            "Ip.InHdrErrors": c["Ip"]["InHdrErrors"],
            "IpExt.InCsumErrors": c["IpExt"]["InCsumErrors"]}


def check_guests(before):
    """No checksum or header error counted by the guests' kernels since
    @before ({vm: guest_counters})."""
    for vm in before:
        now = guest_counters(vm)
        d = {k: now[k] - before[vm][k] for k in now}
        print("guest %s: %s" % (vm.name, d))
        for k in ("Tcp.InCsumErrors", "Tcp.InErrs", "Ip.InHdrErrors",
                  "IpExt.InCsumErrors"):
            assert d[k] == 0, "guest %s: %s" % (vm.name, d)


def nic_frames(vm):
    """eth0's frame counts in the guest's virtio_net driver (one buffer
    chain, i.e. one frame as the switch delivered or took it, each)."""
    st = vm.ethtool_S()
    return {k: st[k] for k in ("rx_queue_0_packets", "rx_queue_0_bytes",
                                "tx_queue_0_packets", "tx_queue_0_bytes")}


def check_frame_sizes(lab, src, dst, before, after, what):
    """The average size of the frames @dst's driver received (the data;
    @src only gets ACKs back) and @src's sent: above the 1514 bytes of an
    MTU-sized frame where TSO frames crossed whole, not above otherwise."""
    def avg(vm, d):
        n = after[vm]["%s_queue_0_packets" % d] - \
            before[vm]["%s_queue_0_packets" % d]
        b = after[vm]["%s_queue_0_bytes" % d] - \
            before[vm]["%s_queue_0_bytes" % d]
        return b / max(n, 1), n
    rx, nrx = avg(dst, "rx")
    tx, ntx = avg(src, "tx")
    info = "%s: %s received %d frames of %.0f bytes on average, %s sent " \
           "%d of %.0f" % (what, dst.name, nrx, rx, src.name, ntx, tx)
    print(info)
    assert (tx > MAX_FRAME) == lab.takes(src), info
    assert (rx > MAX_FRAME) == (lab.takes(src) and lab.takes(dst)), info


def test_ethtool(lab):
    """Each guest's eth0 has tx checksumming and TSO on with the switch's
    default, off with offloads=off; features/show and port/show agree."""
    for vm in (lab.g1, lab.g2):
        want = "on" if lab.takes(vm) else "off"
        k = vm.ethtool_k()
        port = lab.port_of(vm)
        feats = set(lab.ctl("features/show", port)["feature_names"])
        show = lab.ctl("port/show", port)["offloads"]
        msg = "guest %s on %s (offloads=%s): ethtool -k %s; features %s; " \
              "port/show %s" % (vm.name, port, want, k, sorted(feats), show)
        assert k.get("tx-checksumming") == want, msg
        assert k.get("tcp-segmentation-offload") == want, msg
        assert k.get("tx-tcp-segmentation") == want, msg
        assert k.get("tx-tcp6-segmentation") == want, msg
        if want == "on":
            assert OFFLOAD_FEATURES <= feats, msg
            assert show["enabled"] is True, msg
            assert set(show["takes"]) == {"csum", "tso4", "tso6"}, msg
        else:
            assert not OFFLOAD_FEATURES & feats, msg
            assert show["enabled"] is False, msg
            assert show["takes"] == [], msg


def http_copy(src, dst, path):
    """@src serves /srv/blob with busybox httpd; @dst fetches it into
    @path with wget. Returns the seconds wget took (as the host saw it)."""
    src.check("httpd -p %d -h /srv" % HTTP_PORT)
    try:
        src.wait_listen(HTTP_PORT)
        t0 = time.monotonic()
        dst.check("wget -q -O %s http://%s:%d/blob" % (
            path, src.ip.split("/")[0], HTTP_PORT), timeout=T_XFER)
        return time.monotonic() - t0
    finally:
        src.run("killall httpd")
        wait_for(lambda: not src.listening(HTTP_PORT), T, interval=0.1,
                 what="httpd gone in %s" % src.name)


def md5(vm, path):
    return vm.check("md5sum %s" % path, timeout=T).split()[0]


def test_bulk_transfer_md5(lab):
    """A 64 MB random file g1 -> g2, then g2's copy back g2 -> g1: same md5
    at each end; the switch counted TSO frames where the sender makes them,
    delivered whole or segmented as the receiver takes them; neither
    guest counted a checksum error."""
    g1, g2 = lab.g1, lab.g2
    size = BLOB_MB << 20
    g1.check("dd if=/dev/urandom of=/srv/blob bs=1M count=%d 2>/dev/null"
             % BLOB_MB, timeout=T)
    want = md5(g1, "/srv/blob")
    gc = {vm: guest_counters(vm) for vm in (g1, g2)}

    c0, n0 = lab.counters(), {vm: nic_frames(vm) for vm in (g1, g2)}
    secs = http_copy(g1, g2, "/srv/blob")
    c1, n1 = lab.counters(), {vm: nic_frames(vm) for vm in (g1, g2)}
    assert int(g2.check("stat -c %s /srv/blob")) == size
    assert md5(g2, "/srv/blob") == want, "g1 -> g2: md5 differs"
    what = "g1 -> g2 (%.1f s)" % secs
    check_counters(lab, c0, c1, g1, g2, what)
    check_frame_sizes(lab, g1, g2, n0, n1, what)

    # Back: g1 makes room first (its md5 is known).
    g1.check("rm /srv/blob")
    secs = http_copy(g2, g1, "/srv/blob")
    c2, n2 = lab.counters(), {vm: nic_frames(vm) for vm in (g1, g2)}
    assert int(g1.check("stat -c %s /srv/blob")) == size
    assert md5(g1, "/srv/blob") == want, "g2 -> g1: md5 differs"
    what = "g2 -> g1 (%.1f s)" % secs
    check_counters(lab, c1, c2, g2, g1, what)
    check_frame_sizes(lab, g2, g1, n1, n2, what)
    check_guests(gc)
    for vm in (g1, g2):
        vm.run("rm -f /srv/blob")


def uptime(vm):
    return float(vm.check("cat /proc/uptime").split()[0])


@pytest.mark.parametrize("direction", ["g1->g2", "g2->g1"])
def test_iperf3(lab, direction, record_property):
    """iperf3 -n 64M from one guest to the other (the client sends): at
    least that sent, the offload counters as for the file, and the Mbit/s
    recorded, not asserted.

    iperf3 times the transfer with the guests' clocks; the host times the
    client's whole run too (connection and results included, so a little
    slower) and checks the guests' clocks kept pace with its own: a TCG
    guest's clock has been seen running many times too fast (a 5 s run
    that iperf3 said took 508 s), which makes iperf3's figures
    meaningless (flagged in the summary, with the guest's TSC calibration
    from dmesg)."""
    a, b = (lab.g1, lab.g2) if direction == "g1->g2" else (lab.g2, lab.g1)
    gc = {vm: guest_counters(vm) for vm in (a, b)}
    c0 = lab.counters()
    up0 = {vm: uptime(vm) for vm in (a, b)}
    t0 = time.monotonic()
    rep = a.iperf3(b, "%dM" % BLOB_MB, timeout=T_XFER)
    span = time.monotonic() - t0
    up1 = {vm: uptime(vm) for vm in (a, b)}
    host = rep["host_seconds"]
    c1 = lab.counters()
    end = rep["end"]
    sent, recv = end["sum_sent"], end["sum_received"]
    # Guest seconds per host second; the serial round trips blur it a
    # little (~0.1 s each).
    clock = {vm.name: (up1[vm] - up0[vm]) / span for vm in (a, b)}
    skewed = {n: r for n, r in clock.items() if not 0.67 < r < 1.5}
    fig = {"mbps": recv["bits_per_second"] / 1e6,
           "sender_mbps": sent["bits_per_second"] / 1e6,
           "host_mbps": sent["bytes"] * 8 / host / 1e6,
           "retransmits": sent.get("retransmits", 0),
           "seconds": sent["seconds"],
           "host_seconds": host,
           "clock": clock,
           "skewed": skewed,
           "tx_full": {p: c1[p]["drops_by_reason"]["tx_full"] -
                       c0[p]["drops_by_reason"]["tx_full"] for p in c1}}
    FIGURES.setdefault(lab.config, {})[direction] = fig
    record_property("offloads_%s_%s_mbps" % (lab.config, direction),
                    round(fig["mbps"], 1))
    record_property("offloads_%s_%s_host_mbps" % (lab.config, direction),
                    round(fig["host_mbps"], 1))
    print("offloads=%s %s: %.1f Mbit/s received, %.1f sent (%.1f s); host: "
          "%.1f Mbit/s (%.1f s); guest clocks %s; %d retransmits, tx_full "
          "%s" % (lab.config, direction, fig["mbps"], fig["sender_mbps"],
                  fig["seconds"], fig["host_mbps"], host, clock,
                  fig["retransmits"], fig["tx_full"]))
    for vm in (a, b):
        if vm.name in skewed:
            fig.setdefault("tsc", {})[vm.name] = [
                ln for ln in vm.check("dmesg").splitlines()
                if re.search(r"tsc|clocksource", ln, re.I)]
            print("guest %s clock at %.2fx the host's:\n%s" % (
                vm.name, clock[vm.name], "\n".join(fig["tsc"][vm.name])))
    # -n is a minimum: iperf3 may write one more 128 KiB block past it.
    assert sent["bytes"] >= BLOB_MB << 20, sent
    assert recv["bytes"] > 0, recv
    check_counters(lab, c0, c1, a, b, "iperf3 %s" % direction)
    check_guests(gc)


# What a guest kernel says about frames it cannot use: a checksum the
# device claimed valid and was not ("hw csum failure"), a GSO frame it
# cannot take ("bad gso"), a virtio_net receive error, any warning.
KERNEL_COMPLAINTS = re.compile(
    r"hw csum failure|bad gso|(csum|checksum).*(fail|error|bad|invalid)"
    r"|(virtio_net|eth0).*(error|bad|drop|unexpected|too)"
    r"|WARNING:|BUG:|Call Trace|segfault", re.I)


def test_guest_kernels_quiet(lab):
    """After the transfers, neither guest's kernel log has a complaint
    about the frames it received (run last in each configuration)."""
    for vm in (lab.g1, lab.g2):
        log = vm.check("dmesg")
        bad = [ln for ln in log.splitlines() if KERNEL_COMPLAINTS.search(ln)]
        assert not bad, "guest %s dmesg:\n%s" % (vm.name, "\n".join(bad))
