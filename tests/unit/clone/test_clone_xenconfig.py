"""Cloning a Xen guest config file (seed 33.18-33.19): name, uuid, vif mac and bridge, disk paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from clone_fixtures import tree

from builder.clone import batch, xenconfig
from builder.clone.batch import clone_batch
from builder.errors import InputError

CONFIG = """# /etc/xen/rhel5pv, written by virt-install
name = "rhel5pv"
uuid = "302bd9ce-4f60-fc67-9e40-7a77d9b4e1ed"
maxmem = 512
memory = 512
vcpus = 1
bootloader = "/usr/bin/pygrub"
on_poweroff = "destroy"
on_reboot = "restart"
on_crash = "restart"
vfb = [ "type=vnc,vncunused=1,keymap=en-us" ]
# the system disk, and the install DVD read-only
disk = [ "tap:aio:{img},xvda,w", "file:/var/lib/xen/images/rhel5.iso,xvdb:cdrom,r" ]
vif = [ "mac=00:16:3e:1a:2b:3c,bridge=xenbr0" ]
"""


@pytest.fixture
def xen(tmp_path) -> Path:
    img = tmp_path / "rhel5pv.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    path = tmp_path / "rhel5pv"
    path.write_text(CONFIG.format(img=img))
    return path


def test_clone_changes_only_identity_lines(xen, tmp_path):
    config = xenconfig.read(xen)
    values = xenconfig.clone_values(config, name="web-1", uuid="0e6a4c4c-8f4e-4bde-9a3e-35f0a7b0c001",
                                    macs=["00:16:3e:00:00:01"], bridge="xenbr1",
                                    disks=[("tap:qcow2:", "/clones/web-1.qcow2"),
                                           ("file:", "/var/lib/xen/images/rhel5.iso")])
    text = xenconfig.clone_text(config, values)
    (tmp_path / "web-1").write_text(text)
    clone = xenconfig.read(tmp_path / "web-1")
    assert clone.name == "web-1" and clone.values["uuid"] == "0e6a4c4c-8f4e-4bde-9a3e-35f0a7b0c001"
    assert clone.vifs() == [{"mac": "00:16:3e:00:00:01", "bridge": "xenbr1"}]
    assert [(d["kind"], d["path"], d["vdev"], d["mode"]) for d in clone.disks()] == [
        ("tap:qcow2:", "/clones/web-1.qcow2", "xvda", "w"),
        ("file:", "/var/lib/xen/images/rhel5.iso", "xvdb:cdrom", "r")]
    old, new = CONFIG.format(img=config.disks()[0]["path"]).splitlines(), text.splitlines()
    changed = [i for i, (a, b) in enumerate(zip(old, new)) if a != b]
    assert [old[i].split("=")[0].strip() for i in changed] == ["name", "uuid", "disk", "vif"]
    assert new[0] == "# /etc/xen/rhel5pv, written by virt-install" and len(old) == len(new)


def test_a_config_without_uuid_gets_one_appended(xen):
    text = "".join(line for line in xen.read_text().splitlines(keepends=True) if not line.startswith("uuid"))
    xen.write_text(text)
    config = xenconfig.read(xen)
    values = xenconfig.clone_values(config, name="web-1", uuid="0e6a4c4c-8f4e-4bde-9a3e-35f0a7b0c001",
                                    macs=["00:16:3e:00:00:01"], bridge=None,
                                    disks=[(d["kind"], d["path"]) for d in config.disks()])
    out = xenconfig.clone_text(config, values)
    assert out.endswith("uuid = '0e6a4c4c-8f4e-4bde-9a3e-35f0a7b0c001'\n")


def test_missing_bridge_is_caught_before_xm_would(xen, tmp_path):
    config = xenconfig.read(xen)
    sysfs = tmp_path / "sys"
    (sysfs / "xenbr1" / "bridge").mkdir(parents=True)
    assert xenconfig.missing_bridges(config, None, sysfs) == ["xenbr0"]
    assert xenconfig.missing_bridges(config, "xenbr1", sysfs) == []
    # This host has no xenbr0: the batch is refused and writes nothing.
    before = tree(tmp_path)
    with pytest.raises(InputError, match="bridge xenbr0 does not exist") as e:
        clone_batch(xen, "web-{n}", 2)
    assert "--bridge" in e.value.hint and tree(tmp_path) == before


def test_block_devices_are_not_cloned(xen):
    xen.write_text(xen.read_text().replace("tap:aio:", "phy:").replace(str(xen.parent / "rhel5pv.img"),
                                                                        "/dev/VolGroup00/rhel5pv"))
    with pytest.raises(InputError, match="block device"):
        batch.resolve_source(xen, None)


def test_recognised_and_macs_collected(xen, tmp_path):
    assert xenconfig.looks_like(xen) and not xenconfig.looks_like(tmp_path / "rhel5pv.img")
    assert xenconfig.macs_in(tmp_path) == {"00:16:3e:1a:2b:3c"}
    assert batch.resolve_source(xen, None).kind == "xen"


def test_writing_the_clone_configs(xen, tmp_path):
    source = batch.resolve_source(xen, None)
    planned = batch._plan(source, ["web-1"], tmp_path / "out", True, ["00:16:3e:00:00:01"],
                          ["0e6a4c4c-8f4e-4bde-9a3e-35f0a7b0c001"])
    assert planned[0].config == tmp_path / "web-1"
    batch._write_xen(source, planned, True, "xenbr1")
    clone = xenconfig.read(tmp_path / "web-1")
    assert clone.disks()[0]["path"] == str(tmp_path / "out" / "web-1.qcow2")
    assert clone.disks()[0]["kind"] == "tap:qcow2:" and clone.vifs()[0]["bridge"] == "xenbr1"


def test_xen_and_kvm_mac_prefixes():
    from builder.virt import identity
    used = {"00:16:3e:00:00:01"}
    xen = identity.fresh_macs("xen", used, 200)
    assert len(set(xen)) == 200 and not used & set(xen)
    assert all(m.startswith("00:16:3e:") and int(m.split(":")[3], 16) <= 0x7F for m in xen)
    assert all(m.startswith("52:54:00:") for m in identity.fresh_macs("kvm", set(), 50))
