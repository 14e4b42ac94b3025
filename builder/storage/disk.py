"""`golden disk add`: create an image file and attach it to a defined guest."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import HostError, InputError
from builder.storage import domxml, naming


@dataclass
class DiskPlan:
    domain: str
    path: Path
    size: int
    fmt: str
    target: str
    bus: str
    preallocate: bool = False
    readonly: bool = False
    shareable: bool = False
    block: bool = False
    create: bool = True
    attached: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"domain": self.domain, "path": str(self.path), "size": self.size, "format": self.fmt,
                "target": self.target, "bus": self.bus, "preallocate": self.preallocate,
                "readonly": self.readonly, "shareable": self.shareable, "block": self.block,
                "create": self.create, "attached": self.attached}


def _is_block(path: Path) -> bool:
    with contextlib.suppress(OSError):
        return stat.S_ISBLK(os.stat(path).st_mode)
    return False


def plan(conn, domain: str, *, path: Path, size: int, fmt: str, target: str | None,
         preallocate: bool, readonly: bool, shareable: bool) -> DiskPlan:
    if fmt not in ("raw", "qcow2"):
        raise InputError(f"format {fmt!r} is not raw or qcow2", where="--format")
    dom = domxml.domain(conn, domain)
    used = domxml.used_targets(dom)
    if target:
        naming.check_target(target)
        if target in used:
            raise InputError(f"target {target} is already used by {domain}",
                             hint=f"targets must be unique per guest; in use: {', '.join(sorted(used))}",
                             where="--target")
    else:
        target = naming.next_free("vd", used)
    block = _is_block(path)
    if block and not readonly:
        # A whole host disk mapped read-write lets the guest rewrite the host's partition table.
        raise InputError(f"{path} is a host block device; golden maps those only with --readonly",
                         hint="pass --readonly, or map a partition or an LVM volume instead", where="--file")
    exists = path.exists()
    if exists and not block and not path.is_file():
        raise InputError(f"{path} exists and is not a regular file", where="--file")
    return DiskPlan(domain=domain, path=path, size=size, fmt=fmt, target=target, bus=naming.bus_for(target),
                    preallocate=preallocate, readonly=readonly, shareable=shareable, block=block,
                    create=not exists)


def create_file(p: DiskPlan) -> None:
    tmp = p.path.with_name(f".{p.path.name}.part")
    try:
        if p.fmt == "qcow2":
            args = ["qemu-img", "create", "-q", "-f", "qcow2"]
            if p.preallocate:
                args += ["-o", "preallocation=full"]
            subprocess.run(args + [str(tmp), str(p.size)], check=True, capture_output=True, text=True)
        elif p.preallocate:
            _write_zeros(tmp, p.size)
        else:
            with open(tmp, "wb") as fh:
                fh.truncate(p.size)
        os.replace(tmp, p.path)
    except FileNotFoundError as exc:
        raise HostError(f"cannot create {p.path}: {exc}", hint="install qemu-img (qemu-utils)") from exc
    except subprocess.CalledProcessError as exc:
        raise HostError(f"qemu-img could not create {p.path}: {exc.stderr.strip()}") from exc
    except OSError as exc:
        raise HostError(f"cannot create {p.path}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _write_zeros(path: Path, size: int) -> None:
    # Like dd if=/dev/zero: every block written, so the file owns its space up front.
    chunk = b"\0" * (1 << 20)
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            left -= fh.write(chunk[:min(left, len(chunk))])
        fh.flush()
        os.fsync(fh.fileno())


def add(conn, p: DiskPlan) -> DiskPlan:
    if p.create:
        create_file(p)
    xml = domxml.disk_xml(source=str(p.path), target=p.target, bus=p.bus, fmt=p.fmt, readonly=p.readonly,
                          shareable=p.shareable, block=p.block)
    try:
        p.attached = domxml.attach(domxml.domain(conn, p.domain), xml)
    except HostError:
        if p.create:
            p.path.unlink(missing_ok=True)
        raise
    return p
