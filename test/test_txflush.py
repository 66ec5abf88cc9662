# SPDX-License-Identifier: BSD-3-Clause
"""--tx-flush-interval (OVS's other_config:tx-flush-interval): after a
send to a port, the next one waits until the interval has passed, while
frames for the port gather in the lcore's tx buffer; a frame after a quiet
interval goes at once. Nothing is lost or reordered; a port deleted while
its frames wait costs those frames and nothing else."""
import time

import pytest

from ctlclient import RpcError, call
from test_datapath import BCAST, MAC, ONE, switch
from test_forwarding import frame
from vstest import wait_for


def rx(sw, port):
    return sw.stats()[0][port]["rx_pkts"]


def tx(sw, port):
    return sw.stats()[0][port]["tx_pkts"]


def knob_ctl_and_save(env, ctl, method, key, ini_key):
    """A 1 s tx wait knob (@method replies {@key: usec}): out-of-range
    values are refused and change nothing, config/save writes it as
    @ini_key, and 0 sets it off."""
    for bad in ("1000001", "x", "-1"):
        with pytest.raises(RpcError) as e:
            call(ctl, method, bad)
        assert "USEC '%s' must be 0..1000000" % bad in e.value.message
    assert call(ctl, method) == {key: 1000000}
    saved = env.file("saved.ini")
    call(ctl, "config/save", saved)
    assert "\n%s = 1000000\n" % ini_key in open(saved).read()
    assert call(ctl, method, "0") == {key: 0}


def test_frames_wait_for_the_interval_then_all_go(env):
    """At 300 us a stream of 100 frames arrives whole and in order. At 1 s,
    of two frames right after one another (rx bursts of one frame), the
    first goes out at once (the port had no send for over a second) and
    the second waits in the switch (received, not sent) until a second
    after the first; lcore/tx-flush shows and sets the interval and refuses
    what is out of range; config/save writes it."""
    n = 100
    sw, ctl = switch(env, "abc", ONE, extra=["--tx-flush-interval", "300",
                                             "--burst", "1"])
    assert call(ctl, "lcore/tx-flush") == {"tx_flush_interval_us": 300}
    gc = env.guest("c", env.sock("c"), [frame(MAC["c"], BCAST, 0)],
                   mac=MAC["c"]).start()
    fa = [frame(MAC["a"], MAC["c"], i, 64 + (i % 7) * 100) for i in range(n)]
    ga = env.guest("a", env.sock("a"), fa, mac=MAC["a"]).start()
    fb = [frame(MAC["b"], MAC["c"], 7777 + i, 300) for i in range(2)]
    gb = env.guest("b", env.sock("b"), fb, mac=MAC["b"]).start()
    for g in "abc":
        sw.wait_link(g)
    gc.send()
    wait_for(lambda: rx(sw, "c") >= 1, 10, what="c's hello")
    ga.send()
    wait_for(lambda: tx(sw, "c") >= n, 30, what="a's frames reach c")

    assert call(ctl, "lcore/tx-flush", "1000000") == \
        {"tx_flush_interval_us": 1000000}
    time.sleep(1.1)     # a quiet interval since the last send to c
    gb.send()
    wait_for(lambda: rx(sw, "b") >= 2, 10, interval=0.002,
             what="the switch receives b's two frames")
    seen = time.monotonic()
    sent = tx(sw, "c")
    if time.monotonic() - seen < 0.5:
        assert sent == n + 1, \
            "%d of b's frames sent: want the first at once, the second " \
            "held" % (sent - n)
    wait_for(lambda: tx(sw, "c") == n + 2, 10, what="b's second frame sent")

    got = gc.finish()
    ga.finish()
    gb.finish()
    assert got == fa + fb
    assert call(ctl, "port/show", "c")["drops"] == 0

    knob_ctl_and_save(env, ctl, "lcore/tx-flush", "tx_flush_interval_us",
                      "tx-flush-interval")
    assert sw.stop() == 0
    assert sw.final[1][0]["in_use"] == 0


def test_port_deleted_while_its_frames_wait(env):
    """Frames waiting (1 s, after the first of them went at once) for a
    port that port/del removes are freed with it: a new port that gets the
    same id at once is handed only its own frames, not the dead port's,
    and no mbuf is left in use."""
    mac_x = "02:00:00:00:0d:99"
    sw, ctl = switch(env, "abd", ONE, extra=["--tx-flush-interval",
                                              "1000000", "--burst", "1"])
    gb = env.guest("b", env.sock("b"), [frame(MAC["b"], BCAST, 0)],
                   mac=MAC["b"]).start()
    fa = [frame(MAC["a"], MAC["b"], i) for i in range(10)]
    ga = env.guest("a", env.sock("a"), fa, mac=MAC["a"]).start()
    gd = env.guest("d", env.sock("d"), [frame(MAC["s"], mac_x, 4242)],
                   mac=MAC["s"]).start()
    for g in "abd":
        sw.wait_link(g)
    gb.send()
    wait_for(lambda: call(ctl, "fdb/show", "b"), 10, what="b learned")
    bid = call(ctl, "port/show", "b")["id"]
    ga.send()
    wait_for(lambda: rx(sw, "a") >= 10, 10, interval=0.005,
             what="the switch receives a's frames for b")
    t = time.monotonic()
    sent = tx(sw, "b")
    if time.monotonic() - t < 0.5:
        assert sent == 1, "want a's first frame sent, 9 waiting: %d" % sent
    call(ctl, "port/del", "b")
    # c, with no guest (its link down), takes b's id; a frame to a MAC
    # pinned on c goes into the tx buffer of that id, where a's frames
    # for b wait, and is dropped there when due (port_down).
    call(ctl, "port/add", env.sock("c"), "name=c")
    assert call(ctl, "port/show", "c")["id"] == bid
    call(ctl, "fdb/add", mac_x, "c")
    gd.send()
    wait_for(lambda: rx(sw, "d") >= 1, 10, interval=0.005,
             what="the switch receives d's frame")
    print("b deleted, c added, d's frame in within %.3f s" %
          (time.monotonic() - t))
    wait_for(lambda: call(ctl, "port/show", "c")["drops"] >= 1, 10,
             what="d's frame dropped on c")
    time.sleep(1.2)   # past the interval: whatever waited is due
    c = call(ctl, "port/show", "c")
    assert c["drops"] == 1 and c["drops_by_reason"]["port_down"] == 1, c
    gb.finish()
    ga.finish()
    gd.finish()
    assert sw.stop() == 0
    assert sw.final[1][0]["in_use"] == 0


def test_coalesce_holds_a_guests_first_frame(env):
    """--tx-coalesce (guest interrupt coalescing), 1 s: c's broadcast goes
    out of the net_null port at once (not a guest's: no wait) and reaches
    guest a only after a second, the first frame to a having waited for
    more. Then 100 frames from a to c: the first 64 fill the buffer and go
    at once (without retries: two enqueue calls of 32), the other 36 wait
    their second; all arrive whole and in order. lcore/tx-coalesce shows
    and sets the time and refuses what is out of range; config/save writes
    it; it takes 0 (off)."""
    # --tx-retries 0: a full buffer (64) goes to librte_vhost, which copies
    # 32 a call, in slices, not as one call whose second half is dropped.
    sw, ctl = switch(env, "ac", ONE, extra=["--burst", "1", "--tx-coalesce",
                                            "1000000", "--tx-retries", "0"],
                     vdevs=["net_null0,no-rx=1"])
    assert call(ctl, "lcore/tx-coalesce") == {"tx_coalesce_us": 1000000}
    assert call(ctl, "lcore/tx-flush") == {"tx_flush_interval_us": 0}
    hello = frame(MAC["c"], BCAST, 0)
    gc = env.guest("c", env.sock("c"), [hello], mac=MAC["c"]).start()
    n = 100
    fa = [frame(MAC["a"], MAC["c"], i, 64 + (i % 7) * 100) for i in range(n)]
    ga = env.guest("a", env.sock("a"), fa, mac=MAC["a"]).start()
    for g in "ac":
        sw.wait_link(g)

    def st(p):
        return call(ctl, "stats/show", p)

    gc.send()
    wait_for(lambda: st("c")["rx_pkts"] >= 1, 10, interval=0.002,
             what="the switch receives c's hello")
    t0 = time.monotonic()
    assert st("net_null0")["tx_pkts"] == 1      # not a guest: at once
    a_tx = st("a")["tx_pkts"]
    if time.monotonic() - t0 < 0.5:
        assert a_tx == 0, "c's hello sent to a at once, want it held"
    wait_for(lambda: st("a")["tx_pkts"] == 1, 10, interval=0.002,
             what="c's hello sent to a")
    waited = time.monotonic() - t0
    assert waited > 0.7, "c's hello reached a after %.3f s, want ~1" % waited

    ga.send()
    wait_for(lambda: st("a")["rx_pkts"] >= n, 10, interval=0.002,
             what="the switch receives a's frames")
    t0 = time.monotonic()
    c_tx = st("c")["tx_pkts"]
    if time.monotonic() - t0 < 0.5:
        assert c_tx == 64, "%d of a's frames sent: want a full buffer " \
            "(64) at once, 36 waiting" % c_tx
    wait_for(lambda: st("c")["tx_pkts"] == n, 10, what="a's frames sent")
    assert gc.finish() == fa
    assert ga.finish() == [hello]
    assert call(ctl, "port/show", "c")["drops"] == 0

    knob_ctl_and_save(env, ctl, "lcore/tx-coalesce", "tx_coalesce_us",
                      "tx-coalesce")
    assert sw.stop() == 0
    assert sw.final[1][0]["in_use"] == 0
