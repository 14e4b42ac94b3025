"""Small formatting helpers shared by the report's views (pure functions of plain data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fact:
    """One row of a label/value table."""

    label: str
    value: str
    mono: bool = False
    note: str = ""
    title: str = ""


def get(data: Any, *keys, default=None):
    """data[k1][k2]... for nested dicts; `default` when any level is missing or not a dict."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return default if data is None else data


def as_list(value) -> list:
    return value if isinstance(value, list) else []


def text(value, empty: str = "") -> str:
    if value is None or value == "":
        return empty
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value) or empty
    return str(value)


def size(n, empty: str = "") -> str:
    """Bytes in IEC units, as `ls -lh` and `qemu-img info` print them."""
    if not isinstance(n, (int, float)) or isinstance(n, bool):
        return empty
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def exact_bytes(n) -> str:
    return f"{n:,} bytes" if isinstance(n, int) and not isinstance(n, bool) else ""


def seconds(s) -> str:
    if not isinstance(s, (int, float)) or isinstance(s, bool):
        return ""
    if s < 60:
        return f"{s:.1f} s"
    minutes, rest = divmod(int(round(s)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def when(stamp) -> str:
    """An ISO 8601 UTC stamp as '2026-11-25 23:48:27 UTC'."""
    if not isinstance(stamp, str) or not stamp:
        return ""
    if len(stamp) == 20 and stamp[10] == "T" and stamp.endswith("Z"):
        return f"{stamp[:10]} {stamp[11:19]} UTC"
    return stamp


def short_hash(h, n: int = 12) -> str:
    return h[:n] if isinstance(h, str) else ""


def basename(path) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if isinstance(path, str) and path else ""
