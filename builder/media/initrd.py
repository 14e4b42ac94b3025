"""Initramfs archives: write deterministic newc cpio, read it back, append files.

The Linux kernel unpacks every cpio archive concatenated in an initrd, each
optionally compressed, later ones overriding earlier ones. That is how
virt-install's --initrd-inject and Oz put a kickstart into an installer
initrd without unpacking it: append a small archive. golden does the same in
pure Python, and builds the demo media's initramfs with the same writer so the
bytes depend only on the entries (fixed mtime, owner 0, sorted names,
sequential inode numbers, gzip without a name or timestamp).
"""

from __future__ import annotations

import gzip
import io
import shutil
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from builder.errors import InputError
from builder.fsutil import REPRODUCIBLE_EPOCH, atomic_path

NEWC_MAGIC = b"070701"
# 070702 is newc with a checksum field; the layout is the same, so both are read.
NEWC_MAGICS = (NEWC_MAGIC, b"070702")
TRAILER = "TRAILER!!!"
_HEADER_LEN = 110


@dataclass(frozen=True)
class Entry:
    """One member of a cpio archive. `data` is a file's bytes or a symlink's target."""

    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)

    @property
    def kind(self) -> str:
        if stat.S_ISDIR(self.mode):
            return "dir"
        if stat.S_ISLNK(self.mode):
            return "symlink"
        if stat.S_ISREG(self.mode):
            return "file"
        return "special"


def file_entry(path: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(_clean(path), stat.S_IFREG | perm, data)


def dir_entry(path: str, perm: int = 0o755) -> Entry:
    return Entry(_clean(path), stat.S_IFDIR | perm)


def symlink_entry(path: str, target: str) -> Entry:
    return Entry(_clean(path), stat.S_IFLNK | 0o777, target.encode())


def chardev_entry(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(_clean(path), stat.S_IFCHR | perm, b"", (major, minor))


def _clean(path: str) -> str:
    clean = path.strip("/")
    parts = clean.split("/")
    if not clean or any(p in ("", ".", "..") for p in parts):
        raise InputError(f"bad path for an initrd member: {path!r}")
    return clean


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def _header(ino: int, mode: int, nlink: int, mtime: int, size: int,
            rdev: tuple[int, int], namesize: int) -> bytes:
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev[0], rdev[1], namesize, 0)
    return NEWC_MAGIC + b"".join(b"%08X" % f for f in fields)


def newc_archive(entries: Iterable[Entry], mtime: int = REPRODUCIBLE_EPOCH) -> bytes:
    """A newc cpio archive of `entries`, sorted by path (parents before children).

    Missing parent directories are added (mode 0755): the kernel does not
    create them when it unpacks a file.
    """
    by_path: dict[str, Entry] = {}
    for e in entries:
        if e.path in by_path and by_path[e.path] != e:
            raise InputError(f"two different initrd members for {e.path!r}")
        by_path[e.path] = e
    for path in list(by_path):
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            by_path.setdefault(parent, dir_entry(parent))
    out = io.BytesIO()
    for ino, path in enumerate(sorted(by_path), start=1):
        e = by_path[path]
        if e.kind == "special" and e.data:
            raise InputError(f"device node {path!r} cannot have data")
        name = path.encode() + b"\0"
        nlink = 2 if e.kind == "dir" else 1
        out.write(_header(ino, e.mode, nlink, mtime, len(e.data), e.rdev, len(name)))
        out.write(name + b"\0" * _pad4(_HEADER_LEN + len(name)))
        out.write(e.data + b"\0" * _pad4(len(e.data)))
    name = TRAILER.encode() + b"\0"
    out.write(_header(0, 0, 1, 0, 0, (0, 0), len(name)))
    out.write(name + b"\0" * _pad4(_HEADER_LEN + len(name)))
    return out.getvalue()


def gzip_bytes(data: bytes, level: int = 9) -> bytes:
    """gzip without file name or timestamp (like `gzip -n`), so equal input gives equal bytes."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def parse_segment(data: bytes, pos: int) -> tuple[list[Entry], int]:
    """Members of the newc archive starting at `pos`, and the offset just past its trailer."""
    entries: list[Entry] = []
    while True:
        if data[pos:pos + 6] not in NEWC_MAGICS:
            raise InputError(f"not a newc cpio archive at offset {pos}")
        head = data[pos + 6:pos + _HEADER_LEN]
        if len(head) != _HEADER_LEN - 6:
            raise InputError("truncated cpio archive")
        f = [int(head[i * 8:(i + 1) * 8], 16) for i in range(13)]
        mode, size, rdev, namesize = f[1], f[6], (f[9], f[10]), f[11]
        name_start = pos + _HEADER_LEN
        name = data[name_start:name_start + namesize - 1].decode("utf-8", "replace")
        body = name_start + namesize + _pad4(_HEADER_LEN + namesize)
        pos = body + size + _pad4(size)
        if name == TRAILER:
            return entries, pos
        entries.append(Entry(name, mode, data[body:body + size], rdev))


def parse_newc(data: bytes) -> list[Entry]:
    """The members of one or more concatenated, uncompressed newc archives."""
    entries: list[Entry] = []
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # padding between archives
            pos += 1
            continue
        found, pos = parse_segment(data, pos)
        entries.extend(found)
    return entries


def read_initrd(initrd: Path | bytes) -> dict[str, Entry]:
    """Every member of an initrd made of gzip'd and plain newc segments; later ones win,
    as when the kernel unpacks them."""
    raw = initrd if isinstance(initrd, bytes) else Path(initrd).read_bytes()
    members: dict[str, Entry] = {}
    pos = 0
    while pos < len(raw):
        if raw[pos] == 0:
            pos += 1
            continue
        if raw[pos:pos + 2] == b"\x1f\x8b":
            d = zlib.decompressobj(wbits=31)
            found = parse_newc(d.decompress(raw[pos:]))
            if not d.eof:
                raise InputError("truncated gzip segment in initrd")
            pos = len(raw) - len(d.unused_data)
        elif raw[pos:pos + 6] in NEWC_MAGICS:
            found, pos = parse_segment(raw, pos)
        else:
            raise InputError(f"unknown initrd segment at offset {pos} (only gzip and newc are read)")
        for e in found:
            members[e.path] = e
    return members


def append_files(initrd: Path, files: Mapping[str, bytes], out: Path) -> Path:
    """Copy `initrd` to `out` with a gzip'd newc archive of `files` appended.

    `files` maps a path inside the initrd (e.g. "ks.cfg" or "/ks.cfg") to its
    bytes; each becomes a regular file, mode 0644, owner root. The result is
    what `virt-install --initrd-inject` produces, but deterministic.
    """
    initrd = Path(initrd)
    if not initrd.is_file() or initrd.stat().st_size == 0:
        raise InputError(f"{initrd}: not an initrd (missing or empty)")
    if not files:
        raise InputError("append_files: no files to append")
    archive = gzip_bytes(newc_archive(file_entry(p, bytes(b)) for p, b in files.items()))
    out = Path(out)
    with atomic_path(out) as tmp:
        with open(initrd, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.write(archive)
    return out
