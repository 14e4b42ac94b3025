"""Live-migration pre-flight (seed ch. 21-22, scenario 22), asked of both hosts through libvirt.

`virsh migrate --live` fails late and tersely: a missing bridge, a disk at
another path or a passthrough device shows up only after the target qemu has
started. Each of the guide's conditions is a check here with a fix, decided
from the domain XML and what each side's libvirt reports, so the verdict is
the same whether the hosts are local, remote or libvirt's test driver.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional
from xml.etree import ElementTree as ET

from builder.virt.doctor import Check

# qemu.conf migration_port_min/max defaults; the guide lists 49152-49216.
QEMU_MIGRATION_PORTS = "49152-49215"
XEN_RELOCATION_PORT = 8002
# File systems libvirt treats as shared between hosts (virFileIsSharedFS); a writable disk file
# anywhere else makes it refuse a live migration ("Migration without shared storage is unsafe").
SHARED_FS = ("nfs", "nfs4", "cifs", "smb3", "gfs2", "gfs2meta", "ocfs2", "ceph", "fuse.glusterfs",
             "fuse.quobyte", "gpfs", "beegfs", "afs")


@dataclass
class Host:
    """What one side's libvirt says about itself."""
    uri: str
    hypervisor: str                       # conn.getType(): QEMU, Xen
    version: int
    hostname: str
    uuid: str
    cpu_vendor: str
    cpu_xml: str                          # the <cpu> element of the capabilities, for compareCPU
    guests: set[tuple[str, str]]          # (arch, domain type) pairs the host can run
    machines: dict[str, set[str]]         # arch -> machine types and their canonical names
    networks: dict[str, bool]             # libvirt network -> active
    bridges: Optional[set[str]]           # host network devices, None when libvirt cannot list them
    domains: dict[str, str] = field(default_factory=dict)   # name -> uuid


@dataclass
class Disk:
    device: str                           # disk | cdrom | floppy | lun
    path: str
    readonly: bool = False


@dataclass
class Guest:
    name: str
    uuid: str
    virt_type: str
    arch: str
    machine: str
    disks: list[Disk]
    interfaces: list[tuple[str, str]]     # (type, source)
    hostdevs: list[str]


def parse_capabilities(xml: str) -> tuple[str, str, str, set[tuple[str, str]], dict[str, set[str]]]:
    root = ET.fromstring(xml)
    cpu = root.find("./host/cpu")
    guests, machines = set(), {}
    for guest in root.findall("./guest"):
        arch = guest.find("./arch")
        if arch is None:
            continue
        name = arch.get("name", "")
        names = machines.setdefault(name, set())
        for machine in arch.iter("machine"):
            names.add((machine.text or "").strip())
            if machine.get("canonical"):
                names.add(machine.get("canonical"))
        for dom in arch.findall("./domain"):
            guests.add((name, dom.get("type", "")))
    return ((root.findtext("./host/uuid") or "").strip(), (cpu.findtext("./vendor") or "").strip() if cpu is not None
            else "", ET.tostring(cpu, encoding="unicode") if cpu is not None else "", guests, machines)


def parse_guest(xml: str) -> Guest:
    root = ET.fromstring(xml)
    ostype = root.find("./os/type")
    disks = []
    for disk in root.findall("./devices/disk"):
        source = disk.find("./source")
        path = None if source is None else source.get("file") or source.get("dev") or source.get("name")
        if path:
            disks.append(Disk(disk.get("device", "disk"), path, disk.find("./readonly") is not None))
    interfaces = []
    for nic in root.findall("./devices/interface"):
        source = nic.find("./source")
        src = "" if source is None else source.get("network") or source.get("bridge") or source.get("dev") or ""
        interfaces.append((nic.get("type", ""), src))
    hostdevs = []
    for dev in root.findall("./devices/hostdev") + [n for n in root.findall("./devices/interface")
                                                     if n.get("type") == "hostdev"]:
        addr = dev.find("./source/address")
        hostdevs.append("pci " + ":".join(addr.get(k, "?") for k in ("domain", "bus", "slot", "function"))
                        if addr is not None else dev.get("type", "hostdev"))
    return Guest(name=root.findtext("./name") or "", uuid=(root.findtext("./uuid") or "").strip(),
                 virt_type=root.get("type", ""), arch=ostype.get("arch", "") if ostype is not None else "",
                 machine=ostype.get("machine", "") if ostype is not None else "",
                 disks=disks, interfaces=interfaces, hostdevs=hostdevs)


def _version(n: int) -> str:
    return f"{n // 1000000}.{n // 1000 % 1000}.{n % 1000}"


def checks(guest: Guest, running: bool, src: Host, dst: Host,
           src_sees: Callable[[str], Optional[int]], dst_sees: Callable[[str], Optional[int]],
           cpu_compare: Callable[[str], int], fs_type: Callable[[str], Optional[str]],
           unsafe: bool = False) -> list[Check]:
    """Every pre-flight verdict. `*_sees(path)` is the size that side's libvirt reports for a path, or None;
    `cpu_compare(xml)` is the target's compareCPU of the source host CPU (-1 error, 0 incompatible);
    `fs_type(path)` is the source's file system type of a path, None when it cannot be known (a remote source)."""
    out = [Check("guest state", "ok" if running else "fail",
                 f"{guest.name} is {'running' if running else 'not running'}",
                 "" if running else f"start it (`virsh start {guest.name}`): a live migration moves a running guest")]
    out.append(_hypervisor(guest, src, dst))
    out.append(Check("different host", "ok" if src.uuid != dst.uuid else "fail",
                     f"host UUIDs {src.uuid} and {dst.uuid}" if src.uuid != dst.uuid else
                     f"both URIs reach the same host (UUID {src.uuid}); libvirt refuses to migrate to itself",
                     "" if src.uuid != dst.uuid else "give the target's URI, or set host_uuid in its libvirtd.conf "
                                                     "when two hosts share an SMBIOS UUID"))
    if guest.name in dst.domains:
        same = dst.domains[guest.name] == guest.uuid
        out.append(Check("name on target", "warn" if same else "fail",
                         f"{dst.hostname} already defines {guest.name}"
                         + (" with the same UUID (an earlier copy)" if same else
                            f" as another guest (UUID {dst.domains[guest.name]})"),
                         f"remove it there first: `virsh -c {dst.uri} undefine {guest.name}`" if not same else ""))
    else:
        out.append(Check("name on target", "ok", f"no guest named {guest.name} on {dst.hostname}"))
    out.append(Check("passthrough devices", "fail" if guest.hostdevs else "ok",
                     "assigned host devices: " + ", ".join(guest.hostdevs) if guest.hostdevs else
                     "no PCI passthrough or SR-IOV functions",
                     "guests with PCI passthrough or SR-IOV virtual functions cannot migrate (seed L5770, L5890): "
                     "detach them (`virsh detach-device`) first, or shut the guest down and move it offline"
                     if guest.hostdevs else ""))
    out += [_interface(kind, source, dst) for kind, source in guest.interfaces]
    for disk in guest.disks:
        out.append(_disk(disk, src_sees(disk.path), dst_sees(disk.path), dst))
        out.append(_shared(disk, fs_type(disk.path), unsafe))
    out.append(_cpu(guest, src, dst, cpu_compare))
    if src.hypervisor.lower() == "xen":
        out.append(Check("migration ports", "info", f"xend relocation on TCP {XEN_RELOCATION_PORT} of {dst.hostname}",
                         "on the target: (xend-relocation-server yes), (xend-relocation-port 8002) and "
                         "(xend-relocation-hosts-allow '') in /etc/xen/xend-config.sxp, then `service xend restart`"))
    else:
        out.append(Check("migration ports", "info",
                         f"the target's qemu listens on TCP {QEMU_MIGRATION_PORTS} while the memory moves",
                         f"let the source reach {dst.hostname} on TCP {QEMU_MIGRATION_PORTS} (qemu.conf "
                         "migration_port_min/max); libvirt cannot test a firewall before the transfer"))
    return out


def _hypervisor(guest: Guest, src: Host, dst: Host) -> Check:
    if src.hypervisor != dst.hypervisor:
        return Check("hypervisor", "fail", f"{src.hypervisor} here, {dst.hypervisor} there",
                     "migrate only between hosts of the same hypervisor (seed ch. 21)")
    if (guest.arch, guest.virt_type) not in dst.guests:
        return Check("hypervisor", "fail", f"{dst.hostname} cannot run {guest.virt_type} guests of arch {guest.arch}",
                     "the target needs the same accelerator: check it with `golden doctor --connect URI`")
    if guest.machine and guest.machine not in dst.machines.get(guest.arch, set()):
        return Check("hypervisor", "fail", f"machine type {guest.machine} is unknown to {dst.hypervisor} "
                                           f"{_version(dst.version)} on {dst.hostname}",
                     "upgrade the target's qemu to the source's release or newer")
    if dst.version < src.version:
        return Check("hypervisor", "warn", f"{src.hypervisor} {_version(src.version)} here, older "
                                           f"{_version(dst.version)} there",
                     "migrating to an older release can fail on device state; same release on both is safest")
    return Check("hypervisor", "ok", f"{src.hypervisor} {_version(src.version)} here, {_version(dst.version)} there; "
                                     f"{guest.virt_type} {guest.arch} {guest.machine}".rstrip())


def _interface(kind: str, source: str, dst: Host) -> Check:
    name = f"network {kind}:{source}" if source else f"network {kind}"
    if kind == "network":
        if source not in dst.networks:
            return Check(name, "fail", f"no libvirt network {source!r} on {dst.hostname}",
                         f"define it there with the same name (`virsh -c {dst.uri} net-define`)")
        if not dst.networks[source]:
            return Check(name, "fail", f"network {source!r} is defined but not active on {dst.hostname}",
                         f"`virsh -c {dst.uri} net-start {source}`")
        return Check(name, "ok", f"network {source!r} is active on {dst.hostname}")
    if kind in ("bridge", "direct"):
        if dst.bridges is None:
            return Check(name, "warn", f"libvirt on {dst.hostname} cannot list host interfaces",
                         f"check on the target that `ip link show {source}` exists (seed: same bridge names)")
        if source not in dst.bridges:
            return Check(name, "fail", f"{dst.hostname} has no interface {source!r}",
                         f"create the bridge there with the same name (`golden bridge apply {source} --nic ...`)")
        return Check(name, "ok", f"{source} exists on {dst.hostname}")
    if kind == "user":
        return Check(name, "ok", "user-mode networking needs nothing on the target")
    return Check(name, "warn", f"golden does not check {kind} interfaces", "check the target by hand")


def _disk(disk: Disk, here: Optional[int], there: Optional[int], dst: Host) -> Check:
    name, path, device = f"storage {disk.path}", disk.path, disk.device
    if there is None:
        return Check(name, "fail", f"{dst.hostname} does not see {path}",
                     "migration needs the disk on shared storage (NFS, iSCSI, GFS2) mounted at the same path "
                     "on both hosts (seed 21.1)" + ("; a CD image can also be ejected first" if device == "cdrom"
                                                     else ""))
    if here is not None and here != there:
        return Check(name, "fail", f"{path} is {here} bytes here and {there} there: a different file, not shared",
                     "put the disk on storage both hosts mount at the same path")
    return Check(name, "ok", f"{dst.hostname} sees {path}" + (" (same size)" if here is not None else ""))


def _shared(disk: Disk, fstype: Optional[str], unsafe: bool) -> Check:
    """libvirt's own gate (qemuMigrationSrcIsSafe), so its refusal shows here with a fix instead of mid-way."""
    name = f"shared {disk.path}"
    if disk.readonly:
        return Check(name, "ok", "read-only: libvirt lets it migrate from any file system")
    if disk.path.startswith("/dev/"):
        return Check(name, "ok", "a block device: libvirt leaves it to the hosts to share the same LUN or LV")
    if fstype is None:
        return Check(name, "warn", "the source is remote: its file system type is not visible here",
                     "libvirt refuses a disk file outside NFS/GFS2/OCFS2/Ceph/GlusterFS")
    if fstype in SHARED_FS:
        return Check(name, "ok", f"on {fstype}, which libvirt treats as shared")
    if unsafe:
        return Check(name, "warn", f"on {fstype}, which libvirt cannot see as shared: --unsafe says it is",
                     "if the target does not really use this same file, the guest's disk is corrupted")
    return Check(name, "fail", f"on {fstype}: libvirt refuses this live migration "
                               "(\"Migration without shared storage is unsafe\")",
                 "put the disk on NFS/GFS2/OCFS2/Ceph/GlusterFS mounted at the same path on both hosts; "
                 "--unsafe only if both hosts really open this one file")


def mount_type(path: str, mounts: str | None = None) -> Optional[str]:
    """The file system type of the mount that holds `path` on this machine (longest mount point wins)."""
    if mounts is None:
        try:
            with open("/proc/self/mounts") as fh:
                mounts = fh.read()
        except OSError:
            return None
    real, best, kind = os.path.realpath(path), "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def _cpu(guest: Guest, src: Host, dst: Host, cpu_compare: Callable[[str], int]) -> Check:
    if guest.virt_type == "qemu":
        return Check("cpu", "ok", "emulated CPU (TCG): the hosts' CPUs do not matter")
    if src.cpu_vendor and dst.cpu_vendor and src.cpu_vendor != dst.cpu_vendor:
        return Check("cpu", "fail", f"{src.cpu_vendor} here, {dst.cpu_vendor} there",
                     "migrate between hosts of one CPU vendor (seed ch. 21)")
    result = cpu_compare(src.cpu_xml) if src.cpu_xml else -1
    if result == 0:
        return Check("cpu", "fail", f"{dst.hostname}'s CPU lacks features of this host's CPU (NX, model flags)",
                     "give the guest a CPU model both hosts have (<cpu mode='custom'>) or pick a matching host")
    if result < 0:
        return Check("cpu", "warn", "libvirt could not compare the two host CPUs", "compare /proc/cpuinfo by hand")
    return Check("cpu", "ok", f"{src.cpu_vendor or 'CPU'} here; {dst.hostname}'s CPU has every feature of it")


# --- libvirt side -------------------------------------------------------------

def host_of(conn, uri: str) -> Host:
    import libvirt

    uuid, vendor, cpu_xml, guests, machines = parse_capabilities(conn.getCapabilities())
    networks = {net.name(): bool(net.isActive()) for net in conn.listAllNetworks(0)}
    return Host(uri=uri, hypervisor=conn.getType(), version=conn.getVersion(), hostname=conn.getHostname(),
                uuid=uuid, cpu_vendor=vendor, cpu_xml=cpu_xml, guests=guests, machines=machines,
                networks=networks, bridges=_interfaces(conn, libvirt),
                domains={d.name(): d.UUIDString() for d in conn.listAllDomains(0)})


def _interfaces(conn, libvirt) -> Optional[set[str]]:
    try:
        devices = conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET)
    except libvirt.libvirtError:
        devices = None
    if devices is not None:
        names = set()
        for dev in devices:
            try:
                text = ET.fromstring(dev.XMLDesc(0)).findtext("./capability/interface")
            except (libvirt.libvirtError, ET.ParseError):
                continue
            if text:
                names.add(text.strip())
        return names
    try:
        return {iface.name() for iface in conn.listAllInterfaces(0)}
    except libvirt.libvirtError:
        return None


def sees(conn, path: str) -> Optional[int]:
    """The capacity that host's libvirt reports for `path`, or None when it has no such file.

    A path outside every pool is looked at through a transient dir pool on its folder, destroyed right after,
    so nothing stays defined on a host that was only asked."""
    import libvirt

    try:
        return conn.storageVolLookupByPath(path).info()[1]
    except libvirt.libvirtError:
        pass
    folder, base = os.path.split(path)
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        try:
            if ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") != folder:
                continue
        except libvirt.libvirtError:
            continue
        try:                              # a pool owns the folder: its listing is the answer
            pool.refresh(0)
            return pool.storageVolLookupByName(base).info()[1]
        except libvirt.libvirtError:
            return None
    from builder import owners

    name = f"golden-migrate-check-{os.getpid()}"
    xml = f"<pool type='dir'><name>{name}</name><target><path>{_xml_text(folder)}</path></target></pool>"
    rec = owners.register("pool", name, uri=conn.getURI())    # a killed check leaves no pool running there
    try:
        pool = conn.storagePoolCreateXML(xml, 0)
    except libvirt.libvirtError:
        owners.release(rec)
        return None                       # no such folder there
    try:
        return pool.storageVolLookupByName(base).info()[1]
    except libvirt.libvirtError:
        return None
    finally:
        try:
            pool.destroy()
            owners.release(rec)
        except libvirt.libvirtError:
            pass


def _xml_text(value: str) -> str:
    from xml.sax.saxutils import escape

    return escape(value)


def run(conn_src, src_uri: str, conn_dst, dst_uri: str, dom, unsafe: bool = False) -> list[Check]:
    import libvirt

    from builder.virt.connection import is_local

    guest = parse_guest(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE))

    def compare(xml: str) -> int:
        try:
            return conn_dst.compareCPU(xml, 0)
        except libvirt.libvirtError:
            return -1

    return checks(guest, bool(dom.isActive()), host_of(conn_src, src_uri), host_of(conn_dst, dst_uri),
                  lambda p: sees(conn_src, p), lambda p: sees(conn_dst, p), compare,
                  mount_type if is_local(src_uri) else (lambda p: None), unsafe)


def virsh_argv(src_uri: str, dst_uri: str, name: str, migrate_uri: str | None, keep_source: bool,
               unsafe: bool = False) -> list[str]:
    argv = ["virsh", "-c", src_uri, "migrate", "--live", "--persistent", "--verbose"]
    if unsafe:
        argv.append("--unsafe")
    if not keep_source:
        argv.append("--undefinesource")
    argv += [name, dst_uri]
    if migrate_uri:
        argv += ["--migrateuri", migrate_uri]
    return argv
