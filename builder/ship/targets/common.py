"""What every target ships: the files a manifest names, plus its checksum list and signature when present."""

from __future__ import annotations

from pathlib import Path

from builder.errors import InputError
from builder.ship.manifest import Manifest


def files_to_ship(manifest: Manifest) -> list[Path]:
    files = [item.path for item in manifest.shipped()]
    for extra in (manifest.sums_path(), manifest.signature_path()):
        if extra.exists():
            files.append(extra)
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise InputError(f"the manifest names files that are missing: {', '.join(missing)}",
                         where=str(manifest.path), hint="publish from the build's output folder, or rebuild")
    return files
