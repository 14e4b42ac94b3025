"""The Make pattern rules users copy: parallel builds that share nothing, reproducible artifacts."""

from __future__ import annotations

import filecmp
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from demo_build import unique_name
from tests.conftest import REPO, golden_bin

pytestmark = pytest.mark.system


def _profile(directory: Path, name: str, **fields) -> Path:
    data = {"extends": "demo", "name": name, **fields}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_make_j4_builds_four_profiles_without_sharing_anything(libvirt_up, vm_dirs):
    work = vm_dirs("make-j4")
    names = [unique_name(f"t-mk{i}") for i in range(4)]
    for i, name in enumerate(names):
        _profile(work, name, kickstart={"network": {"hostname": f"mk{i}"}})
    images = work / "images"
    targets = [str(images / f"{n}.qcow2") for n in names]
    proc = subprocess.run(["make", "-C", str(REPO), "-j4", f"PROFILES={work}", f"IMAGES={images}", *targets],
                          capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifests = [json.loads((images / f"{n}.manifest.json").read_text()) for n in names]
    assert {m["install"]["domain"] for m in manifests} == set(names)
    assert len({m["install"]["mac"] for m in manifests}) == 4
    assert len({m["image"]["path"] for m in manifests}) == 4
    assert len({m["image"]["sha256"] for m in manifests}) == 4
    assert [m["inspect"]["hostname"] for m in manifests] == [f"mk{i}" for i in range(4)]
    # A second run is a no-op for every image.
    again = subprocess.run(["make", "-C", str(REPO), "-j4", f"PROFILES={work}", f"IMAGES={images}", *targets],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert again.stdout.count("up to date") == 4, again.stdout


@pytest.mark.parametrize("method", ["remaster", "oemdrv", "ksfloppy"])
def test_same_profile_twice_gives_byte_identical_artifacts(libvirt_up, vm_dirs, method):
    work = vm_dirs(f"repro-{method}")
    name = unique_name("t-repro")
    profile = _profile(work, name, install={"method": method, "media": "demo"})
    dirs = [work / "one", work / "two"]
    for out in dirs:
        run = golden_bin("build", profile, "--until", "media", "--output-dir", out)
        assert run.code == 0, run.err
    one, two = (d / f"{name}.build" for d in dirs)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file() and p.suffix != ".json")
    assert Path("ks.cfg") in files
    assert any(str(f).startswith("media/") for f in files), files
    for f in files:
        assert filecmp.cmp(one / f, two / f, shallow=False), f"{f} differs between two builds"
