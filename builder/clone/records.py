"""clones.json: which clones a build's image has, and what `golden verify` saw in them.

The file lives in the image's build directory (DIR/NAME.build/clones.json,
schema in the README's Build records section). `golden clone` merges its clones in
(a clone of the same name replaces the old entry), `golden verify` fills in
`verified`. Writers hold an flock on the build directory, so two batches
cloning one image at the same time do not lose each other's entries.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Iterator

from builder.fsutil import atomic_write

NAME = "clones.json"
_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def sha256_sparse(path: Path) -> str:
    """The sha256 of a file's bytes, skipping the reads of holes (a 2 GiB qcow2 may hold 30 MiB)."""
    h = hashlib.sha256()
    zeros = memoryview(_ZEROS)
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                data = size                      # only a hole is left
            while pos < data:
                n = min(_CHUNK, data - pos)
                h.update(zeros[:n])
                pos += n
            if pos >= size:
                break
            end = os.lseek(fd, pos, os.SEEK_HOLE)
            f.seek(pos)
            while pos < end:
                chunk = f.read(min(_CHUNK, end - pos))
                if not chunk:
                    break
                h.update(chunk)
                pos += len(chunk)
    return h.hexdigest()


def _cached_sha256(path: Path) -> str | None:
    """The image's sha256 from its manifest, when the manifest is newer than the image."""
    from builder.clone.template import image_stem
    manifest = path.parent / f"{image_stem(path)}.manifest.json"
    try:
        if manifest.stat().st_mtime_ns < path.stat().st_mtime_ns:
            return None
        image = json.loads(manifest.read_text()).get("image") or {}
    except (OSError, ValueError):
        return None
    if image.get("path") and Path(image["path"]).resolve() == path.resolve() and image.get("sha256"):
        return image["sha256"]
    return None


def _cache_file() -> Path:
    from builder import paths
    return paths.cache_dir() / "image-sha256.json"


def _stat_key(path: Path) -> list:
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def source_sha256(path: Path) -> str:
    """The golden image's checksum: from its manifest or golden's cache when current, else computed (and cached)."""
    path = Path(path).resolve()
    cached = _cached_sha256(path)
    if cached:
        return cached
    key = _stat_key(path)
    cache = _cache_file()
    try:
        entry = json.loads(cache.read_text()).get(str(path))
        if entry and entry["stat"] == key:
            return entry["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = sha256_sparse(path)
    if _stat_key(path) == key:                    # not changed while it was read
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with _locked(cache.parent):
                try:
                    data = json.loads(cache.read_text())
                except (OSError, ValueError):
                    data = {}
                # Forget images that are gone, so the cache does not grow without end.
                data = {k: v for k, v in data.items() if Path(k).exists()}
                data[str(path)] = {"stat": key, "sha256": digest}
                atomic_write(cache, json.dumps(data, indent=1) + "\n")
        except OSError:
            pass
    return digest


@contextlib.contextmanager
def _locked(build_dir: Path) -> Iterator[None]:
    fd = os.open(build_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {"source": None, "source_sha256": None, "clones": []}
    except ValueError:
        # A damaged record must not stop cloning; it is rewritten from what is known now.
        return {"source": None, "source_sha256": None, "clones": []}
    data.setdefault("clones", [])
    return data


def merge_clones(path: Path, source: Path, sha256: str, entries: list[dict]) -> None:
    with _locked(path.parent):
        data = read(path)
        names = {e["name"] for e in entries}
        data["source"] = str(Path(source).resolve())
        data["source_sha256"] = sha256
        data["clones"] = [c for c in data["clones"] if c.get("name") not in names] + entries
        atomic_write(path, json.dumps({"source": data["source"], "source_sha256": data["source_sha256"],
                                       "clones": data["clones"]}, indent=2) + "\n")


def remove_clones(path: Path, names: set[str]) -> None:
    """Take entries out again (a batch that rolled back after writing)."""
    with _locked(path.parent):
        data = read(path)
        data["clones"] = [c for c in data["clones"] if c.get("name") not in names]
        atomic_write(path, json.dumps(data, indent=2) + "\n")


def set_verified(path: Path, name: str, verified: dict) -> bool:
    """Record a verdict for one clone; False when the record does not list it."""
    if not Path(path).is_file():
        return False
    with _locked(path.parent):
        data = read(path)
        for clone in data["clones"]:
            if clone.get("name") == name:
                clone["verified"] = verified
                atomic_write(path, json.dumps(data, indent=2) + "\n")
                return True
    return False
