"""A host bridge for PXE installs and shared physical devices (seed 7.3, 10.2).

Three ways to write the same bridge, one per kind of host:
- rhel:    RHEL 5/6 network-scripts: ifcfg-NAME (TYPE=Bridge), BRIDGE=NAME in
           the NIC's ifcfg with its IP settings moved to the bridge,
           NM_CONTROLLED=no, and bridged traffic let past the firewall (the
           bridge-nf sysctls in /etc/sysctl.conf, or the iptables physdev rule);
- nmcli:   NetworkManager on current hosts;
- libvirt: a <network> with <forward mode='bridge'/> over the bridge.

`plan` shows all of it; `apply` writes the files (under --root, so changes
can be staged) and, on the live system, also builds the bridge now with
iproute2 so no network restart is needed.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from builder.errors import HostError, InputError
from builder.fsutil import atomic_write
from builder.net import hostnet, ipconf, sysctlconf
from builder.net.ifcfg import IP_KEYS, Ifcfg, lint, path_for

IFNAMSIZ = 16                         # the kernel's limit includes the trailing NUL
UPPERCASE_FIXED = (5, 9)              # seed L1343
STYLES = ("rhel", "nmcli", "libvirt")
SYSCTL_CONF = Path("etc/sysctl.conf")
BRIDGE_NF = ("net.bridge.bridge-nf-call-ip6tables", "net.bridge.bridge-nf-call-iptables",
             "net.bridge.bridge-nf-call-arptables")
PHYSDEV_RULE = ["FORWARD", "-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"]

_NAME_CHARS = re.compile(r"[A-Za-z0-9_.-]+")
_RELEASE = re.compile(r"(?:rhel|el|centos)?\s*(\d+)(?:\.(\d+))?", re.IGNORECASE)


# ------------------------------------------------------------------ names

def parse_release(text: str | None) -> tuple[int, int] | None:
    """`5.8`, `rhel5.8`, `6` -> (major, minor); `current` or None -> None (a current host)."""
    if text is None or text.strip().lower() in ("", "current"):
        return None
    m = _RELEASE.fullmatch(text.strip())
    if not m:
        raise InputError(f"--host-release {text!r}: use a RHEL release like 5.8 or 6.10, or `current`")
    return int(m.group(1)), int(m.group(2) or 0)


def detect_release(root: Path) -> tuple[int, int] | None:
    """The RHEL release of the host under `root`, from /etc/redhat-release, if it is one."""
    try:
        text = (root / "etc/redhat-release").read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r"release\s+(\d+)(?:\.(\d+))?", text)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def check_bridge_name(name: str, release: tuple[int, int] | None = None) -> str:
    """A bridge name the kernel, initscripts and the seed all accept, or InputError saying why not."""
    if not name:
        raise InputError("the bridge name is empty")
    if len(name) >= IFNAMSIZ:
        raise InputError(f"bridge name {name!r} has {len(name)} characters; Linux interface names have at "
                         f"most {IFNAMSIZ - 1} (IFNAMSIZ)")
    if not _NAME_CHARS.fullmatch(name) or name in (".", ".."):
        bad = sorted({c for c in name if not _NAME_CHARS.fullmatch(c)}) or [name]
        raise InputError(f"bridge name {name!r} has characters an interface name or ifcfg file cannot "
                         f"carry: {' '.join(repr(c) for c in bad)}",
                         "use letters, digits, '_', '.' and '-'")
    if re.fullmatch(r"virbr\d+", name):
        raise InputError(f"{name} is libvirt's NAT bridge; physical devices must not join it (seed L3101)",
                         "name the shared bridge something else, e.g. br0 or installation")
    if release is not None and release < UPPERCASE_FIXED and any(c.isalpha() for c in name) \
            and not any(c.islower() for c in name):
        raise InputError(f"bridge name {name!r} has only uppercase letters: before RHEL 5.9 that makes the "
                         f"network scripts segfault (seed L1343); this host is RHEL {release[0]}.{release[1]}",
                         f"use lowercase, e.g. {name.lower()}")
    return name


def check_nic_name(nic: str) -> str:
    if not nic or len(nic) >= IFNAMSIZ or not _NAME_CHARS.fullmatch(nic) or nic in (".", ".."):
        raise InputError(f"--nic {nic!r} is not a network interface name")
    if nic == "lo":
        raise InputError("--nic lo: the loopback device cannot join a bridge")
    return nic


# ------------------------------------------------------------------ plan

@dataclass
class FileChange:
    path: Path                       # absolute, under the root
    old: str | None
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        return "".join(difflib.unified_diff((self.old or "").splitlines(True), self.new.splitlines(True),
                                            fromfile=f"{self.path} (now)" if self.old is not None else "/dev/null",
                                            tofile=str(self.path)))


@dataclass
class BridgePlan:
    name: str
    nic: str
    root: Path
    release: tuple[int, int] | None
    filter: str                                   # sysctl | iptables
    files: list[FileChange] = field(default_factory=list)
    rhel_commands: list[list[str]] = field(default_factory=list)
    nmcli_commands: list[list[str]] = field(default_factory=list)
    libvirt_xml: bytes = b""
    libvirt_commands: list[list[str]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)     # problems in what is there now
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"bridge": self.name, "nic": self.nic, "root": str(self.root),
                "host_release": ".".join(map(str, self.release)) if self.release else "current",
                "filter": self.filter,
                "files": [{"path": str(f.path), "changed": f.changed, "content": f.new} for f in self.files],
                "rhel_commands": [shlex.join(c) for c in self.rhel_commands],
                "nmcli_commands": [shlex.join(c) for c in self.nmcli_commands],
                "libvirt_xml": self.libvirt_xml.decode(),
                "libvirt_commands": [shlex.join(c) for c in self.libvirt_commands],
                "findings": self.findings, "notes": self.notes}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return None


def bridge_ifcfg(name: str, ip: list[tuple[str, str]] | None = None) -> Ifcfg:
    """Seed 10.2's ifcfg-br0 carrying `ip` (the settings taken off the port), or DHCP when there are none.

    NM_CONTROLLED=no so NetworkManager leaves it alone.
    """
    return Ifcfg.of([("DEVICE", name), ("TYPE", "Bridge"), *(ip or [("BOOTPROTO", "dhcp")]), ("ONBOOT", "yes"),
                     ("DELAY", "0"), ("NM_CONTROLLED", "no")],
                    comments=[f"Bridge {name}, written by golden (`golden bridge apply`)."])


def port_ifcfg(nic: str, bridge: str, old: Ifcfg | None, hwaddr: str | None) -> tuple[Ifcfg, list[str]]:
    """The NIC's ifcfg as a port of `bridge`: its identity kept, its IP settings dropped."""
    cfg = Ifcfg(list(old.lines)) if old else Ifcfg.of([], comments=[f"{nic}: a port of bridge {bridge}, "
                                                                    "written by golden."])
    removed = cfg.remove(IP_KEYS)
    cfg.set("DEVICE", nic)
    if hwaddr and not cfg.get("HWADDR"):
        cfg.set("HWADDR", hwaddr.upper())
    cfg.set("ONBOOT", "yes")
    cfg.set("BRIDGE", bridge)
    cfg.set("NM_CONTROLLED", "no")
    return cfg, removed


def sysctl_text(old: str | None) -> str:
    """/etc/sysctl.conf with the three bridge-nf settings at 0, each key once."""
    return sysctlconf.set_values(old, dict.fromkeys(BRIDGE_NF, "0"),
                                 "Let bridged guest traffic past iptables (seed 7.3, 10.2); written by golden.")


def nmcli_commands(name: str, nic: str, ip: ipconf.IpConfig | None = None) -> list[list[str]]:
    settings = (ip or ipconf.IpConfig("dhcp")).nmcli_settings()
    return [
        ["nmcli", "connection", "add", "type", "bridge", "ifname", name, "con-name", name,
         "bridge.stp", "no", *settings],
        ["nmcli", "connection", "add", "type", "bridge-slave", "ifname", nic, "master", name,
         "con-name", f"{name}-port-{nic}"],
        ["nmcli", "connection", "up", name],
    ]


def make_plan(name: str, nic: str, *, root: Path = Path("/"), release: tuple[int, int] | None = None,
              filter: str = "sysctl", net_name: str | None = None, hwaddr: str | None = None,
              release_given: bool = False) -> BridgePlan:
    from builder.net.netxml import bridge_network

    root = Path(root)
    if not release_given:
        release = detect_release(root)
    name = check_bridge_name(name, release)
    nic = check_nic_name(nic)
    if nic == name:
        raise InputError(f"the bridge and its NIC cannot both be called {name}")
    if filter not in ("sysctl", "iptables"):
        raise InputError(f"--filter {filter!r}: use sysctl or iptables")
    plan = BridgePlan(name=name, nic=nic, root=root, release=release, filter=filter)

    bridge_path = root / path_for(name)
    old_bridge = _read(bridge_path)
    if old_bridge is not None:
        plan.findings += lint(bridge_path.name, Ifcfg.parse(old_bridge))

    nic_path = root / path_for(nic)
    old_nic = _read(nic_path)
    old_cfg = Ifcfg.parse(old_nic) if old_nic is not None else None
    if old_cfg is not None:
        plan.findings += [f for f in lint(nic_path.name, old_cfg, bridge_port=old_cfg.get("BRIDGE") == name)]
    # The port's address moves to the bridge; once moved (a second run), the bridge's own file holds it.
    ip_source, ip_path = (old_cfg, nic_path) if ipconf.has_settings(old_cfg) else \
        (Ifcfg.parse(old_bridge) if old_bridge is not None else None, bridge_path)
    ip = ipconf.parse(ip_source, where=str(ip_path))
    plan.files.append(FileChange(bridge_path, old_bridge, bridge_ifcfg(name, ipconf.ip_lines(ip_source)).text()))
    new_nic, removed = port_ifcfg(nic, name, old_cfg, hwaddr)
    if removed:
        plan.notes.append(f"{nic_path.name}: IP settings moved off the port to {bridge_path.name} "
                          f"({', '.join(removed)}) (seed 10.2)")
    plan.notes.append(f"{name} gets {ip.describe()}")
    if not new_nic.get("HWADDR"):
        plan.notes.append(f"{nic_path.name}: no HWADDR known for {nic}; add it so the name sticks to the card")
    plan.files.append(FileChange(nic_path, old_nic, new_nic.text()))

    if filter == "sysctl":
        conf = root / SYSCTL_CONF
        old = _read(conf)
        plan.files.append(FileChange(conf, old, sysctl_text(old)))
    plan.rhel_commands = [["service", "network", "restart"]]
    if filter == "sysctl":
        plan.rhel_commands.append(["sysctl", "-p", "/etc/sysctl.conf"])
    else:
        plan.rhel_commands += [["iptables", "-I", *PHYSDEV_RULE], ["service", "iptables", "save"],
                               ["service", "iptables", "restart"]]
    plan.rhel_commands.append(["service", "libvirtd", "reload"])
    plan.notes.append("NetworkManager does not manage bridges on RHEL 5/6: the files say NM_CONTROLLED=no; or turn "
                      "it off (chkconfig NetworkManager off; chkconfig network on; service NetworkManager stop; "
                      "service network start)")

    plan.nmcli_commands = nmcli_commands(name, nic, ip)
    net_name = net_name or name
    plan.libvirt_xml = bridge_network(net_name, name)
    plan.libvirt_commands = [["virsh", "net-define", f"{net_name}.xml"], ["virsh", "net-autostart", net_name],
                             ["virsh", "net-start", net_name]]
    return plan


# ------------------------------------------------------------------ apply

Runner = Callable[[list[str]], None]


def run_command(argv: list[str]) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise HostError(f"{argv[0]} is not installed") from None
    if proc.returncode != 0:
        raise HostError(f"`{shlex.join(argv)}` failed: {(proc.stderr or proc.stdout).strip()}")


def live_commands(name: str, nic: str, *, bridge_exists: bool, nic_mac: str | None,
                  nic_addresses: list[dict], nic_routes: list[dict]) -> list[list[str]]:
    """iproute2 steps that make the bridge now: create it, enslave the NIC, move its addresses and routes."""
    cmds = []
    if not bridge_exists:
        cmds.append(["ip", "link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
    if nic_mac:
        # The bridge keeps the card's MAC (seed: bridge id 8000.<NIC MAC>), so DHCP leases stay put.
        cmds.append(["ip", "link", "set", "dev", name, "address", nic_mac])
    cmds += [["ip", "link", "set", "dev", nic, "master", name],
             ["ip", "link", "set", "dev", nic, "up"],
             ["ip", "link", "set", "dev", name, "up"]]
    for a in nic_addresses:
        prefix = f"{a['local']}/{a['prefixlen']}"
        cmds += [["ip", "addr", "del", prefix, "dev", nic], ["ip", "addr", "add", prefix, "dev", name]]
    for r in nic_routes:
        family = "-6" if r.get("family") == "inet6" else "-4"
        cmd = ["ip", family, "route", "replace", r.get("dst", "default")]
        if r.get("gateway"):
            cmd += ["via", r["gateway"]]
        cmd += ["dev", name]
        if r.get("metric") is not None:
            cmd += ["metric", str(r["metric"])]
        cmds.append(cmd)
    return cmds


def filter_commands(filter: str) -> list[list[str]]:
    if filter == "iptables":
        return [["iptables", "-I", *PHYSDEV_RULE]]
    if Path("/proc/sys/net/bridge").is_dir():
        return [["sysctl", "-w", f"{k}=0"] for k in BRIDGE_NF]
    return []


@dataclass
class ApplyReport:
    written: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    ran: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _backup(path: Path) -> Path | None:
    # initscripts skips ifcfg-*.bak, so a backup never comes up as an interface.
    backup = path.with_name(path.name + ".golden.bak")
    if path.exists() and not backup.exists():
        backup.write_bytes(path.read_bytes())
        os.chmod(backup, path.stat().st_mode & 0o777)
        return backup
    return None


def apply(plan: BridgePlan, *, style: str, live: bool, force: bool, runner: Runner = run_command,
          routes: list[dict] | None = None) -> ApplyReport:
    """Carry out `plan` in one style; `live` also changes this network namespace now."""
    if style not in STYLES:
        raise InputError(f"--style {style!r}: apply takes one of {', '.join(STYLES)}")
    report = ApplyReport()
    touches_host = live or style != "rhel" or plan.root.resolve() == Path("/")
    if touches_host and os.geteuid() != 0:
        raise HostError("changing the host's network needs root", "run as root, or stage files with --root DIR")
    if touches_host:
        warning = hostnet.check_uplink(plan.nic, hostnet.default_routes() if routes is None else routes,
                                       force=force)
        if warning:
            report.notes.append(warning)

    if style == "rhel":
        for change in plan.files:
            if not change.changed:
                continue
            backup = _backup(change.path)
            if backup:
                report.backups.append(backup)
            atomic_write(change.path, change.new)
            report.written.append(change.path)
        if live:
            link = hostnet.link(plan.nic)
            if link is None:
                raise InputError(f"--nic {plan.nic}: no such network interface here")
            bridge = hostnet.link(plan.name)
            if bridge is not None and bridge.kind != "bridge":
                raise InputError(f"{plan.name} exists and is not a bridge ({bridge.kind or 'a plain device'})")
            already = link.master == plan.name
            cmds = live_commands(plan.name, plan.nic, bridge_exists=bridge is not None,
                                 nic_mac=link.mac if not already else None,
                                 nic_addresses=hostnet.addresses(plan.nic),
                                 nic_routes=hostnet.routes_via(plan.nic))
            for cmd in cmds + filter_commands(plan.filter):
                runner(cmd)
                report.ran.append(cmd)
        else:
            report.notes.append("staged only: run " + "; ".join(shlex.join(c) for c in plan.rhel_commands)
                                + " on the host to bring it up")
    elif style == "nmcli":
        for cmd in plan.nmcli_commands:
            runner(cmd)
            report.ran.append(cmd)
    else:
        import tempfile
        with tempfile.NamedTemporaryFile(prefix=f"golden-{plan.name}-", suffix=".xml") as f:
            f.write(plan.libvirt_xml)
            f.flush()
            for cmd in plan.libvirt_commands:
                cmd = [f.name if part.endswith(".xml") else part for part in cmd]
                runner(cmd)
                report.ran.append(cmd)
    return report
