"""The guestfs backend: a libguestfs appliance mounts the guest's file systems.

One appliance serves a whole batch: every image is a drive of the same
appliance, and a guest spread over several disks owns several drives. Only
one guest is mounted at a time (at the appliance's /), so the guest's own
absolute symlinks resolve the way the guest sees them; a handle mounts its
guest again when it is used after another one.
"""

from __future__ import annotations

import errno
import logging
import os
import string
import tempfile
import time

from builder import owners
from builder.errors import HostError, InputError
from builder.image import guestpath
from builder.image.diskfile import DiskFile
from builder.image.guest import BIG, Guest, no_os_error
from builder.image.host import signals_deferred
from builder.image.luks import LuksKey, keys_for
from builder.image.fstab import crypttab_names
from builder.image.lvm import dashed, read_pv_label
from builder.image.model import (Filesystem, Layout, LogicalVolume, LvmInfo, Mount, Partition,
                                 PhysicalVolume, Stat, VolumeGroup)
from builder.image.partitions import PartitionTableError, read_table

log = logging.getLogger("golden.image")

_CHUNK = 1024 * 1024
_MD_RETRIES = 4
_STRERROR = {os.strerror(n): n for n in sorted(errno.errorcode, reverse=True)}


def guestfs_settings() -> list[str]:
    """Appliance backend settings: the environment first, then the host probe, else TCG.

    KVM hangs on these machines, so without other information the appliance
    runs under TCG; a host with working KVM gets it through the probe
    (builder/virt/accel.py) or LIBGUESTFS_BACKEND_SETTINGS.
    """
    env = os.environ.get("LIBGUESTFS_BACKEND_SETTINGS")
    if env is not None:
        return [s for s in env.split(":") if s]
    try:
        from builder.virt import accel
        got = accel.guestfs_settings()
    except Exception as e:      # no probe, or a probe that failed: TCG always works
        log.debug("accelerator probe unavailable (%s); the appliance uses TCG", e)
        return ["force_tcg"]
    if isinstance(got, dict):   # the probe returns the environment libguestfs would read
        got = got.get("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg").split(":")
    return [s for s in got if s]


def _import_guestfs():
    try:
        import guestfs
    except ImportError:
        raise HostError("the libguestfs Python binding is not installed",
                        hint="install python3-guestfs (Debian) or python3-libguestfs (Fedora/RHEL); "
                             "it is not on PyPI") from None
    return guestfs


def _oserror(e: RuntimeError, path: str | None) -> OSError:
    msg = str(e)
    for text, num in _STRERROR.items():
        if msg.endswith(text):
            return OSError(num, text, path)
    return OSError(errno.EIO, msg, path)


class GuestfsSession:
    """One appliance, many drives; each guest is one or more consecutive drives (`groups`)."""

    def __init__(self, groups: list[list[DiskFile]], readonly: list[bool], keys: tuple[LuksKey, ...] = ()):
        guestfs = _import_guestfs()
        self.g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
        if "LIBGUESTFS_BACKEND" not in os.environ:
            self.g.set_backend("direct")
        self.g.set_backend_settings(guestfs_settings())
        disks = [d for group in groups for d in group]
        self.disks = disks
        self.keys = keys
        self.active: GuestfsGuest | None = None
        self.lvm_filter_needed = False
        self._lvm_reports: tuple[list, list, list] | None = None
        self.guests: list[GuestfsGuest] = []
        self._launched = False
        self._owner: owners.Record | None = None
        try:
            for disk, ro in ((d, ro) for group, ro in zip(groups, readonly) for d in group):
                # discard passes the guest's fstrim down to the image file (holes, qcow2 zero clusters):
                # compaction without reading every free block, which under TCG is most of a seal.
                extra = {} if ro else {"discard": "besteffort"}
                self.g.add_drive_opts(str(disk.path), format=disk.format, readonly=ro, **extra)
            log.info("launching the guestfs appliance for %d image(s); this takes a while without KVM",
                     len(disks))
            self.g.launch()
            self._launched = True
            self._register_appliance()
        except RuntimeError as e:
            self.close()
            raise HostError(f"the guestfs appliance did not start: {e}",
                            hint="run `libguestfs-test-tool` to see why; without KVM set "
                                 "LIBGUESTFS_BACKEND_SETTINGS=force_tcg") from None
        devices = self.g.list_devices()
        # Clones share VG names and PV UUIDs: with PVs on several drives, LVM
        # inside the appliance must see one drive at a time. (LVM itself hides
        # a duplicate PV, so ask the disks, not `pvs`.)
        pv_drives = {dev.rstrip("0123456789") for dev in devices + self.g.list_partitions()
                     if self._has_pv_label(dev)}
        first = 0
        for index, (group, ro) in enumerate(zip(groups, readonly)):
            self.guests.append(GuestfsGuest(self, index, devices[first:first + len(group)], group, ro))
            first += len(group)
        # A VG spread over one guest's disks needs no filter; PVs of two guests do.
        self.lvm_filter_needed = len({i for i, g in enumerate(self.guests)
                                      if any(d in pv_drives for d in g._devs)}) > 1

    def _register_appliance(self) -> None:
        """Record the appliance's qemu for the reaper (builder/owners.py).

        Its pid exists only once launch() has forked it; a SIGKILL before this
        point is covered by libguestfs's recovery process, which kills qemu
        when its parent dies.
        """
        try:
            pid = self.g.get_pid()
        except RuntimeError:            # backends without a local qemu (libvirt) report none
            return
        argv = owners.proc_cmdline(pid)
        marker = next((str(d.path) for d in self.disks if any(str(d.path) in a for a in argv)), None)
        if argv and marker:
            self._owner = owners.register("process", marker, exe=os.path.basename(argv[0]), pid=pid,
                                          start=owners.proc_start(pid))

    def _has_pv_label(self, dev: str) -> bool:
        try:
            return read_pv_label(_DeviceReader(self.g, dev), 0) is not None
        except RuntimeError:         # an extended partition's 1 KiB stub, say
            return False

    def lvm_reports(self) -> tuple[list, list, list]:
        """pvs, vgs and lvs of the appliance; one set serves every guest unless LVM is filtered per guest."""
        if self._lvm_reports is None or self.lvm_filter_needed:
            self._lvm_reports = (self.g.pvs_full(), self.g.vgs_full(), self.g.lvs_full())
        return self._lvm_reports

    def activate(self, guest: GuestfsGuest) -> None:
        if self.active is guest:
            return
        self.g.umount_all()
        self.active = None
        if self.lvm_filter_needed:
            self.g.lvm_set_filter(guest.appliance_devices())
        for m, target in guest._targets:
            guest._mount(m, target)
        self.active = guest

    def close(self) -> None:
        with signals_deferred():
            try:
                if self._launched:
                    self.g.umount_all()
                    self.g.shutdown()        # flushes writes before qemu exits
            except RuntimeError as e:
                log.warning("guestfs shutdown: %s", e)
            finally:
                self._launched = False
                self.g.close()
                owners.release(self._owner)
                self._owner = None


class GuestfsGuest(Guest):
    backend = "guestfs"

    def __init__(self, session: GuestfsSession, index: int, appliance_devs: list[str], disks: list[DiskFile],
                 readonly: bool):
        super().__init__(disks[0], readonly, tuple(disks[1:]))
        self._s = session
        self._g = session.g
        self._devs = appliance_devs        # /dev/sdc, /dev/sdd inside the appliance: this guest's sda, sdb
        self.index = index
        self._targets: list[tuple[Mount, str]] = []
        self._mds: list[str] = []
        self._opened: dict[str, str] = {}     # guest's LUKS device -> the appliance's /dev/mapper/NAME
        self._luks_uuids: dict[str, str] = {}

    # ---- names: the appliance's /dev/sdcN is this guest's /dev/sdaN, /dev/sddN its /dev/sdbN ----------

    def _to_guest(self, dev: str) -> str:
        for i, mine in enumerate(self._devs):
            rest = dev[len(mine):]
            if dev.startswith(mine) and (rest == "" or rest.isdigit()):
                return guest_disk(i) + rest
        return dev

    def _to_appliance(self, dev: str) -> str:
        for i, mine in enumerate(self._devs):
            name = guest_disk(i)
            rest = dev[len(name):]
            if dev.startswith(name) and (rest == "" or rest.isdigit()):
                return mine + rest
        return dev

    def appliance_devices(self) -> list[str]:
        parts = self._g.list_partitions()
        return [d for dev in self._devs
                for d in [dev] + [p for p in parts if p.startswith(dev) and p[len(dev):].isdigit()]] + \
            list(self._opened.values())

    # ---- discovery --------------------------------------------------------------------------

    def scan(self) -> None:
        # The appliance's udev assembles MD arrays in the background: on a loaded host the scan can
        # come first and see bare members. Look again a few times before calling them unassembled.
        for attempt in range(_MD_RETRIES):
            self._scan()
            waiting = [u for u in self.layout.unopened if u.startswith("MD array member")]
            if not waiting or self._opened or attempt == _MD_RETRIES - 1:
                return
            log.info("%s: MD members not assembled yet (%s); looking again", self.image, ", ".join(waiting))
            time.sleep(2)

    def _scan(self) -> None:
        g = self._g
        if self._s.lvm_filter_needed:
            self._s.active = None
            g.umount_all()
            g.lvm_set_filter(self.appliance_devices())
        layout = Layout()
        blocks = []
        for i, dev in enumerate(self._devs):
            parts = self._partitions(dev, guest_disk(i))
            layout.partitions += parts
            if parts:
                blocks += [(p.device, p.size) for p in parts if p.kind != "extended"]
            else:
                blocks.append((guest_disk(i), g.blockdev_getsize64(dev)))
        self._mds, members = self._md_arrays()
        blocks += [(md, g.blockdev_getsize64(md)) for md in self._mds]
        if self._s.keys:
            blocks += self._open_luks(blocks)
        layout.lvm = self._lvm()
        blocks += [(lv.path, lv.size) for lv in layout.lvm.lvs]
        for dev, size in blocks:
            try:
                # One blkid call per device: every appliance call that runs a
                # program costs a fraction of a second under TCG.
                info = g.blkid(self._to_appliance(dev))
            except RuntimeError:
                continue
            fstype = info.get("TYPE", "")
            if fstype == "linux_raid_member":
                if dev not in members:
                    layout.unopened.append(f"MD array member {dev} (the appliance did not assemble its array)")
                continue
            if fstype == "crypto_LUKS":
                if dev not in self._opened:
                    layout.unopened.append(f"LUKS container {dev} (no key given)")
                continue
            if fstype in ("", "LVM2_member"):
                continue
            layout.filesystems.append(Filesystem(dev, fstype, info.get("LABEL", ""), info.get("UUID", ""), size))
        self.layout = layout

    def _open_luks(self, blocks: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Open each LUKS container a --key names; returns the opened devices (as this guest sees them).

        LVM inside an opened container only shows once its PVs are scanned
        again, so the session's LVM reports are dropped after an open.
        """
        g = self._g
        opened = []
        for dev, _size in blocks:
            if dev in self._opened:
                continue
            app = self._to_appliance(dev)
            try:
                if g.vfs_type(app) != "crypto_LUKS":
                    continue
                uuid = g.luks_uuid(app) if hasattr(g, "luks_uuid") else ""
            except RuntimeError:
                continue
            keys = keys_for(self._s.keys, dev, uuid)
            if not keys:
                continue
            # Unique across the batch: clones share LUKS UUIDs and partition names.
            name = f"luks{self.index}-{dev.rsplit('/', 1)[1]}"
            for key in keys:
                try:
                    if hasattr(g, "cryptsetup_open"):
                        g.cryptsetup_open(app, key.secret, name, readonly=self.readonly)
                    elif self.readonly:
                        g.luks_open_ro(app, key.secret, name)
                    else:
                        g.luks_open(app, key.secret, name)
                except RuntimeError:
                    # The error text is cryptsetup's; it never holds the key, but say only what the user needs.
                    continue
                break
            else:
                raise InputError(f"wrong key for LUKS container {dev}", where=str(self.image),
                                 hint="check the --key given for " + ", ".join(
                                     dict.fromkeys(k.selector for k in keys)) + " (no key slot opened with it)")
            mapper = f"/dev/mapper/{name}"
            self._opened[dev] = mapper
            self._luks_uuids[dev] = uuid
            log.info("%s: opened LUKS container %s as %s", self.image, dev, mapper)
            opened.append((mapper, g.blockdev_getsize64(mapper)))
        if opened:
            g.vgscan()
            g.vg_activate_all(True)
            self._s._lvm_reports = None
            if self._s.lvm_filter_needed:
                g.lvm_set_filter(self.appliance_devices())
        return opened

    def _md_arrays(self) -> tuple[list[str], set[str]]:
        """MD arrays the appliance assembled from this guest's partitions, and their members (guest names).

        Array names are the appliance's (/dev/md127 for an array the guest
        calls md0); fstab entries name arrays by UUID in practice.
        """
        g = self._g
        mine = set(self.appliance_devices())
        arrays, members = [], set()
        for md in sorted(g.list_md_devices()):
            devs = {d["mdstat_device"] if d["mdstat_device"].startswith("/dev/") else "/dev/" + d["mdstat_device"]
                    for d in g.md_stat(md)}
            if devs & mine:
                arrays.append(md)
                members |= {self._to_guest(d) for d in devs}
        return arrays, members

    def _partitions(self, dev: str, name: str) -> list[Partition]:
        """Types, flags and GUIDs from the table bytes the appliance reads; geometry checked against parted.

        `dev` is the appliance's drive, `name` the guest's (/dev/sdb). Asking
        parted or sgdisk for each field costs about 0.3-0.8 s per call under
        TCG; reading the table sectors is one quick call each.
        """
        g = self._g
        image = self.disks[self._devs.index(dev)].path
        try:
            table = read_table(_DeviceReader(g, dev), g.blockdev_getsize64(dev), name)
        except PartitionTableError as e:
            raise HostError(f"cannot read the partition table of {image}: {e}") from None
        if table.kind == "none":
            return []
        parted = {p["part_num"]: (p["part_start"], p["part_size"]) for p in g.part_list(dev)}
        ours = {p.number: (p.start, p.size) for p in table.partitions}
        if parted != ours:
            log.warning("%s: parted and golden read the partition table differently: %s vs %s",
                        image, parted, ours)
        return list(table.partitions)

    def _lvm(self) -> LvmInfo:
        g = self._g
        mine = set(self.appliance_devices()) | set(self._mds)     # PVs on an MD array count as ours
        reports = self._s.lvm_reports()
        pvs_full = {dashed(p["pv_uuid"]): p for p in reports[0]}
        lvs_full = {dashed(lv["lv_uuid"]): lv for lv in reports[2]}
        vgs, lvs, pvs = [], [], []
        for vg in sorted(reports[1], key=lambda v: v["vg_name"]):
            name = vg["vg_name"]
            pv_devs = [pvs_full[u]["pv_name"] for u in g.vgpvuuids(name) if u in pvs_full]
            if not any(d in mine for d in pv_devs):
                continue
            vgs.append(VolumeGroup(name=name, uuid=dashed(vg["vg_uuid"]), extent_size=vg["vg_extent_size"],
                                   size=vg["vg_size"], pvs=tuple(sorted(self._to_guest(d) for d in pv_devs))))
            for u in g.vgpvuuids(name):
                if u in pvs_full:
                    pvs.append(PhysicalVolume(self._to_guest(pvs_full[u]["pv_name"]), u, name))
            for u in g.vglvuuids(name):
                lv = lvs_full.get(u)
                if lv is None:
                    continue
                lvs.append(LogicalVolume(name=lv["lv_name"], vg=name, path=f"/dev/{name}/{lv['lv_name']}",
                                         uuid=u, size=lv["lv_size"]))
        lvs.sort(key=lambda lv: (lv.vg, lv.name))
        return LvmInfo(vgs=tuple(vgs), lvs=tuple(lvs), pvs=tuple(sorted(pvs, key=lambda p: p.device)))

    def mount_guest(self) -> None:
        g = self._g
        root = fstab = None
        for fs in self._root_candidates():
            found = self._probe_root(self._to_appliance(fs.device), fs.fstype)
            if found is not None:
                root, (self.layout.root_subvol, fstab, crypttab) = fs.device, found
                break
            if fs.fstype == "btrfs":
                self.layout.unopened.append(f"btrfs {fs.device} (no subvolume holds /etc/fstab and an os-release)")
        self._s.active = None
        if root is None:
            return
        self.layout.root = root
        if crypttab and self._opened:
            self.layout.mapper_names = crypttab_names(
                crypttab, {dev: (self._luks_uuids.get(dev, ""), self._to_guest(mapper))
                           for dev, mapper in self._opened.items()},
                self.layout.filesystems, self.layout.partitions)
        for m in self._plan_mounts(fstab, root):
            # Follow the guest's own symlinks to the mount point, as mount(8) in the guest would.
            target = "/" if m.mountpoint == "/" else guestpath.resolve(
                m.mountpoint, is_link=lambda p: g.is_symlink(p), readlink=g.readlink)
            if target != "/" and not g.is_dir(target):
                note = f"mount point {m.mountpoint} for {m.device} does not exist in the guest; not mounted"
                log.warning("%s: %s", self.image, note)
                self.layout.notes.append(note)
                continue
            self._targets.append((m, target))
            self._mount(m, target)
            self.layout.mounts.append(m)
        self._s.active = self

    def _probe_root(self, dev: str, fstype: str) -> tuple[str, str, str] | None:
        """(subvolume option, fstab text, crypttab text or "") if `dev` holds an OS root; a btrfs root may be
        any subvolume."""
        g = self._g
        choices = [""]
        g.umount_all()
        try:
            g.mount_ro(dev, "/")
        except RuntimeError:
            return None
        try:
            if fstype == "btrfs":
                # Shallow first: "@" before a snapper snapshot such as "@/.snapshots/1/snapshot".
                paths = [v["btrfssubvolume_path"] for v in g.btrfs_subvolume_list("/")]
                choices += [f"subvol={p}" for p in sorted(paths, key=lambda p: (p.count("/"), p))]
            for i, subvol in enumerate(choices):
                if i:
                    g.umount_all()
                    try:
                        g.mount_options(f"ro,{subvol}", dev, "/")
                    except RuntimeError:
                        continue
                if self._is_root(g.is_file, g.exists):
                    crypttab = g.read_file("/etc/crypttab").decode("utf-8", "replace") \
                        if self._opened and g.is_file("/etc/crypttab") else ""
                    return subvol, g.read_file("/etc/fstab").decode("utf-8", "replace"), crypttab
            return None
        finally:
            g.umount_all()

    def _mount(self, m: Mount, target: str) -> None:
        dev = self._to_appliance(m.device)
        try:
            if m.subvol:
                self._g.mount_options(("ro," if self.readonly else "") + m.subvol, dev, target)
            elif self.readonly:
                self._g.mount_ro(dev, target)
            else:
                self._g.mount(dev, target)
        except RuntimeError as e:
            raise HostError(f"guestfs could not mount {m.device} at {m.mountpoint}: {e}") from None

    def _set_fs_uuid(self, device: str, new_uuid: str) -> None:
        g = self._g
        self._s.activate(self)
        dev = self._to_appliance(device)
        fs = next(f for f in self.layout.filesystems if f.device == device)
        g.umount_all()
        self._s.active = None
        try:
            if fs.fstype.startswith("ext"):
                g.e2fsck(dev, correct=True)
            g.set_uuid(dev, new_uuid)
        except RuntimeError as e:
            raise HostError(f"could not change the UUID of {device}: {e}") from None
        finally:
            self._s.activate(self)

    # ---- file primitives ----------------------------------------------------------------

    def _call(self, fn, *args, path=None, **kw):
        self._s.activate(self)
        try:
            return fn(*args, **kw)
        except RuntimeError as e:
            raise _oserror(e, path) from None

    @staticmethod
    def _st(d: dict) -> Stat:
        return Stat(d["st_mode"], d["st_uid"], d["st_gid"], d["st_size"], d["st_nlink"], d["st_mtime_sec"],
                    d["st_dev"], d["st_ino"])

    def _lstat(self, path):
        return self._st(self._call(self._g.lstatns, path, path=path))

    def _stat(self, path):
        return self._st(self._call(self._g.statns, path, path=path))

    def _readlink(self, path):
        return self._call(self._g.readlink, path, path=path)

    def _listdir(self, path):
        return self._call(self._g.ls, path, path=path)

    def _find(self, path):
        # find(1) in the appliance names entries relative to `path`, with or without a leading slash.
        return [rel.lstrip("/") for rel in self._call(self._g.find, path, path=path)]

    def _read(self, path):
        # read_file goes through the appliance's file-transfer channel (about 0.2 s a call
        # under TCG); pread is a plain call.
        chunks = []
        offset = 0
        while True:
            data = self._call(self._g.pread, path, _CHUNK, offset, path=path)
            chunks.append(data)
            offset += len(data)
            if len(data) < _CHUNK:
                return b"".join(chunks)

    def _pread(self, path, size, offset):
        return self._call(self._g.pread, path, size, offset, path=path)

    def _put(self, path, data):
        if len(data) < BIG:
            self._call(self._g.write, path, data, path=path)
            return
        with tempfile.NamedTemporaryFile(prefix="golden-upload-") as tmp:
            tmp.write(data)
            tmp.flush()
            self._call(self._g.upload, tmp.name, path, path=path)

    def _rename(self, src, dst):
        self._call(self._g.rename, src, dst, path=dst)

    def _mkdir(self, path):
        self._call(self._g.mkdir, path, path=path)

    def _unlink(self, path):
        self._call(self._g.rm, path, path=path)

    def _rm_rf(self, path):
        self._call(self._g.rm_rf, path, path=path)

    def _symlink(self, target, path):
        self._call(self._g.ln_s, target, path, path=path)

    def _chmod(self, path, mode):
        self._call(self._g.chmod, mode, path, path=path)

    def _lchown(self, path, uid, gid):
        self._call(self._g.lchown, uid, gid, path, path=path)

    def _truncate(self, path):
        self._call(self._g.truncate, path, path=path)

    def _getxattr(self, path, name):
        self._s.activate(self)
        try:
            return self._g.lgetxattr(path, name)
        except RuntimeError as e:
            err = _oserror(e, path)
            if err.errno in (errno.ENODATA, errno.ENOTSUP):
                return None
            raise err from None

    def _setxattr(self, path, name, value):
        self._call(self._g.lsetxattr, name, value, len(value), path, path=path)

    # ---- LVM identity (seal's lvm-uuids) -----------------------------------------------

    def _new_lvm_uuids(self) -> LvmInfo:
        """New PV and VG UUIDs, one device and one VG at a time.

        Not pvchange_uuid_all/vgchange_uuid_all: the appliance may hold other
        guests of the batch, whose PVs must keep theirs. LVM refuses a new VG
        UUID while LVs are active (their device-mapper UUIDs embed it), so the
        guest is unmounted and its VGs deactivated around the change.
        """
        g = self._g
        mine = self.layout.lvm
        names = [vg.name for vg in mine.vgs]
        self._s.activate(self)
        g.umount_all()
        self._s.active = None
        try:
            if self._s.lvm_filter_needed:
                g.lvm_set_filter(self.appliance_devices())
            g.vg_activate(False, names)
            for name in names:
                g.vgchange_uuid(name)
            for pv in mine.pvs:
                g.pvchange_uuid(self._to_appliance(pv.device))
        except RuntimeError as e:
            raise HostError(f"could not give {self.image}'s LVM new UUIDs: {e}") from None
        finally:
            g.vg_activate(True, names)
            self._s._lvm_reports = None
            self._s.activate(self)
        return self._lvm()


class _DeviceReader:
    """A read-only file object over an appliance device, for the partition table parser."""

    def __init__(self, g, dev: str):
        self._g, self._dev, self._pos = g, dev, 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos
        return pos

    def read(self, size: int) -> bytes:
        data = self._g.pread_device(self._dev, size, self._pos)
        self._pos += len(data)
        return data


def guest_disk(i: int) -> str:
    """The guest-neutral name of a guest's i-th disk: /dev/sda, /dev/sdb, ... (at most 26; access.py checks)."""
    return "/dev/sd" + string.ascii_lowercase[i]


def open_session(groups: list[list[DiskFile]], readonly: list[bool],
                 keys: tuple[LuksKey, ...] = ()) -> GuestfsSession:
    session = GuestfsSession(groups, readonly, keys)
    try:
        for guest in session.guests:
            guest.scan()
            guest.mount_guest()
            if guest.layout.root is None:
                raise no_os_error(guest.image, guest.layout.unopened)
    except BaseException:
        session.close()
        raise
    return session
