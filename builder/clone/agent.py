"""Read a booted clone's identity through the QEMU guest agent, when the guest runs one.

`golden clone` gives every KVM/QEMU clone the agent's virtio-serial channel
(org.qemu.guest_agent.0); a guest with qemu-guest-agent installed answers on
it once the agent has started, which is before the boot ends and needs no
serial console. What a person checks on a new clone comes from the guest's
own files and tools: hostname (guest-get-host-name), the first NIC's MAC
(guest-network-get-interfaces), /etc/machine-id and the SMBIOS UUID
(guest-file-read), the ed25519 host key's fingerprint, and sshd's state
(guest-exec of the beacon's own check, waiting while it is still starting).

Every call has a short timeout: a guest without an agent costs verify one
failed call per poll, and the beacon line on the console still counts.
"""

from __future__ import annotations

import base64
import json
import time

from builder.clone.beacon import SSH_STATE
from builder.clone.domainxml import AGENT_CHANNEL as CHANNEL
from builder.image.identity import fingerprint as key_fingerprint

_READ_MAX = 64 << 10
# sshd states that are not final: ask again until the boot settles them.
_SETTLING = ("activating", "deactivating", "")


def _call(dom, execute: str, arguments: dict | None = None, timeout: int = 3):
    """The agent's `return` value, or None when there is no agent (yet) or it refused."""
    import libvirt
    import libvirt_qemu
    cmd = {"execute": execute, **({"arguments": arguments} if arguments else {})}
    try:
        reply = libvirt_qemu.qemuAgentCommand(dom, json.dumps(cmd), timeout, 0)
    except libvirt.libvirtError:
        return None
    return json.loads(reply).get("return")


def read_file(dom, path: str) -> bytes | None:
    handle = _call(dom, "guest-file-open", {"path": path, "mode": "r"})
    if handle is None:
        return None
    try:
        got = _call(dom, "guest-file-read", {"handle": handle, "count": _READ_MAX})
        return base64.b64decode(got["buf-b64"]) if got else None
    finally:
        _call(dom, "guest-file-close", {"handle": handle})


def run(dom, argv: list[str], timeout: float = 20) -> tuple[int, str] | None:
    """(exit code, stdout) of a command in the guest; None where the agent forbids guest-exec."""
    started = _call(dom, "guest-exec", {"path": argv[0], "arg": argv[1:], "capture-output": True})
    if started is None:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _call(dom, "guest-exec-status", {"pid": started["pid"]})
        if status is None:
            return None
        if status.get("exited"):
            out = base64.b64decode(status.get("out-data", "")).decode("utf-8", "replace")
            return status.get("exitcode", -1), out
        time.sleep(0.5)
    return None


def fingerprint(pub: bytes) -> str | None:
    """OpenSSH's SHA256 fingerprint of a public key line, as `ssh-keygen -l` prints it."""
    got = key_fingerprint(pub.decode("ascii", "replace"))
    return got[1] if got else None


def _first_mac(interfaces: list[dict]) -> str:
    for nic in interfaces:
        mac = (nic.get("hardware-address") or "").lower()
        if nic.get("name") != "lo" and mac and mac != "00:00:00:00:00:00":
            return mac
    return ""


def identity(dom) -> dict | None:
    """The clone's identity as the beacon line has it (plus via=agent); None while the agent cannot say yet."""
    if _call(dom, "guest-ping", timeout=2) is None:
        return None
    host = _call(dom, "guest-get-host-name")
    nics = _call(dom, "guest-network-get-interfaces")
    mid = read_file(dom, "/etc/machine-id")
    if host is None or nics is None or mid is None:
        return None
    ssh = run(dom, ["/bin/sh", "-c", SSH_STATE + 's=$(ssh_state); [ "$s" = inactive ] && queued && s=activating\n'
                                                 'echo "$s"'])
    # No guest-exec (RHEL's qemu-ga blocks it, and the file calls, by default): the beacon answers instead.
    if ssh is None or ssh[1].strip() in _SETTLING:
        return None
    state = ssh[1].strip()
    out = {"via": "agent", "hostname": host.get("host-name", ""), "mac": _first_mac(nics),
           "machine-id": mid.decode("ascii", "replace").strip(), "ssh": state}
    uuid = read_file(dom, "/sys/class/dmi/id/product_uuid")
    if uuid is not None:
        out["uuid"] = uuid.decode("ascii", "replace").strip().lower()
    pub = read_file(dom, "/etc/ssh/ssh_host_ed25519_key.pub")
    if pub:
        fp = fingerprint(pub)
        if fp:
            out["ssh-ed25519"] = fp
    return out
