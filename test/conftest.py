# SPDX-License-Identifier: BSD-3-Clause
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vstest  # noqa: E402


@pytest.fixture
def env(request):
    """A work directory, and every switch and guest started through it,
    stopped at the end whatever happens. Logs are kept on failure."""

    class Env:
        def __init__(self):
            self.wd = vstest.Workdir()
            self.procs = []

        def switch(self, *a, **kw):
            s = vstest.Switch(self.wd.path, *a, **kw)
            self.procs.append(s)
            return s

        def guest(self, name, sock, *a, **kw):
            g = vstest.Guest(self.wd.path, sock, name, *a, **kw)
            self.procs.append(g)
            return g

        def sock(self, name):
            return self.wd.sock(name)

        def file(self, name):
            return self.wd.file(name)

    e = Env()
    yield e
    for p in reversed(e.procs):
        if p.proc is not None and p.proc.alive():
            p.proc.kill()
            p.proc.p.wait()
    failed = getattr(request.node, "rep_call", None)
    keep = failed is not None and failed.failed
    if keep:
        print("logs kept in %s" % e.wd.path)
    e.wd.cleanup(keep=keep)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def net(env):
    """test_ethdev.Net: namespaces, veths and sniffers, removed at the end."""
    from test_ethdev import Net
    n = Net(env)
    yield n
    n.cleanup()
