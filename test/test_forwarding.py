# SPDX-License-Identifier: BSD-3-Clause
"""MAC learning and flooding between testpmd virtio-user guests."""
from scapy.all import Ether, IP, UDP, Raw

from vstest import wait_for

MAC = {g: "02:00:00:00:00:%02x" % (i + 1) for i, g in enumerate("abc")}


def frame(src, dst, n, size=64):
    p = Ether(src=src, dst=dst) / IP(src="10.0.0.1", dst="10.0.0.2") / \
        UDP(sport=1000 + n, dport=2000)
    return bytes(p / Raw(b"\x5a" * max(0, size - 4 - len(p))))


def three_guests(env, frames):
    args = []
    for g in "abc":
        args += ["--vhost", "%s,name=%s" % (env.sock(g), g)]
    sw = env.switch(args=args)
    sw.start()
    gs = {g: env.guest(g, env.sock(g), frames.get(g, []), mac=MAC[g]).start()
          for g in "abc"}
    for g in "abc":
        sw.wait_link(g)
    return sw, gs


def wait_counter(sw, port, key, n, timeout=10):
    return wait_for(lambda: sw.stats()[0][port][key] >= n, timeout,
                    what="%s %s >= %d" % (port, key, n))


def test_unicast_after_learning(env):
    """Guest A -> guest B after B was learned: B gets A's frames exactly,
    C sees none of them."""
    hello_b = frame(MAC["b"], "ff:ff:ff:ff:ff:ff", 0)
    a_to_b = [frame(MAC["a"], MAC["b"], i, size)
              for i, size in enumerate([64, 128, 512, 1024, 1518] * 4)]
    sw, g = three_guests(env, {"b": [hello_b], "a": a_to_b})
    g["c"].send()
    g["b"].send()
    wait_counter(sw, "b", "rx_pkts", 1)
    g["a"].send()
    wait_counter(sw, "b", "tx_pkts", len(a_to_b))
    wait_counter(sw, "a", "tx_pkts", 1)
    out = {k: v.finish() for k, v in g.items()}
    assert out["b"] == a_to_b
    assert out["c"] == [hello_b]
    assert out["a"] == [hello_b]
    ports, _ = sw.stats()
    assert ports["c"]["tx_pkts"] == 1
    assert ports["a"]["rx_pkts"] == len(a_to_b)
    assert sw.stop() == 0


def test_flood_not_back_to_ingress(env):
    """Broadcast, multicast and unknown unicast reach every other port and
    never the one they came in on."""
    frames = [frame(MAC["a"], "ff:ff:ff:ff:ff:ff", 1),
              frame(MAC["a"], "01:00:5e:00:00:fb", 2),
              frame(MAC["a"], "33:33:00:00:00:01", 3),
              frame(MAC["a"], "02:00:00:00:99:99", 4)]
    sw, g = three_guests(env, {"a": frames})
    g["b"].send()
    g["c"].send()
    g["a"].send()
    wait_counter(sw, "b", "tx_pkts", len(frames))
    wait_counter(sw, "c", "tx_pkts", len(frames))
    out = {k: v.finish() for k, v in g.items()}
    assert out["b"] == frames
    assert out["c"] == frames
    assert out["a"] == []
    ports, _ = sw.stats()
    assert ports["a"]["tx_pkts"] == 0
    assert ports["a"]["rx_pkts"] == len(frames)
    assert sw.stop() == 0
