# SPDX-License-Identifier: BSD-3-Clause
"""Hostile vhost-user frontends against a sleeping forwarding lcore
(issue 11, defect 3).

The switch runs with a busy-loop timeout, so its one forwarding lcore
sleeps in epoll on the kick fds of its guests' TX rings between bursts. A
testpmd pair a -> b forwards bursts of 32 frames meanwhile; port h is a
frontend in Python (vhostuser_fuzz.Device) that hands the switch a kick fd
of its own choosing:

  - a blocking eventfd, which it kicks and drains itself for 10 s: the
    switch must never read it (a read after epoll said "readable" blocks
    for good once the frontend drained it first, and every
    vs_fwd_synchronize() with it: port/del, destroy_device);
  - a pipe, a socket (and a pipe as call fd): the vhost-user message guard
    refuses them (info -> vhost_guard -> not_eventfd, port/show ->
    vhost_refused) and the switch closes the connection.

In every case a -> b keeps forwarding, exactly, and port/del h returns.

And the call fd: librte_vhost writes it from the lcore; the call relay
(vs_vhost_call.c) gives it one of the switch's eventfds instead and
passes the interrupts on from a thread of its own, so a blocking call
eventfd whose counter the frontend filled blocks nothing.
"""
import os
import random
import select
import socket
import subprocess
import threading
import time

import pytest

import ctlclient
import vhostuser_fuzz as vf
import vstest
from ctlclient import call
from vstest import wait_for

MAC_A = "02:00:00:00:11:0a"
MAC_B = "02:00:00:00:11:0b"
MAC_H = "02:00:00:00:11:0e"
BURST = 32
ATTACK_S = 10.0
# A round's frames cross a sleeping lcore in well under a millisecond; 5 s
# covers two CPUs shared with other test runs, and is short next to a hang.
T_ROUND = 5.0
T_DEL = 5.0


class Held:
    """A Proc for the env fixture's list (it stops what has a .proc)."""

    def __init__(self, proc):
        self.proc = proc


class Pair:
    """testpmd a (interactive io, --eth-peer b: each round is one "start
    tx_first" burst of 32 toward b) and testpmd b (rxonly) on ports a, b
    of a switch whose forwarding lcore sleeps when idle."""

    def __init__(self, env, switch=None):
        """@switch(args): a started switch of those arguments (default:
        env.switch's)."""
        self.env = env
        self.ctl = env.file("ctl")
        args = ["--vhost", "%s,name=a" % env.sock("a"),
                "--vhost", "%s,name=b" % env.sock("b"),
                "--vhost", "%s,name=h" % env.sock("h"),
                "--ctl", self.ctl, "--busyloop-timeout", "50"]
        self.sw = switch(args) if switch else \
            env.switch(args=args).start()
        self.b = self._pmd("b", MAC_B, ["--forward-mode=rxonly",
                                        "--stats-period", "100"],
                           subprocess.DEVNULL)
        self.a = self._pmd("a", MAC_A, ["-i", "--forward-mode=io",
                                        "--burst=%d" % BURST,
                                        "--eth-peer=0,%s" % MAC_B],
                           subprocess.PIPE, stdbuf=True)
        self.sent = 0
        self.sw.wait_link("a", timeout=30)
        self.sw.wait_link("b", timeout=30)
        self.a.wait_log(r"testpmd> ", timeout=30)
        # b only receives: a static entry keeps a's frames off port h.
        call(self.ctl, "fdb/add", MAC_B, "b")

    def _pmd(self, name, mac, args, stdin, stdbuf=False):
        argv = [vstest.TESTPMD, "--lcores", vstest.GUEST_LCORES,
                "--no-huge", "-m", "256", "--file-prefix",
                "vg" + vstest.uid(), "--no-pci", "--vdev",
                "net_virtio_user0,path=%s,mac=%s" % (self.env.sock(name),
                                                     mac),
                "--", "--total-num-mbufs=8192"] + args
        p = vstest.Proc((["stdbuf", "-oL"] if stdbuf else []) + argv,
                        self.env.file(name + ".log"), stdin=stdin)
        self.env.procs.append(Held(p))  # killed by the env fixture
        return p

    def stat(self, port, key):
        return call(self.ctl, "stats/show", port)[key]

    def round(self):
        """One burst a -> b: every frame arrives at b, none elsewhere."""
        self.a.p.stdin.write(b"start tx_first\nstop\n")
        self.a.p.stdin.flush()
        self.sent += BURST
        try:
            wait_for(lambda: self.stat("b", "tx_pkts") >= self.sent,
                     T_ROUND, interval=0.01,
                     what="%d frames a -> b" % self.sent)
        except TimeoutError:
            raise AssertionError(
                "a -> b stalled: b tx_pkts %d of %d after %.0f s; "
                "busyloop/show %s; lcore thread in %s" % (
                    self.stat("b", "tx_pkts"), self.sent, T_ROUND,
                    self.lcore(), lcore_wchan(self.sw.proc.pid)))
        assert self.stat("a", "rx_pkts") == self.sent
        assert self.stat("b", "tx_pkts") == self.sent

    def lcore(self):
        return call(self.ctl, "busyloop/show")[0]

    def port_del(self, port):
        """port/del must return, in seconds (it waits for every lcore)."""
        c = ctlclient.Ctl(self.ctl, timeout=T_DEL)
        try:
            t0 = time.monotonic()
            try:
                res = c.call("port/del", port)
            except socket.timeout:
                raise AssertionError("port/del %s did not return in %.0f s" %
                                     (port, T_DEL))
        finally:
            c.close()
        assert res == {"deleted": port}
        return time.monotonic() - t0

    def finish(self):
        """a quits, b prints its count: every frame sent arrived."""
        self.a.p.stdin.write(b"quit\n")
        self.a.p.stdin.flush()
        self.a.p.wait(30)
        self.b.stop(timeout=15)
        assert "RX-packets: %d" % self.sent in self.b.output()
        assert self.sw.stop() == 0


class KickAndDrain:
    """The hostile frontend's thread on its own blocking kick eventfd:
    every ~0.5 ms (so that the lcore falls asleep in between) it writes a
    kick and at once reads it back, blocking. A switch that read()s the fd
    after epoll woke it mostly loses that race and then blocks in read()
    until the next kick, and for good after the last one.

    When the switch wins instead, the frontend's own read() blocks; a
    second thread then kicks again to get it going (counted in @unstuck).
    The kicker runs on a CPU other than the lcore's (@cpus), as a guest's
    vCPU would: on the lcore's own CPU, the wake-up would preempt it
    between its write and its read."""

    PERIOD = 0.0005
    SPIN_NS = [0] * 4 + list(range(0, 30000, 1000))
    STUCK = 0.01

    def __init__(self, fd, cpus=None):
        self.fd = fd
        self.cpus = cpus
        self.rng = random.Random(11)
        self.written = 0
        self.unstuck = 0
        self.drained = 0
        self.kicks = 0
        self.in_read = False
        self.halt = threading.Event()
        self.kicker = threading.Thread(target=self._kick, daemon=True)
        self.unsticker = threading.Thread(target=self._unstick, daemon=True)

    def start(self, seconds):
        self.end = time.monotonic() + seconds
        self.kicker.start()
        self.unsticker.start()
        return self

    def _kick(self):
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)  # this thread
        while time.monotonic() < self.end and not self.halt.is_set():
            os.eventfd_write(self.fd, 1)
            self.written += 1
            spin = time.perf_counter_ns() + self.rng.choice(self.SPIN_NS)
            while time.perf_counter_ns() < spin:
                pass
            self.in_read = True
            self.drained += os.eventfd_read(self.fd)
            self.in_read = False
            self.kicks += 1
            time.sleep(self.PERIOD)

    def _unstick(self):
        while self.kicker.is_alive():
            seen = self.kicks
            self.kicker.join(self.STUCK)
            if self.in_read and self.kicks == seen and \
                    self.kicker.is_alive():
                os.eventfd_write(self.fd, 1)
                self.unstuck += 1

    def running(self):
        return self.kicker.is_alive()

    def stop(self):
        self.halt.set()
        if not self.kicker.ident:
            return
        self.kicker.join()
        self.unsticker.join()

    def leftover(self):
        """Read what is left once nobody else can (port h deleted)."""
        if select.select([self.fd], [], [], 0)[0]:
            self.drained += os.eventfd_read(self.fd)
        return self.written + self.unstuck - self.drained


def lcore_wchan(pid):
    """Where the forwarding lcore waits in the kernel (for the message)."""
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        with open(base + "comm") as f:
            if f.read().startswith("rte-worker"):
                with open(base + "wchan") as f:
                    return f.read() or "?"
    return "?"


def other_cpus(pid):
    """The CPUs this process may use that no forwarding lcore of @pid is
    pinned to."""
    lcores = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().startswith("rte-worker"):
                lcores |= os.sched_getaffinity(int(tid))
    return os.sched_getaffinity(0) - lcores


def hostile_device(env, kick=None, call_fd=None):
    """A frontend on port h whose guest TX ring (the one the lcore sleeps
    on) has @kick as kick fd, and whose rings have @call_fd as call fd."""
    d = vf.Device(env.sock("h"), qsize=64, mac=MAC_H)
    if kick is not None:
        os.close(d.kick[d.TX])
        d.kick[d.TX] = kick
    if call_fd is not None:
        for q in (d.RX, d.TX):
            os.close(d.callfd[q])
            d.callfd[q] = os.dup(call_fd)
    return d


def test_blocking_eventfd_kicked_and_drained_by_guest(env):
    """Port h's kick fd is a blocking eventfd that its frontend kicks and
    drains itself for 10 s while the lcore sleeps on it: the switch never
    takes a kick from it (the frontend drains every kick it wrote), a -> b
    forwards every burst throughout and after, and port/del h returns."""
    pair = Pair(env)
    efd = os.eventfd(0, os.EFD_CLOEXEC)  # blocking, as a guest may leave it
    d = hostile_device(env, kick=efd)
    kd = KickAndDrain(efd, other_cpus(pair.sw.proc.pid))
    try:
        d.up()
        pair.sw.wait_link("h", timeout=30)
        pair.round()
        before = pair.lcore()
        kd.start(ATTACK_S)
        rounds = 0
        while kd.running():
            pair.round()
            rounds += 1
        after = pair.lcore()
        kd.stop()
        # The lcore slept between the bursts, and h's kicks woke it.
        assert rounds >= 10
        assert after["sleeps"] - before["sleeps"] >= rounds
        assert after["wakeups_kick"] - before["wakeups_kick"] >= 100, \
            (before, after)
        pair.round()  # after the last kick
        assert call(pair.ctl, "port/show", "h")["link"] == "up"
        took = pair.port_del("h")
        assert "h" not in [p["name"] for p in call(pair.ctl, "port/list")]
        pair.round()
        # Every kick the frontend wrote, it read back itself.
        assert kd.leftover() == 0, \
            "the switch took %d of %d kicks (%d to unstick the frontend)" % (
                kd.written + kd.unstuck - kd.drained,
                kd.written + kd.unstuck, kd.unstuck)
        # A blocking eventfd is an eventfd: the guard lets it through.
        guard = call(pair.ctl, "info")["vhost_guard"]
        assert not any(guard["refused"].values()), guard
        print("hostile kicks: %d written, %d to unstick, %d rounds a -> b, "
              "%d lcore wake-ups by kick, port/del in %.2f s" % (
                  kd.written, kd.unstuck, rounds,
                  after["wakeups_kick"] - before["wakeups_kick"], took))
    finally:
        kd.stop()
        d.close()
    pair.finish()


def pipe_fd():
    r, w = os.pipe2(os.O_CLOEXEC)
    return r, [w]


def socket_fd():
    s1, s2 = socket.socketpair()
    return s1.detach(), [s2.detach()]


@pytest.mark.parametrize("which,make", [("kick", pipe_fd),
                                        ("kick", socket_fd),
                                        ("call", pipe_fd)],
                         ids=["kick-pipe", "kick-socket", "call-pipe"])
def test_fd_not_eventfd_refused(env, which, make):
    """Port h's frontend hands over a pipe or a socket as kick (or call)
    fd: the guard refuses the message (counted by reason and on the port,
    the connection closed, the device never up); a -> b forwards, port/del
    h returns."""
    pair = Pair(env)
    fd, others = make()
    d = hostile_device(env, **{"kick" if which == "kick" else "call_fd": fd})
    if which == "call":
        os.close(fd)
    try:
        try:
            d.up()
        except vf.Closed:
            pass

        def closed():
            try:
                d.c.drain()
            except vf.Closed:
                return True
            return False
        try:
            wait_for(closed, 10, what="the switch closing h's connection")
        except TimeoutError:
            raise AssertionError("the switch kept h's connection with a "
                                 "%s as %s fd (link %s)" % (
                                     make.__name__[:-3], which, call(
                                         pair.ctl, "port/show", "h")["link"]))
        guard = call(pair.ctl, "info")["vhost_guard"]
        assert guard["active"]
        assert guard["refused"].get("not_eventfd") == 1, guard
        assert sum(guard["refused"].values()) == 1, guard
        h = call(pair.ctl, "port/show", "h")
        assert h["vhost_refused"] == 1 and h["link"] == "down", h
        assert "is not an eventfd" in pair.sw.output()
        pair.round()
        pair.port_del("h")
        pair.round()
    finally:
        d.close()
        for o in others:
            os.close(o)
    pair.finish()


def call_fd_device(env, pair):
    """Port h's frontend, up, with one blocking eventfd as both vrings'
    call fds (the guard lets it through)."""
    efd = os.eventfd(0, os.EFD_CLOEXEC)
    d = hostile_device(env, call_fd=efd)
    os.close(efd)
    try:
        d.up()
        pair.sw.wait_link("h", timeout=30)
    except BaseException:
        d.close()
        raise
    return d


def relay_of(ctl, port, vring):
    return [v for v in call(ctl, "vring/show", port)
            if v["vring"] == vring][0]["call_relay"]


def test_call_eventfd_relayed_and_saturated(env):
    """Port h's call fds are one blocking eventfd (the guard lets it
    through). First the frontend plays fair: the frames a -> b flood to h
    too (no entry for b), and its eventfd gets the switch's interrupts,
    passed on by the call relay (vring/show: relayed). Then it sets the
    counter to the maximum, 2^64 - 2, and never reads it: a -> b must keep
    forwarding, the relay counts the interrupts it could not add (full),
    and port/del h must return.

    Fails without the relay: librte_vhost's eventfd_write() on that
    eventfd blocks the forwarding lcore, and every vs_fwd_synchronize()
    with it (this test was an xfail until the relay came)."""
    pair = Pair(env)
    d = call_fd_device(env, pair)
    try:
        call(pair.ctl, "fdb/del", MAC_B)
        pair.round()
        # The guest's RX vring (0) raised interrupts: all relayed.
        r = relay_of(pair.ctl, "h", 0)
        assert r["relayed"] >= 1 and r["blocked"] == 0, r
        assert os.eventfd_read(d.callfd[d.RX]) >= 1
        assert call(pair.ctl, "info")["call_relay"]["active"] is True
        # Saturated: nothing more fits, and the relay adds nothing.
        os.eventfd_write(d.callfd[d.RX], 2**64 - 2)
        for _ in range(3):
            pair.round()
        r = relay_of(pair.ctl, "h", 0)
        assert r["full"] >= 1 and r["blocked"] == 0, r
        pair.port_del("h")
        pair.round()
    finally:
        d.close()
    pair.finish()
