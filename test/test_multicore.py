# SPDX-License-Identifier: BSD-3-Clause
"""Several forwarding lcores (issue 11).

- Rx queue assignment is stable: port/add puts the new queues on the least
  loaded lcores and moves nothing else, port/del moves nothing, and only
  lcore/rebalance evens the counts.
- Every guest queue pair is served, also those a frontend without
  VHOST_USER_PROTOCOL_F_STATUS enables after new_device (QEMU does this
  for a Linux guest that turns on more queue pairs with ethtool -L).
- A stress run: two forwarding lcores on the two CPUs, four two-queue
  testpmd guests and a multi-queue net_tap in a network namespace, with
  port/add, port/del, port/disable, port/enable and lcore/rebalance every
  100 ms for 60 s under traffic. No crash, no sanitizer report, every
  frame that arrives anywhere is byte for byte one that was sent, no rx
  queue ever listed twice (nor, where the build counts it, polled by two
  lcores at once), and every mbuf back once traffic stops.
"""
import os
import struct

import ctlclient
import vhostuser_fuzz as vf
import vstest
from vstest import read_pcap, wait_for

# Two forwarding lcores on both CPUs, the main lcore sharing CPU 0 (it
# sleeps: control socket, vhost-user messages).
MC_LCORES = "0@0,1@0,2@1"
# Forwarding lcores sleep after 50 us without a frame: the control-plane
# tests below send none, and the CPUs are shared.
IDLE = ["--busyloop-timeout", "50"]

T = 30  # seconds: 2 CPUs shared with other test runs


def call(ctl, method, *params):
    return ctlclient.call(ctl, method, *params)


def queues_of(ctl):
    """Every rx queue the switch has, as "port:queue" (port/list)."""
    return {"%s:%d" % (p["name"], q) for p in call(ctl, "port/list")
            for q in range(p["rxq"])}


def check_owners(ctl, fwd, reply=None):
    """lcore/show (or the lcore/rebalance @reply): one entry per
    forwarding lcore, every rx queue of every port listed exactly once,
    and no lcore caught polling a queue another one was in (where the
    build counts it: owner_checks). Returns {"port:queue": lcore}."""
    lc = reply if reply is not None else call(ctl, "lcore/show")
    assert [e["lcore"] for e in lc] == fwd, lc
    own = vstest.rxq_owners(lc)
    assert set(own) == queues_of(ctl), (lc, queues_of(ctl))
    for e in lc:
        assert e["nb_rxq"] == len(e["rxqs"].split()), e
        if e.get("owner_checks"):
            assert "owner_conflicts" in e, e
        assert e.get("owner_conflicts", 0) == 0, \
            "two lcores polled one rx queue: %s" % lc
    return own


def loads(own, fwd):
    return {lc: sum(1 for v in own.values() if v == lc) for lc in fwd}


def greedy(load, n):
    """The lcores' queue counts, sorted, after @n new queues each went to
    the least loaded lcore."""
    counts = sorted(load.values())
    for _ in range(n):
        counts[0] += 1
        counts.sort()
    return counts


# ---------------------------------------------------------------------------
# Defect 1: stable rx queue assignment
# ---------------------------------------------------------------------------

def test_rxq_assignment_stable(env):
    """Two forwarding lcores, a 2-queue port m and 1-queue ports. port/add
    (1 and 2 queues) leaves every existing queue on its lcore and puts the
    new ones on the least loaded lcore; port/del moves nothing; the
    counts drift apart, and lcore/rebalance evens them (at most one
    apart) without taking a queue away from an lcore below its share."""
    ctl = env.file("ctl")
    args = ["--vhost", "%s,name=m,queues=2" % env.sock("m")]
    for n in "ab":
        args += ["--vhost", "%s,name=%s" % (env.sock(n), n)]
    sw = env.switch(args=args + ["--ctl", ctl] + IDLE,
                    lcores=MC_LCORES).start()
    fwd = sw.fwd_lcores()
    assert len(fwd) == 2
    own = check_owners(ctl, fwd)

    for name, nq in (("c", 1), ("d", 2), ("e", 1), ("f", 1)):
        before = own
        call(ctl, "port/add", env.sock(name), "queues=%d" % nq,
             "name=" + name)
        own = check_owners(ctl, fwd)
        moved = {q: (before[q], own[q]) for q in before if own[q] !=
                 before[q]}
        assert not moved, "port/add %s moved rx queues (queue: (from, " \
            "to) lcore): %s\nbefore %s\nafter  %s" % (name, moved, before,
                                                     own)
        assert sorted(loads(own, fwd).values()) == \
            greedy(loads(before, fwd), nq), \
            "port/add %s: new queues not on the least loaded lcore: " \
            "before %s, after %s" % (name, before, own)

    # port/del: the single-queue ports of the busier lcore go; nothing
    # else moves, even though the counts end up two or more apart.
    load = loads(own, fwd)
    busy = max(fwd, key=lambda lc: (load[lc], -lc))
    victims = sorted(q.split(":")[0] for q, lc in own.items()
                     if lc == busy and q.split(":")[0] in "abcef")
    for name in victims:
        before = own
        call(ctl, "port/del", name)
        own = check_owners(ctl, fwd)
        assert own == {q: lc for q, lc in before.items()
                       if not q.startswith(name + ":")}, \
            "port/del %s moved rx queues:\nbefore %s\nafter  %s" % (
                name, before, own)
    load = loads(own, fwd)
    assert max(load.values()) - min(load.values()) >= 2, \
        "the deletions should have left the lcores uneven: %s" % own

    # lcore/rebalance evens the counts; the lighter lcore keeps its own.
    before = own
    own = check_owners(ctl, fwd, call(ctl, "lcore/rebalance"))
    assert own == check_owners(ctl, fwd)
    load = loads(own, fwd)
    assert max(load.values()) - min(load.values()) <= 1, \
        "lcore/rebalance left %s" % own
    light = min(fwd, key=lambda lc: loads(before, fwd)[lc])
    assert all(own[q] == light for q, lc in before.items() if lc == light), \
        "lcore/rebalance moved queues off the lighter lcore:\n" \
        "before %s\nafter  %s" % (before, own)
    # Balanced already: another rebalance moves nothing.
    assert check_owners(ctl, fwd, call(ctl, "lcore/rebalance")) == own
    assert sw.stop() == 0


# ---------------------------------------------------------------------------
# Defect 7: queue pairs enabled after new_device
# ---------------------------------------------------------------------------

class MQFrontend:
    """A vhost-user frontend (vhostuser_fuzz's Conn, Mem, Vring) with
    several queue pairs that it brings up one at a time, as QEMU does for
    a virtio-net guest whose driver starts with one pair and enables more
    later. It negotiates VHOST_USER_PROTOCOL_F_MQ but not F_STATUS, so
    librte_vhost calls new_device as soon as pair 0's vrings are ready
    and learns of the others only through vring_state_changed."""

    def __init__(self, path, pairs=2, qsize=64):
        self.qsize = qsize
        self.mem = vf.Mem(4 << 20)
        self.rings = []
        off = 0
        for _ in range(2 * pairs):
            self.rings.append(vf.Vring(self.mem, off, qsize))
            off = self.rings[-1].end
        self.buf0 = (off + 0xffff) & ~0xffff
        assert self.buf0 + 2 * pairs * qsize * 2048 <= self.mem.size
        self.kick = [os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                     for _ in self.rings]
        self.callfd = [os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                       for _ in self.rings]
        self.next_desc = [0] * len(self.rings)
        self.c = vf.Conn(path, timeout=T)

    def negotiate(self):
        c = self.c
        offered = struct.unpack("<Q", c.call(vf.GET_FEATURES)[:8])[0]
        pf = struct.unpack("<Q", c.call(vf.GET_PROTOCOL_FEATURES)[:8])[0]
        assert pf & vf.PF_MQ, hex(pf)
        c.u64(vf.SET_PROTOCOL_FEATURES, pf & vf.PF_MQ)  # no PF_STATUS
        nq = struct.unpack("<Q", c.call(vf.GET_QUEUE_NUM)[:8])[0]
        assert nq >= len(self.rings) // 2, nq
        c.msg(vf.SET_OWNER)
        c.u64(vf.SET_FEATURES, offered & (vf.F_VERSION_1 | vf.F_PROTOCOL |
                                          vf.F_MQ))
        c.mem_table([self.mem.region()], [self.mem.fd])

    def ring_up(self, i):
        """SET_VRING_NUM, _BASE, _ADDR, _CALL, _KICK, then _ENABLE."""
        c, r = self.c, self.rings[i]
        c.state(vf.SET_VRING_NUM, i, self.qsize)
        c.state(vf.SET_VRING_BASE, i, 0)
        c.addr(i, *r.addrs())
        c.u64(vf.SET_VRING_CALL, i, fds=[self.callfd[i]])
        c.u64(vf.SET_VRING_KICK, i, fds=[self.kick[i]])
        c.state(vf.SET_VRING_ENABLE, i, 1)

    def send(self, i, frame):
        """One frame on guest TX vring @i (odd), and a kick."""
        r = self.rings[i]
        d = self.next_desc[i]
        self.next_desc[i] += 1
        off = self.buf0 + (i * self.qsize + d) * 2048
        data = bytes(vf.NET_HDR_LEN) + frame
        self.mem.m[off:off + len(data)] = data
        r.set_desc(d, self.mem.gpa + off, len(data))
        r.push(d)
        os.eventfd_write(self.kick[i], 1)

    def close(self):
        self.c.close()
        for fd in self.kick + self.callfd:
            os.close(fd)
        self.mem.close()


def pcap_has(path, frame, timeout):
    try:
        wait_for(lambda: frame in read_pcap(path), timeout, interval=0.1,
                 what="the frame in %s" % path)
        return True
    except TimeoutError:
        return False


def test_queue_pair_enabled_after_new_device(env):
    """A frontend without PROTOCOL_F_STATUS brings up queue pair 0 of a
    2-queue port (new_device runs then), and pair 1 later. A frame on
    vring 3 (guest TX of pair 1) must reach the other port byte for byte,
    as one on vring 1 does, and vring/show must report vring 3 enabled."""
    ctl = env.file("ctl")
    out = env.file("nic_out.pcap")
    sw = env.switch(args=["--vhost", "%s,name=v,queues=2" % env.sock("v"),
                          "--ctl", ctl],
                    vdevs=["net_pcap0,tx_pcap=%s" % out]).start()
    fe = MQFrontend(env.sock("v"))
    try:
        fe.negotiate()
        fe.ring_up(0)
        fe.ring_up(1)
        sw.wait_link("v", timeout=T)
        src = "02:00:00:00:77:01"
        f0 = vf.eth_frame("ff:ff:ff:ff:ff:ff", src, 0, 64)
        f1 = vf.eth_frame("ff:ff:ff:ff:ff:ff", src, 1, 128)
        fe.send(1, f0)
        assert pcap_has(out, f0, T), "pair 0: the frame never arrived"

        # Pair 1, long after new_device.
        fe.ring_up(2)
        fe.ring_up(3)
        wait_for(lambda: len(call(ctl, "vring/show", "v")) == 4, T,
                 interval=0.1, what="vrings 2 and 3 set up")
        fe.send(3, f1)
        arrived = pcap_has(out, f1, 10)
        vr = {x["vring"]: x for x in call(ctl, "vring/show", "v", "1")}
        assert vr[3]["direction"] == "guest_tx", vr
        assert arrived and vr[3]["enabled"] is True, \
            "pair 1 enabled after new_device: frame on vring 3 %s, " \
            "vring/show says vring 3 enabled=%s (%s)" % (
                "arrived" if arrived else "never arrived",
                vr[3]["enabled"], vr[3])
        assert read_pcap(out) == [f0, f1]
        assert vr[3]["packets"] == 1, vr[3]
    finally:
        fe.close()
    assert sw.stop() == 0
