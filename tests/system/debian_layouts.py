"""Real Debian 12 guests on the layouts LVM does not cover: a btrfs root with subvolumes, an MD RAID1 root.

Same root tree as debian_guest.py (mmdebstrap, its package list plus
btrfs-progs and mdadm, cached as a tarball), laid onto two disks inside one
libguestfs appliance launch, because this host has no device-mapper:

- btrfs.raw: one partition, btrfs with subvolumes @ (mounted at /) and @home
  (at /home), fstab naming both by UUID with subvol=; the top level holds
  nothing but the two subvolumes, so mounting the default subvolume finds no OS.
- md.raw: two partitions (type 0xfd) in an MD RAID1 array (metadata 1.2), ext4
  on the array, /etc/mdadm/mdadm.conf with the array's ARRAY line.

These guests are not made to boot (no initrd is rebuilt for the new root);
they are for inspect and seal. Cached under CACHE by this file's text and the
package list, like debian_guest.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from debian_guest import CACHE, PACKAGES, SUITE, _appliance, mmdebstrap

LAYOUT_PACKAGES = (*PACKAGES, "btrfs-progs", "mdadm")
BTRFS_HOST = "debbtrfs"
MD_HOST = "debraid"
BTRFS_ID = "b7f5e3d1c2a4968778695a4b3c2d1e0f"
MD_ID = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
# A user's file in @home: seal must leave it where it is.
HOME_FILE = "/home/user/notes.txt"
HOME_TEXT = "kept across seal\n"
BTRFS_SIZE = 2 << 30
MD_SIZE = 3 << 30


@dataclass
class LayoutGuests:
    btrfs: Path             # raw; copy before writing
    md: Path
    facts: dict             # per layout: fs uuid, host key digests, md array uuid


def tarball(cache: Path, packages: tuple[str, ...] = LAYOUT_PACKAGES) -> Path:
    key = hashlib.sha256("\n".join((SUITE, *packages)).encode()).hexdigest()[:16]
    path = cache / f"debian12-rootfs-{key}.tar"
    if not path.exists():
        import debian_guest
        saved = debian_guest.PACKAGES
        debian_guest.PACKAGES = packages              # mmdebstrap reads the module's list
        try:
            mmdebstrap(path)
        finally:
            debian_guest.PACKAGES = saved
    return path


def _identity(g, hostname: str, machine_id: str, fstab: str) -> dict:
    g.write("/etc/hostname", f"{hostname}\n")
    g.write("/etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n")
    g.write("/etc/machine-id", f"{machine_id}\n")
    g.write("/etc/fstab", fstab)
    return {p: hashlib.sha256(g.read_file(p)).hexdigest() for p in sorted(g.glob_expand("/etc/ssh/ssh_host_*_key.pub"))}


def _btrfs(g, tar: Path, dev: str) -> dict:
    g.part_disk(dev, "mbr")
    part = f"{dev}1"
    g.mkfs_btrfs([part])
    g.mount(part, "/")
    g.btrfs_subvolume_create("/@")
    g.btrfs_subvolume_create("/@home")
    g.umount_all()
    g.mount_options("subvol=@", part, "/")
    g.tar_in(str(tar), "/", xattrs=True, acls=True)
    g.mkdir_p("/home")
    g.mount_options("subvol=@home", part, "/home")
    g.mkdir_p("/home/user")
    g.write(HOME_FILE, HOME_TEXT)
    uuid = g.vfs_uuid(part)
    keys = _identity(g, BTRFS_HOST, BTRFS_ID,
                     f"UUID={uuid} / btrfs defaults,subvol=@ 0 0\nUUID={uuid} /home btrfs defaults,subvol=/@home 0 0\n")
    g.umount_all()
    return {"uuid": uuid, "host_keys": keys}


def _md(g, tar: Path, dev: str) -> dict:
    g.part_init(dev, "mbr")
    half = (MD_SIZE // 512 - 4096) // 2
    for n, start in ((1, 2048), (2, 2048 + half)):
        g.part_add(dev, "p", start, start + half - 1)
        g.part_set_mbr_id(dev, n, 0xFD)
    g.md_create("md0", [f"{dev}1", f"{dev}2"], level="raid1")
    array = "/dev/md/md0"
    g.mkfs("ext4", array)
    g.mount(array, "/")
    g.tar_in(str(tar), "/", xattrs=True, acls=True)
    uuid = g.vfs_uuid(array)
    md_uuid = g.md_detail(array)["uuid"]
    g.write("/etc/mdadm/mdadm.conf", f"HOMEHOST <system>\nMAILADDR root\nARRAY /dev/md0 metadata=1.2 UUID={md_uuid}\n")
    keys = _identity(g, MD_HOST, MD_ID, f"UUID={uuid} / ext4 errors=remount-ro 0 1\n")
    g.umount_all()
    return {"uuid": uuid, "md_uuid": md_uuid, "host_keys": keys}


def cached_disks(prefix: str, recipe: Path, disks: list[tuple[str, int]], fill,
                 cache: Path = CACHE, packages: tuple[str, ...] = LAYOUT_PACKAGES) -> tuple[Path, dict]:
    """Blank raw `disks` filled by `fill(g, tarball)` in one appliance launch (each costs about 30 s
    under TCG), cached as CACHE/PREFIX-KEY by the package list and the `recipe` file that fills them.
    Returns that folder and the facts `fill` returned."""
    cache.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256("\n".join((SUITE, *packages)).encode())
    h.update(recipe.read_bytes())
    final = cache / f"{prefix}-{h.hexdigest()[:16]}"
    meta = final / "guests.json"
    if not meta.exists():
        tar = tarball(cache, packages)
        work = Path(tempfile.mkdtemp(prefix=final.name + ".tmp", dir=cache))
        try:
            for name, size in disks:
                with open(work / name, "wb") as f:
                    f.truncate(size)
            g = _appliance()
            for name, _ in disks:
                g.add_drive_opts(str(work / name), format="raw")
            g.launch()
            try:
                facts = fill(g, tar)
                g.shutdown()
            finally:
                g.close()
            (work / "guests.json").write_text(json.dumps(facts, indent=1))
            try:
                os.rename(work, final)
            except OSError:             # another session cached it first
                if not meta.exists():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final, json.loads(meta.read_text())


def build(cache: Path = CACHE) -> LayoutGuests:
    final, facts = cached_disks("debian12-layouts", Path(__file__),
                                [("btrfs.raw", BTRFS_SIZE), ("md.raw", MD_SIZE)],
                                lambda g, tar: {"btrfs": _btrfs(g, tar, "/dev/sda"), "md": _md(g, tar, "/dev/sdb")},
                                cache)
    return LayoutGuests(btrfs=final / "btrfs.raw", md=final / "md.raw", facts=facts)


@pytest.fixture(scope="session")
def layout_guests() -> LayoutGuests:
    """The cached btrfs-subvolume and MD-RAID1 Debian 12 guests (built on first use; minutes)."""
    if os.geteuid() != 0:
        pytest.fail("the Debian layout guests need root (mmdebstrap, the appliance's tar_in)")
    if shutil.which("mmdebstrap") is None:
        pytest.fail("mmdebstrap is not installed: run scripts/bootstrap.sh")
    return build()
