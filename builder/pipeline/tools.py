"""Versions of the tools a build depends on, for stage keys and the manifest.

Asking `virt-install --version` costs half a second (a Python start-up), too
much for a no-op rebuild, so answers are cached by the binaries' size and mtime.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from builder import __version__, paths
from builder.fsutil import atomic_write

_BINARIES = {
    "qemu": "qemu-system-x86_64",
    "virt-install": "virt-install",
    "libvirt": "libvirtd",
    "libguestfs": "guestfish",
}


def _fingerprint() -> dict[str, list]:
    out = {}
    for tool, binary in _BINARIES.items():
        path = shutil.which(binary)
        if path is None:
            out[tool] = None
            continue
        st = os.stat(path)
        out[tool] = [path, st.st_size, st.st_mtime_ns]
    return out


def _first_version(text: str) -> str:
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else "unknown"


def _ask(tool: str, binary: str) -> str:
    if tool == "libvirt":
        try:
            import libvirt
            v = libvirt.getVersion()
            return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"
        except Exception:
            pass
    try:
        proc = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return _first_version(proc.stdout + proc.stderr)


def tool_versions() -> dict[str, str]:
    """{"golden": ..., "qemu": ..., "libvirt": ..., "libguestfs": ..., "virt-install": ...}"""
    fingerprint = _fingerprint()
    cache = paths.cache_dir() / "tool-versions.json"
    try:
        cached = json.loads(cache.read_text())
        if cached.get("fingerprint") == fingerprint:
            return {"golden": __version__, **cached["versions"]}
    except (OSError, ValueError, KeyError):
        pass
    versions = {tool: (_ask(tool, binary) if fingerprint[tool] else "missing")
                for tool, binary in _BINARIES.items()}
    try:
        atomic_write(cache, json.dumps({"fingerprint": fingerprint, "versions": versions}))
    except OSError:
        pass                      # a read-only cache only costs time
    return {"golden": __version__, **versions}


def file_fingerprint(path: Path) -> list | None:
    """Cheap identity of a big file (a vendor ISO, a disk): size and mtime."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [str(path), st.st_size, st.st_mtime_ns]
