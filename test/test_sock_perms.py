# SPDX-License-Identifier: BSD-3-Clause
"""Ownership of vhost-user server sockets (issue 15, acceptance point 2;
SPEC section 12): `group=kvm,mode=0660` gives the socket exactly that from
the moment it exists, and a QEMU guest run as an unprivileged user of group
kvm (libvirt runs QEMU as libvirt-qemu:kvm) connects to it and pings the
kernel behind a net_tap port.

  port vm     vhost-user server, group=kvm,mode=0660   guest (uid nobody,
                                                        gid kvm) 10.0.6.1
  net_tap0    its interface in a namespace              10.0.6.2
"""
import grp
import os
import pwd
import shutil
import stat
import subprocess
import threading

import pytest

import ctlclient
import qemu
import vstest
from test_qemu import ping
from vstest import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root (setpriv, namespaces)")

T = 90
GUEST_CPUS = os.environ.get("VS_QEMU_CPUS", "0")


def kvm_gid():
    try:
        return grp.getgrnam("kvm").gr_gid
    except KeyError:
        pytest.skip("no group kvm on this machine")


def watch(path, seen, stop):
    """Record every (mode, uid, gid) the path shows until stop is set."""
    while not stop.is_set():
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        seen.add((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))


def test_socket_born_with_its_owner_and_mode(env):
    """port/add with owner=, group=, mode=: a watcher polling the path from
    before the socket exists sees it only ever as root:root 0600 (its
    birth), root:kvm 0600, and finally root:kvm 0660: never wider."""
    gid = kvm_gid()
    ctl = env.file("ctl")
    sw = env.switch(args=["--ctl", ctl]).start()
    path = env.sock("p")
    seen, stop = set(), threading.Event()
    t = threading.Thread(target=watch, args=(path, seen, stop), daemon=True)
    t.start()
    try:
        ctlclient.call(ctl, "port/add", path, "name=p", "owner=root",
                       "group=kvm", "mode=0660")
        wait_for(lambda: (0o660, 0, gid) in seen, 10, what="the final mode")
    finally:
        stop.set()
        t.join()
    assert seen <= {(0o600, 0, 0), (0o600, 0, gid), (0o660, 0, gid)}, seen
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
        (0o660, 0, gid)
    for bad, msg in (("mode=0640x", "invalid mode '0640x'"),
                     ("mode=0066", "invalid mode '0066'"),
                     ("group=no-such-group-x", "no such group"),
                     ("owner=no-such-user-x", "no such user")):
        with pytest.raises(ctlclient.RpcError) as e:
            ctlclient.call(ctl, "port/add", env.sock("q"), bad)
        assert e.value.code == -32602 and msg in e.value.message
    assert sw.stop() == 0


@pytest.fixture
def netns():
    ns = "vsperm%s" % vstest.uid()
    yield ns
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_unprivileged_qemu_in_group_kvm_connects(env, netns):
    """QEMU as nobody:kvm connects to a group=kvm,mode=0660 socket, which
    it could not open otherwise, and its guest pings through the switch."""
    gid = kvm_gid()
    nobody = pwd.getpwnam("nobody").pw_uid
    qemu.guest_image()
    # QEMU's own files (console, serial and QMP sockets) in a directory
    # nobody may write; the switch's socket in one it may only traverse.
    sockdir = os.path.join(env.wd.path, "run")
    os.mkdir(sockdir)
    os.chmod(env.wd.path, 0o711)
    os.chmod(sockdir, 0o711)
    qdir = os.path.join(env.wd.path, "qemu")
    os.mkdir(qdir)
    os.chown(qdir, nobody, gid)
    sock = os.path.join(sockdir, "vm.sock")
    tap = "vsperm%s" % vstest.uid()[-6:]
    sw = env.switch(vdevs=["net_tap0,iface=%s" % tap],
                    args=["--vhost", sock + ",name=vm,group=kvm,mode=0660",
                          "--ctl", env.file("ctl")]).start()
    st = os.lstat(sock)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
        (0o660, 0, gid)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    subprocess.run(["ip", "link", "set", tap, "netns", netns], check=True)
    for cmd in (["ip", "addr", "add", "10.0.6.2/24", "dev", tap],
                ["ip", "link", "set", tap, "up"]):
        subprocess.run(["ip", "netns", "exec", netns] + cmd, check=True)
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed"
    vm = qemu.VM(qdir, "g", sock, "52:54:00:5e:06:01", ip="10.0.6.1/24",
                 cpus=GUEST_CPUS,
                 prefix=[setpriv, "--reuid=%d" % nobody, "--regid=%d" % gid,
                         "--clear-groups"])
    vm.start()
    try:
        vm.wait_ready()
        sw.wait_link("vm", timeout=T)
        # It really runs as nobody:kvm.
        with open("/proc/%d/status" % vm.proc.pid) as f:
            ids = {ln.split(":")[0]: ln.split()[1:3] for ln in f
                   if ln.startswith(("Uid:", "Gid:"))}
        assert ids["Uid"][0] == str(nobody) and ids["Gid"][0] == str(gid)
        ping(vm, "10.0.6.2")
        port = ctlclient.call(env.file("ctl"), "port/show", "vm")
        assert port["link"] == "up" and port["rx_pkts"] >= 3
    finally:
        vm.stop()
    assert sw.stop() == 0
