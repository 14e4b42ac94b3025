"""A tiny PNG writer and reader for tests (8-bit RGB/RGBA, no interlace): no imaging library here.

The writer makes failure screenshots with known colours; the reader decodes
what headless Chromium saves, so tests can count those colours on the page.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(width: int, height: int, pixel) -> bytes:
    """An RGB PNG; pixel(x, y) -> (r, g, b)."""
    rows = []
    for y in range(height):
        rows.append(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"".join(rows))) + _chunk(b"IEND", b"")


@dataclass
class Image:
    width: int
    height: int
    channels: int
    data: bytes          # unfiltered rows, `channels` bytes per pixel

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        i = (y * self.width + x) * self.channels
        return tuple(self.data[i:i + 3])

    def count(self, rgb: tuple[int, int, int], tolerance: int = 0) -> int:
        """How many pixels have this colour (each channel within `tolerance`)."""
        n = 0
        c = self.channels
        r0, g0, b0 = rgb
        d = self.data
        for i in range(0, len(d), c):
            if abs(d[i] - r0) <= tolerance and abs(d[i + 1] - g0) <= tolerance and abs(d[i + 2] - b0) <= tolerance:
                n += 1
        return n

    def colours(self) -> set[tuple[int, int, int]]:
        c = self.channels
        return {tuple(self.data[i:i + 3]) for i in range(0, len(self.data), c)}


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(blob: bytes) -> Image:
    if not blob.startswith(MAGIC):
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        kind = blob[pos + 4:pos + 8]
        body = blob[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    out = bytearray(stride * height)
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
        elif f != 0:
            raise ValueError(f"bad PNG filter {f}")
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return Image(width, height, bpp, bytes(out))
