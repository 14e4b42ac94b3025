"""Clone disks: qcow2 overlays on the golden image, or full (reflinked when possible) copies."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from builder.errors import HostError, InputError


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    format: str
    virtual_size: int
    backing: str | None


def info(path: Path) -> ImageInfo:
    """qemu-img's view of an image; a damaged one is bad input, said plainly."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image {path} does not exist")
    proc = subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InputError(f"{path} is not a readable disk image: {proc.stderr.strip()}",
                         hint="is the file complete? `qemu-img check` tells more")
    data = json.loads(proc.stdout)
    fmt = data.get("format", "raw")
    if fmt == "qcow2":
        check = subprocess.run(["qemu-img", "check", "-q", "-f", "qcow2", str(path)], capture_output=True, text=True)
        if check.returncode not in (0,):
            raise InputError(f"{path} is a corrupt qcow2 image: {(check.stderr or check.stdout).strip()[:300]}",
                             hint="rebuild the golden image; `qemu-img check -r all` may repair a copy")
    return ImageInfo(path, fmt, int(data.get("virtual-size", 0)), data.get("full-backing-filename"))


def create_overlay(base: ImageInfo, out: Path) -> Path:
    """A linked clone: a qcow2 whose backing file (and its format) is the golden image."""
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", base.format, "-b",
                           str(base.path.resolve()), str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostError(f"qemu-img create failed for {out}: {proc.stderr.strip()}")
    return out


def full_copy(base: ImageInfo, out: Path) -> Path:
    """A full clone: reflink where the file system allows (instant), else a sparse copy."""
    if base.backing:
        raise InputError(f"{base.path} is itself an overlay (backing file {base.backing})",
                         hint="full clones copy a standalone image; flatten it first or use --linked")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    proc = subprocess.run(["cp", "--reflink=auto", "--sparse=always", str(base.path), str(tmp)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise HostError(f"copying {base.path} failed: {proc.stderr.strip()}")
    os.replace(tmp, out)
    return out


def remove(paths) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()


def free_space_ok(directory: Path, needed: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise HostError(f"{directory} has {free >> 20} MiB free; the clones need about {needed >> 20} MiB",
                        hint="use --linked clones or free some space")
