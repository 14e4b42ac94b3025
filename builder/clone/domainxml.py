"""Rewrite a domain's XML into a clone's: the host-side identity (seed 33.18-33.19).

What must change: name, UUID (also the SMBIOS one), every MAC, disk paths,
per-domain files (serial logs, NVRAM). What must go: install-time leftovers
(direct kernel boot, install CDs), fixed display ports, runtime state. The
expected in-guest identity is recorded in golden's metadata so `golden
verify` can check the guest against it later.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

GOLDEN_NS = "https://golden.invalid/xmlns/clone/1"
AGENT_CHANNEL = "org.qemu.guest_agent.0"
# A kernel command line that starts an installer: direct kernel boot left over from the install.
INSTALLER_ARGS = re.compile(r"(^|\s)(inst\.)?(ks|repo|stage2|method)=|(^|\s)inst\.")


@dataclass(frozen=True)
class CloneSpec:
    name: str
    uuid: str
    macs: tuple[str, ...]            # one per <interface>, in document order
    disks: tuple[Path, ...]          # new sources for the writable disks, in order
    disk_formats: tuple[str, ...]    # each new disk's format: qcow2 for overlays, the source's for copies
    hostname: str
    serial_log: Path | None
    source: str                      # what was cloned (image path or domain name)
    record: Path | None = None       # the build's clones.json that lists this clone
    batch: Path | None = None        # the clone directory's clones.json


def parse(xml: str | bytes) -> etree._Element:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.fromstring(xml.encode() if isinstance(xml, str) else xml, parser)


def writable_disks(root: etree._Element) -> list[etree._Element]:
    """Disks a clone needs its own copy of: file-backed, read-write, not shareable."""
    out = []
    for disk in root.findall("./devices/disk"):
        if disk.get("device", "disk") != "disk":
            continue
        if disk.find("readonly") is not None or disk.find("shareable") is not None:
            continue
        if disk.find("source") is None or disk.find("source").get("file") is None:
            continue
        out.append(disk)
    return out


def interfaces(root: etree._Element) -> list[etree._Element]:
    return root.findall("./devices/interface")


def source_image(root: etree._Element) -> Path | None:
    disks = writable_disks(root)
    return Path(disks[0].find("source").get("file")) if disks else None


def source_format(disk: etree._Element) -> str:
    driver = disk.find("driver")
    return driver.get("type", "raw") if driver is not None else "raw"


def _drop(parent, *paths: str) -> None:
    for path in paths:
        for node in parent.findall(path):
            node.getparent().remove(node)


def rewrite(template: etree._Element, spec: CloneSpec) -> str:
    root = copy.deepcopy(template)
    for attr in ("id",):
        root.attrib.pop(attr, None)
    root.find("name").text = spec.name
    uuid_el = root.find("uuid")
    if uuid_el is None:
        uuid_el = etree.SubElement(root, "uuid")
    uuid_el.text = spec.uuid
    for entry in root.findall("./sysinfo/system/entry[@name='uuid']"):
        entry.text = spec.uuid
    _drop(root, "./title")
    desc = root.find("description")
    if desc is None:
        desc = etree.SubElement(root, "description")
    desc.text = f"golden clone of {spec.source}"

    # Install-time leftovers: an installer's direct kernel boot, and media in CD/floppy drives.
    os_el = root.find("os")
    if os_el is not None:
        if INSTALLER_ARGS.search(os_el.findtext("cmdline") or ""):
            _drop(os_el, "kernel", "initrd", "cmdline")
        nvram = os_el.find("nvram")
        if nvram is not None:
            nvram.text = None            # libvirt makes a fresh VARS file from the template
    for disk in root.findall("./devices/disk"):
        if disk.get("device") in ("cdrom", "floppy"):
            _drop(disk, "source", "backingStore")

    disks = writable_disks(root)
    if len(disks) != len(spec.disks):
        raise ValueError(f"the template has {len(disks)} writable disks, the clone {len(spec.disks)}")
    for disk, path, fmt in zip(disks, spec.disks, spec.disk_formats):
        disk.find("source").set("file", str(path))
        _drop(disk, "backingStore")
        driver = disk.find("driver")
        if driver is None:
            driver = etree.SubElement(disk, "driver", name="qemu")
            disk.insert(0, driver)
        driver.set("type", fmt)

    nics = interfaces(root)
    if len(nics) != len(spec.macs):
        raise ValueError(f"the template has {len(nics)} interfaces, the clone {len(spec.macs)} MACs")
    for nic, mac in zip(nics, spec.macs):
        mac_el = nic.find("mac")
        if mac_el is None:
            mac_el = etree.Element("mac")
            nic.insert(0, mac_el)
        mac_el.set("address", mac)
        _drop(nic, "target", "alias")

    for graphics in root.findall("./devices/graphics"):
        if graphics.get("port") not in (None, "-1"):
            graphics.set("port", "-1")
            graphics.set("autoport", "yes")
    _serial_logs(root, spec.serial_log)
    _agent_channel(root)
    for channel in root.findall("./devices/channel"):
        source = channel.find("source")
        if source is not None and source.get("path"):
            del source.attrib["path"]     # guest agent sockets are per domain
    _drop(root, "./devices/*/alias", "./seclabel[@type='dynamic']/label",
          "./seclabel[@type='dynamic']/imagelabel")

    metadata = root.find("metadata")
    if metadata is None:
        metadata = etree.SubElement(root, "metadata")
    _drop(metadata, f"{{{GOLDEN_NS}}}clone")
    clone = etree.SubElement(metadata, f"{{{GOLDEN_NS}}}clone", nsmap={"golden": GOLDEN_NS})
    clone.set("source", spec.source)
    clone.set("hostname", spec.hostname)
    clone.set("macs", ",".join(spec.macs))
    if spec.record is not None:
        clone.set("record", str(spec.record))
    if spec.batch is not None:
        clone.set("batch", str(spec.batch))
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def _agent_channel(root: etree._Element) -> None:
    """The QEMU guest agent's virtio-serial port, through which `golden verify` asks a clone who it is.

    libvirt picks the host socket; a guest without qemu-guest-agent just has an unused port.
    Xen domains have no virtio-serial.
    """
    if root.get("type") == "xen":
        return
    devices = root.find("devices")
    if any(t.get("name") == AGENT_CHANNEL for t in devices.findall("./channel/target")):
        return
    channel = etree.SubElement(devices, "channel", type="unix")
    etree.SubElement(channel, "target", type="virtio", name=AGENT_CHANNEL)


def _serial_logs(root: etree._Element, serial_log: Path | None) -> None:
    """Per-clone console files; `golden verify` reads the identity line from the serial log."""
    devices = root.find("devices")
    if devices is None:
        devices = etree.SubElement(root, "devices")
    if serial_log is not None and devices.find("serial") is None:
        serial = etree.SubElement(devices, "serial", type="pty")
        etree.SubElement(serial, "target", port="0")
        console = etree.SubElement(devices, "console", type="pty")
        etree.SubElement(console, "target", type="serial", port="0")
    for chardev in devices.findall("serial") + devices.findall("console"):
        source = chardev.find("source")
        if chardev.get("type") == "file":
            # The file is the console output itself: one per clone, or none.
            if serial_log is None:
                chardev.set("type", "pty")
                _drop(chardev, "source")
            else:
                source.set("path", str(serial_log))
                source.set("append", "off")
            continue
        if chardev.get("type") == "pty" and source is not None:
            chardev.remove(source)          # a pty path of the running source
        log = chardev.find("log")
        if serial_log is None:
            if log is not None:
                chardev.remove(log)
            continue
        if log is None:
            log = etree.Element("log")
            target = chardev.find("target")
            chardev.insert(chardev.index(target) if target is not None else len(chardev), log)
        log.set("file", str(serial_log))
        log.set("append", "off")


def expected_identity(xml: str) -> dict:
    """What golden set for a clone: read back from the domain's XML."""
    root = parse(xml)
    out = {"name": root.findtext("name"), "uuid": (root.findtext("uuid") or "").lower(),
           "macs": [m.get("address").lower() for m in root.findall("./devices/interface/mac")]}
    clone = root.find(f"./metadata/{{{GOLDEN_NS}}}clone")
    if clone is not None:
        out["hostname"] = clone.get("hostname")
        out["source"] = clone.get("source")
        out["record"] = clone.get("record")
        out["batch"] = clone.get("batch")
    log = root.find("./devices/serial/log")
    out["serial_log"] = log.get("file") if log is not None else None
    return out
