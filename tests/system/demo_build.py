"""Profiles derived from the shipped `demo` profile, with names no other test run uses."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import yaml


def unique_name(prefix: str) -> str:
    # Domains live on the shared qemu:///system connection: never reuse a name across runs.
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def reachable(directory: Path) -> Path:
    """Let libvirt's qemu user enter DIRECTORY: pytest makes its temp dirs 0700."""
    directory.mkdir(parents=True, exist_ok=True)
    for d in [directory, *directory.parents]:
        if d == Path("/"):
            break
        mode = d.stat().st_mode
        if not mode & 0o001:
            d.chmod(mode | 0o011)
    return directory


def derived_profile(directory: Path, name: str, extends: str = "demo", **fields) -> Path:
    """Write DIRECTORY/NAME.yaml extending a shipped profile, output into DIRECTORY."""
    reachable(directory)
    data = {"extends": extends, "name": name, "output": {"dir": str(directory)}}
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def undefine(name: str, uri: str = "qemu:///system") -> None:
    import libvirt

    conn = libvirt.open(uri)
    try:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            return
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    finally:
        conn.close()
