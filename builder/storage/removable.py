"""Floppy images from a directory, and attaching floppies or CD images to a defined guest."""

from __future__ import annotations

from pathlib import Path

from builder.errors import InputError
from builder.storage import domxml, naming


def floppy_from_dir(out: Path, source: Path | None, label: str = "") -> dict:
    from builder.media.fat import FLOPPY_SIZE, make_floppy

    files: dict[str, bytes] = {}
    if source is not None:
        if not source.is_dir():
            raise InputError(f"{source} is not a directory", where="--from")
        for path in sorted(source.rglob("*")):
            if path.is_file():
                files[path.relative_to(source).as_posix()] = path.read_bytes()
    make_floppy(out, files, label=label)
    return {"path": str(out), "size": FLOPPY_SIZE, "sectors": FLOPPY_SIZE // 512, "files": sorted(files)}


def attach(conn, domain: str, image: Path, kind: str) -> dict:
    if kind not in ("floppy", "cdrom"):
        raise InputError(f"--as {kind!r} is not floppy or cdrom", where="--as")
    if not image.is_file():
        raise InputError(f"{image} is not a file", where="FILE")
    dom = domxml.domain(conn, domain)
    used = domxml.used_targets(dom)
    # CD drives sit on IDE (hdc is the classic slot, but any of hda-hdd free will do).
    target = naming.next_free("fd" if kind == "floppy" else "hd", used, where="--as")
    xml = domxml.disk_xml(source=str(image.resolve()), target=target, bus="fdc" if kind == "floppy" else "ide",
                          device=kind, readonly=kind == "cdrom")
    where = domxml.attach(dom, xml)
    return {"domain": domain, "path": str(image.resolve()), "as": kind, "target": target, "attached": where}
