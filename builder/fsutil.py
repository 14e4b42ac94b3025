"""Atomic, reproducible file output.

Every artifact golden writes goes through here: a temporary file in the target
folder, then a rename, so a reader (or Make) never sees half a file and a
failure leaves the previous version in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

# Fixed timestamp for every file golden puts inside an image, ISO or cpio, so
# the same inputs give the same bytes (2020-01-01T00:00:00Z).
REPRODUCIBLE_EPOCH = 1577836800


@contextlib.contextmanager
def atomic_path(target: Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write(target: Path, data: bytes | str, mode: int = 0o644) -> Path:
    if isinstance(data, str):
        data = data.encode()
    with atomic_path(target, mode) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def sha256_file(path: Path, bufsize: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
