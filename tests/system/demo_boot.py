"""Boot an installed demo disk under libvirt and read the identity line it prints.

The disk is never booted itself: a qcow2 overlay of it is, as a transient
domain made from the installed domain's XML (new name, libvirt-chosen UUID,
install CDs left out, console logged to a file of ours). The demo system
prints `golden-identity hostname=... mac=... machine-id=... uuid=...` and
powers off (`golden.poweroff` on its kernel command line), and a transient
domain vanishes when it does: nothing is left defined.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from builder.virt.watchdog import SerialTail

IDENTITY = re.compile(r"golden-identity\s+(.*)")


@dataclass
class Boot:
    uuid: str                 # the domain's UUID, which libvirt also gives the guest as its SMBIOS UUID
    identity: dict[str, str]  # key=value pairs of the identity line ({} when none came)
    seconds: float            # domain start to identity line (or to the end)
    powered_off: bool         # the guest shut itself off
    lines: list[str] = field(default_factory=list)


def overlay(base: Path, path: Path) -> Path:
    """A qcow2 overlay of BASE: writes land in PATH, BASE stays untouched."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(path)],
                   check=True, capture_output=True)
    return path


def parse_identity(line: str) -> dict[str, str]:
    m = IDENTITY.search(line)
    return dict(token.split("=", 1) for token in m.group(1).split() if "=" in token) if m else {}


def boot_xml(installed_xml: str, *, name: str, disk: Path, serial: Path) -> str:
    root = ET.fromstring(installed_xml)
    root.find("name").text = name
    for tag in ("uuid", "description"):
        for node in root.findall(tag):
            root.remove(node)
    devices = root.find("devices")
    for d in devices.findall("disk"):
        if d.get("device", "disk") != "disk":
            devices.remove(d)          # install CDs and floppies: their files belong to the build
            continue
        d.set("type", "file")
        d.find("source").attrib.clear()
        d.find("source").set("file", str(disk))
        d.find("driver").set("type", "qcow2")
    for tag in ("serial", "console"):
        for node in devices.findall(tag):
            log = node.find("log")
            if log is not None:
                log.set("file", str(serial))
    return ET.tostring(root, encoding="unicode")


def boot_identity(installed_xml: str, disk: Path, *, name: str, serial: Path, uri: str = "qemu:///system",
                  timeout: float = 300) -> Boot:
    """Boot DISK (an overlay) with the installed domain's hardware; stop at power-off or TIMEOUT."""
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)     # a vanished transient domain is expected
    serial.unlink(missing_ok=True)
    tail = SerialTail(serial)
    conn = libvirt.open(uri)
    try:
        dom = conn.createXML(boot_xml(installed_xml, name=name, disk=disk, serial=serial), 0)
        uuid = dom.UUIDString()
        started = time.monotonic()
        identity: dict[str, str] = {}
        seen_at = None
        off = False
        try:
            while time.monotonic() - started < timeout:
                for line in tail.read():
                    if not identity and IDENTITY.search(line):
                        identity, seen_at = parse_identity(line), time.monotonic() - started
                try:
                    off = not dom.isActive()
                except libvirt.libvirtError:
                    off = True         # a transient domain is gone once it powers off
                if off:
                    for line in tail.read():
                        if not identity and IDENTITY.search(line):
                            identity, seen_at = parse_identity(line), time.monotonic() - started
                    break
                time.sleep(0.25)
        finally:
            try:
                if dom.isActive():
                    dom.destroy()
            except libvirt.libvirtError:
                pass
        seconds = seen_at if seen_at is not None else time.monotonic() - started
        return Boot(uuid, identity, round(seconds, 1), off, tail.tail(40))
    finally:
        conn.close()
