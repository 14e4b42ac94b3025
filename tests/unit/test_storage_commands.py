"""Storage commands on libvirt's test:///default driver and plain files (no daemon needed)."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from builder.errors import InputError
from builder.storage import naming, pool

TEST_URI = "test:///default"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _validate(xml: str, tmp_path) -> None:
    f = tmp_path / "pool.xml"
    f.write_text(xml)
    run = subprocess.run(["virt-xml-validate", str(f), "storagepool"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr + xml


@pytest.mark.parametrize("ok", ["vda", "vdz", "sda", "sdp", "sdp15", "hda", "hdd", "hdt63", "xvda", "xvda15",
                                "xvdiz", "fda", "fdb"])
def test_names_the_guide_allows(ok):
    assert naming.check_target(ok) == ok


@pytest.mark.parametrize("bad", ["sdq", "hdu", "xvda16", "xvdjz", "vdaa", "fdc", "sda16", "hda64", "nvme0n1"])
def test_names_the_guide_refuses(bad):
    with pytest.raises(InputError) as exc:
        naming.check_target(bad)
    assert exc.value.where == "--target"


def test_ide_has_four_slots():
    assert naming.next_free("hd", {"hda", "hdc"}) == "hdb"
    with pytest.raises(InputError, match="hda-hdd"):
        naming.next_free("hd", {"hda", "hdb", "hdc", "hdd"})


def test_logical_and_iscsi_pool_xml_validates(golden, tmp_path):
    run = golden("pool", "define", "vg1", "--type", "logical", "--vg", "guests", "--device", "/dev/sdb",
                 "--dry-run")
    assert run.code == 0, run.err
    assert "<name>guests</name>" in run.out and "/dev/guests" in run.out
    _validate(run.out, tmp_path)
    run = golden("pool", "define", "tgt1", "--type", "iscsi", "--host", "10.0.0.5",
                 "--iqn", "iqn.2026-12.com.example:storage.disk1", "--dry-run")
    assert run.code == 0, run.err
    assert 'path="iqn.2026-12.com.example:storage.disk1"' in run.out
    _validate(run.out, tmp_path)
    _validate(pool.pool_xml(pool.PoolSpec(name="d", type="iscsi-direct", host="10.0.0.5",
                                          iqn="iqn.2026-12.com.example:d", initiator="iqn.2026-12.com.example:g")),
              tmp_path)


def test_bad_pool_input_names_the_option(golden):
    run = golden("pool", "define", "x", "--type", "iscsi", "--host", "10.0.0.5", "--iqn", "not-an-iqn",
                 "--dry-run")
    assert run.code == 2 and "--iqn" in run.err
    run = golden("pool", "define", "x", "--type", "dir", "--path", "relative/dir", "--dry-run")
    assert run.code == 2 and "--path" in run.err


@pytest.fixture
def test_driver():
    # test:///default keeps its state only while some connection in the process holds it open.
    import libvirt
    conn = libvirt.open(TEST_URI)
    yield conn
    conn.close()


def test_pool_define_list_remove_on_test_driver(golden, test_driver):
    name = _name("lvm")
    run = golden("pool", "define", name, "--type", "logical", "--vg", name, "--no-start", "--json",
                 "-c", TEST_URI)
    assert run.code == 0, run.err
    assert json.loads(run.out)["type"] == "logical"
    listed = json.loads(golden("pool", "list", "--json", "-c", TEST_URI).out)
    assert name in [p["name"] for p in listed]
    again = golden("pool", "define", name, "--type", "logical", "--vg", name, "--no-start", "-c", TEST_URI)
    assert again.code == 2 and "already exists" in again.err
    assert golden("pool", "remove", name, "-c", TEST_URI).code == 0
    listed = json.loads(golden("pool", "list", "--json", "-c", TEST_URI).out)
    assert name not in [p["name"] for p in listed]
    assert golden("pool", "remove", name, "-c", TEST_URI).code == 2


def test_storage_label_plan_without_selinux(golden, tmp_path):
    run = golden("storage", "label", str(tmp_path), "--type", "xen_image_t", "--dry-run")
    assert run.code == 0, run.err
    assert f"semanage fcontext -a -t xen_image_t '{tmp_path.resolve()}(/.*)?'" in run.out
    assert f"restorecon -R -v {tmp_path.resolve()}" in run.out
    assert "SELinux is not enabled" in run.err
    run = golden("storage", "label", str(tmp_path))
    assert run.code == 3 and "SELinux is not enabled" in run.err
    run = golden("storage", "label", str(tmp_path), "--type", "etc_t", "--dry-run")
    assert run.code == 2 and "--type" in run.err


def test_floppy_from_dir_is_2880_sectors(golden, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ks.cfg").write_text("text\n")
    out = tmp_path / "f.img"
    run = golden("media", "floppy", str(out), "--from", str(src), "--json")
    assert run.code == 0, run.err
    assert out.stat().st_size == 2880 * 512
    listing = subprocess.run(["mdir", "-b", "-i", str(out), "::"], capture_output=True, text=True)
    assert "KS.CFG" in listing.stdout.upper(), listing.stderr
    info = subprocess.run(["minfo", "-i", str(out), "::"], capture_output=True, text=True).stdout
    assert "FAT12" in info or "fat12" in info.lower()
