"""SIGKILL `golden seal` while the image is open; the next golden command cleans up, and the image seals again.

Two kill points: with the loop backend while the guest's file systems are
mounted (qemu-storage-daemon exporting the qcow2 over FUSE, loop devices,
mounts), and with the guestfs backend while its appliance runs. What is
checked is the host (processes, /proc/mounts, `losetup -a`), then the image
itself: `qemu-img check` and a second seal that succeeds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from leftovers import alive, children, loop_backings, mentioning, mounts_under, workdir_of
from tests.conftest import GOLDEN, REPO, golden_bin

pytestmark = pytest.mark.system

CATCH_TIMEOUT = 300.0


@pytest.fixture
def image(demo_install, vm_dirs) -> Path:
    work = vm_dirs("killseal")
    path = work / "gold.qcow2"
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(demo_install.disk)],
                                     capture_output=True, text=True, check=True).stdout)
    # An overlay: the shared install stays as it is whatever the kill does to this image.
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(demo_install.disk), "-F",
                    info["format"], str(path)], check=True)
    return path


def _catch(proc: subprocess.Popen, ready) -> object:
    deadline = time.monotonic() + CATCH_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"golden seal ended ({proc.returncode}) before it could be killed"
        found = ready()
        if found:
            return found
        time.sleep(0.01)
    pytest.fail("golden seal never reached the kill point")


def _next_command_reaps(pid: int) -> None:
    after = golden_bin("validate", REPO / "profiles" / "demo.yaml")
    assert after.code == 0, after.err
    assert f"left by an interrupted golden run (pid {pid})" in after.err


def _seals_again(image: Path) -> None:
    check = subprocess.run(["qemu-img", "check", "--output=json", str(image)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout).get("corruptions", 0) == 0
    again = golden_bin("seal", image, "--json", timeout=900)
    assert again.code == 0, again.err


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_mid_seal_with_loop_mounts(image):
    proc = subprocess.Popen([str(GOLDEN), "seal", str(image), "--backend", "loop"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def mounted():
            qsds = children(proc.pid, "qemu-storage-d")
            workdirs = [w for w in map(workdir_of, qsds) if w is not None]
            if workdirs and any(m != str(w / "disk.raw") for w in workdirs for m in mounts_under(w)):
                return qsds, workdirs
            return None

        qsds, workdirs = _catch(proc, mounted)
        _kill(proc)
        assert any(alive(p) for p in qsds) and any(mounts_under(w) for w in workdirs)   # really left behind

        _next_command_reaps(proc.pid)
        assert [p for p in qsds if alive(p)] == []
        assert [m for w in workdirs for m in mounts_under(w)] == []
        assert [w for w in workdirs if w.exists()] == []
        assert [b for b in loop_backings() if b == str(image) or any(b.startswith(f"{w}/") for w in workdirs)] == []
    finally:
        if proc.poll() is None:
            _kill(proc)
    _seals_again(image)


def test_sigkill_mid_seal_with_the_appliance_running(image):
    proc = subprocess.Popen([str(GOLDEN), "seal", str(image), "--backend", "guestfs"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The appliance's qemu names the image on its command line.
        qemus = _catch(proc, lambda: [p for p in mentioning(str(image)) if p != proc.pid])
        time.sleep(2)       # into the launch, not at its first instruction
        _kill(proc)
        # libguestfs' recovery process may stop qemu itself when its parent dies; either
        # way the next command must start on a host where nothing of the dead run is left.
        after = golden_bin("validate", REPO / "profiles" / "demo.yaml")
        assert after.code == 0, after.err
        assert [p for p in qemus if alive(p)] == [] and mentioning(str(image)) == [], after.err
    finally:
        if proc.poll() is None:
            _kill(proc)
    _seals_again(image)
