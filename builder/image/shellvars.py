"""KEY=value files (ifcfg-*, /etc/sysconfig/*, os-release): read, and edit line by line.

Edits keep every other line, comment and quoting style as the file had it, so
a sealed ifcfg file differs from the original only in the lines removed.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def unquote(raw: str) -> str:
    """A raw right-hand side as the shell would read it, for the quoting KEY=value files use."""
    raw = raw.strip()
    # A quoted value, optionally followed by a comment: KEY="a b"  # why
    quoted = re.fullmatch(r'"((?:[^"\\]|\\.)*)"(?:\s+#.*)?|\'([^\']*)\'(?:\s+#.*)?', raw)
    if quoted:
        if quoted.group(1) is not None:
            return re.sub(r'\\(["\\$`])', r"\1", quoted.group(1))
        return quoted.group(2)
    # An unquoted value ends at an unescaped space (a trailing comment follows).
    return raw.split(" #", 1)[0].strip()


def parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m:
            out[m.group(1)] = unquote(m.group(2))
    return out


def _quote_like(old_raw: str | None, value: str) -> str:
    if old_raw is not None:
        old_raw = old_raw.strip()
        if old_raw[:1] == '"':
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if old_raw[:1] == "'":
            return "'" + value + "'"
    if re.fullmatch(r"[A-Za-z0-9_.:/@%+,-]*", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_var(text: str, key: str, value: str, *, add: bool = True) -> str:
    """Set KEY on its first line (dropping later duplicates), or append it when `add`."""
    lines = text.splitlines(keepends=True)
    out, done = [], False
    for line in lines:
        m = _LINE.match(line.rstrip("\n"))
        if m and m.group(1) == key and not line.lstrip().startswith("#"):
            if done:
                continue
            nl = "\n" if line.endswith("\n") else ""
            out.append(f"{key}={_quote_like(m.group(2), value)}{nl}")
            done = True
        else:
            out.append(line)
    if not done and add:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(f"{key}={_quote_like(None, value)}\n")
    return "".join(out)


def remove_vars(text: str, keys: set[str]) -> tuple[str, list[str]]:
    """Drop KEY=... lines for `keys`; return the new text and the keys removed."""
    out, removed = [], []
    for line in text.splitlines(keepends=True):
        m = _LINE.match(line.rstrip("\n"))
        if m and m.group(1) in keys and not line.lstrip().startswith("#"):
            removed.append(m.group(1))
            continue
        out.append(line)
    return "".join(out), removed
