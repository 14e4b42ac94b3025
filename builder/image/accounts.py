"""The guest's own users: /etc/passwd, /etc/group, /etc/login.defs (never the host's)."""

from __future__ import annotations

from dataclasses import dataclass

from builder.image.osinfo import catalog_entry


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: str


def users(h) -> list[User]:
    if not h.is_file("/etc/passwd"):
        return []
    out = []
    for line in h.read_text("/etc/passwd").splitlines():
        f = line.split(":")
        if len(f) >= 7 and f[2].isdigit() and f[3].isdigit():
            out.append(User(f[0], int(f[2]), int(f[3]), f[5]))
    return out


def user(h, name: str) -> User | None:
    return next((u for u in users(h) if u.name == name), None)


def login_defs(h) -> dict[str, str]:
    if not h.is_file("/etc/login.defs"):
        return {}
    out = {}
    for line in h.read_text("/etc/login.defs").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#"):
            out[parts[0]] = parts[1]
    return out


def uid_min(h, osi) -> int:
    value = login_defs(h).get("UID_MIN", "")
    if value.isdigit():
        return int(value)
    # useradd's built-in default on the release (RHEL 7 moved regular users from 500 to 1000).
    entry = catalog_entry(osi)
    return entry.first_uid if entry is not None else 1000


def home_dirs(h) -> list[str]:
    """root's home, every /home/* and every account's home that exists, once each."""
    seen, out = set(), []
    candidates = ["/root"] + (h.glob("/home/*") if h.is_dir("/home") else []) + [u.home for u in users(h)]
    for d in candidates:
        if not d or not d.startswith("/") or d == "/" or not h.is_dir(d):
            continue
        real = h.resolve(d)
        if real not in seen:
            seen.add(real)
            out.append(d)
    return out
