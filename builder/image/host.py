"""Small host facts and a subprocess runner for the image backends."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from typing import Iterator

from builder.errors import HostError

log = logging.getLogger("golden.image")

# File systems the loop backend mounts with the host kernel. btrfs is left to
# guestfs on purpose: its subvolume layouts need their own root logic, and two
# clones with the same fsid must never be mounted side by side on one kernel.
LOOP_FSTYPES = ("ext2", "ext3", "ext4", "xfs")


def is_root() -> bool:
    return os.geteuid() == 0


def host_fstypes() -> set[str]:
    """Block file systems the running kernel can mount now (/proc/filesystems)."""
    try:
        with open("/proc/filesystems") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    return {line.split()[-1] for line in lines if line.strip() and not line.startswith("nodev")}


def loop_fstypes() -> set[str]:
    return set(LOOP_FSTYPES) & host_fstypes()


def tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None)


def run(cmd: list[str], *, what: str, timeout: float = 120, check: bool = True,
        input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run a host tool; a failure becomes a HostError that quotes its stderr."""
    exe = tool(cmd[0])
    if exe is None:
        raise HostError(f"{cmd[0]} is not installed", hint=f"install the package that provides {cmd[0]}")
    log.debug("run: %s", " ".join(cmd))
    r = subprocess.run([exe, *cmd[1:]], capture_output=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip() or r.stdout.decode(errors="replace").strip()
        raise HostError(f"{what} failed: {err or f'exit status {r.returncode}'}",
                        details={"command": cmd, "returncode": r.returncode})
    return r


def mounted_paths() -> set[str]:
    """Mount points in this mount namespace (mountinfo escapes spaces as \\040)."""
    out = set()
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                field = line.split()[4]
                out.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field))
    except OSError:
        pass
    return out


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while cleanup runs, so Ctrl-C cannot strand a mount."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While an image is open, SIGTERM unwinds like Ctrl-C (and so cleans up)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
