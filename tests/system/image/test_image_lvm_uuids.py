"""seal's lvm-uuids on both backends, read back by the other one.

The loop backend's host `pvchange -u`/`vgchange -u` must leave metadata the
appliance's LVM accepts, and the appliance's must leave metadata golden's own
reader (lvm.py, the loop backend) accepts; in both cases the guest still
opens with its root on the LV.
"""

from __future__ import annotations

import json

import pytest

import debian_boot
from debian_guest import ROOT_LV, debian_guest  # noqa: F401 (the fixture)
from builder.image import open_image, seal
from tests.conftest import golden_bin

pytestmark = pytest.mark.system


def _uuids(lvm) -> tuple[dict, dict]:
    return {p.device: p.uuid for p in lvm.pvs}, {v.name: v.uuid for v in lvm.vgs}


def test_loop_seal_read_back_by_guestfs(image):
    disk = image("rhel6")
    with open_image(disk, backend="loop", readonly=True) as g:
        pvs, vgs = _uuids(g.lvm())
        mounts = [(m.mountpoint, m.device) for m in g.mountpoints()]
    with open_image(disk, backend="loop") as g:
        dry = seal(g, only=["lvm-uuids"], dry_run=True)["operations"][0]
        assert _uuids(g.lvm()) == (pvs, vgs), "a dry run changed the UUIDs"
        op = seal(g, only=["lvm-uuids"])["operations"][0]
        assert op["result"] == "changed"
        assert [c["path"] for c in dry["changes"]] == [c["path"] for c in op["changes"]]
        assert g.is_file("/etc/fstab")        # the mounted LVs were not disturbed
    with open_image(disk, backend="guestfs", readonly=True) as g:
        new_pvs, new_vgs = _uuids(g.lvm())
        assert set(new_pvs) == set(pvs) and set(new_vgs) == set(vgs) == {"VolGroup00"}
        assert all(new_pvs[d] != pvs[d] for d in pvs) and new_vgs["VolGroup00"] != vgs["VolGroup00"]
        assert [(m.mountpoint, m.device) for m in g.mountpoints()] == mounts
    details = {c["path"]: c["detail"] for c in op["changes"]}
    assert details["/dev/sda2"] == f"{pvs['/dev/sda2']} -> {new_pvs['/dev/sda2']}"
    assert details["/dev/VolGroup00"] == f"{vgs['VolGroup00']} -> {new_vgs['VolGroup00']}"


def test_debian_guestfs_seal_read_back(debian_guest, tmp_path):  # noqa: F811
    disk = debian_boot.overlay(debian_guest.disk, debian_guest.format, tmp_path / "sealed.qcow2")
    before = golden_bin("inspect", disk, "--json", "--backend", "loop", timeout=300)
    assert before.code == 0, before.err
    old = json.loads(before.out)["lvm"]
    run = golden_bin("seal", disk, "--json", "--backend", "guestfs", timeout=900)
    assert run.code == 0, f"golden seal failed ({run.code}):\n{run.err}"
    op = next(o for o in json.loads(run.out)["operations"] if o["name"] == "lvm-uuids")
    assert op["result"] == "changed"
    # The loop backend reads the appliance's new metadata with golden's own parser.
    after = golden_bin("inspect", disk, "--json", "--backend", "loop", timeout=300)
    assert after.code == 0, after.err
    r = json.loads(after.out)
    new = r["lvm"]
    assert [v["name"] for v in new["vgs"]] == [v["name"] for v in old["vgs"]] == ["vg0"]
    assert new["vgs"][0]["uuid"] != old["vgs"][0]["uuid"]
    assert {p["uuid"] for p in new["pvs"]}.isdisjoint({p["uuid"] for p in old["pvs"]})
    assert [(lv["vg"], lv["name"], lv["uuid"]) for lv in new["lvs"]] == \
        [(lv["vg"], lv["name"], lv["uuid"]) for lv in old["lvs"]]          # LVs keep theirs
    root = next(m for m in r["mountpoints"] if m["mountpoint"] == "/")
    assert root["device"] in ("/dev/vg0/root", ROOT_LV)
    reported = {c["detail"] for c in op["changes"]}
    assert f"{old['vgs'][0]['uuid']} -> {new['vgs'][0]['uuid']}" in reported
