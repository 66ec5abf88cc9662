# SPDX-License-Identifier: BSD-3-Clause
"""Packaging and the service (SPEC section 12): what `meson install` and the
Debian package install, the vhost-switch@ unit (systemd-analyze verify, and
its ExecStart run as systemd would, with the installed config, sd_notify
READY=1 and STOPPING=1 on NOTIFY_SOCKET), and a baseline-CPU default build.

Three tiers, by cost:
  - always (seconds): `meson install` of build/ into a temporary root, the
    unit verified and its ExecStart run from there, build/'s -march and its
    binary without AVX/AVX-512 instructions;
  - with CI=true or VS_PKG_BUILD=1 (about 2 minutes): `dpkg-buildpackage
    -us -uc -b` on a copy of the tree, the .deb's contents, the same unit
    checks and ExecStart run from the .deb unpacked with dpkg -x;
  - with VS_PKG_CONTAINER=1 (1 to 6 minutes more, measured: most of it
    debootstrap downloading, as fast as the mirror is that day): a clean Debian 12 from Debian's mirror (debootstrap
    --variant=minbase), the .deb installed there with apt, the container
    booted with systemd-nspawn and `systemctl start vhost-switch@demo` in
    it. Not in CI: the suite takes 21 minutes, the package build 1.5 more,
    and a slow mirror day would take this past the 30 minutes CI has.
"""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from vstest import REPO

RELEASE = os.path.join(REPO, "build")
UNIT = "vhost-switch@.service"
# What an operator's /etc/vhost-switch/NAME.env says on a machine without
# hugepages, as the guide tells.
EAL_ARGS = "-l 0,1 --no-huge -m 512 --no-pci"


def truthy(name):
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def find(root, rel):
    """rel under root, where the unit may sit under lib/ or usr/lib/."""
    for cand in (rel, "usr/" + rel):
        p = os.path.join(root, cand)
        if os.path.exists(p):
            return p
    raise AssertionError("%s not installed under %s" % (rel, root))


def unit_keys(path):
    keys = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            k, _, v = line.partition("=")
            keys.setdefault(k, []).append(v)
    return keys


def rooted_unit(root, instance, outdir):
    """The installed unit as vhost-switch@INSTANCE.service with its paths
    under root (what systemd sees at / after an install)."""
    text = open(find(root, "lib/systemd/system/" + UNIT)).read()
    text = re.sub(r"(?<=[= ])/(usr/|usr/local/)?(bin|etc)/(?=vhost-switch)",
                  lambda m: root + m.group(0), text)
    path = os.path.join(outdir, "vhost-switch@%s.service" % instance)
    with open(path, "w") as f:
        f.write(text)
    return path


def verify_unit(root, tmp):
    """systemd-analyze verify passes: the unit parses, its ExecStart
    binary is executable, its Documentation= man pages open (MANPATH:
    the installed ones)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    d = os.path.join(tmp, "units")
    os.makedirs(d, exist_ok=True)
    path = rooted_unit(root, "demo", d)
    env = dict(os.environ, MANPATH=os.path.join(root, "usr/share/man")
               if os.path.isdir(os.path.join(root, "usr/share/man"))
               else os.path.join(root, "usr/local/share/man"))
    p = subprocess.run(["systemd-analyze", "verify", path], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr


def run_exec_start(root, tmp):
    """The unit's ExecStart, as systemd would run it for an instance whose
    NAME.ini is the installed example (its socket directory moved to tmp)
    and whose NAME.env sets EAL_ARGS; READY=1 and STOPPING=1 arrive on
    NOTIFY_SOCKET, its ExecReload (systemctl reload) reads the file again
    between RELOADING=1 and READY=1, and SIGTERM (systemctl stop) ends it
    with status 0."""
    instance = "pkgtest%d" % os.getpid()
    os.makedirs(tmp)
    unit = rooted_unit(root, instance, tmp)
    keys = unit_keys(unit)
    assert keys["Type"] == ["notify"]
    assert keys["Restart"] == ["on-failure"]
    env_default = [v for v in keys["Environment"] if "VS_EAL_ARGS=" in v]
    assert env_default, keys["Environment"]

    (cmd,) = keys["ExecStart"]
    cmd = cmd.replace("%i", instance).replace("$VS_EAL_ARGS", EAL_ARGS)
    argv = shlex.split(cmd)
    assert argv[0].startswith(root) and os.access(argv[0], os.X_OK)
    ini = argv[argv.index("--config") + 1]
    assert ini.startswith(root) and ini.endswith("/%s.ini" % instance)

    # NAME.ini: the installed example, beside it, its sockets in tmp.
    sockdir = os.path.join(tmp, "run")
    os.makedirs(sockdir)
    with open(os.path.join(os.path.dirname(ini), "example.ini")) as f:
        text = f.read()
    assert "/run/vhost-switch/" in text
    with open(ini, "w") as f:
        f.write(text.replace("/run/vhost-switch", sockdir))

    notify_path = os.path.join(tmp, "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    out = open(os.path.join(tmp, "exec-start.log"), "w+")
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    env.pop("ASAN_OPTIONS", None)
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env)
    try:
        msg = notify.recv(4096).decode()
        assert "READY=1" in msg.split("\n"), msg
        assert "MAINPID=%d" % proc.pid in msg.split("\n"), msg
        out.seek(0)
        assert "vhost-switch: ready" in out.read()
        for name in ("vm1.sock", "vm2.sock"):
            assert os.path.exists(os.path.join(sockdir, name))
        ctl = os.path.join(os.path.dirname(argv[0]), "vhost-switch-ctl")
        p = subprocess.run([ctl, "-f", "vhost-switch-" + instance,
                            "port/list"], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0, p.stderr
        assert re.search(r"\bvm1\b", p.stdout), p.stdout
        assert re.search(r"\bvm2\b", p.stdout), p.stdout
        # systemctl reload: the unit's ExecReload, as systemd runs it; a
        # notify unit's reload is framed by RELOADING=1 and READY=1.
        (reload,) = keys["ExecReload"]
        rargv = shlex.split(reload.replace("$MAINPID", str(proc.pid)))
        assert subprocess.run(rargv, timeout=30).returncode == 0
        assert notify.recv(4096).decode() == "RELOADING=1"
        assert notify.recv(4096).decode() == "READY=1"
        out.seek(0)
        assert re.search(r"reload: .* applied, 0 change", out.read())
        proc.send_signal(signal.SIGTERM)
        assert notify.recv(4096).decode() == "STOPPING=1"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()
        os.unlink(ini)
        out.seek(0)
        log = out.read()
        out.close()
    assert "vhost-switch: stopped" in log, log[-3000:]


def no_wide_vectors(binary):
    """No AVX-512 (zmm, opmask registers) nor AVX (ymm) instruction:
    the default build targets DPDK's baseline (corei7: SSE4.2)."""
    if shutil.which("objdump") is None:
        pytest.skip("objdump not installed")
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", binary],
                         capture_output=True, text=True, check=True).stdout
    assert len(dis) > 10000
    zmm = [ln for ln in dis.splitlines()
           if re.search(r"%zmm|%k[0-7]\b|\{%k", ln)]
    ymm = [ln for ln in dis.splitlines() if "%ymm" in ln]
    assert not zmm, "AVX-512 in %s:\n%s" % (binary, "\n".join(zmm[:20]))
    assert not ymm, "AVX in %s:\n%s" % (binary, "\n".join(ymm[:20]))


# --- always: meson install of build/ ----------------------------------------

@pytest.fixture(scope="module")
def meson_root():
    if not os.path.exists(os.path.join(RELEASE, "build.ninja")):
        pytest.skip("no release build in build/ (scripts/setup makes it)")
    tmp = tempfile.mkdtemp(prefix="vs-pkg-meson.")
    root = os.path.join(tmp, "root")
    p = subprocess.run(["meson", "install", "-C", RELEASE, "--destdir", root],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    prefix = subprocess.run(
        ["meson", "introspect", "--buildoptions", RELEASE],
        capture_output=True, text=True, check=True).stdout
    m = re.search(r'"name": "prefix", "value": "([^"]+)"', prefix)
    yield tmp, root, (m.group(1) if m else "/usr/local")
    shutil.rmtree(tmp, ignore_errors=True)


def test_meson_install_layout(meson_root):
    """`meson install` installs what the package has."""
    _, root, prefix = meson_root
    pre = root + prefix
    for rel in ("bin/vhost-switch", "bin/vhost-switch-ctl"):
        assert os.access(os.path.join(pre, rel), os.X_OK), rel
    find(root, "lib/systemd/system/" + UNIT)
    find(root, "lib/tmpfiles.d/vhost-switch.conf")
    for rel in ("share/man/man8/vhost-switch.8",
                "share/man/man8/vhost-switch-ctl.8",
                "share/doc/vhost-switch/README.md",
                "share/doc/vhost-switch/guide.md",
                "share/doc/vhost-switch/control.md"):
        assert os.path.isfile(os.path.join(pre, rel)), rel
    etc = "/etc" if prefix == "/usr" else prefix + "/etc"
    assert os.path.isfile(root + etc + "/vhost-switch/example.ini")
    tmpfiles = open(find(root, "lib/tmpfiles.d/vhost-switch.conf")).read()
    assert re.search(r"^d /run/vhost-switch 0755 root root", tmpfiles, re.M)


def test_meson_unit_verify(meson_root):
    tmp, root, _ = meson_root
    verify_unit(root, tmp)


def test_meson_unit_exec_start(meson_root):
    tmp, root, _ = meson_root
    run_exec_start(root, os.path.join(tmp, "exec"))


def test_build_depends_cover_meson_dependencies():
    """Every library meson looks for (dependency()) is in debian/control's
    Build-Depends: a clean build chroot (sbuild, pbuilder) installs only
    those."""
    dev = {"libdpdk": "libdpdk-dev", "jansson": "libjansson-dev",
           "libmicrohttpd": "libmicrohttpd-dev",
           "libsystemd": "libsystemd-dev", "systemd": "systemd"}
    found = set()
    for d, _, files in os.walk(REPO):
        if "/build" in d[len(REPO):] or "/." in d[len(REPO):]:
            continue
        if "meson.build" in files:
            text = open(os.path.join(d, "meson.build")).read()
            found |= set(re.findall(r"dependency\('([^']+)'", text))
    found.discard("threads")
    assert found and found <= set(dev), found
    control = open(os.path.join(REPO, "debian", "control")).read()
    bd = re.split(r"\n(?=\S)", control.split("Build-Depends:", 1)[1])[0]
    names = set(re.findall(r"([a-z0-9][a-z0-9.+-]+)", bd))
    assert {dev[x] for x in found} <= names, (found, bd)


def test_default_build_baseline_cpu():
    """Acceptance 5: build/ (scripts/setup's, meson's defaults) compiles
    with libdpdk's -march (corei7) last on every DPDK compile line and no
    -march=native, and its binary has no AVX-512 (nor AVX) instruction,
    so it runs on a CPU without them."""
    cc = os.path.join(RELEASE, "compile_commands.json")
    if not os.path.exists(cc):
        pytest.skip("no release build in build/")
    import json
    dpdk_march = [f for f in subprocess.run(
        ["pkg-config", "--cflags", "libdpdk"], capture_output=True,
        text=True, check=True).stdout.split() if f.startswith("-march=")]
    assert dpdk_march, "libdpdk's cflags name no -march"
    for e in json.load(open(cc)):
        march = re.findall(r"-march=\S+", e["command"])
        assert "-march=native" not in march, e["file"]
        if "-I/usr/include/dpdk" in e["command"]:
            assert march and march[-1] == dpdk_march[-1], e["file"]
    no_wide_vectors(os.path.join(RELEASE, "app/vhost-switch/vhost-switch"))


# --- CI=true or VS_PKG_BUILD=1: dpkg-buildpackage ---------------------------

@pytest.fixture(scope="module")
def deb():
    if not (truthy("CI") or truthy("VS_PKG_BUILD") or
            truthy("VS_PKG_CONTAINER")):
        pytest.skip("dpkg-buildpackage takes ~2 min: CI=true or "
                    "VS_PKG_BUILD=1 runs it")
    if shutil.which("dpkg-buildpackage") is None or \
            shutil.which("dh") is None:
        pytest.skip("dpkg-dev and debhelper not installed")
    tmp = tempfile.mkdtemp(prefix="vs-pkg-deb.")
    src = os.path.join(tmp, "src")
    # The tree as git has it (tracked and new files), without build dirs.
    files = subprocess.run(
        ["git", "-C", REPO, "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True, check=True).stdout.split(b"\0")
    for f in files:
        f = f.decode()
        if not f or not os.path.isfile(os.path.join(REPO, f)):
            continue
        os.makedirs(os.path.join(src, os.path.dirname(f)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, f), os.path.join(src, f))
    log = os.path.join(tmp, "dpkg-buildpackage.log")
    with open(log, "w") as f:
        p = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"],
                           cwd=src, stdout=f, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=1200)
    assert p.returncode == 0, open(log).read()[-5000:]
    debs = [d for d in os.listdir(tmp)
            if re.match(r"vhost-switch_[^_]+_amd64\.deb$", d)]
    assert len(debs) == 1, os.listdir(tmp)
    yield tmp, os.path.join(tmp, debs[0]), log
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def deb_root(deb):
    tmp, path, _ = deb
    root = os.path.join(tmp, "root")
    subprocess.run(["dpkg", "-x", path, root], check=True)
    return tmp, root


def test_deb_contents(deb):
    """Acceptance 1: dpkg-buildpackage -us -uc -b builds, and the package
    has the binaries, the template unit, tmpfiles.d, the example config
    (a conffile), both man pages and the docs."""
    tmp, path, log = deb
    listing = subprocess.run(["dpkg", "-c", path], capture_output=True,
                             text=True, check=True).stdout
    names = {ln.split()[-1].lstrip(".") for ln in listing.splitlines()}
    for want in ("/usr/bin/vhost-switch", "/usr/bin/vhost-switch-ctl",
                 "/lib/systemd/system/vhost-switch@.service",
                 "/usr/lib/tmpfiles.d/vhost-switch.conf",
                 "/etc/vhost-switch/example.ini",
                 "/usr/share/man/man8/vhost-switch.8.gz",
                 "/usr/share/man/man8/vhost-switch-ctl.8.gz",
                 "/usr/share/doc/vhost-switch/guide.md.gz",
                 "/usr/share/doc/vhost-switch/copyright"):
        assert want in names, (want, listing)
    conffiles = subprocess.run(["dpkg-deb", "-f", path, "Conffiles"],
                               capture_output=True, text=True).stdout
    info = subprocess.run(["dpkg-deb", "-I", path], capture_output=True,
                          text=True, check=True).stdout
    assert "Depends:" in info and "librte-vhost23" in info, info
    ctrl = os.path.join(tmp, "control")
    subprocess.run(["dpkg-deb", "-e", path, ctrl], check=True)
    assert open(os.path.join(ctrl, "conffiles")).read().split() == \
        ["/etc/vhost-switch/example.ini"], conffiles
    # The package build is a baseline-CPU build.
    text = open(log).read()
    assert "-march=native" not in text
    assert "-march=corei7" in text


def test_deb_unit_verify(deb_root):
    tmp, root = deb_root
    verify_unit(root, tmp)


def test_deb_exec_start(deb_root):
    """Acceptance 1 (where systemd cannot run): the unit's ExecStart runs
    the packaged binary with the packaged config."""
    tmp, root = deb_root
    run_exec_start(root, os.path.join(tmp, "exec"))


def test_deb_binary_baseline_cpu(deb_root):
    _, root = deb_root
    no_wide_vectors(os.path.join(root, "usr/bin/vhost-switch"))


# --- VS_PKG_CONTAINER=1: a clean Debian 12, booted --------------------------

CHECK_UNIT = """[Unit]
Description=vhost-switch package check
After=multi-user.target
[Service]
Type=oneshot
StandardOutput=append:/vs-check.out
StandardError=inherit
ExecStart=/bin/sh -c 'systemctl start vhost-switch@demo; echo "start=$?"; \
systemctl show -p ActiveState,SubState,Type,NRestarts vhost-switch@demo; \
vhost-switch-ctl -f vhost-switch-demo port/list; \
systemctl stop vhost-switch@demo; echo "stop=$?"; \
systemctl show -p Result,ExecMainStatus vhost-switch@demo | sed s/^/after-/; \
journalctl -u vhost-switch@demo --no-pager; \
systemctl poweroff --no-block'
"""


def test_container_systemctl_start(deb):
    """Acceptance 1: the .deb installs on a clean Debian 12 (debootstrap
    from Debian's mirror), and in it, booted with systemd-nspawn,
    `systemctl start vhost-switch@demo` comes up (Type=notify: start
    returns once READY=1 came), the ports are there, and `systemctl
    stop` ends it cleanly."""
    if not truthy("VS_PKG_CONTAINER"):
        pytest.skip("a debootstrap of Debian 12 takes up to ~6 min: "
                    "VS_PKG_CONTAINER=1 runs it")
    for tool in ("debootstrap", "systemd-nspawn"):
        if shutil.which(tool) is None:
            pytest.skip(tool + " not installed")
    tmp, path, _ = deb
    root = os.path.join(tmp, "debian12")
    p = subprocess.run(["debootstrap", "--variant=minbase", "bookworm",
                        root, "http://deb.debian.org/debian"],
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    shutil.copy(path, os.path.join(root, "tmp", "vhost-switch.deb"))
    if os.path.exists("/etc/resolv.conf"):
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc"))
    proc = os.path.join(root, "proc")
    subprocess.run(["mount", "-t", "proc", "proc", proc], check=True)
    try:
        p = subprocess.run(
            ["chroot", root, "env", "DEBIAN_FRONTEND=noninteractive",
             "apt-get", "install", "-y", "-q", "--no-install-recommends",
             "systemd", "/tmp/vhost-switch.deb"],
            capture_output=True, text=True, timeout=1200)
    finally:
        subprocess.run(["umount", proc])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert os.path.isfile(os.path.join(root, "usr/bin/vhost-switch"))

    etc = os.path.join(root, "etc/vhost-switch")
    shutil.copy(os.path.join(etc, "example.ini"),
                os.path.join(etc, "demo.ini"))
    with open(os.path.join(etc, "demo.env"), "w") as f:
        f.write('VS_EAL_ARGS="%s"\n' % EAL_ARGS)
    sysd = os.path.join(root, "etc/systemd/system")
    with open(os.path.join(sysd, "vs-check.service"), "w") as f:
        f.write(CHECK_UNIT)
    os.makedirs(os.path.join(sysd, "multi-user.target.wants"),
                exist_ok=True)
    os.symlink("/etc/systemd/system/vs-check.service",
               os.path.join(sysd, "multi-user.target.wants",
                            "vs-check.service"))
    # --register=no --keep-unit: no systemd (machined, scopes) on the host.
    p = subprocess.run(["systemd-nspawn", "--register=no", "--keep-unit",
                        "-q", "-D", root, "-b"],
                       capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    out = open(os.path.join(root, "vs-check.out")).read()
    assert "start=0" in out, out + p.stdout[-3000:]
    assert "ActiveState=active" in out and "SubState=running" in out, out
    assert "Type=notify" in out, out
    assert re.search(r"\bvm1\b.*/run/vhost-switch/vm1.sock", out), out
    assert "stop=0" in out and "after-Result=success" in out, out
    assert "after-ExecMainStatus=0" in out, out
    assert "vhost-switch: ready" in out and "vhost-switch: stopped" in out
    # One copy of each EAL line in the journal, not two (stdout + syslog).
    lines = [ln.split("]: ", 1)[-1] for ln in out.splitlines()
             if "vhost-switch[" in ln and "vswitch.fwd: lcore 1" in ln]
    assert lines.count("vswitch.fwd: lcore 1 forwarding") == 1, out
