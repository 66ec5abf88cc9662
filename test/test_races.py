# SPDX-License-Identifier: BSD-3-Clause
"""Races between the switch's threads, and the control side's file safety.

A race window of a few instructions does not show in a test by chance, so
most tests here widen it on purpose: a small fault shim (FAULT_SHIM below,
built with cc and LD_PRELOADed into the switch) makes one step of the racy
sequence slow, or poisons memory as DPDK frees it, and gdb in non-stop mode
stops one forwarding lcore at a chosen instruction while the others run.
Each test says which defect it guards against and how it fails without
the fix:

- the stats printers (--stats-period, SIGUSR1) and telemetry read ports
  that port/del or shutdown free (lib/vs_switch.c, lib/vs_cmd.c);
- a MAC being learned on one lcore is looked up on another with port 0
  (lib/vs_fdb.c);
- a capture's COUNT wraps under two lcores (lib/vs_capture.c);
- the control thread runs without an lcore id (lib/vs_ctl.c);
- the control socket is wider than 0660 between bind() and chmod()
  (lib/vs_ctl.c);
- capture/start follows symbolic links, opens FIFOs and devices, and
  truncates existing files (lib/vs_capture.c).

Sanitizer reports (an ASan build: VS_BUILD=build-asan) of every switch
started here go to its work directory and fail the test.
"""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
import queue

import pytest
from scapy.all import Ether, IP, UDP, Raw, rdpcap

import vstest
from ctlclient import Ctl, RpcError
from vstest import wait_for

FAILED = -32000
T = 45  # generous: two CPUs shared with busy-polling guests


# ---------------------------------------------------------------------------
# The fault shim
# ---------------------------------------------------------------------------

FAULT_SHIM = r"""
/*
 * LD_PRELOAD fault injection for test_races.py. Every fault is off unless
 * its variable is set; with VS_FAULT_ARM=PATH the delays apply only while
 * PATH exists.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_malloc.h>

struct rte_hash;

static long
knob(const char *name)
{
	const char *v = getenv(name), *arm = getenv("VS_FAULT_ARM");

	if (v == NULL || (arm != NULL && access(arm, F_OK) != 0))
		return 0;
	return atol(v);
}

#define REAL(ret, name, ...) \
	static ret (*real)(__VA_ARGS__); \
	if (real == NULL) \
		real = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

/*
 * VS_FAULT_TSC_DIV=N: the TSC counts N times faster than EAL says: every
 * interval the switch takes in TSC cycles (ARP refresh and expiry, MAC
 * ageing, the control thread's 1 s tick) passes N times sooner. Read once,
 * at load, whatever VS_FAULT_ARM says.
 */
static long tsc_div;

__attribute__((constructor)) static void
tsc_div_init(void)
{
	const char *v = getenv("VS_FAULT_TSC_DIV");

	tsc_div = v != NULL ? atol(v) : 0;
}

uint64_t
rte_get_tsc_hz(void)
{
	REAL(uint64_t, rte_get_tsc_hz, void);
	return tsc_div > 1 ? real() / (uint64_t)tsc_div : real();
}

/* VS_FAULT_THREAD_REGISTER=1: EAL has no lcore id left. */
int
rte_thread_register(void)
{
	REAL(int, rte_thread_register, void);
	if (knob("VS_FAULT_THREAD_REGISTER")) {
		rte_errno = ENOMEM;
		return -1;
	}
	return real();
}

/*
 * VS_FAULT_HASH_ADD_US=N: an add returns N us late. The key is in the
 * table and visible to lookups; what the caller does after the add is not
 * done yet.
 */
int32_t
rte_hash_add_key(const struct rte_hash *h, const void *key)
{
	REAL(int32_t, rte_hash_add_key, const struct rte_hash *, const void *);
	int32_t r = real(h, key);

	usleep(knob("VS_FAULT_HASH_ADD_US"));
	return r;
}

/* VS_FAULT_HASH_ADD_JITTER_US=N: and 0 to N us more, at random. */
int
rte_hash_add_key_data(const struct rte_hash *h, const void *key, void *data)
{
	REAL(int, rte_hash_add_key_data, const struct rte_hash *, const void *,
	     void *);
	int r = real(h, key, data);
	long j = knob("VS_FAULT_HASH_ADD_JITTER_US");

	usleep(knob("VS_FAULT_HASH_ADD_US") + (j > 0 ? random() % (j + 1) : 0));
	return r;
}

/*
 * VS_FAULT_FREE_POISON=1: rte_free() fills the block with '~' first, so a
 * read after free shows (ASan does not see DPDK's heap).
 * VS_FAULT_FREE_US=N: and then waits N us before freeing it.
 */
void
rte_free(void *p)
{
	REAL(void, rte_free, void *);
	size_t sz;

	if (p != NULL && knob("VS_FAULT_FREE_POISON") &&
	    rte_malloc_validate(p, &sz) == 0)
		memset(p, '~', sz);
	if (p != NULL)
		usleep(knob("VS_FAULT_FREE_US"));
	real(p);
}

/*
 * VS_FAULT_PRINT_US=N: the stats printers' per-port lines take N us
 * before they format (and read the port's name).
 */
static int
slow_vfprintf(FILE *f, const char *fmt, va_list ap)
{
	if (strncmp(fmt, "port %u %s:", 11) == 0 ||
	    strncmp(fmt, "%-4u %-16s", 10) == 0)
		usleep(knob("VS_FAULT_PRINT_US"));
	return vfprintf(f, fmt, ap);
}

int
fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = slow_vfprintf(f, fmt, ap);
	va_end(ap);
	return r;
}

int
__fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	va_list ap;
	int r;

	(void)flag;
	va_start(ap, fmt);
	r = slow_vfprintf(f, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * VS_FAULT_CTL_FREE_BULK_US=N: rte_pktmbuf_free_bulk() on the control
 * thread ("vs-ctl": the capture writer, after each batch it wrote) waits
 * N us before it frees.
 */
void
rte_pktmbuf_free_bulk(void **mbufs, unsigned int count)
{
	REAL(void, rte_pktmbuf_free_bulk, void **, unsigned int);
	char name[16] = "";
	long us = knob("VS_FAULT_CTL_FREE_BULK_US");

	if (us && pthread_getname_np(pthread_self(), name, sizeof(name)) == 0 &&
	    strcmp(name, "vs-ctl") == 0)
		usleep(us);
	real(mbufs, count);
}

/* VS_FAULT_CHMOD_US=N: chmod() waits N us first. */
int
chmod(const char *path, mode_t mode)
{
	REAL(int, chmod, const char *, mode_t);
	usleep(knob("VS_FAULT_CHMOD_US"));
	return real(path, mode);
}

/*
 * VS_FAULT_CALL_POLL_LIES=1: poll() on the call relay's thread ("vs-call")
 * says every fd is writable, so that its write() meets a full eventfd.
 */
int
poll(struct pollfd *fds, nfds_t n, int timeout)
{
	REAL(int, poll, struct pollfd *, nfds_t, int);
	char name[16] = "";
	nfds_t i;

	if (knob("VS_FAULT_CALL_POLL_LIES") &&
	    pthread_getname_np(pthread_self(), name, sizeof(name)) == 0 &&
	    strcmp(name, "vs-call") == 0) {
		for (i = 0; i < n; i++)
			fds[i].revents = fds[i].events & POLLOUT;
		return (int)n;
	}
	return real(fds, n, timeout);
}

/* VS_FAULT_UNLINK_US=N: unlink() waits N us first. */
int
unlink(const char *path)
{
	REAL(int, unlink, const char *);
	usleep(knob("VS_FAULT_UNLINK_US"));
	return real(path);
}
"""


def build_shim(tmp_path_factory):
    """FAULT_SHIM compiled; its path (skips the test without a compiler).
    Other modules' fixtures call it too (test_vxlan's TSC speed-up)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    pc = shutil.which("pkg-config")
    if cc is None or pc is None:
        pytest.skip("no C compiler or pkg-config for the fault shim")
    d = tmp_path_factory.mktemp("shim")
    src, so = d / "vsfault.c", d / "vsfault.so"
    src.write_text(FAULT_SHIM)
    cflags = subprocess.run([pc, "--cflags", "libdpdk"], capture_output=True,
                            text=True, check=True).stdout.split()
    p = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(so),
                        str(src)] + cflags + ["-lrte_eal", "-ldl"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return str(so)


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build_shim(tmp_path_factory)


# ---------------------------------------------------------------------------
# A switch with faults, sanitizer reports kept apart
# ---------------------------------------------------------------------------

SAN = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
                 r"SUMMARY: UndefinedBehavior")


class FaultSwitch(vstest.Switch):
    """vstest.Switch with @faults (VS_FAULT_* variables) and the shim
    preloaded, sanitizer reports in its own directory, optionally started
    with umask 0. Registered with the env fixture, which kills it."""

    def __init__(self, env, shim=None, faults=None, umask0=False, stdin=None,
                 **kw):
        super().__init__(env.wd.path, **kw)
        env.procs.append(self)
        self.shim = shim
        self.faults = faults or {}
        self.umask0 = umask0
        self.stdin = stdin
        self.san = env.file("san-" + self.prefix)
        os.makedirs(self.san)

    def start(self, wait=True):
        e = dict(os.environ)
        opts = [e.get("ASAN_OPTIONS", ""), "detect_leaks=1",
                "halt_on_error=1", "log_path=%s/asan" % self.san]
        if self.shim:
            # The shim comes before libasan in the library list.
            opts.append("verify_asan_link_order=0")
            e["LD_PRELOAD"] = self.shim
        e["ASAN_OPTIONS"] = ":".join(o for o in opts if o)
        e.update({k: str(v) for k, v in self.faults.items()})
        argv = self.argv()
        if self.umask0:
            argv = ["/bin/sh", "-c", 'umask 0 && exec "$0" "$@"'] + argv
        self.proc = vstest.Proc(argv, self.log, stdin=self.stdin, env=e)
        if wait:
            self.proc.wait_log(r"vhost-switch: ready", timeout=T)
        return self

    def sanitizer_reports(self):
        out = []
        for f in sorted(os.listdir(self.san)):
            p = os.path.join(self.san, f)
            if os.path.getsize(p):
                with open(p, errors="replace") as fh:
                    out.append("%s:\n%s" % (p, fh.read()[:6000]))
        m = SAN.search(self.output())
        if m:
            out.append("%s:\n%s" % (self.log,
                                    self.output()[m.start():][:6000]))
        return out

    def stop_clean(self):
        """SIGTERM; exit status 0 and no sanitizer report."""
        rc = self.stop()
        assert rc == 0, self.output()[-3000:]
        assert self.sanitizer_reports() == []


def ok(c, method, *params):
    return c.call(method, *params)


def err(c, method, *params):
    with pytest.raises(RpcError) as e:
        c.call(method, *params)
    return e.value


def mac(n):
    return "02:%02x:00:00:%02x:%02x" % (os.getpid() & 0xff, n >> 8, n & 0xff)


def frame(src, dst, n):
    p = Ether(src=src, dst=dst) / IP(src="10.9.0.1", dst="10.9.0.2") / \
        UDP(sport=1000 + (n & 0x7fff), dport=9)
    return bytes(p / Raw(b"\x5a" * 18))


class LoopGuest(vstest.Guest):
    """A vstest.Guest whose pcap is replayed for ever (net_pcap's
    infinite_rx) once it starts forwarding."""

    def argv(self):
        a = super().argv()
        i = next(k for k, v in enumerate(a) if v.startswith("net_pcap0,"))
        a[i] += ",infinite_rx=1"
        return a


# ---------------------------------------------------------------------------
# Defect 6: the stats printers and telemetry against port/del and shutdown
# ---------------------------------------------------------------------------

def test_stats_printers_vs_port_del(env, shim):
    """--stats-period 1 and a SIGUSR1 storm while port/add and port/del
    churn. The printers read each port under the command lock, so port/del
    waits for them.

    Fails without the fix: the shim makes each printed port line take
    20 ms before it reads the port's name, and poisons what rte_free()
    frees; port/del frees the port meanwhile, and the name comes out as
    '~~~~' (or the printer crashes on a poisoned ops pointer)."""
    ctl = env.file("ctl")
    sw = FaultSwitch(env, shim, {"VS_FAULT_FREE_POISON": 1,
                                 "VS_FAULT_PRINT_US": 20000},
                     args=["--vhost", "%s,name=keep" % env.sock("keep"),
                           "--ctl", ctl, "--stats-period", "1"]).start()
    stop = threading.Event()

    def storm():
        while not stop.is_set():
            sw.proc.kill(signal.SIGUSR1)
            time.sleep(0.02)
    t = threading.Thread(target=storm)
    t.start()
    c = Ctl(ctl, timeout=T)
    cycles = 0
    try:
        end = time.monotonic() + 12
        while time.monotonic() < end and sw.proc.alive():
            ok(c, "port/add", env.sock("t%d" % (cycles % 4)), "name=tmp")
            time.sleep(0.01 * (cycles % 5))
            ok(c, "port/del", "tmp")
            cycles += 1
    finally:
        stop.set()
        t.join()
        c.close()
    assert sw.proc.alive(), sw.output()[-3000:]
    out = sw.output()
    printed = len(re.findall(r"^port \d+ tmp: ", out, re.M))
    assert cycles > 50 and printed > 0, (cycles, printed)
    bad = [ln for ln in out.splitlines() if "~~~~" in ln]
    assert bad == [], "%d lines print a freed port, e.g.:\n%s" % (
        len(bad), "\n".join(ln[:100] for ln in bad[:3]))
    sw.stop_clean()


def telemetry_socket(prefix):
    run = os.environ.get("RUNTIME_DIRECTORY") or (
        "/var/run" if os.getuid() == 0 else
        os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(T)
    s.connect(os.path.join(run, "dpdk", prefix, "dpdk_telemetry.v2"))
    json.loads(s.recv(1 << 16))  # the greeting
    return s


def telemetry_query(s, cmd):
    """The reply's value, or None once the switch is gone."""
    try:
        s.send(cmd.encode())
        r = s.recv(1 << 20)
    except OSError:
        return None
    return json.loads(r)[cmd.split(",")[0]] if r else None


def test_telemetry_refused_once_shutdown_begins(env, shim):
    """DPDK's telemetry thread outlives the switch: once the stop has begun
    ("stopping" in the log) every /vswitch/ command is refused with a clear
    error, and the ports freed meanwhile are never read.

    Fails without the fix: the shim makes every rte_free() of the shutdown
    take 20 ms (and poisons the block); telemetry still answers with the
    ports being freed, or the switch crashes on a poisoned one."""
    args = ["--ctl", env.file("ctl")]
    for i in range(8):
        args += ["--vhost", "%s,name=p%d" % (env.sock("p%d" % i), i)]
    arm = env.file("arm")
    sw = FaultSwitch(env, shim, {"VS_FAULT_FREE_POISON": 1,
                                 "VS_FAULT_FREE_US": 20000,
                                 "VS_FAULT_ARM": arm}, args=args).start()
    s = telemetry_socket(sw.prefix)
    ports = telemetry_query(s, "/vswitch/ports")
    assert len(ports) == 8, ports
    open(arm, "w").close()
    sw.proc.kill(signal.SIGTERM)
    wait_for(lambda: "stopping" in sw.output(), T, interval=0.002,
             what="stopping")
    replies = []
    end = time.monotonic() + T
    while time.monotonic() < end:
        r = telemetry_query(s, "/vswitch/ports")
        if r is None:
            break
        replies.append(r)
    s.close()
    assert replies, "no telemetry reply after 'stopping' (window too short)"
    answered = [r for r in replies
                if not (isinstance(r, dict) and "shutting down" in
                        r.get("error", ""))]
    assert answered == [], "%d of %d replies after 'stopping' ran the " \
        "command, e.g. %.300s" % (len(answered), len(replies), answered[0])
    assert replies[0] == {"error": "the switch is shutting down: "
                                   "port/list was not run"}, replies[0]
    sw.proc.p.wait(T)
    assert sw.proc.p.returncode == 0, sw.output()[-3000:]
    sw.proc._logf.close()
    assert sw.sanitizer_reports() == []


# ---------------------------------------------------------------------------
# Defect 8: a MAC being learned never maps to port 0
# ---------------------------------------------------------------------------

def ab_on_two_lcores(env, shim, faults, vdevs=()):
    """A FaultSwitch with two forwarding lcores and vhost ports a and b,
    each polled by its own lcore; the switch and a Ctl on its socket."""
    ctl = env.file("ctl")
    sw = FaultSwitch(env, shim, faults, lcores="0@0,1@1,2@1",
                     vdevs=list(vdevs),
                     args=["--vhost", "%s,name=a" % env.sock("a"),
                           "--vhost", "%s,name=b" % env.sock("b"),
                           "--ctl", ctl]).start()
    c = Ctl(ctl, timeout=T)
    lcores = ok(c, "lcore/show")
    assert len(lcores) == 2
    assert not any("a:0" in lc["rxqs"] and "b:0" in lc["rxqs"]
                   for lc in lcores), lcores
    return sw, c


def test_new_mac_never_maps_to_port_0(env, shim):
    """Two forwarding lcores. Port 0 is a net_pcap ethdev, disabled: a
    flood never goes there, so whatever reaches it came from a lookup that
    said "port 0". Guest b (on one lcore) sends for ever to 64 MACs that
    guest a (on the other lcore) then sends from: while each is learned,
    b's lookups of it must say "unknown" (flood) or "port a", never port 0.

    Fails without the fix: the shim makes every rte_hash add return 2 ms
    late, when the key is already visible and the old code has not yet
    stored its port in the zero-initialised slot: b's frames to it go to
    port 0 and are counted there as port_down drops."""
    n = 64
    news = [mac(0x100 + i) for i in range(n)]
    mac_a, mac_b, mac_x = mac(1), mac(2), mac(3)
    empty, out0 = env.file("empty.pcap"), env.file("port0.pcap")
    vstest.write_pcap(empty, [])
    sw, c = ab_on_two_lcores(
        env, shim, {"VS_FAULT_HASH_ADD_US": 2000},
        vdevs=["net_pcap0,rx_pcap=%s,tx_pcap=%s" % (empty, out0)])
    ok(c, "port/disable", "net_pcap0")
    ga = env.guest("a", env.sock("a"), [frame(m, mac_x, i)
                                        for i, m in enumerate(news)],
                   mac=mac_a)
    gb = LoopGuest(env.wd.path, env.sock("b"), "b",
                   [frame(mac_b, m, i) for i, m in enumerate(news)],
                   mac=mac_b)
    env.procs.append(gb)
    ga.start()
    gb.start()
    sw.wait_link("a", timeout=T)
    sw.wait_link("b", timeout=T)
    gb.send()
    wait_for(lambda: ok(c, "stats/show", "b")["rx_pkts"] > 10 * n, T,
             what="b's frames")
    ga.send()
    wait_for(lambda: len(ok(c, "fdb/show", "a")) == n, T, interval=0.2,
             what="%d MACs learned on a" % n)
    # b's frames now reach a by unicast.
    before = ok(c, "stats/show", "a")["tx_pkts"]
    wait_for(lambda: ok(c, "stats/show", "a")["tx_pkts"] > before + n, T,
             what="unicast to a")
    p0 = ok(c, "stats/show", "net_pcap0")
    gb.finish()
    ga.finish()
    c.close()
    assert p0["tx_pkts"] == 0 and p0["port_down"] == 0, \
        "frames to MACs being learned went to port 0: %s" % p0
    sw.stop_clean()
    assert vstest.read_pcap(out0) == []


def test_static_entry_vs_moving_mac(env, shim):
    """Two forwarding lcores. Guests a and b (one on each) send, for ever,
    from the same 4 source MACs, so every frame moves its MAC to the other
    port, on two lcores at once. Meanwhile fdb/add makes each of them a
    static entry on b, 10 times over (fdb/del in between): a static entry
    is never moved by learning, so afterwards each MAC stays on b, and each
    port's MAC count (port/show "macs", what max-macs is checked against)
    is the number of entries fdb/show lists on it: 4 on b, 0 on a.

    Fails without the fix (one lock around every write of the MAC table):
    the shim makes every rte_hash add return 0 to 2 ms late, after the
    key's new data is visible and before its slot is accounted; an lcore
    moving the MAC to a accounts the slot to a after fdb/add made it b's,
    and a counts an entry fdb/show lists on b (for good: nothing moves a
    static entry again)."""
    n = 4
    movers = [mac(0x200 + i) for i in range(n)]
    mac_a, mac_b, mac_x = mac(1), mac(2), mac(3)
    sw, c = ab_on_two_lcores(env, shim,
                             {"VS_FAULT_HASH_ADD_JITTER_US": 2000})
    gs = [LoopGuest(env.wd.path, env.sock(p), p,
                    [frame(m, mac_x, i) for i, m in enumerate(movers)],
                    mac=gm) for p, gm in (("a", mac_a), ("b", mac_b))]
    for g in gs:
        env.procs.append(g)
        g.start()
    sw.wait_link("a", timeout=T)
    sw.wait_link("b", timeout=T)
    for g in gs:
        g.send()
    wait_for(lambda: all(ok(c, "stats/show", p)["rx_pkts"] > 10 * n
                         for p in "ab"), T, what="both guests' frames")
    bad = []
    for rnd in range(10):
        for m in movers:
            ok(c, "fdb/add", m, "b")
        time.sleep(0.05)   # longer than any add still under way
        fdb = {p: sorted(e["mac"] for e in ok(c, "fdb/show", p))
               for p in "ab"}
        macs = {p: ok(c, "port/show", p)["macs"] for p in "ab"}
        if fdb != {"a": [], "b": sorted(movers)} or \
                macs != {"a": 0, "b": n}:
            bad.append((rnd, macs, fdb))
        for m in movers:
            ok(c, "fdb/del", m)
        time.sleep(0.02)
    moved = ok(c, "stats/show", "a")["rx_pkts"]
    for g in gs:
        g.finish()
    c.close()
    assert bad == [], "%d of 10 rounds: %s" % (len(bad), bad[:3])
    assert moved > 100 * n
    sw.stop_clean()


# ---------------------------------------------------------------------------
# Defect 9: a capture's COUNT is exact under two lcores
# ---------------------------------------------------------------------------

class Gdb:
    """gdb/MI attached to @pid in non-stop mode: a thread that hits a
    breakpoint stops alone."""

    def __init__(self, pid):
        self.p = subprocess.Popen(
            ["gdb", "--interpreter=mi3", "-q", "-nx",
             "-iex", "set non-stop on", "-iex", "set pagination off",
             "-iex", "set confirm off", "-p", str(pid)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.q = queue.Queue()
        self.log = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.log.append(line)
            self.q.put(line)
        self.q.put(None)

    def expect(self, pred, timeout=T):
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError("gdb: no match:\n" +
                                     "".join(self.log[-200:]))
            if pred(line):
                return line

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        line = self.expect(lambda ln: ln.startswith("^"))
        assert not line.startswith("^error"), (c, line)
        return line

    def close(self):
        try:
            self.cmd("-gdb-exit")
        except (AssertionError, OSError):
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def stop_one_lcore_in_capture(pid, start_capture, hold=1.0):
    """Stop the first forwarding lcore right after its first atomic
    read-modify-write in vs_capture_burst() (the budget), let the other
    lcores capture for @hold seconds, then let it go on."""
    g = Gdb(pid)
    try:
        g.cmd("-list-thread-groups")
        asm = g.cmd("-data-disassemble -a vs_capture_burst -- 0")
        insns = re.findall(r'address="(0x[0-9a-f]+)"[^}]*?inst="([^"]*)"',
                           asm)
        after = [insns[i + 1][0] for i, (_, inst) in enumerate(insns[:-1])
                 if inst.startswith("lock")]
        assert after, "no atomic instruction in vs_capture_burst:\n" + asm
        for a in after:
            g.cmd("-break-insert *%s" % a)
        g.cmd("-exec-continue --all")
        start_capture()
        hit = g.expect(lambda ln: ln.startswith("*stopped") and
                       "breakpoint-hit" in ln)
        g.cmd("-break-delete")
        time.sleep(hold)
        # Detach (which resumes every thread) from a stopped process: gdb
        # in non-stop mode does not detach from running threads.
        g.cmd("-exec-interrupt --all")
        time.sleep(0.2)
        g.cmd("-target-detach")
        return hit
    finally:
        g.close()


def test_capture_count_exact_under_two_lcores(env):
    """capture/start PORT FILE COUNT on a port whose rx is served by one
    lcore and whose tx is fed by another (two txonly streams, a -> b and
    b -> a): the file holds exactly COUNT frames. First a quick series of
    small captures; then gdb stops one lcore right after it took its share
    of the budget (its first atomic read-modify-write in
    vs_capture_burst()) while the other lcore captures for a second.

    Fails without the fix in the gdb part: the old code subtracted a whole
    burst from the budget and gave back the excess in a second step; the
    stopped lcore leaves the budget wrapped (huge), the other lcore
    captures everything, and the give-back leaves it wrapped for good."""
    from test_ctl import Pmd
    ctl = env.file("ctl")
    sw = FaultSwitch(env, lcores="0@0,1@0,2@1",
                     args=["--vhost", "%s,name=a" % env.sock("a"),
                           "--vhost", "%s,name=b" % env.sock("b"),
                           "--ctl", ctl]).start()
    c = Ctl(ctl, timeout=T)
    lcores = ok(c, "lcore/show")
    assert not any("a:0" in lc["rxqs"] and "b:0" in lc["rxqs"]
                   for lc in lcores), lcores
    mac_a, mac_b = mac(0xa), mac(0xb)
    Pmd(env, "a", env.sock("a"), mac_a, "txonly",
        ["--eth-peer=0,%s" % mac_b]).start()
    Pmd(env, "b", env.sock("b"), mac_b, "txonly",
        ["--eth-peer=0,%s" % mac_a]).start()
    sw.wait_link("a", timeout=T)
    sw.wait_link("b", timeout=T)
    # Neither guest reads: once its ring is full, what the switch hands
    # to its port is dropped (tx_full), and captured all the same.
    wait_for(lambda: ok(c, "stats/show", "a")["rx_pkts"] > 1000 and
             ok(c, "stats/show", "b")["rx_pkts"] > 1000, T, interval=0.2,
             what="both streams")

    def check(path, count):
        res = ok(c, "capture/stop", "a")
        assert res["written"] + res["dropped"] == count, res
        assert len(rdpcap(path)) == res["written"]
        return res

    for i in range(30):
        path = env.file("cap%d.pcapng" % i)
        ok(c, "capture/start", "a", path, str(1 + i % 7))
        time.sleep(0.02)
        check(path, 1 + i % 7)

    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed: the interleaving part needs it")
    for i in range(3):
        path = env.file("gdb%d.pcapng" % i)
        stop_one_lcore_in_capture(
            sw.proc.pid, lambda: ok(c, "capture/start", "a", path, "1"))
        time.sleep(0.2)
        res = check(path, 1)
        assert res["written"] == 1, res
    c.close()
    sw.stop_clean()


# ---------------------------------------------------------------------------
# Defect 10: the control thread's lcore id, the socket's mode, capture paths
# ---------------------------------------------------------------------------

def test_ctl_thread_without_lcore_id_is_fatal(env, shim):
    """EAL cannot register the control thread (no lcore id left): the
    switch does not start (rte_hash would index its per-lcore caches with
    LCORE_ID_ANY on the first MAC table write from that thread).

    Fails without the fix: the failure was only logged, and the switch
    started."""
    ctl = env.file("ctl")
    sw = FaultSwitch(env, shim, {"VS_FAULT_THREAD_REGISTER": 1},
                     args=["--vhost", "%s,name=a" % env.sock("a"),
                           "--ctl", ctl]).start(wait=False)
    wait_for(lambda: not sw.proc.alive() or
             "vhost-switch: ready" in sw.output(), T, what="exit or ready")
    out = sw.output()
    assert sw.proc.p.returncode == 1, out[-3000:]
    assert "vhost-switch: ready" not in out
    assert re.search(r"cannot register the control thread with EAL: "
                     r"Cannot allocate memory", out), out[-3000:]
    assert not os.path.exists(ctl)
    sw.proc._logf.close()
    assert sw.sanitizer_reports() == []


def test_ctl_socket_is_0660_from_creation(env, shim):
    """The control socket's mode is 0660 from the moment it exists, even
    for a switch started with umask 0; and so is a vhost socket made by
    port/add with owner=, group=, mode=: 0600, then what was asked.

    Fails without the fix: bind() created it 0777 & ~umask and a chmod()
    made it 0660 afterwards; the shim makes that chmod() wait 300 ms and
    the socket is seen 0777 meanwhile. Then port/add's probe bind (which
    keeps librte_vhost from a failing bind) made a socket 0777 & ~umask
    at the path for an instant: the shim makes its unlink() wait 300 ms
    and the vhost socket path is seen 0777 (CI caught it 0755 once)."""
    ctl = env.file("ctl")
    sw = FaultSwitch(env, shim, {"VS_FAULT_CHMOD_US": 300000,
                                 "VS_FAULT_UNLINK_US": 300000}, umask0=True,
                     args=["--vhost", "%s,name=a" % env.sock("a"),
                           "--ctl", ctl]).start(wait=False)
    modes = set()
    end = time.monotonic() + T
    while time.monotonic() < end:
        try:
            st = os.lstat(ctl)
            assert stat.S_ISSOCK(st.st_mode)
            modes.add(stat.S_IMODE(st.st_mode))
        except FileNotFoundError:
            pass
        if "vhost-switch: ready" in sw.output() or not sw.proc.alive():
            break
        time.sleep(0.0005)
    assert "vhost-switch: ready" in sw.output(), sw.output()[-3000:]
    modes.add(stat.S_IMODE(os.lstat(ctl).st_mode))
    assert modes == {0o660}, "modes seen: %s" % sorted(oct(m) for m in modes)
    path, seen = env.sock("p"), set()
    add = threading.Thread(target=Ctl(ctl, timeout=15).call, daemon=True,
                           args=("port/add", path, "name=p", "owner=root",
                                 "group=root", "mode=0660"))
    add.start()
    end = time.monotonic() + T
    while add.is_alive() and time.monotonic() < end:
        try:
            st = os.lstat(path)
            seen.add((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    add.join(1)
    st = os.lstat(path)
    seen.add((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
    assert seen <= {(0o600, 0, 0), (0o660, 0, 0)}, \
        "seen: %s" % sorted((oct(m), u, g) for m, u, g in seen)
    assert (0o660, 0, 0) in seen
    sw.stop_clean()


def test_capture_file_safety(env):
    """capture/start writes only a new file, or with the word overwrite an
    existing regular file: it never follows a symbolic link, never opens a
    FIFO (which would block the control thread) or a device, and refuses
    an existing file without overwrite. Every refusal is a JSON-RPC error
    that says why, and leaves the path as it was.

    Fails without the fix: /dev/null is "captured to", links are
    followed and their targets truncated, a FIFO hangs the control thread,
    existing files are truncated."""
    ctl = env.file("ctl")
    sw = FaultSwitch(env, args=["--vhost", "%s,name=a" % env.sock("a"),
                                "--ctl", ctl]).start()
    c = Ctl(ctl, timeout=15)
    precious = env.file("precious")
    with open(precious, "w") as f:
        f.write("keep me")
    link = env.file("link.pcapng")
    os.symlink(precious, link)
    dangling = env.file("dangling.pcapng")
    os.symlink(env.file("created-through-link"), dangling)
    fifo = env.file("fifo.pcapng")
    os.mkfifo(fifo)

    def refused(path, *extra, says):
        e = err(c, "capture/start", "a", path, *extra)
        assert e.code == FAILED, e
        assert says in e.message and path in e.message, e.message
        return e

    for extra in ((), ("overwrite",), ("5", "overwrite")):
        refused(link, *extra, says="symbolic link")
        refused(dangling, *extra, says="symbolic link")
        refused("/dev/null", *extra, says="not a regular file")
        refused(fifo, *extra, says="not a regular file")
        refused(env.wd.path, *extra, says="not a regular file")
    refused(precious, says="exists (add the word overwrite")
    refused(precious, "3", says="exists (add the word overwrite")
    assert open(precious).read() == "keep me"
    assert not os.path.lexists(env.file("created-through-link"))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)

    # Bad words: the usage, not a capture.
    for extra in (("bogus",), ("overwrite", "5"), ("5", "6")):
        e = err(c, "capture/start", "a", env.file("x.pcapng"), *extra)
        assert e.code == -32602 and "COUNT" in e.message, e
    assert not os.path.exists(env.file("x.pcapng"))

    # A new file: created 0640 (less the umask); overwrite replaces a
    # regular file.
    new = env.file("new.pcapng")
    res = ok(c, "capture/start", "a", new)
    assert res == {"port": "a", "file": new, "count": 0,
                   "overwrite": False}
    ok(c, "capture/stop", "a")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o640 & ~umask
    refused(new, says="exists")
    res = ok(c, "capture/start", "a", precious, "2", "overwrite")
    assert res["overwrite"] is True and res["count"] == 2
    ok(c, "capture/stop", "a")
    with open(precious, "rb") as f:
        assert f.read(4) == b"\x0a\x0d\x0d\x0a"  # a pcapng section header
    assert ok(c, "help", "capture/start")["usage"] == \
        "PORT FILE [COUNT] [overwrite]"
    c.close()
    sw.stop_clean()


# ---------------------------------------------------------------------------
# The control thread's housekeeping against the prompt
# ---------------------------------------------------------------------------

def test_prompt_capture_stop_vs_capture_writer(env, shim):
    """capture/start and capture/stop typed at the prompt (the main lcore)
    while the control thread writes the capture out: the writer runs under
    the capture lock, so a capture/stop never frees a capture the writer
    is draining (the ring is single-consumer, the FILE and the struct are
    freed by the stop), and the writer writes at most a ring's worth at a
    time, so the stop does not wait for ever under a stream faster than
    the file.

    Fails without the fix on the ASan build (heap-use-after-free in
    drain(), which reads the freed capture for its next batch): the shim
    makes the writer wait 50 ms after each batch it wrote, and the prompt
    stops the capture meanwhile. On the release build the freed memory
    usually still reads the same, and the test passes."""
    from test_ctl import Pmd
    ctl = env.file("ctl")
    sw = FaultSwitch(env, shim, {"VS_FAULT_CTL_FREE_BULK_US": 50000},
                     stdin=subprocess.PIPE,
                     args=["-i", "--vhost", "%s,name=a" % env.sock("a"),
                           "--vhost", "%s,name=b" % env.sock("b"),
                           "--ctl", ctl]).start()
    Pmd(env, "a", env.sock("a"), mac(0xa), "txonly",
        ["--eth-peer=0,%s" % mac(0xb)]).start()
    sw.wait_link("a", timeout=T)
    c = Ctl(ctl, timeout=T)
    wait_for(lambda: ok(c, "stats/show", "a")["rx_pkts"] > 1000, T,
             interval=0.2, what="a's stream")
    c.close()
    n = 30
    stdin = sw.proc.p.stdin
    try:
        for i in range(n):
            # Fresh files: the old code had no overwrite.
            stdin.write(("capture/start a %s\n" %
                         env.file("p%d.pcapng" % i)).encode())
            stdin.flush()
            # The writer wakes within 200 ms once a capture is on, then
            # every 10 ms.
            time.sleep(0.25 + 0.001 * (i % 20))
            stdin.write(b"capture/stop a\n")
            stdin.flush()
            wait_for(lambda: sw.output().count("written") > i or
                     not sw.proc.alive(), T, interval=0.002,
                     what="capture/stop %d" % i)
            if not sw.proc.alive():
                break
    except BrokenPipeError:
        pass  # the switch died: its reports say why
    time.sleep(0.5)
    assert sw.sanitizer_reports() == []
    assert sw.proc.alive(), sw.output()[-3000:]
    assert sw.output().count("written") == n
    stdin.close()
    sw.proc.p.wait(T)
    assert sw.proc.p.returncode == 0, sw.output()[-3000:]
    sw.proc._logf.close()
    assert sw.sanitizer_reports() == []


def test_call_relay_write_that_blocks(env, shim):
    """A frontend that fills its blocking call eventfd between the relay's
    poll() and its write(): the shim makes poll() on the relay thread say
    "writable" for a full counter, so the write() blocks. The relay's
    timer cuts it short after 10 ms (vring/show: blocked 1), the vring is
    not relayed to for a second, and a -> b keeps forwarding meanwhile;
    port/del h returns; exit clean.

    Fails without the timer: the relay thread stays in write() for good,
    holding its lock: vring/show (which reads the relay's counters) hangs,
    and so does port/del h."""
    from test_hostile import MAC_B, Pair, call_fd_device, relay_of
    pair = Pair(env, switch=lambda args: FaultSwitch(
        env, shim, {"VS_FAULT_CALL_POLL_LIES": 1}, args=args).start())
    d = call_fd_device(env, pair)
    try:
        os.eventfd_write(d.callfd[d.RX], 2**64 - 2)
        t0 = time.monotonic()
        Ctl(pair.ctl, timeout=15).call("fdb/del", MAC_B)
        for _ in range(3):
            pair.round()
        r = relay_of(pair.ctl, "h", 0)
        # One blocked write, then a second of mute: on a loaded machine
        # the rounds may outlast it, and each second may block once more.
        took = time.monotonic() - t0
        assert 1 <= r["blocked"] <= 1 + int(took), (r, took)
        assert r["relayed"] == 0, r
        assert "call eventfd blocked a write for 10 ms" in pair.sw.output()
        pair.port_del("h")
        pair.round()
    finally:
        d.close()
    pair.finish()
    assert pair.sw.sanitizer_reports() == []
