"""The Make pattern rules users copy: parallel builds that share nothing, reproducible artifacts."""

from __future__ import annotations

import contextlib
import filecmp
import json
import re
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
    # Each install ran in a domain of its own name (NAME-<suffix>), undefined once saved.
    assert all(re.fullmatch(re.escape(n) + r"-[0-9a-f]{6}", m["install"]["domain"]) for n, m in zip(names, manifests))
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


def _golden_leftovers(name: str, work: Path) -> dict[str, list[str]]:
    """What of golden's is on the host for profile `name` built under `work`: domains, pools, processes."""
    import libvirt

    conn = libvirt.open("qemu:///system")
    try:
        domains = [d.name() for d in conn.listAllDomains(0) if d.name().startswith(name + "-")]
        pools = [p.name() for p in conn.listAllStoragePools(0)
                 if str(work) in p.XMLDesc(0) or "/demo-media/" in p.XMLDesc(0)]
    finally:
        conn.close()
    procs = subprocess.run(["pgrep", "-af", f"qemu-storage-daemon|dnsmasq.*{work}|qemu-system.*{name}"],
                           capture_output=True, text=True).stdout.split("\n")
    return {"domains": domains, "pools": pools,
            "processes": [p for p in procs if p and (str(work) in p or name in p)]}


def test_make_clean_then_make_again_beside_a_domain_of_the_same_name(libvirt_up, vm_dirs):
    """The cycle a new user runs: demo, clean, demo; with a domain already named like the profile."""
    import libvirt

    work = vm_dirs("cycle")
    name = unique_name("t-cycle")
    _profile(work, name)
    before = _golden_leftovers(name, work)      # pools for the shared demo-media cache may predate us
    make = ["make", "--no-print-directory", "-C", str(REPO), f"PROFILES={work}", f"IMAGES={work / 'images'}",
            f"CLONES={work / 'clones'}", "N=1"]
    conn = libvirt.open("qemu:///system")
    theirs = conn.defineXML(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                            "<os><type arch='x86_64'>hvm</type></os><description>not golden's</description>"
                            "</domain>")
    try:
        for round_ in (1, 2):
            run = subprocess.run([*make, f"{work}/clones/{name}"], capture_output=True, text=True, timeout=2400)
            assert run.returncode == 0, f"round {round_}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
            manifest = json.loads((work / "images" / f"{name}.manifest.json").read_text())
            assert manifest["install"]["domain"] != name and not manifest["install"]["domain_kept"]
            clean = subprocess.run([*make, "clean"], capture_output=True, text=True, timeout=600)
            assert clean.returncode == 0, clean.stderr
            assert not (work / "images").exists() and not (work / "clones").exists()
            assert _golden_leftovers(name, work) == {"domains": [], "pools": before["pools"], "processes": []}
        still = conn.lookupByName(name)
        assert still.UUIDString() == theirs.UUIDString(), "the user's own domain is left alone"
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.lookupByName(name).undefine()
        conn.close()
