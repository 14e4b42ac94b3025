"""Atomic publish: every output is made as a temp file in the output folder, then renamed.

The image goes last-but-one and the manifest last, so a reader that finds a
manifest always finds the image it describes; a build killed before the renames
leaves the previous image and manifest as they were. Each temp file, scratch
folder and qemu-img is recorded with golden's owner records (builder/owners.py)
before it exists, so the next golden command, whatever it is, removes what a
killed publish left; the next build of the same name also sweeps its temp names.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from lxml import etree

from builder import owners
from builder.errors import HostError
from builder.fsutil import sha256_file


def sweep_temps(directory: Path, name: str) -> list[Path]:
    """Temp files of an earlier, killed publish of NAME (caller holds the build lock)."""
    gone = []
    for path in directory.glob(f".{name}.*.tmp"):
        with contextlib.suppress(OSError):
            path.unlink()
            gone.append(path)
    return gone


def temp_beside(target: Path) -> tuple[Path, "owners.Record"]:
    """A new temp file beside `target`, recorded first: a killed publish leaves no half-written image."""
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
    rec = owners.register("file", tmp)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    return tmp, rec


@contextlib.contextmanager
def scratch_dir(directory: Path, prefix: str):
    """A recorded scratch folder in `directory` (on the output's file system), removed on the way out."""
    path = directory / f"{prefix}{uuid.uuid4().hex[:12]}"
    rec = owners.register("file", path)
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            owners.release(rec)


def convert_argv(source: Path, out: Path, fmt: str, compress: str = "none") -> list[str]:
    """qemu-img convert for one output; only qcow2 compresses (by cluster, still randomly readable)."""
    argv = ["qemu-img", "convert", "-O", fmt]
    if fmt == "qcow2" and compress != "none":
        argv += ["-c", "-o", f"compression_type={compress}"]
    elif fmt == "vmdk":
        # streamOptimized: the vmdk subformat OVA importers (vSphere, VirtualBox) expect.
        argv += ["-o", "subformat=streamOptimized"]
    return argv + [str(source), str(out)]


def convert(source: Path, out: Path, fmt: str, compress: str = "none") -> None:
    """Flatten the sealed overlay into a standalone image (uncompressed unless the profile asks)."""
    argv = convert_argv(source, out, fmt, compress)
    # Recorded by its output path: a qemu-img still writing after golden was killed is stopped by the next run.
    rec = owners.register("process", str(out), exe="qemu-img")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, preexec_fn=owners.die_with_parent)
        rec.update(pid=proc.pid, start=owners.proc_start(proc.pid))
        _, err = proc.communicate()
    finally:
        owners.release(rec)
    if proc.returncode != 0:
        raise HostError(f"qemu-img convert failed: {err.strip()}", where=str(source))


def virtual_and_allocated(path: Path) -> tuple[int | None, int]:
    """Virtual size qemu-img reports and the bytes the file really occupies (sparse-aware)."""
    proc = subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True)
    virtual = json.loads(proc.stdout).get("virtual-size") if proc.returncode == 0 else None
    return virtual, path.stat().st_blocks * 512


def image_info(path: Path, fmt: str) -> dict:
    proc = subprocess.run(["qemu-img", "info", "--output=json", "-f", fmt, str(path)],
                          capture_output=True, text=True)
    virtual = json.loads(proc.stdout).get("virtual-size") if proc.returncode == 0 else None
    return {"path": str(path), "format": fmt, "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "virtual_size": virtual}


def template_xml(installed_xml: str, name: str, images: list[tuple[Path, str]]) -> str:
    """The installed domain's XML as a clone template: published disks, no install media, no UUID."""
    root = etree.fromstring(installed_xml.encode())
    root.find("name").text = name
    for tag in ("uuid", "description"):
        for el in root.findall(tag):
            root.remove(el)
    desc = etree.Element("description")
    desc.text = f"golden image {name} (template: golden clone gives each clone its own name, UUID and MACs)"
    root.find("name").addnext(desc)
    os_el = root.find("os")
    if os_el is not None:
        for tag in ("kernel", "initrd", "cmdline"):
            for el in os_el.findall(tag):
                os_el.remove(el)
    devices = root.find("devices")
    disks = [d for d in devices.findall("disk") if d.get("device", "disk") == "disk"]
    for disk in devices.findall("disk"):
        if disk.get("device") in ("cdrom", "floppy"):
            devices.remove(disk)
    # A passed-through PCI device belongs to the build host and maps to one guest only:
    # clones go to other hosts, so the template carries none (the profile's hostdevs: keep them).
    for hostdev in devices.findall("hostdev"):
        devices.remove(hostdev)
    for disk, (path, fmt) in zip(disks, images):
        disk.set("type", "file")
        for src in disk.findall("source"):
            disk.remove(src)
        src = etree.SubElement(disk, "source", file=str(path))
        driver = disk.find("driver")
        if driver is not None:
            driver.set("type", fmt)
    for disk in disks[len(images):]:
        devices.remove(disk)
    return etree.tostring(root, pretty_print=True).decode()


class Publication:
    """Temp files staged beside their targets; commit() renames them in order."""

    def __init__(self):
        self.staged: list[tuple[Path, Path]] = []
        self._records: list = []

    def stage(self, target: Path) -> Path:
        tmp, rec = temp_beside(target)
        self.staged.append((tmp, target))
        self._records.append(rec)
        return tmp

    def write(self, target: Path, data: str, mode: int = 0o644) -> None:
        tmp = self.stage(target)
        tmp.write_text(data)
        os.chmod(tmp, mode)

    def commit(self) -> None:
        for tmp, target in self.staged:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        for tmp, target in self.staged:
            os.replace(tmp, target)
        self._forget()

    def abort(self) -> None:
        for tmp, _ in self.staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._forget()

    def _forget(self) -> None:
        for rec in self._records:
            owners.release(rec)
        self.staged, self._records = [], []


def compaction(sources: list[Path], published: Path, compress: str) -> dict:
    """Before/after sizes for the manifest: what the sealed disk chain occupied, what was published."""
    before = sum(p.stat().st_blocks * 512 for p in sources if p.exists())
    virtual, after = virtual_and_allocated(published)
    return {"compress": compress, "virtual_size": virtual, "sealed_bytes": before, "published_bytes": after}
