"""Opening libvirt connections, with errors that say what to do."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator
from urllib.parse import parse_qs, urlparse

from builder.errors import HostError, InputError


def is_local(uri: str) -> bool:
    """A URI whose daemon sees this machine's paths (no host part, no remote transport)."""
    parsed = urlparse(uri)
    return not parsed.hostname and "+" not in parsed.scheme.replace("+unix", "")


def open_connection(uri: str, readonly: bool = False):
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)   # keep libvirt from printing to stderr
    try:
        return libvirt.openReadOnly(uri) if readonly else libvirt.open(uri)
    except libvirt.libvirtError as exc:
        message = str(exc).strip()
        if "no connection driver" in message or "invalid" in message.lower() and "uri" in message.lower():
            raise InputError(f"cannot use libvirt URI {uri!r}: {message}",
                             hint="e.g. qemu:///system, qemu+ssh://host/system, xen:///system") from exc
        hint = "start the daemons with `golden doctor --start-services`" if is_local(uri) else \
            "check that libvirtd runs on that host and that you can reach it (ssh keys, firewall)"
        socket = parse_qs(urlparse(uri).query).get("socket", [None])[0]
        if socket and not os.path.exists(socket):
            hint = f"the URI names the socket {socket}, which does not exist; drop ?socket= or fix the path"
        raise HostError(f"cannot connect to libvirt at {uri}: {message}", hint=hint) from exc


@contextlib.contextmanager
def connection(uri: str, readonly: bool = False) -> Iterator:
    conn = open_connection(uri, readonly=readonly)
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def lookup_domain(conn, name: str):
    import libvirt

    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError:
        return None


def used_macs(conn) -> set[str]:
    """Every MAC in every domain (running or defined) on the connection."""
    from xml.etree import ElementTree as ET

    macs = set()
    for dom in conn.listAllDomains(0):
        try:
            root = ET.fromstring(dom.XMLDesc(0))
        except Exception:
            continue
        for mac in root.findall("./devices/interface/mac"):
            macs.add(mac.get("address", "").lower())
    return macs
