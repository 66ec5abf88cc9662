# SPDX-License-Identifier: BSD-3-Clause
"""QEMU Linux guests for the tests: boot, drive, migrate.

The guest is the minimal one scripts/guest-image builds from Debian's
packages (the uncompressed kernel of linux-image-amd64, an initramfs with
busybox-static, the virtio-net modules, iperf3 and ethtool). QEMU runs under
TCG, with:

- guest memory in a shared memfd (vhost-user needs to map it);
- one virtio-net-pci NIC on a vhost-user netdev, `vectors=0`: Debian 12's
  QEMU 7.2 under TCG crashes with vhost-user once the guest enables MSI-X,
  so the NIC uses INTx;
- the console (ttyS0) in a log file, and a command server on ttyS1 (a unix
  socket): the test writes "ID COMMAND" lines and reads the output between
  "@@ID<@@" and "@@ID@@ STATUS" (see scripts/guest-image);
- QMP on a unix socket (migration, `info` commands through HMP).

Everything runs as a vstest.Proc and is stopped by PID.
"""
import json
import os
import re
import socket
import subprocess
import time

import vstest
from vstest import wait_for

QEMU = "/usr/bin/qemu-system-x86_64"
GUEST_IMAGE = os.path.join(vstest.REPO, "scripts", "guest-image")

# TCG on two CPUs shared with other DPDK test runs: generous.
T_BOOT = 180
T_CMD = 60

_image = {}


def guest_image():
    """Build (or find in its cache) the guest image; returns
    {"kernel": path, "initrd": path, "dir": path}. Raises RuntimeError
    with the script's output when it fails."""
    if not _image:
        p = subprocess.run(["bash", GUEST_IMAGE], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           timeout=900)
        if p.returncode != 0:
            raise RuntimeError("scripts/guest-image failed (%d):\n%s%s" % (
                p.returncode, p.stdout.decode(errors="replace"),
                p.stderr.decode(errors="replace")))
        for line in p.stdout.decode().splitlines():
            k, _, v = line.partition("=")
            _image[k] = v
    return dict(_image)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CommandError(Exception):
    pass


class Serial:
    """The guest's command server on ttyS1, through QEMU's socket chardev."""

    def __init__(self, path, timeout=T_BOOT):
        self.path = path
        self.buf = b""
        self.seq = 0
        self.s = None
        wait_for(self._connect, timeout, interval=0.1,
                 what="serial socket %s" % path)

    def _connect(self):
        if not os.path.exists(self.path):
            return False
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            return False
        self.s = s
        return True

    def read_until(self, rx, timeout):
        rx = re.compile(rx)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                out = self.buf[:m.start()]
                self.buf = self.buf[m.end():]
                return out, m
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no %r from the guest in %.0fs; got %r" % (
                    rx.pattern, timeout, self.buf[-2000:]))
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            if not d:
                raise ConnectionError("guest serial %s closed; got %r" % (
                    self.path, self.buf[-2000:]))
            self.buf += d

    def run(self, cmd, timeout=T_CMD):
        """Run a shell command in the guest: (status, output)."""
        assert "\n" not in cmd
        self.seq += 1
        tag = "%d%04d" % (os.getpid() % 1000, self.seq)
        self.s.sendall(("%s %s\n" % (tag, cmd)).encode())
        # Whatever came before the start marker is not this command's.
        self.read_until(rb"@@%s<@@\n" % tag.encode(), timeout)
        out, m = self.read_until(rb"@@%s@@ (\d+)\n" % tag.encode(), timeout)
        return int(m.group(1)), out.decode(errors="replace")

    def close(self):
        if self.s:
            self.s.close()
            self.s = None


class Qmp:
    """A minimal QMP client."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        # QEMU binds the path before it listens: the file alone does not
        # mean it takes connections yet (ECONNREFUSED in between).
        wait_for(lambda: self._connect(path), timeout,
                 what="QMP socket %s to accept" % path)
        self.f = self.s.makefile("rb")
        self.events = []
        json.loads(self.f.readline())          # greeting
        self.execute("qmp_capabilities")

    def _connect(self, path):
        try:
            self.s.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return False
        return True

    def execute(self, cmd, **args):
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        self.s.sendall(json.dumps(req).encode() + b"\n")
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("QMP closed during %s" % cmd)
            r = json.loads(line)
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError("QMP %s: %s" % (cmd, r["error"]))
            return r.get("return")

    def hmp(self, line):
        return self.execute("human-monitor-command", **{"command-line": line})

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass


class VM:
    """A QEMU guest with one vhost-user NIC.

    sock: the vhost-user socket. server=False: QEMU connects to it (the
    switch port is a server, OVS's dpdkvhostuser); server=True: QEMU creates
    it and the switch connects (`--vhost PATH,client`, OVS's
    dpdkvhostuserclient). incoming=PORT: a migration destination
    (`-incoming tcp:127.0.0.1:PORT`); it boots nothing itself.
    """

    def __init__(self, workdir, name, sock, mac, ip=None, server=False,
                 mem=256, rx_queue_size=None, tx_queue_size=None,
                 incoming=None, cpus=None, guest_announce=True,
                 prefix=()):
        self.dir = workdir
        self.name = name
        self.sock = sock
        self.mac = mac
        self.ip = ip
        self.server = server
        self.mem = mem
        self.rx_queue_size = rx_queue_size
        self.tx_queue_size = tx_queue_size
        self.incoming = incoming
        self.cpus = cpus
        self.guest_announce = guest_announce
        # A command QEMU runs under (e.g. setpriv, to run as another user).
        self.prefix = list(prefix)
        self.log = os.path.join(workdir, "%s.qemu.log" % name)
        self.console = os.path.join(workdir, "%s.console.log" % name)
        self.serial_path = os.path.join(workdir, "%s.ser" % name)
        self.qmp_path = os.path.join(workdir, "%s.qmp" % name)
        self.proc = None
        self.serial = None
        self._qmp = None

    def argv(self):
        img = guest_image()
        append = "console=ttyS0 quiet panic=-1 mitigations=off " \
                 "tsc=reliable no_timer_check vs.name=%s" % self.name
        if self.ip:
            append += " vs.ip=%s" % self.ip
        chardev = "socket,id=c0,path=%s" % self.sock
        if self.server:
            chardev += ",server=on,wait=off"
        dev = "virtio-net-pci,netdev=n0,mac=%s,vectors=0" % self.mac
        if self.rx_queue_size:
            dev += ",rx_queue_size=%d" % self.rx_queue_size
        if self.tx_queue_size:
            dev += ",tx_queue_size=%d" % self.tx_queue_size
        if not self.guest_announce:
            # No VIRTIO_NET_F_GUEST_ANNOUNCE: after a migration QEMU asks
            # the backend to announce the guest (VHOST_USER_SEND_RARP).
            dev += ",guest_announce=off"
        a = [QEMU, "-nodefaults", "-no-user-config", "-machine", "pc",
             "-accel", "tcg", "-display", "none", "-no-reboot",
             "-name", self.name,
             "-object", "memory-backend-memfd,id=mem,size=%dM,share=on" %
             self.mem,
             "-numa", "node,memdev=mem", "-m", "%dM" % self.mem,
             "-kernel", img["kernel"], "-initrd", img["initrd"],
             "-append", append,
             "-chardev", "file,id=con,path=%s" % self.console,
             "-serial", "chardev:con",
             "-chardev", "socket,id=ser,path=%s,server=on,wait=off" %
             self.serial_path,
             "-serial", "chardev:ser",
             "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path,
             "-chardev", chardev,
             "-netdev", "vhost-user,id=n0,chardev=c0",
             "-device", dev]
        if self.incoming:
            a += ["-incoming", "tcp:127.0.0.1:%d" % self.incoming]
        if self.cpus:
            a = ["taskset", "-c", self.cpus] + a
        return self.prefix + a

    def start(self):
        for p in (self.serial_path, self.qmp_path):
            if os.path.exists(p):
                os.unlink(p)
        self.proc = vstest.Proc(self.argv(), self.log)
        # Connect to the serial port before the kernel gets there: what the
        # guest writes while nobody is connected is lost.
        wait_for(lambda: os.path.exists(self.serial_path) or
                 self._dead("starting"), 30, what="QEMU %s sockets" %
                 self.name)
        self.serial = Serial(self.serial_path)
        return self

    def _dead(self, what):
        if not self.proc.alive():
            raise RuntimeError("QEMU %s exited (%s) while %s:\n%s\n"
                               "console:\n%s" % (
                                   self.name, self.proc.p.returncode, what,
                                   self.proc.output()[-3000:],
                                   self.console_output()[-3000:]))
        return False

    def console_output(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_ready(self, timeout=T_BOOT):
        """Wait for the command server's @@READY@@; should it have gone
        by unseen, a command that answers will do."""
        end = time.monotonic() + timeout
        start = time.monotonic()
        while True:
            try:
                if time.monotonic() - start < 30:
                    self.serial.read_until(rb"@@READY@@\n?", 2)
                else:
                    self.serial.run("true", 5)
                return self
            except TimeoutError:
                self._dead("booting")
                if time.monotonic() > end:
                    raise TimeoutError(
                        "guest %s not ready after %.0fs; console:\n%s" % (
                            self.name, timeout,
                            self.console_output()[-3000:]))

    def run(self, cmd, timeout=T_CMD):
        try:
            return self.serial.run(cmd, timeout)
        except (TimeoutError, ConnectionError):
            self._dead("running %r" % cmd)
            raise

    def check(self, cmd, timeout=T_CMD):
        st, out = self.run(cmd, timeout)
        if st != 0:
            raise CommandError("guest %s: '%s' exited %d:\n%s" % (
                self.name, cmd, st, out))
        return out

    def ethtool_k(self, dev="eth0"):
        """`ethtool -k DEV` in the guest as {feature: "on" | "off"}; the
        "[fixed]" / "[requested on]" notes are dropped."""
        return parse_ethtool_k(self.check("ethtool -k %s" % dev))

    def ethtool_S(self, dev="eth0"):
        """`ethtool -S DEV` in the guest as {statistic: int} (virtio_net:
        rx_queue_0_packets, rx_queue_0_bytes, tx_queue_0_packets, ...)."""
        out = self.check("ethtool -S %s" % dev)
        return {m.group(1): int(m.group(2)) for m in re.finditer(
            r"^\s*([\w.-]+): (\d+)$", out, re.M)}

    def listening(self, port):
        """Whether a TCP socket listens on @port in the guest."""
        out = self.check("netstat -ltn")
        return re.search(r"^tcp6?\s.*:%d\s.*LISTEN" % port, out,
                         re.M) is not None

    def wait_listen(self, port, timeout=T_CMD):
        """Wait until a TCP socket listens on @port in the guest (a
        server just started in the background)."""
        wait_for(lambda: self.listening(port), timeout, interval=0.1,
                 what="TCP port %d listening in guest %s" % (port,
                                                             self.name))

    def snmp(self):
        """The guest kernel's protocol counters: /proc/net/snmp and
        /proc/net/netstat (what `netstat -s` prints; busybox's netstat has
        no -s) as {"Tcp": {"RetransSegs": N, "InCsumErrors": N, ...},
        "TcpExt": {...}, "Ip": ..., "IpExt": ..., "Udp": ...}."""
        return parse_snmp(self.check("cat /proc/net/snmp /proc/net/netstat"))

    def iperf3(self, server, nbytes="64M", port=5201, timeout=600):
        """iperf3 from this guest (the client, which sends) to @server
        (another VM, whose IP address is its vs.ip): `iperf3 -s -1` there,
        `iperf3 -c -n NBYTES -J` here. Returns the client's JSON report
        (the "end" section has sum_sent and sum_received), plus
        "host_seconds": how long the client ran as the host saw it
        (connection and exchange of results included; the JSON goes to a
        file in the guest while it runs, not through the slow serial
        port).

        The client ends the test once it has written NBYTES to its socket,
        and the server stops counting then: sum_received falls short of
        sum_sent by what was still in flight (a few MB under TCG). The same
        goes for `iperf3 -F FILE` on the server, whose file comes out
        truncated: not a way to move a file whole."""
        ip = server.ip.split("/")[0]
        server.check("iperf3 -s -1 -D -p %d --logfile /tmp/iperf3-%d.log"
                     % (port, port))
        server.wait_listen(port)
        js = "/tmp/iperf3-c-%d.json" % port
        t0 = time.monotonic()
        st, out = self.run("iperf3 -c %s -p %d -n %s -J >%s" % (
            ip, port, nbytes, js), timeout)
        host = time.monotonic() - t0
        out += self.run("cat %s; rm -f %s" % (js, js))[1]
        # -J prints one JSON object; an error is in it ("error"), and the
        # exit status is not 0.
        try:
            rep = json.loads(out[out.index("{"):out.rindex("}") + 1])
        except ValueError:
            raise CommandError("guest %s: iperf3 to %s exited %d, no JSON:"
                               "\n%s" % (self.name, ip, st, out))
        if st != 0 or "error" in rep:
            raise CommandError("guest %s: iperf3 to %s exited %d: %s\n"
                               "server log:\n%s" % (
                                   self.name, ip, st, rep.get("error"),
                                   server.run("cat /tmp/iperf3-%d.log" %
                                              port)[1]))
        rep["host_seconds"] = host
        return rep

    @property
    def qmp(self):
        if self._qmp is None:
            self._qmp = Qmp(self.qmp_path)
        return self._qmp

    def reconnect_serial(self):
        """After an incoming migration: the guest's shell now talks to
        this QEMU's ttyS1."""
        if self.serial is None:
            self.serial = Serial(self.serial_path)
        return self.serial

    def stop(self, timeout=15):
        if self.serial:
            self.serial.close()
        if self._qmp:
            self._qmp.close()
        if self.proc and self.proc.alive():
            return self.proc.stop(timeout=timeout)
        if self.proc:
            self.proc._logf.close()
            return self.proc.p.returncode
        return None


def parse_ethtool_k(text):
    """`ethtool -k` output as {feature: "on" | "off"} (both the top-level
    features, e.g. "tx-checksumming", and the indented ones)."""
    return {m.group(1): m.group(2) for m in re.finditer(
        r"^\s*([a-z0-9][a-z0-9_-]*): (on|off)\b", text, re.M)}


def parse_snmp(text):
    """/proc/net/snmp or /proc/net/netstat text (pairs of lines "Tcp: NAMES"
    and "Tcp: VALUES") as {"Tcp": {name: int}, ...}."""
    out = {}
    header = {}
    for line in text.splitlines():
        proto, sep, rest = line.partition(":")
        if not sep:
            continue
        fields = rest.split()
        if proto not in header:
            header[proto] = fields
            continue
        names = header.pop(proto)
        out[proto] = {n: int(v) for n, v in zip(names, fields)
                      if re.fullmatch(r"-?\d+", v)}
    return out


def migration_end(qmp, timeout=T_BOOT):
    """Wait until the migration of qmp's QEMU ends; its query-migrate."""
    box = {}

    def ended():
        box["info"] = qmp.execute("query-migrate")
        return box["info"].get("status") in ("completed", "failed",
                                             "cancelled")
    try:
        wait_for(ended, timeout, interval=0.1, what="migration to end")
    except TimeoutError:
        raise TimeoutError("migration not over after %.0fs: %s" % (
            timeout, box.get("info")))
    return box["info"]


def teardown(wd, keep, vms=(), sw=None, netns=None, procs=()):
    """Stop what a QEMU lab started, in the order that frees it: helper
    processes, the guests (last started first), the switch (it may own a
    tap moved into the namespace), the namespace; the work directory is
    kept, and said so, when @keep (a test failed)."""
    for p in procs:
        if p.alive():
            p.kill()
            p.p.wait()
        p._logf.close()
    for v in reversed(list(vms)):
        if v is not None and v.proc is not None:
            v.proc.kill()
            v.proc.p.wait()
            v.stop()
    if sw is not None and sw.proc is not None and sw.proc.alive():
        sw.stop()
    if netns:
        subprocess.run(["ip", "netns", "del", netns],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
    if keep:
        print("logs kept in %s" % wd.path)
    wd.cleanup(keep=keep)
