"""MAC addresses as PXE loaders name them.

pxelinux and grub look up a per-host file by the boot NIC's address with
its ARP hardware type in front (01 = Ethernet) and dashes between bytes:
pxelinux.cfg/01-52-54-00-12-34-56, grub.cfg-01-52-54-00-12-34-56.
"""

from __future__ import annotations

import re

from builder.errors import InputError

_SEPARATED = re.compile(r"[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}")


def parse_mac(value: str) -> str:
    """A unicast Ethernet MAC in `aa:bb:...` or `aa-bb-...` form -> `aa:bb:cc:dd:ee:ff`."""
    text = str(value).strip().lower()
    if not _SEPARATED.fullmatch(text):
        raise InputError(f"{value!r} is not a MAC address",
                         "write six hex pairs separated by ':' or '-', like 52:54:00:12:34:56")
    mac = text.replace("-", ":")
    if int(mac[:2], 16) & 1:
        raise InputError(f"{value!r} is a multicast address; a NIC has a unicast MAC (first octet even)")
    return mac


def dashed(mac: str) -> str:
    return parse_mac(mac).replace(":", "-")


def pxelinux_name(mac: str) -> str:
    """The file name pxelinux tries first under pxelinux.cfg/."""
    return f"01-{dashed(mac)}"


def grub_name(mac: str) -> str:
    """The file name grub's net config search tries before grub.cfg."""
    return f"grub.cfg-01-{dashed(mac)}"
