"""golden inspect and seal on real Debian 12 guests whose root is a btrfs subvolume or an MD RAID1 array.

The guests come from debian_layouts.py (cached across sessions). What a
user sees: inspect finds the OS and each fstab mount with its subvolume;
seal resets the identity inside subvolume @ and leaves @home's files; the
loop backend, which cannot take these layouts, says so and names the fix.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from debian_layouts import BTRFS_HOST, BTRFS_ID, HOME_FILE, HOME_TEXT, MD_HOST, MD_ID, layout_guests  # noqa: F401
from debian_guest import _appliance
from tests.conftest import golden_bin

pytestmark = pytest.mark.system


def _copy(src, dst):
    subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(src), str(dst)], check=True)
    return dst


def _inspect(disk):
    run = golden_bin("inspect", disk, "--json", timeout=900)
    assert run.code == 0, f"golden inspect failed ({run.code}):\n{run.err}"
    return json.loads(run.out)


def test_inspect_btrfs_subvolume_root(layout_guests, tmp_path):  # noqa: F811
    r = _inspect(_copy(layout_guests.btrfs, tmp_path / "btrfs.raw"))
    assert r["backend"] == "guestfs"          # auto: the loop backend leaves btrfs alone
    assert (r["os"]["distro"], r["os"]["major"]) == ("debian", 12)
    assert r["hostname"] == BTRFS_HOST
    assert [(m["mountpoint"], m["device"], m["fstype"], m["subvol"]) for m in r["mountpoints"]] == [
        ("/", "/dev/sda1", "btrfs", "subvol=@"), ("/home", "/dev/sda1", "btrfs", "subvol=@home")]
    assert r["identity"]["machine_id"]["value"] == BTRFS_ID
    assert len(r["identity"]["ssh_host_keys"]) == len(layout_guests.facts["btrfs"]["host_keys"]) > 0


def test_inspect_md_raid1_root(layout_guests, tmp_path):  # noqa: F811
    r = _inspect(_copy(layout_guests.md, tmp_path / "md.raw"))
    assert r["backend"] == "guestfs"
    assert (r["os"]["distro"], r["os"]["major"]) == ("debian", 12)
    assert r["hostname"] == MD_HOST
    [root] = r["mountpoints"]
    assert root["mountpoint"] == "/" and root["device"].startswith("/dev/md") and root["fstype"] == "ext4"
    fs = {f["device"]: f for f in r["filesystems"]}
    assert fs[root["device"]]["uuid"] == layout_guests.facts["md"]["uuid"]
    assert "/dev/sda1" not in fs and "/dev/sda2" not in fs     # array members are not file systems
    assert r["identity"]["machine_id"]["value"] == MD_ID


@pytest.mark.parametrize("layout, found", [("btrfs", "found btrfs on /dev/sda1"),
                                           ("md", "found MD RAID members /dev/sda1, /dev/sda2")])
def test_loop_backend_refuses_with_the_fix(layout_guests, tmp_path, layout, found):  # noqa: F811
    disk = _copy(getattr(layout_guests, layout), tmp_path / f"{layout}.raw")
    run = golden_bin("inspect", disk, "--backend", "loop", timeout=300)
    assert run.code == 2, (run.code, run.err)
    assert str(disk) in run.err and found in run.err and "--backend guestfs" in run.err, run.err
    assert "no Linux root" not in run.err


@pytest.fixture(scope="module")
def sealed(layout_guests, tmp_path_factory):  # noqa: F811
    """Both guests sealed by `golden seal`, then read back in one appliance: {layout: what is inside}."""
    work = tmp_path_factory.mktemp("layouts-sealed")
    disks = {n: _copy(getattr(layout_guests, n), work / f"{n}.raw") for n in ("btrfs", "md")}
    for n, disk in disks.items():
        run = golden_bin("seal", disk, "--json", timeout=1200)
        assert run.code == 0, f"golden seal of the {n} guest failed ({run.code}):\n{run.err}\n{run.out}"
    g = _appliance()
    for disk in disks.values():
        g.add_drive_opts(str(disk), format="raw", readonly=True)
    g.launch()
    try:
        seen = {}
        g.mount_options("ro,subvol=@", "/dev/sda1", "/")
        g.mount_options("ro,subvol=@home", "/dev/sda1", "/home")
        seen["btrfs"] = {"machine_id": g.read_file("/etc/machine-id"), "keys": g.glob_expand("/etc/ssh/ssh_host_*"),
                         "home": g.read_file(HOME_FILE).decode()}
        g.umount_all()
        g.mount_ro("/dev/sda1", "/")           # the top level: seal must not have written here
        seen["btrfs"]["top"] = sorted(g.ls("/"))
        g.umount_all()
        [md] = g.list_md_devices()
        g.mount_ro(md, "/")
        seen["md"] = {"machine_id": g.read_file("/etc/machine-id"), "keys": g.glob_expand("/etc/ssh/ssh_host_*")}
        g.umount_all()
        g.shutdown()
    finally:
        g.close()
    return seen


def test_seal_resets_identity_inside_subvolume_at(sealed):
    b = sealed["btrfs"]
    assert b["machine_id"].strip() == b"", b["machine_id"]
    assert b["keys"] == []
    assert b["home"] == HOME_TEXT
    assert b["top"] == ["@", "@home"]


def test_seal_resets_identity_on_md_root(sealed):
    assert sealed["md"]["machine_id"].strip() == b""
    assert sealed["md"]["keys"] == []
