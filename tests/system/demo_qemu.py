"""Plain qemu (TCG) runs and disk reading for the demo media system tests.

No libvirt here: these tests check the demo media itself. Networking is
qemu's user mode only (restrict=on, guestfwd to a loopback server).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

QEMU = "qemu-system-x86_64"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
MAC = "52:54:00:12:34:56"
FAILED = re.compile(r"golden-installer: FAILED: (.*)")


@dataclass
class Run:
    serial: str
    exited: bool      # qemu stopped by itself (guest powered off)
    returncode: int | None
    seconds: float

    def lines(self, prefix: str) -> list[str]:
        return [line.strip() for line in self.serial.splitlines() if line.strip().startswith(prefix)]

    def value(self, key: str) -> str | None:
        """The value of `golden-installer: KEY=...`."""
        for line in self.lines("golden-installer: "):
            body = line[len("golden-installer: "):]
            if body.startswith(key + "="):
                return body[len(key) + 1:]
        return None

    def failed(self) -> str | None:
        m = FAILED.search(self.serial)
        return m.group(1).strip() if m else None


def base_args(serial: Path, *, memory: int = 1024, uefi_vars: Path | None = None) -> list[str]:
    args = [QEMU, "-accel", "tcg", "-cpu", "max", "-m", str(memory), "-display", "none",
            "-monitor", "none", "-no-reboot", "-serial", f"file:{serial}"]
    if uefi_vars is not None:
        shutil.copyfile(OVMF_VARS, uefi_vars)
        args += ["-machine", "q35",
                 "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                 "-drive", f"if=pflash,format=raw,unit=1,file={uefi_vars}"]
    return args


def user_net(mac: str = MAC, extra: str = "") -> list[str]:
    return ["-netdev", f"user,id=n0,restrict=on{extra}", "-device", f"virtio-net-pci,netdev=n0,mac={mac}"]


def run(args: list[str], serial: Path, *, timeout: float, until: re.Pattern | None = None,
        grace: float = 1.0) -> Run:
    """Run qemu until it exits, or until `until` matches the serial output (then
    stop it), or until `timeout` (then stop it too). Never leaves qemu running."""
    serial.unlink(missing_ok=True)
    start = time.monotonic()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    exited = False
    try:
        while time.monotonic() - start < timeout:
            if proc.poll() is not None:
                exited = True
                break
            if until is not None and serial.exists() and until.search(serial.read_text(errors="replace")):
                time.sleep(grace)
                break
            time.sleep(0.25)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    text = serial.read_text(errors="replace") if serial.exists() else ""
    if exited and proc.returncode != 0:
        raise AssertionError(f"qemu failed ({proc.returncode}): {out}")
    return Run(text, exited, proc.returncode, time.monotonic() - start)


# --- reading an installed disk without mounting it ---------------------------

@dataclass
class Partition:
    number: int
    start: int      # bytes
    size: int       # bytes
    type: int
    bootable: bool


def mbr_partitions(disk: Path) -> list[Partition]:
    """Primary MBR partitions (enough for the demo layouts)."""
    with open(disk, "rb") as f:
        mbr = f.read(512)
    assert mbr[510:512] == b"\x55\xaa", "no MBR signature"
    parts = []
    for i in range(4):
        entry = mbr[446 + 16 * i:446 + 16 * (i + 1)]
        status, ptype = entry[0], entry[4]
        lba, count = struct.unpack("<II", entry[8:16])
        if ptype:
            parts.append(Partition(i + 1, lba * 512, count * 512, ptype, status == 0x80))
    return parts


def fs_type(disk: Path, part: Partition) -> str:
    res = subprocess.run(["blkid", "-p", "-O", str(part.start), "-S", str(part.size),
                          "-o", "value", "-s", "TYPE", str(disk)], capture_output=True, text=True)
    return res.stdout.strip()


def fs_uuid(disk: Path, part: Partition) -> str:
    res = subprocess.run(["blkid", "-p", "-O", str(part.start), "-S", str(part.size),
                          "-o", "value", "-s", "UUID", str(disk)], capture_output=True, text=True)
    return res.stdout.strip()


def read_file(disk: Path, part: Partition, path: str) -> str:
    """A file's text from an ext2/3/4 partition, through debugfs (read-only)."""
    res = subprocess.run(["debugfs", "-R", f"cat {path}", f"{disk}?offset={part.start}"],
                         capture_output=True, text=True)
    if res.returncode != 0 or "File not found" in res.stderr:
        raise FileNotFoundError(f"{path}: {res.stderr.strip()}")
    return res.stdout


def stat_file(disk: Path, part: Partition, path: str) -> str:
    res = subprocess.run(["debugfs", "-R", f"stat {path}", f"{disk}?offset={part.start}"],
                         capture_output=True, text=True)
    if "File not found" in res.stderr:
        raise FileNotFoundError(path)
    return res.stdout


def symlink_target(disk: Path, part: Partition, path: str) -> str:
    m = re.search(r'Fast link dest: "([^"]*)"', stat_file(disk, part, path))
    assert m, f"{path} is not a symlink"
    return m.group(1)
