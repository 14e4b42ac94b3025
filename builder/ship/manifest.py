"""Reading a build's NAME.manifest.json and naming the files it ships.

The manifest is the one record of what a build published; everything here
reads it, never the build directory, so a manifest copied elsewhere together
with its files still describes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from builder.errors import InputError

SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class Shipped:
    """One file that travels with the image."""

    kind: str           # image, format, domain-xml, sbom, manifest
    path: Path
    sha256: str | None  # what the manifest recorded; None when it records nothing
    bytes: int | None
    format: str | None = None


@dataclass(frozen=True)
class Manifest:
    path: Path
    data: dict

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def image(self) -> dict:
        return self.data["image"]

    def local(self, recorded: str) -> Path:
        """The file of that name beside the manifest, else the recorded path.

        Beside first, so a published copy of a build checks and ships its own files,
        not the originals it was copied from.
        """
        path = Path(recorded)
        beside = self.directory / path.name
        return beside if beside.exists() or not path.is_absolute() else path

    def sums_path(self) -> Path:
        return self.directory / f"{self.name}.SHA256SUMS"

    def signature_path(self) -> Path:
        return self.directory / f"{self.name}.SHA256SUMS.asc"

    def sbom_path(self) -> Path:
        return self.directory / f"{self.name}.spdx.json"

    def images(self) -> list[Shipped]:
        """The main image and every extra format, each once."""
        img = self.image
        out = [Shipped("image", self.local(img["path"]), img.get("sha256"), img.get("bytes"), img.get("format"))]
        seen = {out[0].path}
        for entry in self.data.get("formats") or []:
            path = self.local(entry["path"])
            if path not in seen:
                seen.add(path)
                out.append(Shipped("format", path, entry.get("sha256"), entry.get("bytes"), entry.get("format")))
        return out

    def shipped(self) -> list[Shipped]:
        """Every file the checksum list covers: images, template XML, SBOM (when written), the manifest."""
        out = self.images()
        if self.data.get("domain_xml"):
            out.append(Shipped("domain-xml", self.local(self.data["domain_xml"]), None, None))
        if self.sbom_path().exists():
            out.append(Shipped("sbom", self.sbom_path(), None, None))
        out.append(Shipped("manifest", self.path, None, None))
        return out


def load(path: Path | str) -> Manifest:
    """A published build's manifest, or InputError naming the file and the field that is wrong."""
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise InputError("is a directory, not a manifest", where=where,
                         hint=f"give the build's NAME{SUFFIX} file")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("no such manifest", where=where, hint=f"give the NAME{SUFFIX} a build wrote") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a JSON manifest: {exc}", where=where) from None
    if not isinstance(data, dict) or "golden_manifest" not in data:
        raise InputError("not a golden manifest (no golden_manifest field)", where=where)
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise InputError("name: missing or not a string", where=where)
    if data.get("status") != "published":
        raise InputError(f"status: the build is {data.get('status')!r}, not published; nothing to ship",
                         where=where, hint="run the build to completion first")
    image = data.get("image")
    if not isinstance(image, dict) or not isinstance(image.get("path"), str):
        raise InputError("image.path: missing", where=where)
    for key in ("sha256", "format"):
        if not isinstance(image.get(key), str):
            raise InputError(f"image.{key}: missing or not a string", where=where)
    formats = data.get("formats") or []
    if not isinstance(formats, list):
        raise InputError("formats: not a list", where=where)
    for i, entry in enumerate(formats):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise InputError(f"formats[{i}].path: missing", where=where)
    if data.get("domain_xml") is not None and not isinstance(data["domain_xml"], str):
        raise InputError("domain_xml: not a path", where=where)
    return Manifest(path=path.resolve(), data=data)


def for_image(path: Path | str) -> Manifest:
    """The manifest that describes an image file, or the manifest itself when given one."""
    path = Path(path)
    if path.name.endswith(SUFFIX):
        return load(path)
    if not path.exists():
        raise InputError("no such image or manifest", where=str(path))
    # NAME may itself hold dots (rhel7.9-golden.qcow2): try each shorter stem.
    stem = path.name
    while "." in stem:
        stem = stem.rsplit(".", 1)[0]
        candidate = path.parent / f"{stem}{SUFFIX}"
        if candidate.exists():
            return load(candidate)
    raise InputError(f"no NAME{SUFFIX} beside the image", where=str(path),
                     hint="give the build's NAME.manifest.json")
