"""golden inspect, seal, clone and verify on a real Debian 12 guest (root on LVM), and booting it.

The guest comes from debian_guest.py (mmdebstrap, cached across sessions). Each
boot runs the image's probe unit, which reports ssh's state, the host keys,
the hostname and the machine-id on the serial port and powers off.

Last, two clones of a sealed copy go through `golden clone` and `golden
verify`, which reads what golden's first-boot beacon prints in each.

The unsealed boot is the baseline: if it passes and the sealed boot does not,
the seal broke the guest, not the test rig.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import debian_boot
from demo_build import unique_name
from debian_guest import MACHINE_ID as DEBIAN_TEMPLATE_ID, ROOT_LV, debian_guest  # noqa: F401 (the fixture)
from tests.conftest import golden_bin

pytestmark = pytest.mark.system


def _boot(guest, disk, name):
    run = debian_boot.boot(guest, disk, disk.with_name(f"{name}-serial.log"))
    report = debian_boot.probe_report(run)
    print(f"{name} boot: {run.seconds:.0f}s, probe {report}")
    assert debian_boot.FIRSTBOOT_PROMPT not in run.serial, \
        f"{name}: boot stopped at systemd-firstboot's interactive prompt (ConditionFirstBoot)"
    assert "done" in report, f"{name}: no probe report in {run.seconds:.0f}s; serial tail:\n{run.serial[-3000:]}"
    return report


@pytest.fixture(scope="module")
def baseline(debian_guest, tmp_path_factory):  # noqa: F811
    work = tmp_path_factory.mktemp("debian-baseline")
    return _boot(debian_guest, debian_boot.overlay(debian_guest.disk, debian_guest.format, work / "baseline.qcow2"),
                 "baseline")


@pytest.fixture(scope="module")
def sealed(debian_guest, tmp_path_factory):  # noqa: F811
    work = tmp_path_factory.mktemp("debian-sealed")
    disk = debian_boot.overlay(debian_guest.disk, debian_guest.format, work / "sealed.qcow2")
    run = golden_bin("seal", disk, "--json", timeout=900)
    assert run.code == 0, f"golden seal failed ({run.code}):\n{run.err}\n{run.out}"
    ops = {op["name"]: op for op in json.loads(run.out)["operations"]}
    print("seal changed:", {n: [c["path"] for c in op["changes"]] for n, op in ops.items() if op["changes"]})
    return {**_boot(debian_guest, disk, "sealed"), "seal": ops}


def test_inspect(debian_guest, tmp_path):  # noqa: F811
    # A private copy: a loop mount of the cached disk must not be able to touch it.
    disk = tmp_path / "disk.raw"
    subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(debian_guest.disk), str(disk)], check=True)
    run = golden_bin("inspect", disk, "--json", timeout=900)
    assert run.code == 0, f"golden inspect failed ({run.code}):\n{run.err}"
    r = json.loads(run.out)
    assert (r["os"]["distro"], r["os"]["major"], r["os"]["package_format"]) == ("debian", 12, "deb")
    assert r["hostname"] == "debtemplate"
    root = next(m for m in r["mountpoints"] if m["mountpoint"] == "/")
    assert root["device"] in ("/dev/vg0/root", ROOT_LV) and root["fstype"] == "ext4"
    assert [(lv["vg"], lv["name"]) for lv in r["lvm"]["lvs"]] == [("vg0", "root")]
    assert r["packages_source"] == "dpkg"
    assert len(r["packages"]) == debian_guest.packages
    assert r["identity"]["machine_id"]["value"] == debian_guest.machine_id
    assert len(r["identity"]["ssh_host_keys"]) == len(debian_guest.host_keys) > 0


def test_baseline_boot(debian_guest, baseline):  # noqa: F811
    assert baseline["ssh"] == "active", baseline
    assert baseline["keys"] == debian_guest.host_keys
    assert baseline["hostname"] == "debtemplate"
    assert baseline["machineid"] == debian_guest.machine_id


def test_sealed_ssh_active(sealed):
    assert sealed["ssh"] == "active", f"ssh after seal: {sealed['ssh']}; failed units: {sealed.get('failed')}; " \
                                      f"sshd log: {sealed.get('sshd')}"


def test_sealed_host_keys_regenerated(debian_guest, sealed):  # noqa: F811
    keys = sealed["keys"]
    assert keys, "no /etc/ssh/ssh_host_*_key.pub after the sealed boot"
    assert set(keys) == set(debian_guest.host_keys)
    assert not set(keys.values()) & set(debian_guest.host_keys.values()), "a template host key survived"


def test_sealed_machine_id_new(debian_guest, sealed):  # noqa: F811
    assert re.fullmatch(r"[0-9a-f]{32}", sealed["machineid"]), sealed["machineid"]
    assert sealed["machineid"] != debian_guest.machine_id
    # Debian 12's systemd-firstboot prompts on a first boot: seal must not make this one.
    notes = " ".join(sealed["seal"]["machine-id"]["notes"])
    assert "policy empty" in notes and "systemd-firstboot.service" in notes, notes


def test_sealed_boots_with_new_lvm_uuids(sealed):
    # The root LV is found by VG/LV name in the initramfs: new PV and VG UUIDs must not stop the boot.
    op = sealed["seal"]["lvm-uuids"]
    assert op["result"] == "changed"
    assert {c["action"] for c in op["changes"]} == {"pv uuid", "vg uuid"}
    assert all(old != new for old, new in (c["detail"].split(" -> ") for c in op["changes"]))
    assert sealed["ssh"] == "active" and "done" in sealed


def test_seal_says_how_the_host_keys_come_back(sealed):
    notes = " ".join(sealed["seal"]["ssh-hostkeys"]["notes"])
    assert "golden-ssh-hostkeys.service runs `ssh-keygen -A`" in notes, notes


@pytest.fixture(scope="module")
def verified_clones(debian_guest, libvirt_up, vm_dirs):  # noqa: F811
    """Two clones of the sealed image, each booted once by `golden verify`: (names, verify's run)."""
    # The cache is private to root; libvirt's qemu user reads copies.
    work = vm_dirs("debian-clones")
    for f in (debian_guest.disk, debian_guest.kernel, debian_guest.initrd):
        subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(f), str(work / f.name)], check=True)
    image = debian_boot.overlay(work / debian_guest.disk.name, debian_guest.format, work / "debgold.qcow2")
    run = golden_bin("seal", image, timeout=900)
    assert run.code == 0, run.err
    (work / "debgold.domain.xml").write_text(debian_boot.domain_xml(
        "debtemplate", work / debian_guest.kernel.name, work / debian_guest.initrd.name, debian_guest.cmdline, [image]))
    prefix = unique_name("t-deb")
    names = [f"{prefix}-1", f"{prefix}-2"]
    clones = work / "clones"
    run = golden_bin("clone", image, "--name", f"{prefix}-{{n}}", "--count", "2", "--dir", clones, timeout=1200)
    assert run.code == 0, f"golden clone failed ({run.code}):\n{run.err}\n{run.out}"
    try:
        yield names, golden_bin("verify", *names, "--timeout", "600", "--json", timeout=1500)
    finally:
        golden_bin("clone", "--remove-batch", clones, timeout=300)


def test_clones_of_a_real_guest_verify(verified_clones):
    names, check = verified_clones
    verdicts = {v["name"]: v for v in json.loads(check.out)}
    print({n: (v["ok"], v["seconds"], v["problems"]) for n, v in verdicts.items()})
    assert check.code == 0, check.err + check.out
    assert sorted(verdicts) == names
    for name, v in verdicts.items():
        r = v["reported"]
        assert r["via"] == "beacon", r
        assert r["hostname"] == name and r["ssh"] == "active", r
        assert r["ssh-ed25519"].startswith("SHA256:"), r
    a, b = (verdicts[n]["reported"] for n in names)
    assert a["ssh-ed25519"] != b["ssh-ed25519"] and a["machine-id"] != b["machine-id"]
    assert DEBIAN_TEMPLATE_ID not in (a["machine-id"], b["machine-id"])
