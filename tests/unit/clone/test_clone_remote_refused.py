"""Clone disks are local files: a remote --connect is refused up front, not half-done."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("args", [
    ["clone", "images/none.qcow2", "--name", "web-{n}", "--connect", "qemu+ssh://hv2.example/system"],
    ["verify", "web-1", "--connect", "qemu+tcp://127.0.0.1:1/system"],
])
def test_remote_connect_is_refused_with_a_hint(golden, tmp_path, args):
    run = golden(*args, cwd=tmp_path)
    assert run.code == 2
    assert "--connect" in run.err and "remote" in run.err
    assert "hint:" in run.err
    assert list(tmp_path.iterdir()) == []
