"""A real Debian 12 guest spread over two disks: the root on the first, /var on the second.

Same root tree as debian_layouts.py (its cached mmdebstrap tarball), laid onto
two raw disks inside one libguestfs appliance launch:

- sys.raw: one partition, ext4, everything but /var; fstab names both file
  systems by UUID.
- var.raw: one partition, ext4, /var: the dpkg database, the logs, the
  systemd journal's home. Without this disk golden sees no packages and no
  logs, so a test can tell the two-disk guest was opened whole.

It boots (direct kernel boot of its own kernel and initrd, `root=UUID=`),
with the same networkd setup and probe unit as debian_guest.py, and runs
the QEMU guest agent. Cached under
CACHE by this file's text and the package list.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from debian_guest import CACHE, configure
from debian_layouts import LAYOUT_PACKAGES, cached_disks, tarball

# qemu-guest-agent: `golden verify` asks this guest through the agent (the LVM guest answers
# through the beacon). Its udev rule starts it when the clone's agent channel appears.
PACKAGES = (*LAYOUT_PACKAGES, "qemu-guest-agent")
HOSTNAME = "debtwodisk"
MACHINE_ID = "2d15c0de2d15c0de2d15c0de2d15c0de"
SYS_SIZE = 3 << 30
VAR_SIZE = 1 << 30
# Left in /var/log on the second disk: seal's logfiles operation must empty it there.
VAR_LOG = "/var/log/golden-template.log"


@dataclass
class TwoDiskGuest:
    sys: Path               # raw; copy or overlay before writing
    var: Path
    kernel: Path
    initrd: Path
    cmdline: str
    facts: dict             # sys_uuid, var_uuid, packages, host_keys


def _fill(g, tar: Path) -> dict:
    for dev in ("/dev/sda", "/dev/sdb"):
        g.part_disk(dev, "mbr")
        g.mkfs("ext4", f"{dev}1")
    g.mount("/dev/sda1", "/")
    g.mkdir("/var")
    g.mount("/dev/sdb1", "/var")
    g.tar_in(str(tar), "/", xattrs=True, acls=True)
    facts = {"sys_uuid": g.vfs_uuid("/dev/sda1"), "var_uuid": g.vfs_uuid("/dev/sdb1")}
    configure(g, HOSTNAME, MACHINE_ID, f"UUID={facts['sys_uuid']} / ext4 errors=remount-ro 0 1\n"
                                       f"UUID={facts['var_uuid']} /var ext4 defaults 0 2\n")
    g.write(VAR_LOG, "the template's own log line\n")
    facts["packages"] = len([s for s in g.sh("dpkg-query -W -f='${db:Status-Abbrev}\\n'").splitlines()
                             if s.startswith("ii")])
    facts["host_keys"] = {p: hashlib.sha256(g.read_file(p)).hexdigest()
                          for p in sorted(g.glob_expand("/etc/ssh/ssh_host_*_key.pub"))}
    g.umount_all()
    return facts


def _boot_files(tar: Path, out: Path) -> tuple[Path, Path]:
    """The tree's kernel and initrd, read from the tarball (the disks hold the same files)."""
    kernel, initrd = out / "vmlinuz", out / "initrd.img"
    if not (kernel.exists() and initrd.exists()):
        with tarfile.open(tar) as t:
            names = t.getnames()
            for want, dest in (("boot/vmlinuz-", kernel), ("boot/initrd.img-", initrd)):
                name = next(n for n in names if n.lstrip("./").startswith(want))
                tmp = dest.with_suffix(".tmp")
                with t.extractfile(name) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(tmp, dest)
    return kernel, initrd


def build(cache: Path = CACHE) -> TwoDiskGuest:
    final, facts = cached_disks("debian12-twodisk", Path(__file__), [("sys.raw", SYS_SIZE), ("var.raw", VAR_SIZE)],
                                _fill, cache, PACKAGES)
    kernel, initrd = _boot_files(tarball(cache, PACKAGES), final)
    return TwoDiskGuest(sys=final / "sys.raw", var=final / "var.raw", kernel=kernel, initrd=initrd,
                        cmdline=f"root=UUID={facts['sys_uuid']} ro console=ttyS0 panic=-1", facts=facts)


@pytest.fixture(scope="session")
def twodisk_guest() -> TwoDiskGuest:
    """The cached two-disk Debian 12 guest (built on first use; minutes)."""
    if os.geteuid() != 0:
        pytest.fail("the two-disk Debian guest needs root (mmdebstrap, the appliance's tar_in)")
    if shutil.which("mmdebstrap") is None:
        pytest.fail("mmdebstrap is not installed: run scripts/bootstrap.sh")
    return build()
