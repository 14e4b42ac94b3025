"""Where each driver goes on golden's driver media, decided once.

The answer files name these places (DriverPaths, OemPnPDriversPath,
[OEMBootFiles]) and the media builders put files there, so both read this
one plan. Pure: no virtio-win tree is needed to know the layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.catalog import OsEntry
from builder.profile import effective
from builder.profile.schema import Profile
from builder.windows import manifest
from builder.windows.manifest import DriverSet
from builder.windows.txtsetup import TextModeDriver

# The driver CD's letter is not fixed (the install DVD usually takes D:), so
# DriverPaths lists the same folder on each likely letter, as virt-install
# and Cobbler do; Setup skips the ones that do not exist.
CD_LETTERS = ("D", "E", "F")
FLOPPY_LETTER = "A"
FLOPPY_LABEL = "GOLDENDRV"
ISO_LABEL = "GOLDEN-DRIVERS"


@dataclass(frozen=True)
class MediaPlan:
    medium: str                               # floppy | iso
    era: str                                  # sif | unattend
    os_folder: str
    arch_folder: str | None
    sets: tuple[DriverSet, ...] = ()          # in profile order, each available for the release
    text_mode: tuple[TextModeDriver, ...] = field(default=())   # F6 storage drivers (XP/2003)

    @property
    def answer_file(self) -> str:
        return "winnt.sif" if self.era == "sif" else "autounattend.xml"

    def folder(self, ds: DriverSet) -> str:
        """The set's folder on the medium ("" is the root)."""
        if any(t.set.name == ds.name for t in self.text_mode):
            return ""
        return manifest.rel_folder(ds, self.os_folder, self.arch_folder)

    @property
    def pnp_sets(self) -> tuple[DriverSet, ...]:
        """Sets Windows installs from a driver folder (not through text mode)."""
        return tuple(ds for ds in self.sets if self.folder(ds))

    def windows_paths(self, ds: DriverSet) -> list[str]:
        """The set's folder as Windows Setup may see it, one path per likely drive letter."""
        rel = self.folder(ds).replace("/", "\\")
        letters = (FLOPPY_LETTER,) if self.medium == "floppy" else CD_LETTERS
        return [f"{letter}:\\{rel}" for letter in letters]

    def describe(self) -> str:
        """What the medium holds, for `golden plan`."""
        parts = [self.answer_file]
        if self.text_mode:
            parts.append("txtsetup.oem and the F6 driver " + ", ".join(t.set.name for t in self.text_mode))
        others = [f"{ds.name} ({self.folder(ds)})" for ds in self.pnp_sets]
        if others:
            parts.append("drivers " + ", ".join(others))
        return "; ".join(parts)

    def has(self, name: str) -> bool:
        return any(ds.name == name for ds in self.sets)

    def get(self, name: str) -> DriverSet | None:
        return next((ds for ds in self.sets if ds.name == name), None)


def plan(profile: Profile, entry: OsEntry, medium: str | None = None) -> MediaPlan:
    """The driver media layout for a validated Windows profile.

    `medium` overrides the profile's choice (a floppy asked for on the
    command line for a release that would get a CD).
    """
    w = profile.windows
    facts = entry.windows
    medium = medium or effective.windows_answer_media(profile, entry)
    os_folder, arch_folder = manifest.target(entry, profile.arch)
    sets: list[DriverSet] = []
    if w.drivers.media != "none" and arch_folder is not None:
        for name in w.drivers.sets:
            ds = manifest.driver_set(name)
            if manifest.missing_reason(ds, entry, profile.arch) is None:
                sets.append(ds)
    text_mode = ()
    if facts.era == "sif" and medium == "floppy":
        text_mode = tuple(TextModeDriver(ds, os_folder, arch_folder) for ds in sets if ds.kind == "storage")
    return MediaPlan(medium=medium, era=facts.era, os_folder=os_folder, arch_folder=arch_folder,
                     sets=tuple(sets), text_mode=text_mode)
