"""LUKS keys from `--key SELECTOR`, in virt-tools' selector forms.

DEVICE:key:PASSPHRASE, DEVICE:file:FILENAME, all:key:..., all:file:...
DEVICE is the guest's name for the container (/dev/sda2) or its LUKS UUID.
A passphrase is held only in `LuksKey.secret`, whose repr hides it, so no
log line, error or report built from a key can carry it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import InputError
from builder.profile import secrets

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_FORMS = "DEVICE:key:PASSPHRASE, DEVICE:file:FILENAME, all:key:PASSPHRASE or all:file:FILENAME"


@dataclass(frozen=True)
class LuksKey:
    selector: str                       # "all", a guest device (/dev/sda2) or a LUKS UUID (lower case)
    source: str                         # "key" or "file:PATH": what a message may name
    secret: str = field(repr=False)

    def matches(self, device: str, uuid: str) -> bool:
        return self.selector in ("all", device) or (bool(uuid) and self.selector == uuid.lower())


def parse_key(value: str) -> LuksKey:
    """One --key value; a bad one is refused (exit 2) without echoing what followed the key type."""
    selector, _, rest = value.partition(":")
    kind, sep, payload = rest.partition(":")
    if not selector or not sep or kind not in ("key", "file"):
        raise InputError(f"a key selector is {_FORMS}", where="--key",
                         hint="e.g. --key /dev/sda2:file:/root/luks.pass")
    if selector != "all" and not selector.startswith("/dev/") and not _UUID.fullmatch(selector):
        raise InputError(f"selector {selector!r} is not all, a device like /dev/sda2 or a LUKS UUID",
                         where="--key", hint=f"the forms are {_FORMS}")
    selector = selector.lower() if _UUID.fullmatch(selector) else selector
    if not payload:
        what = "passphrase" if kind == "key" else "file name"
        raise InputError(f"{selector}:{kind}: gives no {what}", where="--key", hint=f"the forms are {_FORMS}")
    if kind == "key":
        return LuksKey(selector, "key", payload)
    # The file rules of profile secrets: a small one-line regular file outside the host's system trees.
    try:
        secret = secrets.reveal(secrets.FileSecret(file=payload), Path.cwd())
    except InputError as e:
        raise InputError(e.message, where="--key", hint=e.hint) from None
    except ValueError as e:             # the path itself was refused by the profile's path rules
        raise InputError(f"key file {payload!r} is not a usable path: "
                         f"{e.errors()[0]['msg'] if hasattr(e, 'errors') else e}", where="--key") from None
    return LuksKey(selector, f"file:{payload}", secret)


def parse_keys(values: list[str] | tuple[str, ...]) -> tuple[LuksKey, ...]:
    return tuple(parse_key(v) for v in values)


def keys_for(keys: tuple[LuksKey, ...], device: str, uuid: str) -> list[LuksKey]:
    """The keys to try on one container: those naming it first, then the `all:` ones."""
    named = [k for k in keys if k.selector != "all" and k.matches(device, uuid)]
    return named + [k for k in keys if k.selector == "all"]
