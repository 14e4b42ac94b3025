"""Telling a Windows disk from the host, before any appliance: the NTFS probe and the clone refusal."""

from __future__ import annotations

import struct
import subprocess

import pytest

from builder.image.windows_inspect import holds_ntfs
from builder.windows.clonecheck import refusal

MiB = 1 << 20


def disk(path, boot_sector_oem: bytes, start_lba: int = 2048):
    with open(path, "wb") as f:
        f.truncate(8 * MiB)
        mbr = bytearray(512)
        struct.pack_into("<B3sB3sII", mbr, 446, 0x80, b"\0\0\0", 0x07, b"\0\0\0", start_lba, 8192)
        mbr[510:512] = b"\x55\xaa"
        f.write(mbr)
        f.seek(start_lba * 512)
        f.write(b"\xebR\x90" + boot_sector_oem + b"\0" * 499 + b"\x55\xaa")
    return path


def test_raw_ntfs_and_not(tmp_path):
    assert holds_ntfs(disk(tmp_path / "win.raw", b"NTFS    "))
    assert not holds_ntfs(disk(tmp_path / "fat.raw", b"MSDOS5.0"))
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"\0" * MiB)
    assert not holds_ntfs(empty)


@pytest.mark.parametrize("lba", [2048, 2049])          # also a partition start off qemu-img's block grid
def test_qcow2_is_read_through_qemu_img(tmp_path, lba):
    raw = disk(tmp_path / "win.raw", b"NTFS    ", start_lba=lba)
    qcow = tmp_path / "win.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow)], check=True)
    assert holds_ntfs(qcow)
    other = tmp_path / "fat.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2",
                    str(disk(tmp_path / "fat.raw", b"MSDOS5.0")), str(other)], check=True)
    assert not holds_ntfs(other)


def report(generalized: bool, state: str) -> dict:
    return {"os": {"pretty_name": "Windows Server 2019 Standard"}, "hostname": "W2K19-GOLDEN",
            "windows": {"generalized": generalized, "image_state": state,
                        "image_state_source": "HKLM\\SOFTWARE\\...\\ImageState"}}


def test_refusal_names_the_state_and_the_fix():
    err = refusal(report(False, "IMAGE_STATE_COMPLETE"), "/images/w.qcow2")
    assert err.exit_code == 2 and err.where == "/images/w.qcow2"
    assert "not generalized" in err.message and "IMAGE_STATE_COMPLETE" in err.message
    assert "W2K19-GOLDEN" in err.message and "windows.generalize: true" in err.hint
