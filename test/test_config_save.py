# SPDX-License-Identifier: BSD-3-Clause
"""config/save and the SIGHUP reload (lib/vs_save.c): a saved file brings
back the same switch; a reload adds and removes ports without losing a
frame of the ports it leaves alone; a bad file changes nothing."""
import re
import signal
import subprocess
import time

import pytest

import vstest
from ctlclient import RpcError, call

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"
# What port/list reports that is state, not configuration.
STATE = ("link", "rx_pkts", "tx_pkts", "drops")
KEYS = ("mtu", "vlan", "trunks", "native", "max_macs", "allowed_macs",
        "flood_pps", "offloads")


def snapshot(ctl):
    """The configuration as the control socket shows it."""
    ports = [{k: v for k, v in p.items() if k not in STATE}
             for p in call(ctl, "port/list")]
    keys = {p["name"]: {k: v for k, v in call(ctl, "port/show",
                                              p["name"]).items()
                        if k in KEYS}
            for p in ports}
    fdb = sorted((e["mac"], e["vlan"], e["port"])
                 for e in call(ctl, "fdb/show") if e["type"] == "static")
    # Per lcore, its rx queues and their timeouts. The order an lcore polls
    # its queues in is history (a port/add appends), not configuration.
    busy = [sorted(e["busyloop_us"].split())
            for e in call(ctl, "busyloop/show")]
    levels = {t["type"]: t["level"] for t in call(ctl, "log/list",
                                                  "vswitch.*")}
    return {"ports": ports, "keys": keys, "fdb": fdb, "busyloop": busy,
            "aging": call(ctl, "fdb/aging")["aging"], "log": levels,
            "tx_flush": call(ctl, "lcore/tx-flush")["tx_flush_interval_us"],
            "tx_coalesce": call(ctl, "lcore/tx-coalesce")["tx_coalesce_us"],
            "call_relay": call(ctl, "info")["call_relay"]["active"]}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_save_and_restart_identical(env):
    """What --config, the command line and run-time commands set, saved
    and read back by a new switch: port/list, keys, static MACs, busy-loop
    timeouts, ageing and log levels the same."""
    conf = env.file("sw.ini")
    write(conf, """[switch]
fdb-aging = 120
busyloop-timeout = 20
tx-flush-interval = 250
tx-coalesce = 120
call-relay = 0
[vhost.a]
path = %s
vlan = 10
max-macs = 8
busyloop-timeout = 50
[vhost.b]
path = %s
queues = 2
trunks = 10-20:30
native = 5
busyloop-timeout.1 = 70
[port.b]
allowed-macs = %s+02:00:00:00:00:99
[fdb]
%s = a
02:00:00:00:00:77.12 = b
[log]
vswitch.port = debug
""" % (env.sock("a"), env.sock("b"), MAC_B, MAC_A))
    ctl = env.file("ctl")
    sw = env.switch(args=["--config", conf, "--ctl", ctl]).start()
    # Run-time changes on top of the file.
    call(ctl, "port/add", env.sock("c"), "name=c", "client", "queues=2",
         "offloads=off", "flood-pps=1000")
    call(ctl, "port/set", "a", "mtu=1400")
    call(ctl, "busyloop/set", "c", "1", "33")
    call(ctl, "fdb/add", "02:00:00:00:00:0c", "c", "7")
    call(ctl, "fdb/aging", "90")
    call(ctl, "log/set", "vswitch.fdb", "debug")
    before = snapshot(ctl)
    assert before["busyloop"] == [["a:0=50", "b:0=20", "b:1=70", "c:0=20",
                                   "c:1=33"]]
    assert len(before["fdb"]) == 3
    assert before["call_relay"] is False

    saved = env.file("saved.ini")
    res = call(ctl, "config/save", saved)
    assert res == {"file": saved, "ports": 3, "static_macs": 3,
                   "log_levels": 2}
    text = open(saved).read()
    assert "[fdb]\n" in text and "02:00:00:00:00:77.12 = b" in text
    assert "busyloop-timeout.1 = 33" in text
    assert "mode = client" in text and "offloads = off" in text
    assert "vswitch.fdb = debug" in text and "call-relay = 0\n" in text
    assert sw.stop() == 0

    sw2 = env.switch(args=["--config", saved, "--ctl", ctl],
                     name="sw2").start()
    after = snapshot(ctl)
    assert after == before
    # Saved again, the file is the same but for its date line.
    call(ctl, "config/save")
    strip = lambda s: re.sub(r"written by .*\n", "", s)  # noqa: E731
    assert strip(open(saved).read()) == strip(text)
    assert sw2.stop() == 0


def test_save_needs_a_file(env):
    ctl = env.file("ctl")
    sw = env.switch(args=["--vhost", "%s,name=a" % env.sock("a"),
                          "--ctl", ctl]).start()
    with pytest.raises(RpcError) as e:
        call(ctl, "config/save")
    assert "without --config: give FILE" in e.value.message
    with pytest.raises(RpcError) as e:
        call(ctl, "config/save", "/nonexistent/dir/x.ini")
    assert "No such file or directory" in e.value.message
    # SIGHUP without --config: said, and nothing else happens.
    sw.proc.kill(signal.SIGHUP)
    sw.wait_log(r"no --config file to read again")
    assert [p["name"] for p in call(ctl, "port/list")] == ["a"]
    assert sw.stop() == 0


def macswap_guest(env, name, mac, peer):
    """A testpmd guest that sends every frame back with the MACs swapped:
    two of them and the switch make a loop that keeps its frames going."""
    return vstest.Proc(
        ["stdbuf", "-oL", vstest.TESTPMD, "--lcores", vstest.GUEST_LCORES,
         "--no-huge",
         "-m", "256", "--file-prefix", "vg" + vstest.uid(), "--no-pci",
         "--vdev", "net_virtio_user0,path=%s,mac=%s" % (env.sock(name), mac),
         "--", "-i", "--total-num-mbufs=8192", "--forward-mode=macswap",
         "--eth-peer=0,%s" % peer],
        env.file("%s.log" % name), stdin=subprocess.PIPE)


def pmd_cmd(g, line):
    g.p.stdin.write((line + "\n").encode())
    g.p.stdin.flush()


def guest_counts(g, n):
    """RX-packets and TX-packets of the n-th "stop" of guest @g."""
    g.wait_log(r"Done\.", count=n, timeout=30)
    out = g.output()
    rx = [int(x) for x in re.findall(r"RX-packets: +(\d+)", out)]
    tx = [int(x) for x in re.findall(r"TX-packets: +(\d+)", out)]
    drop = [int(x) for x in re.findall(r"TX-dropped: +(\d+)", out)]
    assert max(drop) == 0, out
    return rx[-1], tx[-1]


def test_sighup_remove_add_no_loss(env):
    """A PVP-style loop between guests a and b runs while a SIGHUP removes
    port c and adds port d: the loop loses no frame, a and b keep their
    MAC entries, c is gone and d is there."""
    conf = env.file("sw.ini")
    base = """[vhost.a]
path = %s
[vhost.b]
path = %s
""" % (env.sock("a"), env.sock("b"))
    write(conf, base + "[vhost.c]\npath = %s\nvlan = 3\n" % env.sock("c"))
    ctl = env.file("ctl")
    sw = env.switch(args=["--config", conf, "--ctl", ctl]).start()
    a = macswap_guest(env, "a", MAC_A, MAC_B)
    b = macswap_guest(env, "b", MAC_B, MAC_A)
    try:
        sw.wait_link("a")
        sw.wait_link("b")
        a.wait_log(r"testpmd> ", timeout=30)
        b.wait_log(r"testpmd> ", timeout=30)
        pmd_cmd(b, "start")
        b.wait_log(r"macswap packet forwarding")
        # One burst of 32 frames from a to b, then round and round.
        pmd_cmd(a, "start tx_first")
        vstest.wait_for(
            lambda: call(ctl, "stats/show", "a")["tx_pkts"] > 1000,
            timeout=20, what="the loop going")
        ids = {p["name"]: p["id"] for p in call(ctl, "port/list")}
        macs = {(e["mac"], e["port"]) for e in call(ctl, "fdb/show")}
        assert {(MAC_A, "a"), (MAC_B, "b")} <= macs

        write(conf, base + "[vhost.d]\npath = %s\n" % env.sock("d"))
        before = call(ctl, "stats/show", "a")["rx_pkts"]
        sw.proc.kill(signal.SIGHUP)
        sw.wait_log(r"reload: .* applied")
        out = sw.output()
        assert re.search(r"reload: port c deleted", out)
        assert re.search(r"reload: port \d+ d added", out)
        assert not re.search(r"reload: port [ab][: ]", out)
        time.sleep(1)
        assert call(ctl, "stats/show", "a")["rx_pkts"] > before + 1000
        ports = {p["name"]: p["id"] for p in call(ctl, "port/list")}
        assert set(ports) == {"a", "b", "d"}
        assert ports["a"] == ids["a"] and ports["b"] == ids["b"]
        assert {(MAC_A, "a"), (MAC_B, "b")} <= \
            {(e["mac"], e["port"]) for e in call(ctl, "fdb/show")}

        # Stop a first: the 32 frames end up in its rx ring, none lost.
        pmd_cmd(a, "stop")
        a_rx, a_tx = guest_counts(a, 1)
        time.sleep(0.5)
        pmd_cmd(b, "stop")
        b_rx, b_tx = guest_counts(b, 1)
        sa = call(ctl, "stats/show", "a")
        sb = call(ctl, "stats/show", "b")
        drops = [k for k in sa if k in
                 ("tx_full", "port_down", "no_dest", "same_port", "no_mbuf",
                  "too_big", "mtu", "vlan_denied", "src_denied", "storm")]
        for k in drops:
            assert sa[k] == 0 and sb[k] == 0, (k, sa, sb)
        assert sa["rx_pkts"] == a_tx
        assert sb["tx_pkts"] == sa["rx_pkts"]
        assert b_rx == sb["tx_pkts"] and b_tx == b_rx
        assert sb["rx_pkts"] == b_tx
        assert sa["tx_pkts"] == sb["rx_pkts"]
        assert sa["tx_pkts"] - a_rx == 32, (sa, a_rx)
        pmd_cmd(a, "quit")
        pmd_cmd(b, "quit")
        a.p.wait(30)
        b.p.wait(30)
    finally:
        a.kill()
        b.kill()
    assert sw.stop() == 0


def test_sighup_bad_file_changes_nothing(env):
    conf = env.file("sw.ini")
    good = """[switch]
fdb-aging = 100
[vhost.a]
path = %s
vlan = 10
busyloop-timeout = 40
[vhost.b]
path = %s
[fdb]
%s = b
""" % (env.sock("a"), env.sock("b"), MAC_B)
    write(conf, good)
    ctl = env.file("ctl")
    sw = env.switch(args=["--config", conf, "--ctl", ctl]).start()
    before = snapshot(ctl)
    bad = [
        (good + "[oops\n", "expected \\[section\\]"),
        (good.replace("vlan = 10", "vlan = 5000"), "invalid vlan"),
        (good + "[port.nosuch]\nvlan = 3\n", "\\[port.nosuch\\]: no such"),
        (good.replace("= b\n", "= zz\n"), "\\[fdb\\]: no port 'zz'"),
        (good.replace("busyloop-timeout", "busyloop-timeout.3"),
         "no such rx queue"),
    ]
    for n, (text, msg) in enumerate(bad, 1):
        write(conf, text.replace("fdb-aging = 100", "fdb-aging = 7")
              .replace("[vhost.b]", "[vhost.e]\npath = %s\n[vhost.b]" %
                       env.sock("e")))
        sw.proc.kill(signal.SIGHUP)
        sw.wait_log(r"nothing changed", count=n)
        assert re.search(msg, sw.output().splitlines()[-1]), \
            sw.output()[-500:]
        assert snapshot(ctl) == before
    # And the switch still takes a good one.
    write(conf, good.replace("vlan = 10", "vlan = 11").replace(
        "fdb-aging = 100", "fdb-aging = 100\ntx-flush-interval = 40\n"
        "tx-coalesce = 250"))
    sw.proc.kill(signal.SIGHUP)
    sw.wait_log(r"reload: .* applied, 3 change")
    assert call(ctl, "port/show", "a")["vlan"] == 11
    assert call(ctl, "lcore/tx-flush") == {"tx_flush_interval_us": 40}
    assert call(ctl, "lcore/tx-coalesce") == {"tx_coalesce_us": 250}
    assert sw.stop() == 0


def test_long_lists_over_several_lines(env):
    """librte_cfgfile keeps at most 255 bytes of a value (and 64 keys of a
    section) and says nothing: a list of 16 IPv6 remotes or 16 allowed
    MACs is longer. config/save writes such a list over several lines of
    its key, at most 255 bytes each, and --config joins them again: the
    restarted switch has every remote and every MAC. A hand-written value
    or key past the limit, or a 65th key, is an error, not a cut."""
    from test_cli import run as run_cli
    remotes = ["fd00:1234:5678:9abc:def0:1234:5678:%x" % (0x1000 + i)
               for i in range(16)]
    macs = ["02:00:00:00:01:%02x" % i for i in range(16)]
    conf = env.file("sw.ini")
    # allowed-macs over two lines, by hand.
    write(conf, "[vhost.a]\npath = %s\nallowed-macs = %s\n"
          "allowed-macs = %s\n" % (env.sock("a"), "+".join(macs[:8]),
                                   "+".join(macs[8:])))
    ctl = env.file("ctl")
    vx = "t6,vni=42,local=fd00:1234:5678:9abc::1,remote=%s,via=net_null0" \
        % "+".join(remotes)
    assert len("+".join(remotes)) > 255
    sw = env.switch(args=["--config", conf, "--ctl", ctl, "--vxlan", vx],
                    vdevs=["net_null0"]).start()

    def state():
        t = call(ctl, "vxlan/show")["tunnels"][0]
        return ([r["ip"] for r in t["remotes"]],
                call(ctl, "port/show", "a")["allowed_macs"])
    before = state()
    assert before == (remotes, macs)
    saved = env.file("saved.ini")
    call(ctl, "config/save", saved)
    lines = open(saved).read().splitlines()
    assert all(len(ln.split(" = ", 1)[-1]) <= 255 for ln in lines)
    assert sum(ln.startswith("remote = ") for ln in lines) == 3
    assert sum(ln.startswith("allowed-macs = ") for ln in lines) == 2
    assert sw.stop() == 0
    sw2 = env.switch(args=["--config", saved, "--ctl", ctl],
                     vdevs=["net_null0"], name="sw2").start()
    assert state() == before
    assert sw2.stop() == 0
    # Past librte_cfgfile's limits: refused with the line.
    for text, msg in (
            ("[vhost.a]\npath = %s\nallowed-macs = %s\n" % (
                env.sock("a"), "+".join(macs)),
             "line 3: a key is at most 63 bytes, a value 255"),
            ("[vhost.a]\npath = %s\n%s = 1\n" % (env.sock("a"), "k" * 64),
             "line 3: a key is at most 63 bytes"),
            ("[switch]\n" + "".join("burst = 32\n" for _ in range(65)),
             "section \\[switch\\] has too many keys")):
        write(conf, text)
        rc, out, err = run_cli(["--", "--config", conf])
        assert rc != 0 and re.search(msg, err + out), (rc, err[-500:])


def test_sighup_socket_owner_and_port_sections(env):
    """SIGHUP: a [port.ID] section and the [vhost.NAME] of the same port
    both apply, on every reload (unchanged file: no change); a new group=
    and mode= are given to the live socket, the port untouched; a
    [port.NAME] section removed puts its keys back to their defaults."""
    import os
    import stat
    conf = env.file("sw.ini")
    sock = env.sock("a")
    base = "[vhost.a]\npath = %s\nvlan = 10\n" % sock
    write(conf, base + "[port.1]\nmax-macs = 4\n[port.net_null0]\n"
          "vlan = 7\n")
    ctl = env.file("ctl")
    sw = env.switch(args=["--config", conf, "--ctl", ctl],
                    vdevs=["net_null0"]).start()

    def keys(p):
        s = call(ctl, "port/show", p)
        return s["id"], s["vlan"], s["max_macs"]
    assert call(ctl, "port/show", "a")["id"] == 1  # ethdevs come first
    assert keys("a") == (1, 10, 4) and keys("net_null0")[1:] == (7, 0)
    st0 = os.stat(sock)
    sw.proc.kill(signal.SIGHUP)
    sw.wait_log(r"reload: .* applied, 0 change")
    assert keys("a") == (1, 10, 4) and keys("net_null0")[1:] == (7, 0)
    # group= and mode= of the running server socket.
    write(conf, base.replace("vlan = 10", "vlan = 10\ngroup = 4242\n"
                             "socket-mode = 0660") +
          "[port.1]\nmax-macs = 4\n[port.net_null0]\nvlan = 7\n")
    sw.proc.kill(signal.SIGHUP)
    sw.wait_log(r"reload: .* applied, 1 change")
    st = os.stat(sock)
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (4242, 0o660)
    assert st.st_ino == st0.st_ino, "the socket was made again"
    assert keys("a") == (1, 10, 4)
    assert "deleted" not in sw.output()
    # The [port.*] sections gone: their keys at their defaults.
    write(conf, base.replace("vlan = 10", "vlan = 10\ngroup = 4242\n"
                             "socket-mode = 0660"))
    sw.proc.kill(signal.SIGHUP)
    sw.wait_log(r"reload: .* applied, 2 change")
    assert keys("a") == (1, 10, 0) and keys("net_null0")[1:] == (None, 0)
    assert sw.stop() == 0


def test_save_keeps_metrics_and_never_follows_links(env):
    """config/save writes --metrics back; its temporary file is a new one
    of its own: a symbolic link at FILE.tmp (where it used to write) is
    not followed, and the file it pointed at keeps its content."""
    import os
    import random
    ctl = env.file("ctl")
    port = random.randint(20000, 60000)
    sw = env.switch(args=["--vhost", "%s,name=a" % env.sock("a"),
                          "--ctl", ctl, "--metrics",
                          "127.0.0.1:%d" % port]).start()
    saved, victim = env.file("saved.ini"), env.file("victim")
    write(victim, "precious\n")
    os.symlink(victim, saved + ".tmp")
    call(ctl, "config/save", saved)
    assert open(victim).read() == "precious\n"
    text = open(saved).read()
    assert "metrics = 127.0.0.1:%d\n" % port in text
    assert [f for f in os.listdir(os.path.dirname(saved))
            if f.startswith("saved.ini.") and f != "saved.ini.tmp"] == []
    assert sw.stop() == 0
