"""Change the guest and say what changed: the one recorder seal and customize share.

Every change goes through here, so reports list exactly the files removed,
truncated or written, and a dry run lists what would change without touching
the image (it works on a read-only handle).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Change:
    path: str
    action: str          # removed | truncated | created | rewritten | edited | linked | mkdir | chmod | chown | uuid
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class Recorder:
    def __init__(self, h, *, dry_run: bool = False):
        self.h = h
        self.dry_run = dry_run
        self.changes: list[Change] = []

    def note(self, path: str, action: str, detail: str = "") -> None:
        self.changes.append(Change(path, action, detail))

    def remove(self, path: str, detail: str = "") -> bool:
        """Remove a file, symlink or whole directory tree, if present."""
        if not self.h.lexists(path):
            return False
        if not self.dry_run:
            if self.h.is_dir(path) and not self.h.is_symlink(path):
                self.h.rm_rf(path)
            else:
                self.h.rm(path)
        self.note(path, "removed", detail)
        return True

    def remove_children(self, directory: str, *, keep=()) -> None:
        """Empty a directory but keep it (and its mode, owner and label)."""
        if not self.h.is_dir(directory):
            return
        for name in self.h.ls(directory):
            if name not in keep:
                self.remove(f"{directory.rstrip('/')}/{name}")

    def truncate(self, path: str, detail: str = "") -> bool:
        """Empty a regular file in place; files of size 0 are left alone."""
        if not self.h.is_file(path) or self.h.stat(path).size == 0:
            return False
        if not self.dry_run:
            self.h.truncate(path)
        self.note(path, "truncated", detail)
        return True

    def write(self, path: str, data: bytes | str, *, mode: int | None = None, detail: str = "") -> bool:
        """Write a file; unchanged content is not a change."""
        if isinstance(data, str):
            data = data.encode()
        exists = self.h.is_file(path)
        if exists and self.h.read(path) == data and (mode is None or self.h.stat(path).perms == mode):
            return False
        if not self.dry_run:
            self.h.write(path, data, mode=mode)
        self.note(path, "rewritten" if exists else "created", detail)
        return True

    def edit(self, path: str, new_text: str, detail: str) -> bool:
        """Replace a text file's content when it differs (mode, owner and label are kept)."""
        if self.h.read_text(path) == new_text:
            return False
        if not self.dry_run:
            self.h.write(path, new_text)
        self.note(path, "edited", detail)
        return True

    def mkdir_p(self, path: str, mode: int = 0o755) -> None:
        if self.h.is_dir(path):
            return
        if not self.dry_run:
            self.h.mkdir_p(path, mode)
        self.note(path, "mkdir", f"mode {mode:04o}")

    def symlink(self, target: str, link: str) -> bool:
        if self.h.is_symlink(link) and self.h.readlink(link) == target:
            return False
        if not self.dry_run:
            if self.h.lexists(link):
                self.h.rm(link)
            self.h.symlink(target, link)
        self.note(link, "linked", f"-> {target}")
        return True

    def chmod(self, path: str, mode: int) -> None:
        if self.h.stat(path).perms == mode:
            return
        if not self.dry_run:
            self.h.chmod(path, mode)
        self.note(path, "chmod", f"{mode:04o}")

    def chown(self, path: str, uid: int, gid: int) -> None:
        st = self.h.stat(path)
        if (st.uid, st.gid) == (uid, gid):
            return
        if not self.dry_run:
            self.h.chown(path, uid, gid)
        self.note(path, "chown", f"{uid}:{gid}")

    def as_list(self) -> list[dict]:
        return [c.to_dict() for c in self.changes]
