"""A virtio-win tree to read drivers from: a folder, or an ISO read in place.

Paths are matched case-insensitively (virtio-win writes NetKVM, older ISOs
WNET/X86, Joliet and Rock Ridge keep whatever case was mastered). An ISO is
read through pycdlib, file by file; nothing is extracted to disk.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from builder.errors import InputError
from builder.media.iso import IsoReader

# Where the virtio-win packages put things (Fedora/RHEL: drivers/by-driver
# beside virtio-win.iso in /usr/share/virtio-win).
_TREE_SUBDIRS = ("", "drivers/by-driver")
_ISO_NAMES = ("virtio-win.iso",)


class DriverSource:
    """Every file of a virtio-win tree, looked up by case-insensitive path."""

    def __init__(self, description: str, files: dict[str, str], reader):
        self.description = description
        self._files = files            # casefolded relative path -> real relative path
        self._read = reader

    def find_dir(self, rel: str) -> str | None:
        """The real spelling of folder `rel` if it holds files, else None."""
        prefix = rel.strip("/").casefold() + "/"
        for key, real in self._files.items():
            if key.startswith(prefix):
                return real[: len(prefix) - 1]
        return None

    def list_dir(self, rel: str) -> list[str]:
        """Real names of the files directly in folder `rel` (sorted)."""
        prefix = rel.strip("/").casefold() + "/"
        out = []
        for key, real in self._files.items():
            if key.startswith(prefix) and "/" not in key[len(prefix):]:
                out.append(real[len(prefix):])
        return sorted(out)

    def read(self, rel: str) -> bytes:
        real = self._files.get(rel.strip("/").casefold())
        if real is None:
            raise InputError(f"{rel} is not in {self.description}")
        return self._read(real)

    def has_any_folder(self, names) -> bool:
        tops = {key.split("/", 1)[0] for key in self._files if "/" in key}
        return any(n.casefold() in tops for n in names)


def _dir_index(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
            out.setdefault(rel.casefold(), rel)
    return out


@contextlib.contextmanager
def open_source(path: str | Path, folder_names) -> Iterator[DriverSource]:
    """Open a virtio-win tree or ISO. `folder_names` are top-level folders that mark a tree."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"driver source {path} does not exist", where="windows.drivers.source",
                         hint="point windows.drivers.source (or --from) at an unpacked virtio-win tree "
                              "or a virtio-win ISO; the virtio-win package installs /usr/share/virtio-win")
    if path.is_file():
        with IsoReader(path) as iso:
            files = {p.casefold(): p for p in iso.files()}
            yield DriverSource(f"ISO {path}", files, iso.read)
        return
    for sub in _TREE_SUBDIRS:
        root = path / sub if sub else path
        if not root.is_dir():
            continue
        files = _dir_index(root)
        source = DriverSource(f"folder {root}", files, lambda rel, root=root: (root / rel).read_bytes())
        if source.has_any_folder(folder_names):
            yield source
            return
    for name in _ISO_NAMES:
        iso_path = path / name
        if iso_path.is_file():
            with open_source(iso_path, folder_names) as source:
                yield source
            return
    raise InputError(f"{path} holds no virtio-win drivers (no driver folders such as viostor/ or "
                     "WNET/, and no virtio-win.iso)", where="windows.drivers.source",
                     hint="give an unpacked virtio-win tree or a virtio-win ISO")
