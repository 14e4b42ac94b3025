"""OVF 1.x descriptor for an OVA: the virtual system a profile describes, with its disks.

Element order follows the DMTF schemas (the CIM RASD/VSSD properties are an
alphabetical xs:sequence), so strict importers and XSD validation accept it.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

OVF = "http://schemas.dmtf.org/ovf/envelope/1"
RASD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
NSMAP = {None: OVF, "ovf": OVF, "rasd": RASD, "vssd": VSSD}
VMDK_STREAM = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

# RASD ResourceType and the controller each guest bus maps to.
CPU, MEMORY, IDE, SCSI, NIC, DISK = 3, 4, 5, 6, 10, 17
_CONTROLLER = {"ide": (IDE, "PIIX4"), "sata": (20, "AHCI"), "scsi": (SCSI, "lsilogic"),
               "virtio": (SCSI, "VirtualSCSI"), "xen": (SCSI, "lsilogic")}
_NIC_SUBTYPE = {"virtio": "VirtioNet", "e1000": "E1000", "rtl8139": "PCNet32", "netfront": "E1000"}


@dataclass(frozen=True)
class OvfDisk:
    href: str            # file name inside the OVA
    file_bytes: int
    capacity: int        # virtual size, bytes
    bus: str = "virtio"


@dataclass(frozen=True)
class OvfSystem:
    name: str
    description: str
    os_type: int         # CIM_OperatingSystem.OSType (the catalog's cim_os_type); 1: Other
    os_name: str
    is_64bit: bool
    memory_mib: int
    vcpus: int
    nic_model: str | None   # None: no network adapter
    firmware: str = "bios"


def _o(tag: str) -> str:
    return f"{{{OVF}}}{tag}"


def _sub(parent, tag: str, text: str | None = None, **attrs):
    el = etree.SubElement(parent, tag, {(_o(k) if not k.startswith("{") else k): str(v)
                                        for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


def _item(hw, props: dict) -> None:
    item = _sub(hw, _o("Item"))
    for key in sorted(props):            # CIM_ResourceAllocationSettingData: alphabetical sequence
        _sub(item, f"{{{RASD}}}{key}", props[key])


def descriptor(system: OvfSystem, disks: list[OvfDisk]) -> bytes:
    env = etree.Element(_o("Envelope"), nsmap=NSMAP)
    env.set(_o("version"), "1.0")
    refs = _sub(env, _o("References"))
    for i, d in enumerate(disks, start=1):
        _sub(refs, _o("File"), id=f"file{i}", href=d.href, size=d.file_bytes)
    disk_section = _sub(env, _o("DiskSection"))
    _sub(disk_section, _o("Info"), "Virtual disks")
    for i, d in enumerate(disks, start=1):
        _sub(disk_section, _o("Disk"), capacity=d.capacity, capacityAllocationUnits="byte",
             diskId=f"vmdisk{i}", fileRef=f"file{i}", format=VMDK_STREAM)
    if system.nic_model:
        net = _sub(env, _o("NetworkSection"))
        _sub(net, _o("Info"), "Logical networks")
        n = _sub(net, _o("Network"), name="VM Network")
        _sub(n, _o("Description"), "The network the golden image's adapter connects to")

    vs = _sub(env, _o("VirtualSystem"), id=system.name)
    _sub(vs, _o("Info"), system.description or f"golden image {system.name}")
    _sub(vs, _o("Name"), system.name)
    os_el = _sub(vs, _o("OperatingSystemSection"), id=system.os_type)
    _sub(os_el, _o("Info"), "Guest operating system")
    _sub(os_el, _o("Description"), system.os_name)

    hw = _sub(vs, _o("VirtualHardwareSection"))
    _sub(hw, _o("Info"), f"{system.vcpus} CPU(s), {system.memory_mib} MiB, {len(disks)} disk(s)")
    sys_el = _sub(hw, _o("System"))
    for key, value in (("ElementName", "Virtual Hardware Family"), ("InstanceID", 0),
                       ("VirtualSystemIdentifier", system.name), ("VirtualSystemType", "vmx-07")):
        _sub(sys_el, f"{{{VSSD}}}{key}", value)
    ids = iter(range(1, 10_000))
    _item(hw, {"AllocationUnits": "hertz * 10^6", "Description": "Number of virtual CPUs",
               "ElementName": f"{system.vcpus} virtual CPU(s)", "InstanceID": next(ids),
               "ResourceType": CPU, "VirtualQuantity": system.vcpus})
    _item(hw, {"AllocationUnits": "byte * 2^20", "Description": "Memory size",
               "ElementName": f"{system.memory_mib} MB of memory", "InstanceID": next(ids),
               "ResourceType": MEMORY, "VirtualQuantity": system.memory_mib})
    controllers: dict[str, int] = {}
    used: dict[str, int] = {}
    for i, d in enumerate(disks, start=1):
        bus = d.bus if d.bus in _CONTROLLER else "virtio"
        if bus not in controllers:
            rtype, subtype = _CONTROLLER[bus]
            controllers[bus] = next(ids)
            _item(hw, {"Address": 0, "Description": f"{bus} controller", "ElementName": f"{bus}controller0",
                       "InstanceID": controllers[bus], "ResourceSubType": subtype, "ResourceType": rtype})
        slot = used.get(bus, 0)
        used[bus] = slot + 1
        _item(hw, {"AddressOnParent": slot, "ElementName": f"disk{i}", "HostResource": f"ovf:/disk/vmdisk{i}",
                   "InstanceID": next(ids), "Parent": controllers[bus], "ResourceType": DISK})
    if system.nic_model:
        _item(hw, {"AddressOnParent": 0, "AutomaticAllocation": "true", "Connection": "VM Network",
                   "Description": f"{system.nic_model} network adapter", "ElementName": "ethernet0",
                   "InstanceID": next(ids), "ResourceSubType": _NIC_SUBTYPE.get(system.nic_model, "E1000"),
                   "ResourceType": NIC})
    return etree.tostring(env, pretty_print=True, xml_declaration=True, encoding="UTF-8")
