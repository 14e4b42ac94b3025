"""Build (or fetch from the cache) the demo install media.

The media is a pure function of its inputs: the scripts in builder/demo/files,
the code that packs them, the kernel and the Debian packages it is made of.
They are hashed into a key; a build lands in cache_dir()/demo-media/<key>/ and
a later call with the same inputs returns it without rebuilding (in a few
milliseconds).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from builder import paths
from builder.demo import host
from builder.demo.initramfs import FILES, Identity, build_initrd
from builder.demo.iso import build_iso
from builder.fsutil import atomic_path, sha256_file

# Bump when the layout changes in a way the hashed sources do not show.
FORMAT_VERSION = 1

DEMO_NAME = "Golden Demo Linux"
DEMO_VERSION = "1.0"
DEMO_LABEL = "GOLDEN-DEMO-1-x86_64"

ISO_NAME = "golden-demo.iso"
KERNEL_NAME = "vmlinuz"
INITRD_NAME = "initrd.img"
_MANIFEST = "media.json"

_CODE = [Path(__file__).resolve().parent / name for name in ("media.py", "initramfs.py", "iso.py", "host.py")]
_CODE.append(Path(__file__).resolve().parent.parent / "media" / "initrd.py")


@dataclass(frozen=True)
class DemoMedia:
    iso: Path
    kernel: Path
    initrd: Path
    label: str
    version: str
    sha256: str  # of the ISO


def _identity() -> Identity:
    return Identity(DEMO_NAME, DEMO_VERSION, DEMO_LABEL)


def inputs() -> dict:
    """Everything that decides the media's bytes (cheap: no file content but our own)."""
    kver = host.kernel_version()
    kst = host.kernel_image(kver).stat()
    h = hashlib.sha256()
    for p in sorted(FILES.iterdir()) + _CODE:
        if p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return {
        "format": FORMAT_VERSION,
        "identity": [DEMO_NAME, DEMO_VERSION, DEMO_LABEL],
        "kernel": kver,
        "kernel_image": [kst.st_size, int(kst.st_mtime)],
        "packages": host.package_versions(),
        "sources": h.hexdigest(),
    }


def cache_key(inp: dict) -> str:
    return hashlib.sha256(json.dumps(inp, sort_keys=True).encode()).hexdigest()[:20]


def _media_in(d: Path, sha: str) -> DemoMedia:
    return DemoMedia(iso=d / ISO_NAME, kernel=d / KERNEL_NAME, initrd=d / INITRD_NAME,
                     label=DEMO_LABEL, version=DEMO_VERSION, sha256=sha)


def _cached(d: Path) -> DemoMedia | None:
    try:
        manifest = json.loads((d / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    media = _media_in(d, manifest.get("sha256", ""))
    if all(p.is_file() for p in (media.iso, media.kernel, media.initrd)):
        return media
    return None


@contextlib.contextmanager
def _lock(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_into(d: Path, extra: dict | None = None) -> dict:
    """Build the three files into directory `d`; returns the manifest written
    there (with `extra` merged in)."""
    ident = _identity()
    built = build_initrd(ident)
    for name, data in ((KERNEL_NAME, built.kernel), (INITRD_NAME, built.initrd)):
        with atomic_path(d / name) as tmp:
            tmp.write_bytes(data)
    build_iso(d / ISO_NAME, kernel=built.kernel, initrd=built.initrd, label=DEMO_LABEL,
              product=DEMO_NAME, version=DEMO_VERSION)
    manifest = {
        "label": DEMO_LABEL, "version": DEMO_VERSION, "kernel_version": built.kernel_version,
        "sha256": sha256_file(d / ISO_NAME),
        "files": {n: sha256_file(d / n) for n in (KERNEL_NAME, INITRD_NAME)},
        **(extra or {}),
    }
    with atomic_path(d / _MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _place(src: Path, dest: Path) -> None:
    """Hard-link (else copy) src to dest, replacing dest atomically."""
    with atomic_path(dest) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def cached_iso() -> tuple[Path, bool]:
    """Where build_demo_media() keeps the ISO for this host's inputs, and whether
    it is already there. Builds nothing (for `golden plan`)."""
    final = paths.cache_dir() / "demo-media" / cache_key(inputs())
    media = _cached(final)
    return (media.iso, True) if media else (final / ISO_NAME, False)


def build_demo_media(out_dir: Path | None = None, *, force: bool = False) -> DemoMedia:
    """The demo install media (ISO, kernel, initrd), built on first use.

    With `out_dir`, the files are also placed there (hard links when the
    cache is on the same file system) as golden-demo.iso, vmlinuz and
    initrd.img, and the returned paths point there.
    """
    inp = inputs()
    root = paths.cache_dir() / "demo-media"
    final = root / cache_key(inp)
    media = None if force else _cached(final)
    if media is None:
        with _lock(root):
            media = None if force else _cached(final)
            if media is None:
                work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
                try:
                    manifest = build_into(work, {"inputs": inp})
                    os.chmod(work, 0o755)
                    if final.exists():
                        shutil.rmtree(final)
                    os.rename(work, final)
                except BaseException:
                    shutil.rmtree(work, ignore_errors=True)
                    raise
                media = _media_in(final, manifest["sha256"])
    if out_dir is None:
        return media
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for src, name in ((media.iso, ISO_NAME), (media.kernel, KERNEL_NAME), (media.initrd, INITRD_NAME)):
        _place(src, out_dir / name)
    return _media_in(out_dir, media.sha256)
