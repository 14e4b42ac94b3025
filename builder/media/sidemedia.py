"""Side media that hand a kickstart to an unmodified vendor installer.

- OEMDRV ISO (RHEL 7+): Anaconda scans attached media for a volume labelled
  OEMDRV and loads /ks.cfg from it with no boot argument at all.
- Kickstart floppy (RHEL 3-6): boot with `ks=hd:fd0:/ks.cfg`.

Both are reproducible, so a cache or Make can compare them by hash.
"""

from __future__ import annotations

from pathlib import Path

from builder.errors import InputError
from builder.media.fat import make_floppy
from builder.media.iso import write_iso

OEMDRV_LABEL = "OEMDRV"
FLOPPY_KS_ARG = "ks=hd:fd0:/ks.cfg"


def _check(ks: bytes) -> bytes:
    if not isinstance(ks, (bytes, bytearray)) or not ks:
        raise InputError("the kickstart is empty (or not bytes)", where="ks")
    return bytes(ks)


def oemdrv_iso(ks: bytes, out: Path) -> Path:
    """An ISO labelled OEMDRV with ks.cfg at its root (Rock Ridge and Joliet names)."""
    return write_iso(Path(out), {"ks.cfg": _check(ks)}, OEMDRV_LABEL)


def ks_floppy(ks: bytes, out: Path) -> Path:
    """A 1.44 MB FAT12 floppy with KS.CFG at its root, for ks=hd:fd0:/ks.cfg."""
    return make_floppy(Path(out), {"ks.cfg": _check(ks)})
