"""The domain XML a clone of an image file is defined from.

For an image DIR/NAME.qcow2 golden looks, in order, for DIR/NAME.domain.xml
(published beside the image), DIR/NAME.build/domain.xml (the build's
installed domain), and for an install's own disk (DIR/NAME.build/disk0.qcow2)
the domain.xml beside it. Without any, it writes a small domain the way
`virt-install --import` would: one virtio disk and NIC (or what the catalog
says the inspected OS supports), a serial console, user-mode networking.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from builder.errors import InputError

_SUFFIXES = (".qcow2", ".raw", ".img")


def image_stem(image: Path) -> str:
    name = image.name
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return image.stem


def find_template(image: Path) -> Path | None:
    image = Path(image)
    stem = image_stem(image)
    candidates = [image.parent / f"{stem}.domain.xml", image.parent / f"{stem}.build" / "domain.xml"]
    if image.parent.name.endswith(".build"):
        candidates.append(image.parent / "domain.xml")
    return next((c for c in candidates if c.is_file()), None)


def build_dir_of(image: Path) -> Path | None:
    """The build directory that belongs to an image, if there is one (see builder/layout.py)."""
    image = Path(image).resolve()
    beside = image.parent / f"{image_stem(image)}.build"
    if beside.is_dir():
        return beside
    if image.parent.name.endswith(".build"):
        return image.parent
    return None


def _catalog_entry(osi):
    """The catalog entry for an inspected OS (distro and version), if golden knows it."""
    if osi is None or osi.major is None:
        return None
    from builder import catalog
    for entry in catalog.entries().values():
        if entry.distro == osi.distro and entry.major == osi.major and entry.minor == (osi.minor or 0):
            return entry
    return None


def generate(image: Path, disk_format: str, *, virt_type: str, osi=None) -> etree._Element:
    """A minimal domain for an image that came without one."""
    entry = _catalog_entry(osi)
    virtio = entry.virt.virtio if entry else True
    bus = "virtio" if virtio else (entry.virt.default_disk_bus if entry else "ide")
    if bus not in ("virtio", "ide", "sata", "scsi"):
        bus = "ide"
    nic = entry.virt.default_nic_model if entry else "virtio"
    memory = max(512, entry.min_memory) if entry else 1024
    arch = osi.arch if osi is not None and osi.arch in ("x86_64", "i386", "i686") else "x86_64"

    root = etree.Element("domain", type=virt_type)
    etree.SubElement(root, "name").text = image_stem(Path(image))
    etree.SubElement(root, "memory", unit="MiB").text = str(memory)
    etree.SubElement(root, "vcpu").text = "1"
    os_el = etree.SubElement(root, "os")
    etree.SubElement(os_el, "type", arch="i686" if arch == "i386" else arch).text = "hvm"
    etree.SubElement(os_el, "boot", dev="hd")
    features = etree.SubElement(root, "features")
    etree.SubElement(features, "acpi")
    etree.SubElement(features, "apic")
    # Under TCG the default CPU model has no RDRAND, and guests wait seconds for entropy.
    etree.SubElement(root, "cpu", mode="host-passthrough" if virt_type == "kvm" else "maximum", check="none")
    etree.SubElement(root, "clock", offset="utc")
    for event, action in (("on_poweroff", "destroy"), ("on_reboot", "restart"), ("on_crash", "destroy")):
        etree.SubElement(root, event).text = action
    devices = etree.SubElement(root, "devices")
    disk = etree.SubElement(devices, "disk", type="file", device="disk")
    etree.SubElement(disk, "driver", name="qemu", type=disk_format)
    etree.SubElement(disk, "source", file=str(image))
    etree.SubElement(disk, "target", dev="vda" if bus == "virtio" else "sda" if bus in ("sata", "scsi") else "hda",
                     bus=bus)
    iface = etree.SubElement(devices, "interface", type="user")
    etree.SubElement(iface, "model", type=nic)
    serial = etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(serial, "target", port="0")
    console = etree.SubElement(devices, "console", type="pty")
    etree.SubElement(console, "target", type="serial", port="0")
    if virtio:
        rng = etree.SubElement(devices, "rng", model="virtio")
        etree.SubElement(rng, "backend", model="random").text = "/dev/urandom"
    return root


def load(path: Path) -> etree._Element:
    from builder.clone.domainxml import parse
    try:
        root = parse(Path(path).read_bytes())
    except (OSError, etree.XMLSyntaxError) as exc:
        raise InputError(f"cannot read the domain template: {exc}", where=str(path)) from None
    if root.tag != "domain" or root.find("name") is None:
        raise InputError("not a libvirt domain XML (no <domain> with a <name>)", where=str(path))
    return root
