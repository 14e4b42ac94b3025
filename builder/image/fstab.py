"""The guest's /etc/fstab: parse it and turn it into a mount plan for this disk."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from builder.image.model import Filesystem, Mount, Partition

# Entries that never name a block device on this disk.
_VIRTUAL = {"proc", "sysfs", "devpts", "tmpfs", "devtmpfs", "usbfs", "binfmt_misc", "cgroup",
            "debugfs", "securityfs", "mqueue", "hugetlbfs", "nfs", "nfs4", "cifs", "smbfs",
            "none", "rpc_pipefs", "fuse", "autofs"}
_DISK_NAME = re.compile(r"^/dev/(?:[shv]d|xvd)([a-z]+)(\d+)?$")
_CCISS = re.compile(r"^/dev/(?:cciss|ida)/c0d(\d+)(?:p(\d+))?$")
_MD = re.compile(r"^/dev/md(?:\d+|/[^/]+)$")


@dataclass(frozen=True)
class FstabEntry:
    spec: str
    mountpoint: str
    fstype: str
    options: str
    dump: int
    passno: int

    def to_dict(self) -> dict:
        return asdict(self)


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_fstab(text: str) -> list[FstabEntry]:
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        fields += ["auto", "defaults", "0", "0"][len(fields) - 2:]
        dump = int(fields[4]) if fields[4].isdigit() else 0
        passno = int(fields[5]) if fields[5].isdigit() else 0
        entries.append(FstabEntry(_unescape(fields[0]), _unescape(fields[1]), fields[2],
                                  fields[3], dump, passno))
    return entries


def subvolume(options: str) -> str:
    """The btrfs subvolume an fstab options field selects, as one mount option ("" for the default).

    `subvol=` wins over `subvolid=` when both are given, as in the kernel
    when they agree; a leading slash is dropped so "/@" and "@" compare equal.
    """
    chosen = ""
    for opt in options.split(","):
        key, sep, value = opt.partition("=")
        if not sep or not value:
            continue
        if key == "subvol":
            return f"subvol={value.lstrip('/') or '/'}"
        if key == "subvolid" and not chosen and value.isdigit():
            chosen = f"subvolid={int(value)}"
    return chosen


def _mapper_name(name: str) -> tuple[str, str] | None:
    """VG and LV from a device-mapper name: dashes inside names are doubled."""
    parts = re.split(r"(?<!-)-(?!-)", name)
    if len(parts) != 2:
        return None
    return parts[0].replace("--", "-"), parts[1].replace("--", "-")


def crypttab_names(text: str, containers: dict[str, tuple[str, str]], filesystems: list[Filesystem],
                   partitions: list[Partition]) -> dict[str, str]:
    """/dev/mapper/NAME -> the opened container's device, for each crypttab line whose source was opened.

    `containers` maps a LUKS container (our /dev/sdaN naming) to (its LUKS
    UUID, the device it was opened as). A source is UUID=, PARTUUID=,
    PARTLABEL= or a device path, as systemd-cryptsetup reads it.
    """
    by_uuid = {uuid.lower(): dev for dev, (uuid, _) in containers.items() if uuid}
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0].startswith("#"):
            continue
        name, source = fields[0], fields[1]
        key, sep, value = source.partition("=")
        if sep and key == "UUID":
            dev = by_uuid.get(value.strip('"').lower())
        else:
            # The container is no file system: resolve a device name against the partitions.
            dev = resolve_spec(source, [Filesystem(p.device, "crypto_LUKS", "", "", p.size) for p in partitions]
                               + filesystems, partitions)
        if dev in containers:
            out[f"/dev/mapper/{name}"] = containers[dev][1]
    return out


def resolve_spec(spec: str, filesystems: list[Filesystem], partitions: list[Partition],
                 mapper_names: dict[str, str] | None = None) -> str | None:
    """The device (in our /dev/sdaN, /dev/sdbN, /dev/VG/LV naming) an fstab spec refers to.

    `mapper_names` are the guest's crypttab names of opened LUKS containers (Layout.mapper_names).
    """
    by_dev = {f.device: f for f in filesystems}
    if mapper_names and spec in mapper_names:
        return mapper_names[spec] if mapper_names[spec] in by_dev else None
    key, sep, value = spec.partition("=")
    if sep and key in ("UUID", "LABEL", "PARTUUID", "PARTLABEL"):
        value = value.strip('"')
    elif spec.startswith("/dev/disk/by-uuid/"):
        key, value = "UUID", spec.rsplit("/", 1)[1]
    elif spec.startswith("/dev/disk/by-label/"):
        key, value = "LABEL", re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)),
                                     spec.rsplit("/", 1)[1])
    elif spec.startswith("/dev/disk/by-partuuid/"):
        key, value = "PARTUUID", spec.rsplit("/", 1)[1]
    else:
        key = ""
    if key == "UUID":
        for f in filesystems:
            if f.uuid and f.uuid.lower() == value.lower():
                return f.device
        return None
    if key == "LABEL":
        for f in filesystems:
            if f.label == value:
                return f.device
        return None
    if key in ("PARTUUID", "PARTLABEL"):
        for p in partitions:
            if (key == "PARTUUID" and p.uuid.lower() == value.lower()) or \
               (key == "PARTLABEL" and p.name == value):
                return p.device
        return None
    if spec.startswith("/dev/mapper/"):
        vg_lv = _mapper_name(spec[len("/dev/mapper/"):])
        if vg_lv:
            dev = f"/dev/{vg_lv[0]}/{vg_lv[1]}"
            return dev if dev in by_dev else None
        return None
    m = _DISK_NAME.match(spec)
    n = _CCISS.match(spec)
    if m or n:
        # The guest's n-th disk is our /dev/sd<n>, whatever bus named it (vdb, xvdb, hdb, cciss/c0d1).
        letters = m.group(1) if m else None
        index = int(n.group(1)) if n else None
        if letters is not None and len(letters) == 1:
            index = ord(letters) - ord("a")
        number = (m.group(2) if m else n.group(2))
        if index is None or index >= 26:
            return None
        dev = f"/dev/sd{chr(ord('a') + index)}{number or ''}"
        return dev if dev in by_dev else None
    if _MD.match(spec):
        return spec if spec in by_dev else None
    if spec.startswith("/dev/") and spec.count("/") == 3:
        return spec if spec in by_dev else None          # /dev/VG/LV
    return None


def mount_plan(entries: list[FstabEntry], filesystems: list[Filesystem], partitions: list[Partition],
               root_device: str, root_subvol: str = "",
               mapper_names: dict[str, str] | None = None) -> tuple[list[Mount], list[str]]:
    """Root first, then every fstab file system on the guest's disks, parents before children.

    One btrfs file system can stand in several entries, one per subvolume: an
    entry is a (device, subvolume) pair, and each keeps its fstab subvolume option.
    """
    by_dev = {f.device: f for f in filesystems}
    mounts = [Mount("/", root_device, by_dev[root_device].fstype, root_subvol)]
    notes = []
    used = {(root_device, root_subvol)}
    for e in entries:
        if e.mountpoint == "/" or not e.mountpoint.startswith("/"):
            continue
        if e.fstype in ("swap",) or e.fstype in _VIRTUAL:
            continue
        opts = e.options.split(",")
        if "noauto" in opts or "bind" in opts or "rbind" in opts:
            continue
        device = resolve_spec(e.spec, filesystems, partitions, mapper_names)
        if device is None:
            if e.spec.startswith(("UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "/dev/")):
                notes.append(f"fstab: {e.spec} for {e.mountpoint} is on no disk given; not mounted "
                             "(a guest's other disks: `-a DISK`, or name its domain)")
            continue
        fs = by_dev[device]
        subvol = subvolume(e.options) if fs.fstype == "btrfs" else ""
        if fs.fstype == "swap" or (device, subvol) in used:
            continue
        used.add((device, subvol))
        mounts.append(Mount(e.mountpoint.rstrip("/") or "/", device, fs.fstype, subvol))
    mounts[1:] = sorted(mounts[1:], key=lambda m: (m.mountpoint.count("/"), m.mountpoint))
    return mounts, notes
