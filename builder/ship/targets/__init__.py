"""Publish targets: one module per kind of place an image goes, behind one interface.

A target is any object with a `name`, `accepts(uri) -> bool` and
`publish(manifest, uri, *, dry_run) -> PublishResult`. Adding one (Glance, S3,
...) is a module in this package and a line in TARGETS; nothing else changes.
The first target that accepts a URI publishes to it.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

from builder.errors import InputError
from builder.ship.manifest import Manifest


@dataclass
class PublishResult:
    target: str
    uri: str
    location: str                     # where the image can be found now (a path, a volume, a reference)
    dry_run: bool = False
    actions: list[str] = field(default_factory=list)   # what was (or, in a dry run, would be) done
    published: list[dict] = field(default_factory=list)  # {name, sha256, bytes, where}
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Target(Protocol):
    name: str

    def accepts(self, uri: str) -> bool: ...

    def publish(self, manifest: Manifest, uri: str, *, dry_run: bool = False) -> PublishResult: ...


# Module names under builder.ship.targets, most specific first: the plain
# directory target takes any path, so it goes last.
TARGETS = ("oci", "libvirt_pool", "directory")


def targets() -> list[Target]:
    out = []
    for module in TARGETS:
        target = importlib.import_module(f"{__name__}.{module}").TARGET
        out.append(target)
    return out


def resolve(uri: str) -> Target:
    for target in targets():
        if target.accepts(uri):
            return target
    raise InputError(f"no publish target accepts {uri!r}", where="--to",
                     hint="use oci://HOST:PORT/REPO:TAG, libvirt+qemu:///system/POOL, file:///DIR or a directory path")


def unchanged(manifest: Manifest) -> None:
    """Refuse to ship an image that no longer matches its manifest: a target would spread it."""
    from builder.fsutil import sha256_file

    for item in manifest.images():
        if not item.path.exists():
            raise InputError(f"{item.kind} {item.path} is missing", where=str(manifest.path))
        if item.sha256 and sha256_file(item.path) != item.sha256:
            raise InputError(f"{item.path.name} does not match the manifest's sha256; it changed after the build",
                             where=str(manifest.path), hint=f"`golden check {item.path}` shows what differs")


def publish(manifest: Manifest, uri: str, *, dry_run: bool = False) -> PublishResult:
    target = resolve(uri)
    if not dry_run:
        unchanged(manifest)
    return target.publish(manifest, uri, dry_run=dry_run)
