"""Inside a clone: its own hostname, its MAC in ifcfg files, and a reset identity (seed 33.18-33.19).

A sealed golden image needs little here, an unsealed domain more: the
identity-reset seal operations run on every clone and report "nothing to do"
where the source was already sealed. The hostname goes first, while the old
name is still readable, so /etc/hosts entries naming it are renamed too.
"""

from __future__ import annotations

import re

from builder.clone import beacon
from builder.errors import InputError
from builder.image import netconf, shellvars
from builder.image.changes import Recorder
from builder.image.customize import Hostname, customize
from builder.image.osinfo import apply_hint, detect
from builder.image.seal import seal

# What makes two guests the same machine; net-hostname is left out because the
# hostname step below renames instead of resetting.
IDENTITY_RESET = ("machine-id", "ssh-hostkeys", "udev-persistent-net", "net-nmconn", "dhcp-client-state",
                  "random-seed")
HWADDR_MODES = ("set", "remove")
_ETH = re.compile(r"^eth(\d+)$")


def check_hwaddr_mode(mode: str) -> None:
    if mode not in HWADDR_MODES:
        raise InputError(f"unknown HWADDR mode {mode!r}", where="--hwaddr", hint="set or remove")


def _ifcfg(h, rec: Recorder, *, macs: list[str], hwaddr: str, notes: list[str]) -> None:
    for path, *links in netconf.same_files(h, netconf.ifcfg_files(h)):
        text = h.read_text(path)
        values = shellvars.parse(text)
        device = values.get("DEVICE") or path.rsplit("ifcfg-", 1)[-1]
        new, what = text, []
        m = _ETH.match(device)
        if hwaddr == "set" and m and int(m.group(1)) < len(macs):
            mac = macs[int(m.group(1))]
            old = values.get("HWADDR")
            # Anaconda writes HWADDR in upper case; keep a file that uses lower case as it is.
            mac = mac.lower() if old and old != old.upper() else mac.upper()
            if old != mac:
                new = shellvars.set_var(new, "HWADDR", mac)
                what.append(f"HWADDR={mac}")
            if "UUID" in values:
                # A NetworkManager connection UUID: shared by every clone otherwise.
                new, _ = shellvars.remove_vars(new, {"UUID"})
                what.append("removed UUID")
        if values.get("IPADDR") and values.get("BOOTPROTO", "").lower() in ("static", "none", ""):
            notes.append(f"{path} has a static IPADDR={values['IPADDR']}: every clone starts with it")
        if what and rec.edit(path, new, ", ".join(what)):
            for link in links:
                rec.note(link, "edited", f"hard link of {path}")


def personalize(h, *, hostname: str, macs: list[str], hwaddr: str = "set", os_hint: str | None = None) -> dict:
    """Make one open clone disk its own machine; report what changed."""
    check_hwaddr_mode(hwaddr)
    named = customize(h, [Hostname(hostname)], os_hint=os_hint)
    reset = seal(h, only=list(IDENTITY_RESET) + (["net-hwaddr"] if hwaddr == "remove" else []), os_hint=os_hint)
    rec = Recorder(h)
    notes: list[str] = []
    _ifcfg(h, rec, macs=macs, hwaddr=hwaddr, notes=notes)
    beacon_rec = Recorder(h)
    notes += beacon.install(h, beacon_rec, apply_hint(detect(h), os_hint))
    changes = [dict(c, step="hostname") for op in named["operations"] for c in op["changes"]]
    changes += [dict(c, step=op["name"]) for op in reset["operations"] for c in op["changes"]]
    changes += [dict(c, step="ifcfg") for c in rec.as_list()]
    changes += [dict(c, step="beacon") for c in beacon_rec.as_list()]
    return {"changes": changes, "notes": notes}
