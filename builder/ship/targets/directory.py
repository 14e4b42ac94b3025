"""A directory (local, NFS, or served over HTTP as is): the files, and an index of every image there.

index.json is the machine-readable list; index.html is the same list for a
browser, with relative links so the tree can be served from any URL.
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from builder.errors import InputError
from builder.fsutil import atomic_path, atomic_write, sha256_file
from builder.ship.manifest import Manifest
from builder.ship.sign import write_sums
from builder.ship.targets import PublishResult
from builder.ship.targets.common import files_to_ship

INDEX_VERSION = 1


def directory_of(uri: str) -> Path:
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise InputError(f"file URI {uri!r} names host {parsed.netloc!r}; only local paths are supported",
                             where="--to", hint="use file:///DIR")
        return Path(unquote(parsed.path))
    return Path(uri)


def entry(manifest: Manifest, shipped: list[Path]) -> dict:
    image = manifest.image
    data = manifest.data
    formats = [{"format": i.format, "file": i.path.name, "sha256": i.sha256 or sha256_file(i.path),
                "bytes": i.path.stat().st_size} for i in manifest.images()]
    return {"name": manifest.name,
            "version": data.get("published") or data.get("created"),
            "os": (data.get("os") or {}).get("name"),
            "image": Path(image["path"]).name,
            "sha256": image["sha256"],
            "bytes": image.get("bytes"),
            "formats": formats,
            "signed": manifest.signature_path().exists(),
            "files": sorted(p.name for p in shipped)}


def read_index(directory: Path) -> dict:
    path = directory / "index.json"
    if not path.exists():
        return {"golden_index": INDEX_VERSION, "images": []}
    try:
        index = json.loads(path.read_text())
        if not isinstance(index.get("images"), list):
            raise ValueError("no images list")
    except (ValueError, AttributeError) as exc:
        raise InputError(f"not a golden index: {exc}", where=str(path),
                         hint="move it away; golden rewrites index.json from what it publishes") from None
    return index


def render_html(index: dict) -> str:
    rows = []
    for image in index["images"]:
        formats = ", ".join(f'<a href="{html.escape(f["file"], quote=True)}">{html.escape(f["format"] or "?")}</a>'
                            for f in image["formats"])
        sums = f'{image["name"]}.SHA256SUMS'
        listed = sums in image.get("files", [])
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in (
            html.escape(image["name"]), html.escape(str(image.get("version") or "")),
            html.escape(str(image.get("os") or "")), formats, str(image.get("bytes") or ""),
            f"<code>{html.escape(image['sha256'])}</code>",
            (f'<a href="{html.escape(sums, quote=True)}">SHA256SUMS</a>' if listed else "")
            + (f' <a href="{html.escape(sums, quote=True)}.asc">signature</a>' if image.get("signed") else ""),
        )) + "</tr>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>golden images</title></head><body>\n"
            "<h1>golden images</h1>\n<table>\n<tr><th>name</th><th>version</th><th>os</th><th>formats</th>"
            "<th>bytes</th><th>sha256</th><th>checksums</th></tr>\n" + "\n".join(rows)
            + "\n</table>\n</body></html>\n")


@contextlib.contextmanager
def _index_lock(directory: Path):
    fd = os.open(directory / ".golden-index.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _copy(src: Path, dest: Path) -> None:
    if dest.exists() and dest.resolve() == src.resolve():
        return
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


class DirectoryTarget:
    name = "directory"

    def accepts(self, uri: str) -> bool:
        return uri.startswith("file://") or "://" not in uri

    def publish(self, manifest: Manifest, uri: str, *, dry_run: bool = False) -> PublishResult:
        directory = directory_of(uri)
        if directory.exists() and not directory.is_dir():
            raise InputError("exists and is not a directory", where=str(directory))
        index = read_index(directory)
        if not dry_run and not manifest.sums_path().exists():
            # An unsigned build still ships a checksum list, so a copy can be verified.
            write_sums(manifest)
        files = files_to_ship(manifest)
        result = PublishResult(target=self.name, uri=uri, location=str(directory), dry_run=dry_run)
        result.actions = [f"copy {f} to {directory / f.name}" for f in files]
        result.actions += [f"update {directory / 'index.json'}", f"update {directory / 'index.html'}"]
        if dry_run:
            return result
        directory.mkdir(parents=True, exist_ok=True)
        # Images first, the manifest and checksum list last: a reader that finds
        # the list finds every file it names.
        order = sorted(files, key=lambda f: (f.name.endswith((".SHA256SUMS", ".asc", ".manifest.json")), f.name))
        for f in order:
            _copy(f, directory / f.name)
            result.published.append({"name": f.name, "where": str(directory / f.name),
                                     "bytes": f.stat().st_size})
        new = entry(manifest, files)
        with _index_lock(directory):
            # Re-read under the lock: another publish into this directory may have added an image meanwhile.
            index = read_index(directory)
            index["images"] = sorted([i for i in index["images"] if i.get("name") != new["name"]] + [new],
                                     key=lambda i: i["name"])
            atomic_write(directory / "index.json", json.dumps(index, indent=2, sort_keys=True) + "\n")
            atomic_write(directory / "index.html", render_html(index))
        result.details = {"index": str(directory / "index.json")}
        return result


TARGET = DirectoryTarget()
