"""What an image file is: its format, size and backing chain.

Checked before any backend touches the file, so a missing path or a corrupt
qcow2 becomes one clear InputError instead of a qemu or appliance traceback.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from builder.errors import HostError, InputError

QCOW2_MAGIC = b"QFI\xfb"
# Formats qemu understands but the loop backend does not (guestfs opens them).
_OTHER_MAGIC = {b"KDMV": "vmdk", b"conectix": "vpc", b"vhdxfile": "vhdx", b"<<< Oracle VM": "vdi"}


@dataclass(frozen=True)
class DiskFile:
    path: Path
    format: str                      # raw | qcow2 | vmdk | ...
    virtual_size: int
    backing_chain: tuple[Path, ...]  # below this file, nearest first
    is_block_device: bool = False


def _probe_magic(head: bytes) -> str:
    if head.startswith(QCOW2_MAGIC):
        return "qcow2"
    for magic, fmt in _OTHER_MAGIC.items():
        if head.startswith(magic) or head[64:64 + len(magic)] == magic:
            return fmt
    return "raw"


def qcow2_backing(path: Path) -> tuple[str | None, str | None]:
    """The backing file name and format recorded in a qcow2 header (no qemu needed)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head.startswith(QCOW2_MAGIC) or len(head) < 72:
        return None, None
    version, b_off, b_len = struct.unpack_from(">IQI", head, 4)
    name = None
    if b_off and b_len:
        with open(path, "rb") as f:
            f.seek(b_off)
            name = f.read(b_len).decode("utf-8", "replace")
    fmt = None
    # Header extensions follow the header (72 bytes in v2, header_length in v3).
    pos = 72 if version < 3 else struct.unpack_from(">I", head, 100)[0]
    while pos + 8 <= len(head):
        ext_type, ext_len = struct.unpack_from(">II", head, pos)
        if ext_type == 0:
            break
        if ext_type == 0xE2792ACA:
            fmt = head[pos + 8:pos + 8 + ext_len].decode("ascii", "replace")
        pos += 8 + ((ext_len + 7) & ~7)
    return name, fmt


def backing_chain(path: Path, limit: int = 64) -> list[Path]:
    """Files below `path` in its qcow2 backing chain, resolved like qemu does."""
    chain: list[Path] = []
    current = Path(path)
    for _ in range(limit):
        try:
            name, _fmt = qcow2_backing(current)
        except OSError:
            break
        if not name or ":" in name.split("/", 1)[0]:   # none, or a protocol (nbd:, http:)
            break
        nxt = Path(name) if os.path.isabs(name) else current.parent / name
        chain.append(Path(os.path.realpath(nxt)))
        current = nxt
    return chain


def describe(path: str | os.PathLike) -> DiskFile:
    """Check that `path` is an image golden can open and say what it is."""
    p = Path(path)
    where = str(p)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError("image not found", hint="check the path; images are files or block devices",
                         where=where) from None
    except PermissionError:
        raise InputError("image is not readable", hint="run as a user that can read it (or as root)",
                         where=where) from None
    is_block = stat.S_ISBLK(st.st_mode)
    if not (stat.S_ISREG(st.st_mode) or is_block):
        raise InputError("not a regular file or block device", where=where)
    try:
        with open(p, "rb") as f:
            head = f.read(4096)
            size = f.seek(0, os.SEEK_END)
    except OSError as e:
        raise InputError(f"cannot read image: {e.strerror}", where=where) from None
    fmt = _probe_magic(head)
    if fmt == "raw":
        if size < 512:
            raise InputError(f"image is {size} bytes, too small to hold a disk", where=where)
        return DiskFile(p, "raw", size, (), is_block)
    info = _qemu_img_info(p, fmt)
    return DiskFile(p, fmt, int(info["virtual-size"]), tuple(backing_chain(p)), is_block)


def _qemu_img_info(p: Path, fmt: str) -> dict:
    """Let qemu validate the header (and the backing chain) before anything mounts it."""
    cmd = ["qemu-img", "info", "-U", "--output=json", "-f", fmt, "--backing-chain", str(p)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise HostError("qemu-img is not installed", hint="install qemu-utils") from None
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or ["qemu-img info failed"])[-1]
        msg = msg.removeprefix("qemu-img: ")
        raise InputError(f"not a usable {fmt} image: {msg}",
                         hint="the file is damaged or its backing file is missing; "
                              "`qemu-img check` says more", where=str(p))
    data = json.loads(r.stdout)
    top = data[0] if isinstance(data, list) else data
    if fmt == "qcow2":
        _check_qcow2(p, top)
    return top


def _check_qcow2(p: Path, info: dict) -> None:
    # qemu-img info opens only the header; a qcow2 cut short after its header
    # still "opens". Its refcount table must at least lie inside the file.
    with open(p, "rb") as f:
        head = f.read(72)
        size = f.seek(0, os.SEEK_END)
    refcount_off = struct.unpack_from(">Q", head, 48)[0]
    l1_off = struct.unpack_from(">Q", head, 40)[0]
    if refcount_off >= size or l1_off >= size:
        raise InputError("not a usable qcow2 image: corrupt, its tables lie beyond the end of the file "
                         "(truncated copy?)", hint="`qemu-img check` says more", where=str(p))
    if info.get("format-specific", {}).get("data", {}).get("corrupt"):
        raise InputError("qcow2 image is marked corrupt", hint="repair it with `qemu-img check -r all`",
                         where=str(p))
