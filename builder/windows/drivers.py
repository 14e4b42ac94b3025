"""Driver media from a virtio-win tree: the F6 floppy and the driver CD.

Files are found in either virtio-win layout (per-driver viostor/2k3/x86/ or
the older flat WNET/X86/) and always land in golden's layout (media.py):
text-mode storage drivers at the floppy's root beside txtsetup.oem, every
other set in <folder>/<os>/<arch>/, the answer file at the root.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from builder import catalog
from builder.errors import InputError
from builder.media import fat, iso
from builder.profile.loader import LoadedProfile
from builder.windows import manifest, txtsetup, unattend
from builder.windows.manifest import DriverSet
from builder.windows.media import FLOPPY_LABEL, ISO_LABEL, MediaPlan
from builder.windows.source import DriverSource, open_source

DEFAULT_SOURCE = "/usr/share/virtio-win"


@dataclass(frozen=True)
class Found:
    """One set's files as found in the source."""
    set: DriverSet
    folder: str                  # where in the source, real spelling
    files: dict[str, bytes]      # file name -> bytes


def _excluded(name: str, patterns) -> bool:
    return any(fnmatch.fnmatch(name.casefold(), p.casefold()) for p in patterns)


def locate(source: DriverSource, ds: DriverSet, os_folder: str, arch_folder: str) -> Found:
    """The set's driver folder for this release and arch, or an InputError naming it."""
    m = manifest.load()
    expected = manifest.rel_folder(ds, os_folder, arch_folder)
    per_driver = source.find_dir(expected)
    if per_driver is not None:
        names = [n for n in source.list_dir(per_driver) if not _excluded(n, m.exclude)]
    else:
        flat = f"{m.flat_os_folders.get(os_folder, os_folder)}/{arch_folder}"
        real = source.find_dir(flat)
        if real is None:
            raise InputError(f"driver set {ds.name}: {source.description} has no folder {expected} "
                             f"(nor {flat} of the older flat layout)", where="windows.drivers.sets",
                             hint=f"this virtio-win has no {ds.name} driver for {os_folder}/{arch_folder}; "
                                  "use a virtio-win that has it, or drop the set")
        per_driver = real
        wanted = {f.casefold() for f in ds.files + ds.optional}
        names = [n for n in source.list_dir(real) if n.casefold() in wanted]
    have = {n.casefold() for n in names}
    missing = [f for f in ds.files if f.casefold() not in have]
    if missing:
        raise InputError(f"driver set {ds.name}: {per_driver} in {source.description} lacks "
                         f"{', '.join(missing)}", where="windows.drivers.sets",
                         hint="the folder is incomplete; use an intact virtio-win tree or ISO")
    files = {name: source.read(f"{per_driver}/{name}") for name in names}
    return Found(ds, per_driver, files)


def collect(layout: MediaPlan, source: DriverSource) -> list[Found]:
    return [locate(source, ds, layout.os_folder, layout.arch_folder) for ds in layout.sets]


def media_files(answer: unattend.AnswerFiles, found: list[Found]) -> dict[str, bytes]:
    """Every file of the driver medium, by path on the medium."""
    layout = answer.layout
    out: dict[str, bytes] = {}
    for item in found:
        folder = layout.folder(item.set)
        for name, data in item.files.items():
            path = f"{folder}/{name}" if folder else name
            key = path.casefold()
            if any(k.casefold() == key for k in out):
                continue     # a co-installer shared by two sets: one copy will do
            out[path] = data
    if layout.text_mode:
        out["txtsetup.oem"] = txtsetup.render(list(layout.text_mode))
    out.update(answer.files)
    return dict(sorted(out.items()))


def _source_path(loaded: LoadedProfile, given: str | Path | None) -> Path:
    if given is not None:
        return Path(given)
    return Path(loaded.profile.windows.drivers.source or DEFAULT_SOURCE)


def build_files(loaded: LoadedProfile, source: str | Path | None = None,
                medium: str | None = None) -> tuple[MediaPlan, dict[str, bytes]]:
    """Answer file plus drivers, by path on the medium; `source` overrides the profile's."""
    answer = unattend.render(loaded, medium)
    layout = answer.layout
    if not layout.sets:
        return layout, media_files(answer, [])
    folders = {ds.folder for ds in manifest.load().sets.values()} | set(manifest.load().flat_os_folders.values())
    with open_source(_source_path(loaded, source), folders) as src:
        found = collect(layout, src)
    return layout, media_files(answer, found)


def write_floppy(loaded: LoadedProfile, out: Path, source: str | Path | None = None) -> Path:
    """A 1.44 MB FAT12 floppy: answer file, txtsetup.oem (XP/2003) and drivers."""
    _, files = build_files(loaded, source, "floppy")
    return fat.make_floppy(out, files, label=FLOPPY_LABEL)


def write_iso(loaded: LoadedProfile, out: Path, source: str | Path | None = None) -> Path:
    """A driver CD (Joliet + Rock Ridge): autounattend.xml at the root, drivers per set."""
    entry = catalog.get(loaded.profile.os)
    if entry.windows.era == "sif":
        raise InputError(f"{entry.name} setup reads winnt.sif and F6 drivers only from a floppy (seed 13.2)",
                         hint="use `golden drivers floppy`")
    _, files = build_files(loaded, source, "iso")
    return iso.write_iso(out, files, ISO_LABEL, joliet=True, rock_ridge=True)
