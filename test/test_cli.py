# SPDX-License-Identifier: BSD-3-Clause
"""Launcher: bad usage, the INI file, SIGTERM, MAC ageing."""
import os
import signal
import subprocess
import time

import pytest

import ctlclient
import vstest
from test_forwarding import frame, wait_counter

EAL = ["--no-huge", "-m", "256", "--no-pci"]


def run(args, timeout=60):
    argv = [vstest.SWITCH_BIN, "-l", "0,1", "--file-prefix",
            "vs" + vstest.uid()] + EAL + args
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


BAD_OPTIONS = [
    (["--burst", "0"], "--burst: invalid value '0'"),
    (["--burst", "abc"], "--burst: invalid value 'abc'"),
    (["--fdb-size", "-5"], "--fdb-size: invalid value '-5'"),
    (["--fdb-aging", "1x"], "--fdb-aging: invalid value '1x'"),
    (["--tx-retries", "99999999999"], "--tx-retries: invalid value"),
    (["--call-relay", "2"],
     "--call-relay: invalid value '2' (an integer 0..1)"),
    (["--stats-period"], "option '--stats-period' needs a value"),
    (["--bogus"], "unknown option '--bogus'"),
    (["stray"], "unexpected argument 'stray'"),
    (["--vhost", ",client"], "a socket path is needed"),
    (["--vhost", "/tmp/x.sock,queues=0"], "invalid queues '0'"),
    (["--vhost", "/tmp/x.sock,queues=99"], "invalid queues '99'"),
    (["--vhost", "/tmp/x.sock,colour=red"], "unknown parameter 'colour=red'"),
    (["--vhost", "/tmp/x.sock,name=a b"], "invalid name 'a b'"),
    (["--vhost", "/tmp/x.sock", "--vhost", "/tmp/x.sock"],
     "socket path given twice"),
    (["--vhost", "/tmp/%s.sock" % ("x" * 120)], "longer than 107 bytes"),
    (["--vhost", "/tmp/x.sock,mtu=20"], "invalid mtu '20' (68..9702)"),
    (["--vhost", "/tmp/x.sock,offloads=maybe"],
     "invalid offloads 'maybe' (on or off)"),
    (["--port", ",mtu=1500"], "--port ',mtu=1500': a port name or id"),
    (["--port", "net_null0"], "--port 'net_null0': no key given"),
    (["--port", "net_null0,mtu=99999"],
     "--port 'net_null0,mtu=99999': invalid mtu '99999'"),
    (["--port", "net_null0,vlan"], "unknown key 'vlan' (offloads=on|off"),
    (["--port", "net_null0,vlan=10,trunks=20"],
     "vlan= and trunks= exclude each other"),
    (["--port", "mtu=1500"], "'mtu=1500' is not a port name or id"),
]


@pytest.mark.parametrize("args,msg", BAD_OPTIONS,
                         ids=[" ".join(a)[:40] for a, _ in BAD_OPTIONS])
def test_bad_option(args, msg):
    rc, out, err = run(["--"] + args)
    assert rc == 2
    lines = [line for line in err.splitlines()
             if line.startswith("vhost-switch:")]
    assert len(lines) == 1, err
    assert msg in lines[0]


def test_no_forwarding_lcore():
    argv = [vstest.SWITCH_BIN, "-l", "0", "--file-prefix",
            "vs" + vstest.uid()] + EAL + ["--"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "no forwarding lcore" in p.stdout + p.stderr


def test_port_that_does_not_exist():
    """--port naming no port: a usage error, named, before any traffic."""
    rc, out, err = run(["--vdev", "net_null0", "--", "--port",
                        "net_null9,mtu=1400"])
    assert rc == 2
    assert "--port 'net_null9': no such port" in out + err


def test_port_keys_at_start_and_at_run_time(env):
    """--port and [port.NAME] set an ethdev's and a vhost port's keys;
    port/set changes them at run time, refuses what it cannot change and
    leaves the port as it was."""
    ini = env.file("vs.ini")
    with open(ini, "w") as f:
        f.write("[port.net_null1]\nmtu = 2000\n")
    ctl_path = env.file("ctl")

    def ctl(*a):
        return ctlclient.call(ctl_path, *a)

    def ctl_error(*a):
        with pytest.raises(ctlclient.RpcError) as e:
            ctl(*a)
        return {"code": e.value.code, "message": e.value.message}

    sw = env.switch(eal=["--vdev", "net_null0", "--vdev", "net_null1"],
                    args=["--ctl", ctl_path,
                          "--vhost", env.sock("a") + ",name=a",
                          "--port", "net_null0,offloads=off,mtu=1400",
                          "--port", "a,offloads=off", "--port", "a,mtu=1280",
                          "--config", ini]).start()
    n0 = ctl("port/show", "net_null0")
    assert n0["mtu"] == 1400 and n0["offloads"]["enabled"] is False
    assert n0["offloads"]["takes"] == []
    assert ctl("port/show", "net_null1")["mtu"] == 2000
    a = ctl("port/show", "a")
    assert a["mtu"] == 1280 and a["offloads"]["enabled"] is False
    got = ctl("port/set", "net_null0", "offloads=on", "mtu=9000")
    assert {k: got[k] for k in ("id", "name", "offloads", "mtu")} == {
        "id": n0["id"], "name": "net_null0", "offloads": "on", "mtu": 9000}
    assert ctl("port/show", "net_null0")["mtu"] == 9000
    # A guest negotiates offloads when it connects: not at run time.
    err = ctl_error("port/set", "a", "mtu=1500", "offloads=on")
    assert err["code"] == -32000 and "negotiated when the guest" in \
        err["message"]
    assert ctl("port/show", "a")["mtu"] == 1280
    for args, msg in ((["a", "mtu=1"], "invalid mtu '1'"),
                      (["a", "colour=red"], "unknown key 'colour=red'"),
                      (["nosuch", "mtu=1500"], "nosuch")):
        err = ctl_error("port/set", *args)
        assert err["code"] in (-32602, -32000) and msg in err["message"], \
            err
    assert ctl("port/set", "a", "mtu=1500")["mtu"] == 1500
    assert sw.stop() == 0


BAD_CONFIGS = [
    ("[switch]\nburst = 9999\n", "[switch] burst: invalid value '9999'"),
    ("[switch]\ncolour = red\n", "unknown key 'colour'"),
    ("[bridge]\nburst = 32\n", "unknown section [bridge]"),
    ("[vhost.vm1]\nqueues = 2\n", "missing key 'path'"),
    ("[vhost.vm1]\npath = /tmp/a.sock\nmode = both\n", "invalid mode 'both'"),
    ("[vhost.vm1]\npath = /tmp/a.sock\nqueues = x\n", "invalid queues 'x'"),
    ("[switch]\nthis is not an ini line\n", "line 2: expected [section]"),
    ("[switch\nburst = 3\n", "line 1: expected [section]"),
    ("[port.net_null0]\nmtu = 0\n", "[port.net_null0] invalid mtu '0'"),
    ("[port.net_null0]\nspeed = 10\n", "unknown key 'speed'"),
    ("[vhost.a]\npath = /tmp/a.sock\noffloads = yes\n",
     "invalid offloads 'yes'"),
]


@pytest.mark.parametrize("text,msg", BAD_CONFIGS,
                         ids=[m[:30] for _, m in BAD_CONFIGS])
def test_bad_config(tmp_path, text, msg):
    f = tmp_path / "bad.ini"
    f.write_text(text)
    rc, out, err = run(["--", "--config", str(f)])
    assert rc == 2
    assert msg in err
    assert str(f) in err


def test_missing_config():
    rc, out, err = run(["--", "--config", "/nonexistent/vs.ini"])
    assert rc == 2
    assert "--config '/nonexistent/vs.ini': cannot read the file: " \
        "No such file or directory" in err


def test_config_file_ports_and_override(env):
    """The INI file creates its ports; the command line overrides it."""
    ini = env.file("vs.ini")
    with open(ini, "w") as f:
        f.write("[switch]\nburst = 16\nfdb-aging = 30\n\n"
                "[vhost.left]\npath = %s\nqueues = 2\n\n"
                "[vhost.right]\npath = %s\nmode = server\n"
                % (env.sock("l"), env.sock("r")))
    sw = env.switch(args=["--config", ini, "--stats-period", "1"]).start()
    assert os.path.exists(env.sock("l")) and os.path.exists(env.sock("r"))
    out = sw.output()
    assert "port 0 left: vhost-user server %s, 2 queue pair(s)" % \
        env.sock("l") in out
    assert "port 1 right: vhost-user server %s, 1 queue pair(s)" % \
        env.sock("r") in out
    sw.wait_log(r"rx-pps")
    assert sw.stop() == 0


def test_example_config_parses(env):
    """config/vhost-switch.ini as shipped is valid."""
    src = os.path.join(vstest.REPO, "config", "vhost-switch.ini")
    text = open(src).read().replace("/run/vhost-switch", env.wd.path)
    ini = env.file("example.ini")
    open(ini, "w").write(text)
    sw = env.switch(args=["--config", ini]).start()
    assert "vm2: vhost-user server %s/vm2.sock, 2 queue pair(s)" % \
        env.wd.path in sw.output()
    assert sw.stop() == 0


def test_sigterm_graceful(env):
    """SIGTERM: exit 0, final counters printed, server sockets removed,
    even with a guest attached."""
    sw = env.switch(args=["--vhost", "%s,name=a" % env.sock("a"),
                          "--vhost", "%s,name=b" % env.sock("b")]).start()
    g = env.guest("a", env.sock("a"), [frame("02:00:00:00:00:01",
                                             "ff:ff:ff:ff:ff:ff", 1)])
    g.start()
    sw.wait_link("a")
    g.send()
    wait_counter(sw, "a", "rx_pkts", 1)
    assert sw.stop() == 0
    assert "vhost-switch: stopped" in sw.output()
    ports, mbufs = sw.final
    assert ports["a"]["rx_pkts"] == 1
    assert ports["b"]["port_down"] == 0 and ports["b"]["no_dest"] == 0
    assert ports["a"]["no_dest"] == 1  # b had no guest: flooded to no one
    assert mbufs[0]["in_use"] == 0
    assert not os.path.exists(env.sock("a"))
    assert not os.path.exists(env.sock("b"))
    g.finish()


def test_sigint_graceful(env):
    sw = env.switch(args=["--vhost", "%s,name=a" % env.sock("a")]).start()
    sw.proc.p.send_signal(signal.SIGINT)
    assert sw.proc.p.wait(15) == 0
    assert not os.path.exists(env.sock("a"))


def test_mac_ageing(env):
    """An entry unseen for --fdb-aging seconds is gone: traffic to that
    MAC floods again. Before that it went to its port only."""
    mac = {g: "02:00:00:00:00:%02x" % (i + 1) for i, g in enumerate("abcd")}
    hello_b = frame(mac["b"], "ff:ff:ff:ff:ff:ff", 0)
    a_to_b = [frame(mac["a"], mac["b"], i) for i in range(5)]
    d_to_b = [frame(mac["d"], mac["b"], 100 + i) for i in range(5)]
    args = ["--fdb-aging", "2"]
    for g in "abcd":
        args += ["--vhost", "%s,name=%s" % (env.sock(g), g)]
    sw = env.switch(args=args).start()
    frames = {"b": [hello_b], "a": a_to_b, "d": d_to_b}
    gs = {g: env.guest(g, env.sock(g), frames.get(g, []), mac=mac[g]).start()
          for g in "abcd"}
    for g in "abcd":
        sw.wait_link(g)
    gs["c"].send()
    gs["b"].send()
    wait_counter(sw, "b", "rx_pkts", 1)
    gs["a"].send()
    wait_counter(sw, "b", "tx_pkts", len(a_to_b))
    time.sleep(0.5)
    assert sw.stats()[0]["c"]["tx_pkts"] == 1  # the hello only
    # b is silent from now on: after 2 s (+1 s ageing tick) it is forgotten.
    time.sleep(3.5)
    gs["d"].send()
    wait_counter(sw, "c", "tx_pkts", 1 + len(d_to_b))
    out = {g: gs[g].finish() for g in "abcd"}
    assert out["b"] == a_to_b + d_to_b
    assert out["c"] == [hello_b] + d_to_b
    assert out["a"] == [hello_b] + d_to_b
    assert sw.stop() == 0


def test_vdev_that_fails_to_probe(env):
    """EAL logs a --vdev it cannot probe and carries on; the switch does
    not: it exits 1 naming the device, and leaves no socket behind."""
    missing = env.file("missing.pcap")
    sw = env.switch(args=["--vhost", "%s,name=a" % env.sock("a")],
                    vdevs=["net_pcap0,rx_pcap=%s,tx_pcap=%s" % (
                        missing, env.file("out.pcap"))])
    sw.start(wait=False)
    rc = sw.proc.p.wait(60)
    out = sw.output()
    assert rc == 1, out[-1500:]
    assert "--vdev net_pcap0,rx_pcap=%s" % missing in out
    assert "did not probe" in out
    assert "vhost-switch: ready" not in out
    assert not os.path.exists(env.sock("a"))
