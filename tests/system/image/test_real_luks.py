"""golden inspect, seal and customize on a real Debian 12 guest whose root is ext4 inside LUKS2.

The guest comes from debian_luks.py (cached across sessions). What a user
sees: without a key, exit 2 naming the container; with --key (a passphrase or
a key file, by device or by LUKS UUID) the OS is found and seal resets the
identity inside the container; a wrong key is exit 2 naming the container;
the passphrase shows in no output; the loop backend says it cannot and names
the fix.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from debian_guest import _appliance
from debian_luks import LUKS_HOST, LUKS_ID, PASSPHRASE, luks_guest  # noqa: F401
from tests.conftest import golden_bin

pytestmark = pytest.mark.system

KEY = f"/dev/sda2:key:{PASSPHRASE}"


def _copy(src, dst):
    subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(src), str(dst)], check=True)
    return dst


def _no_secret(run):
    assert PASSPHRASE not in run.out and PASSPHRASE not in run.err


@pytest.fixture(scope="module")
def disk(luks_guest, tmp_path_factory):  # noqa: F811
    """One read-only copy for the inspect tests (inspect never writes)."""
    return _copy(luks_guest.disk, tmp_path_factory.mktemp("luks") / "luks.raw")


def test_inspect_without_a_key_names_the_container(disk):
    run = golden_bin("inspect", disk, timeout=900)
    assert run.code == 2, (run.code, run.err)
    assert "LUKS container /dev/sda2 (no key given)" in run.err and str(disk) in run.err, run.err


def test_inspect_with_the_passphrase_finds_the_os(disk, luks_guest):  # noqa: F811
    run = golden_bin("inspect", disk, "--json", "--key", KEY, timeout=900)
    assert run.code == 0, f"golden inspect failed ({run.code}):\n{run.err}"
    _no_secret(run)
    r = json.loads(run.out)
    assert r["backend"] == "guestfs"
    assert (r["os"]["distro"], r["os"]["major"]) == ("debian", 12)
    assert r["hostname"] == LUKS_HOST
    assert r["identity"]["machine_id"]["value"] == LUKS_ID
    mounts = {m["mountpoint"]: m for m in r["mountpoints"]}
    assert mounts["/"]["device"].startswith("/dev/mapper/") and mounts["/boot"]["device"] == "/dev/sda1"
    fs = {f["device"]: f for f in r["filesystems"]}
    assert fs[mounts["/"]["device"]]["uuid"] == luks_guest.facts["root_uuid"]
    assert len(r["identity"]["ssh_host_keys"]) == len(luks_guest.facts["host_keys"]) > 0


def test_inspect_with_a_key_file_by_luks_uuid(disk, luks_guest, tmp_path):  # noqa: F811
    keyfile = tmp_path / "luks.pass"
    keyfile.write_text(PASSPHRASE + "\n")
    keyfile.chmod(0o600)
    run = golden_bin("inspect", disk, "--key", f"{luks_guest.facts['luks_uuid']}:file:{keyfile}", timeout=900)
    assert run.code == 0, f"golden inspect failed ({run.code}):\n{run.err}"
    _no_secret(run)
    assert LUKS_HOST in run.out


def test_wrong_key_is_refused_without_echoing_it(disk):
    wrong = "not-the-passphrase-7781"
    run = golden_bin("inspect", disk, "--key", f"all:key:{wrong}", timeout=900)
    assert run.code == 2, (run.code, run.err)
    assert "wrong key for LUKS container /dev/sda2" in run.err, run.err
    assert wrong not in run.out + run.err


def test_loop_backend_refuses_with_the_fix(disk):
    run = golden_bin("inspect", disk, "--backend", "loop", timeout=300)
    assert run.code == 2, (run.code, run.err)
    assert "found LUKS container /dev/sda2" in run.err and "--backend guestfs" in run.err, run.err
    run = golden_bin("inspect", disk, "--backend", "loop", "--key", KEY, timeout=300)
    assert run.code == 2 and "--backend guestfs" in run.err, run.err
    _no_secret(run)


def test_seal_and_customize_write_inside_the_container(luks_guest, tmp_path):  # noqa: F811
    disk = _copy(luks_guest.disk, tmp_path / "luks.raw")
    runs = [golden_bin("seal", disk, "--json", "--key", KEY, timeout=1200),
            golden_bin("customize", disk, "--hostname", "luks-golden", "--json", "--key", KEY, timeout=1200)]
    for run in runs:
        assert run.code == 0, f"golden failed ({run.code}):\n{run.err}\n{run.out}"
        _no_secret(run)
        assert PASSPHRASE not in json.dumps(json.loads(run.out))
    g = _appliance()
    g.add_drive_opts(str(disk), format="raw", readonly=True)
    g.launch()
    try:
        g.cryptsetup_open("/dev/sda2", PASSPHRASE, "back", readonly=True)
        g.mount_ro("/dev/mapper/back", "/")
        machine_id, hostname = g.read_file("/etc/machine-id"), g.read_file("/etc/hostname")
        host_keys = g.glob_expand("/etc/ssh/ssh_host_*")
        g.umount_all()
        g.shutdown()
    finally:
        g.close()
    assert machine_id.strip() == b"", machine_id
    assert hostname.strip() == b"luks-golden"
    assert host_keys == []


def test_fstab_naming_the_crypttab_mapping_resolves(luks_guest, tmp_path):  # noqa: F811
    """Debian's installer writes `/dev/mapper/NAME` (crypttab's NAME) into fstab, not a UUID."""
    disk = _copy(luks_guest.disk, tmp_path / "luks.raw")
    fstab = (f"/dev/mapper/root_crypt / ext4 errors=remount-ro 0 1\n"
             f"UUID={luks_guest.facts['boot_uuid']} /boot ext4 defaults 0 2\n")
    run = golden_bin("customize", disk, "--write", f"/etc/fstab:{fstab}", "--key", KEY, timeout=900)
    assert run.code == 0, run.err
    run = golden_bin("inspect", disk, "--json", "--key", KEY, timeout=900)
    assert run.code == 0, run.err
    r = json.loads(run.out)
    root = next(m["device"] for m in r["mountpoints"] if m["mountpoint"] == "/")
    assert [(e["spec"], e["device"]) for e in r["fstab"]] == [
        ("/dev/mapper/root_crypt", root), (f"UUID={luks_guest.facts['boot_uuid']}", "/dev/sda1")]


def test_clone_with_a_key_names_the_clone_inside_the_container(luks_guest, libvirt_up, vm_dirs):  # noqa: F811
    from demo_build import unique_name
    work = vm_dirs("luks-clone")
    base = _copy(luks_guest.disk, work / "luks.raw")
    name = unique_name("t-luks")
    run = golden_bin("clone", base, "--name", f"{name}-{{n}}", "--dir", work / "clones", "--key", KEY, "--json",
                     timeout=900)
    try:
        assert run.code == 0, f"golden clone failed ({run.code}):\n{run.err}"
        _no_secret(run)
        disk = json.loads(run.out)[0]["disks"][0]
        g = _appliance()
        g.add_drive_opts(disk, format="qcow2", readonly=True)
        g.launch()
        try:
            g.cryptsetup_open("/dev/sda2", PASSPHRASE, "back", readonly=True)
            g.mount_ro("/dev/mapper/back", "/")
            hostname = g.read_file("/etc/hostname").decode().strip()
        finally:
            g.close()
        assert hostname == f"{name}-1"
        loop = golden_bin("clone", base, "--name", name + "-x{n}", "--dir", work / "x", "--key", KEY,
                          "--backend", "loop", timeout=300)
        assert loop.code == 2 and "--backend guestfs" in loop.err, loop.err
        _no_secret(loop)
    finally:
        golden_bin("clone", "--remove-batch", work / "clones", timeout=300)
