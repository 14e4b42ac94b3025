"""File-system signatures at an offset in an image, through blkid.

`blkid -p -O OFFSET -S SIZE file` reads the superblock straight from the file:
no loop device, no root, a few milliseconds per partition.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from builder.errors import HostError


@dataclass(frozen=True)
class Signature:
    type: str            # ext4, xfs, swap, vfat, LVM2_member, crypto_LUKS, ... or "" for none
    uuid: str
    label: str


def probe(path: str, offset: int, size: int) -> Signature:
    blkid = shutil.which("blkid") or "/sbin/blkid"
    try:
        r = subprocess.run([blkid, "-p", "-o", "export", "-O", str(offset), "-S", str(size), path],
                           capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise HostError("blkid is not installed", hint="install util-linux") from None
    # Exit 2: nothing recognised. Other failures (ambivalent probes) also mean
    # "no usable file system here" for our purposes.
    if r.returncode != 0:
        return Signature("", "", "")
    values = {}
    for line in r.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = re.sub(r"\\(.)", r"\1", value)
    return Signature(values.get("TYPE", ""), values.get("UUID", ""), values.get("LABEL", ""))
