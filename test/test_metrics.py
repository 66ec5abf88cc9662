# SPDX-License-Identifier: BSD-3-Clause
"""The metrics endpoint (--metrics, lib/vs_metrics.c): Prometheus text over
HTTP, scraped under traffic between two testpmd virtio-user guests, parsed
exactly here and checked with promtool (Debian's prometheus package)."""
import math
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

import vstest
from ctlclient import Ctl
from vstest import wait_for

PROMTOOL = shutil.which("promtool")
CURL = shutil.which("curl")
T = 45  # generous: two CPUs shared with busy-polling guests

SRC, DST = "02:00:00:00:00:05", "02:00:00:00:00:07"
DROP_REASONS = {"no_mbuf", "tx_full", "port_down", "same_port", "no_dest",
                "runt", "rx_missed", "rx_error", "too_big", "mtu",
                "offload_error", "vlan_denied", "src_denied", "storm",
                "unresolved", "underlay"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(url, method="GET", timeout=10):
    """(status, headers, body) of one request, with urllib."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def scrape(url):
    """The exposition text: with curl when there is one (as a person would
    scrape), else urllib."""
    if CURL:
        p = subprocess.run([CURL, "-sS", "--fail", "--max-time", "10", url],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, p.stderr
        return p.stdout
    status, _, body = http(url)
    assert status == 200
    return body


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_RE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?\})? (\S+)$" %
                       (NAME, LABEL, LABEL))
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse(text):
    """Parse the text format 0.0.4 strictly: every sample belongs to a
    family announced by # HELP and # TYPE before it, a family appears once,
    counters end in _total, values are numbers, no series repeats.
    Returns {name: {frozenset(labels.items()): value}} and {name: type}."""
    assert text.endswith("\n")
    helps, types, samples = {}, {}, {}
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        if line.startswith("# HELP "):
            name, _, h = line[7:].partition(" ")
            assert re.fullmatch(NAME, name) and h, where
            assert name not in helps, "HELP twice: " + where
            helps[name] = h
            current = name
            continue
        if line.startswith("# TYPE "):
            name, _, t = line[7:].partition(" ")
            assert name == current and name not in types, where
            assert t in ("counter", "gauge"), where
            types[name] = t
            continue
        assert not line.startswith("#") and line, where
        m = SAMPLE_RE.match(line)
        assert m, "not a sample: " + where
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        assert name == current and name in types, \
            "sample without its HELP/TYPE: " + where
        if types[name] == "counter":
            assert name.endswith("_total"), where
        v = float(value)
        assert not math.isnan(v) and v >= 0, where
        key = frozenset(LABEL_RE.findall(labels))
        assert key not in samples.setdefault(name, {}), "repeated: " + where
        samples[name][key] = v
    return samples, types


def get(samples, name, **labels):
    want = set(labels.items())
    hits = [v for k, v in samples[name].items() if want <= set(k)]
    assert len(hits) == 1, (name, labels, samples.get(name))
    return hits[0]


def promtool_check(text):
    """promtool check metrics: a linter (HELP, units, _total, ...) over the
    format; exit 0 and nothing said means no problem found. Without it
    (Debian: prometheus) only parse() checks the format, and the test is
    reported as skipped once its other checks have passed."""
    if PROMTOOL is None:
        return
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "" and \
        p.stderr.strip() == "", (p.returncode, p.stdout, p.stderr)


def skip_without_promtool():
    if PROMTOOL is None:
        pytest.skip("promtool not installed (Debian: prometheus): the "
                    "format was checked by this test's parser only")


def pmd(env, name, mac, mode, extra=()):
    """A non-interactive testpmd guest on switch socket @name."""
    argv = [vstest.TESTPMD, "--lcores", vstest.GUEST_LCORES, "--no-huge",
            "-m", "256", "--file-prefix", "vm" + vstest.uid(), "--no-pci",
            "--vdev", "net_virtio_user0,path=%s,mac=%s" % (env.sock(name),
                                                           mac),
            "--", "--total-num-mbufs=8192", "--stats-period", "1",
            "--forward-mode=%s" % mode] + list(extra)
    p = vstest.Proc(argv, env.file(name + ".log"), stdin=subprocess.DEVNULL)

    class Handle:
        proc = p
    env.procs.append(Handle)
    return p


def metrics_switch(env, extra=(), ports=("src", "dst")):
    port = free_port()
    a = []
    for p in ports:
        a += ["--vhost", "%s,name=%s" % (env.sock(p), p)]
    a += ["--ctl", env.file("ctl"), "--metrics", str(port)] + list(extra)
    sw = env.switch(args=a).start()
    sw.wait_log(r"metrics at http://127\.0\.0\.1:%d/metrics" % port)
    return sw, "http://127.0.0.1:%d/metrics" % port


def test_counters_grow_under_traffic(env):
    """A txonly guest streams to an rxonly guest: between two scrapes the
    port, lcore and byte counters grow; every port has every drop reason;
    the MAC table, mbufs and lcores are there; promtool accepts both."""
    sw, url = metrics_switch(env)
    pmd(env, "dst", DST, "rxonly", ["--tx-first",
                                    "--eth-peer=0,%s" % DST])
    sw.wait_link("dst", timeout=T)
    # dst's first burst (to itself) teaches the switch its MAC.
    wait_for(lambda: get(parse(scrape(url))[0],
                         "vhost_switch_port_drops_total", port="dst",
                         reason="same_port") >= 32, T, interval=0.2,
             what="dst learned")
    pmd(env, "src", SRC, "txonly", ["--eth-peer=0,%s" % DST])
    sw.wait_link("src", timeout=T)
    wait_for(lambda: get(parse(scrape(url))[0],
                         "vhost_switch_port_tx_packets_total",
                         port="dst") > 0, T, interval=0.2,
             what="the stream reaches dst")

    t1 = scrape(url)
    time.sleep(1.0)
    t2 = scrape(url)
    promtool_check(t1)
    promtool_check(t2)
    s1, types = parse(t1)
    s2, _ = parse(t2)

    for name, port in (("vhost_switch_port_rx_packets_total", "src"),
                       ("vhost_switch_port_rx_bytes_total", "src"),
                       ("vhost_switch_port_tx_packets_total", "dst"),
                       ("vhost_switch_port_tx_bytes_total", "dst")):
        a = get(s1, name, port=port, kind="vhost")
        b = get(s2, name, port=port, kind="vhost")
        assert b > a, (name, port, a, b)
    lc = str(vstest.fwd_lcores(sw.lcores)[0])
    for name in ("vhost_switch_lcore_busy_cycles_total",
                 "vhost_switch_lcore_packets_total"):
        assert get(s2, name, lcore=lc) > get(s1, name, lcore=lc), name
    # Counters never go down between scrapes.
    for name, series in s1.items():
        if types[name] == "counter":
            for k, v in series.items():
                assert s2[name][k] >= v, (name, k)

    for port in ("src", "dst"):
        reasons = {dict(k)["reason"] for k in
                   s2["vhost_switch_port_drops_total"]
                   if dict(k)["port"] == port}
        assert reasons == DROP_REASONS
        assert get(s2, "vhost_switch_port_up", port=port) == 1
    for name in ("vhost_switch_port_sw_gso_total",
                 "vhost_switch_port_tx_gso_total",
                 "vhost_switch_port_rx_gso_total",
                 "vhost_switch_port_sw_csum_total",
                 "vhost_switch_port_sw_gso_segments_total",
                 "vhost_switch_port_mac_limit_total",
                 "vhost_switch_lcore_idle_cycles_total",
                 "vhost_switch_lcore_sleep_cycles_total",
                 "vhost_switch_lcore_sleeps_total",
                 "vhost_switch_lcore_wakeups_total",
                 "vhost_switch_fdb_capacity",
                 "vhost_switch_tsc_hz"):
        assert name in s2, name
    assert get(s2, "vhost_switch_fdb_entries") >= 2
    # DPDK's virtio PMD polls: it asks for no interrupts, none relayed.
    for outcome in ("relayed", "full", "blocked"):
        assert get(s2, "vhost_switch_call_relay_total",
                   outcome=outcome) == 0, outcome
    assert get(s2, "vhost_switch_port_fdb_entries", port="dst") == 1
    assert get(s2, "vhost_switch_mbufs_pool_size", socket="0") > 0
    assert ("vhost_switch_mbufs_in_use" in s2 and
            len(s2["vhost_switch_mbufs_in_use"]) >= 1)
    assert sw.stop() == 0
    skip_without_promtool()


def test_http_surface(env):
    """Only GET (and HEAD) of /metrics: 404 elsewhere, 405 for other
    methods; the content type of the 0.0.4 text format; loopback only."""
    sw, url = metrics_switch(env, ports=("a",))
    status, hdr, body = http(url)
    assert status == 200 and body.startswith("# HELP ")
    assert hdr["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert http(url, "HEAD")[0] == 200
    assert http(url.replace("/metrics", "/"))[0] == 404
    assert http(url + "/x")[0] == 404
    status, hdr, _ = http(url, "POST")
    assert status == 405 and "GET" in hdr["Allow"]
    assert http(url, "DELETE")[0] == 405
    # Bound to 127.0.0.1 only.
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    ss = subprocess.run(["ss", "-Hltn", "sport = :%d" % port],
                        capture_output=True, text=True)
    if ss.returncode == 0:
        assert "127.0.0.1:%d" % port in ss.stdout, ss.stdout
        assert "0.0.0.0:%d" % port not in ss.stdout, ss.stdout
    assert sw.stop() == 0


def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_and_config_file(env):
    """[::1]:PORT, given as metrics = in the [switch] section of --config."""
    port = free_port()
    ini = env.file("sw.ini")
    with open(ini, "w") as f:
        f.write("[switch]\nmetrics = [::1]:%d\n" % port)
    sw = env.switch(args=["--config", ini, "--ctl", env.file("ctl")]).start()
    sw.wait_log(r"metrics at http://\[::1\]:%d/metrics" % port)
    status, _, body = http("http://[::1]:%d/metrics" % port)
    assert status == 200
    assert "vhost_switch_fdb_capacity 65536\n" in body
    assert sw.stop() == 0


def test_vxlan_tunnels(env):
    """A tunnel with two remotes over a net_null underlay (which receives
    garbage at full speed): per remote and per underlay counters."""
    port = free_port()
    sw = env.switch(vdevs=["net_null0"], args=[
        "--vxlan", "t1,vni=10,local=10.0.0.1,remote=10.0.0.2+10.0.0.3,"
        "via=net_null0", "--ctl", env.file("ctl"), "--metrics", str(port)])
    sw.start()
    url = "http://127.0.0.1:%d/metrics" % port
    t1 = scrape(url)
    promtool_check(t1)
    s, _ = parse(t1)
    for ip in ("10.0.0.2", "10.0.0.3"):
        for name in ("tx_packets_total", "rx_bytes_total",
                     "unresolved_total", "resolved"):
            get(s, "vhost_switch_vxlan_remote_" + name, tunnel="t1",
                vni="10", remote=ip)
    assert get(s, "vhost_switch_port_up", port="t1", kind="vxlan") == 1
    a = get(s, "vhost_switch_vxlan_underlay_not_vtep_total",
            port="net_null0")
    wait_for(lambda: get(parse(scrape(url))[0],
                         "vhost_switch_vxlan_underlay_not_vtep_total",
                         port="net_null0") > a, T, what="underlay counts")
    assert sw.stop() == 0
    skip_without_promtool()


@pytest.mark.parametrize("value", [
    "", "0", "65536", "x", "9100x", "-1", "localhost:9100", "1.2.3:9100",
    "::1:9100", "[::1]", "[::1:9100", "[127.0.0.1]:9100", ":9100",
    "127.0.0.1:"])
def test_bad_value_exits_2(env, value):
    sw = env.switch(args=["--metrics", value])
    sw.start(wait=False)
    rc = sw.proc.p.wait(30)
    assert rc == 2, sw.output()[-2000:]
    assert "--metrics: invalid value '%s'" % value in sw.output()


def test_bad_config_value_exits_2(env):
    ini = env.file("sw.ini")
    with open(ini, "w") as f:
        f.write("[switch]\nmetrics = 99999\n")
    sw = env.switch(args=["--config", ini])
    sw.start(wait=False)
    assert sw.proc.p.wait(30) == 2
    assert "[switch] metrics: invalid value '99999'" in sw.output()


def test_port_in_use(env):
    """Another process holds the port: the switch says so and fails."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        sw = env.switch(args=["--ctl", env.file("ctl"),
                              "--metrics", "127.0.0.1:%d" % port])
        sw.start(wait=False)
        rc = sw.proc.p.wait(60)
    finally:
        s.close()
    out = sw.output()
    assert rc not in (0, None), out[-2000:]
    assert "--metrics 127.0.0.1:%d: the port is in use by another " \
        "process" % port in out, out[-2000:]


def test_scrapes_vs_port_del_and_shutdown(env):
    """Scrapes in a loop while port/add and port/del churn, then while the
    switch stops: a scrape reads ports under the command lock, and the
    server is stopped before the ports are freed (run it on the sanitizer
    build: VS_BUILD=build-asan)."""
    sw, url = metrics_switch(env, ports=("keep",))
    stop = threading.Event()
    seen = {"n": 0, "tmp": 0, "err": []}

    def loop():
        while not stop.is_set():
            try:
                status, _, body = http(url, timeout=10)
            except OSError:
                continue  # the switch is stopping
            if status != 200:
                seen["err"].append(status)
                continue
            parse(body)
            seen["n"] += 1
            seen["tmp"] += 'port="tmp"' in body
    t = threading.Thread(target=loop)
    t.start()
    c = Ctl(env.file("ctl"), timeout=T)
    try:
        end = time.monotonic() + 6
        i = 0
        while time.monotonic() < end:
            c.call("port/add", env.sock("t%d" % (i % 4)), "name=tmp")
            time.sleep(0.005 * (i % 4))
            c.call("port/del", "tmp")
            i += 1
        c.close()
        assert sw.proc.alive()
        sw.proc.kill(signal.SIGTERM)
        rc = sw.proc.p.wait(30)
    finally:
        stop.set()
        t.join()
    assert rc == 0, sw.output()[-3000:]
    assert seen["err"] == [] and seen["n"] > 20 and i > 20, (seen, i)
    assert "ERROR: AddressSanitizer" not in sw.output()
