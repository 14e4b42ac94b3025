"""What a failed build left for a person to look at: the console screenshot and the end of the serial log.

Both are read only from the build directory's fixed names (never from paths
inside build.json), and both are treated as hostile: the screenshot must be a
PNG to be embedded, and the serial log is reduced to printable text lines
before the template escapes it.
"""

from __future__ import annotations

import base64
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

SCREENSHOT = "screenshot.png"
SERIAL_LOG = "serial.log"
TAIL_LINES = 40
# Enough for the last 40 lines of any console; a multi-megabyte log is never read whole.
_TAIL_BYTES = 64 * 1024
# A 4K console screenshot is a few MiB; anything larger is not one.
_MAX_SCREENSHOT = 16 << 20
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# ANSI/VT100 sequences (CSI, OSC, charset selection, two-byte ESC) as a serial console emits them.
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Screenshot:
    data_uri: str | None
    width: int | None
    height: int | None
    bytes: int
    problem: str | None = None


def _open(path: Path):
    """Open a build-directory file for reading; a symlink (which could lead anywhere) is refused."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def screenshot(build_dir: Path) -> Screenshot | None:
    """The build directory's screenshot.png as a data: URI; None when there is none."""
    path = Path(build_dir) / SCREENSHOT
    if not os.path.lexists(path):
        return None
    try:
        with _open(path) as f:
            data = f.read(_MAX_SCREENSHOT + 1)
    except OSError as exc:
        return Screenshot(None, None, None, 0, f"cannot read {SCREENSHOT}: {exc.strerror}")
    size = len(data)
    if size > _MAX_SCREENSHOT:
        return Screenshot(None, None, None, size, f"{SCREENSHOT} is over {_MAX_SCREENSHOT} bytes; not embedded")
    if not data.startswith(_PNG_MAGIC) or data[12:16] != b"IHDR" or len(data) < 33:
        return Screenshot(None, None, None, size, f"{SCREENSHOT} is not a PNG image; not embedded")
    width, height = struct.unpack(">II", data[16:24])
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return Screenshot(uri, width, height, size)


def clean_line(line: str) -> str:
    """A console line as a person reads it: escape sequences and control characters dropped."""
    line = _ANSI.sub("", line).replace("\t", "    ")
    # A carriage return without a newline redraws the line (progress bars): keep what shows last.
    if "\r" in line:
        line = next((part for part in reversed(line.split("\r")) if part), "")
    return _CONTROL.sub("", line)


def serial_tail(build_dir: Path, lines: int = TAIL_LINES) -> list[str] | None:
    """The last `lines` lines of the build directory's serial.log; None when there is none to read."""
    path = Path(build_dir) / SERIAL_LOG
    if not os.path.lexists(path):
        return None
    try:
        with _open(path) as f:
            size = f.seek(0, 2)
            start = max(0, size - _TAIL_BYTES)
            f.seek(start)
            raw = f.read()
    except OSError:
        return None
    text = raw.decode("utf-8", "replace")
    split = text.split("\n")
    if start > 0:
        split = split[1:]          # the first line was cut in the middle
    if split and split[-1] in ("", "\r"):
        split = split[:-1]
    return [clean_line(s) for s in split[-lines:]]


def clean_lines(lines: list) -> list[str]:
    return [clean_line(str(s)) for s in lines]
