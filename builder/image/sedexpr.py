"""`s/regex/replacement/flags` edits, applied line by line as sed does.

The pattern is a Python regular expression; in the replacement `&` is the
whole match and `\\1`..`\\9` are groups, as in sed. Flags: g (every match on a
line, not only the first) and i (ignore case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from builder.errors import InputError


@dataclass(frozen=True)
class Substitution:
    pattern: re.Pattern
    replacement: str
    every: bool

    def apply(self, text: str) -> tuple[str, int]:
        """The edited text and how many substitutions were made."""
        total = 0
        out = []
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\n")
            new, n = self.pattern.subn(self._expand, body, count=0 if self.every else 1)
            total += n
            out.append(new + line[len(body):])
        return "".join(out), total

    def _expand(self, m: re.Match) -> str:
        out = []
        i = 0
        r = self.replacement
        while i < len(r):
            c = r[i]
            if c == "\\" and i + 1 < len(r):
                nxt = r[i + 1]
                if nxt.isdigit():
                    out.append(m.group(int(nxt)) or "")
                elif nxt == "n":
                    out.append("\n")
                elif nxt == "t":
                    out.append("\t")
                else:
                    out.append(nxt)
                i += 2
                continue
            out.append(m.group(0) if c == "&" else c)
            i += 1
        return "".join(out)


def parse(expr: str) -> Substitution:
    if len(expr) < 4 or expr[0] != "s":
        raise InputError(f"edit expression {expr!r} is not of the form s/regex/replacement/flags")
    delim = expr[1]
    if delim.isalnum() or delim in "\\\n ":
        raise InputError(f"edit expression {expr!r}: {delim!r} cannot delimit a substitution")
    parts, cur, i = [], [], 2
    while i < len(expr):
        c = expr[i]
        if c == "\\" and i + 1 < len(expr):
            # An escaped delimiter is the delimiter itself; other escapes pass through.
            cur.append(expr[i + 1] if expr[i + 1] == delim else expr[i:i + 2])
            i += 2
            continue
        if c == delim and len(parts) < 2:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    if len(parts) != 2:
        raise InputError(f"edit expression {expr!r} is not of the form s/regex/replacement/flags",
                         hint="end it with the delimiter, e.g. s/old/new/ or s/old/new/g")
    flags = "".join(cur)
    if set(flags) - set("gi"):
        raise InputError(f"edit expression {expr!r}: unknown flag(s) {''.join(sorted(set(flags) - set('gi')))!r}",
                         hint="the flags are g (every match) and i (ignore case)")
    try:
        pattern = re.compile(parts[0], re.I if "i" in flags else 0)
    except re.error as e:
        raise InputError(f"edit expression {expr!r}: bad regular expression: {e}") from None
    return Substitution(pattern, parts[1], "g" in flags)
