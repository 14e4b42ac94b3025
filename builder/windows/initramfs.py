"""Does a Linux guest's kernel reach a virtio disk at boot? Checked offline.

A Linux guest whose root disk moves to virtio needs virtio_pci (the
transport) and virtio_blk (the disk) either built into the kernel or inside
the initramfs of every kernel in /boot - the boot loader may pick any of
them. Initramfs archives are read in memory: concatenated newc segments,
each plain or compressed (gzip, xz, lzma, bzip2 in Python; zstd and lz4
through their tools), the way the kernel unpacks them.
"""

from __future__ import annotations

import bz2
import lzma
import re
import shutil
import subprocess
import zlib

from builder.errors import InputError
from builder.media import initrd

REQUIRED = ("virtio_pci", "virtio_blk")


def _tool(argv: list[str], data: bytes) -> bytes:
    if shutil.which(argv[0]) is None:
        raise ValueError(f"{argv[0]} is not installed, so this initramfs cannot be read")
    proc = subprocess.run(argv, input=data, capture_output=True, timeout=300)
    # Trailing padding after the stream makes the tools complain; what they
    # decoded is still complete.
    if not proc.stdout:
        raise ValueError(f"{argv[0]} could not decompress the initramfs")
    return proc.stdout


def _decompress(data: bytes) -> bytes:
    """The rest of the image from a compressed segment on (every stream after it too)."""
    if data[:2] == b"\x1f\x8b":
        out = b""
        while data[:2] == b"\x1f\x8b":
            d = zlib.decompressobj(wbits=31)
            out += d.decompress(data)
            data = d.unused_data.lstrip(b"\0")
        return out + data
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if data[:3] == b"\x5d\x00\x00":
        return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)
    if data[:3] == b"BZh":
        return bz2.BZ2Decompressor().decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return _tool(["zstd", "-dcq"], data)
    if data[:4] in (b"\x02\x21\x4c\x18", b"\x04\x22\x4d\x18"):
        return _tool(["lz4", "-dcq"], data)
    raise ValueError("unknown initramfs compression")


def member_names(data: bytes) -> list[str]:
    """Every member name of an initramfs image (all segments)."""
    names: list[str] = []
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            pos += 1
            continue
        if data[pos:pos + 6] in initrd.NEWC_MAGICS:
            try:
                found, pos = initrd.parse_segment(data, pos)
            except InputError as exc:
                raise ValueError(exc.message) from None
            names += [e.path for e in found]
            continue
        names += member_names(_decompress(data[pos:]))
        break
    return names


def modules_in(names: list[str]) -> set[str]:
    """Kernel module names (virtio_blk, ...) among initramfs members."""
    out = set()
    for name in names:
        m = re.search(r"/([^/]+)\.ko(\.(xz|gz|zst|bz2))?$", name)
        if m:
            out.add(m.group(1).replace("-", "_"))
    return out


def builtin_modules(modules_builtin: str, config: str) -> set[str]:
    """Modules compiled into the kernel, from modules.builtin or the kernel config."""
    out = set(modules_in(["/" + line.strip() for line in modules_builtin.splitlines() if line.strip()]))
    for option, module in (("CONFIG_VIRTIO_PCI", "virtio_pci"), ("CONFIG_VIRTIO_BLK", "virtio_blk")):
        if re.search(rf"^{option}=y$", config, re.M):
            out.add(module)
    return out
