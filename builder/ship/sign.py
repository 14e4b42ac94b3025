"""`golden sign`: a checksum list of everything a build ships, and a detached signature over it."""

from __future__ import annotations

from pathlib import Path

from builder.errors import InputError
from builder.fsutil import sha256_file
from builder.ship import gpg, sbom, sums
from builder.ship.manifest import Manifest, load


def write_sums(manifest: Manifest) -> Path:
    """NAME.SHA256SUMS over the shipped files; refuses when an image no longer matches the manifest."""
    if not manifest.sbom_path().exists():
        sbom.write(manifest)
    files = []
    for item in manifest.shipped():
        if not item.path.exists():
            raise InputError(f"{item.kind} {item.path} is missing", where=str(manifest.path),
                             hint="ship the files the manifest names, or rebuild")
        if item.sha256 and sha256_file(item.path) != item.sha256:
            raise InputError(f"{item.path.name} does not match the manifest's sha256; it changed after the build",
                             where=str(manifest.path), hint="rebuild rather than sign a changed image")
        files.append(item.path)
    return sums.write(manifest.sums_path(), files)


def sign_manifest(manifest_path: Path | str, key: str | None, homedir: Path | str | None = None,
                  passphrase: str | None = None) -> Path:
    """Write NAME.SHA256SUMS and its armored signature NAME.SHA256SUMS.asc; returns the signature's path."""
    manifest = load(manifest_path)
    listing = write_sums(manifest)
    return gpg.sign_detached(listing, manifest.signature_path(), key,
                             Path(homedir) if homedir else None, passphrase)
