"""What a killed golden run can leave on this host, read from the host itself (not golden's records).

Processes from /proc, mounts from /proc/mounts, loop devices from `losetup -a`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path


def children(pid: int, comm: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        if ppid == pid and name.startswith(comm):
            out.append(int(entry))
    return out


def workdir_of(pid: int) -> Path | None:
    """The loop backend's work folder, from the FUSE mount point on the exporter's command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    for arg in argv:
        m = re.search(r"mountpoint=([^,]+)/disk\.raw", arg)
        if m:
            return Path(m.group(1))
    return None


def mounts_under(top: Path) -> list[str]:
    with open("/proc/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [p for p in points if p == str(top) or p.startswith(f"{top}/")]


def loop_backings() -> list[str]:
    out = subprocess.run(["losetup", "-a", "-O", "BACK-FILE", "-n"], capture_output=True, text=True,
                         check=True).stdout
    return [line.strip().removesuffix(" (deleted)") for line in out.splitlines() if line.strip()]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat[stat.rfind(")") + 2:].startswith("Z")


def mentioning(text: str) -> list[int]:
    """Live processes whose command line holds `text` (a qemu with an image path, say)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in argv and alive(int(entry)):
            out.append(int(entry))
    return out
