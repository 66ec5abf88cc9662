# SPDX-License-Identifier: BSD-3-Clause
"""Reconnection: guests restarting against a client-mode switch, a guest
flapping under traffic against a server-mode switch, SIGTERM with guests
attached, and one switch per server socket.

Besides the pcap guests of vstest, these tests use plain testpmd processes
with a single virtio-user port and no pcap (class Pmd): a txonly
streamer, an rxonly "flapper", a macswap reflector. They run without -i,
with --stats-period so that they keep forwarding until SIGINT / SIGTERM.
"""
import os
import signal
import stat
import subprocess

from scapy.all import Ether, IP, UDP, Raw

import vstest
from vstest import read_pcap, wait_for

BCAST = "ff:ff:ff:ff:ff:ff"
SIZES = [64, 128, 1518, 512, 65, 1024]

# Generous: two CPUs shared with busy-polling guests and other test runs.
T_LINK = 45
T_TRAFFIC = 30


def mac(n):
    return "02:00:00:%02x:%02x:%02x" % (os.getpid() >> 8 & 0xff,
                                        os.getpid() & 0xff, n)


def frame(src, dst, n, size=64, tag=0):
    """A UDP frame of @size bytes (FCS excluded) that @n and @tag make
    unique: the payload bytes are the tag."""
    p = Ether(src=src, dst=dst) / IP(src="10.1.%d.1" % (tag & 0xff),
                                     dst="10.1.0.2") / \
        UDP(sport=1000 + n, dport=3000 + tag)
    return bytes(p / Raw(bytes([tag & 0xff]) * max(0, size - 4 - len(p))))


def swapped(f):
    """The frame as testpmd's macswap engine sends it back."""
    return f[6:12] + f[0:6] + f[12:]


def src_of(f):
    return ":".join("%02x" % b for b in f[6:12])


def start_guests(*guests):
    """Start pcap guests at once and wait for all their prompts (a
    virtio-user server=1 guest blocks in accept() until the switch
    connects)."""
    for g in guests:
        g.proc = vstest.Proc(g.argv(), g.log, stdin=subprocess.PIPE)
    for g in guests:
        g.proc.wait_log(r"testpmd> ", timeout=T_LINK)
    return guests


def wait_pcap(path, n, timeout=T_TRAFFIC):
    """net_pcap flushes its tx file after every burst: wait until @path
    holds @n frames, and return them."""
    box = []

    def enough():
        box[:] = [read_pcap(path)]
        return len(box[0]) >= n
    try:
        wait_for(enough, timeout, interval=0.2, what="%d frames in %s" % (
            n, path))
    except TimeoutError:
        raise AssertionError("%s: %d frames, expected %d" % (
            path, len(box[0]) if box else -1, n))
    return box[0]


def wait_value(get, pred, label, what, timeout, interval):
    """Poll get() until pred(value); fail with "LABEL=VALUE: expected
    WHAT". Returns the value."""
    box = {}

    def ok():
        box["v"] = get()
        return pred(box["v"])
    try:
        wait_for(ok, timeout, interval=interval, what=what)
    except TimeoutError:
        raise AssertionError("%s=%s: expected %s" % (label, box.get("v"),
                                                     what))
    return box["v"]


def wait_stat(sw, port, key, pred, what, timeout=T_TRAFFIC):
    return wait_value(lambda: sw.stats(timeout=10)[0][port][key], pred,
                      "port %s %s" % (port, key), what, timeout, 0.2)


def wait_in_use_zero(sw, timeout=10):
    """in_use of every pool, once it reads 0 (or the last reading)."""
    box = {}

    def zero():
        box["m"] = {s: d["in_use"] for s, d in sw.stats()[1].items()}
        return all(v == 0 for v in box["m"].values())
    try:
        wait_for(zero, timeout, interval=0.3, what="in_use == 0")
    except TimeoutError:
        pass
    return box["m"]


class Pmd:
    """A testpmd with one virtio-user port and no pcap, non-interactive:
    it forwards in @mode until SIGINT / SIGTERM (or SIGKILL)."""

    def __init__(self, env, name, sock, mac_addr, mode, extra=(),
                 server=False):
        self.name = name
        self.sock = sock
        self.mac = mac_addr
        self.mode = mode
        self.extra = list(extra)
        self.server = server
        self.log = env.file(name + ".log")
        self.proc = None
        env.procs.append(self)  # the env fixture kills it if still alive

    def argv(self):
        vu = "net_virtio_user0,path=%s,mac=%s" % (self.sock, self.mac)
        if self.server:
            vu += ",server=1"
        return [vstest.TESTPMD, "--lcores", vstest.GUEST_LCORES,
                "--no-huge", "-m", "256", "--file-prefix",
                "vt" + vstest.uid(), "--no-pci", "--vdev", vu, "--",
                "--total-num-mbufs=8192", "--stats-period", "1",
                "--forward-mode=%s" % self.mode] + self.extra

    def start(self):
        self.proc = vstest.Proc(self.argv(), self.log,
                                stdin=subprocess.DEVNULL)
        return self

    def stop(self, sig=signal.SIGINT):
        return self.proc.stop(sig, timeout=30)

    def kill(self):
        self.proc.kill(signal.SIGKILL)
        self.proc.p.wait()
        self.proc._logf.close()


def vhost_args(env, names, client=False):
    a = []
    for n in names:
        a += ["--vhost", "%s%s,name=%s" % (env.sock(n),
                                          ",client" if client else "", n)]
    return a


def link_downs(sw, port):
    return sw.output().count(" %s: link down" % port)


# ---------------------------------------------------------------------------
# 4. Client mode: a virtio-user server=1 guest restarted 10 times.
# ---------------------------------------------------------------------------

RESTARTS = 10


def test_client_guest_restarts(env):
    """The switch connects to server=1 guests. Guest b is restarted 10
    times (quit or SIGKILL, alternately); each time the switch reconnects
    and traffic resumes both ways, byte for byte: b's frames reach the pcap
    guest a exactly, and b's frames to the macswap guest r come back to b
    exactly (MACs swapped)."""
    A, B, R = mac(0xa), mac(0xb), mac(0x7)
    sw = env.switch(args=vhost_args(env, "arb", client=True)).start()
    # r sends one burst to itself first (--tx-first, peer = its own MAC):
    # the switch learns r and drops the burst as same_port.
    r = Pmd(env, "r", env.sock("r"), R, "macswap",
            ["--tx-first", "--eth-peer=0,%s" % R], server=True).start()
    # a learns itself the same way: one frame addressed to itself.
    hello_a = frame(A, A, 0, tag=0xaa)
    a = env.guest("a", env.sock("a"), [hello_a], server=True, mac=A)
    start_guests(a)
    sw.wait_link("a", timeout=T_LINK)
    sw.wait_link("r", timeout=T_LINK)
    a.send()
    wait_stat(sw, "r", "same_port", lambda v: v >= 32, ">= 32 (r learned)")
    wait_stat(sw, "a", "same_port", lambda v: v >= 1, ">= 1 (a learned)")

    to_a_all, to_r_total = [], 0
    for i in range(RESTARTS):
        to_a = [frame(B, A, k, s, tag=i) for k, s in enumerate(SIZES)]
        to_r = [frame(B, R, k, s, tag=0x80 + i)
                for k, s in enumerate(SIZES[:4])]
        mixed = [f for pair in zip(to_a, to_r + [None] * 2)
                 for f in pair if f is not None]
        b = env.guest("b%d" % i, env.sock("b"), mixed, server=True, mac=B)
        start_guests(b)
        sw.wait_link("b", count=i + 1, timeout=T_LINK)
        assert sw.link_ups("b") == i + 1
        b.send()
        to_a_all += to_a
        got_a = wait_pcap(a.out, len(to_a_all))
        assert got_a[-len(to_a):] == to_a, "restart %d: b -> a" % i
        assert got_a == to_a_all, "restart %d: a's frames so far" % i
        wait_pcap(b.out, len(to_r))
        if i % 2 == 0:
            got_b = b.finish()            # testpmd quits: a clean close
        else:
            b.kill()                      # the guest dies
            b.proc._logf.close()
            got_b = read_pcap(b.out)
            # A killed virtio-user server leaves its socket file behind
            # and the next one cannot bind() over it: the guest's manager
            # (libvirt) removes it. The switch, a client, never touches it.
            assert stat.S_ISSOCK(os.lstat(env.sock("b")).st_mode)
            os.unlink(env.sock("b"))
        assert got_b == [swapped(f) for f in to_r], "restart %d: b<-r" % i
        to_r_total += len(to_r)
        sw.wait_log(r"port \d+ b: link down", count=i + 1, timeout=T_LINK)
        assert sw.proc.alive()

    assert a.finish() == to_a_all
    r.stop()
    sw.wait_log(r"port \d+ r: link down", timeout=T_LINK)
    in_use = wait_in_use_zero(sw)
    assert in_use == {0: 0}, "mbufs not back: %s" % in_use
    ports, _ = sw.stats()
    assert ports["b"]["rx_pkts"] == len(to_a_all) + to_r_total
    assert ports["b"]["tx_pkts"] == to_r_total
    assert ports["a"]["tx_pkts"] == len(to_a_all)
    assert ports["r"]["tx_pkts"] == to_r_total
    assert ports["r"]["rx_pkts"] == 32 + to_r_total
    assert sw.stop() == 0
    assert sw.final[1][0]["in_use"] == 0


# ---------------------------------------------------------------------------
# 5. Server mode: a guest flapping 20 times under traffic.
# ---------------------------------------------------------------------------

FLAPS = 20


def test_server_guest_flaps_under_traffic(env):
    """Guest f disconnects (SIGKILL or a clean quit, alternately) and
    reconnects 20 times while guest s streams to f's MAC at full speed.
    The switch stays up, delivers the stream to every incarnation of f,
    gets every mbuf back once the stream stops, and still forwards exactly
    between guests a and b, which stayed attached throughout."""
    S, F, A, B = mac(0x5), mac(0xf), mac(0xa), mac(0xb)
    sw = env.switch(args=vhost_args(env, "sfab")).start()

    def flapper(n):
        # One burst to itself first: f is learned (dropped as same_port),
        # so the stream goes to f's port, up or down.
        return Pmd(env, "f%d" % n, env.sock("f"), F, "rxonly",
                   ["--tx-first", "--eth-peer=0,%s" % F]).start()

    hello_b = frame(B, BCAST, 0, tag=0xbb)
    a_to_b = [frame(A, B, k, s, tag=0xab) for k, s in enumerate(SIZES * 3)]
    a = env.guest("a", env.sock("a"), a_to_b, mac=A)
    b = env.guest("b", env.sock("b"), [hello_b], mac=B)
    f = flapper(0)
    start_guests(a, b)
    for p in "abf":
        sw.wait_link(p, timeout=T_LINK)
    wait_stat(sw, "f", "same_port", lambda v: v >= 32, ">= 32 (f learned)")

    s = Pmd(env, "s", env.sock("s"), S, "txonly",
            ["--eth-peer=0,%s" % F]).start()
    sw.wait_link("s", timeout=T_LINK)
    wait_stat(sw, "f", "tx_pkts", lambda v: v > 0, "> 0 (stream reaches f)")

    for i in range(1, FLAPS + 1):
        if i % 2:
            f.kill()
        else:
            f.stop(signal.SIGINT)
        sw.wait_log(r"port \d+ f: link down", count=i, timeout=T_LINK)
        assert sw.proc.alive(), "switch died at flap %d" % i
        tx0 = sw.stats()[0]["f"]["tx_pkts"]
        f = flapper(i)
        sw.wait_link("f", count=i + 1, timeout=T_LINK)
        wait_stat(sw, "f", "same_port", lambda v, n=32 * (i + 1): v >= n,
                  ">= %d (tx-first burst %d)" % (32 * (i + 1), i))
        wait_stat(sw, "f", "tx_pkts", lambda v, t=tx0: v > t,
                  "> %d (stream reaches f after reconnect %d)" % (tx0, i))
        assert s.proc.alive(), "the streamer died at flap %d" % i

    assert sw.link_ups("f") == FLAPS + 1
    assert link_downs(sw, "f") == FLAPS
    assert sw.proc.alive()
    before = sw.stats()[0]
    s.stop(signal.SIGINT)
    sw.wait_log(r"port \d+ s: link down", timeout=T_LINK)

    ports, _ = sw.stats()
    assert ports["s"]["rx_pkts"] > before["s"]["rx_pkts"] > 0
    assert ports["f"]["tx_pkts"] > 0
    assert ports["s"]["rx_pkts"] >= ports["f"]["tx_pkts"]
    # The tx-first bursts, dropped as addressed to their own port.
    assert ports["f"]["rx_pkts"] == 32 * (FLAPS + 1)
    assert ports["f"]["same_port"] == 32 * (FLAPS + 1)
    in_use = wait_in_use_zero(sw)
    assert in_use == {0: 0}, "mbufs not back after the stream: %s" % in_use

    # a and b, attached all along, still talk exactly.
    b.send()
    wait_stat(sw, "a", "tx_pkts", lambda v: v >= 1, ">= 1 (hello to a)")
    a.send()
    wait_stat(sw, "b", "tx_pkts", lambda v: v >= len(a_to_b),
              ">= %d" % len(a_to_b))
    # Stream frames that reached a or b while f was down (a switch may
    # forget f's MAC then and flood) are not the point here: leave them out.
    got = {g.name: [x for x in g.finish() if src_of(x) != S]
           for g in (a, b)}
    assert got["b"] == a_to_b
    assert got["a"] == [hello_b]
    ports, _ = sw.stats()
    assert ports["a"]["rx_pkts"] == len(a_to_b)
    assert ports["b"]["rx_pkts"] == 1
    in_use = wait_in_use_zero(sw)
    assert in_use == {0: 0}, "mbufs not back after a<->b: %s" % in_use
    f.stop(signal.SIGINT)
    assert sw.stop() == 0


# ---------------------------------------------------------------------------
# SIGTERM in client mode with guests attached.
# ---------------------------------------------------------------------------

def sock_ino(path):
    assert os.path.lexists(path), "%s is gone" % path
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode), "%s is no longer a socket" % path
    return st.st_ino


def test_client_sigterm_with_guests_attached(env):
    """SIGTERM stops a client-mode switch with exit 0 while its server=1
    guests are attached; their sockets stay where they were (same inode),
    the guests live on, and a new switch reconnects to them and forwards
    exactly."""
    M = {g: mac(0x10 + i) for i, g in enumerate("abc")}
    a_to_b = [frame(M["a"], M["b"], k, s, tag=1) for k, s in enumerate(SIZES)]
    c_bcast = [frame(M["c"], BCAST, k, s, tag=2) for k, s in enumerate(SIZES)]
    g = {n: env.guest(n, env.sock(n), {"a": a_to_b, "c": c_bcast}.get(n, []),
                      server=True, mac=M[n]) for n in "abc"}
    args = vhost_args(env, "abc", client=True)
    sw1 = env.switch(args=args, name="sw1").start()
    start_guests(*g.values())
    for n in "abc":
        sw1.wait_link(n, timeout=T_LINK)
    g["b"].send()
    g["a"].send()
    assert wait_pcap(g["b"].out, len(a_to_b)) == a_to_b
    ino = {n: sock_ino(env.sock(n)) for n in "abc"}

    assert sw1.stop() == 0
    out = sw1.output()
    assert "vhost-switch: stopped" in out
    assert sw1.final[1][0]["in_use"] == 0
    for n in "abc":
        assert sock_ino(env.sock(n)) == ino[n], "%s's socket replaced" % n
        assert g[n].proc.alive(), "guest %s died with the switch" % n

    sw2 = env.switch(args=args, name="sw2").start()
    for n in "abc":
        sw2.wait_link(n, timeout=T_LINK)
    g["c"].send()
    wait_stat(sw2, "a", "tx_pkts", lambda v: v >= len(c_bcast),
              ">= %d" % len(c_bcast))
    wait_stat(sw2, "b", "tx_pkts", lambda v: v >= len(c_bcast),
              ">= %d" % len(c_bcast))
    got = {n: g[n].finish() for n in "abc"}
    assert got["a"] == c_bcast
    assert got["b"] == a_to_b + c_bcast
    assert sw2.stop() == 0


# ---------------------------------------------------------------------------
# One switch per server socket.
# ---------------------------------------------------------------------------

def test_second_switch_on_same_socket_fails(env):
    """A second switch given a server socket that a running switch owns
    exits non-zero, naming the path and saying it is in use, whether a
    guest is attached to that socket or not; the first switch keeps its
    guest, keeps its sockets and forwards exactly afterwards."""
    A, B = mac(0x2a), mac(0x2b)
    hello_b = frame(B, BCAST, 0, tag=3)
    a_to_b = [frame(A, B, k, s, tag=4) for k, s in enumerate(SIZES)]
    sw1 = env.switch(args=vhost_args(env, "ab"), name="sw1").start()
    b = env.guest("b", env.sock("b"), [hello_b], mac=B)
    start_guests(b)
    sw1.wait_link("b", timeout=T_LINK)
    ino = {n: sock_ino(env.sock(n)) for n in "ab"}

    # b's socket has a guest on it; a's is listening, nobody attached.
    # The second switch also has a free socket of its own, set up first.
    for n in "ba":
        free = env.sock("free" + n)
        sw2 = env.switch(args=["--vhost", "%s,name=x" % free,
                               "--vhost", "%s,name=y" % env.sock(n)],
                         name="sw2" + n)
        sw2.start(wait=False)
        try:
            rc = sw2.proc.p.wait(T_LINK)
        except subprocess.TimeoutExpired:
            raise AssertionError("second switch on %s still running:\n%s" % (
                n, sw2.output()[-2000:]))
        out = sw2.output()
        assert rc != 0, out[-2000:]
        assert "vhost-switch: ready" not in out
        lines = [ln for ln in out.splitlines()
                 if env.sock(n) in ln and "in use" in ln]
        assert lines, "no 'in use' error naming %s:\n%s" % (env.sock(n),
                                                           out[-2000:])
        assert not os.path.exists(free), "second switch left %s" % free
        assert sw1.proc.alive()
        for m in "ab":
            assert sock_ino(env.sock(m)) == ino[m]

    assert link_downs(sw1, "b") == 0
    assert sw1.link_ups("b") == 1
    a = env.guest("a", env.sock("a"), a_to_b, mac=A)
    start_guests(a)
    sw1.wait_link("a", timeout=T_LINK)
    b.send()
    wait_stat(sw1, "a", "tx_pkts", lambda v: v >= 1, ">= 1 (hello to a)")
    a.send()
    wait_stat(sw1, "b", "tx_pkts", lambda v: v >= len(a_to_b),
              ">= %d" % len(a_to_b))
    assert b.finish() == a_to_b
    assert a.finish() == [hello_b]
    assert sw1.stop() == 0
