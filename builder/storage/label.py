"""`golden storage label`: the SELinux file context that lets qemu open images in a directory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from builder.errors import HostError, InputError

TYPES = ("virt_image_t", "xen_image_t")


def plan(directory: Path, selinux_type: str) -> list[list[str]]:
    if selinux_type not in TYPES:
        raise InputError(f"SELinux type {selinux_type!r} is not one of {', '.join(TYPES)}", where="--type")
    d = str(Path(directory).resolve())
    return [["semanage", "fcontext", "-a", "-t", selinux_type, f"{d}(/.*)?"], ["restorecon", "-R", "-v", d]]


def selinux_enabled() -> bool:
    if shutil.which("selinuxenabled"):
        return subprocess.run(["selinuxenabled"]).returncode == 0
    return Path("/sys/fs/selinux/enforce").exists()


def apply(commands: list[list[str]]) -> None:
    for argv in commands:
        if not shutil.which(argv[0]):
            raise HostError(f"{argv[0]} is not installed", hint="install policycoreutils-python-utils")
        run = subprocess.run(argv, capture_output=True, text=True)
        if run.returncode:
            raise HostError(f"{' '.join(argv)} failed: {run.stderr.strip()}")
