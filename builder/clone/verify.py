"""`golden verify`: boot clones and check the identity each one reports.

A clone proves itself through the QEMU guest agent where the guest runs one
(builder/clone/agent.py; `golden clone` adds the agent's channel), else on
its serial console: the guest prints one line,
`golden-identity hostname=... mac=... machine-id=... uuid=...`, at boot. The
demo image's init does; in any other guest `golden clone` installs a one-shot
beacon (builder/clone/beacon.py) that prints it at the clone's first boot,
with sshd's state (`ssh=`), which must be active where sshd is installed;
a Windows clone gets a SetupComplete.cmd (or sysprep.inf [GuiRunOnce]) that
writes its computer name and machine SID to COM1 (builder/windows/beacon.py).
golden compares it with what it set (read back from the
domain's XML) and checks that no two clones share a hostname, MAC,
machine-id, UUID or SSH host key. A guest that powers itself off after the
line (the demo's golden.poweroff) is waited for; any other is shut down.
Verdicts go into the clones.json files the clone's metadata names (the
build's record and the clone directory's).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from builder.clone import agent, records
from builder.clone.domainxml import expected_identity
from builder.errors import InputError
from builder.virt.watchdog import SerialTail

IDENTITY = re.compile(r"golden-identity\s+(.*)")
UNIQUE_KEYS = ("hostname", "mac", "machine-id", "uuid", "ssh-ed25519", "sid")
# A machine SID: S-1-5-21 and three sub-authorities, without a RID.
_SID = re.compile(r"S-1-5-21-\d+-\d+-\d+")
DEFAULT_TIMEOUT = 300.0
# Seconds between guest agent polls while the boot goes on.
AGENT_POLL = 2.0


@dataclass
class Verdict:
    name: str
    ok: bool
    reported: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    checked: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    def record_entry(self) -> dict:
        """The `verified` value clones.json holds for this clone."""
        observed = {k: self.reported.get(k) for k in ("hostname", "mac", "machine-id", "uuid")}
        if "sid" in self.reported:
            observed["sid"] = self.reported["sid"]
        return {"ok": self.ok, "checked": self.checked, "observed": observed, "problems": list(self.problems)}


def parse_identity(line: str) -> dict:
    m = IDENTITY.search(line)
    if not m:
        return {}
    return dict(token.split("=", 1) for token in m.group(1).split() if "=" in token)


def _stop(dom) -> None:
    import libvirt

    try:
        if not dom.isActive():
            return
        dom.shutdown()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and dom.isActive():
            time.sleep(0.5)
        if dom.isActive():
            dom.destroy()
    except libvirt.libvirtError:
        pass


def _boot_and_read(dom, log_path: Path, timeout: float) -> tuple[dict, list[str], float, str | None]:
    """Start the domain, wait for its identity line; (identity, last lines, seconds, start error)."""
    import libvirt

    if log_path.exists():
        log_path.unlink()
    tail = SerialTail(log_path)
    started = time.monotonic()
    try:
        dom.create()
    except libvirt.libvirtError as exc:
        return {}, [], time.monotonic() - started, str(exc).strip()
    found: dict = {}
    has_agent = agent.CHANNEL in dom.XMLDesc(0)
    next_poll = started + AGENT_POLL
    try:
        while time.monotonic() - started < timeout:
            for line in tail.read():
                if not found and IDENTITY.search(line):
                    found = parse_identity(line)
            # The agent is asked first: when the beacon's line comes in between two polls, one more
            # poll decides, and the beacon's line counts only if the agent has nothing to say.
            if has_agent and (found or time.monotonic() >= next_poll):
                found = agent.identity(dom) or found
                next_poll = time.monotonic() + AGENT_POLL
            if found or not dom.isActive():
                break
            time.sleep(0.5)
        if not found:
            for line in tail.read():
                if not found and IDENTITY.search(line):
                    found = parse_identity(line)
        # A guest that powers itself off after the line is given a moment to do it.
        deadline = time.monotonic() + (15 if found.get("via") != "agent" else 0)
        while found and time.monotonic() < deadline and dom.isActive():
            time.sleep(0.5)
    finally:
        _stop(dom)
    return found, tail.tail(15), time.monotonic() - started, None


def compare(expected: dict, reported: dict) -> list[str]:
    """What is wrong with one clone's identity line, given what golden set in its domain."""
    problems: list[str] = []
    windows = reported.get("via") == "windows"
    host, want = reported.get("hostname") or "", expected.get("hostname")
    # Windows keeps the case of the name but NetBIOS compares it without case.
    if want and (host.lower() != want.lower() if windows else host != want):
        problems.append(f"hostname {reported.get('hostname')!r}, expected {expected['hostname']!r}")
    if expected["macs"] and reported.get("mac", "").lower() != expected["macs"][0]:
        problems.append(f"mac {reported.get('mac')!r}, expected {expected['macs'][0]!r}")
    if reported.get("uuid", "").lower() != expected["uuid"]:
        problems.append(f"uuid {reported.get('uuid')!r}, expected {expected['uuid']!r}")
    ssh = reported.get("ssh")
    if ssh is not None and ssh not in ("active", "none"):
        problems.append(f"sshd is {ssh} on the clone's first boot")
    if windows:
        if not _SID.fullmatch(reported.get("sid", "")):
            problems.append(f"sid {reported.get('sid')!r} is not a machine SID")
        return problems
    mid = reported.get("machine-id", "")
    if not re.fullmatch(r"[0-9a-f]{32}", mid):
        problems.append(f"machine-id {mid!r} is not a generated id")
    return problems


def _check_one(dom, timeout: float) -> Verdict:
    import libvirt

    expected = expected_identity(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    verdict = Verdict(dom.name(), True, expected=expected)
    reported, tail, seconds, error = _boot_and_read(dom, Path(expected["serial_log"]), timeout)
    verdict.reported, verdict.seconds, verdict.checked = reported, round(seconds, 1), records.utc_now()
    if error:
        verdict.problems.append(f"could not start: {error}")
    elif not reported:
        verdict.problems.append(f"no answer from the guest agent and no golden-identity line on the serial "
                                f"console within {timeout:.0f} s; last lines: " + " | ".join(tail[-5:]))
    else:
        verdict.problems += compare(expected, reported)
    verdict.ok = not verdict.problems
    return verdict


def _shared(verdicts: list[Verdict]) -> None:
    for key in UNIQUE_KEYS:
        seen: dict[str, str] = {}
        for v in verdicts:
            value = v.reported.get(key)
            if not value or value == "none":
                continue
            # Names and MACs compare without case (NetBIOS, getmac's upper case); key fingerprints with it.
            same = value if key == "ssh-ed25519" else value.lower()
            if same in seen:
                v.ok = False
                v.problems.append(f"{key} {value} is shared with {seen[same]}")
            else:
                seen[same] = v.name


def verify_on(conn, names: list[str], *, timeout: float = DEFAULT_TIMEOUT, parallel: int = 2,
              on_event=None) -> list[Verdict]:
    """Boot each named domain on an open connection and check what it reports."""
    import libvirt

    event = on_event or (lambda message: None)
    if not names:
        raise InputError("name at least one clone to verify")
    if len(set(names)) != len(names):
        raise InputError("a clone is named twice", hint="name each clone once")
    doms = []
    for name in names:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            raise InputError(f"no domain named {name!r}", hint="`virsh list --all` shows the defined domains") \
                from None
        if dom.isActive():
            raise InputError(f"{name} is running; verify boots each clone itself",
                             hint=f"shut it down first (`virsh shutdown {name}`)")
        if not expected_identity(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).get("serial_log"):
            raise InputError(f"{name} has no serial log file in its XML",
                             hint="clone it with golden, which adds one, or add <log file=...> to its <serial>")
        doms.append(dom)

    def one(dom) -> Verdict:
        event(f"booting {dom.name()}")
        verdict = _check_one(dom, timeout)
        event(f"{dom.name()}: {'ok' if verdict.ok else 'FAILED'} in {verdict.seconds:.0f} s")
        return verdict

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        verdicts = list(pool.map(one, doms))
    _shared(verdicts)
    for v in verdicts:
        for key in ("record", "batch"):
            if v.expected.get(key):
                records.set_verified(Path(v.expected[key]), v.name, v.record_entry())
    return verdicts


def verify(names: list[str], *, connect: str | None = None, timeout: float = DEFAULT_TIMEOUT, parallel: int = 2,
           on_event=None) -> list[Verdict]:
    """Boot each clone, read its identity line, check it; update clones.json. See the module docstring."""
    from builder.virt import connection, services
    from builder.virt.hostfacts import default_connect_uri

    uri = connect or default_connect_uri()
    from builder.clone.batch import refuse_remote
    refuse_remote(uri)      # the serial log it reads is a local file
    if connection.is_local(uri) and uri.startswith("qemu"):
        services.ensure_running()
    with connection.connection(uri) as conn:
        return verify_on(conn, list(names), timeout=timeout, parallel=parallel, on_event=on_event)
