"""A host's IP settings as an ifcfg file holds them, so they can move from a NIC to its bridge.

A static host that loses IPADDR/NETMASK/GATEWAY when its NIC joins a bridge
comes back on DHCP or not at all (seed 10.2: the address belongs on the
bridge). The same settings drive the nmcli style, which needs a prefix where
the file may hold a netmask.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from builder.errors import InputError
from builder.net.ifcfg import IP_KEYS, Ifcfg

_STATIC = ("none", "static", "")
_INDEXED = re.compile(r"(IPADDR|NETMASK|PREFIX)(\d*)")


def ip_lines(cfg: Ifcfg | None) -> list[tuple[str, str]]:
    """The IP lines of `cfg` in file order; BOOTPROTO=none is made explicit for a static address."""
    if cfg is None:
        return []
    lines = [(k, v) for k, v in cfg.lines if k and IP_KEYS.fullmatch(k)]
    if lines and cfg.get("BOOTPROTO") is None and any(k.startswith("IPADDR") for k, _ in lines):
        lines.insert(0, ("BOOTPROTO", "none"))
    return lines


def has_settings(cfg: Ifcfg | None) -> bool:
    """Does `cfg` say anything about addresses? A bare BOOTPROTO=none (a port's usual line) does not."""
    return any(k != "BOOTPROTO" or (v.strip("'\"").lower() not in _STATIC) for k, v in ip_lines(cfg))


@dataclass
class IpConfig:
    """What an ifcfg file asks for: DHCP, or static addresses with gateway and DNS."""

    method: str                                  # dhcp | static | none (no IPv4 at all)
    addresses: list[tuple[str, int]] = field(default_factory=list)
    gateway: str | None = None
    dns: list[str] = field(default_factory=list)
    domain: str | None = None
    ipv6: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.method == "dhcp":
            return "by DHCP"
        if self.method == "none":
            return "no IPv4 address"
        text = "the static address " + ", ".join(f"{a}/{p}" for a, p in self.addresses)
        if self.gateway:
            text += f", gateway {self.gateway}"
        if self.dns:
            text += f", DNS {' '.join(self.dns)}"
        return text

    def nmcli_settings(self) -> list[str]:
        if self.method != "static":
            v4 = ["ipv4.method", "auto" if self.method == "dhcp" else "disabled"]
        else:
            v4 = ["ipv4.method", "manual", "ipv4.addresses", ",".join(f"{a}/{p}" for a, p in self.addresses)]
            if self.gateway:
                v4 += ["ipv4.gateway", self.gateway]
            if self.dns:
                v4 += ["ipv4.dns", ",".join(self.dns)]
            if self.domain:
                v4 += ["ipv4.dns-search", self.domain]
        v6 = ["ipv6.method", "manual", "ipv6.addresses", ",".join(self.ipv6)] if self.ipv6 else \
            ["ipv6.method", "auto"]
        return v4 + v6


def _bad(where: str, key: str, value: str, why: str) -> InputError:
    return InputError(f"{key}={value}: {why}", where=where,
                      hint="fix the file (it moves to the bridge as it is), or give the bridge its address by hand")


def parse(cfg: Ifcfg | None, where: str) -> IpConfig:
    """Read and check the IPv4/IPv6 settings; a malformed one is an InputError naming file and key."""
    if cfg is None:
        return IpConfig("dhcp")
    proto = (cfg.get("BOOTPROTO") or "").lower()
    if proto in ("dhcp", "bootp"):
        return IpConfig("dhcp", ipv6=_ipv6(cfg, where))
    slots: dict[str, dict[str, str]] = {}
    for key in cfg.keys():
        m = _INDEXED.fullmatch(key)
        if m:
            slots.setdefault(m.group(2), {})[m.group(1)] = cfg.get(key) or ""
    addresses = []
    for index in sorted(slots, key=lambda i: int(i or -1)):
        slot = slots[index]
        if "IPADDR" not in slot:
            continue
        addr = slot["IPADDR"]
        try:
            ipaddress.IPv4Address(addr)
        except ValueError:
            raise _bad(where, f"IPADDR{index}", addr, "not an IPv4 address") from None
        if "PREFIX" in slot:
            prefix = slot["PREFIX"]
            if not prefix.isdigit() or not 0 <= int(prefix) <= 32:
                raise _bad(where, f"PREFIX{index}", prefix, "a prefix length is 0 to 32")
            length = int(prefix)
        elif "NETMASK" in slot:
            try:
                length = ipaddress.IPv4Network(f"0.0.0.0/{slot['NETMASK']}").prefixlen
            except ValueError:
                raise _bad(where, f"NETMASK{index}", slot["NETMASK"], "not a netmask") from None
        else:
            # initscripts' ipcalc falls back to the address class, which is rarely what a host wants.
            raise InputError(f"IPADDR{index}={addr} has no NETMASK{index} or PREFIX{index}", where=where,
                             hint="add the netmask so the bridge gets the same subnet")
        addresses.append((addr, length))
    if proto not in _STATIC:
        raise _bad(where, "BOOTPROTO", cfg.get("BOOTPROTO") or "", "use dhcp, bootp, none or static")
    gateway = cfg.get("GATEWAY")
    if gateway:
        try:
            ipaddress.IPv4Address(gateway)
        except ValueError:
            raise _bad(where, "GATEWAY", gateway, "not an IPv4 address") from None
    dns = []
    for key in sorted((k for k in cfg.keys() if re.fullmatch(r"DNS\d+", k)), key=lambda k: int(k[3:])):
        value = cfg.get(key) or ""
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise _bad(where, key, value, "not an IP address") from None
        if value not in dns:
            dns.append(value)
    return IpConfig("static" if addresses else "none", addresses, gateway, dns, cfg.get("DOMAIN"),
                    _ipv6(cfg, where))


def _ipv6(cfg: Ifcfg, where: str) -> list[str]:
    if (cfg.get("IPV6INIT") or "").lower() not in ("yes", "true"):
        return []
    out = []
    for key in ("IPV6ADDR", "IPV6ADDR_SECONDARIES"):
        for value in (cfg.get(key) or "").split():
            try:
                ipaddress.IPv6Interface(value)
            except ValueError:
                raise _bad(where, key, value, "not an IPv6 address/prefix") from None
            out.append(value)
    return out
