"""The per-machine identity a golden image must not carry: machine-id and SSH host keys.

The machine-id policy is the one place that decides what a sealed image holds,
per OS: virt-sysprep empties the file and its `customize` step then writes a
fresh id, so every clone of a "sealed" template shares one id
(openstack-k8s-operators/ci-framework#1591). Here the file is left in the
state whose first boot generates a new id, and nothing writes one afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from builder.image.osinfo import OSInfo, catalog_entry

MACHINE_ID = "/etc/machine-id"
DBUS_MACHINE_ID = "/var/lib/dbus/machine-id"
UNINITIALIZED_SINCE = 247       # systemd: "uninitialized" means first boot (ConditionFirstBoot)
FIRSTBOOT_UNIT = "systemd-firstboot.service"
UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class MachineIdPolicy:
    action: str          # "uninitialized" | "empty" | "remove"
    reason: str


_CATALOG_ACTION = {"delete": "remove", "empty": "empty", "uninitialized": "uninitialized"}


def machine_id_policy(osi: OSInfo) -> MachineIdPolicy:
    entry = catalog_entry(osi)
    if entry is not None and entry.machine_id in _CATALOG_ACTION:
        return MachineIdPolicy(_CATALOG_ACTION[entry.machine_id],
                               f"the catalog's machine_id for {entry.name}: {entry.machine_id}")
    if osi.has_systemd:
        v = osi.systemd_version
        if v is None:
            return MachineIdPolicy("empty", "systemd of unknown version: an empty file makes every "
                                            "version generate a new id")
        if v >= UNINITIALIZED_SINCE:
            return MachineIdPolicy("uninitialized", f"systemd {v} (>= {UNINITIALIZED_SINCE}) generates a new "
                                                    "id and runs first-boot units for 'uninitialized'")
        return MachineIdPolicy("empty", f"systemd {v} (< {UNINITIALIZED_SINCE}) generates a new id for an "
                                        "empty file")
    return MachineIdPolicy("remove", "no systemd: dbus-uuidgen --ensure creates /var/lib/dbus/machine-id "
                                     "at boot")


def machine_id_state(h, path: str) -> dict:
    """missing | symlink | empty | uninitialized | set | invalid, with the value when set."""
    if not h.lexists(path):
        return {"path": path, "state": "missing", "value": None}
    if h.is_symlink(path):
        return {"path": path, "state": "symlink", "value": h.readlink(path)}
    text = h.read_text(path).strip()
    if text == "":
        return {"path": path, "state": "empty", "value": None}
    if text == "uninitialized":
        return {"path": path, "state": "uninitialized", "value": None}
    return {"path": path, "state": "set" if _ID.match(text) else "invalid", "value": text}


def fingerprint(pub_line: str) -> tuple[str, str] | None:
    """(key type, 'SHA256:...') of an OpenSSH public key line, as ssh-keygen -l prints it."""
    words = pub_line.split()
    if len(words) < 2:
        return None
    try:
        blob = base64.b64decode(words[1], validate=True)
    except ValueError:
        return None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return words[0], f"SHA256:{digest}"


def ssh_host_keys(h) -> list[dict]:
    keys = []
    for path in h.glob("/etc/ssh/ssh_host_*key"):
        entry = {"path": path, "type": None, "fingerprint": None}
        pub = path + ".pub"
        if h.is_file(pub):
            fp = fingerprint(h.read_text(pub))
            if fp:
                entry["type"], entry["fingerprint"] = fp
        keys.append(entry)
    return keys


def firstboot_prompt(h) -> str | None:
    """The systemd-firstboot unit that would stop a first boot at a console prompt, or None.

    On a first boot ("uninitialized") systemd-firstboot asks on the console for
    every --prompt-* item it finds unset (Debian 12 asks for locale, timezone
    and root password); a clone nobody watches would wait there for ever.
    """
    if any(h.is_symlink(f"{d}/{FIRSTBOOT_UNIT}") and h.readlink(f"{d}/{FIRSTBOOT_UNIT}") == "/dev/null"
           for d in ("/etc/systemd/system",)):
        return None                 # masked
    unit = next((f"{d}/{FIRSTBOOT_UNIT}" for d in UNIT_DIRS if h.is_file(f"{d}/{FIRSTBOOT_UNIT}")), None)
    if unit is None:
        return None
    wanted = any(h.lexists(f"{d}/{target}.wants/{FIRSTBOOT_UNIT}")
                 for d in UNIT_DIRS for target in ("sysinit.target", "multi-user.target", "basic.target"))
    if not wanted:
        return None
    if not re.search(r"^ExecStart=.*--prompt", h.read_text(unit), re.M):
        return None
    return unit
