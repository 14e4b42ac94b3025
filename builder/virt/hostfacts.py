"""Facts read from the build host, gathered at the edge and passed into planning."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from builder.catalog import OsEntry
from builder.render.kickstart import HostFacts


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def host_facts(uri: str | None = None) -> HostFacts:
    """Facts of the host that runs the guest (`uri`, default: libvirt's default), not of this machine."""
    from builder.virt.timekeeping import target_constant_tsc
    return HostFacts(constant_tsc=target_constant_tsc(uri or default_connect_uri()))


@functools.lru_cache(maxsize=1)
def known_osinfo_ids() -> frozenset[str]:
    """Short ids the host's osinfo-db knows (virt-install refuses others)."""
    try:
        out = subprocess.run(["osinfo-query", "os", "--fields=short-id"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.strip() for line in out.splitlines()[2:] if line.strip())


def resolve_osinfo(entry: OsEntry) -> str:
    """The catalog's preferred osinfo id this host knows; older osinfo-db lack new releases."""
    known = known_osinfo_ids()
    if not known:
        return entry.osinfo[0]
    for candidate in entry.osinfo:
        if candidate in known:
            return candidate
    return "generic" if "generic" in known else entry.osinfo[-1]


def default_connect_uri() -> str:
    return os.environ.get("LIBVIRT_DEFAULT_URI") or "qemu:///system"
