"""Clone disks: qcow2 overlays on the golden image, or full (reflinked when possible) copies."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from builder.errors import HostError, InputError
from builder.image.diskfile import DiskFile, describe

# An overlay starts at about 200 KiB; customizing a clone (hostname, ifcfg, identity files,
# journal) writes a few MiB of clusters more.
OVERLAY_BYTES = 8 << 20


def refuse_if_written(disk: DiskFile, conn) -> None:
    """A guest writing the source makes every clone of it inconsistent (seed 33.7).

    Guests that only read it (linked clones running on top of it) are fine.
    """
    from builder.image import inuse
    users = inuse.qemu_lock_users(disk.path) + inuse.loop_users(disk.path)
    if conn is not None:
        users += inuse.domain_users(disk, conn)[0]
    writers = sorted({u.who for u in users if u.writes})
    if writers:
        raise InputError("the disk is in use by " + "; ".join(writers), where=str(disk.path),
                         hint="shut the guest down first: a disk that is being written cannot be cloned")


def check_image(path: Path, conn=None) -> DiskFile:
    """The image as qemu sees it, refused if it is missing, damaged or being written."""
    disk = describe(path)
    refuse_if_written(disk, conn)
    if disk.format == "qcow2":
        proc = subprocess.run(["qemu-img", "check", "-q", "-f", "qcow2", str(disk.path)],
                              capture_output=True, text=True)
        # 0 clean, 3 leaked clusters only (harmless); 1 could not check, 2 corrupt.
        if proc.returncode not in (0, 3):
            lines = (proc.stderr + proc.stdout).strip().splitlines()
            errors = [ln.strip() for ln in lines if ln.lstrip().startswith("ERROR")]
            detail = (f"qemu-img check found {len(errors)} error(s), the first: {errors[0]}" if errors
                      else (lines[0] if lines else f"qemu-img check failed (exit {proc.returncode})"))
            raise InputError(f"corrupt qcow2 image: {detail}", where=str(disk.path),
                             hint="rebuild the golden image; `qemu-img check -r all` may repair a copy")
    return disk


def create_overlay(base: DiskFile, out: Path) -> str:
    """A linked clone: a qcow2 whose backing file (and its format) is the golden image."""
    proc = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", base.format, "-b",
                           str(Path(base.path).resolve()), str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
        raise HostError(f"qemu-img create failed for {out}: {proc.stderr.strip()}")
    return "qcow2"


def full_copy(base: DiskFile, out: Path) -> str:
    """A full clone; returns its format.

    A standalone image is copied with `cp --reflink=auto` (instant on btrfs
    and XFS, a sparse copy elsewhere); an overlay is flattened into a
    standalone qcow2 with qemu-img convert.
    """
    tmp = out.with_name(f".{out.name}.tmp")
    if base.backing_chain:
        cmd = ["qemu-img", "convert", "-q", "-f", base.format, "-O", "qcow2", str(base.path), str(tmp)]
        fmt = "qcow2"
    else:
        cmd = ["cp", "--reflink=auto", "--sparse=always", str(base.path), str(tmp)]
        fmt = base.format
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise HostError(f"copying {base.path} to {out} failed: {proc.stderr.strip()}")
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return fmt


def allocated_bytes(disk: DiskFile) -> int:
    """Bytes a full copy takes: what the image and the files below it hold."""
    total = 0
    for path in (disk.path, *disk.backing_chain):
        with contextlib.suppress(OSError):
            total += os.stat(path).st_blocks * 512
    return total


def remove(paths) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()


def check_free_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise HostError(f"{directory} has {free >> 20} MiB free; the clones need about {needed >> 20} MiB",
                        hint="use linked clones (--linked), fewer clones, or another --dir")
