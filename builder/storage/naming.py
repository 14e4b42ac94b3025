"""Which `<target dev=...>` names the guide allows, and the next free one per bus."""

from __future__ import annotations

import re
import string

from builder.errors import InputError

# Guide 5.3: the only device names libvirt's target accepts (partition suffix optional).
_ALLOWED = [
    re.compile(r"^xvd[a-z]([1-9]|1[0-5])?$"),
    re.compile(r"^xvd[a-i][a-z]([1-9]|1[0-5])?$"),
    re.compile(r"^sd[a-p]([1-9]|1[0-5])?$"),
    re.compile(r"^hd[a-t]([1-9]|[1-5][0-9]|6[0-3])?$"),
    re.compile(r"^vd[a-z]$"),
    re.compile(r"^fd[ab]$"),
]

# Candidates for a new whole disk, in order, per prefix; IDE has four slots (two channels x two).
_CANDIDATES = {
    "vd": [f"vd{c}" for c in string.ascii_lowercase],
    "sd": [f"sd{c}" for c in "abcdefghijklmnop"],
    "hd": [f"hd{c}" for c in "abcd"],
    "xvd": [f"xvd{c}" for c in string.ascii_lowercase],
    "fd": ["fda", "fdb"],
}
BUS_PREFIX = {"virtio": "vd", "scsi": "sd", "sata": "sd", "usb": "sd", "ide": "hd", "xen": "xvd", "fdc": "fd"}
PREFIX_BUS = {"vd": "virtio", "sd": "scsi", "hd": "ide", "xvd": "xen", "fd": "fdc"}


def check_target(name: str, where: str = "--target") -> str:
    if not any(p.match(name) for p in _ALLOWED):
        raise InputError(f"target device {name!r} is not a name libvirt accepts",
                         hint="use vd[a-z], sd[a-p], hd[a-t] (IDE: hda-hdd), xvd[a-z] or xvd[a-i][a-z] "
                              "with an optional partition number 1-15 (hd: 1-63)", where=where)
    return name


def bus_for(target: str) -> str:
    for prefix in ("xvd", "vd", "sd", "hd", "fd"):
        if target.startswith(prefix):
            return PREFIX_BUS[prefix]
    raise InputError(f"no bus known for target {target!r}", where="--target")


def next_free(prefix: str, used: set[str], where: str = "--target") -> str:
    for name in _CANDIDATES[prefix]:
        if name not in used:
            return name
    limit = {"hd": "IDE has four devices (hda-hdd)", "sd": "sd names stop at sdp",
             "fd": "a guest has two floppy drives"}.get(prefix, f"{prefix} names are exhausted")
    raise InputError(f"no free {prefix}* target on this guest: {limit}",
                     hint="use another bus (virtio: vd*) or remove a device", where=where)
