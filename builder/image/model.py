"""What a guest disk holds, as both backends report it.

The two backends fill these from different readers (Python parsers and blkid
for the loop backend, the appliance's parted/blkid/LVM for guestfs); the
equivalence test compares them field by field, so every field here must be
something both can know exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Partition:
    device: str          # guest-neutral name: /dev/sda1, /dev/sdb1 (the guest's disks in order: sda, sdb, ...)
    number: int
    start: int           # bytes from the start of the disk
    size: int            # bytes
    kind: str            # primary | extended | logical | gpt
    type: str            # MBR id as "0x83", or the GPT type GUID (upper case)
    uuid: str            # GPT partition GUID, or the MBR PARTUUID "1234abcd-01"
    name: str = ""       # GPT partition name
    bootable: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Filesystem:
    device: str          # /dev/sda1, /dev/VG/LV or /dev/sda (no partition table)
    fstype: str          # ext4, xfs, swap, vfat, ...
    label: str
    uuid: str
    size: int            # bytes of the partition or LV holding it

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PhysicalVolume:
    device: str
    uuid: str
    vg: str


@dataclass(frozen=True)
class LogicalVolume:
    name: str
    vg: str
    path: str            # /dev/VG/LV
    uuid: str
    size: int


@dataclass(frozen=True)
class VolumeGroup:
    name: str
    uuid: str
    extent_size: int
    size: int
    pvs: tuple[str, ...]


@dataclass(frozen=True)
class LvmInfo:
    vgs: tuple[VolumeGroup, ...] = ()
    lvs: tuple[LogicalVolume, ...] = ()
    pvs: tuple[PhysicalVolume, ...] = ()

    def to_dict(self) -> dict:
        return {
            "vgs": [dict(asdict(v), pvs=list(v.pvs)) for v in self.vgs],
            "lvs": [asdict(lv) for lv in self.lvs],
            "pvs": [asdict(p) for p in self.pvs],
        }


@dataclass(frozen=True)
class Mount:
    mountpoint: str
    device: str
    fstype: str
    subvol: str = ""     # btrfs: the fstab's "subvol=@" or "subvolid=256" option this mount uses

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Stat:
    """The part of stat(2) both backends report identically."""

    mode: int            # full st_mode, type bits included
    uid: int
    gid: int
    size: int
    nlink: int
    mtime: int
    dev: int = 0         # with ino: which hard links are one file (meaningful within one backend only)
    ino: int = 0

    @property
    def perms(self) -> int:
        return self.mode & 0o7777

    @property
    def is_dir(self) -> bool:
        return (self.mode & 0o170000) == 0o040000

    @property
    def is_file(self) -> bool:
        return (self.mode & 0o170000) == 0o100000

    @property
    def is_symlink(self) -> bool:
        return (self.mode & 0o170000) == 0o120000


@dataclass
class Layout:
    """Everything a backend found on a guest's disks, plus where it mounted what."""

    partitions: list[Partition] = field(default_factory=list)
    filesystems: list[Filesystem] = field(default_factory=list)
    lvm: LvmInfo = field(default_factory=LvmInfo)
    mounts: list[Mount] = field(default_factory=list)
    root: str | None = None
    root_subvol: str = ""     # btrfs: the subvolume option under which the root was found
    notes: list[str] = field(default_factory=list)
    # Layers a backend saw but could not open ("LUKS container /dev/sda2 (no key given)"),
    # named when no root is found.
    unopened: list[str] = field(default_factory=list)
    # The guest's own device-mapper names for opened LUKS containers, from its /etc/crypttab
    # ("/dev/mapper/root_crypt" -> "/dev/mapper/luks0-sda2"), so fstab entries naming them resolve.
    mapper_names: dict[str, str] = field(default_factory=dict)
