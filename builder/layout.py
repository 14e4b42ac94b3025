"""Where a build puts each file: one place, so plan, install and publish agree.

    <output.dir>/<name>.build/     work area: ks.cfg, disks, media, serial log
    <output.dir>/<name>.<format>   the published golden image
    <output.dir>/<name>.manifest.json, <name>.report.html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.profile.schema import Profile


@dataclass(frozen=True)
class BuildLayout:
    root: Path
    name: str
    image_format: str
    disk_formats: tuple[str, ...]

    @classmethod
    def for_profile(cls, profile: Profile, cwd: Path) -> "BuildLayout":
        root = Path(profile.output.dir)
        if not root.is_absolute():
            root = cwd / root
        return cls(root=root, name=profile.name, image_format=profile.output.format,
                   disk_formats=tuple(d.format for d in profile.disks))

    @property
    def build_dir(self) -> Path:
        return self.root / f"{self.name}.build"

    @property
    def kickstart(self) -> Path:
        return self.build_dir / "ks.cfg"

    @property
    def disks(self) -> list[Path]:
        return [self.build_dir / f"disk{i}.{fmt}" for i, fmt in enumerate(self.disk_formats)]

    @property
    def serial_log(self) -> Path:
        return self.build_dir / "serial.log"

    @property
    def screenshot(self) -> Path:
        return self.build_dir / "screenshot.png"

    @property
    def media_dir(self) -> Path:
        return self.build_dir / "media"

    @property
    def remastered_iso(self) -> Path:
        return self.media_dir / "install-with-ks.iso"

    @property
    def oemdrv_iso(self) -> Path:
        return self.media_dir / "oemdrv.iso"

    @property
    def ks_floppy(self) -> Path:
        return self.media_dir / "ks-floppy.img"

    @property
    def driver_floppy(self) -> Path:
        return self.media_dir / "drivers-floppy.img"

    @property
    def driver_iso(self) -> Path:
        return self.media_dir / "drivers.iso"

    @property
    def unattend_dir(self) -> Path:
        return self.build_dir / "unattend"

    @property
    def domain_xml(self) -> Path:
        return self.build_dir / "domain.xml"

    @property
    def install_result(self) -> Path:
        return self.build_dir / "install.json"

    @property
    def image(self) -> Path:
        return self.root / f"{self.name}.{self.image_format}"

    @property
    def manifest(self) -> Path:
        return self.root / f"{self.name}.manifest.json"

    @property
    def report(self) -> Path:
        return self.root / f"{self.name}.report.html"
