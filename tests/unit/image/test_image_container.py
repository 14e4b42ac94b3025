"""The container check: damaged image files are refused as "corrupt" before any backend reads them.

Raw disks are written by sfdisk and mkfs (independent writers), qcow2 files by
qemu-img and qemu-io; then they are cut short or poked the way a broken copy is.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from builder.errors import InputError
from builder.image.container import check_container, check_raw

MiB = 1 << 20


def run(*args, input=None):
    subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, input=input)


def raw_disk(path: Path, label: str, size: int = 8 * MiB) -> Path:
    """A sparse raw disk with two partitions, the second running to the end of the disk."""
    with open(path, "wb") as f:
        f.truncate(size)
    run("sfdisk", "-q", "--no-reread", "--no-tell-kernel", path,
        input=f"label: {label}\n,2MiB,L\n,,L\n")
    return path


def cut(path: Path, size: int) -> Path:
    os.truncate(path, size)
    return path


def refused(path: Path, match: str = "corrupt") -> InputError:
    with pytest.raises(InputError, match=match) as e:
        check_container(path)
    assert e.value.where == str(path) and e.value.exit_code == 2 and e.value.hint
    return e.value


@pytest.mark.parametrize("label", ["dos", "gpt"])
def test_partitioned_raw_passes(tmp_path, label):
    assert check_container(raw_disk(tmp_path / "d.img", label)) == []


def test_mbr_raw_cut_inside_its_last_partition(tmp_path):
    disk = cut(raw_disk(tmp_path / "d.img", "dos"), 6 * MiB)
    err = refused(disk)
    assert "partition 2 ends at byte" in err.message and "beyond the end" in err.message


def test_gpt_raw_that_lost_its_backup_header(tmp_path):
    # sfdisk leaves the last partition short of the backup GPT, so only the tail is gone.
    disk = raw_disk(tmp_path / "d.img", "gpt")
    with open(disk, "r+b") as f:
        f.truncate(16 * MiB)      # grow first so the cut lands past every partition
    run("sfdisk", "-q", "--no-reread", "--no-tell-kernel", disk, input="label: gpt\n,2MiB,L\n")
    cut(disk, 15 * MiB)
    assert "backup GPT header" in refused(disk).message


def test_gpt_raw_cut_inside_its_entry_array(tmp_path):
    disk = cut(raw_disk(tmp_path / "d.img", "gpt"), 2 * 512)
    assert "inside the partition table" in refused(disk).message


def test_gpt_header_with_a_bad_checksum(tmp_path):
    disk = raw_disk(tmp_path / "d.img", "gpt")
    with open(disk, "r+b") as f:
        f.seek(512 + 40)                 # first usable LBA: any byte the CRC covers
        f.write(b"\x01")
    assert "checksum" in refused(disk).message


def test_raw_of_partial_sectors_and_empty(tmp_path):
    disk = raw_disk(tmp_path / "d.img", "dos")
    with open(disk, "ab") as f:
        f.write(b"x" * 100)
    assert "whole number of 512-byte sectors" in refused(disk).message
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="corrupt"):
        check_raw(empty)


def test_blank_raw_passes_with_a_warning_and_garbage_is_corrupt(tmp_path):
    blank = tmp_path / "blank.img"
    with open(blank, "wb") as f:
        f.truncate(4 * MiB)
    assert check_container(blank) == ["the disk is blank (its first 1 MiB are zeros)"]
    with open(blank, "r+b") as f:
        f.seek(3 * 512)
        f.write(os.urandom(512))
    assert "no partition table" in refused(blank).message


def test_whole_disk_swap_passes(tmp_path):
    swap = tmp_path / "swap.img"
    with open(swap, "wb") as f:
        f.truncate(4 * MiB)
    run("mkswap", swap)
    assert check_container(swap) == []


def test_whole_disk_ext4_passes_and_truncated_one_is_corrupt(tmp_path):
    disk = tmp_path / "fs.img"
    run("mkfs.ext4", "-q", "-F", "-O", "64bit", disk, "16M")
    assert check_container(disk) == []
    cut(disk, 8 * MiB)
    err = refused(disk)
    assert f"needs {16 * MiB} bytes and the file holds {8 * MiB}" in err.message


def test_whole_disk_btrfs_passes(tmp_path):
    disk = tmp_path / "fs.img"
    with open(disk, "wb") as f:
        f.truncate(128 * MiB)
    run("mkfs.btrfs", "-q", "-f", disk)
    assert check_container(disk) == []
    cut(disk, 64 * MiB)
    assert "btrfs" in refused(disk).message


def test_whole_disk_xfs_size_is_read(tmp_path):
    # No mkfs.xfs here: an XFS superblock has its block size and count at fixed offsets.
    disk = tmp_path / "xfs.img"
    with open(disk, "wb") as f:
        f.write(b"XFSB" + struct.pack(">IQ", 4096, 1024))
        f.truncate(4 * MiB)
    assert check_container(disk) == []
    cut(disk, 2 * MiB)
    assert "xfs file system needs 4194304 bytes" in refused(disk).message


# ---- qcow2 ------------------------------------------------------------------------------------

def qcow2(path: Path, written: str = "40M") -> Path:
    run("qemu-img", "create", "-q", "-f", "qcow2", path, "64M")
    run("qemu-io", "-c", f"write -P 0xab 0 {written}", path)
    return path


def test_healthy_qcow2_passes(tmp_path):
    assert check_container(qcow2(tmp_path / "a.qcow2")) == []


def test_half_truncated_qcow2_is_corrupt_with_counts(tmp_path):
    img = qcow2(tmp_path / "a.qcow2")
    cut(img, os.path.getsize(img) // 2)
    err = refused(img)
    assert "corrupt qcow2 image: qemu-img check found" in err.message
    count = int(err.message.split("found ")[1].split(" corruption")[0])
    assert count > 100 and "qemu-img check -r all" in err.hint


def test_leaked_clusters_are_a_warning(tmp_path):
    img = qcow2(tmp_path / "a.qcow2", "64k")
    with open(img, "r+b") as f:
        refcount_table = struct.unpack_from(">Q", f.read(72), 48)[0]
        f.seek(refcount_table)
        block = struct.unpack(">Q", f.read(8))[0]
        free = f.seek(0, os.SEEK_END) // 65536
        f.write(b"\0" * 65536)                  # a cluster that nothing references ...
        f.seek(block + 2 * free)
        f.write(struct.pack(">H", 1))           # ... but that is counted as used
    warnings = check_container(img)
    assert len(warnings) == 1 and "1 leaked cluster" in warnings[0]


def test_corrupt_backing_file_is_named(tmp_path):
    base = qcow2(tmp_path / "base.qcow2")
    top = tmp_path / "top.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, top)
    assert check_container(top) == []
    cut(base, os.path.getsize(base) // 2)
    with pytest.raises(InputError, match="corrupt qcow2") as e:
        check_container(top)
    assert e.value.where == str(base)


def test_raw_backing_file_is_checked_too(tmp_path):
    base = cut(raw_disk(tmp_path / "base.img", "dos"), 6 * MiB)
    top = tmp_path / "top.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, top)
    with pytest.raises(InputError, match="corrupt raw image") as e:
        check_container(top)
    assert e.value.where == str(base)


def test_a_file_changed_after_it_passed_is_checked_again(tmp_path):
    disk = raw_disk(tmp_path / "d.img", "dos")
    assert check_container(disk) == []
    cut(disk, 6 * MiB)
    refused(disk)
