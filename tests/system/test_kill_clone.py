"""SIGKILL `golden clone --count 4` while its clones are mounted; the next golden command cleans up after it.

The kill lands while the batch sets the clones' identity: clone overlays exist,
qemu-storage-daemon exports one of them over FUSE and the guest's file systems
are mounted on loop devices. Nothing of golden's own records is checked here:
the host is (processes, /proc/mounts, `losetup -a`, libvirt, the clone folder).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from demo_build import undefine, unique_name
from leftovers import alive as _alive, children as _children, loop_backings as _loop_backings, \
    mounts_under as _mounts_under, workdir_of as _workdir_of
from tests.conftest import GOLDEN, golden_bin

pytestmark = pytest.mark.system

URI = "qemu:///system"
CATCH_TIMEOUT = 300.0


def _domains(prefix: str) -> set[str]:
    import libvirt
    conn = libvirt.open(URI)
    try:
        return {d.name() for d in conn.listAllDomains(0) if d.name().startswith(prefix)}
    finally:
        conn.close()


def _catch_mid_identity(proc: subprocess.Popen, clones: Path) -> tuple[list[int], list[Path]]:
    """Wait until clone disks exist and a guest file system of a clone is mounted; then the exporters."""
    deadline = time.monotonic() + CATCH_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"golden clone ended ({proc.returncode}) before it could be killed"
        if list(clones.glob("*.qcow2")):
            qsds = _children(proc.pid, "qemu-storage-d")
            workdirs = [w for w in map(_workdir_of, qsds) if w is not None]
            # A guest mount beside the FUSE export: loop devices and mounts are in place.
            if workdirs and any(m != str(w / "disk.raw") for w in workdirs for m in _mounts_under(w)):
                return qsds, workdirs
        time.sleep(0.01)
    pytest.fail("no clone was mounted within the time allowed")


@pytest.fixture
def gold(demo_install, vm_dirs) -> Path:
    work = vm_dirs("killclone")
    image = work / "gold.qcow2"
    subprocess.run(["cp", "--sparse=always", str(demo_install.disk), str(image)], check=True)
    shutil.copy(demo_install.domain_xml, work / "gold.domain.xml")
    return image


def test_sigkill_mid_clone_then_replace_and_remove_batch(gold):
    prefix = unique_name("t-kc")
    clones = gold.parent / "clones"
    args = ["clone", str(gold), "--name", f"{prefix}-{{n}}", "--count", "4", "--dir", str(clones),
            "--backend", "loop"]
    log = open(gold.parent / "killed.log", "wb")
    proc = subprocess.Popen([str(GOLDEN), *args], stdout=log, stderr=subprocess.STDOUT)
    try:
        qsds, workdirs = _catch_mid_identity(proc, clones)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The leftovers are real: the exporter runs on, the guest stays mounted.
        assert any(_alive(p) for p in qsds)
        assert any(_mounts_under(w) for w in workdirs)
        assert list(clones.glob("*.qcow2"))

        rerun = golden_bin(*args, "--replace")
        assert rerun.code == 0, rerun.err
        assert f"left by an interrupted golden run (pid {proc.pid})" in rerun.err

        assert [p for p in qsds if _alive(p)] == []
        assert subprocess.run(["pgrep", "-f", "|".join(str(w) for w in workdirs)]).returncode == 1
        assert [m for w in workdirs for m in _mounts_under(w)] == []
        assert [w for w in workdirs if w.exists()] == []
        ours = {str(gold.resolve())} | {str(p.resolve()) for p in clones.iterdir()} | \
            {str(w) for w in workdirs}
        assert [b for b in _loop_backings() if b in ours or any(b.startswith(f"{w}/") for w in workdirs)] == []
        names = {f"{prefix}-{n}" for n in range(1, 5)}
        assert _domains(prefix) == names
        assert sorted(p.name for p in clones.glob("*.qcow2")) == sorted(f"{n}.qcow2" for n in names)

        gone = golden_bin("clone", "--remove-batch", str(clones))
        assert gone.code == 0, gone.err
        assert _domains(prefix) == set()
        assert list(clones.glob("*.qcow2")) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        for n in range(1, 5):
            undefine(f"{prefix}-{n}")


PXE_PROFILE = """name: demo-pxe
extends: {base}
network: {{mode: pxe, model: e1000, mac: '52:54:00:12:34:57'}}
install: {{method: pxe, media: demo}}
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_sigkill_pxe_serve_then_any_command_stops_its_dnsmasq(tmp_path):
    from netns import Background, assert_sealed, ip, namespace
    base = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"
    profile = tmp_path / "demo-pxe.yaml"
    profile.write_text(PXE_PROFILE.format(base=base))
    top = Path(tempfile.mkdtemp(prefix="golden-kc-tree-", dir="/tmp"))   # dnsmasq's TFTP user must enter it
    top.chmod(0o755)
    tree = top / "tree"
    try:
        made = golden_bin("pxe", "tree", profile, "--out", tree, "--server", "10.214.0.1")
        assert made.code == 0, made.err
        with namespace("golden-kc-") as ns:
            ip(ns, "link", "add", "br0", "type", "bridge")
            ip(ns, "addr", "add", "10.214.0.1/24", "dev", "br0")
            ip(ns, "link", "set", "br0", "up")
            assert_sealed(ns)
            server = Background(ns, [str(GOLDEN), "pxe", "serve", str(tree), "--interface", "br0",
                                     "--range", "10.214.0.100,10.214.0.150"], tmp_path / "serve.log")
            server.wait_for("golden-pxe: serving")
            dnsmasq = int(re.search(r"dnsmasq pid (\d+)", server.text).group(1))
            argv = Path(f"/proc/{dnsmasq}/cmdline").read_bytes().decode().split("\0")
            workdir = Path(next(a for a in argv if a.startswith("--conf-file=")).split("=", 1)[1]).parent
            server.proc.send_signal(signal.SIGKILL)
            server.wait()
            assert _alive(dnsmasq) and workdir.is_dir()        # left behind by the kill

            after = golden_bin("validate", base)
            assert after.code == 0, after.err
            assert f"left by an interrupted golden run (pid {server.proc.pid})" in after.err
            assert not _alive(dnsmasq)
            assert not workdir.exists()
    finally:
        shutil.rmtree(top, ignore_errors=True)
