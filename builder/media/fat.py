"""FAT images: 1.44 MB floppies built from scratch, and single-file edits of
existing FAT12/16/32 images (the grub.cfg inside a RHEL ISO's efiboot.img).

pyfatfs does the directory, LFN and cluster-chain work. Where it falls short
we step around it rather than fork it:

- its mkfs writes 0 heads / 0 sectors per track, FAT[1] = 0xFF0 and an
  oversized FAT, which mtools refuses, so the blank floppy is formatted here
  (a standard 1.44 MB BPB, 9-sector FATs) and pyfatfs only fills it;
- it stamps entries with the clock, so every entry is re-stamped with
  REPRODUCIBLE_EPOCH afterwards, and a replaced file keeps its old stamps;
- it matches names case-sensitively while mtools and mkfs.fat store
  lower-case short names with case flags, so paths are resolved here,
  case-insensitively, before pyfatfs sees them;
- its allocator trusts the FAT's length, not the data area's, so free space
  is counted here before anything is written (that is also what lets the
  overflow error list every file).

Names: a component that fits 8.3 is stored as an upper-case short name only
(what DOS, the XP text-mode setup and `ks=hd:fd0:/ks.cfg` read). A longer
name (autounattend.xml, $WinPEDriver$) gets VFAT long-name entries plus a
generated short alias; anything that is not a legal long name is refused.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import math
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from builder.errors import InputError
from builder.fsutil import REPRODUCIBLE_EPOCH, atomic_write

FLOPPY_SIZE = 1_474_560
_SECTOR = 512
_FLOPPY_SECTORS = FLOPPY_SIZE // _SECTOR          # 2880
_FAT_SECTORS = 9
_ROOT_ENTRIES = 224
_ROOT_SECTORS = _ROOT_ENTRIES * 32 // _SECTOR     # 14
_FIRST_DATA_SECTOR = 1 + 2 * _FAT_SECTORS + _ROOT_SECTORS   # 33
FLOPPY_CLUSTERS = _FLOPPY_SECTORS - _FIRST_DATA_SECTOR    # 2847 one-sector clusters
FLOPPY_CAPACITY = FLOPPY_CLUSTERS * _SECTOR

# Characters a short (8.3) name may hold besides A-Z and 0-9.
_SHORT_EXTRA = set("!#$%&'()-@^_`{}~")
_LONG_FORBIDDEN = set('"*/:<>?\\|')
_LABEL_RE = re.compile(r"^[A-Z0-9!#$%&'()\-@^_`{}~ ]{0,11}$")


def _dos_stamp(epoch: int = REPRODUCIBLE_EPOCH) -> tuple[int, int]:
    t = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    date = ((t.year - 1980) << 9) | (t.month << 5) | t.day
    time = (t.hour << 11) | (t.minute << 5) | (t.second // 2)
    return date, time


# ---------------------------------------------------------------- names

def fits_8dot3(name: str) -> bool:
    """True if `name` (any case) can be stored as a plain short name."""
    if name in (".", "..") or not name.isascii():
        return False
    base, dot, ext = name.partition(".")
    if not base or len(base) > 8 or len(ext) > 3 or "." in ext or (dot and not ext):
        return False
    return all(c.isalnum() or c in _SHORT_EXTRA for c in base + ext)


def _check_component(name: str, path: str) -> None:
    problem = None
    if not name:
        problem = "has an empty path component"
    elif name in (".", ".."):
        problem = "may not contain '.' or '..'"
    elif len(name) > 255:
        problem = "has a component longer than 255 characters"
    elif any(c in _LONG_FORBIDDEN or ord(c) < 0x20 for c in name):
        problem = 'has a character FAT cannot store (control characters or " * / : < > ? \\ |)'
    elif name.endswith((".", " ")):
        problem = "has a component ending in a dot or a space"
    if problem:
        raise InputError(f"file name {path!r} {problem}",
                         "rename the file; FAT accepts 8.3 names and VFAT long names",
                         where="floppy")


def _stored_name(name: str) -> str:
    return name.upper() if fits_8dot3(name) else name


def _lfn_slots(name: str) -> int:
    return 0 if fits_8dot3(name) else math.ceil(len(name.encode("utf-16-le")) / 26)


# ---------------------------------------------------------------- layout plan

@dataclass
class _Dir:
    children: dict          # stored name -> _Dir | bytes
    display: str            # path as the caller wrote it, for messages


def _tree(files: Mapping[str, bytes]) -> _Dir:
    root = _Dir({}, "")
    seen: dict[str, str] = {}       # case-folded path -> caller's path
    for path in sorted(files):
        data = files[path]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"{path!r}: floppy content must be bytes, got {type(data).__name__}",
                             where="floppy")
        parts = path.strip("/").split("/")
        for part in parts:
            _check_component(part, path)
        key = "/".join(parts).casefold()
        if key in seen:
            raise InputError(f"{path!r} and {seen[key]!r} name the same file (FAT ignores case)",
                             "keep one of them", where="floppy")
        seen[key] = path
        node = root
        for i, part in enumerate(parts[:-1]):
            sub = node.children.get(_stored_name(part))
            if sub is None:
                sub = node.children[_stored_name(part)] = _Dir({}, "/".join(parts[: i + 1]))
            elif not isinstance(sub, _Dir):
                raise InputError(f"{path!r} needs {'/'.join(parts[:i + 1])!r} to be a folder, "
                                 "but it is also given as a file", where="floppy")
            node = sub
        leaf = _stored_name(parts[-1])
        if leaf in node.children:
            raise InputError(f"{path!r} is given both as a file and as a folder", where="floppy")
        node.children[leaf] = bytes(data)
    return root


def _entries(d: _Dir) -> int:
    return sum(1 + _lfn_slots(n) for n in d.children)


def _clusters_needed(d: _Dir, files: list[tuple[str, int]], prefix: str = "") -> int:
    total = 0
    for name, child in d.children.items():
        path = f"{prefix}{name}"
        if isinstance(child, _Dir):
            total += max(1, math.ceil((2 + _entries(child)) * 32 / _SECTOR))
            total += _clusters_needed(child, files, path + "/")
        else:
            files.append((path, len(child)))
            total += math.ceil(len(child) / _SECTOR)
    return total


def _check_capacity(root: _Dir, label: str) -> None:
    files: list[tuple[str, int]] = []
    clusters = _clusters_needed(root, files)
    root_entries = _entries(root) + (1 if label else 0)
    listing = "\n".join(f"  {p}: {s:,} bytes" for p, s in files)
    if clusters > FLOPPY_CLUSTERS:
        raise InputError(
            f"the files need {clusters * _SECTOR:,} bytes on a 1.44 MB floppy "
            f"(with folders and 512-byte clusters) but it holds {FLOPPY_CAPACITY:,}:\n{listing}",
            "drop files, or use a driver ISO instead of a floppy", where="floppy")
    if root_entries > _ROOT_ENTRIES:
        raise InputError(
            f"the floppy's root folder holds {_ROOT_ENTRIES} entries, these files need "
            f"{root_entries} (long names take extra entries):\n{listing}",
            "move files into a sub-folder or use 8.3 names", where="floppy")


# ---------------------------------------------------------------- floppy

def _blank_floppy(label: str, serial: int) -> bytearray:
    img = bytearray(FLOPPY_SIZE)
    bpb = struct.pack(
        "<3s8sHBHBHHBHHHII",
        b"\xeb\x3c\x90", b"GOLDEN  ", _SECTOR, 1, 1, 2, _ROOT_ENTRIES,
        _FLOPPY_SECTORS, 0xF0, _FAT_SECTORS, 18, 2, 0, 0)
    bpb += struct.pack("<BBBI11s8s", 0, 0, 0x29, serial,
                       (label or "NO NAME").ljust(11).encode("ascii"), b"FAT12   ")
    img[: len(bpb)] = bpb
    # Not a boot disk: INT 18h hands control back to the BIOS, which then
    # tries the next boot device, so a floppy left first in the boot order
    # never stops an install.
    img[0x3E:0x40] = b"\xcd\x18"
    img[0x40:0x42] = b"\xeb\xfe"
    img[510:512] = b"\x55\xaa"
    for n in range(2):
        off = _SECTOR * (1 + n * _FAT_SECTORS)
        img[off: off + 3] = b"\xf0\xff\xff"
    return img


def _default_serial(files: Mapping[str, bytes], label: str) -> int:
    h = hashlib.sha256(label.encode())
    for path in sorted(files):
        h.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return int.from_bytes(h.digest()[:4], "little")


def floppy_image(files: Mapping[str, bytes], *, label: str = "",
                 serial: int | None = None) -> bytes:
    """The bytes of a 1.44 MB FAT12 floppy holding `files` ({"dir/NAME.EXT": bytes})."""
    if not _LABEL_RE.match(label):
        raise InputError(f"floppy label {label!r} is not a FAT volume label",
                         "use at most 11 upper-case letters, digits or _-", where="floppy")
    root = _tree(files)
    _check_capacity(root, label)
    if serial is None:
        serial = _default_serial(files, label)
    buf = _Buffer(_blank_floppy(label, serial & 0xFFFFFFFF))
    fs = _open(buf)
    try:
        if label:
            _add_volume_label(fs, label)
        _fill(fs, root, "")
        _pin_times(fs)
    finally:
        fs.close()
    img = buf.getvalue()
    if len(img) != FLOPPY_SIZE:   # pyfatfs wrote past the data area: a bug, not bad input
        raise AssertionError(f"floppy image grew to {len(img)} bytes")
    return img


def make_floppy(out: Path, files: Mapping[str, bytes], *, label: str = "",
                serial: int | None = None) -> Path:
    """Write a 1,474,560-byte FAT12 floppy image atomically; same inputs, same bytes.

    The volume serial defaults to a hash of the label and contents.
    """
    return atomic_write(Path(out), floppy_image(files, label=label, serial=serial))


class _Buffer(io.BytesIO):
    """A BytesIO that outlives pyfatfs's close(), which closes its file."""

    def close(self) -> None:
        pass


def _open(buf: io.BytesIO):
    from pyfatfs.PyFatFS import PyFatBytesIOFS
    with warnings.catch_warnings():
        # A dirty flag on an image someone else made is their business; we
        # rewrite both FATs consistently either way.
        warnings.simplefilter("ignore")
        return PyFatBytesIOFS(buf, preserve_case=False, utc=True)


def _add_volume_label(fs, label: str) -> None:
    from pyfatfs.EightDotThree import EightDotThree
    from pyfatfs.FATDirectoryEntry import FATDirectoryEntry
    name = EightDotThree()
    name.set_byte_name(label.ljust(11).encode("ascii"))
    entry = FATDirectoryEntry.new(name=name, tz=datetime.timezone.utc, encoding=fs.fs.encoding,
                                  attr=FATDirectoryEntry.ATTR_VOLUME_ID)
    fs.fs.root_dir.add_subdirectory(entry)
    fs.fs.update_directory_entry(fs.fs.root_dir)


def _fill(fs, d: _Dir, prefix: str) -> None:
    # Short names first, so a long name's generated alias can never take a
    # short name that is still to come.
    names = sorted(d.children, key=lambda n: (not fits_8dot3(n), n))
    for name in names:
        child = d.children[name]
        path = f"{prefix}/{name}"
        if isinstance(child, _Dir):
            fs.makedir(path)
            _fill(fs, child, path)
        else:
            fs.writebytes(path, child)


def _pin_times(fs) -> None:
    date, time = _dos_stamp()

    def walk(directory) -> None:
        for entry in directory._get_entries_raw():
            entry.crttimetenth = 0
            entry.crttime = entry.wrttime = time
            entry.crtdate = entry.wrtdate = entry.lstaccessdate = date
            if entry.is_directory() and not entry.is_special():
                walk(entry)
        fs.fs.update_directory_entry(directory)

    walk(fs.fs.root_dir)


# ---------------------------------------------------------------- existing images

def _load(image: Path | bytes | bytearray) -> bytes:
    return Path(image).read_bytes() if isinstance(image, (str, Path)) else bytes(image)


def _resolve(fs, path: str, where: str):
    """The directory entry for `path`, matching long and short names case-insensitively."""
    from pyfatfs.FATDirectoryEntry import NotAnLFNEntryException
    entry = fs.fs.root_dir
    parts = [p for p in path.strip("/").split("/") if p]
    for i, part in enumerate(parts):
        if not entry.is_directory():
            break
        dirs, files, _ = entry.get_entries()
        want = part.casefold()
        for cand in dirs + files:
            names = {cand.get_short_name().casefold()}
            try:
                names.add(cand.get_long_name().casefold())
            except NotAnLFNEntryException:
                pass
            if want in names:
                entry = cand
                break
        else:
            raise InputError(f"{'/'.join(parts[:i + 1])} not found in the FAT image",
                             "check the path inside the image (mdir -i IMAGE -/ ::)", where=where)
    return entry


def _short_path(entry) -> str:
    from pyfatfs import PyFATException
    parts = []
    while True:
        try:
            parent = entry.get_parent_dir()
        except PyFATException:   # the root has no parent
            break
        parts.append(entry.get_short_name())
        entry = parent
    return "/" + "/".join(reversed(parts))


def list_files(image: Path | bytes) -> dict[str, int]:
    """Every file in a FAT image with its size, by long name where there is one."""
    fs = _open(_Buffer(_load(image)))
    out: dict[str, int] = {}
    try:
        def walk(directory, prefix: str) -> None:
            dirs, files, _ = directory.get_entries()
            for f in files:
                out[f"{prefix}{f!r}"] = f.filesize
            for d in dirs:
                walk(d, f"{prefix}{d!r}/")
        walk(fs.fs.root_dir, "")
    finally:
        fs.close()
    return dict(sorted(out.items()))


def read_file(image: Path | bytes, path: str) -> bytes:
    """The contents of `path` inside a FAT12/16/32 image (case-insensitive)."""
    where = str(image) if isinstance(image, (str, Path)) else "FAT image"
    fs = _open(_Buffer(_load(image)))
    try:
        entry = _resolve(fs, path, where)
        if entry.is_directory():
            raise InputError(f"{path} is a folder in the FAT image, not a file", where=where)
        return fs.readbytes(_short_path(entry))
    finally:
        fs.close()


def replace_file(image: bytes | bytearray, path: str, data: bytes, *,
                 where: str = "FAT image") -> bytes:
    """`image` with the file at `path` holding `data` instead; same length.

    The file keeps its directory entry, case flags and timestamps, so the
    only bytes that change are its clusters, the FATs and its size and
    first-cluster fields.
    """
    original = bytes(image)
    buf = _Buffer(original)
    fs = _open(buf)
    try:
        entry = _resolve(fs, path, where)
        if entry.is_directory():
            raise InputError(f"{path} is a folder in the FAT image, not a file", where=where)
        _check_room(fs.fs, entry, len(data), path, where)
        freed = _rewrite(fs.fs, entry, bytes(data))
        fsinfo = (fs.fs.bpb_header["BPB_FSInfo"] * fs.fs.bpb_header["BPB_BytsPerSec"]
                  if fs.fs.fat_type == 32 else None)
    finally:
        fs.close()
    out = buf.getvalue()
    if fsinfo:
        out = _adjust_fsinfo(out, fsinfo, freed)
    if len(out) != len(original):
        raise AssertionError(f"FAT image changed size ({len(original)} -> {len(out)})")
    return out


def _adjust_fsinfo(image: bytes, offset: int, freed: int) -> bytes:
    # pyfatfs leaves FAT32's free-cluster count alone; fsck.fat then calls
    # the image damaged. Keep the count when it is known (0xFFFFFFFF: not).
    if image[offset:offset + 4] != b"RRaA" or image[offset + 484:offset + 488] != b"rrAa":
        return image
    count = struct.unpack_from("<I", image, offset + 488)[0]
    if count == 0xFFFFFFFF:
        return image
    out = bytearray(image)
    struct.pack_into("<I", out, offset + 488, count + freed)
    return bytes(out)


def _rewrite(pf, entry, data: bytes) -> int:
    """Give `entry` the content `data`; return clusters freed (negative: taken)."""
    # Not fs.writebytes(): pyfatfs's truncate frees a file's tail clusters
    # without ending the chain at the one it keeps, so rewriting any file of
    # more than one cluster fails. Free the whole chain, allocate afresh
    # (lowest free clusters first, so usually the same ones) and write.
    freed = 0
    if entry.get_cluster():
        freed = len(list(pf.get_cluster_chain(entry.get_cluster())))
        pf.free_cluster_chain(entry.get_cluster())
    entry.set_cluster(0)
    if data:
        chain = pf.allocate_bytes(len(data))
        freed -= len(chain)
        # Whole clusters, so no stale tail of the old content survives.
        padded = data + b"\0" * (len(chain) * pf.bytes_per_cluster - len(data))
        pf.write_data_to_cluster(padded, chain[0])
        entry.set_cluster(chain[0])
    entry.filesize = len(data)
    pf.update_directory_entry(entry.get_parent_dir())
    pf.flush_fat()
    return freed


def replace_file_in_image(image_path: Path, path: str, data: bytes) -> Path:
    """Replace one file inside a FAT image file, atomically and without resizing it."""
    image_path = Path(image_path)
    new = replace_file(image_path.read_bytes(), path, data, where=str(image_path))
    return atomic_write(image_path, new, mode=image_path.stat().st_mode & 0o7777)


def _check_room(pf, entry, size: int, path: str, where: str) -> None:
    bpc = pf.bytes_per_cluster
    total_sectors = pf.bpb_header["BPB_TotSec16"] or pf.bpb_header["BPB_TotSec32"]
    last_cluster = 1 + (total_sectors - pf.first_data_sector) // pf.bpb_header["BPB_SecPerClus"]
    free = sum(1 for c in range(2, min(last_cluster + 1, len(pf.fat))) if pf.fat[c] == 0)
    have = len(list(pf.get_cluster_chain(entry.get_cluster()))) if entry.get_cluster() else 0
    need = math.ceil(size / bpc)
    if need > have + free:
        raise InputError(
            f"{path}: {size:,} bytes do not fit; the FAT image has {(have + free) * bpc:,} bytes "
            "for this file (its own clusters plus the free ones) and may not grow",
            "shorten the file or rebuild the image larger", where=where)
