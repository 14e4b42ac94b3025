"""NAME.SHA256SUMS: the checksum list in sha256sum's format, relative names only.

Relative names make the list verifiable wherever the files are copied
(`sha256sum -c NAME.SHA256SUMS` in that folder).
"""

from __future__ import annotations

import re
from pathlib import Path

from builder.errors import InputError
from builder.fsutil import atomic_write, sha256_file

_LINE = re.compile(r"^(?P<sha>[0-9a-f]{64}) [ *](?P<name>[^/\n]+)$")


def render(entries: list[tuple[str, str]]) -> str:
    """sha256sum lines for (name, sha256) pairs, sorted by name so the bytes are reproducible."""
    return "".join(f"{sha}  {name}\n" for name, sha in sorted(entries))


def write(target: Path, files: list[Path]) -> Path:
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise InputError("two shipped files share a name; a checksum list holds relative names",
                         where=str(target))
    return atomic_write(target, render([(f.name, sha256_file(f)) for f in files]))


def parse(path: Path) -> list[tuple[str, str]]:
    """(name, sha256) pairs, or InputError naming the line that is not sha256sum output."""
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            raise InputError(f"line {number} is not `SHA256  NAME`", where=str(path))
        out.append((match["name"], match["sha"]))
    return out
