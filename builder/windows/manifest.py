"""The virtio-win driver manifest (drivers/virtio-win.yaml), typed.

It answers: which driver sets exist, which Windows release and architecture
each serves, in which folder of a virtio-win tree their files sit, and what
text-mode setup needs to load a storage driver from a floppy.
"""

from __future__ import annotations

import functools
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from builder import paths
from builder.catalog import OsEntry
from builder.errors import InputError

MANIFEST = "virtio-win.yaml"
# virtio-win's folder for each golden arch, used to name a folder that does not exist.
_NATIVE_ARCH = {"i386": "x86", "x86_64": "amd64"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriverSet(_Model):
    name: str = ""
    folder: str                                   # per-driver layout folder: viostor, NetKVM, ...
    kind: Literal["storage", "network", "other"]
    description: str
    service: str
    files: tuple[str, ...]                        # what a set must have: .inf, .sys, .cat
    optional: tuple[str, ...] = ()                # taken from a flat folder when present
    hardware_ids: tuple[str, ...] = ()
    config: tuple[tuple[str, str, str, str], ...] = ()
    oses: dict[str, tuple[str, ...]]              # os folder -> arch folders

    @property
    def inf(self) -> str:
        return next(f for f in self.files if f.lower().endswith(".inf"))

    @property
    def sys(self) -> str:
        return next(f for f in self.files if f.lower().endswith(".sys"))

    @property
    def cat(self) -> str | None:
        return next((f for f in self.files if f.lower().endswith(".cat")), None)


class Manifest(_Model):
    os_folders: tuple[str, ...]
    arch_folders: tuple[str, ...]
    flat_os_folders: dict[str, str]
    exclude: tuple[str, ...] = ()
    sets: dict[str, DriverSet]


@functools.lru_cache(maxsize=1)
def load() -> Manifest:
    path = paths.drivers_dir() / MANIFEST
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read the driver manifest {path}: {exc.strerror}") from exc
    for name, data in (raw.get("sets") or {}).items():
        data["name"] = name
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{path}: {exc}") from exc
    for ds in manifest.sets.values():
        unknown = [o for o in ds.oses if o not in manifest.os_folders]
        if unknown:
            raise InputError(f"{path}: set {ds.name} names unknown os folder(s) {unknown}")
    return manifest


def driver_set(name: str) -> DriverSet:
    sets = load().sets
    if name not in sets:
        raise InputError(f"unknown driver set {name!r}", hint=f"known sets: {', '.join(sets)}")
    return sets[name]


def target(entry: OsEntry, arch: str) -> tuple[str, str | None]:
    """The virtio-win os and arch folders for a catalog entry and golden arch."""
    w = entry.windows
    return w.virtio_win_folder, w.virtio_win_arch.get(arch)


def rel_folder(ds: DriverSet, os_folder: str, arch_folder: str) -> str:
    """Where the set's files sit in the per-driver layout: viostor/2k3/x86."""
    return f"{ds.folder}/{os_folder}/{arch_folder}"


def missing_reason(ds: DriverSet, entry: OsEntry, arch: str) -> str | None:
    """Why `ds` has no driver for this release and arch, naming the folder; None if it has."""
    os_folder, arch_folder = target(entry, arch)
    expected = rel_folder(ds, os_folder, arch_folder or _NATIVE_ARCH[arch])
    if arch_folder is None:
        return (f"virtio-win has no {arch} drivers for {entry.name} (expected folder {expected}; "
                "the seed lists them for 32-bit only)")
    if arch_folder not in ds.oses.get(os_folder, ()):
        return f"virtio-win has no {ds.name} driver for {entry.name} {arch} (expected folder {expected})"
    return None
