"""`golden verify`: boot clones and check the identity each one reports.

A clone proves itself on its serial console: the guest prints one line,
`golden-identity hostname=... mac=... machine-id=... uuid=...`, at boot (the
demo image does; a site can add the same line to its own images with a
first-boot script). golden compares it with what it set and checks that no
two clones share a hostname, MAC, machine-id or UUID.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from builder.clone.domainxml import expected_identity
from builder.errors import InputError
from builder.virt.watchdog import SerialTail

IDENTITY = re.compile(r"golden-identity\s+(.*)")


@dataclass
class Verdict:
    name: str
    ok: bool
    reported: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def parse_identity(line: str) -> dict:
    m = IDENTITY.search(line)
    if not m:
        return {}
    return dict(token.split("=", 1) for token in m.group(1).split() if "=" in token)


def _boot_and_read(conn, name: str, timeout: float) -> tuple[dict, list[str], float]:
    import libvirt

    dom = conn.lookupByName(name)
    expected = expected_identity(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    log = expected.get("serial_log")
    if not log:
        raise InputError(f"{name} has no serial log file in its XML", hint="clone it with golden, which adds one")
    log_path = Path(log)
    if log_path.exists():
        log_path.unlink()
    tail = SerialTail(log_path)
    started = time.monotonic()
    dom.create()
    found: dict = {}
    try:
        while time.monotonic() - started < timeout:
            for line in tail.read():
                if not found and IDENTITY.search(line):
                    found = parse_identity(line)
            state, _ = dom.state(0)
            if state == libvirt.VIR_DOMAIN_SHUTOFF:
                for line in tail.read():
                    if not found and IDENTITY.search(line):
                        found = parse_identity(line)
                break
            if found:
                # Give a guest that powers itself off a moment; others are stopped.
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and dom.state(0)[0] != libvirt.VIR_DOMAIN_SHUTOFF:
                    time.sleep(0.5)
                break
            time.sleep(0.5)
    finally:
        if dom.isActive():
            try:
                dom.shutdown()
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and dom.isActive():
                    time.sleep(0.5)
            except libvirt.libvirtError:
                pass
            if dom.isActive():
                dom.destroy()
    return found, tail.tail(15), time.monotonic() - started


def verify(conn, names: list[str], *, timeout: float = 180, parallel: int = 2) -> list[Verdict]:
    import libvirt

    for name in names:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            raise InputError(f"no domain named {name!r}") from None
        if dom.isActive():
            raise InputError(f"{name} is running; verify boots each clone itself",
                             hint=f"shut it down first (`virsh shutdown {name}`)")

    def one(name: str) -> Verdict:
        dom = conn.lookupByName(name)
        expected = expected_identity(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        reported, tail, seconds = _boot_and_read(conn, name, timeout)
        verdict = Verdict(name, True, reported, expected, seconds=round(seconds, 1))
        if not reported:
            verdict.problems.append("no golden-identity line on the serial console within "
                                    f"{timeout:.0f} s; last lines: " + " | ".join(tail[-5:]))
        else:
            if expected.get("hostname") and reported.get("hostname") != expected["hostname"]:
                verdict.problems.append(f"hostname {reported.get('hostname')!r}, expected {expected['hostname']!r}")
            if expected["macs"] and reported.get("mac", "").lower() != expected["macs"][0]:
                verdict.problems.append(f"mac {reported.get('mac')!r}, expected {expected['macs'][0]!r}")
            if reported.get("uuid", "").lower() != expected["uuid"]:
                verdict.problems.append(f"uuid {reported.get('uuid')!r}, expected {expected['uuid']!r}")
            mid = reported.get("machine-id", "")
            if not re.fullmatch(r"[0-9a-f]{32}", mid):
                verdict.problems.append(f"machine-id {mid!r} is not a generated id")
        verdict.ok = not verdict.problems
        return verdict

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        verdicts = list(pool.map(one, names))
    for key in ("hostname", "mac", "machine-id", "uuid"):
        seen: dict[str, str] = {}
        for v in verdicts:
            value = v.reported.get(key)
            if not value:
                continue
            if value in seen:
                v.ok = False
                v.problems.append(f"{key} {value} is shared with {seen[value]}")
            else:
                seen[value] = v.name
    return verdicts
