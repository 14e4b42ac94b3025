"""Guest path resolution, as if chrooted into the guest.

A guest's absolute symlink (/etc/localtime -> /usr/share/zoneinfo/UTC) names a
guest path. The loop backend reaches the guest through a host directory, so it
must resolve every symlink itself; following one with the host kernel would
read or write the *host's* file. The same resolver also gives both backends
one meaning for "write through a symlink".
"""

from __future__ import annotations

import errno
import posixpath
from typing import Callable

MAX_LINKS = 40


def normalize(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"guest paths are absolute: {path!r}")
    return posixpath.normpath(path).replace("//", "/")


def resolve(path: str, *, is_link: Callable[[str], bool], readlink: Callable[[str], str],
            follow_last: bool = True) -> str:
    """`path` with symlinks resolved inside the guest; a missing tail is kept as is."""
    if not path.startswith("/"):
        raise ValueError(f"guest paths are absolute: {path!r}")
    todo = [c for c in path.split("/") if c]
    done: list[str] = []
    links = 0
    while todo:
        c = todo.pop(0)
        if c == ".":
            continue
        if c == "..":
            if done:
                done.pop()
            continue
        candidate = "/" + "/".join(done + [c])
        if (todo or follow_last) and is_link(candidate):
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, "Too many levels of symbolic links", path)
            target = readlink(candidate)
            if target.startswith("/"):
                done = []
            todo = [t for t in target.split("/") if t] + todo
            continue
        done.append(c)
    return "/" + "/".join(done)
