"""`golden doctor --connect URI` for a remote libvirt host: checked through the connection.

This machine's CPU flags, /dev/kvm, daemons and image directory say nothing
about another host. What a remote build needs is checked instead: the
connection, the guest types the host offers, whether KVM really runs there
(remote_accel), golden's storage pool, and a round trip of bytes through a
volume (the path every medium and disk takes). The local tools still matter:
virt-install, qemu-img and libguestfs run here.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree as ET

from builder.errors import GoldenError
from builder.virt import accel, connection, remote, remote_accel
from builder.virt.doctor import Check, tool_checks

_ROUND_TRIP = 1 << 20


def _version(n: int) -> str:
    return f"{n // 1000000}.{n // 1000 % 1000}.{n % 1000}"


def _guest_types(conn) -> str:
    root = ET.fromstring(conn.getCapabilities())
    out = []
    for guest in root.findall("./guest"):
        arch = guest.find("arch")
        if arch is None:
            continue
        kinds = sorted({d.get("type", "") for d in arch.findall("domain")})
        out.append(f"{arch.get('name')} ({', '.join(kinds)})")
    return ", ".join(sorted(set(out))) or "none"


def _round_trip(conn, pool: remote.Pool) -> Check:
    """Upload a file with a hole in it and read it back: the transport every medium and disk uses."""
    name = remote.transient_name("doctor", "round-trip")
    with tempfile.TemporaryDirectory(prefix="golden-doctor-") as tmp:
        src, back = Path(tmp) / "src", Path(tmp) / "back"
        with open(src, "wb") as f:
            f.write(os.urandom(64 << 10))
            f.seek(_ROUND_TRIP - (64 << 10))
            f.write(os.urandom(64 << 10))
        started = time.monotonic()
        try:
            vol = remote.create_volume(pool, name, _ROUND_TRIP)
            remote.upload(conn, vol, src)
            remote.download(conn, vol, back)
        except GoldenError as exc:
            return Check("volume transport", "fail", exc.message,
                         "golden moves media and disks through libvirt volume upload/download; "
                         "check the pool's permissions and free space on that host")
        finally:
            remote.delete_volume(pool, name)
        same = src.read_bytes() == back.read_bytes()
    took = time.monotonic() - started
    if not same:
        return Check("volume transport", "fail", "a volume read back differs from what was uploaded")
    return Check("volume transport", "ok", f"1 MiB with a hole uploaded to {pool.name} and read back "
                                           f"intact in {took:.2f} s")


def run(uri: str, reprobe: bool = False) -> tuple[list[Check], accel.AccelResult | None]:
    checks: list[Check] = []
    try:
        conn = connection.open_connection(uri)
    except GoldenError as exc:
        return [Check("libvirt connection", "fail", exc.message, exc.hint or "")] + tool_checks(), None
    result = None
    try:
        host = conn.getHostname()
        checks.append(Check("libvirt connection", "ok",
                            f"{uri}: {conn.getType()} {_version(conn.getVersion())} on {host}, "
                            f"libvirt {_version(conn.getLibVersion())}"))
        checks.append(Check("guest types", "ok" if "x86_64" in _guest_types(conn) else "warn",
                            _guest_types(conn)))
        try:
            pool = remote.golden_pool(conn, uri)
        except GoldenError as exc:
            checks.append(Check("storage pool", "fail", exc.message, exc.hint or ""))
            return checks + tool_checks(), None
        volumes = pool.obj.listAllVolumes(0)
        checks.append(Check("storage pool", "ok", f"{pool.name} at {pool.path} on {host} "
                                                  f"({len(volumes)} volume(s)); created when missing"))
        checks.append(_round_trip(conn, pool))
        result = remote_accel.probe(conn, uri, pool, force=reprobe)
        checks.append(Check("KVM usable", "ok" if result.kvm_usable else "warn",
                            f"{result.reason} -> golden uses {result.accel.upper()} there",
                            "" if result.kvm_usable else
                            "TCG works but is slow; fix KVM on that host (BIOS VT-x/AMD-V, kvm modules)"))
    finally:
        conn.close()
    return checks + tool_checks(), result
