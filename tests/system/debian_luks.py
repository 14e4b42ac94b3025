"""A real Debian 12 guest whose root is ext4 inside LUKS2, /boot a plain ext4 partition.

Same root tree as debian_layouts.py (its cached mmdebstrap tarball), laid
onto luks.raw inside one libguestfs appliance launch (this host has no
device-mapper of its own):

- /dev/sda1: ext4, /boot.
- /dev/sda2: LUKS2 (cryptsetup's defaults) opened with PASSPHRASE, ext4 inside
  holding /; /etc/crypttab names the container by its LUKS UUID and fstab
  names both file systems by UUID.

Not made to boot (no initrd with cryptsetup); for inspect, seal and customize.
Cached under CACHE by this file's text and the package list, apart from the
btrfs/MD guests so a change here does not rebuild those.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from debian_guest import CACHE
from debian_layouts import _identity, cached_disks

PASSPHRASE = "correct horse battery staple 42"
LUKS_HOST = "debluks"
LUKS_ID = "c0ffee00c0ffee00c0ffee00c0ffee00"
LUKS_SIZE = 3 << 30
BOOT_SECTORS = (256 << 20) // 512


@dataclass
class LuksGuest:
    disk: Path              # raw; copy before writing
    facts: dict             # luks_uuid, root_uuid, boot_uuid, host_keys


def _fill(g, tar: Path, dev: str) -> dict:
    g.part_init(dev, "mbr")
    g.part_add(dev, "p", 2048, 2048 + BOOT_SECTORS - 1)
    g.part_add(dev, "p", 2048 + BOOT_SECTORS, -1)
    boot, crypt = f"{dev}1", f"{dev}2"
    g.mkfs("ext4", boot)
    g.luks_format(crypt, PASSPHRASE, 0)
    g.luks_open(crypt, PASSPHRASE, "root")
    root = "/dev/mapper/root"
    g.mkfs("ext4", root)
    g.mount(root, "/")
    g.mkdir_p("/boot")
    g.mount(boot, "/boot")
    g.tar_in(str(tar), "/", xattrs=True, acls=True)
    facts = {"luks_uuid": g.luks_uuid(crypt), "root_uuid": g.vfs_uuid(root), "boot_uuid": g.vfs_uuid(boot)}
    g.write("/etc/crypttab", f"root_crypt UUID={facts['luks_uuid']} none luks,discard\n")
    facts["host_keys"] = _identity(g, LUKS_HOST, LUKS_ID,
                                   f"UUID={facts['root_uuid']} / ext4 errors=remount-ro 0 1\n"
                                   f"UUID={facts['boot_uuid']} /boot ext4 defaults 0 2\n")
    g.umount_all()
    g.luks_close(root)
    return facts


def build(cache: Path = CACHE) -> LuksGuest:
    final, facts = cached_disks("debian12-luks", Path(__file__), [("luks.raw", LUKS_SIZE)],
                                lambda g, tar: _fill(g, tar, "/dev/sda"), cache)
    return LuksGuest(disk=final / "luks.raw", facts=facts)


@pytest.fixture(scope="session")
def luks_guest() -> LuksGuest:
    """The cached Debian 12 guest with its root inside LUKS2 (built on first use; minutes)."""
    if os.geteuid() != 0:
        pytest.fail("the Debian LUKS guest needs root (the appliance's tar_in of a root tree)")
    if shutil.which("mmdebstrap") is None:
        pytest.fail("mmdebstrap is not installed: run scripts/bootstrap.sh")
    return build()
