# SPDX-License-Identifier: BSD-3-Clause
"""Fuzzing a running switch: the vhost-user protocol (vhostuser_fuzz.py),
the control socket (CtlFuzzer, here), and the option and config parsers
(libFuzzer, fuzz/).

Every test runs whatever VS_BUILD points at; with an AddressSanitizer
build (meson -Db_sanitize=address,undefined) the sanitizers' reports go
to a private directory (ASAN_OPTIONS / UBSAN_OPTIONS log_path) and any
report fails the test. A testpmd txonly -> rxonly pair on other ports of
the same switch must keep forwarding throughout (the switch's counters
for it grow in every sampling interval) and guests attached afterwards
exchange frames exactly.

The librte_vhost 22.11 bugs the vhost-user fuzzer found are replayed by
the tests at the end (see doc/reliability.md): those the switch's message
guard (lib/vs_vhost_guard.c) stops are ordinary tests, those it cannot
reach are xfail(strict=True). The long fuzz run sends everything,
crashers included, and allows the switch's fd count to grow by at most
the fds the remaining known leaks can hold.

Environment: VS_FUZZ_SEED (default 20240601), VS_FUZZ_COUNT (10000),
VS_CTL_FUZZ_COUNT (10000), VS_LIBFUZZER_SECONDS (30).
"""
import itertools
import json
import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

import ctlclient
import vhostuser_fuzz as vf
import vstest
from test_reconnect import (Pmd, frame, mac, start_guests, vhost_args,
                            wait_in_use_zero, wait_pcap, wait_stat)
from vstest import wait_for

PYTHON = "/usr/bin/python3"
FUZZER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "vhostuser_fuzz.py")
SEED = os.environ.get("VS_FUZZ_SEED", "20240601")
VHOST_COUNT = int(os.environ.get("VS_FUZZ_COUNT", "10000"))
CTL_COUNT = int(os.environ.get("VS_CTL_FUZZ_COUNT", "10000"))
LIBFUZZER_SECONDS = int(os.environ.get("VS_LIBFUZZER_SECONDS", "30"))
BCAST = "ff:ff:ff:ff:ff:ff"
T_LINK = 60
SIZES = [64, 128, 1518, 512, 65, 1024]


# ---------------------------------------------------------------------------
# Helpers shared with test_faults.py and scripts/soak
# ---------------------------------------------------------------------------

def is_asan_build(path=vstest.SWITCH_BIN):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


SAN_PATTERNS = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|"
                          r"runtime error:|SUMMARY: UndefinedBehavior")
# Reports of known bugs the other tests skip. Empty: the ones found so far
# (UBSan: misaligned loads hashing MACs in frame data, lib/vs_fdb.c;
# memcpy from NULL in lib/vs_capture.c) are fixed, and their tests
# (test_ubsan_*) now guard against them.
KNOWN_REPORTS = []


class Sanitizers:
    """Reports of every process started from now on go to @dir (ASan's
    log_path; UBSan reports of a gcc build go to stderr, i.e. the
    switch's log, whatever UBSAN_OPTIONS says)."""

    def __init__(self, directory, monkeypatch=None):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        env = {}
        for var, extra in (("ASAN_OPTIONS", "detect_leaks=1:log_path=%s/asan"),
                           # No print_stacktrace: symbolizing the known
                           # report on the first frame stalls the lcore ~2 s.
                           ("UBSAN_OPTIONS", "log_path=%s/ubsan")):
            prev = os.environ.get(var, "")
            env[var] = ":".join(x for x in (prev, extra % directory) if x)
        for k, v in env.items():
            if monkeypatch is not None:
                monkeypatch.setenv(k, v)
            else:
                os.environ[k] = v

    @staticmethod
    def unknown(text, known=True):
        """Sanitizer report lines in @text, less the known ones (unless
        @known is False): (offset, line)."""
        out = []
        for m in SAN_PATTERNS.finditer(text):
            a = text.rfind("\n", 0, m.start()) + 1
            b = text.find("\n", m.end())
            line = text[a:b if b >= 0 else len(text)]
            if known and any(k.search(line) for k in KNOWN_REPORTS):
                continue
            out.append((a, line))
        return out

    def reports(self, logs=()):
        out = []
        for f in sorted(os.listdir(self.dir)):
            p = os.path.join(self.dir, f)
            if os.path.getsize(p) > 0:
                with open(p, errors="replace") as fh:
                    text = fh.read()
                if self.unknown(text) or not SAN_PATTERNS.search(text):
                    out.append("%s:\n%s" % (p, text[:6000]))
        for log in logs:
            if os.path.exists(log):
                with open(log, errors="replace") as fh:
                    text = fh.read()
                bad = self.unknown(text)
                if bad:
                    a = bad[0][0]
                    out.append("%s:\n%s" % (log, text[max(0, a - 200):
                                                      a + 6000]))
        return out

    def check(self, *switches):
        logs = [s.log for s in switches]
        rep = self.reports(logs)
        assert not rep, "sanitizer reports:\n" + "\n".join(rep)


@pytest.fixture
def san(env, monkeypatch):
    return Sanitizers(env.file("sanitizers"), monkeypatch)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def settled_fd_count(pid, timeout=10):
    """The fd count once it stopped moving for 0.5 s (connections the
    switch is still closing are not counted either way)."""
    last, end = fd_count(pid), time.monotonic() + timeout
    while time.monotonic() < end:
        time.sleep(0.5)
        n = fd_count(pid)
        if n == last:
            return n
        last = n
    return last


def memfd_maps(pid, name="vsfuzz"):
    with open("/proc/%d/maps" % pid) as f:
        return sum(1 for ln in f if "/memfd:%s" % name in ln)


def thread_stacks(pid, path=None):
    """Every thread's backtrace (gdb), for a switch that stopped answering;
    saved to @path too."""
    if shutil.which("gdb") is None:
        return "(gdb not installed: no stacks)"
    try:
        p = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex",
                            "thread apply all bt 30"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
    except subprocess.TimeoutExpired:
        return "(gdb timed out)"
    out = p.stdout.decode(errors="replace")
    if path:
        with open(path, "w") as f:
            f.write(out)
    keep = [ln for ln in out.splitlines() if ln.startswith(("Thread", "#"))]
    return "\n".join(keep)[:12000]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def stats(ctl):
    """{port name: counters} over the control socket."""
    return {p["name"]: p for p in ctlclient.call(ctl, "stats/show")}


class Sampler(threading.Thread):
    """Reads the switch's counters every @period seconds until stopped."""

    def __init__(self, ctl, period=2.0):
        super().__init__(daemon=True)
        self.ctl = ctl
        self.period = period
        self.samples = []
        self.errors = []
        self.ev = threading.Event()

    def run(self):
        while True:
            try:
                self.samples.append((time.monotonic(), stats(self.ctl)))
            except Exception as e:  # e.g. refused: 64 clients already
                self.errors.append(repr(e))
            if self.ev.wait(self.period):
                break

    def stop(self):
        self.ev.set()
        self.join(30)
        # The last interval no shorter than half a period: a final sample
        # a few ms after a periodic one may fall between two bursts and
        # read as a stall (seen once in CI: 5 intervals, the last ~0 s).
        if self.samples:
            rest = self.samples[-1][0] + self.period / 2 - time.monotonic()
            if rest > 0:
                time.sleep(rest)
        try:
            self.samples.append((time.monotonic(), stats(self.ctl)))
        except (OSError, ValueError, ctlclient.RpcError) as e:
            self.errors.append(repr(e))

    def assert_growing(self, port, key, min_intervals=3):
        """@port's @key rose in every sampling interval."""
        vals = [(t, s[port][key]) for t, s in self.samples if port in s]
        assert len(vals) >= min_intervals + 1, (
            "only %d samples of %s %s (errors: %s)" % (len(vals), port, key,
                                                       self.errors[:3]))
        stuck = [(round(t0 - vals[0][0], 2), round(t1 - vals[0][0], 2), v0,
                  v1)
                 for (t0, v0), (t1, v1) in zip(vals, vals[1:]) if v1 <= v0]
        assert not stuck, "%s %s did not grow in %d of %d intervals " \
            "(from t, to t, before, after): %s" % (
                port, key, len(stuck), len(vals) - 1, stuck[:5])
        return vals


def stream_pair(env, sw, s="s", r="r"):
    """A testpmd txonly guest @s streaming to an rxonly guest @r (which
    sent one burst to itself first, so the switch knows where it is)."""
    S, R = mac(0x50), mac(0x51)
    pr = Pmd(env, r, env.sock(r), R, "rxonly",
             ["--tx-first", "--eth-peer=0,%s" % R]).start()
    sw.wait_link(r, timeout=T_LINK)
    wait_stat(sw, r, "same_port", lambda v: v >= 32, ">= 32 (%s learned)" % r)
    ps = Pmd(env, s, env.sock(s), S, "txonly",
             ["--eth-peer=0,%s" % R]).start()
    sw.wait_link(s, timeout=T_LINK)
    wait_stat(sw, r, "tx_pkts", lambda v: v > 0, "> 0 (stream reaches %s)" % r)
    return ps, pr


def exact_exchange(env, sw, a="xa", b="xb", tag=0x5a):
    """Two pcap guests attach to ports @a and @b and trade frames; each
    gets exactly what the other sent (the stream, if any, is unicast
    elsewhere)."""
    A, B = mac(0x60 + tag % 16), mac(0x70 + tag % 16)
    hello_b = frame(B, BCAST, 0, tag=tag)
    a_to_b = [frame(A, B, k, sz, tag=tag) for k, sz in enumerate(SIZES * 2)]
    n_a, n_b = sw.link_ups(a), sw.link_ups(b)
    ga = env.guest(a, env.sock(a), a_to_b, mac=A)
    gb = env.guest(b, env.sock(b), [hello_b], mac=B)
    start_guests(ga, gb)
    sw.wait_link(a, count=n_a + 1, timeout=T_LINK)
    sw.wait_link(b, count=n_b + 1, timeout=T_LINK)
    tx_a = sw.stats()[0][a]["tx_pkts"]
    gb.send()
    wait_stat(sw, a, "tx_pkts", lambda v: v > tx_a, "> %d (hello to %s)" % (
        tx_a, a))
    ga.send()
    wait_pcap(gb.out, len(a_to_b))
    got_a, got_b = ga.finish(), gb.finish()
    assert got_b == a_to_b, "%s got %d frames, %d expected" % (
        b, len(got_b), len(a_to_b))
    assert got_a == [hello_b]


def link_downs(sw, port):
    return len(re.findall(r"port \d+ %s: link down" % re.escape(port),
                          sw.output()))


# ---------------------------------------------------------------------------
# The control-socket fuzzer
# ---------------------------------------------------------------------------

RPC_CODES = {-32700, -32600, -32601, -32602, -32603, -32000}
SAFE_METHODS = ["version", "help", "info", "port/list", "port/show",
                "vring/show", "mem/show", "features/show", "stats/show",
                "fdb/show", "fdb/info", "fdb/aging", "busyloop/show",
                "lcore/show", "lcore/rebalance", "log/list"]
# Methods that change state: their arguments are steered away from the
# ports, MACs and files the test depends on.
GUARDED = ["port/add", "port/del", "port/enable", "port/disable",
           "stats/clear", "fdb/add", "fdb/del", "fdb/flush", "busyloop/set",
           "capture/start", "capture/stop", "log/set", "shutdown"]


class CtlFuzzer:
    """Random JSON-RPC traffic for the control socket, seeded.

    One connection sends a fuzzed line, then a sentinel request
    (version, id "s<n>"), and reads replies up to the sentinel's: every
    reply before it answers the fuzzed line (zero for a notification,
    one otherwise), and each must be a well-formed JSON-RPC 2.0 reply.
    @protect: port names and ids never given to a state-changing method;
    @macs: MACs never given to fdb/add or fdb/del; @workdir: where
    port/add sockets and capture files may go.
    """

    def __init__(self, path, seed, protect, macs, workdir, ports=()):
        self.path = path
        self.r = random.Random("ctl:%s" % seed)
        self.protect = set(protect)
        self.macs = {m.lower() for m in macs}
        self.wd = workdir
        self.ports = list(ports)  # names a state-changing method may use
        self.sent = 0
        self.replies = 0
        self.errors = {}
        self.closed = 0
        self.sentinels = itertools.count()
        self.c = None
        self.f = None
        self.added = []

    # -- connection --
    def connect(self):
        self.close()
        self.c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.c.settimeout(30)
        self.c.connect(self.path)
        self.f = self.c.makefile("rb")

    def readline(self):
        """A reply line, or b"" at the end (a close with some of our bytes
        unread arrives as a reset)."""
        try:
            return self.f.readline()
        except ConnectionResetError:
            return b""

    def close(self):
        if self.c is not None:
            self.f.close()
            self.c.close()
            self.c = None

    # -- values --
    def rstr(self, maxlen=40):
        k = self.r.randrange(8)
        if k == 0:
            return ""
        if k == 1:
            return "".join(self.r.choice("0123456789") for _ in range(
                self.r.randrange(1, 25)))
        if k == 2:
            return self.r.choice(["all", "client", "queues=0", "queues=999",
                                  "queues=-1", "name=", "name=a b",
                                  "name=" + "n" * 40, "0x10", "-1", "1e3",
                                  "..", "/", "\t", "\u00e9\u4e2d", "%s%n",
                                  "debug", "emerg", "8", "*", "ff:ff",
                                  "02:00:00:00:00:01", "zz:zz:zz:zz:zz:zz"])
        if k == 3:
            return "x" * self.r.choice([100, 1000, 5000, 30000])
        return "".join(chr(self.r.randrange(32, 127)) for _ in range(
            self.r.randrange(1, maxlen)))

    def rval(self, depth=0):
        k = self.r.randrange(12)
        if k < 5:
            return self.rstr()
        if k == 5:
            return self.r.choice([0, 1, 255, 256, 65535, 2**31, 2**32,
                                  2**53, 2**63 - 1])
        if k == 6:
            return self.r.choice([-1, -2**63, 1.5, 1e300, -0.0])
        if k == 7:
            return self.r.choice([None, True, False])
        if k == 8 and depth < 3:
            return [self.rval(depth + 1) for _ in range(self.r.randrange(4))]
        if k == 9 and depth < 3:
            return {self.rstr(8): self.rval(depth + 1)
                    for _ in range(self.r.randrange(3))}
        return self.r.randrange(0, 300)

    def port_arg(self):
        """A port for a state-changing method: one of ours, or a name or id
        that is no port at all."""
        k = self.r.randrange(4)
        if k == 0 and self.ports:
            return self.r.choice(self.ports)
        if k == 1 and self.added:
            return self.r.choice(self.added)
        if k == 2:
            # Not ports: strtoul() would read " 1" or "+1" as port 1.
            return self.r.choice(["999", "256", "65536", "nope", "",
                                  "-1", "1x", " 999", "+256"])
        return self.r.choice(self.ports or ["nope"])

    def is_protected(self, v):
        s = str(v)
        if s in self.protect:
            return True
        try:
            n = int(s, 10)
        except ValueError:
            return False
        return str(n) in self.protect

    def safe_args(self, method, params):
        """Replace whatever would touch what the test depends on."""
        out = []
        for i, p in enumerate(params):
            if isinstance(p, bool) or p is None or isinstance(
                    p, (list, dict, float)):
                out.append(p)
                continue
            if isinstance(p, int) and p < 0:
                out.append(p)
                continue
            s = str(p)
            if method in ("fdb/add", "fdb/del") and i == 0 and \
                    s.lower() in self.macs:
                p = "02:00:00:00:ee:%02x" % self.r.randrange(256)
            elif method == "port/add" and i == 0:
                p = self.path_arg()
            elif method == "capture/start" and i == 1:
                p = self.path_arg(capture=True)
            elif method == "log/set" and i == 1:
                p = "info" if self.r.random() < 0.5 else self.r.choice(
                    ["bogus", "9", "", "INFO", "0"])
            elif method == "log/set" and i == 0:
                p = self.r.choice(["nonexistent.*", "vsfuzz.x", "[", "**",
                                   "user1", "x" * 300])
            elif method == "busyloop/set" and s == "all":
                p = self.port_arg()
            elif self.is_protected(p):
                p = self.port_arg()
            out.append(p)
        if method == "shutdown" and not out:
            out = ["now"]  # shutdown takes no argument: an error
        return out

    def path_arg(self, capture=False):
        """A path in the work directory: a socket to be, a missing
        directory, too long, a directory, a capture file, or (not for a
        capture, which would overwrite it) a regular file."""
        k = self.r.randrange(5 if capture else 6)
        if k == 0:
            return os.path.join(self.wd, "cf%d.sock" % self.r.randrange(8))
        if k == 1:
            return os.path.join(self.wd, "nodir", "x.sock")
        if k == 2:
            return os.path.join(self.wd, "p" * 200)
        if k == 3:
            return os.path.join(self.wd, "cap%d.pcapng" % self.r.randrange(4))
        if k == 4:
            return self.wd  # a directory
        return os.path.join(self.wd, "regular-file")

    # -- requests --
    def request(self):
        r = self.r
        k = r.randrange(100)
        if k < 35:
            method = r.choice(SAFE_METHODS)
        elif k < 60:
            method = r.choice(GUARDED)
        elif k < 70:
            method = r.choice([self.rstr(), "port/", "/", "port/list/",
                               "PORT/LIST", "port/list\u0000", "help " * 3,
                               "x" * 2000])
        else:
            method = r.choice(SAFE_METHODS + GUARDED)
        nparams = r.choice([0, 0, 1, 1, 2, 3, 4, 17, 40])
        params = [self.rval() for _ in range(nparams)]
        if method in ("port/show", "vring/show", "mem/show",
                      "features/show", "stats/show", "fdb/show",
                      "port/enable", "port/disable", "port/del",
                      "stats/clear", "fdb/flush", "capture/stop",
                      "busyloop/set", "capture/start") and \
                r.random() < 0.6:
            params = [self.port_arg()] + params[:r.randrange(3)]
        if method == "fdb/add" and r.random() < 0.6:
            params = ["02:00:00:00:ee:%02x" % r.randrange(256),
                      self.port_arg()]
        if method == "port/add" and r.random() < 0.6:
            name = "cf%d" % r.randrange(6)
            params = [self.path_arg()] + r.sample(
                ["client", "queues=%d" % r.randrange(0, 40), "name=" + name,
                 "server", "queues=x"], r.randrange(0, 3))
        if method in GUARDED:
            params = self.safe_args(method, params)
        if method in ("stats/clear", "fdb/flush") and not params:
            params = [self.port_arg()]  # not every port's
        req = {"jsonrpc": "2.0", "method": method}
        if r.random() < 0.85 or method in ("shutdown", "stats/clear",
                                           "fdb/flush"):
            req["params"] = params
        idk = r.randrange(10)
        if idk < 6:
            req["id"] = r.randrange(1 << 31)
        elif idk == 6:
            req["id"] = self.rstr(20)
        elif idk == 7:
            req["id"] = None
        elif idk == 8:
            req["id"] = r.choice([1.5, [1], {"a": 1}, True, -1, 2**70])
        # idk 9: a notification
        return req

    def mangle(self, req):
        """The request as a line, sometimes broken."""
        r = self.r
        k = r.randrange(30)
        if k == 0:
            return bytes(r.getrandbits(8) for _ in range(
                r.randrange(1, 200))).replace(b"\n", b" ")
        if k == 1:
            d = r.choice([10, 100, 1000, 5000, 30000])
            return (b"[" * d + b"]" * d) if r.random() < 0.5 else \
                (b'{"a":' * d + b"1" + b"}" * d)
        if k == 2:
            return r.choice([b"1" * 5000, b"-" + b"9" * 400, b"1e999999",
                             b'{"jsonrpc":"2.0","id":1e400,"method":"info"}',
                             b'{"jsonrpc":"2.0","id":123456789012345678901234'
                             b'567890,"method":"info"}',
                             b'{"jsonrpc":"2.0","id":1,"method":"port/show",'
                             b'"params":[184467440737095516160]}',
                             b"NaN", b"Infinity", b"null", b'"str"', b"[]",
                             b"{}", b'{"jsonrpc":2.0}', b"\x00",
                             b'{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,'
                             b'"method":"info"}',
                             b'{"jsonrpc":"2.0","id":1,"method":"info",'
                             b'"params":{"a":1}}',
                             b'{"jsonrpc":"2.0","id":1,"method":"inf\\u0000o"}',
                             b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}',
                             b"\xef\xbb\xbf{}", b"   ", b"\r"])
        if k == 3:
            return json.dumps([req] * r.randrange(0, 4)).encode()
        if k == 4:
            line = json.dumps(req).encode()
            return line[:r.randrange(len(line))]
        if k == 5:
            req = dict(req)
            req["jsonrpc"] = r.choice(["1.0", "2", 2.0, None, ""])
            return json.dumps(req).encode()
        if k == 6:
            req = dict(req)
            req["params"] = r.choice([{"a": 1}, "port/list", 7, True,
                                      [[]] * 3, [None]])
            return json.dumps(req).encode()
        if k == 7:
            req = dict(req)
            req["params"] = ["y" * r.choice([1000, 20000, 60000])]
            return json.dumps(req).encode()[:65536]
        return json.dumps(req).encode()

    def expect_reply(self, line):
        """Whether the switch answers @line: False for an empty line,
        None (no reply, or one: the switch's JSON parser decides) for what
        Python reads as an object without "id" (a notification: no reply,
        not even an error; but jansson may refuse what Python accepts, e.g.
        duplicate keys or NaN, and answer with a parse error), True for
        the rest."""
        body = line.rstrip(b"\r").strip(b" \t")
        if not line.rstrip(b"\r"):
            return False  # empty line: skipped
        try:
            msg = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        if isinstance(msg, dict) and "id" not in msg:
            return None
        return True

    def check_reply(self, raw):
        rep = json.loads(raw)
        assert isinstance(rep, dict) and rep.get("jsonrpc") == "2.0", raw[:300]
        assert ("result" in rep) != ("error" in rep), raw[:300]
        if "error" in rep:
            e = rep["error"]
            assert e["code"] in RPC_CODES, raw[:300]
            assert isinstance(e["message"], str) and len(e["message"]) > 5, \
                raw[:300]
            self.errors[e["code"]] = self.errors.get(e["code"], 0) + 1
        return rep

    def send_line(self, line):
        """Send one fuzzed line and check what comes back. When the line
        may get no reply (a notification, an empty line) a sentinel
        request follows it, and the replies up to the sentinel's are the
        line's."""
        if self.c is None:
            self.connect()
        want = self.expect_reply(line)
        sid = None
        data = line + b"\n"
        if want is not True:
            sid = "s%d" % next(self.sentinels)
            data += json.dumps({"jsonrpc": "2.0", "id": sid,
                                "method": "version"}).encode() + b"\n"
        oversize = len(line) > 65536
        try:
            if not oversize:
                # In pieces, with pauses: a request split across reads.
                for i in range(0, len(data), 7):
                    self.c.sendall(data[i:i + 7])
                    if i < 70:
                        time.sleep(0.0005)
            else:
                self.c.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            assert oversize, "connection closed on %r" % line[:200]
            self.closed += 1
            self.close()
            return
        self.sent += 1
        got = []
        while True:
            raw = self.readline()
            if not raw:
                assert oversize, "connection closed after %d bytes %r" % (
                    len(line), line[:200])
                self.closed += 1
                self.close()
                return
            rep = self.check_reply(raw)
            self.replies += 1
            if oversize:
                # An error, then the switch closes: read up to the end.
                assert rep["error"]["code"] == -32600, raw[:300]
                continue
            if sid is None:
                got.append(rep)
                break
            if rep.get("id") == sid:
                break
            got.append(rep)
        self.check_count(got, want, line)

    @staticmethod
    def check_count(got, want, line):
        """@got: the replies to @line before its sentinel (or the one reply
        when it had none): one for a request, none for a notification or
        an empty line, at most one when either may be."""
        if want is True:
            assert len(got) == 1, "%d replies to %r" % (len(got), line[:200])
        elif want is False:
            assert not got, "a reply to an empty line %r" % line[:200]
        else:
            assert len(got) <= 1, "%d replies to %r" % (len(got), line[:200])

    def replies_until(self, sid, line):
        """Replies up to the sentinel @sid (None: the first reply)."""
        got = []
        while True:
            raw = self.readline()
            assert raw, "connection closed after %r" % line[:200]
            rep = self.check_reply(raw)
            self.replies += 1
            if sid is None:
                return [rep]
            if rep.get("id") == sid:
                return got
            got.append(rep)

    def structural(self):
        """Connections: more than 64 at once, idle ones, half lines."""
        k = self.r.randrange(3)
        if k == 0:
            # 64 clients at most: the 65th and later get an error and EOF.
            extra = []
            try:
                for _ in range(70):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    extra.append(s)
                    s.connect(self.path)  # blocking: waits for the backlog
                    s.settimeout(30)
                refused = 0
                for s in extra[60:]:
                    # A refused client gets its error unasked, then EOF:
                    # our request may meet a closed socket.
                    try:
                        s.sendall(b'{"jsonrpc":"2.0","id":1,'
                                  b'"method":"version"}\n')
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    f = s.makefile("rb")
                    try:
                        rep = json.loads(f.readline() or b"{}")
                    except ConnectionResetError:
                        rep = {}
                    f.close()
                    if "error" in rep:
                        assert "too many" in rep["error"]["message"], rep
                        refused += 1
                    else:
                        assert rep.get("result"), rep
                self.sent += 10
                assert refused >= 6, "%d of 10 late clients refused" % refused
            finally:
                for s in extra:
                    s.close()
            time.sleep(0.3)  # let the control thread reap them
        elif k == 1:
            # A half line left hanging on another connection, then closed.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(self.path)
            s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"inf')
            self.send_line(b'{"jsonrpc":"2.0","id":2,"method":"info"}')
            s.close()
        else:
            # An oversized line: an error, then the connection is closed.
            self.connect()
            self.c.sendall(b"[" * 70000 + b"\n")
            raw = self.readline()
            rep = self.check_reply(raw)
            assert rep["error"]["code"] == -32600, raw
            assert self.readline() == b""
            self.sent += 1
            self.closed += 1
            self.close()

    def flush(self, lines):
        """Send @lines at once (each followed by a sentinel when it may get
        no reply), then check the replies in order."""
        if not lines:
            return
        if self.c is None:
            self.connect()
        plan, data = [], b""
        for line in lines:
            want = self.expect_reply(line)
            sid = None
            data += line + b"\n"
            if want is not True:
                sid = "s%d" % next(self.sentinels)
                data += json.dumps({"jsonrpc": "2.0", "id": sid,
                                    "method": "version"}).encode() + b"\n"
            plan.append((line, want, sid))
        # Send while reading: the switch stops reading a client that lets
        # 1 MiB of replies pile up (VS_CTL_MAX_PENDING).
        sender = threading.Thread(target=self.c.sendall, args=(data,),
                                  daemon=True)
        sender.start()
        for line, want, sid in plan:
            self.sent += 1
            self.check_count(self.replies_until(sid, line), want, line)
        sender.join(30)

    def run(self, count, stop=None):
        """Fuzz until @count requests went (or @stop is set): lines go in
        pipelined groups of up to 32; oversized ones, and some split into
        7-byte pieces, go alone."""
        while self.sent < count and not (stop and stop.is_set()):
            if self.r.random() < 0.003:
                self.structural()
                continue
            group = []
            for _ in range(32):
                line = self.mangle(self.request())
                if len(line) > 65536 or self.r.random() < 0.03:
                    self.flush(group)
                    group = []
                    self.send_line(line)
                else:
                    group.append(line)
            self.flush(group)
        self.close()
        return self.summary()

    def summary(self):
        return {"requests": self.sent, "replies": self.replies,
                "errors_by_code": self.errors, "closed": self.closed}


class CtlObserver(threading.Thread):
    """Queries a port's vrings, memory and features in a loop: the control
    thread racing the vhost-user thread while a guest comes and goes."""

    def __init__(self, ctl, port):
        super().__init__(daemon=True)
        self.ctl = ctl
        self.port = port
        self.n = 0
        self.bad = []
        self.ev = threading.Event()

    def run(self):
        c = None
        methods = [("vring/show", self.port), ("mem/show", self.port),
                   ("features/show", self.port), ("port/show", self.port),
                   ("vring/show", self.port, "0"), ("info",)]
        while not self.ev.is_set():
            try:
                if c is None:
                    c = ctlclient.Ctl(self.ctl, timeout=60)
                for m in methods:
                    try:
                        c.call(*m)
                    except ctlclient.RpcError as e:
                        if e.code != -32000:  # "no guest attached"
                            self.bad.append(str(e))
                    self.n += 1
            except (OSError, ValueError) as e:
                self.bad.append(repr(e))
                c = None
                time.sleep(0.5)
        if c is not None:
            c.close()

    def stop(self):
        self.ev.set()
        self.join(60)


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------

def fuzz_switch(env, names, extra=()):
    ctl = env.file("ctl")
    sw = env.switch(args=vhost_args(env, names) + ["--ctl", ctl] +
                    list(extra)).start()
    return sw, ctl


def test_fuzz_vhostuser_and_ctl(env, san):
    """Both fuzzers at once against one switch, next to a testpmd stream:

    - >= 10,000 fuzzed vhost-user messages on port fz (vhostuser_fuzz.py),
      with a valid device on port fd flooding into fz's
      corrupted rings; the fuzzer checks after every case that the switch
      lives and a new connection gets a GET_FEATURES reply;
    - >= 10,000 fuzzed control requests (CtlFuzzer): every reply is
      well-formed JSON-RPC 2.0 with a documented error code, notifications
      get none, oversized lines close the connection, a 65th client is
      refused; state-changing methods only touch ports c1, c2 and the ones
      it adds; the file 'regular-file' is never touched;
    - the control thread querying fz's vrings, memory and features
      non-stop while fz's guests come and go.

    Throughout, the s -> r stream grows in every 2 s interval and its
    guests never lose their link. After: the switch's fds and guest-memory
    mappings are back (within what the known librte_vhost fd leaks may
    keep), xa <-> xb trade frames exactly, mbufs in use return to 0, the
    switch stops with exit 0, and no sanitizer reported anything."""
    sw, ctl = fuzz_switch(env, ["s", "r", "fz", "fd", "xa", "xb", "c1",
                                "c2"])
    pid = sw.proc.pid
    ps, pr = stream_pair(env, sw)
    with open(env.file("regular-file"), "w") as f:
        f.write("do not touch\n")
    protect = set()
    for p in ctlclient.call(ctl, "port/list"):
        if p["name"] not in ("c1", "c2"):
            protect |= {p["name"], str(p["id"])}
    fds0, maps0, rss0 = fd_count(pid), memfd_maps(pid), rss_kb(pid)

    sampler = Sampler(ctl)
    observer = CtlObserver(ctl, "fz")
    cfz = CtlFuzzer(ctl, SEED, protect, [mac(0x50), mac(0x51)], env.wd.path,
                    ports=["c1", "c2"])
    ctl_result = {}

    def run_ctl():
        try:
            ctl_result["summary"] = cfz.run(CTL_COUNT)
        except BaseException as e:  # reported by the main thread
            ctl_result["error"] = e
        ctl_result["seconds"] = time.monotonic() - t0

    log = env.file("vhostuser_fuzz.log")
    t0 = time.monotonic()
    sampler.start()
    observer.start()
    ctl_thread = threading.Thread(target=run_ctl, daemon=True)
    ctl_thread.start()
    p = subprocess.run(
        [PYTHON, FUZZER, "fuzz", "--sock", env.sock("fz"),
         "--feed-sock", env.sock("fd"), "--pid", str(pid), "--seed", SEED,
         "--count", str(VHOST_COUNT), "--log", log,
         "--stall-dump", env.file("stall-stacks.txt")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    took = time.monotonic() - t0
    ctl_thread.join(900)
    observer.stop()
    sampler.stop()
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        stacks = thread_stacks(pid, env.file("stacks.txt")) \
            if sw.proc.alive() else "(switch gone)"
        raise AssertionError("vhost-user fuzzer: exit %d\n%s\n%s\n%s" % (
            p.returncode, out[-3000:], sw.output()[-3000:], stacks))
    summary = json.loads(out.strip().splitlines()[-1])
    print("vhost-user fuzz: %.0fs %s" % (took, summary))
    if "error" in ctl_result:
        raise ctl_result["error"]
    print("control fuzz: %.0fs %s" % (ctl_result["seconds"],
                                      ctl_result["summary"]))
    print("control queries on fz meanwhile: %d" % observer.n)
    assert summary["messages"] >= VHOST_COUNT
    assert ctl_result["summary"]["requests"] >= CTL_COUNT
    assert sw.proc.alive()
    assert not observer.bad, observer.bad[:5]
    assert observer.n > 100
    with open(env.file("regular-file")) as f:
        assert f.read() == "do not touch\n"

    # The stream kept flowing, and its guests never saw their link drop.
    sampler.assert_growing("r", "tx_pkts")
    sampler.assert_growing("s", "rx_pkts")
    assert link_downs(sw, "s") == 0 and link_downs(sw, "r") == 0

    # What the control fuzzer added goes; captures stop.
    for port in ctlclient.call(ctl, "port/list"):
        if port["name"] not in protect and port["name"] not in ("c1", "c2"):
            ctlclient.call(ctl, "port/del", port["name"])
    for n in ("c1", "c2"):
        try:
            ctlclient.call(ctl, "capture/stop", n)
        except ctlclient.RpcError:
            pass
    ctlclient.call(ctl, "fdb/aging", "300")

    # Every fuzz connection is gone: fds and mappings back to where they
    # were, except what the known librte_vhost leaks may keep.
    bound = fds0 + summary["known_fd_leaks"]
    box = {}

    def settled():
        box["fds"], box["maps"] = fd_count(pid), memfd_maps(pid)
        return box["fds"] <= bound and box["maps"] == maps0
    try:
        wait_for(settled, 30, interval=0.5, what="fds and maps back")
    except TimeoutError:
        with open("/proc/%d/maps" % pid) as f:
            left = [ln.strip() for ln in f if "vsfuzz" in ln]
        raise AssertionError("switch fds %d (before %d, known leaks <= %d), "
                             "guest memory mappings %d (before %d): %s; "
                             "ports: %s" % (
                                 box["fds"], fds0, summary["known_fd_leaks"],
                                 box["maps"], maps0, left[:8],
                                 [(p["name"], p["link"]) for p in
                                  ctlclient.call(ctl, "port/list")]))
    print("fds %d -> %d (known leaks <= %d), RSS %d -> %d kB" % (
        fds0, box["fds"], summary["known_fd_leaks"], rss0, rss_kb(pid)))

    ps.stop()
    sw.wait_log(r"port \d+ s: link down", timeout=T_LINK)
    exact_exchange(env, sw)
    in_use = wait_in_use_zero(sw)
    assert in_use == {0: 0}, "mbufs in use after the fuzz: %s" % in_use
    pr.stop()
    assert sw.stop() == 0
    assert sw.final[1][0]["in_use"] == 0
    san.check(sw)


# ---------------------------------------------------------------------------
# libFuzzer: the option and config parsers
# ---------------------------------------------------------------------------

FUZZ_DIR = os.path.join(vstest.REPO, "fuzz")
HARNESSES = ["fuzz_conf_args", "fuzz_conf_file"]


@pytest.fixture(scope="module")
def libfuzzer_bins(tmp_path_factory):
    if shutil.which("clang") is None:
        pytest.skip("clang not installed (apt-get install clang "
                    "libclang-rt-14-dev)")
    out = str(tmp_path_factory.mktemp("fuzzbuild"))
    p = subprocess.run(["bash", os.path.join(FUZZ_DIR, "build.sh"), out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=600)
    assert p.returncode == 0, p.stdout.decode(errors="replace")[-4000:]
    return out


def test_libfuzzer_conf_parsers(libfuzzer_bins, tmp_path):
    """fuzz_conf_args (vs_conf_parse_args on an argv from the input) and
    fuzz_conf_file (vs_conf_load_file on the input as a file), side by
    side, ~30 s each (-max_total_time) from fuzz/corpus: no crash, no
    sanitizer report, no broken invariant, no leak."""
    procs = {}
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    for h in HARNESSES:
        d = tmp_path / h
        shutil.copytree(os.path.join(FUZZ_DIR, "corpus", h), d / "corpus")
        (d / "artifacts").mkdir()
        log = open(d / "log", "wb")
        procs[h] = (subprocess.Popen(
            [os.path.join(libfuzzer_bins, h), str(d / "corpus"),
             "-max_total_time=%d" % LIBFUZZER_SECONDS, "-timeout=10",
             "-rss_limit_mb=1024", "-max_len=4096", "-print_final_stats=1",
             "-artifact_prefix=%s/" % (d / "artifacts"),
             "-seed=%d" % (int(SEED) % 2**31 if SEED.isdigit() else 1)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(d)),
            log, d)
    fails = []
    for h, (p, log, d) in procs.items():
        try:
            rc = p.wait(LIBFUZZER_SECONDS + 180)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        log.close()
        out = (d / "log").read_text(errors="replace")
        arts = sorted(os.listdir(d / "artifacts"))
        runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
        print("%s: exit %d, %s runs" % (h, rc, runs.group(1) if runs else "?"))
        if rc != 0 or arts or not runs or int(runs.group(1)) < 100:
            fails.append("%s: exit %d, artifacts %s\n%s" % (
                h, rc, arts, out[-4000:]))
    assert not fails, "\n".join(fails)


# ---------------------------------------------------------------------------
# Reproducers of the bugs found. Each fails today (xfail, strict: it turns
# into a failure the day the bug is fixed, so the known-bug allowances
# above can go). See doc/reliability.md for stacks and proposed fixes.
# ---------------------------------------------------------------------------

def small_switch(env, names=("a", "b")):
    sw = env.switch(args=vhost_args(env, names) +
                    ["--ctl", env.file("ctl")]).start()
    return sw


def repro(env, sw, name, hold=1.0):
    p = subprocess.run([PYTHON, FUZZER, "repro", name, "--sock",
                        env.sock("a"), "--hold", str(hold)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    return p.stdout.decode(errors="replace")


def test_vhost_region_past_eof(env):
    """A SET_MEM_TABLE region larger than its memfd, rings in the part past
    the end of the file: librte_vhost 22.11 maps it and the switch would
    die of SIGBUS at the first access; the message guard
    (lib/vs_vhost_guard.c) refuses it, counts it, and the switch goes on."""
    sw = small_switch(env)
    out = repro(env, sw, "region-past-eof")
    time.sleep(1)
    assert sw.proc.alive(), "switch died (rc %s): %s\n%s" % (
        sw.proc.p.returncode, out, sw.output()[-2000:])
    vf.ping(env.sock("b"))
    info = ctlclient.call(env.file("ctl"), "info")["vhost_guard"]
    assert info["refused"]["past_eof"] >= 1, info
    assert "memory range past the end of its file" in sw.output()


def test_vhost_short_mem_table(env):
    """A SET_MEM_TABLE shorter than its regions (librte_vhost 22.11 takes
    the missing bytes from stale stack memory): refused by the guard."""
    sw = small_switch(env)
    out = repro(env, sw, "short-mem-table")
    time.sleep(1)
    assert sw.proc.alive(), "switch died (rc %s): %s\n%s" % (
        sw.proc.p.returncode, out, sw.output()[-2000:])
    info = ctlclient.call(env.file("ctl"), "info")["vhost_guard"]
    assert info["active"] and info["refused"]["short"] >= 1, info
    assert ctlclient.call(env.file("ctl"), "port/show", "a")[
        "vhost_refused"] >= 1


@pytest.mark.xfail(strict=True, reason="librte_vhost 22.11 reads a message "
                   "payload with a blocking read() on the one vhost-user "
                   "thread: one silent frontend stalls every port's control "
                   "plane (vhostuser_fuzz.py repro stalled-payload)")
def test_vhost_stalled_frontend_blocks_other_ports(env):
    """A frontend on port a sends a header announcing 40 payload bytes and
    goes quiet; a guest on port b must still come up within 10 s."""
    sw = small_switch(env)
    stalled = vf.repro_stalled_payload(env.sock("a"))
    try:
        d = vf.Device(env.sock("b"), qsize=64, timeout=10,
                      mac="02:00:00:00:0b:0b")
        try:
            d.up()
            assert d.wait_running(10), "guest on b never ran"
        except (TimeoutError, OSError, vf.Closed) as e:
            raise AssertionError("guest on port b blocked: %r" % e)
        finally:
            d.close()
    finally:
        stalled.close()
    assert sw.proc.alive()


def test_vhost_inflight_request_is_bounded(env):
    """GET_INFLIGHT_FD for 600 queues (more than a device can have) on a
    device without INFLIGHT_SHMFD: refused (no reply, no fd: the guard
    fails the message and librte_vhost drops the connection), not a
    ~9.4 MiB zeroed memfd; the socket still answers."""
    sw = small_switch(env)
    c = vf.repro_inflight_huge(env.sock("a"))
    c.close()
    assert sw.proc.alive()
    vf.ping(env.sock("a"))
    assert c.inflight[1] is None and not c.inflight[0], \
        "got an inflight area of %s bytes" % (c.inflight,)
    info = ctlclient.call(env.file("ctl"), "info")["vhost_guard"]
    assert info["refused"]["not_negotiated"] == 1, info


def leak_probes(which):
    """Messages after which librte_vhost 22.11 would keep the fds it got.
    "guarded": refused by the message guard, which closes their fds;
    "index": refused by vhost_user_check_and_alloc_queue_pair() (a vring
    index >= 256, or SET_INFLIGHT_FD with num_queues 0) before any
    handler runs, the guard's included: the fds leak (upstream bug)."""
    e = lambda: os.eventfd(0, os.EFD_CLOEXEC)  # noqa: E731

    def memtab(c):
        m = vf.Mem(1 << 20)
        c.msg(vf.SET_OWNER)
        c.mem_table([(m.gpa, 0, m.uaddr, 0)], [m.fd])  # zero-sized region
        m.close()
    if which == "index":
        return [
            ("fd-leak-index: SET_VRING_NUM index 300 + eventfd",
             lambda c: c.state(vf.SET_VRING_NUM, 300, 256, fds=[e()])),
            ("fd-leak-index: SET_VRING_ADDR index 0x10000 + 2 eventfds",
             lambda c: c.addr(0x10000, 0, 0, 0, fds=[e(), e()])),
            ("fd-leak-inflight: SET_INFLIGHT_FD size 8 + eventfd",
             lambda c: c.msg(vf.SET_INFLIGHT_FD, bytes(8), fds=[e()])),
        ]
    return [
        ("fd-leak-inflight: SET_INFLIGHT_FD, fd not mappable",
         lambda c: c.msg(vf.SET_INFLIGHT_FD, __import__("struct").pack(
             "<QQHHI", 4096, 0, 1, 256, 0), fds=[e()])),
        ("fd-leak-mem-table: SET_MEM_TABLE zero-sized region", memtab),
    ]


def fds_kept(env, probes):
    sw = small_switch(env)
    pid = sw.proc.pid
    leaks = []
    for name, send in probes:
        before = settled_fd_count(pid)
        c = vf.Conn(env.sock("a"))
        try:
            send(c)
            time.sleep(0.1)
            c.drain()
        except vf.Closed:
            pass
        c.close()
        after = settled_fd_count(pid)
        if after > before:
            leaks.append("%s: +%d fds" % (name, after - before))
    assert sw.proc.alive()
    return leaks


def test_vhost_refused_messages_keep_no_fds(env):
    """Messages the guard refuses (a SET_INFLIGHT_FD without the protocol
    feature, a zero-sized memory region) have their fds closed: the
    switch's fd count is back where it was after each connection."""
    leaks = fds_kept(env, leak_probes("guarded"))
    assert not leaks, "fds kept by the switch:\n" + "\n".join(leaks)


@pytest.mark.xfail(strict=True, reason="librte_vhost 22.11 leaks the fds of "
                   "messages vhost_user_check_and_alloc_queue_pair() refuses "
                   "(vring index >= 256, SET_INFLIGHT_FD num_queues 0): it "
                   "returns before any handler, the guard's included")
def test_vhost_index_refused_messages_keep_no_fds(env):
    """The same for messages refused on their vring index: each costs the
    frontend its connection, and the switch an fd (upstream bug)."""
    leaks = fds_kept(env, leak_probes("index"))
    assert not leaks, "fds kept by the switch:\n" + "\n".join(leaks)


def is_ubsan_build(path=vstest.SWITCH_BIN):
    with open(path, "rb") as f:
        return b"__ubsan_handle" in f.read()


@pytest.mark.skipif(not is_ubsan_build(),
                    reason="needs a -Db_sanitize=address,undefined build")
def test_ubsan_fdb_hash_misaligned_key(env):
    """One frame a -> b: UBSan reports nothing."""
    sw = small_switch(env)
    da = vf.Device(env.sock("a"), qsize=64, mac="02:00:00:00:0a:0a").up()
    db = vf.Device(env.sock("b"), qsize=64, mac="02:00:00:00:0b:0b").up()
    try:
        assert da.wait_running(10) and db.wait_running(10)
        da.send([vf.eth_frame("02:00:00:00:0b:0b", "02:00:00:00:0a:0a", 1)])
        wait_for(lambda: db.received(), 10, what="frame at b")
    finally:
        da.close()
        db.close()
    assert sw.stop() == 0
    bad = Sanitizers.unknown(sw.output(), known=False)
    assert not bad, "\n".join(line for _, line in bad)


@pytest.mark.skipif(not is_ubsan_build(),
                    reason="needs a -Db_sanitize=address,undefined build")
def test_ubsan_capture_start_memcpy_null(env):
    """capture/start then capture/stop on an idle port: UBSan reports
    nothing."""
    sw = small_switch(env)
    ctl = env.file("ctl")
    ctlclient.call(ctl, "capture/start", "a", env.file("a.pcapng"))
    ctlclient.call(ctl, "capture/stop", "a")
    assert sw.stop() == 0
    bad = Sanitizers.unknown(sw.output(), known=False)
    assert not bad, "\n".join(line for _, line in bad)


def test_conf_reparse_keeps_no_getopt_state(libfuzzer_bins):
    """vs_conf_parse_args() twice: "-hi" (help: returns at 'h'), then
    "--burst 1", which must not come back interactive. Run through the
    args harness with its own getopt reset turned off."""
    p = subprocess.run(
        [os.path.join(libfuzzer_bins, "fuzz_conf_args"), "-detect_leaks=0",
         os.path.join(FUZZ_DIR, "repro", "getopt-cluster-1"),
         os.path.join(FUZZ_DIR, "repro", "getopt-cluster-2")],
        env=dict(os.environ, VS_FUZZ_NO_GETOPT_RESET="1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out[-2000:]
