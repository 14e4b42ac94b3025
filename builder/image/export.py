"""A raw view of a qcow2 image for the loop backend.

The loop driver only reads raw bytes. qemu-storage-daemon can export any image
qemu opens (with its backing chain) as a raw file over FUSE; losetup then maps
partitions of that file like those of a raw image. Where FUSE is missing but
the nbd module is loaded, qemu-nbd gives the same view as /dev/nbdN.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Iterator

from builder import owners
from builder.errors import HostError
from builder.image.diskfile import DiskFile
from builder.image.host import mounted_paths, run, tool

log = logging.getLogger("golden.image")

READY_TIMEOUT = 15.0


class ExportUnavailable(Exception):
    """No way to give this host a raw view of the image (the caller may use guestfs)."""


def _qemu_opt(value: str) -> str:
    # In qemu's key=value option syntax a literal comma is written twice.
    return value.replace(",", ",,")


def fuse_available() -> bool:
    return tool("qemu-storage-daemon") is not None and os.path.exists("/dev/fuse")


def nbd_available() -> bool:
    return tool("qemu-nbd") is not None and os.path.isdir("/sys/module/nbd")


@contextlib.contextmanager
def raw_view(disk: DiskFile, readonly: bool, workdir: Path) -> Iterator[str]:
    """Yield a path whose bytes are the guest disk; stop the exporter afterwards."""
    if disk.format == "raw":
        yield str(disk.path)
        return
    if disk.format != "qcow2":
        raise ExportUnavailable(f"the loop backend reads raw and qcow2 images, not {disk.format}")
    if fuse_available():
        with _fuse_export(disk, readonly, workdir) as path:
            yield path
        return
    if nbd_available():
        with _nbd_export(disk, readonly) as path:
            yield path
        return
    raise ExportUnavailable("qcow2 needs qemu-storage-daemon with /dev/fuse, or qemu-nbd with the nbd module")


@contextlib.contextmanager
def _fuse_export(disk: DiskFile, readonly: bool, workdir: Path) -> Iterator[str]:
    mountpoint = workdir / "disk.raw"
    mountpoint.touch()
    ro = ",read-only=on,force-share=on" if readonly else ""
    cmd = [tool("qemu-storage-daemon"),
           "--blockdev", f"driver=file,node-name=file0,filename={_qemu_opt(str(disk.path))}{ro}",
           "--blockdev", f"driver=qcow2,node-name=disk0,file=file0{ro}",
           "--export", f"type=fuse,id=exp0,node-name=disk0,mountpoint={_qemu_opt(str(mountpoint))},"
                       f"writable={'off' if readonly else 'on'}"]
    logfile = workdir / "qsd.log"
    # The mount point path is unique to this export, so it marks the daemon's command line.
    rec = owners.register("process", str(mountpoint), exe="qemu-storage-daemon", mountpoint=str(mountpoint))
    try:
        with open(logfile, "wb") as out:
            # Its own session: a Ctrl-C in the terminal must not stop it before the
            # loop devices on top of it are gone.
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    except BaseException:
        owners.release(rec)
        raise
    rec.update(pid=proc.pid, start=owners.proc_start(proc.pid))
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while str(mountpoint) not in mounted_paths():
            if proc.poll() is not None:
                err = logfile.read_text(errors="replace").strip()
                raise HostError(f"qemu-storage-daemon could not export {disk.path}: {err}",
                                hint="check that the image is not in use and that /dev/fuse works")
            if time.monotonic() > deadline:
                raise HostError(f"qemu-storage-daemon did not export {disk.path} within {READY_TIMEOUT:.0f} s")
            time.sleep(0.005)
        log.debug("qemu-storage-daemon pid %d exports %s at %s", proc.pid, disk.path, mountpoint)
        yield str(mountpoint)
    finally:
        _stop(proc, mountpoint)
        if str(mountpoint) not in mounted_paths():
            owners.release(rec)


def _stop(proc: subprocess.Popen, mountpoint: Path) -> None:
    if proc.poll() is None:
        proc.terminate()          # qemu-storage-daemon flushes the image and exits on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if str(mountpoint) in mounted_paths():
        for cmd in (["fusermount3", "-u", "-z", str(mountpoint)], ["umount", "-l", str(mountpoint)]):
            if tool(cmd[0]) and run(cmd, what="unmount FUSE export", check=False).returncode == 0:
                break


@contextlib.contextmanager
def _nbd_export(disk: DiskFile, readonly: bool) -> Iterator[str]:
    devices = sorted(Path("/sys/block").glob("nbd*"), key=lambda p: int(p.name[3:] or 0))
    for sysdev in devices:
        if (sysdev / "pid").exists():
            continue
        dev = f"/dev/{sysdev.name}"
        cmd = ["qemu-nbd", "-c", dev, "-f", "qcow2", "--cache=writeback"]
        if readonly:
            cmd.append("-r")
        # qemu-nbd -c daemonizes; the device it serves is in its command line, the reaper finds it by that.
        rec = owners.register("process", dev, exe="qemu-nbd")
        r = run(cmd + [str(disk.path)], what="qemu-nbd", check=False)
        if r.returncode != 0:
            owners.release(rec)
            continue
        # The kernel names the serving process; with it the reaper never mistakes nbd1 for nbd10.
        with contextlib.suppress(OSError, ValueError):
            pid = int((sysdev / "pid").read_text().strip())
            rec.update(pid=pid, start=owners.proc_start(pid))
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while int((sysdev / "size").read_text().strip() or 0) == 0:
                if time.monotonic() > deadline:
                    raise HostError(f"qemu-nbd connected {dev} but it stayed empty")
                time.sleep(0.01)
            yield dev
        finally:
            if run(["qemu-nbd", "-d", dev], what="qemu-nbd -d", check=False).returncode == 0:
                owners.release(rec)
        return
    raise ExportUnavailable("no free /dev/nbdN device")
