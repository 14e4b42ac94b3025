"""Reading and changing a defined domain's disks through the libvirt API."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from builder.errors import HostError, InputError


def domain(conn, name: str):
    from builder.virt.connection import lookup_domain

    dom = lookup_domain(conn, name)
    if dom is None:
        raise InputError(f"no domain named {name!r} on {conn.getURI()}",
                         hint="`virsh list --all` shows the defined guests", where="DOMAIN")
    return dom


def used_targets(dom) -> set[str]:
    import libvirt

    root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return {t.get("dev") for t in root.findall("./devices/disk/target")}


def attach(dom, xml: str) -> list[str]:
    """Attach to the saved config, and to the running guest too when it runs; returns where."""
    import libvirt

    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    where = ["config"]
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        where.append("live")
    try:
        dom.attachDeviceFlags(xml, flags)
    except libvirt.libvirtError as exc:
        raise HostError(f"libvirt refused the device for {dom.name()}: {exc}") from exc
    return where


def disk_xml(*, source: str, target: str, bus: str, device: str = "disk", fmt: str = "raw",
             readonly: bool = False, shareable: bool = False, block: bool = False) -> str:
    disk = ET.Element("disk", type="block" if block else "file", device=device)
    ET.SubElement(disk, "driver", name="qemu", type=fmt)
    ET.SubElement(disk, "source", {"dev" if block else "file": source})
    ET.SubElement(disk, "target", dev=target, bus=bus)
    if readonly:
        ET.SubElement(disk, "readonly")
    if shareable:
        ET.SubElement(disk, "shareable")
    return ET.tostring(disk, encoding="unicode")
