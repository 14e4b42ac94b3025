"""The inspect report (builder.image.inspect.inspect_image) as tables a person checks.

It describes the installed disk before customize and seal: the "findings"
are what seal was there to reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.report.fmt import Fact, as_list, basename, get, size, text

_ID_STATES = {"missing": "missing", "symlink": "symlink", "empty": "empty (a new id at first boot)",
              "uninitialized": "uninitialized (a new id at first boot)", "set": "set", "invalid": "invalid"}


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]
    mono: set[int] = field(default_factory=set)        # columns shown in a fixed-width font
    marked: set[tuple[int, int]] = field(default_factory=set)   # (row, column) cells that pin identity


@dataclass
class InspectView:
    summary: list[Fact]
    partitions: Table
    filesystems: Table
    lvm_vgs: Table
    lvm_lvs: Table
    fstab: Table
    kernels: Table
    bootloaders: Table
    ifcfg: Table
    keyfiles: Table
    net_rules: Table
    sysconfig_network: list[Fact]
    identity: list[Fact]
    ssh_keys: Table
    findings: list[str]
    notes: list[str]


def _dicts(value) -> list[dict]:
    return [v for v in as_list(value) if isinstance(v, dict)]


def _summary(r: dict) -> list[Fact]:
    osd = get(r, "os", default={})
    init = text(get(osd, "init"))
    if get(osd, "systemd_version"):
        init += f" (systemd {osd['systemd_version']})"
    host = text(get(r, "hostname"), "not set")
    facts = [
        Fact("Operating system", text(get(osd, "pretty_name")) or " ".join(
            text(get(osd, k)) for k in ("name", "version") if get(osd, k))),
        Fact("Distribution", " ".join(text(get(osd, k)) for k in ("distro", "version") if get(osd, k)),
             note=f"family {osd['family']}" if get(osd, "family") else ""),
        Fact("Architecture", text(get(osd, "arch"))),
        Fact("Init system", init),
        Fact("Package format", text(get(osd, "package_format"))),
        Fact("Release file", text(get(osd, "release_file")), mono=True),
        Fact("Hostname", host, mono=True,
             note=f"from {r['hostname_source']}" if get(r, "hostname_source") else ""),
        Fact("Root file system", text(get(r, "root")), mono=True),
        Fact("Disk", " ".join(x for x in (text(get(r, "disk", "format")),
                                          size(get(r, "disk", "virtual_size"))) if x)),
    ]
    return [f for f in facts if f.value]


def _mounted_at(r: dict) -> dict[str, str]:
    where: dict[str, str] = {}
    for m in _dicts(get(r, "mountpoints")):
        if m.get("device"):
            where.setdefault(m["device"], text(m.get("mountpoint")))
    for e in _dicts(get(r, "fstab")):
        if e.get("device"):
            where.setdefault(e["device"], text(e.get("mountpoint")))
    return where


def _partitions(r: dict) -> Table:
    rows = []
    for p in _dicts(get(r, "partitions")):
        rows.append([text(p.get("device")), text(p.get("number")), size(p.get("start")), size(p.get("size")),
                     text(p.get("kind")), text(p.get("type")), text(p.get("name")), text(p.get("uuid")),
                     "yes" if p.get("bootable") else ""])
    return Table(["device", "#", "start", "size", "kind", "type", "name", "partition uuid", "boot"], rows,
                 mono={0, 5, 7})


def _filesystems(r: dict) -> Table:
    where = _mounted_at(r)
    rows = [[text(f.get("device")), text(f.get("fstype")), text(f.get("label")), text(f.get("uuid")),
             size(f.get("size")), where.get(f.get("device"), "")] for f in _dicts(get(r, "filesystems"))]
    return Table(["device", "type", "label", "uuid", "size", "mounted at"], rows, mono={0, 3, 5})


def _lvm(r: dict) -> tuple[Table, Table]:
    vgs = [[text(v.get("name")), size(v.get("size")), size(v.get("extent_size")), text(v.get("pvs")),
            text(v.get("uuid"))] for v in _dicts(get(r, "lvm", "vgs"))]
    lvs = [[text(lv.get("path")), text(lv.get("vg")), size(lv.get("size")), text(lv.get("uuid"))]
           for lv in _dicts(get(r, "lvm", "lvs"))]
    return (Table(["volume group", "size", "extent", "physical volumes", "uuid"], vgs, mono={3, 4}),
            Table(["logical volume", "group", "size", "uuid"], lvs, mono={0, 3}))


def _fstab(r: dict) -> Table:
    rows = [[text(e.get("spec")), text(e.get("mountpoint")), text(e.get("fstype")), text(e.get("options")),
             text(e.get("device"), "not found on the disk")] for e in _dicts(get(r, "fstab"))]
    return Table(["spec", "mount point", "type", "options", "device"], rows, mono={0, 1, 4})


def _kernels(r: dict) -> Table:
    rows = [[text(k.get("version")), text(k.get("path")), text(k.get("initrd"), "none"), size(k.get("size"))]
            for k in _dicts(get(r, "kernels"))]
    return Table(["version", "kernel", "initrd", "size"], rows, mono={0, 1, 2})


def _bootloaders(r: dict) -> Table:
    rows = []
    for b in _dicts(get(r, "bootloaders")):
        entry = get(b, "default_entry", default={})
        boot = " ".join(x for x in (text(get(entry, "kernel")), text(get(entry, "args"))) if x)
        rows.append([text(b.get("type")), text(b.get("config")), text(get(entry, "title") or b.get("default")),
                     boot, text(len(_dicts(b.get("entries"))))])
    return Table(["loader", "config", "default entry", "kernel and arguments", "entries"], rows, mono={1, 3})


def _ifcfg(r: dict) -> Table:
    rows, marked = [], set()
    for i, c in enumerate(_dicts(get(r, "network", "ifcfg"))):
        mask = text(c.get("netmask")) or (f"/{c['prefix']}" if c.get("prefix") else "")
        hostname = text(c.get("hostname") or c.get("dhcp_hostname"))
        hw = text(c.get("hwaddr") or c.get("macaddr"))
        row = [basename(c.get("path")), text(c.get("device")), text(c.get("bootproto")), text(c.get("onboot")),
               hw, text(c.get("ipaddr")), mask, text(c.get("gateway")), text(c.get("uuid")), hostname,
               text(c.get("nm_controlled"))]
        marked |= {(i, col) for col in (4, 8, 9) if row[col]}
        rows.append(row)
    return Table(["file", "DEVICE", "BOOTPROTO", "ONBOOT", "HWADDR", "IPADDR", "NETMASK", "GATEWAY", "UUID",
                  "HOSTNAME", "NM_CONTROLLED"], rows, mono={0, 4, 5, 6, 7, 8}, marked=marked)


def _keyfiles(r: dict) -> Table:
    rows, marked = [], set()
    for i, k in enumerate(_dicts(get(r, "network", "keyfiles"))):
        row = [basename(k.get("path")), text(k.get("id")), text(k.get("type")), text(k.get("interface_name")),
               text(k.get("uuid")), text(k.get("mac_address")), text(k.get("cloned_mac_address")),
               text(k.get("ipv4_method"))]
        marked |= {(i, col) for col in (4, 5) if row[col]}
        rows.append(row)
    return Table(["file", "id", "type", "interface", "uuid", "mac-address", "cloned-mac-address", "ipv4"],
                 rows, mono={0, 4, 5, 6}, marked=marked)


def _net_rules(r: dict) -> Table:
    rows = [[text(x.get("mac")), text(x.get("name"))] for x in _dicts(get(r, "network", "persistent_net_rules"))]
    return Table(["MAC", "interface"], rows, mono={0, 1}, marked={(i, 0) for i in range(len(rows))})


def _identity(r: dict) -> tuple[list[Fact], Table]:
    ident = get(r, "identity", default={})
    facts = []
    for key, label in (("machine_id", "machine-id"), ("dbus_machine_id", "D-Bus machine-id")):
        state = get(ident, key, default={})
        if not state:
            continue
        shown = _ID_STATES.get(text(state.get("state")), text(state.get("state"), "?"))
        if state.get("value"):
            shown += f": {state['value']}"
        facts.append(Fact(label, shown, mono=bool(state.get("value")), note=text(state.get("path"))))
    macs = as_list(get(ident, "persistent_net_macs"))
    facts.append(Fact("persistent-net MACs", text(macs, "none"), mono=bool(macs)))
    keys = [[text(k.get("path")), text(k.get("type"), "?"), text(k.get("fingerprint"), "no .pub file")]
            for k in _dicts(get(ident, "ssh_host_keys"))]
    return facts, Table(["SSH host key", "type", "fingerprint"], keys, mono={0, 2})


def inspect_view(report: dict | None) -> InspectView | None:
    if not isinstance(report, dict):
        return None
    vgs, lvs = _lvm(report)
    identity, ssh_keys = _identity(report)
    sysconfig = get(report, "network", "sysconfig_network", default={})
    return InspectView(
        summary=_summary(report), partitions=_partitions(report), filesystems=_filesystems(report),
        lvm_vgs=vgs, lvm_lvs=lvs, fstab=_fstab(report), kernels=_kernels(report),
        bootloaders=_bootloaders(report), ifcfg=_ifcfg(report), keyfiles=_keyfiles(report),
        net_rules=_net_rules(report),
        sysconfig_network=[Fact(str(k), text(v), mono=True) for k, v in sysconfig.items()]
        if isinstance(sysconfig, dict) else [],
        identity=identity, ssh_keys=ssh_keys,
        findings=[text(f) for f in as_list(get(report, "findings"))],
        notes=[text(n) for n in as_list(get(report, "notes"))])
