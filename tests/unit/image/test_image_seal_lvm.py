"""The lvm-uuids seal operation: what it reports, what a dry run leaves, and when it refuses.

The guest is a host directory (treeguest.py) whose LVM layout is given; its
`_new_lvm_uuids` stands in for the backend primitive the system tier runs for
real (tests/system/image/test_image_lvm_uuids.py).
"""

from __future__ import annotations

import os
import uuid

import pytest

from builder.errors import InputError
from builder.image.seal import OPERATIONS, seal, select
from builder.image import loop
from builder.image.diskfile import DiskFile
from builder.image.lvm import dashed
from builder.image.model import Layout, LvmInfo, PhysicalVolume, VolumeGroup
from tests.unit.treeguest import TreeGuest, tree

PV = "Ab3dEf-0000-1111-2222-3333-4444-555566"
VG = "Zy9xWv-aaaa-bbbb-cccc-dddd-eeee-ffff00"
OS_RELEASE = "ID=debian\nVERSION_ID=12\n"


def _fresh() -> str:
    return dashed(uuid.uuid4().hex)


class LvmTree(TreeGuest):
    """Writable, with one VG vg0 on /dev/sda2; a UUID change draws new random ones."""

    def __init__(self, root, refusal=None):
        super().__init__(root)
        self.readonly = False
        self.refusal = refusal
        self.calls = 0
        self.layout = Layout(lvm=LvmInfo(vgs=(VolumeGroup("vg0", VG, 4 << 20, 1 << 30, ("/dev/sda2",)),),
                                         lvs=(), pvs=(PhysicalVolume("/dev/sda2", PV, "vg0"),)))

    def lvm_uuid_refusal(self):
        return self.refusal

    def _new_lvm_uuids(self):
        self.calls += 1
        old = self.layout.lvm
        return LvmInfo(vgs=tuple(VolumeGroup(v.name, _fresh(), v.extent_size, v.size, v.pvs) for v in old.vgs),
                       lvs=old.lvs, pvs=tuple(PhysicalVolume(p.device, _fresh(), p.vg) for p in old.pvs))

    def _put(self, path, data):
        with open(self._p(path), "wb") as f:
            f.write(data)

    def _rename(self, src, dst):
        os.rename(self._p(src), self._p(dst))

    def _chmod(self, path, mode):
        os.chmod(self._p(path), mode)

    def _unlink(self, path):
        os.unlink(self._p(path))

    def _getxattr(self, path, name):
        return None


def _guest(tmp_path, files=None, **kw) -> LvmTree:
    tree(tmp_path, {"/etc/os-release": OS_RELEASE, **(files or {})})
    return LvmTree(tmp_path, **kw)


def test_lvm_uuids_is_a_default_operation():
    assert "lvm-uuids" in select()


def test_report_names_old_and_new_uuids(tmp_path):
    g = _guest(tmp_path)
    op = seal(g, only=["lvm-uuids"])["operations"][0]
    assert op["result"] == "changed" and g.calls == 1
    new_pv, new_vg = g.lvm().pvs[0].uuid, g.lvm().vgs[0].uuid
    assert new_pv != PV and new_vg != VG
    details = {(c["path"], c["action"]): c["detail"] for c in op["changes"]}
    assert details == {("/dev/sda2", "pv uuid"): f"{PV} -> {new_pv}", ("/dev/vg0", "vg uuid"): f"{VG} -> {new_vg}"}


def test_dry_run_changes_nothing(tmp_path):
    g = _guest(tmp_path)
    op = seal(g, only=["lvm-uuids"], dry_run=True)["operations"][0]
    assert op["result"] == "would change" and g.calls == 0
    assert g.lvm().pvs[0].uuid == PV and g.lvm().vgs[0].uuid == VG
    assert {c["path"] for c in op["changes"]} == {"/dev/sda2", "/dev/vg0"}


def test_no_lvm_is_nothing_to_do(tmp_path):
    g = _guest(tmp_path)
    g.layout = Layout()
    assert seal(g, only=["lvm-uuids"])["operations"][0]["result"] == "nothing to do"
    assert g.calls == 0


def test_a_kept_devices_file_follows_the_new_pvid(tmp_path):
    # With lvm-system-devices skipped, the devices file stays; a stale PVID= there hides the PV from LVM.
    line = f"IDTYPE=devname IDNAME=/dev/sda2 DEVNAME=/dev/sda2 PVID={PV.replace('-', '')} PART=2\n"
    g = _guest(tmp_path, {"/etc/lvm/devices/system.devices": "VERSION=1.1.1\n" + line})
    seal(g, only=["lvm-uuids"])
    text = (tmp_path / "etc/lvm/devices/system.devices").read_text()
    assert PV.replace("-", "") not in text
    assert f"PVID={g.lvm().pvs[0].uuid.replace('-', '')} PART=2" in text


def test_a_refusing_backend_refuses_lvm_uuids_by_name_and_notes_it_by_default(tmp_path):
    g = _guest(tmp_path, {"/var/lib/systemd/random-seed": "seed"}, refusal="the host runs udev")
    with pytest.raises(InputError, match="cannot run lvm-uuids.*udev"):
        seal(g, only=["random-seed", "lvm-uuids"])
    assert (tmp_path / "var/lib/systemd/random-seed").exists() and g.calls == 0
    # As a default operation it is left out with a note, and the rest of the seal runs.
    report = seal(g, only=None, skip=[n for n in OPERATIONS if n not in ("random-seed", "lvm-uuids")])
    ops = {op["name"]: op for op in report["operations"]}
    assert ops["random-seed"]["result"] == "changed" and g.calls == 0
    assert ops["lvm-uuids"]["result"] != "changed" and "--backend guestfs" in " ".join(ops["lvm-uuids"]["notes"])


def test_dry_run_on_a_refusing_backend_says_so(tmp_path):
    g = _guest(tmp_path, refusal="the host runs udev")
    op = seal(g, only=["lvm-uuids"], dry_run=True)["operations"][0]
    assert op["result"] == "would change" and "udev" in " ".join(op["notes"])


def test_loop_backend_refuses_only_lvm_guests_on_a_udev_host(tmp_path, monkeypatch):
    g = loop.LoopGuest(DiskFile(tmp_path / "disk.raw", "raw", 0, ()), False, str(tmp_path / "disk.raw"), tmp_path)
    monkeypatch.setattr(loop, "UDEV_CONTROL", str(tmp_path / "udev-control"))
    assert g.lvm_uuid_refusal() is None                     # no LVM: nothing to refuse
    g.layout = LvmTree(tmp_path).layout
    assert g.lvm_uuid_refusal() is None                     # no udev: host LVM, filtered, is safe
    (tmp_path / "udev-control").touch()
    assert "udev" in g.lvm_uuid_refusal()
