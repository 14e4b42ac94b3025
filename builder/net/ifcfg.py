"""RHEL network-scripts files (ifcfg-*): read, lint, rewrite.

Lines are kept in order with their comments, so a rewritten file still reads
like the one its owner wrote. Values are shell words; golden writes only
plain ones and leaves the quoting of values it does not touch alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from builder.image import shellvars

SCRIPTS_DIR = Path("etc/sysconfig/network-scripts")

# IP settings that belong on the bridge, never on a bridge port (seed 10.2,
# L3048: "Network access will not function as expected if IP address details
# are configured on the physical interface").
IP_KEYS = re.compile(r"(BOOTPROTO|IPADDR\d*|NETMASK\d*|PREFIX\d*|GATEWAY\d*|NETWORK|BROADCAST|DNS\d+|"
                     r"DOMAIN|PEERDNS|PEERROUTES|DEFROUTE|DHCP_HOSTNAME|DHCP_CLIENT_ID|PERSISTENT_DHCLIENT|"
                     r"SRCADDR|IPV6INIT|IPV6_AUTOCONF|IPV6ADDR|IPV6ADDR_SECONDARIES|IPV6_DEFAULTGW|"
                     r"IPV6_PEERDNS|IPV6_PEERROUTES|IPV6_DEFROUTE|DHCPV6C)")

_ASSIGN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)")


@dataclass
class Ifcfg:
    """One ifcfg file: (key, raw value) pairs in order; comments and blank lines as (None, text)."""

    lines: list[tuple[str | None, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Ifcfg:
        out = cls()
        for raw in text.splitlines():
            m = _ASSIGN.fullmatch(raw)
            if m and not raw.lstrip().startswith("#"):
                out.lines.append((m.group(1), m.group(2).strip()))
            else:
                out.lines.append((None, raw))
        return out

    @classmethod
    def of(cls, pairs: list[tuple[str, str]], comments: list[str] = ()) -> Ifcfg:
        return cls([(None, f"# {c}") for c in comments] + [(k, v) for k, v in pairs])

    def get(self, key: str) -> str | None:
        """The value as the shell would see it (quotes removed)."""
        for k, v in reversed(self.lines):
            if k == key:
                return shellvars.unquote(v)
        return None

    def keys(self) -> list[str]:
        return [k for k, _ in self.lines if k]

    def set(self, key: str, value: str) -> None:
        for i, (k, _) in enumerate(self.lines):
            if k == key:
                self.lines[i] = (key, value)
                # Later duplicates would override this one when sourced.
                self.lines = self.lines[:i + 1] + [(k2, v2) for k2, v2 in self.lines[i + 1:] if k2 != key]
                return
        self.lines.append((key, value))

    def remove(self, pattern: re.Pattern) -> list[str]:
        removed = [k for k, _ in self.lines if k and pattern.fullmatch(k)]
        self.lines = [(k, v) for k, v in self.lines if not (k and pattern.fullmatch(k))]
        return removed

    def text(self) -> str:
        return "\n".join(f"{k}={v}" if k else v for k, v in self.lines).rstrip("\n") + "\n"


def path_for(device: str) -> Path:
    return SCRIPTS_DIR / f"ifcfg-{device}"


def lint(filename: str, cfg: Ifcfg, *, bridge_port: bool = False) -> list[str]:
    """What initscripts would get wrong in this file, per the seed's rules."""
    problems = []
    expected = filename[len("ifcfg-"):] if filename.startswith("ifcfg-") else None
    device = cfg.get("DEVICE")
    if expected and device and device != expected:
        problems.append(f"{filename}: DEVICE={device} does not match the file name; "
                        f"the file must be named ifcfg-<DEVICE> (seed L3037)")
    kind = cfg.get("TYPE")
    if kind and kind != "Bridge" and kind.lower() == "bridge":
        problems.append(f"{filename}: TYPE={kind} is not a bridge to initscripts: TYPE=Bridge is "
                        "case-sensitive, uppercase 'B' and lowercase 'ridge' (seed L1336)")
    if bridge_port:
        ip = [k for k in cfg.keys() if IP_KEYS.fullmatch(k) and not (k == "BOOTPROTO" and cfg.get(k) == "none")]
        if ip:
            problems.append(f"{filename}: a bridge port carries IP settings ({', '.join(ip)}); they belong on the "
                            "bridge (seed L3048)")
    return problems
