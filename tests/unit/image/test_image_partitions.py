"""The Python partition-table reader against sfdisk, an independent reader (no root needed)."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest

from builder.image.partitions import PartitionTableError, data_partitions, read_table

MiB = 1 << 20


def make_disk(path: Path, script: str, size: int = 64 * MiB) -> Path:
    path.write_bytes(b"")
    with open(path, "r+b") as f:
        f.truncate(size)
    subprocess.run(["sfdisk", "-q", str(path)], input=script, text=True, check=True, capture_output=True)
    return path


def sfdisk_view(path: Path) -> dict[int, tuple[int, int, str]]:
    table = json.loads(subprocess.run(["sfdisk", "-J", str(path)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    return {int(p["node"][len(str(path)):]): (p["start"] * 512, p["size"] * 512, p["type"])
            for p in table["partitions"]}


def parse(path: Path):
    with open(path, "rb") as f:
        return read_table(f, path.stat().st_size)


def test_mbr_with_extended_and_logical_partitions_matches_sfdisk(tmp_path):
    disk = make_disk(tmp_path / "d.raw", "label: dos\nlabel-id: 0x1234abcd\n"
                     "start=2048, size=8192, type=83, bootable\nstart=10240, type=5\n"
                     "size=20480, type=83\nsize=8192, type=82\ntype=8e\n")
    table = parse(disk)
    assert table.kind == "msdos" and table.disk_id == "1234abcd"
    want = sfdisk_view(disk)
    got = {p.number: (p.start, p.size, p.type.removeprefix("0x").lstrip("0") or "0") for p in table.partitions}
    assert got == {n: (s, z, t.lstrip("0")) for n, (s, z, t) in want.items()}
    kinds = {p.number: p.kind for p in table.partitions}
    assert kinds == {1: "primary", 2: "extended", 5: "logical", 6: "logical", 7: "logical"}
    assert [p.number for p in table.partitions if p.bootable] == [1]
    assert table.partitions[0].uuid == "1234abcd-01"
    assert [p.device for p in data_partitions(table)] == ["/dev/sda1", "/dev/sda5", "/dev/sda6", "/dev/sda7"]


def test_gpt_matches_sfdisk_with_guids_and_names(tmp_path):
    disk = make_disk(tmp_path / "g.raw", "label: gpt\nlabel-id: 11111111-2222-3333-4444-555555555555\n"
                     "start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=biosboot, "
                     "uuid=AAAAAAAA-0000-4000-8000-000000000001\n"
                     "size=16384, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"my root\"\n")
    table = parse(disk)
    assert table.kind == "gpt" and table.disk_id == "11111111-2222-3333-4444-555555555555"
    want = sfdisk_view(disk)
    assert {p.number: (p.start, p.size, p.type) for p in table.partitions} == want
    assert table.partitions[0].name == "biosboot"
    assert table.partitions[0].uuid == "AAAAAAAA-0000-4000-8000-000000000001"
    assert table.partitions[1].name == "my root"


def test_no_partition_table(tmp_path):
    disk = tmp_path / "blank.raw"
    disk.write_bytes(b"\0" * MiB)
    assert parse(disk).kind == "none"


def test_fat_boot_sector_is_not_an_mbr(tmp_path):
    disk = tmp_path / "fat.raw"
    sector = bytearray(512)
    sector[0:3] = b"\xeb\x3c\x90"
    sector[446] = 0x29          # a FAT field where an MBR entry's boot flag would be
    sector[510:512] = b"\x55\xaa"
    disk.write_bytes(bytes(sector) + b"\0" * MiB)
    assert parse(disk).kind == "none"


def test_partition_beyond_the_end_of_the_image_is_refused(tmp_path):
    disk = make_disk(tmp_path / "d.raw", "label: dos\nstart=2048, type=83\n", size=16 * MiB)
    with open(disk, "r+b") as f:
        f.truncate(8 * MiB)
    with pytest.raises(PartitionTableError, match="beyond the end"):
        parse(disk)


def test_looping_ebr_chain_is_refused(tmp_path):
    disk = make_disk(tmp_path / "d.raw", "label: dos\nstart=2048, type=5\nsize=2048, type=83\nsize=2048, type=83\n")
    ext_lba = 2048
    with open(disk, "r+b") as f:
        f.seek(ext_lba * 512 + 446)
        first = f.read(32)
        next_rel = struct.unpack_from("<I", first, 16 + 8)[0]
        # Point the second EBR's "next" link back at the second EBR itself.
        f.seek((ext_lba + next_rel) * 512 + 462)
        f.write(struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x05, b"\0\0\0", next_rel, 2048))
    with pytest.raises(PartitionTableError, match="loops"):
        parse(disk)


def test_gpt_with_bad_checksum_is_refused(tmp_path):
    disk = make_disk(tmp_path / "g.raw", "label: gpt\nstart=2048, size=2048, type=L\n")
    with open(disk, "r+b") as f:
        f.seek(512 + 40)
        f.write(b"\xff")
    with pytest.raises(PartitionTableError, match="checksum"):
        parse(disk)
