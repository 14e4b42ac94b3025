"""libvirt's NAT `default` network and IP forwarding (seed 10.1, acceptance scenario 16).

The guide's bootstrap is `virsh net-define /usr/share/libvirt/networks/default.xml`,
`net-autostart default`, `net-start default`, plus `net.ipv4.ip_forward = 1`
in /etc/sysctl.conf because other software may turn forwarding off.

A plan is pure data: the files a host needs (the network's XML where libvirt
keeps defined networks, the autostart symlink libvirt makes for
net-autostart, the edited sysctl.conf) and the commands that make it live.
`write_tree` puts the files under a root folder only; `apply_live` is the one
function that changes this host, and the CLI calls it only with --apply.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from builder.errors import HostError, InputError
from builder.fsutil import atomic_write
from builder.net import sysctlconf
from builder.net.bridge import FileChange

NAME = "default"
SHIPPED_XML = Path("/usr/share/libvirt/networks/default.xml")   # what the guide defines it from
NETWORKS_DIR = Path("etc/libvirt/qemu/networks")
SYSCTL_CONF = Path("etc/sysctl.conf")
FORWARD_KEY = "net.ipv4.ip_forward"
# libvirt's autostart links are absolute; inside a staged tree the same absolute
# target is right once the tree is the host's root.
AUTOSTART_TARGET = Path("/etc/libvirt/qemu/networks/default.xml")


def builtin_xml() -> bytes:
    """The network libvirt ships (virbr0, 192.168.122.0/24, NAT), for hosts without the shipped file."""
    net = etree.Element("network")
    etree.SubElement(net, "name").text = NAME
    etree.SubElement(net, "bridge", name="virbr0")
    etree.SubElement(net, "forward", mode="nat")
    ip = etree.SubElement(net, "ip", address="192.168.122.1", netmask="255.255.255.0")
    dhcp = etree.SubElement(ip, "dhcp")
    etree.SubElement(dhcp, "range", start="192.168.122.2", end="192.168.122.254")
    etree.indent(net, space="  ")
    return etree.tostring(net, pretty_print=True, encoding="utf-8")


def network_xml(source: Path | None = SHIPPED_XML) -> tuple[bytes, str]:
    """The XML to define and where it came from; a shipped file not naming `default` is refused."""
    if source is not None and source.is_file():
        data = source.read_bytes()
        try:
            root = etree.fromstring(data)
        except etree.XMLSyntaxError as exc:
            raise InputError(f"{source}: not XML: {exc}") from None
        if root.tag != "network" or root.findtext("name") != NAME:
            raise InputError(f"{source}: name: expected a <network> named {NAME!r}",
                             "reinstall libvirt's daemon-config-network package, or remove the file")
        return data, str(source)
    return builtin_xml(), "golden's copy of libvirt's default network (no shipped default.xml here)"


def sysctl_text(old: str | None) -> str:
    """sysctl.conf with forwarding on, other lines kept as they are."""
    return sysctlconf.set_values(old, {FORWARD_KEY: "1"}, "libvirt's NAT network needs IP forwarding "
                                 "(RHEL 5 Virtualization Guide 10.1); written by golden.")


def forwarding_on(text: str | None) -> bool:
    """Whether the last assignment of ip_forward in `text` sets it to 1."""
    value = None
    for line in (text or "").splitlines():
        if sysctlconf.key_of(line) == FORWARD_KEY:
            value = line.split("=", 1)[1].strip()
    return value == "1"


@dataclass
class NatPlan:
    root: Path
    xml: bytes
    xml_source: str
    files: list[FileChange] = field(default_factory=list)
    autostart_link: Path | None = None           # None when it is there already
    commands: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"network": NAME, "root": str(self.root), "xml_source": self.xml_source, "xml": self.xml.decode(),
                "files": [{"path": str(f.path), "changed": f.changed, "content": f.new} for f in self.files],
                "autostart_link": str(self.autostart_link) if self.autostart_link else None,
                "autostart_target": str(AUTOSTART_TARGET),
                "commands": [shlex.join(c) for c in self.commands], "notes": self.notes}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, expected a file") from None


def make_plan(root: Path, source: Path | None = SHIPPED_XML) -> NatPlan:
    root = Path(root)
    xml, origin = network_xml(source)
    plan = NatPlan(root=root, xml=xml, xml_source=origin)
    net_file = root / NETWORKS_DIR / f"{NAME}.xml"
    existing = _read(net_file)
    if existing is None:
        plan.files.append(FileChange(net_file, None, xml.decode()))
    else:
        # A defined `default` is the user's (libvirt added its uuid and mac): keep it.
        plan.notes.append(f"{net_file} exists: the network is defined already and is kept as it is")
    link = root / NETWORKS_DIR / "autostart" / f"{NAME}.xml"
    if not link.is_symlink() and not link.exists():
        plan.autostart_link = link
    conf = root / SYSCTL_CONF
    old = _read(conf)
    plan.files.append(FileChange(conf, old, sysctl_text(old)))
    plan.commands = [["virsh", "net-define", str(source if source and source.is_file() else "default.xml")],
                     ["virsh", "net-autostart", NAME], ["virsh", "net-start", NAME],
                     ["sysctl", "-w", f"{FORWARD_KEY}=1"]]
    return plan


@dataclass
class ApplyReport:
    written: list[Path] = field(default_factory=list)
    linked: list[Path] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)


def write_tree(plan: NatPlan) -> ApplyReport:
    """Write the plan's files under its root; run nothing. Each file is written whole or not at all."""
    report = ApplyReport()
    for change in plan.files:
        if change.changed:
            atomic_write(change.path, change.new)
            report.written.append(change.path)
    if plan.autostart_link is not None:
        plan.autostart_link.parent.mkdir(parents=True, exist_ok=True)
        tmp = plan.autostart_link.with_name(f".{plan.autostart_link.name}.golden-{os.getpid()}")
        tmp.symlink_to(AUTOSTART_TARGET)
        os.replace(tmp, plan.autostart_link)
        report.linked.append(plan.autostart_link)
    return report


def apply_live(plan: NatPlan, uri: str = "qemu:///system") -> ApplyReport:
    """Define, autostart and start `default` through libvirt and turn forwarding on now and at boot.

    This changes the host's routing (a NAT bridge, iptables rules): only the
    CLI's --apply reaches it, never a test.
    """
    if os.geteuid() != 0:
        raise HostError("changing the host's networks needs root", "run as root, or stage files with --root DIR")
    import libvirt

    report = ApplyReport()
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise HostError(f"cannot connect to {uri}: {exc.get_error_message()}",
                        "start libvirtd (`golden doctor --start-services`)") from None
    try:
        try:
            net = conn.networkLookupByName(NAME)
        except libvirt.libvirtError:
            net = conn.networkDefineXML(plan.xml.decode())
            report.ran.append("virsh net-define")
        if not net.autostart():
            net.setAutostart(1)
            report.ran.append(f"virsh net-autostart {NAME}")
        if not net.isActive():
            net.create()
            report.ran.append(f"virsh net-start {NAME}")
    finally:
        conn.close()
    conf = next(f for f in plan.files if f.path.name == "sysctl.conf")
    if conf.changed:
        atomic_write(conf.path, conf.new)
        report.written.append(conf.path)
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    report.ran.append(f"sysctl -w {FORWARD_KEY}=1")
    return report

