"""The installer kernel and initrd a PXE tree hands out, taken from the profile's media.

Install media keep them where Anaconda's PXE instructions point: the tree's
.treeinfo names them under [images-<arch>], and every RHEL tree since 3 has
images/pxeboot/vmlinuz and initrd.img. An ISO is read in place (never
extracted), a local tree is read from disk, an http/ftp tree is fetched.
"""

from __future__ import annotations

import configparser
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from builder.errors import HostError, InputError

PXEBOOT_KERNEL = "images/pxeboot/vmlinuz"
PXEBOOT_INITRD = "images/pxeboot/initrd.img"

# golden arch -> the arch .treeinfo sections are named after
_TREEINFO_ARCH = {"x86_64": "x86_64", "i386": "i386"}

Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class BootFiles:
    kernel: Path | bytes
    initrd: Path | bytes
    origin: str                # for people: where they came from


def _paths_from_treeinfo(text: str | None, arch: str) -> tuple[str, str] | None:
    if not text:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    section = f"images-{_TREEINFO_ARCH.get(arch, arch)}"
    if parser.has_option(section, "kernel") and parser.has_option(section, "initrd"):
        return parser.get(section, "kernel").strip().lstrip("/"), parser.get(section, "initrd").strip().lstrip("/")
    return None


def _candidates(treeinfo: str | None, arch: str) -> list[tuple[str, str]]:
    out = []
    named = _paths_from_treeinfo(treeinfo, arch)
    if named:
        out.append(named)
    if (PXEBOOT_KERNEL, PXEBOOT_INITRD) not in out:
        out.append((PXEBOOT_KERNEL, PXEBOOT_INITRD))
    return out


def _missing(where: str, candidates: list[tuple[str, str]], found: dict[str, bool]) -> InputError:
    wanted = list(dict.fromkeys(p for pair in candidates for p in pair))
    missing = [p for p in wanted if found.get(p) is False] or wanted
    return InputError(
        f"{where} has no installer kernel and initrd for PXE: missing {', '.join(missing)}",
        "point install.media at a RHEL-like install tree or ISO (with images/pxeboot/), "
        "or pass --kernel and --initrd")


def from_tree_dir(tree: Path, arch: str) -> BootFiles:
    if not tree.is_dir():
        raise InputError(f"{tree}: no such install tree folder")
    treeinfo = tree / ".treeinfo"
    text = treeinfo.read_text(errors="replace") if treeinfo.is_file() else None
    candidates = _candidates(text, arch)
    found = {}
    for kernel, initrd in candidates:
        found[kernel] = (tree / kernel).is_file()
        found[initrd] = (tree / initrd).is_file()
        if found[kernel] and found[initrd]:
            return BootFiles(tree / kernel, tree / initrd, f"{tree}: {kernel}, {initrd}")
    raise _missing(str(tree), candidates, found)


def from_iso(iso: Path, arch: str) -> BootFiles:
    from builder.media.iso import IsoReader

    with IsoReader(iso) as reader:
        text = reader.read(".treeinfo").decode(errors="replace") if reader.exists(".treeinfo") else None
        candidates = _candidates(text, arch)
        found = {}
        for kernel, initrd in candidates:
            found[kernel] = reader.exists(kernel)
            found[initrd] = reader.exists(initrd)
            if found[kernel] and found[initrd]:
                return BootFiles(reader.read(kernel), reader.read(initrd), f"{iso}: {kernel}, {initrd}")
    raise _missing(str(iso), candidates, found)


class NotFound(Exception):
    """A fetch function raises this for a file the tree does not have."""


def urllib_fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:     # noqa: S310 (http/ftp only)
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound(url) from None
        raise HostError(f"fetching {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = str(exc.reason)
        if "550" in reason or "No such file" in reason:      # ftp: file not found
            raise NotFound(url) from None
        raise HostError(f"fetching {url}: {reason}",
                        "download images/pxeboot/vmlinuz and initrd.img from the tree yourself "
                        "and pass --kernel and --initrd") from None
    except OSError as exc:
        raise HostError(f"fetching {url}: {exc}",
                        "download images/pxeboot/vmlinuz and initrd.img from the tree yourself "
                        "and pass --kernel and --initrd") from None


def from_url(base: str, arch: str, fetch: Fetch = urllib_fetch) -> BootFiles:
    base = base if base.endswith("/") else base + "/"
    try:
        text = fetch(base + ".treeinfo").decode(errors="replace")
    except NotFound:
        text = None
    candidates = _candidates(text, arch)
    found: dict[str, bool] = {}
    for kernel, initrd in candidates:
        data = {}
        for path in (kernel, initrd):
            try:
                data[path] = fetch(base + path)
                found[path] = True
            except NotFound:
                found[path] = False
                break
        if len(data) == 2:
            return BootFiles(data[kernel], data[initrd], f"{base}{kernel}, {base}{initrd}")
    raise _missing(base, candidates, found)


def from_demo() -> BootFiles:
    from builder.demo import build_demo_media

    media = build_demo_media()
    return BootFiles(media.kernel, media.initrd, "golden's demo media (not RHEL)")


def from_files(kernel: Path, initrd: Path) -> BootFiles:
    for what, path in (("--kernel", kernel), ("--initrd", initrd)):
        if not Path(path).is_file():
            raise InputError(f"{what} {path}: no such file")
    return BootFiles(Path(kernel), Path(initrd), f"{kernel}, {initrd}")


def for_media(media: str | None, arch: str, *, base_dir: Path, fetch: Fetch = urllib_fetch) -> BootFiles:
    """Kernel and initrd for install.media: `demo`, an ISO, a tree folder or an http/ftp tree."""
    if not media:
        raise InputError("the profile has no install.media to take the installer kernel and initrd from",
                         "set install.media, or pass --kernel and --initrd")
    if media == "demo":
        return from_demo()
    if media.startswith(("http://", "https://", "ftp://")):
        return from_url(media, arch, fetch)
    if media.startswith("nfs://"):
        raise InputError(f"golden cannot read an NFS tree ({media}) to take the installer kernel and initrd from",
                         "mount it and pass --kernel TREE/images/pxeboot/vmlinuz "
                         "--initrd TREE/images/pxeboot/initrd.img")
    path = Path(media)
    if not path.is_absolute():
        path = base_dir / path
    if path.is_dir():
        return from_tree_dir(path, arch)
    if path.is_file():
        return from_iso(path, arch)
    raise InputError(f"install.media {media}: no such ISO or tree folder")
