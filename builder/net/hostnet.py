"""The live network state of this host (its current network namespace), read with iproute2.

Everything returns plain data parsed from `ip -j`, so decisions such as
"is this NIC the only uplink?" are pure functions tests feed with tables.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from builder.errors import HostError, InputError


def ip_json(*args: str) -> list[dict]:
    try:
        proc = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        raise HostError("the `ip` command is missing (package iproute2)") from None
    if proc.returncode != 0:
        raise HostError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return json.loads(proc.stdout or "[]")


def default_routes() -> list[dict]:
    """IPv4 and IPv6 default routes, as `ip -j route show default` prints them."""
    return ip_json("-4", "route", "show", "default") + ip_json("-6", "route", "show", "default")


def uplinks(routes: list[dict]) -> set[str]:
    """Devices that carry a default route."""
    return {r["dev"] for r in routes if r.get("dev") and r.get("dst", "default") == "default"}


def check_uplink(nic: str, routes: list[dict], *, force: bool) -> str | None:
    """Refuse to enslave the host's only uplink; returns a warning when forced."""
    devs = uplinks(routes)
    if nic not in devs or devs - {nic}:
        return None
    message = (f"{nic} carries this host's only default route: making it a bridge port moves the host's "
               f"network connection onto the bridge, and a mistake cuts off every remote session")
    if not force:
        raise InputError(message, "run it from a console and pass --force, or pick a NIC that is not the "
                                  "uplink (`ip route show default` shows which one is)")
    return message + " (--force given)"


@dataclass(frozen=True)
class Link:
    name: str
    mac: str | None
    master: str | None
    kind: str | None            # "bridge", "veth", ... (None for plain NICs)


def link(name: str) -> Link | None:
    try:
        proc = subprocess.run(["ip", "-j", "-d", "link", "show", "dev", name], capture_output=True,
                              text=True, timeout=10)
    except FileNotFoundError:
        raise HostError("the `ip` command is missing (package iproute2)") from None
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout or "[]")
    if not data:
        return None
    d = data[0]
    return Link(name=d["ifname"], mac=d.get("address"), master=d.get("master"),
                kind=(d.get("linkinfo") or {}).get("info_kind"))


def addresses(name: str) -> list[dict]:
    """Global-scope addresses of a device: [{family, local, prefixlen}, ...]."""
    out = []
    for entry in ip_json("addr", "show", "dev", name):
        for a in entry.get("addr_info", []):
            if a.get("scope") == "global":
                out.append({"family": a["family"], "local": a["local"], "prefixlen": a["prefixlen"]})
    return out


def routes_via(name: str) -> list[dict]:
    """Routes through a device that someone added (not the kernel's subnet routes)."""
    out = []
    for family in ("-4", "-6"):
        for r in ip_json(family, "route", "show", "dev", name):
            if r.get("protocol") == "kernel" or r.get("scope") == "link" and not r.get("gateway"):
                continue
            out.append({**r, "family": "inet" if family == "-4" else "inet6"})
    return out
