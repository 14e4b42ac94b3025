"""`golden check`: is this image still what was built and signed?

Three independent questions, each failure named: does the signature over the
checksum list hold, does every listed file still have its checksum, and does
the image still match its manifest (size, sha256, and the format qemu-img
reads, not the one its name suggests).
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import HostError
from builder.fsutil import sha256_file
from builder.ship import gpg, sums
from builder.ship.manifest import Manifest, for_image


@dataclass
class Report:
    manifest: Path
    passed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        return {"manifest": str(self.manifest), "ok": self.ok, "passed": self.passed, "failures": self.failures}


def qemu_format(path: Path) -> str:
    try:
        proc = subprocess.run(["qemu-img", "info", "--output=json", str(path)],
                              capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise HostError("qemu-img is not installed", hint="apt-get install qemu-utils") from None
    if proc.returncode != 0:
        return "unreadable"
    return json.loads(proc.stdout).get("format", "unknown")


class _Hashes(dict):
    def __missing__(self, path: Path) -> str:
        self[path] = sha256_file(path)
        return self[path]


def _signature(manifest: Manifest, report: Report, homedir: Path | None) -> None:
    listing, signature = manifest.sums_path(), manifest.signature_path()
    if not signature.exists() or not listing.exists():
        report.failures.append(f"{signature.name}: not signed (no signature or checksum list); run `golden sign`")
        return
    verdict = gpg.verify_detached(signature, listing, homedir)
    (report.passed if verdict.ok else report.failures).append(f"{signature.name}: {verdict.describe()}")


def _checksums(manifest: Manifest, report: Report, hashes: _Hashes) -> None:
    listing = manifest.sums_path()
    if not listing.exists():
        return
    listed = dict(sums.parse(listing))
    for name, expected in sorted(listed.items()):
        path = listing.parent / name
        if not path.exists():
            report.failures.append(f"{name}: listed in {listing.name} but missing")
        elif hashes[path] != expected:
            report.failures.append(f"{name}: sha256 {hashes[path]}, {listing.name} says {expected}")
        else:
            report.passed.append(f"{name}: sha256 matches {listing.name}")
    for item in manifest.shipped():
        if item.path.name not in listed and item.path.exists():
            report.failures.append(f"{item.path.name}: not covered by {listing.name}; sign again")


def _images(manifest: Manifest, report: Report, hashes: _Hashes) -> None:
    for item in manifest.images():
        name = item.path.name
        if not item.path.exists():
            report.failures.append(f"{item.path}: the manifest's {item.kind} is missing")
            continue
        size = item.path.stat().st_size
        if item.bytes is not None and size != item.bytes:
            report.failures.append(f"{name}: {size} bytes, the manifest says {item.bytes}")
        if item.sha256 and hashes[item.path] != item.sha256:
            report.failures.append(f"{name}: sha256 {hashes[item.path]}, the manifest says {item.sha256}")
        if item.format == "ova":
            if not tarfile.is_tarfile(item.path):
                report.failures.append(f"{name}: not a tar archive, the manifest says ova")
        elif item.format:
            seen = qemu_format(item.path)
            expected = "vpc" if item.format == "vhd" else item.format
            if seen != expected:
                report.failures.append(f"{name}: qemu-img reads it as {seen}, the manifest says {item.format}")
        if not any(f.startswith(f"{name}:") for f in report.failures):
            report.passed.append(f"{name}: matches the manifest (size, sha256, format)")


def check(path: Path | str, homedir: Path | str | None = None) -> Report:
    manifest = for_image(path)
    report = Report(manifest=manifest.path)
    hashes = _Hashes()
    _signature(manifest, report, Path(homedir) if homedir else None)
    _checksums(manifest, report, hashes)
    _images(manifest, report, hashes)
    return report
