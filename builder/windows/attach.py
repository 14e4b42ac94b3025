"""`golden drivers attach`: put a driver CD into a defined guest (seed 13.1).

The seed's procedure adds the virtio-win ISO as an "IDE cdrom" through
virt-manager. golden does the same through libvirt: an empty CD drive is
filled, otherwise a new drive is added - IDE on `pc` machines, SATA on q35,
which has no IDE controller. The change goes into the persistent definition
only: "Virtualized IDE devices require a restart before they can be
recognized by guests" (seed L4880).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from builder.errors import InputError
from builder.profile.effective import disk_letters

IDE_LIMIT = 4          # seed 5.2, N-2: four IDE devices per guest
_PREFIX = {"ide": "hd", "sata": "sd"}


@dataclass(frozen=True)
class AttachResult:
    domain: str
    target: str
    bus: str
    action: str          # inserted (into an empty drive) | added (a new drive)
    running: bool


def _machine(root) -> str:
    os_type = root.find("./os/type")
    return os_type.get("machine", "") if os_type is not None else ""


def cdrom_bus(root) -> str:
    return "sata" if "q35" in _machine(root) else "ide"


def free_target(root, bus: str) -> str:
    used = {t.get("dev") for t in root.iterfind("./devices/disk/target")}
    prefix = _PREFIX[bus]
    if bus == "ide":
        ide = [t for t in root.iterfind("./devices/disk/target") if t.get("bus") == "ide"]
        if len(ide) >= IDE_LIMIT:
            raise InputError(f"the guest already has {len(ide)} IDE devices, the most a guest can have "
                             "(seed 5.2)", hint="remove a CD or IDE disk first (`virsh detach-disk`)")
    for n in range(26 if bus == "sata" else IDE_LIMIT):
        name = prefix + disk_letters(n)
        if name not in used:
            return name
    raise InputError(f"no free {bus} target for a CD drive")


def cdrom_xml(iso: Path, target: str, bus: str) -> str:
    disk = etree.Element("disk", type="file", device="cdrom")
    etree.SubElement(disk, "driver", name="qemu", type="raw")
    etree.SubElement(disk, "source", file=str(iso))
    etree.SubElement(disk, "target", dev=target, bus=bus)
    etree.SubElement(disk, "readonly")
    return etree.tostring(disk, encoding="unicode")


def _empty_cdrom(root, bus: str):
    for disk in root.iterfind("./devices/disk[@device='cdrom']"):
        target = disk.find("target")
        if disk.find("source") is None and target is not None and target.get("bus") == bus:
            return disk
    return None


def attach(conn, domain: str, iso: Path) -> AttachResult:
    """Give `domain` a CD drive holding `iso` in its persistent definition."""
    import libvirt

    from builder.virt.connection import lookup_domain

    dom = lookup_domain(conn, domain)
    if dom is None:
        raise InputError(f"no domain named {domain!r}", hint="list them with `virsh list --all`")
    root = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
    for disk in root.iterfind("./devices/disk[@device='cdrom']"):
        source = disk.find("source")
        if source is not None and source.get("file") and Path(source.get("file")) == iso:
            raise InputError(f"{iso} is already in {domain}'s drive {disk.find('target').get('dev')}")
    bus = cdrom_bus(root)
    empty = _empty_cdrom(root, bus)
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if empty is not None:
        target = empty.find("target").get("dev")
        xml = cdrom_xml(iso, target, bus)
        dom.updateDeviceFlags(xml, flags)
        action = "inserted"
    else:
        target = free_target(root, bus)
        dom.attachDeviceFlags(cdrom_xml(iso, target, bus), flags)
        action = "added"
    return AttachResult(domain=domain, target=target, bus=bus, action=action, running=bool(dom.isActive()))


def check_iso(path: Path) -> Path:
    path = Path(path).resolve()
    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file", where="--iso")
    with open(path, "rb") as f:
        f.seek(0x8001)
        if f.read(5) != b"CD001":
            raise InputError(f"{path} is not an ISO 9660 image", where="--iso")
    if re.search(r"[\n\r]", str(path)):
        raise InputError("the ISO path holds a line break", where="--iso")
    return path
