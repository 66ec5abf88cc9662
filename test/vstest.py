# SPDX-License-Identifier: BSD-3-Clause
"""Test harness: the real switch, real testpmd virtio-user guests.

A Guest is a dpdk-testpmd process with two ports in io forwarding: a
net_pcap port whose rx file holds the frames the guest sends, and whose tx
file collects every frame the guest receives; and a net_virtio_user port
attached to a switch socket. Frames cross the switch exactly as given, so
tests compare bytes.

Every process gets its own --file-prefix and its sockets live in a short
private directory (sun_path is 108 bytes); everything started is stopped
by PID.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

from scapy.all import Ether, wrpcap, rdpcap  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("VS_BUILD", os.path.join(REPO, "build"))
SWITCH_BIN = os.path.join(BUILD, "app", "vhost-switch", "vhost-switch")
TESTPMD = shutil.which("dpdk-testpmd") or "/usr/bin/dpdk-testpmd"

# CPU plan for 2 cores: the switch's forwarding lcore on CPU 1, guests'
# forwarding lcores on CPU 0, main lcores sleeping.
SWITCH_LCORES = os.environ.get("VS_SWITCH_LCORES", "0,1")
# VS_BUSYLOOP=USEC runs every switch with that busy-loop timeout: its
# forwarding lcore sleeps when idle, so guests and switch can share CPUs
# (e.g. VS_SWITCH_LCORES=0@0,1@0 puts its datapath on CPU 0 too).
BUSYLOOP = os.environ.get("VS_BUSYLOOP")
GUEST_LCORES = os.environ.get("VS_GUEST_LCORES", "0@0,1@0")


def lcore_ids(lcores):
    """The lcore ids an EAL --lcores / -l list names, in order: "0,1",
    "0@0,1@1,2@0", "0-2", "(0,1)@0"."""
    ids = []
    for item in re.findall(r"\([^)]*\)[^,]*|[^,]+", lcores):
        part = item.split("@")[0].strip("()")
        for r in part.split(","):
            a, _, b = r.partition("-")
            ids += range(int(a), int(b or a) + 1)
    return ids


def fwd_lcores(lcores=None):
    """The forwarding lcores of a switch started with --lcores @lcores
    (default VS_SWITCH_LCORES): every lcore but the main one, which EAL
    takes as the lowest id when --main-lcore is not given."""
    ids = sorted(set(lcore_ids(lcores or SWITCH_LCORES)))
    return ids[1:]


def rxq_owners(lcore_show):
    """{"port:queue": lcore} from a lcore/show reply (a list, or the
    telemetry dict keyed "0", "1", ...). An rx queue listed by two lcores,
    or twice by one, is an AssertionError: one poller per rx queue."""
    entries = lcore_show.values() if isinstance(lcore_show, dict) \
        else lcore_show
    owners = {}
    for e in entries:
        for q in e["rxqs"].split():
            assert q not in owners, "rx queue %s listed by lcore %s and " \
                "lcore %s: %s" % (q, owners[q], e["lcore"], lcore_show)
            owners[q] = e["lcore"]
    return owners


def uid():
    return uuid.uuid4().hex[:8]


def sh(*argv, check=True, timeout=90):
    """Run a command; its output (stderr too). Raises on a non-zero exit
    unless check is False."""
    p = subprocess.run(list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=timeout)
    out = p.stdout.decode(errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(argv),
                                                p.returncode, out))
    return out


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))


class Proc:
    """A child process whose output goes to a log file we can search."""

    def __init__(self, argv, log, stdin=None, env=None):
        self.argv = argv
        self.log = log
        self._logf = open(log, "wb")
        self.p = subprocess.Popen(argv, stdout=self._logf,
                                  stderr=subprocess.STDOUT, stdin=stdin,
                                  env=env, start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def output(self):
        with open(self.log, "r", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.p.poll() is None

    def wait_log(self, pattern, count=1, timeout=15.0):
        rx = re.compile(pattern)

        def seen():
            out = self.output()
            if len(rx.findall(out)) >= count:
                return True
            if not self.alive():
                raise RuntimeError("%s exited (%s) before '%s':\n%s" % (
                    os.path.basename(self.argv[0]), self.p.returncode,
                    pattern, out[-3000:]))
            return False
        wait_for(seen, timeout, what="'%s' x%d in %s" % (pattern, count,
                                                       self.log))

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            try:
                self.p.send_signal(sig)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.alive():
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._logf.close()
        return self.p.returncode


STATS_RE = re.compile(r"vhost-switch: stats begin\n(.*?)vhost-switch: stats end",
                      re.S)


def parse_stats(block):
    """The counters block of the switch as {port name: {counter: int}}."""
    ports, mbufs = {}, {}
    for line in block.splitlines():
        m = re.match(r"port (\d+) (\S+): (.*)", line)
        if m:
            d = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(3))}
            d["id"] = int(m.group(1))
            ports[m.group(2)] = d
            continue
        m = re.match(r"mbufs (.*)", line)
        if m:
            d = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
            mbufs[d["socket"]] = d
    return ports, mbufs


class Switch:
    """vhost-switch under test."""

    def __init__(self, workdir, args=(), vdevs=(), eal=(), lcores=None,
                 name="sw"):
        self.dir = workdir
        self.prefix = "vs%s" % uid()
        self.args = list(args)
        self.vdevs = list(vdevs)
        self.eal = list(eal)
        self.lcores = lcores or SWITCH_LCORES
        self.log = os.path.join(workdir, "%s.log" % name)
        self.proc = None

    def fwd_lcores(self):
        """This switch's forwarding lcore ids (lcore/show, busyloop/show
        list one entry per id, in this order)."""
        return fwd_lcores(self.lcores)

    def argv(self):
        a = [SWITCH_BIN, "--lcores", self.lcores, "--no-huge", "-m", "512",
             "--file-prefix", self.prefix, "--no-pci"]
        for v in self.vdevs:
            a += ["--vdev", v]
        extra = ["--busyloop-timeout", BUSYLOOP] if BUSYLOOP else []
        return a + self.eal + ["--"] + extra + self.args

    def start(self, wait=True):
        self.proc = Proc(self.argv(), self.log)
        if wait:
            self.proc.wait_log(r"vhost-switch: ready")
        return self

    def output(self):
        return self.proc.output()

    def wait_log(self, pattern, count=1, timeout=15.0):
        self.proc.wait_log(pattern, count, timeout)

    def link_ups(self, port):
        return len(re.findall(r"port \d+ %s: link up" % re.escape(port),
                              self.output()))

    def wait_link(self, port, count=1, timeout=15.0):
        self.wait_log(r"port \d+ %s: link up" % re.escape(port), count,
                      timeout)

    def stats(self, timeout=5.0):
        """Ask for the counters (SIGUSR1) and parse the reply."""
        before = len(STATS_RE.findall(self.output()))
        self.proc.kill(signal.SIGUSR1)
        wait_for(lambda: len(STATS_RE.findall(self.output())) > before,
                 timeout, what="stats block")
        return parse_stats(STATS_RE.findall(self.output())[-1])

    def stop(self):
        rc = self.proc.stop()
        blocks = STATS_RE.findall(self.output())
        self.final = parse_stats(blocks[-1]) if blocks else ({}, {})
        return rc


def write_pcap(path, frames):
    wrpcap(path, [f if isinstance(f, Ether) else Ether(f) for f in frames])


def read_pcap(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    return [bytes(p) for p in rdpcap(path)]


class Guest:
    """A testpmd guest: frames from a pcap into the switch, and back."""

    def __init__(self, workdir, sock, name, frames=(), server=False,
                 queues=1, devargs="", mac=None, lcores=None, txq=None):
        self.dir = workdir
        self.name = name
        self.sock = sock
        self.prefix = "vg%s" % uid()
        self.inp = os.path.join(workdir, "%s_in.pcap" % name)
        self.out = os.path.join(workdir, "%s_out.pcap" % name)
        self.log = os.path.join(workdir, "%s.log" % name)
        self.server = server
        self.queues = queues
        self.devargs = devargs
        self.mac = mac or "02:00:00:00:%02x:%02x" % (os.getpid() & 0xff,
                                                     hash(name) & 0xff)
        self.lcores = lcores or GUEST_LCORES
        self.proc = None
        write_pcap(self.inp, list(frames))

    def argv(self):
        vu = "net_virtio_user0,path=%s,mac=%s,queues=%d" % (
            self.sock, self.mac, self.queues)
        if self.server:
            vu += ",server=1"
        if self.devargs:
            vu += "," + self.devargs
        pcap = "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (self.inp, self.out)
        q = self.queues
        return [TESTPMD, "--lcores", self.lcores, "--no-huge", "-m", "256",
                "--file-prefix", self.prefix, "--no-pci",
                "--vdev", pcap, "--vdev", vu, "--",
                "-i", "--total-num-mbufs=8192", "--forward-mode=io",
                # testpmd drains rx queues at "start" unless told not to:
                # that would swallow the pcap before forwarding begins.
                "--no-flush-rx", "--rxq=%d" % q, "--txq=%d" % q]

    def start(self):
        self.proc = Proc(self.argv(), self.log, stdin=subprocess.PIPE)
        self.proc.wait_log(r"testpmd> ", timeout=30)
        return self

    def cmd(self, line):
        self.proc.p.stdin.write((line + "\n").encode())
        self.proc.p.stdin.flush()

    def send(self):
        """Start forwarding: the pcap's frames go out, received ones are kept."""
        self.cmd("start")
        self.proc.wait_log(r"io packet forwarding")

    def finish(self, timeout=20):
        """Quit testpmd (this flushes the tx pcap) and return received frames."""
        if self.proc.alive():
            try:
                self.cmd("stop")
                self.cmd("quit")
                self.proc.p.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.p.kill()
                self.proc.p.wait()
        self.proc._logf.close()
        return read_pcap(self.out)

    def kill(self):
        self.proc.kill(signal.SIGKILL)
        self.proc.p.wait()


class Workdir:
    """A short private directory for sockets, pcaps and logs."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="vs", dir="/tmp")

    def sock(self, name):
        return os.path.join(self.path, name + ".sock")

    def file(self, name):
        return os.path.join(self.path, name)

    def cleanup(self, keep=False):
        if not keep:
            shutil.rmtree(self.path, ignore_errors=True)
