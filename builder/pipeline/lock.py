"""One build of a name at a time: `make -j` may start the same target twice."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from builder.errors import HostError


@contextlib.contextmanager
def build_lock(directory: Path, name: str):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f".{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise HostError(f"another golden build of {name} is running ({holder})",
                            where=str(directory),
                            hint="wait for it, or stop it; builds of different profiles run in parallel") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)
