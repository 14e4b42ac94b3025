"""`golden pool`: libvirt storage pools (dir, LVM volume group, iSCSI target) through the API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from builder.errors import HostError, InputError

TYPES = ("dir", "logical", "iscsi", "iscsi-direct")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_IQN = re.compile(r"^iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:\S+)?$")


@dataclass
class PoolSpec:
    name: str
    type: str
    target: str | None = None        # dir: the directory; logical: /dev/VG
    source_name: str | None = None   # logical: the volume group
    devices: tuple[str, ...] = ()    # logical: PVs to build the VG on
    host: str | None = None          # iscsi: portal address
    port: int = 3260
    iqn: str | None = None           # iscsi: target IQN
    initiator: str | None = None     # iscsi-direct: our initiator IQN


def validate(spec: PoolSpec) -> PoolSpec:
    if not _NAME.match(spec.name):
        raise InputError(f"pool name {spec.name!r} is not usable", where="NAME",
                         hint="letters, digits and _.+- only, at most 64 characters")
    if spec.type not in TYPES:
        raise InputError(f"pool type {spec.type!r} is not one of {', '.join(TYPES)}", where="--type")
    if spec.type == "dir" and not (spec.target and spec.target.startswith("/")):
        raise InputError("a dir pool needs an absolute --path", where="--path", hint="e.g. --path /var/lib/images")
    if spec.type == "logical":
        if not spec.source_name:
            raise InputError("a logical pool needs the volume group name", where="--vg", hint="e.g. --vg guests")
        spec.target = spec.target or f"/dev/{spec.source_name}"
    if spec.type in ("iscsi", "iscsi-direct"):
        if not spec.host:
            raise InputError("an iSCSI pool needs the portal address", where="--host", hint="e.g. --host 10.0.0.5")
        if not (spec.iqn and _IQN.match(spec.iqn)):
            raise InputError(f"iSCSI target IQN {spec.iqn!r} is not an IQN", where="--iqn",
                             hint="e.g. iqn.2026-12.com.example:storage.disk1")
        if not 0 < spec.port < 65536:
            raise InputError(f"port {spec.port} is out of range", where="--port")
        if spec.type == "iscsi-direct" and not (spec.initiator and _IQN.match(spec.initiator)):
            raise InputError("an iscsi-direct pool needs our initiator IQN", where="--initiator",
                             hint="e.g. iqn.2026-12.com.example:golden")
        spec.target = spec.target or ("/dev/disk/by-path" if spec.type == "iscsi" else None)
    return spec


def pool_xml(spec: PoolSpec) -> str:
    spec = validate(spec)
    pool = ET.Element("pool", type=spec.type)
    ET.SubElement(pool, "name").text = spec.name
    if spec.type != "dir":
        source = ET.SubElement(pool, "source")
        if spec.type == "logical":
            for dev in spec.devices:
                ET.SubElement(source, "device", path=dev)
            ET.SubElement(source, "name").text = spec.source_name
            ET.SubElement(source, "format", type="lvm2")
        else:
            ET.SubElement(source, "host", name=spec.host, port=str(spec.port))
            ET.SubElement(source, "device", path=spec.iqn)
            if spec.initiator:
                ET.SubElement(ET.SubElement(source, "initiator"), "iqn", name=spec.initiator)
    if spec.target:
        ET.SubElement(ET.SubElement(pool, "target"), "path").text = spec.target
    ET.indent(pool)
    return ET.tostring(pool, encoding="unicode") + "\n"


def _error(action: str, name: str, exc) -> HostError:
    return HostError(f"cannot {action} pool {name}: {str(exc).strip()}",
                     hint="`golden pool list` shows the pools; `virsh pool-capabilities` the types this libvirt has")


def define(conn, spec: PoolSpec, *, build: bool = True, start: bool = True, autostart: bool = True) -> dict:
    import libvirt

    xml = pool_xml(spec)
    if _lookup(conn, spec.name) is not None:
        raise InputError(f"a pool named {spec.name} already exists on {conn.getURI()}", where="NAME")
    try:
        pool = conn.storagePoolDefineXML(xml, 0)
    except libvirt.libvirtError as exc:
        raise _error("define", spec.name, exc) from exc
    try:
        if build and spec.type in ("dir", "logical"):
            # dir: creates the directory; logical: vgcreate on the named devices (only if given).
            if spec.type == "dir" or spec.devices:
                pool.build(0)
        if start:
            pool.create(0)
        if autostart:
            pool.setAutostart(1)
    except libvirt.libvirtError as exc:
        # Leave nothing half-made: a defined pool that cannot start is removed again.
        with _quiet():
            if pool.isActive():
                pool.destroy()
        with _quiet():
            pool.undefine()
        raise _error("start", spec.name, exc) from exc
    return describe(pool)


def _lookup(conn, name: str):
    import libvirt

    try:
        return conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        return None


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True


def describe(pool) -> dict:
    root = ET.fromstring(pool.XMLDesc(0))
    active = bool(pool.isActive())
    info = pool.info() if active else [0, 0, 0, 0]
    return {"name": pool.name(), "type": root.get("type"), "active": active,
            "autostart": bool(pool.autostart()), "target": root.findtext("./target/path"),
            "capacity": info[1], "allocation": info[2], "available": info[3]}


def list_pools(conn) -> list[dict]:
    return sorted((describe(p) for p in conn.listAllStoragePools(0)), key=lambda d: d["name"])


def remove(conn, name: str, *, delete: bool = False) -> dict:
    import libvirt

    pool = _lookup(conn, name)
    if pool is None:
        raise InputError(f"no pool named {name} on {conn.getURI()}", where="NAME",
                         hint="`golden pool list` shows the pools")
    info = describe(pool)
    try:
        if pool.isActive():
            pool.destroy()
        if delete:
            pool.delete(0)
        pool.undefine()
    except libvirt.libvirtError as exc:
        raise _error("remove", name, exc) from exc
    return info


def require_volume(conn, ref: str, where: str) -> None:
    """POOL/VOL must name an existing volume in an existing pool (profile `disks: [{vol: ...}]`)."""
    import libvirt

    pool_name, _, vol = ref.partition("/")
    pool = _lookup(conn, pool_name)
    if pool is None:
        raise InputError(f"storage pool {pool_name!r} does not exist on {conn.getURI()}", where=where,
                         hint="create it with `golden pool define`")
    try:
        pool.storageVolLookupByName(vol)
    except libvirt.libvirtError as exc:
        raise InputError(f"pool {pool_name} has no volume {vol!r}", where=where,
                         hint=f"`virsh vol-list {pool_name}` shows its volumes") from exc
