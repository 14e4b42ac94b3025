"""Clone names from a pattern: `web-{n}` with --count 3 gives web-1, web-2, web-3.

A clone's name is also its libvirt domain name, its hostname and the stem of
its disk file, so it must be valid as all three: a host name (letters, digits,
hyphens, dot-separated labels) is the strictest of them.
"""

from __future__ import annotations

import string

from builder.errors import InputError
from builder.image.customize import Hostname

WHERE = "--name"


def _fields(pattern: str) -> list[tuple[str, str]]:
    try:
        return [(field, spec) for _text, field, spec, _conv in string.Formatter().parse(pattern)
                if field is not None]
    except ValueError as exc:
        raise InputError(f"name pattern {pattern!r} is not valid: {exc}", where=WHERE,
                         hint="write the clone number as {n}, e.g. web-{n} or web-{n:02d}") from None


def check_pattern(pattern: str) -> None:
    """The pattern names the clone number, and nothing else, in braces."""
    fields = _fields(pattern)
    others = sorted({f for f, _ in fields if f != "n"})
    if others:
        raise InputError(f"name pattern {pattern!r} uses {{{others[0]}}}; only {{n}} (the clone number) is known",
                         where=WHERE, hint="e.g. web-{n} or web-{n:02d}")
    if not any(f == "n" for f, _ in fields):
        raise InputError(f"name pattern {pattern!r} has no {{n}}: every clone would get the same name",
                         where=WHERE, hint="put the clone number in it, e.g. web-{n}")


def expand(pattern: str, count: int, first: int = 1) -> list[str]:
    """The clone names, checked: valid host names, all different."""
    check_pattern(pattern)
    if count < 1:
        raise InputError(f"--count must be at least 1, not {count}", where="--count")
    if first < 0:
        raise InputError(f"--first must not be negative, not {first}", where="--first")
    names = []
    for n in range(first, first + count):
        try:
            name = pattern.format(n=n)
        except (ValueError, TypeError) as exc:
            raise InputError(f"name pattern {pattern!r}: {exc}", where=WHERE,
                             hint="{n} is an integer: {n}, {n:02d} or {n:x} work") from None
        try:
            Hostname(name)
        except InputError:
            raise InputError(f"clone name {name!r} (from {pattern!r}) is not a valid host name", where=WHERE,
                             hint="a clone's name is also its hostname: letters, digits and hyphens, "
                                  "labels separated by dots") from None
        names.append(name)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name.lower() in seen:
            raise InputError(f"name pattern {pattern!r} gives {name!r} twice (clones {seen[name.lower()] + first} "
                             f"and {i + first})", where=WHERE,
                             hint="use a format that keeps numbers apart, e.g. {n} rather than {n:.1}")
        seen[name.lower()] = i
    return names
