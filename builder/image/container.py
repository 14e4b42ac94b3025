"""Is the image file itself whole? Checked once per disk before anything reads a guest from it.

A qcow2 cut short still opens (its header and tables sit at the front), and a
truncated raw disk still has its partition table; both then fail deep in a
backend with a misleading message ("no Linux root file system"). So every
image command first runs `qemu-img check` (any format qemu can check) or, for
raw, looks at the size, the partition table and whole-disk file systems, and
refuses a damaged file with an InputError that says "corrupt" and names it.

Each file of a backing chain is checked too. A file that passed is not checked
again in the same process while its size and times are unchanged, so the
layers of golden that open the same disk do not pay twice.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

from builder.errors import HostError, InputError
from builder.image import inuse
from builder.image.diskfile import DiskFile, describe
from builder.image.partitions import SECTOR, PartitionTableError, read_table

_REPAIR_HINT = "repair a copy with `qemu-img check -r all COPY` and check that one, or rebuild the image"
_RAW_HINT = "the file is damaged or was cut short (an interrupted copy?); copy it again or rebuild the image"
# qemu-img check exit codes: 0 clean, 1 check failed, 2 corrupt, 3 leaked clusters only, 63 no checks.
_NO_CHECKS = 63
_TIMEOUT = 600
_BLANK_PROBE = 1 << 20

_passed: dict[tuple, list[str]] = {}


def check_container(disk: DiskFile | str | os.PathLike) -> list[str]:
    """Refuse a corrupt image or backing file; return warnings (leaked clusters) for one that is usable."""
    top = disk if isinstance(disk, DiskFile) else describe(disk)
    warnings = _check_file(top)
    for below in top.backing_chain:
        if not os.path.exists(below):
            raise InputError(f"the backing file {below} is missing", where=str(top.path),
                             hint="restore it; every file of a backing chain is part of the disk")
        if not os.access(below, os.R_OK):
            raise InputError(f"the backing file {below} is not readable", where=str(top.path),
                             hint="fix its permissions, or run golden as a user that can read it")
        warnings += _check_file(describe(below))
    return warnings


def _key(path: Path) -> tuple:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _check_file(disk: DiskFile) -> list[str]:
    key = _key(disk.path)
    if key in _passed:
        return list(_passed[key])
    warnings = check_raw(disk.path) if disk.format == "raw" else _qemu_img_check(disk)
    _passed[key] = warnings
    return list(warnings)


# ---- formats qemu-img checks -------------------------------------------------------------------

def _qemu_img_check(disk: DiskFile) -> list[str]:
    # -U: a reader may open an image a guest is running on (inuse warns about that);
    # without it qemu-img would fail on the guest's lock instead of checking.
    cmd = ["qemu-img", "check", "-U", "--output=json", "-f", disk.format, str(disk.path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT)
    except FileNotFoundError:
        raise HostError("qemu-img is not installed", hint="install qemu-utils") from None
    except subprocess.TimeoutExpired:
        raise HostError(f"qemu-img check took more than {_TIMEOUT} s", where=str(disk.path)) from None
    if proc.returncode == _NO_CHECKS:
        return []
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = None
    first_error = next((ln.strip() for ln in proc.stderr.splitlines() if ln.strip()), "")[:200]
    if not isinstance(report, dict):
        raise InputError(f"corrupt {disk.format} image: qemu-img check could not read it "
                         f"(exit {proc.returncode}{': ' + first_error if first_error else ''})",
                         where=str(disk.path), hint=_REPAIR_HINT)
    corruptions = int(report.get("corruptions", 0))
    check_errors = int(report.get("check-errors", 0))
    leaks = int(report.get("leaks", 0))
    if corruptions or check_errors or proc.returncode not in (0, 3):
        counts = [f"{corruptions} corruption(s)", f"{leaks} leaked cluster(s)"]
        if check_errors:
            counts.append(f"{check_errors} check error(s)")
        message = f"corrupt {disk.format} image: qemu-img check found " + ", ".join(counts)
        if first_error:
            message += f"; the first: {first_error}"
        if any(u.writes for u in inuse.qemu_lock_users(disk.path)):
            # What a running guest has half-written reads as damage; it is not ours to judge.
            return [message + " (a running guest writes the image, so this may be a passing state)"]
        raise InputError(message, where=str(disk.path), hint=_REPAIR_HINT)
    if leaks:
        return [f"qemu-img check found {leaks} leaked cluster(s): space is wasted, no data is at risk "
                f"(`qemu-img check -r leaks` reclaims it)"]
    return []


# ---- raw ---------------------------------------------------------------------------------------

def check_raw(path: str | os.PathLike) -> list[str]:
    """A raw disk must have whole sectors and a partition table or a file system that fits in the file."""
    path = Path(path)
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0 or size % SECTOR:
            raise InputError(f"corrupt raw image: {size} bytes is not a whole number of {SECTOR}-byte "
                             "sectors", where=str(path), hint=_RAW_HINT)
        try:
            table = read_table(f, size)
        except PartitionTableError as e:
            raise InputError(f"corrupt raw image: {e}", where=str(path), hint=_RAW_HINT) from None
        if table.kind == "gpt":
            _check_gpt_backup(f, size, path)
            return []
        if table.kind == "msdos":
            return []
        fs = _whole_disk_fs(f)
        # A disk nothing was written to yet (a new data disk) is empty, not damaged.
        blank = fs is None and not any(_read_at(f, 0, _BLANK_PROBE))
    if blank:
        return [f"the disk is blank (its first {_BLANK_PROBE >> 20} MiB are zeros)"]
    if fs is None:
        raise InputError("corrupt raw image: no partition table (MBR or GPT) and no file system golden "
                         "recognises on the whole disk", where=str(path),
                         hint="is this the disk an install wrote? " + _RAW_HINT)
    name, needed = fs
    if needed > size:
        raise InputError(f"corrupt raw image: its {name} file system needs {needed} bytes and the file holds "
                         f"{size}", where=str(path), hint=_RAW_HINT)
    return []


def _read_at(f, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def _check_gpt_backup(f, size: int, path: Path) -> None:
    # The partitions may all fit while the copy lost its tail, where the backup GPT lives.
    alternate = struct.unpack_from("<Q", _read_at(f, SECTOR, 92), 32)[0]
    if (alternate + 1) * SECTOR > size:
        raise InputError(f"corrupt raw image: the backup GPT header (sector {alternate}) lies beyond the end "
                         f"of the file ({size} bytes)", where=str(path), hint=_RAW_HINT)


def _whole_disk_fs(f) -> tuple[str, int] | None:
    """(name, bytes the file system spans) of a file system or volume label on the whole disk."""
    ext = _read_at(f, 1024, 1024)
    if len(ext) >= 0x154 and ext[56:58] == b"\x53\xef":
        blocks = struct.unpack_from("<I", ext, 4)[0]
        if struct.unpack_from("<I", ext, 0x60)[0] & 0x80:            # 64bit feature: high half of the count
            blocks |= struct.unpack_from("<I", ext, 0x150)[0] << 32
        return "ext2/3/4", blocks * (1024 << struct.unpack_from("<I", ext, 24)[0])
    head = _read_at(f, 0, 4096)
    if head[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE"):
        return "swap", 0
    if head[:4] == b"XFSB" and len(head) >= 16:
        blocksize, dblocks = struct.unpack_from(">I", head, 4)[0], struct.unpack_from(">Q", head, 8)[0]
        return "xfs", blocksize * dblocks
    btrfs = _read_at(f, 0x10000, 0x80)
    if btrfs[0x40:0x48] == b"_BHRfS_M":
        return "btrfs", struct.unpack_from("<Q", btrfs, 0x70)[0]
    # Whole-disk LVM, LUKS, FAT and NTFS: no size check, but a real layout.
    if head[512:520] == b"LABELONE" or head[:6] == b"LUKS\xba\xbe":
        return "volume", 0
    if head[510:512] == b"\x55\xaa" and (head[3:11] == b"NTFS    " or b"FAT" in (head[54:57], head[82:85])):
        return "FAT/NTFS", 0
    return None
