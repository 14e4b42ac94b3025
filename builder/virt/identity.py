"""Fresh machine identities: MAC addresses and UUIDs (seed 33.9, 7.4)."""

from __future__ import annotations

import secrets
import uuid

from builder.errors import InputError

KVM_PREFIX = (0x52, 0x54, 0x00)
XEN_PREFIX = (0x00, 0x16, 0x3E)


def mac_space(hypervisor: str) -> int:
    # Xen keeps the fourth octet at most 0x7f (seed 33.9): 2**23 addresses; KVM 2**24.
    return (1 << 23) if hypervisor == "xen" else (1 << 24)


def random_mac(hypervisor: str, used: set[str]) -> str:
    prefix = XEN_PREFIX if hypervisor == "xen" else KVM_PREFIX
    for _ in range(10000):
        tail = [secrets.randbelow(0x80) if hypervisor == "xen" else secrets.randbelow(0x100),
                secrets.randbelow(0x100), secrets.randbelow(0x100)]
        mac = ":".join(f"{b:02x}" for b in (*prefix, *tail))
        if mac not in used:
            return mac
    raise InputError("could not find a free MAC address", hint="too many guests on this connection")


def fresh_macs(hypervisor: str, used: set[str], count: int) -> list[str]:
    if count + len(used) > mac_space(hypervisor):
        raise InputError(f"{count} new MAC addresses do not fit: the {hypervisor} prefix has room for "
                         f"{mac_space(hypervisor)} addresses and {len(used)} are in use")
    taken = set(used)
    out = []
    for _ in range(count):
        mac = random_mac(hypervisor, taken)
        taken.add(mac)
        out.append(mac)
    return out


def new_uuid() -> str:
    return str(uuid.uuid4())


def normalize_uuid(value: str) -> str:
    """Accept 32 hex digits with or without dashes (Xen dumpxml prints them bare, seed 7.4)."""
    hexdigits = value.replace("-", "").strip().lower()
    if len(hexdigits) != 32 or any(c not in "0123456789abcdef" for c in hexdigits):
        raise InputError(f"{value!r} is not a UUID (32 hex digits, dashes optional)")
    return str(uuid.UUID(hexdigits))
