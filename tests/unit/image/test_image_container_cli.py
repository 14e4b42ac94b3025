"""Every image command refuses a damaged disk file up front: exit 2, "corrupt", the file named, nothing written.

The disks are made with sfdisk and qemu-img/qemu-io only (no appliance, no
libvirtd: clone talks to libvirt's test:///default driver).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import snapshot

MiB = 1 << 20


def run(*args, input=None):
    subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, input=input)


def disk(folder: Path, fmt: str) -> Path:
    """A 64 MiB disk with an MBR and two partitions, 40 MiB of it written."""
    raw = folder / "disk.img"
    with open(raw, "wb") as f:
        f.truncate(64 * MiB)
    run("sfdisk", "-q", "--no-reread", "--no-tell-kernel", raw, input="label: dos\n,8MiB,L\n,,L\n")
    if fmt == "raw":
        run("qemu-io", "-f", "raw", "-c", "write -P 0xab 1M 40M", raw)
        return raw
    img = folder / "disk.qcow2"
    run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, img)
    raw.unlink()
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0xab 1M 40M", img)
    return img


def truncated(folder: Path, fmt: str) -> Path:
    img = disk(folder, fmt)
    os.truncate(img, os.path.getsize(img) // 2)
    return img


COMMANDS = {
    "inspect": ["inspect", "{img}"],
    "inspect --json": ["inspect", "--json", "{img}"],
    "seal": ["seal", "{img}"],
    "seal --dry-run": ["seal", "--dry-run", "{img}"],
    "customize": ["customize", "--hostname", "web1", "{img}"],
    "clone": ["clone", "{img}", "--name", "c-{{n}}", "--count", "2", "--connect", "test:///default"],
}


@pytest.mark.parametrize("fmt", ["qcow2", "raw"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_truncated_disk_is_refused_as_corrupt(golden, tmp_path, fmt, command):
    img = truncated(tmp_path, fmt)
    before = snapshot(tmp_path)
    r = golden(*[a.format(img=img) for a in COMMANDS[command]])
    assert r.code == 2, r.err
    assert f"error: {img}: corrupt {fmt} image" in r.err
    assert "hint:" in r.err and "Traceback" not in r.err
    if fmt == "qcow2":
        assert re.search(r"qemu-img check found \d+ (corruption|error)", r.err)
    else:
        assert "partition 2 ends at byte" in r.err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("fmt", ["qcow2", "raw"])
@pytest.mark.parametrize("command", [["seal", "--dry-run"], ["customize", "--dry-run", "--hostname", "web1"]])
def test_healthy_disk_passes_the_check(golden, tmp_path, fmt, command):
    # The disk holds no OS: the command gets past the container check and stops at that instead.
    # (inspect would go on to look for Windows in a 30 s appliance launch.)
    img = disk(tmp_path, fmt)
    r = golden(*command, "--backend", "loop", img)
    assert "corrupt" not in r.err
    assert r.code in (2, 3), r.err
    assert "no Linux root file system" in r.err or "loop backend" in r.err


def test_overlay_on_a_truncated_base(golden, tmp_path):
    base = truncated(tmp_path, "qcow2")
    top = tmp_path / "top.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, top)
    r = golden("inspect", top)
    assert r.code == 2 and f"error: {base}: corrupt qcow2 image" in r.err


def test_build_refuses_a_truncated_install_disk_before_its_work_overlay(tmp_path):
    from types import SimpleNamespace

    from builder.errors import InputError
    from builder.pipeline.build import _image_stages

    base = truncated(tmp_path, "qcow2")
    work = tmp_path / "work.qcow2"
    loaded = SimpleNamespace(profile=SimpleNamespace(os="demo", disks=[SimpleNamespace(format="qcow2")]))
    with pytest.raises(InputError, match="corrupt qcow2 image") as e:
        _image_stages(loaded, SimpleNamespace(disks=[base]), work, None, None, None, [])
    assert e.value.where == str(base) and not work.exists()
