"""MBR (with extended/logical partitions) and GPT tables, read in Python.

The loop backend needs partition offsets without kpartx or `losetup -P`
(neither works without device-mapper or udev), so the table is parsed here and
each partition is mapped with `losetup --offset --sizelimit`.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from builder.image.model import Partition

SECTOR = 512
EXTENDED_TYPES = (0x05, 0x0F, 0x85)
GPT_PROTECTIVE = 0xEE
# An EBR chain longer than this is a loop, not a disk layout.
MAX_LOGICAL = 128


class PartitionTableError(ValueError):
    """The table is present but does not make sense (truncated, overlapping, looping)."""


@dataclass(frozen=True)
class Table:
    kind: str                      # "msdos", "gpt" or "none" (a file system on the whole disk)
    partitions: tuple[Partition, ...]
    disk_id: str = ""              # MBR signature as 8 hex digits, or the GPT disk GUID


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise PartitionTableError(f"disk ends at byte {offset + len(data)}, inside the partition table")
    return data


def read_table(f: BinaryIO, disk_size: int, disk: str = "/dev/sda") -> Table:
    """Parse the partition table of the disk image open in `f` (raw view)."""
    mbr = _read(f, 0, SECTOR)
    if mbr[510:512] != b"\x55\xaa":
        return Table("none", ())
    entries = [struct.unpack_from("<B3sB3sII", mbr, 446 + 16 * i) for i in range(4)]
    if any(e[2] == GPT_PROTECTIVE for e in entries):
        return _read_gpt(f, disk_size, disk)
    # A FAT or NTFS boot sector also ends in 55 AA; real MBR entries have a
    # boot flag of 0x00 or 0x80.
    if any(e[0] not in (0x00, 0x80) for e in entries):
        return Table("none", ())
    signature = struct.unpack_from("<I", mbr, 440)[0]
    disk_id = f"{signature:08x}"
    parts: list[Partition] = []
    extended = None
    for index, (flag, _chs1, ptype, _chs2, lba, count) in enumerate(entries, start=1):
        if ptype == 0 or count == 0:
            continue
        start, size = lba * SECTOR, count * SECTOR
        _check_bounds(index, start, size, disk_size)
        is_ext = ptype in EXTENDED_TYPES
        parts.append(Partition(
            device=f"{disk}{index}", number=index, start=start, size=size,
            kind="extended" if is_ext else "primary", type=f"0x{ptype:02x}",
            uuid=f"{disk_id}-{index:02d}", bootable=flag == 0x80))
        if is_ext:
            if extended is not None:
                raise PartitionTableError("more than one extended partition in the MBR")
            extended = (lba, count)
    if extended:
        parts.extend(_read_logical(f, extended, disk_size, disk, disk_id))
    _check_overlaps(parts)
    return Table("msdos", tuple(parts), disk_id)


def _read_logical(f: BinaryIO, extended: tuple[int, int], disk_size: int, disk: str,
                  disk_id: str) -> list[Partition]:
    ext_lba, ext_count = extended
    logical: list[Partition] = []
    ebr_lba = ext_lba
    seen = set()
    number = 5
    while True:
        if ebr_lba in seen or len(seen) > MAX_LOGICAL:
            raise PartitionTableError("the extended partition's EBR chain loops")
        seen.add(ebr_lba)
        ebr = _read(f, ebr_lba * SECTOR, SECTOR)
        if ebr[510:512] != b"\x55\xaa":
            # An empty extended partition has an unsigned first EBR.
            break
        flag, _c1, ptype, _c2, rel, count = struct.unpack_from("<B3sB3sII", ebr, 446)
        _f2, _c3, ntype, _c4, nrel, _ncount = struct.unpack_from("<B3sB3sII", ebr, 462)
        if ptype and count:
            start, size = (ebr_lba + rel) * SECTOR, count * SECTOR
            _check_bounds(number, start, size, disk_size)
            if not (ext_lba <= ebr_lba + rel and ebr_lba + rel + count <= ext_lba + ext_count):
                raise PartitionTableError(f"logical partition {number} lies outside its extended partition")
            logical.append(Partition(
                device=f"{disk}{number}", number=number, start=start, size=size, kind="logical",
                type=f"0x{ptype:02x}", uuid=f"{disk_id}-{number:02d}", bootable=flag == 0x80))
            number += 1
        if ntype not in EXTENDED_TYPES or nrel == 0:
            break
        ebr_lba = ext_lba + nrel
    return logical


def _guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw)).upper()


def _read_gpt(f: BinaryIO, disk_size: int, disk: str) -> Table:
    header = _read(f, SECTOR, SECTOR)
    if header[:8] != b"EFI PART":
        raise PartitionTableError("protective MBR but no GPT header at LBA 1 "
                                  "(4096-byte sectors are not supported by the loop backend)")
    hsize = struct.unpack_from("<I", header, 12)[0]
    crc = struct.unpack_from("<I", header, 16)[0]
    check = bytearray(header[:hsize])
    check[16:20] = b"\0\0\0\0"
    if zlib.crc32(bytes(check)) != crc:
        raise PartitionTableError("GPT header checksum mismatch")
    disk_guid = _guid(header[56:72])
    entries_lba, count, esize = struct.unpack_from("<QII", header, 72)
    entries_crc = struct.unpack_from("<I", header, 88)[0]
    if esize < 128 or count > 1024:
        raise PartitionTableError(f"implausible GPT entry array ({count} entries of {esize} bytes)")
    table = _read(f, entries_lba * SECTOR, count * esize)
    if zlib.crc32(table) != entries_crc:
        raise PartitionTableError("GPT partition entry array checksum mismatch")
    parts = []
    for i in range(count):
        raw = table[i * esize:(i + 1) * esize]
        if raw[:16] == b"\0" * 16:
            continue
        first, last = struct.unpack_from("<QQ", raw, 32)
        name = raw[56:128].decode("utf-16-le", "replace").split("\0", 1)[0]
        start, size = first * SECTOR, (last - first + 1) * SECTOR
        _check_bounds(i + 1, start, size, disk_size)
        parts.append(Partition(
            device=f"{disk}{i + 1}", number=i + 1, start=start, size=size, kind="gpt",
            type=_guid(raw[:16]), uuid=_guid(raw[16:32]), name=name))
    _check_overlaps(parts)
    return Table("gpt", tuple(parts), disk_guid)


def _check_bounds(number: int, start: int, size: int, disk_size: int) -> None:
    if start + size > disk_size:
        raise PartitionTableError(
            f"partition {number} ends at byte {start + size}, beyond the end of the disk ({disk_size})")


def _check_overlaps(parts: list[Partition]) -> None:
    # The extended container overlaps its logical partitions by design.
    data = sorted((p for p in parts if p.kind != "extended"), key=lambda p: p.start)
    for a, b in zip(data, data[1:]):
        if a.start + a.size > b.start:
            raise PartitionTableError(f"partitions {a.number} and {b.number} overlap")


def data_partitions(table: Table) -> list[Partition]:
    """Partitions that can hold a file system or a PV (not the extended container)."""
    return [p for p in table.partitions if p.kind != "extended"]
