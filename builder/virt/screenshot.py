"""Console screenshots through libvirt, saved as PNG without an imaging library.

libvirt hands back whatever the hypervisor produces (PPM from qemu); a PNG is
what a person can open in a browser or CI artifact viewer.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from builder.fsutil import atomic_write


def _png(width: int, height: int, rgb: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    stride = width * 3
    raw = b"".join(b"\x00" + rgb[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def ppm_to_png(data: bytes) -> bytes:
    """Binary PPM (P6, maxval 255) to PNG."""
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        tokens.append(data[start:pos])
    if tokens[0] != b"P6" or int(tokens[3]) != 255:
        raise ValueError("not a binary PPM with maxval 255")
    width, height = int(tokens[1]), int(tokens[2])
    pixels = data[pos + 1:pos + 1 + width * height * 3]
    return _png(width, height, pixels)


def take(conn, dom, target: Path) -> Path | None:
    """Save the domain's console as PNG; None when there is no display to capture."""
    import libvirt

    stream = conn.newStream(0)
    try:
        mime = dom.screenshot(stream, 0, 0)
        chunks = []
        while True:
            piece = stream.recv(1 << 20)
            if not piece:
                break
            if isinstance(piece, int):      # -2: would block; the stream is blocking so this is rare
                continue
            chunks.append(piece)
        stream.finish()
    except libvirt.libvirtError:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass
        return None
    data = b"".join(chunks)
    png = ppm_to_png(data) if "pixmap" in (mime or "") or data.startswith(b"P6") else data
    atomic_write(target, png)
    return target
