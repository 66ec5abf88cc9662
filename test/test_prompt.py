# SPDX-License-Identifier: BSD-3-Clause
"""The interactive prompt (vhost-switch -i), driven through a pty with
pexpect: the control methods with the same output as vhost-switch-ctl,
errors, tab completion of method names, quit."""
import os
import re
import signal
import subprocess
import time

import pexpect

import vstest

CTL_BIN = os.path.join(vstest.BUILD, "app", "vhost-switch-ctl",
                       "vhost-switch-ctl")
PROMPT = "vhost-switch> "
T = 30
ANSI = re.compile(r"\x1b(\[[0-9;]*[A-Za-z]|[A-Za-z])")


class Tty:
    """The switch on a pty. Registered with the env fixture (as a
    vstest.Switch whose proc this is), which kills it if still alive."""

    def __init__(self, sw):
        self.sw = sw
        argv = sw.argv()
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                                   timeout=T, dimensions=(60, 300),
                                   codec_errors="replace")
        self.child.logfile_read = open(sw.log, "w")
        self.p = self            # env's teardown: proc.alive/kill/p.wait
        sw.proc = self

    def alive(self):
        return self.child.isalive()

    def kill(self, sig=signal.SIGKILL):
        self.child.kill(sig)

    def wait(self, timeout=None):
        self.child.close(force=True)
        self.child.logfile_read.close()

    def prompt(self):
        """Wait for the prompt; what came before it, without the echo."""
        self.child.expect_exact(PROMPT)
        return clean(self.child.before)

    def keys(self, *chunks):
        """Type @chunks (Tab, Enter included), letting the prompt react to
        each; the line as completed, and its output."""
        for c in chunks:
            # the switch reads and completes characters in order: what
            # it prints for one chunk precedes what it prints for the next
            self.child.send(c)
            time.sleep(0.2)
        out = self.prompt()
        echo, _, rest = out.partition("\n")
        return echo.strip(), rest

    def run(self, line):
        """Type @line and Enter; the output up to the next prompt."""
        self.child.send(line + "\r")
        out = self.prompt()
        echo, _, rest = out.partition("\n")
        assert echo.strip() == line.strip(), (line, out)
        return rest


def clean(s):
    """Terminal output as plain text: no escapes, no CRs."""
    s = ANSI.sub("", s)
    return s.replace("\r", "")


def ctl(path, *args):
    p = subprocess.run([CTL_BIN, "--ctl", path] + list(args),
                       capture_output=True, text=True, timeout=60)
    return p


def start(env, ports=("a",), vdevs=()):
    args = ["-i", "--ctl", env.file("ctl")]
    for p in ports:
        args += ["--vhost", "%s,name=%s" % (env.sock(p), p)]
    sw = env.switch(args=args, vdevs=list(vdevs))
    tty = Tty(sw)
    tty.child.expect_exact("vhost-switch: ready")
    tty.prompt()
    return sw, tty


def test_prompt_methods_completion_quit(env):
    """port/list and port/show print what vhost-switch-ctl prints for the
    same switch; an error reads "error: ..."; a change made at the prompt
    is seen on the control socket and the other way round; Tab completes
    a method name (and a unique prefix); quit stops the switch, exit 0."""
    sw, tty = start(env, ports=("a", "b"), vdevs=["net_null0,no-rx=1"])
    path = env.file("ctl")

    out = tty.run("port/list")
    want = ctl(path, "port/list")
    assert want.returncode == 0
    assert out == want.stdout
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "name", "kind"]
    assert [ln.split()[1] for ln in lines[1:]] == ["net_null0", "a", "b"]

    out = tty.run("port/show a")
    assert out == ctl(path, "port/show", "a").stdout
    assert re.search(r"^name +: a$", out, re.M), out
    assert re.search(r"^path +: %s$" % re.escape(env.sock("a")), out,
                     re.M), out
    assert tty.run("port/show 1") == out
    assert tty.run("vring/show b 0") == \
        "error: port 'b' has no guest attached\n"

    # errors: the message of the control socket, after "error: "
    assert tty.run("port/show zz") == \
        "error: no port 'zz' (see port/list)\n"
    err = ctl(path, "port/show", "zz")
    assert err.returncode == 1
    assert err.stderr.split(": ", 2)[2] == "no port 'zz' (see port/list)\n"
    assert tty.run("version x") == \
        "error: version takes 0 to 0 argument(s), got 1; usage: version\n"
    assert tty.run("fdb/add 02:00:00:00:00 a").startswith(
        "error: '02:00:00:00:00' is not a MAC address")
    assert tty.alive()

    # the same methods, the same switch
    assert tty.run("help") == ctl(path, "help").stdout
    assert tty.run("fdb/add 02:00:00:00:00:01 b") == \
        "mac  : 02:00:00:00:00:01\nvlan : 0\nport : b\ntype : static\n"
    fdb = ctl(path, "--json", "fdb/show")
    assert '"mac":"02:00:00:00:00:01","vlan":0,"port_id":2,"port":"b"' in fdb.stdout
    assert tty.run("port/disable a") == "port  : a\nstate : disabled\n"
    assert "disabled" in ctl(path, "port/show", "a").stdout
    assert ctl(path, "port/enable", "a").returncode == 0
    assert re.search(r"^state +: enabled$", tty.run("port/show a"), re.M)
    assert tty.run("fdb/aging 33") == "aging : 33\n"
    assert ctl(path, "fdb/aging").stdout == "aging : 33\n"

    # Tab completes a method name; then its arguments can follow
    echo, out = tty.keys("port/sh\t", "b\r")
    assert echo == "port/show b"
    assert re.search(r"^name +: b$", out, re.M), out
    assert re.search(r"^path +: %s$" % re.escape(env.sock("b")), out,
                     re.M), out
    echo, out = tty.keys("fdb/fl\t", "\r")
    assert echo == "fdb/flush"
    assert out == "flushed : 1\n"
    # a prefix shared by several methods completes to their common part
    echo, out = tty.keys("lc\t", "sh\t", "\r")
    assert echo == "lcore/show"
    assert out.splitlines()[0].split()[:3] == ["lcore", "rxqs", "nb_rxq"]
    assert "net_null0:0 a:0 b:0" in out

    # quit: a graceful stop
    tty.child.send("quit\r")
    tty.child.expect(pexpect.EOF, timeout=T)
    tty.child.close()
    assert tty.child.exitstatus == 0, (tty.child.exitstatus,
                                      tty.child.signalstatus)
    log = open(sw.log, errors="replace").read()
    assert "vhost-switch: stopped" in log
    assert not os.path.exists(path)
    assert not os.path.exists(env.sock("a"))


def test_prompt_unknown_method(env):
    sw, tty = start(env)
    out = tty.run("port/frobnicate a")
    assert out.startswith("error: unknown method 'port/frobnicate'"), out
