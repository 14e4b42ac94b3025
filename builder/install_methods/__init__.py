"""Install methods: one module each, and the one registry every call site asks.

A new method is a module here with an InstallMethod subclass and a line in
METHODS; the profile schema's `install.method` values come from this list.
"""

from __future__ import annotations

from builder.install_methods import cdrom, import_, ksfloppy, location, oemdrv, pxe, remaster
from builder.install_methods.base import InstallMethod

# The order is the schema's (and its error messages'): location stays the default and first.
METHODS: dict[str, InstallMethod] = {m.name: m for m in (
    location.METHOD, cdrom.METHOD, remaster.METHOD, oemdrv.METHOD, ksfloppy.METHOD, pxe.METHOD, import_.METHOD)}
NAMES: tuple[str, ...] = tuple(METHODS)


def get(name: str) -> InstallMethod:
    try:
        return METHODS[name]
    except KeyError:
        from builder.errors import InputError
        raise InputError(f"unknown install method {name!r}", where="install.method",
                         hint="use one of: " + ", ".join(NAMES)) from None
