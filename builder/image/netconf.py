"""Where a RHEL-family guest pins its network identity, and how to read it."""

from __future__ import annotations

import configparser
import re

from builder.image import shellvars

# RHEL 5 keeps hard-linked copies under networking/devices and profiles/*.
IFCFG_GLOBS = ("/etc/sysconfig/network-scripts/ifcfg-*", "/etc/sysconfig/networking/devices/ifcfg-*",
               "/etc/sysconfig/networking/profiles/*/ifcfg-*")
NM_DIRS = ("/etc/NetworkManager/system-connections", "/run/NetworkManager/system-connections")
PERSISTENT_NET = "/etc/udev/rules.d/70-persistent-net.rules"
IFCFG_KEYS = ("DEVICE", "NAME", "TYPE", "ONBOOT", "BOOTPROTO", "HWADDR", "MACADDR", "IPADDR", "NETMASK",
              "PREFIX", "GATEWAY", "UUID", "HOSTNAME", "DHCP_HOSTNAME", "NM_CONTROLLED")
MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")


def ifcfg_files(h) -> list[str]:
    out = []
    for pattern in IFCFG_GLOBS:
        for path in h.glob(pattern):
            name = path.rsplit("/", 1)[1]
            # Backups editors and initscripts leave behind are not read at boot.
            if name.endswith(("~", ".bak", ".orig", ".rpmnew", ".rpmsave")) or h.is_symlink(path):
                continue
            if h.is_file(path):
                out.append(path)
    return out


def same_files(h, paths: list[str]) -> list[list[str]]:
    """`paths` grouped by the file they are: RHEL 5/6 hard-link one ifcfg file into two folders."""
    groups: dict[tuple[int, int], list[str]] = {}
    for path in paths:
        st = h.stat(path)
        groups.setdefault((st.dev, st.ino), []).append(path)
    return list(groups.values())


def read_ifcfg(h, path: str) -> dict:
    values = shellvars.parse(h.read_text(path))
    return {"path": path, **{k.lower(): values.get(k) for k in IFCFG_KEYS}}


def keyfiles(h) -> list[str]:
    out = []
    for d in NM_DIRS:
        if h.is_dir(d):
            out += [p for p in h.glob(f"{d}/*") if h.is_file(p) and not p.endswith("~")]
    return out


def parse_keyfile(text: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",),
                                   comment_prefixes=("#", ";"))
    cp.optionxform = str
    cp.read_string(text)
    return cp


def read_keyfile(h, path: str) -> dict:
    cp = parse_keyfile(h.read_text(path))

    def get(section, key):
        return cp.get(section, key, fallback=None)

    ether = "ethernet" if cp.has_section("ethernet") else "802-3-ethernet"
    return {"path": path, "id": get("connection", "id"), "uuid": get("connection", "uuid"),
            "type": get("connection", "type"), "interface_name": get("connection", "interface-name"),
            "mac_address": get(ether, "mac-address"), "cloned_mac_address": get(ether, "cloned-mac-address"),
            "ipv4_method": get("ipv4", "method")}


def persistent_net_rules(text: str) -> list[dict]:
    """Each rule's MAC and the interface name it pins."""
    rules = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        mac = re.search(r'ATTR\{address\}=="([^"]+)"', line)
        name = re.search(r'NAME="([^"]+)"', line)
        if mac:
            rules.append({"mac": mac.group(1).lower(), "name": name.group(1) if name else None})
    return rules
