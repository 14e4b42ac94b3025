"""Can the hypervisor process reach a path? Checked before anything is defined.

libvirt's system daemon runs qemu as its own user and relabels the files it
is given, but not the directories above them: an image under a 0700 home
directory fails only once the guest starts, with a cryptic error.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
from pathlib import Path

from builder.errors import InputError


def qemu_user() -> tuple[int, set[int]] | None:
    """uid and gids of the user libvirt runs qemu as (qemu:///system), if known."""
    name = "libvirt-qemu"
    conf = Path("/etc/libvirt/qemu.conf")
    try:
        m = re.search(r'^\s*user\s*=\s*"([^"]+)"', conf.read_text(), re.M)
        if m:
            name = m.group(1)
    except OSError:
        pass
    if name in ("root", "+0"):
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    gids = {entry.pw_gid} | set(os.getgrouplist(name, entry.pw_gid))
    return entry.pw_uid, gids


def _can_search(st: os.stat_result, uid: int, gids: set[int]) -> bool:
    mode = st.st_mode
    if st.st_uid == uid:
        return bool(mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def unreachable_dir(path: Path) -> Path | None:
    """The first directory above `path` the qemu user cannot enter, if any."""
    who = qemu_user()
    if who is None:
        return None
    uid, gids = who
    current = Path(path).resolve()
    parents = [p for p in reversed(current.parents)]
    for directory in parents:
        try:
            st = directory.stat()
        except FileNotFoundError:
            return None          # the rest will be created by golden, with normal permissions
        if not _can_search(st, uid, gids):
            return directory
    return None


def check_reachable(path: Path, what: str, field: str | None = None) -> None:
    blocked = unreachable_dir(path)
    if blocked is not None:
        raise InputError(
            f"{what} {path} is inside {blocked}, which libvirt's qemu user cannot enter",
            where=field,
            hint=f"use a directory it can reach (e.g. under /var/lib/libvirt/images) or `chmod o+x {blocked}`")


def check_writable_dir(path: Path, what: str, field: str | None = None) -> None:
    """The nearest existing ancestor must be writable, so golden can create `path`."""
    current = Path(path).resolve()
    while not current.exists():
        current = current.parent
    if not current.is_dir() or not os.access(current, os.W_OK | os.X_OK):
        raise InputError(f"{what} {path} cannot be created: {current} is not a writable directory",
                         where=field, hint="choose another output.dir or fix its permissions")
