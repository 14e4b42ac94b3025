"""The loop backend: the host kernel mounts the guest's file systems.

Partitions and linear LVs are found by Python readers (partitions.py, lvm.py)
and each is mapped with `losetup --offset --sizelimit`, which needs neither
device-mapper nor udev. qcow2 images are first exported as a raw file
(export.py). Everything is undone on the way out, in reverse order, with
SIGINT/SIGTERM held back until the last loop device is gone.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from builder import owners
from builder.errors import HostError
from builder.image import guestpath
from builder.image.diskfile import DiskFile
from builder.image.export import ExportUnavailable, raw_view
from builder.image.guest import Guest
from builder.image.host import is_root, loop_fstypes, mounted_paths, run, signals_deferred, tool
from builder.image.lvm import LvmError, read_lvm
from builder.image.model import Filesystem, Layout, Mount, Stat
from builder.image.partitions import PartitionTableError, data_partitions, read_table
from builder.image.probe import probe

log = logging.getLogger("golden.image")

UDEV_CONTROL = "/run/udev/control"


class LoopUnsupported(Exception):
    """This image needs something the loop backend cannot do; guestfs can."""


class LoopLayoutUnsupported(LoopUnsupported):
    """The image's own layout (MD RAID, btrfs, LUKS) is beyond loop devices, whatever the host has."""


@dataclass(frozen=True)
class Extent:
    offset: int
    size: int


def _stat(st: os.stat_result) -> Stat:
    return Stat(st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_nlink, int(st.st_mtime), st.st_dev, st.st_ino)


def mount_options(fstype: str, readonly: bool) -> str:
    opts = []
    if readonly:
        opts.append("ro")
        # A dirty journal would otherwise be replayed, writing to the image.
        if fstype in ("ext3", "ext4"):
            opts.append("noload")
        elif fstype == "xfs":
            opts.append("norecovery")
    else:
        opts.append("rw")
    if fstype == "xfs":
        opts.append("nouuid")        # clones share XFS UUIDs; the kernel refuses duplicates
    return ",".join(opts)


class LoopGuest(Guest):
    backend = "loop"

    def __init__(self, disk: DiskFile, readonly: bool, view: str, workdir: Path):
        super().__init__(disk, readonly)
        self._view = view
        self._workdir = workdir
        self._rootdir = str(workdir / "root")
        self._extents: dict[str, Extent] = {}
        self._unmappable: dict[str, str] = {}
        self._loops: dict[str, str] = {}          # device -> /dev/loopN
        self._loop_recs: dict[str, owners.Record] = {}
        self._mount_recs: dict[str, owners.Record] = {}
        self._mounted: list[tuple[Mount, str]] = []  # (mount, host dir), in mount order

    # ---- discovery -----------------------------------------------------------------

    def scan(self) -> None:
        layout = Layout()
        try:
            with open(self._view, "rb") as f:
                table = read_table(f, self.disk.virtual_size)
                layout.partitions = list(table.partitions)
                if table.kind == "none":
                    blocks = [("/dev/sda", 0, self.disk.virtual_size)]
                else:
                    blocks = [(p.device, p.start, p.size) for p in data_partitions(table)]
                sigs = {dev: probe(self._view, off, size) for dev, off, size in blocks}
                pvs = [(dev, off, size) for dev, off, size in blocks if sigs[dev].type == "LVM2_member"]
                for dev, off, size in blocks:
                    self._extents[dev] = Extent(off, size)
                if pvs:
                    vgl = read_lvm(f, pvs)
                    layout.lvm = vgl.info
                    for m in vgl.mappings:
                        blocks.append((m.lv.path, m.offset or 0, m.lv.size))
                        if m.offset is None:
                            self._unmappable[m.lv.path] = m.reason
                        else:
                            self._extents[m.lv.path] = Extent(m.offset, m.lv.size)
                            sigs[m.lv.path] = probe(self._view, m.offset, m.lv.size)
        except PartitionTableError as e:
            raise LoopUnsupported(f"partition table: {e}") from None
        except LvmError as e:
            raise LoopUnsupported(f"LVM metadata: {e}") from None
        raid = sorted(dev for dev, sig in sigs.items() if sig.type == "linux_raid_member")
        if raid:
            raise LoopLayoutUnsupported(f"found MD RAID members {', '.join(raid)}: loop devices cannot "
                                        f"assemble an MD array")
        for dev, _off, size in blocks:
            sig = sigs.get(dev)
            if dev in self._unmappable:
                raise LoopUnsupported(f"LV {dev} cannot be mapped with a loop device: "
                                      f"{self._unmappable[dev]}")
            if sig is None or sig.type in ("", "LVM2_member"):
                continue
            layout.filesystems.append(Filesystem(dev, sig.type, sig.label, sig.uuid, size))
        self.layout = layout

    def mount_guest(self) -> None:
        mountable = loop_fstypes()
        probe_dir = self._workdir / "probe"
        probe_dir.mkdir()
        unmountable = []
        root = fstab = None
        for fs in self._root_candidates():
            if fs.fstype not in mountable:
                unmountable.append(fs)
                continue
            self._attach(fs.device, readonly=True)
            self._kernel_mount(fs.device, fs.fstype, str(probe_dir), readonly=True)
            try:
                fstab = self._probe_root(str(probe_dir))
            finally:
                self._kernel_umount(str(probe_dir))
                self._detach(fs.device)
            if fstab is not None:
                root = fs.device
                break
        probe_dir.rmdir()
        if root is None:
            btrfs = [f.device for f in unmountable if f.fstype == "btrfs"]
            if btrfs:
                # Left to guestfs on purpose (host.py): subvolume roots and multi-device file systems.
                raise LoopLayoutUnsupported(f"found btrfs on {', '.join(btrfs)}: the loop backend does not "
                                            f"mount btrfs (subvolumes, multi-device)")
            luks = [f.device for f in unmountable if f.fstype == "crypto_LUKS"]
            if luks:
                # Opening LUKS takes device-mapper, which the loop backend does not use.
                raise LoopLayoutUnsupported(f"found LUKS container {', '.join(luks)}: the loop backend cannot "
                                            f"open LUKS (give --key with --backend guestfs)")
            if unmountable:
                kinds = ", ".join(sorted({f"{f.fstype} ({f.device})" for f in unmountable}))
                raise LoopUnsupported(f"no root file system among those the host kernel mounts; "
                                      f"it cannot mount {kinds}")
            return       # no OS here; access.py turns that into an InputError
        self.layout.root = root
        plan = self._plan_mounts(fstab, root)
        bad = [m for m in plan if m.fstype not in mountable]
        if bad:
            kinds = ", ".join(f"{m.mountpoint} ({m.fstype})" for m in bad)
            raise LoopUnsupported(f"the host kernel cannot mount {kinds}")
        os.mkdir(self._rootdir)
        for m in plan:
            if m.mountpoint == "/":
                target = self._rootdir
            else:
                # Follow the guest's own symlinks to the mount point, as mount(8) in the guest would.
                target = self._h(m.mountpoint)
                if not os.path.isdir(target):
                    note = f"mount point {m.mountpoint} for {m.device} does not exist in the guest; not mounted"
                    log.warning("%s: %s", self.image, note)
                    self.layout.notes.append(note)
                    continue
            self._attach(m.device, readonly=self.readonly)
            self._kernel_mount(m.device, m.fstype, target, readonly=self.readonly)
            self._mounted.append((m, target))
            self.layout.mounts.append(m)

    def _probe_root(self, top: str) -> str | None:
        """The fstab text if the file system mounted at `top` is an OS root."""
        def is_link(p):
            return os.path.islink(top + p)

        def host(p):
            return top + guestpath.resolve(p, is_link=is_link, readlink=lambda q: os.readlink(top + q))

        def is_file(p):
            try:
                return os.path.isfile(host(p))
            except OSError:
                return False

        def exists(p):
            try:
                return os.path.exists(host(p))
            except OSError:
                return False

        if not self._is_root(is_file, exists):
            return None
        with open(host("/etc/fstab"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    # ---- loop devices and mounts -----------------------------------------------

    def _attach(self, device: str, *, readonly: bool) -> str:
        ext = self._extents[device]
        cmd = ["losetup", "--find", "--show", "--offset", str(ext.offset), "--sizelimit", str(ext.size)]
        if readonly:
            cmd.append("--read-only")
        # The kernel reports the backing file by its resolved path; the reaper matches on that.
        rec = owners.register("loop", os.path.realpath(self._view), offset=ext.offset, sizelimit=ext.size)
        try:
            r = run(cmd + [self._view], what=f"losetup for {device}")
        except BaseException:
            owners.release(rec)
            raise
        loopdev = r.stdout.decode().strip()
        rec.update(device=loopdev)
        self._loops[device] = loopdev
        self._loop_recs[device] = rec
        return loopdev

    def _detach(self, device: str) -> None:
        loopdev = self._loops.pop(device, None)
        rec = self._loop_recs.pop(device, None)
        if loopdev:
            r = run(["losetup", "--detach", loopdev], what=f"losetup --detach {loopdev}", check=False)
            if r.returncode == 0:
                owners.release(rec)

    def _kernel_mount(self, device: str, fstype: str, target: str, *, readonly: bool) -> None:
        opts = mount_options(fstype, readonly)
        rec = owners.register("mount", target)
        r = run(["mount", "-t", fstype, "-o", opts, self._loops[device], target],
                what=f"mount {device}", check=False)
        if r.returncode != 0:
            owners.release(rec)
            self._detach(device)
            err = r.stderr.decode(errors="replace").strip()
            raise LoopUnsupported(f"the host kernel did not mount {device} ({fstype}): {err}")
        self._mount_recs[target] = rec

    def _kernel_umount(self, target: str) -> None:
        if run(["umount", target], what=f"umount {target}", check=False).returncode != 0:
            log.warning("umount %s failed; detaching it lazily", target)
            run(["umount", "-l", target], what=f"umount -l {target}", check=False)
        if target not in mounted_paths():
            owners.release(self._mount_recs.pop(target, None))

    def close(self) -> None:
        """Unmount and detach everything, newest first. Safe to call twice."""
        with signals_deferred():
            while self._mounted:
                m, target = self._mounted.pop()
                self._kernel_umount(target)
            for device in list(self._loops):
                self._detach(device)
            if not self.readonly:
                _fsync(self._view)

    def _set_fs_uuid(self, device: str, new_uuid: str) -> None:
        fs = next((f for f in self.layout.filesystems if f.device == device), None)
        if fs is None:
            raise HostError(f"no file system {device} on {self.image}")
        mounted = list(self._mounted)
        for _m, target in reversed(mounted):
            self._kernel_umount(target)
        self._mounted.clear()
        try:
            loopdev = self._loops.get(device) or self._attach(device, readonly=False)
            change_fs_uuid(loopdev, fs.fstype, new_uuid)
        finally:
            for m, target in mounted:
                self._kernel_mount(m.device, m.fstype, target, readonly=self.readonly)
                self._mounted.append((m, target))

    def lvm_uuid_refusal(self) -> str | None:
        if self.layout.lvm.vgs and os.path.exists(UDEV_CONTROL):
            # A PV attached to a loop device is a udev event, and lvm2's udev rules
            # autoactivate its VG into the host's LVM, the clash lvm.py avoids.
            return "the host runs udev, which would activate the guest's VG when its PV is attached"
        return None

    def _new_lvm_uuids(self):
        """New PV and VG UUIDs through the host's LVM, seeing only this guest's PVs.

        Only the PV label and metadata area (before the first extent) are
        written, never an LV's extents, so the LVs mounted from their own loop
        devices are left alone. No VG is activated (--driverloaded n).
        """
        refusal = self.lvm_uuid_refusal()
        if refusal:
            raise HostError(f"the loop backend cannot change LVM UUIDs here: {refusal}",
                            hint="use `--backend guestfs`, or `--skip lvm-uuids`")
        info = self.layout.lvm
        pvs = [pv.device for pv in info.pvs]
        try:
            loops = [self._attach(dev, readonly=False) for dev in pvs]
            accept = ",".join(f'"a|^{loop}$|"' for loop in loops)
            lvm = ["--driverloaded", "n", "--config",
                   f'devices{{filter=[{accept},"r|.*|"] global_filter=[{accept},"r|.*|"] use_devicesfile=0 '
                   f'obtain_device_list_from_udev=0}} backup{{backup=0 archive=0}} '
                   f'activation{{udev_sync=0 udev_rules=0 monitoring=0}}']
            for vg in info.vgs:
                run(["vgchange", "-u", *lvm, vg.name], what=f"vgchange -u {vg.name}")
            for loop in loops:
                run(["pvchange", "-u", *lvm, loop], what=f"pvchange -u {loop}")
        finally:
            for dev in pvs:
                self._detach(dev)
        with open(self._view, "rb") as f:
            return read_lvm(f, [(dev, self._extents[dev].offset, self._extents[dev].size) for dev in pvs]).info

    # ---- file primitives on the host side of the mounts ------------------------

    def _h(self, path: str, follow: bool = True) -> str:
        resolved = guestpath.resolve(path, is_link=lambda p: os.path.islink(self._rootdir + p),
                                     readlink=lambda p: os.readlink(self._rootdir + p), follow_last=follow)
        return self._rootdir + resolved if resolved != "/" else self._rootdir

    def _lstat(self, path):
        return _stat(os.lstat(self._h(path, False)))

    def _stat(self, path):
        return _stat(os.stat(self._h(path)))

    def _readlink(self, path):
        return os.readlink(self._h(path, False))

    def _listdir(self, path):
        return os.listdir(self._h(path))

    def _find(self, path):
        top = self._h(path)
        out = []
        for dirpath, dirs, files in os.walk(top, followlinks=False):
            rel = os.path.relpath(dirpath, top)
            for name in dirs + files:
                out.append(name if rel == "." else f"{rel}/{name}")
        return out

    def _read(self, path):
        fd = os.open(self._h(path), os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def _pread(self, path, size, offset):
        fd = os.open(self._h(path), os.O_RDONLY | os.O_NOFOLLOW)
        try:
            return os.pread(fd, size, offset)
        finally:
            os.close(fd)

    def _put(self, path, data):
        fd = os.open(self._h(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def _rename(self, src, dst):
        os.rename(self._h(src, False), self._h(dst, False))

    def _mkdir(self, path):
        os.mkdir(self._h(path, False))

    def _unlink(self, path):
        os.unlink(self._h(path, False))

    def _rm_rf(self, path):
        host = self._h(path, False)
        if os.path.isdir(host) and not os.path.islink(host):
            shutil.rmtree(host)
        else:
            os.unlink(host)

    def _symlink(self, target, path):
        os.symlink(target, self._h(path, False))

    def _chmod(self, path, mode):
        os.chmod(self._h(path), mode)

    def _lchown(self, path, uid, gid):
        os.lchown(self._h(path, False), uid, gid)

    def _truncate(self, path):
        os.truncate(self._h(path), 0)

    def _getxattr(self, path, name):
        try:
            return os.getxattr(self._h(path, False), name, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.ENOTSUP):
                return None
            raise

    def _setxattr(self, path, name, value):
        os.setxattr(self._h(path, False), name, value, follow_symlinks=False)


def change_fs_uuid(blockdev: str, fstype: str, new_uuid: str) -> None:
    """New UUID on an unmounted file system (ext*: fsck first, as tune2fs demands)."""
    if fstype in ("ext2", "ext3", "ext4"):
        r = run(["e2fsck", "-f", "-p", blockdev], what=f"e2fsck {blockdev}", check=False)
        if r.returncode >= 4:
            raise HostError(f"e2fsck found errors on {blockdev}: {r.stdout.decode(errors='replace')}")
        run(["tune2fs", "-U", new_uuid, blockdev], what=f"tune2fs -U on {blockdev}")
    elif fstype == "xfs":
        run(["xfs_admin", "-U", new_uuid, blockdev], what=f"xfs_admin -U on {blockdev}")
    elif fstype == "swap":
        run(["swaplabel", "-U", new_uuid, blockdev], what=f"swaplabel -U on {blockdev}")
    else:
        raise HostError(f"cannot change the UUID of a {fstype} file system on the loop backend")


def _fsync(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_loop(disk: DiskFile, readonly: bool) -> Iterator[LoopGuest]:
    if not is_root():
        raise LoopUnsupported("the loop backend needs root (losetup and mount)")
    for name in ("losetup", "mount", "umount", "blkid"):
        if tool(name) is None:
            raise LoopUnsupported(f"{name} is not installed")
    if not loop_fstypes():
        raise LoopUnsupported("the host kernel mounts none of " + ", ".join(("ext2", "ext3", "ext4", "xfs")))
    # Named here rather than by mkdtemp so that it is registered before it exists.
    workdir = Path(tempfile.gettempdir()) / f"golden-loop-{uuid.uuid4().hex[:12]}"
    workrec = owners.register("file", workdir)
    try:
        workdir.mkdir(mode=0o700)
    except BaseException:
        owners.release(workrec)
        raise
    stack = contextlib.ExitStack()
    stack.callback(_remove_empty_tree, workdir, workrec)
    try:
        try:
            view = stack.enter_context(raw_view(disk, readonly, workdir))
        except ExportUnavailable as e:
            raise LoopUnsupported(str(e)) from None
        guest = LoopGuest(disk, readonly, view, workdir)
        stack.callback(guest.close)
        guest.scan()
        guest.mount_guest()
        yield guest
    finally:
        # Newest first: mounts, loop devices, the qcow2 exporter, the work directory.
        with signals_deferred():
            stack.close()


def _remove_empty_tree(workdir: Path, rec: owners.Record | None = None) -> None:
    """Remove our work directory, but never through a mount that is still there."""
    still = [m for m in mounted_paths() if m == str(workdir) or m.startswith(f"{workdir}/")]
    if still:
        log.warning("left %s in place: %s still mounted", workdir, ", ".join(sorted(still)))
        return
    for name in ("qsd.log", "disk.raw"):
        with contextlib.suppress(FileNotFoundError):
            (workdir / name).unlink()
    for name in ("probe", "root", ""):
        with contextlib.suppress(FileNotFoundError, OSError):
            (workdir / name).rmdir()
    if not workdir.exists():
        owners.release(rec)
