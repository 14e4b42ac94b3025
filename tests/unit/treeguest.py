"""A guest whose root is a host directory, for unit tests of what golden reads in a guest."""

from __future__ import annotations

import os
from pathlib import Path

from builder.image.diskfile import DiskFile
from builder.image.guest import Guest
from builder.image.model import Stat


class TreeGuest(Guest):
    """A guest whose root is a host directory: the read primitives only, for synthetic trees."""

    backend = "tree"

    def __init__(self, root: Path):
        super().__init__(DiskFile(root / "disk.img", "raw", 0, ()), readonly=True)
        self.root = root

    def _p(self, path):
        return str(self.root) + path

    def _lstat(self, path):
        st = os.lstat(self._p(path))
        return Stat(st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_nlink, int(st.st_mtime))

    def _stat(self, path):
        st = os.stat(self._p(path))
        return Stat(st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_nlink, int(st.st_mtime))

    def _readlink(self, path):
        return os.readlink(self._p(path))

    def _listdir(self, path):
        return os.listdir(self._p(path))

    def _read(self, path):
        return Path(self._p(path)).read_bytes()

    def _pread(self, path, size, offset):
        with open(self._p(path), "rb") as f:
            f.seek(offset)
            return f.read(size)


def tree(tmp_path: Path, files: dict[str, bytes | str]) -> TreeGuest:
    for rel, data in files.items():
        p = tmp_path / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return TreeGuest(tmp_path)
