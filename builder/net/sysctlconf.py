"""/etc/sysctl.conf edits: set some keys, keep every other line as the owner wrote it."""

from __future__ import annotations


def key_of(line: str) -> str | None:
    """The key a sysctl.conf line assigns (slash spelling and a leading `-` normalized), or None."""
    stripped = line.strip()
    if not stripped or stripped.startswith(("#", ";")) or "=" not in stripped:
        return None
    return stripped.split("=", 1)[0].strip().lstrip("-").replace("/", ".")


def set_values(old: str | None, values: dict[str, str], comment: str) -> str:
    """`old` with each key of `values` assigned once, where it first stood; missing keys appended under `comment`.

    Later assignments of a key are dropped, because `sysctl -p` applies lines in
    order and a later one would undo the value set here.
    """
    pending = dict(values)
    out = []
    for line in (old or "").splitlines():
        key = key_of(line)
        if key in values:
            if key in pending:
                out.append(f"{key} = {pending.pop(key)}")
            continue
        out.append(line)
    if pending:
        if out and out[-1].strip():
            out.append("")
        out.append(f"# {comment}")
        out += [f"{k} = {v}" for k, v in pending.items()]
    return "\n".join(out) + "\n"
