"""The guest handle: one file API over either backend.

Backends implement a handful of primitives (the `_` methods) on guest paths;
everything users call is written once here, so the two backends cannot drift
apart in meaning: how a write keeps mode, owner, SELinux label and hard links,
what glob matches, how symlinks resolve.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import posixpath
from pathlib import Path

from builder.errors import InputError
from builder.image import guestpath
from builder.image.diskfile import DiskFile
from builder.image.fstab import mount_plan, parse_fstab
from builder.image.model import Filesystem, Layout, LvmInfo, Mount, Partition, Stat

log = logging.getLogger("golden.image")

# Files whose presence (next to /etc/fstab) marks a Linux root file system.
RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release", "/etc/redhat-release",
                 "/etc/system-release", "/etc/centos-release", "/etc/fedora-release",
                 "/etc/debian_version", "/etc/SuSE-release", "/etc/alpine-release", "/etc/lsb-release")
SELINUX_XATTR = "security.selinux"
# Above this, data moves through a temporary file rather than one protocol message.
BIG = 2 * 1024 * 1024


def no_os_error(image: Path, unopened: list[str] | tuple[str, ...] = ()) -> InputError:
    """`unopened` names the layers seen but not opened, where the root may be hiding."""
    if unopened:
        return InputError("no Linux root file system found; could not open " + ", ".join(unopened),
                          where=str(image), hint="the root may be inside one of these; golden cannot look there")
    return InputError("no Linux root file system found (a file system with /etc/fstab and an os-release "
                      "or *-release file)", where=str(image),
                      hint="is this an OS disk? data disks cannot be inspected or sealed")


class Guest:
    """A mounted guest. Paths are guest paths ("/etc/fstab"); symlinks resolve inside the guest.

    Disk: partitions() filesystems() lvm() mountpoints() root_device set_fs_uuid()
    Read: read() read_text() pread() exists() lexists() is_file() is_dir() is_symlink()
          readlink() resolve() stat() lstat() ls() find() glob() download()
    Write: write() upload() truncate() mkdir_p() symlink() rm() rm_rf() chmod() chown()
    Attributes: backend ("loop" | "guestfs"), image, disk (the first), disks (all), readonly, warnings,
                layout.notes
    File errors are OSError subclasses (FileNotFoundError, ...) on both backends.
    """

    backend = "?"

    def __init__(self, disk: DiskFile, readonly: bool, extra: tuple[DiskFile, ...] = ()):
        self.disk = disk
        # Every disk of the guest in the domain's order; the guest calls them /dev/sda, /dev/sdb, ...
        self.disks = (disk, *extra)
        self.image = Path(disk.path)
        self.readonly = readonly
        self.layout = Layout()
        self.warnings: list[str] = []

    # ---- what is on the disk -------------------------------------------------

    def partitions(self) -> list[Partition]:
        return list(self.layout.partitions)

    def filesystems(self) -> list[Filesystem]:
        return list(self.layout.filesystems)

    def lvm(self) -> LvmInfo:
        return self.layout.lvm

    def mountpoints(self) -> list[Mount]:
        return list(self.layout.mounts)

    @property
    def root_device(self) -> str | None:
        return self.layout.root

    def set_fs_uuid(self, device: str, new_uuid: str) -> None:
        """Give a file system a new UUID (it is unmounted around the change)."""
        self._require_rw()
        self._set_fs_uuid(device, new_uuid)
        self.layout.filesystems = [
            Filesystem(f.device, f.fstype, f.label, new_uuid, f.size) if f.device == device else f
            for f in self.layout.filesystems]

    def lvm_uuid_refusal(self) -> str | None:
        """Why this backend cannot give this guest's LVM new UUIDs, or None if it can."""
        return None

    def new_lvm_uuids(self) -> None:
        """Give every PV and VG of this guest a new random UUID; `lvm()` reports the new ones after.

        LV names, LV UUIDs and the data on them stay, so /dev/VG/LV paths and
        file system UUIDs still match.
        """
        self._require_rw()
        if self.layout.lvm.vgs:
            self.layout.lvm = self._new_lvm_uuids()

    # ---- reading ------------------------------------------------------------------

    def resolve(self, path: str) -> str:
        """The guest path `path` names after following every symlink."""
        return guestpath.resolve(guestpath.normalize(path), is_link=self._is_link,
                                 readlink=self._readlink)

    def read(self, path: str) -> bytes:
        return self._read(guestpath.normalize(path))

    def read_text(self, path: str) -> str:
        return self.read(path).decode("utf-8", "replace")

    def pread(self, path: str, size: int, offset: int = 0) -> bytes:
        """Up to `size` bytes at `offset`, without reading the whole file."""
        return self._pread(guestpath.normalize(path), size, offset)

    def exists(self, path: str) -> bool:
        return self._stat_or_none(path, follow=True) is not None

    def lexists(self, path: str) -> bool:
        return self._stat_or_none(path, follow=False) is not None

    def is_file(self, path: str) -> bool:
        st = self._stat_or_none(path, follow=True)
        return st is not None and st.is_file

    def is_dir(self, path: str) -> bool:
        st = self._stat_or_none(path, follow=True)
        return st is not None and st.is_dir

    def is_symlink(self, path: str) -> bool:
        st = self._stat_or_none(path, follow=False)
        return st is not None and st.is_symlink

    def readlink(self, path: str) -> str:
        return self._readlink(guestpath.normalize(path))

    def stat(self, path: str) -> Stat:
        return self._stat(guestpath.normalize(path))

    def lstat(self, path: str) -> Stat:
        return self._lstat(guestpath.normalize(path))

    def ls(self, path: str) -> list[str]:
        return sorted(self._listdir(guestpath.normalize(path)))

    def find(self, path: str) -> list[str]:
        """Every path below `path` (not following symlinks), sorted."""
        base = guestpath.normalize(path)
        if not self.is_dir(base):
            return []
        return sorted(posixpath.join(base, rel) for rel in self._find(base))

    def glob(self, pattern: str) -> list[str]:
        """Shell-style glob over guest paths (*, ?, [..]; no **). Dot files need a dot in the pattern."""
        pattern = guestpath.normalize(pattern)
        parts = [p for p in pattern.split("/") if p]
        paths = ["/"]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = []
            for base in paths:
                if not any(ch in part for ch in "*?["):
                    cand = posixpath.join(base, part)
                    if (self.lexists(cand) if last else self.is_dir(cand)):
                        nxt.append(cand)
                    continue
                if not self.is_dir(base):
                    continue
                for name in self.ls(base):
                    if name.startswith(".") and not part.startswith("."):
                        continue
                    if fnmatch.fnmatchcase(name, part):
                        cand = posixpath.join(base, name)
                        if last or self.is_dir(cand):
                            nxt.append(cand)
            paths = nxt
        return sorted(paths)

    # ---- writing ---------------------------------------------------------------

    def write(self, path: str, data: bytes | str, *, mode: int | None = None) -> None:
        """Replace (or create) a file, keeping mode, owner, SELinux label and hard links.

        A new file gets `mode` (default 0644) and root ownership. Writes go to a
        temporary file that is renamed over the target, except for files with
        several hard links (RHEL 5's ifcfg files under /etc/sysconfig/networking),
        which are rewritten in place so every link sees the change.
        """
        self._require_rw()
        if isinstance(data, str):
            data = data.encode()
        target = self.resolve(path)
        st = self._stat_or_none(target, follow=False)
        if st is not None and not st.is_file:
            raise OSError(errno.EISDIR if st.is_dir else errno.EINVAL, "not a regular file", path)
        parent = posixpath.dirname(target)
        if not self.is_dir(parent):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", parent)
        if st is not None and st.nlink > 1:
            self._put(target, data)
            if mode is not None:
                self._chmod(target, mode)
            return
        tmp = posixpath.join(parent, f".{posixpath.basename(target)}.golden-tmp")
        try:
            self._put(tmp, data)
            if st is None:
                self._chmod(tmp, 0o644 if mode is None else mode)
            else:
                self._chmod(tmp, st.perms if mode is None else mode)
                if (st.uid, st.gid) != (0, 0):
                    self._lchown(tmp, st.uid, st.gid)
                label = self._getxattr(target, SELINUX_XATTR)
                if label is not None:
                    self._setxattr(tmp, SELINUX_XATTR, label)
            self._rename(tmp, target)
        except BaseException:
            if self._stat_or_none(tmp, follow=False) is not None:
                self._unlink(tmp)
            raise

    def upload(self, local: str | Path, path: str, *, mode: int | None = None) -> None:
        self.write(path, Path(local).read_bytes(), mode=mode)

    def download(self, path: str, local: str | Path) -> None:
        Path(local).write_bytes(self.read(path))

    def truncate(self, path: str) -> None:
        """Empty a file in place (mode, owner, label and inode stay)."""
        self._require_rw()
        self._truncate(self.resolve(path))

    def mkdir_p(self, path: str, mode: int = 0o755) -> None:
        self._require_rw()
        target = guestpath.normalize(path)
        missing = []
        cur = target
        while cur != "/" and not self.is_dir(cur):
            if self.lexists(cur):
                raise FileExistsError(errno.EEXIST, "exists and is not a directory", cur)
            missing.append(cur)
            cur = posixpath.dirname(cur)
        for d in reversed(missing):
            self._mkdir(self.resolve(d))
            self._chmod(self.resolve(d), mode)

    def symlink(self, target: str, link: str) -> None:
        """Create `link` pointing at `target` (stored verbatim, like ln -s)."""
        self._require_rw()
        link = guestpath.normalize(link)
        parent = self.resolve(posixpath.dirname(link))
        self._symlink(target, posixpath.join(parent, posixpath.basename(link)))

    def rm(self, path: str, *, missing_ok: bool = False) -> None:
        """Remove a file or symlink (never a directory)."""
        self._require_rw()
        p = self._nofollow(path)
        st = self._stat_or_none(p, follow=False)
        if st is None:
            if missing_ok:
                return
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if st.is_dir:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        self._unlink(p)

    def rm_rf(self, path: str) -> None:
        self._require_rw()
        p = self._nofollow(path)
        if p == "/":
            raise ValueError("refusing to remove the guest root")
        if self._stat_or_none(p, follow=False) is not None:
            self._rm_rf(p)

    def chmod(self, path: str, mode: int) -> None:
        self._require_rw()
        self._chmod(self.resolve(path), mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """Numeric guest ids; follows symlinks like chown(1)."""
        self._require_rw()
        self._lchown(self.resolve(path), uid, gid)

    # ---- helpers -------------------------------------------------------------------

    def _nofollow(self, path: str) -> str:
        """Resolve the directories of `path` but not its last component."""
        path = guestpath.normalize(path)
        if path == "/":
            return "/"
        return posixpath.join(self.resolve(posixpath.dirname(path)), posixpath.basename(path))

    def _require_rw(self) -> None:
        if self.readonly:
            raise InputError("the image was opened read-only", where=str(self.image),
                             hint="open it without readonly to change it")

    def _stat_or_none(self, path: str, *, follow: bool) -> Stat | None:
        try:
            return self._stat(path) if follow else self._lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise

    def _is_link(self, path: str) -> bool:
        st = self._stat_or_none(path, follow=False)
        return st is not None and st.is_symlink

    # ---- mounting: the same decisions on both backends ---------------------------

    def _root_candidates(self) -> list[Filesystem]:
        return [f for f in self.layout.filesystems if f.fstype not in ("swap", "")]

    def _plan_mounts(self, fstab_text: str, root: str) -> list[Mount]:
        mounts, notes = mount_plan(parse_fstab(fstab_text), self.layout.filesystems,
                                   self.layout.partitions, root, self.layout.root_subvol, self.layout.mapper_names)
        for n in notes:
            log.warning("%s: %s", self.image, n)
        self.layout.notes.extend(notes)
        return mounts

    @staticmethod
    def _is_root(is_file, exists) -> bool:
        return is_file("/etc/fstab") and any(exists(p) for p in RELEASE_FILES)

    # ---- primitives each backend provides (guest paths) --------------------

    def _lstat(self, path: str) -> Stat: raise NotImplementedError
    def _stat(self, path: str) -> Stat: raise NotImplementedError
    def _readlink(self, path: str) -> str: raise NotImplementedError
    def _listdir(self, path: str) -> list[str]: raise NotImplementedError
    def _find(self, path: str) -> list[str]: raise NotImplementedError
    def _read(self, path: str) -> bytes: raise NotImplementedError
    def _pread(self, path: str, size: int, offset: int) -> bytes: raise NotImplementedError
    def _put(self, path: str, data: bytes) -> None: raise NotImplementedError
    def _rename(self, src: str, dst: str) -> None: raise NotImplementedError
    def _mkdir(self, path: str) -> None: raise NotImplementedError
    def _unlink(self, path: str) -> None: raise NotImplementedError
    def _rm_rf(self, path: str) -> None: raise NotImplementedError
    def _symlink(self, target: str, path: str) -> None: raise NotImplementedError
    def _chmod(self, path: str, mode: int) -> None: raise NotImplementedError
    def _lchown(self, path: str, uid: int, gid: int) -> None: raise NotImplementedError
    def _truncate(self, path: str) -> None: raise NotImplementedError
    def _getxattr(self, path: str, name: str) -> bytes | None: raise NotImplementedError
    def _setxattr(self, path: str, name: str, value: bytes) -> None: raise NotImplementedError
    def _set_fs_uuid(self, device: str, new_uuid: str) -> None: raise NotImplementedError
    def _new_lvm_uuids(self) -> LvmInfo: raise NotImplementedError
