# SPDX-License-Identifier: BSD-3-Clause
"""The C sources follow .clang-format (DPDK style)."""
import glob
import os
import shutil
import subprocess

import pytest

from vstest import REPO


@pytest.mark.skipif(shutil.which("clang-format") is None,
                    reason="clang-format not installed")
def test_clang_format():
    files = sorted(glob.glob(os.path.join(REPO, "lib", "*.[ch]")) +
                   glob.glob(os.path.join(REPO, "app", "*", "*.[ch]")))
    assert files
    p = subprocess.run(["clang-format", "--dry-run", "--Werror"] + files,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[:4000]
