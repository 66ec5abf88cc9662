# SPDX-License-Identifier: BSD-3-Clause
"""scripts/demo, the README's first command (issue 15, acceptance point 6):
its summary shows both directions of the PVP loop forwarded and no drop."""
import os
import re
import subprocess

import pytest

import vstest

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="scripts/setup needs root")


def test_demo_forwards_both_ways_without_drops():
    env = dict(os.environ, DEMO_SECONDS="3")
    env.setdefault("VS_BUILD", os.path.dirname(os.path.dirname(
        os.path.dirname(vstest.SWITCH_BIN))))
    p = subprocess.run(["bash", os.path.join(vstest.REPO, "scripts", "demo")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, env=env, timeout=600)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out[-3000:]
    summary = out[out.index("vhost-switch demo summary"):]
    rows = {m.group(1): (int(m.group(2)), int(m.group(3)), m.group(4))
            for m in re.finditer(r"^  (vm[12]) +(\d+) +(\d+)   (.*)$",
                                 summary, re.M)}
    assert set(rows) == {"vm1", "vm2"}, summary
    for name, (rx, tx, drops) in rows.items():
        assert rx > 0 and tx > 0 and drops == "0", (name, summary)
    # What one port takes from the guest, the other gives it.
    assert rows["vm1"][0] == rows["vm2"][1]
    assert rows["vm2"][0] == rows["vm1"][1]
    assert "switch exit status: 0" in summary
