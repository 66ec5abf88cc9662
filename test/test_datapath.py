# SPDX-License-Identifier: BSD-3-Clause
"""Datapath details with several forwarding lcores (issue 11): the vhost tx
lock, a frame too big for a guest's buffers, capture/stop while the lcore
sleeps on kicks."""
import threading
import time

from ctlclient import RpcError, call
from test_forwarding import frame
from vstest import wait_for

BCAST = "ff:ff:ff:ff:ff:ff"
MAC = {g: "02:00:00:00:0d:%02x" % (i + 1) for i, g in enumerate("abcs")}
# Switch lcores: main on CPU 0, forwarding lcores 1 (CPU 1) and 2 (CPU 0,
# beside the guests: the busy-loop timeout lets it sleep).
TWO = "0@0,1@1,2@0"
ONE = "0@0,1@1"


def switch(env, names, lcores, extra=(), queues=None, vdevs=()):
    ctl = env.file("ctl")
    args = ["--ctl", ctl, "--busyloop-timeout", "50"] + list(extra)
    for g in names:
        q = ",queues=%d" % queues[g] if queues and g in queues else ""
        args += ["--vhost", "%s,name=%s%s" % (env.sock(g), g, q)]
    sw = env.switch(args=args, lcores=lcores, vdevs=list(vdevs))
    sw.start()
    return sw, ctl


def test_vhost_tx_lock_only_with_several_lcores(env):
    """One forwarding lcore: no tx lock on vhost ports. Two: every vhost
    port says tx_lock (two lcores can meet on one guest RX vring whatever
    the guest enables), and two guests on two lcores flooding one 1-queue
    guest at once deliver every frame exactly, none lost to the sharing."""
    sw, ctl = switch(env, "ab", ONE)
    assert call(ctl, "port/show", "a")["tx_lock"] is False
    assert sw.stop() == 0

    # Unicast to c after c was learned: 2 x 120 frames fit c's 256-entry
    # ring even when c's testpmd waits for its CPU.
    n = 120
    fa = [frame(MAC["a"], MAC["c"], i, 64 + (i % 7) * 100) for i in range(n)]
    fb = [frame(MAC["b"], MAC["c"], 10000 + i, 60 + (i % 5) * 200)
          for i in range(n)]
    sw, ctl = switch(env, "abc", TWO, extra=["--tx-retries", "1024"])
    for g in "abc":
        assert call(ctl, "port/show", g)["tx_lock"] is True
    gc = env.guest("c", env.sock("c"), [frame(MAC["c"], BCAST, 0)],
                   mac=MAC["c"]).start()
    ga = env.guest("a", env.sock("a"), fa, mac=MAC["a"]).start()
    gb = env.guest("b", env.sock("b"), fb, mac=MAC["b"]).start()
    for g in "abc":
        sw.wait_link(g)
    lcores = call(ctl, "lcore/show")
    owner = {q: l["lcore"] for l in lcores for q in l["rxqs"].split()}
    assert owner["a:0"] != owner["b:0"], lcores
    gc.send()
    wait_for(lambda: sw.stats()[0]["c"]["rx_pkts"] >= 1, 10,
             what="c's hello")
    ga.send()
    gb.send()
    wait_for(lambda: sw.stats()[0]["c"]["tx_pkts"] >= 2 * n, 30,
             what="c receives both streams")
    got = gc.finish()
    ga.finish()
    gb.finish()
    # Each sender's frames in its own order; both complete.
    assert [f for f in got if f[6:12] == bytes.fromhex("02000000" "0d01")] \
        == fa
    assert [f for f in got if f[6:12] == bytes.fromhex("02000000" "0d02")] \
        == fb
    assert len(got) == 2 * n
    st = call(ctl, "port/show", "c")
    assert st["drops_by_reason"]["tx_full"] == 0
    assert sw.stop() == 0
    assert sw.final[1][0]["in_use"] == 0


def test_too_big_frame_dropped_alone(env):
    """A guest without mergeable buffers cannot take a 4000-byte frame.
    librte_vhost's enqueue stops at it; the frames behind it in the same
    burst must still be delivered: the big one alone is dropped, counted
    too_big (before: the whole rest of the burst was tx_full)."""
    small = [frame(MAC["s"], BCAST, i, 64 + i * 50) for i in range(1, 9)]
    big = frame(MAC["s"], BCAST, 0, 4000)
    sw, ctl = switch(env, "sg", ONE)
    gg = env.guest("g", env.sock("g"), [], mac=MAC["a"],
                   devargs="mrg_rxbuf=0").start()
    gs = env.guest("s", env.sock("s"), [big] + small + [big] + small,
                   mac=MAC["s"]).start()
    sw.wait_link("g")
    sw.wait_link("s")
    gg.send()
    gs.send()
    wait_for(lambda: sw.stats()[0]["g"]["tx_pkts"] >= 2 * len(small), 20,
             what="the small frames at g")
    got = gg.finish()
    gs.finish()
    assert got == small + small
    st = call(ctl, "port/show", "g")["drops_by_reason"]
    assert st["too_big"] == 2
    assert st["tx_full"] == 0
    assert sw.stop() == 0
    assert sw.final[1][0]["in_use"] == 0


def test_capture_stop_while_lcore_sleeps(env):
    """capture/start and capture/stop 200 times on a port whose lcore
    sleeps between sparse frames (busy-loop timeout 1 us: most frames are
    found by the last look before sleeping or right after a kick, the path
    that loaded the capture pointer twice). The switch survives and every
    frame still arrives."""
    # Fewer frames than b's ring holds: b's testpmd may wait for its CPU.
    n = 200
    frames = [frame(MAC["a"], BCAST, i, 64) for i in range(n)]
    sw, ctl = switch(env, "ab", TWO, extra=["--busyloop-timeout", "1"])
    gb = env.guest("b", env.sock("b"), [], mac=MAC["b"]).start()
    # txpkts/burst of 1: testpmd sends one frame per burst, spaced by the
    # guest's own loop, so the switch's lcore keeps falling asleep.
    ga = env.guest("a", env.sock("a"), frames, mac=MAC["a"]).start()
    sw.wait_link("a")
    sw.wait_link("b")
    ga.cmd("set burst 1")
    gb.send()
    stop = threading.Event()
    errors = []

    def churn():
        k = 0
        while not stop.is_set():
            cap = env.file("cap%d.pcapng" % k)
            try:
                call(ctl, "capture/start", "a", cap)
                call(ctl, "capture/stop", "a")
            except RpcError as e:
                errors.append(e.message)
            k += 1

    t = threading.Thread(target=churn)
    t.start()
    try:
        ga.send()
        wait_for(lambda: sw.stats()[0]["b"]["tx_pkts"] >= n, 60,
                 what="b receives every frame")
    finally:
        stop.set()
        t.join()
    assert not [e for e in errors if "no capture" not in e], errors
    assert gb.finish() == frames
    ga.finish()
    bl = call(ctl, "busyloop/show")
    assert sum(l["sleeps"] for l in bl) > 0
    assert sw.proc.alive()
    assert sw.stop() == 0


def test_queue_past_armed_limit_polled_on_timer(env):
    """A sleeping lcore can arm 256 rx queues. Nine 32-queue ports give
    one lcore 288; a frontend sends on queue 31 of the last (poll-list
    entry 287, never armed). Its frames must not wait for the 100 ms
    bound of a sleep meant for queues that can wake the lcore: the lcore
    sleeps at most that queue's busy-loop timeout (1 ms) instead. Each of
    12 frames, sent one at a time, reaches the guest well within it
    (median under 20 ms; e25d780 took 50 ms on average)."""
    from test_multicore import MQFrontend
    N_FRAMES = 12  # the frontend's 16-entry ring, never reclaimed
    names = ["p%d" % i for i in range(9)]
    ctl = env.file("ctl")
    args = ["--ctl", ctl, "--busyloop-timeout", "1000"]
    for n in names:
        args += ["--vhost", "%s,name=%s,queues=32" % (env.sock(n), n)]
    args += ["--vhost", "%s,name=g" % env.sock("g")]
    sw = env.switch(args=args, lcores=ONE)
    sw.start()
    g = env.guest("g", env.sock("g"), [], mac=MAC["b"]).start()
    sw.wait_link("g")
    g.send()
    fe = MQFrontend(env.sock("p8"), pairs=32, qsize=16)
    try:
        fe.negotiate()
        # Pair 31 first: ready before new_device (pair 0 brings it).
        for i in (62, 63, 0, 1):
            fe.ring_up(i)
        sw.wait_link("p8")
        owners = call(ctl, "lcore/show")[0]["rxqs"].split()
        assert len(owners) == 9 * 32 + 1 and "p8:31" in owners[256:], \
            owners.index("p8:31")
        delays = []
        for i in range(N_FRAMES):
            before = call(ctl, "port/show", "g")["tx_pkts"]
            wait_for(lambda: call(ctl, "busyloop/show")[0]["state"] ==
                     "sleeping", 5, interval=0.002, what="lcore asleep")
            t0 = time.monotonic()
            fe.send(63, frame(MAC["a"], BCAST, i, 64))
            wait_for(lambda: call(ctl, "port/show", "g")["tx_pkts"] > before,
                     5, interval=0.001, what="frame %d at g" % i)
            delays.append(time.monotonic() - t0)
        delays.sort()
        assert delays[len(delays) // 2] < 0.020, delays
        st = call(ctl, "vring/show", "p8", "31")
        assert any(v.get("packets") == N_FRAMES for v in
                   (st if isinstance(st, list) else [st])), st
    finally:
        fe.close()
    assert len(g.finish()) == N_FRAMES
    assert sw.stop() == 0
