"""Is anyone using this image right now?

"Guests must be offline before their files can be read. Editing or reading
files of an active guest is not possible and may cause data loss or damage."
(seed 33.7). Three independent signals, cheapest first:

* qemu's own image locks (byte-range OFD locks at offsets 100+ and 200+ that
  every qemu, qemu-storage-daemon and guestfs appliance takes), which catch
  users outside libvirt too;
* loop devices attached to the file (a loop mount left by another run);
* libvirt's running domains, whose disks and backing chains name the file.

A read-write open is refused with an InputError naming the user; a read-only
open proceeds with a warning that what it reads may be inconsistent.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from builder.errors import InputError
from builder.image.diskfile import DiskFile, backing_chain

log = logging.getLogger("golden.image")

DEFAULT_URI = "qemu:///system"
# qemu's lock bytes: 100 + permission bit while holding it, 200 + bit while
# refusing to share it. Bit 1 is BLK_PERM_WRITE.
_QEMU_PERM_WRITE = 101
_QEMU_UNSHARE_WRITE = 201


@dataclass(frozen=True)
class User:
    who: str             # "domain web1", "a qemu process", "/dev/loop3"
    writes: bool         # it may change the image under us
    blocks_writers: bool # writing would corrupt or confuse it


def _key(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _lock_held(fd: int, byte: int) -> bool:
    probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
    got = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, probe)
    return struct.unpack("hhqqi4x", got)[0] != fcntl.F_UNLCK


def qemu_lock_users(path: Path) -> list[User]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return []
    try:
        writes = _lock_held(fd, _QEMU_PERM_WRITE)
        unshares = _lock_held(fd, _QEMU_UNSHARE_WRITE)
    except OSError:
        return []
    finally:
        os.close(fd)
    if not (writes or unshares):
        return []
    return [User("a running qemu process (a VM, qemu-storage-daemon or a guestfs appliance)",
                 writes=writes, blocks_writers=True)]


def loop_users(path: Path) -> list[User]:
    key = _key(path)
    users = []
    for backing in sorted(Path("/sys/block").glob("loop*/loop/backing_file")):
        try:
            name = backing.read_text().strip()
        except OSError:
            continue
        if _key(name) == key:
            dev = f"/dev/{backing.parent.parent.name}"
            users.append(User(f"loop device {dev}", writes=True, blocks_writers=True))
    return users


def _libvirt(uri: str | None):
    try:
        import libvirt
    except ImportError:
        log.debug("python3-libvirt is not installed; not checking for running domains")
        return None
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    uri = uri or os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_URI
    try:
        return libvirt.openReadOnly(uri)
    except libvirt.libvirtError as e:
        log.debug("libvirt is not reachable at %s (%s); not checking for running domains", uri, e)
        return None


def _disk_chains(conn, xml: str) -> list[tuple[list[str], bool]]:
    """Each disk of a domain as (top, backing...) paths and whether the domain writes it."""
    out = []
    root = ET.fromstring(xml)
    for disk in root.iterfind("./devices/disk"):
        if disk.get("device") in ("cdrom", "floppy") and disk.find("source") is None:
            continue
        chain = []
        node = disk
        while node is not None:
            src = node.find("source")
            if src is not None:
                path = src.get("file") or src.get("dev")
                if path is None and src.get("pool") and src.get("volume"):
                    try:
                        path = conn.storagePoolLookupByName(src.get("pool")).storageVolLookupByName(
                            src.get("volume")).path()
                    except Exception:      # a missing pool or volume: nothing to compare
                        path = None
                if path:
                    chain.append(path)
            node = node.find("backingStore")
        if chain:
            # libvirt fills <backingStore> for running domains only; walk the headers too.
            chain += [str(p) for p in backing_chain(Path(chain[0]))]
        writes = disk.find("readonly") is None
        out.append((chain, writes))
    return out


def domain_users(disk: DiskFile, conn) -> tuple[list[User], list[str]]:
    """Running domains using the image, and warnings about ones using its backing files."""
    import libvirt
    me = _key(disk.path)
    below = {_key(p) for p in disk.backing_chain} - {None}
    users, notes = [], []
    try:
        domains = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    except libvirt.libvirtError as e:
        log.debug("cannot list libvirt domains: %s", e)
        return [], []
    for dom in domains:
        try:
            chains = _disk_chains(conn, dom.XMLDesc(0))
        except Exception as e:        # a domain vanishing mid-listing is not our problem
            log.debug("cannot read domain %s: %s", dom.name(), e)
            continue
        for chain, writes in chains:
            keys = [_key(p) for p in chain]
            if me in keys:
                top = keys.index(me) == 0
                users.append(User(f"running domain {dom.name()!r}", writes=top and writes,
                                  blocks_writers=True))
            elif writes and keys and keys[0] in below:
                notes.append(f"running domain {dom.name()!r} writes {chain[0]}, a backing file of "
                             f"this image; what is read through it may be inconsistent")
    return users, notes


def check(disk: DiskFile, *, readonly: bool, connect_uri: str | None = None,
          protect_backing: bool = False) -> list[str]:
    """Refuse a read-write open of an image in use; return warnings for a read-only one."""
    return check_many([disk], readonly=readonly, connect_uri=connect_uri, protect_backing=protect_backing)[0]


def check_many(disks: list[DiskFile], *, readonly: bool, connect_uri: str | None = None,
               protect_backing: bool = False) -> list[list[str]]:
    """`check` for a batch, over one libvirt connection."""
    conn = _libvirt(connect_uri)
    try:
        return [_check_one(d, conn, readonly, protect_backing) for d in disks]
    finally:
        if conn is not None:
            conn.close()


def _check_one(disk: DiskFile, conn, readonly: bool, protect_backing: bool) -> list[str]:
    users = qemu_lock_users(disk.path) + loop_users(disk.path)
    notes: list[str] = []
    if conn is not None:
        more, notes = domain_users(disk, conn)
        if more:
            # The domain holds those qemu locks: name it instead of "a qemu process".
            users = [u for u in users if not u.who.startswith("a running qemu")] + more
    if protect_backing and not readonly:
        overlays = find_overlays(disk.path, conn=conn)
        if overlays:
            shown = ", ".join(str(o) for o in overlays[:5]) + (" ..." if len(overlays) > 5 else "")
            raise InputError(f"the image is the backing file of {len(overlays)} overlay(s): {shown}",
                             where=str(disk.path),
                             hint="changing a base image corrupts its overlays; write to a copy or to an overlay")
    if not readonly:
        blockers = [u for u in users if u.blocks_writers]
        if blockers:
            raise InputError(
                "the image is in use by " + "; ".join(u.who for u in blockers),
                where=str(disk.path),
                hint="shut the guest down first (seed 33.7: guests must be offline before their files "
                     "are changed), or open it read-only")
        return notes
    for u in users:
        if u.writes:
            notes.append(f"the image is in use by {u.who}; guests must be offline before their files can "
                         f"be read, so what is read may be inconsistent")
    return notes


def find_overlays(image: Path, *, conn=None, dirs: list[Path] | None = None) -> list[Path]:
    """qcow2 files whose backing chain includes `image`: in its own folder, in `dirs`,
    in libvirt's storage pools and among all defined domains' disks."""
    me = _key(image)
    if me is None:
        return []
    candidates: set[Path] = set()
    for d in [Path(image).resolve().parent, *(dirs or [])]:
        try:
            candidates.update(p for p in Path(d).iterdir() if p.is_file())
        except OSError:
            continue
    if conn is not None:
        try:
            for pool in conn.listAllStoragePools():
                if not pool.isActive():
                    continue
                for vol in pool.listAllVolumes():
                    candidates.add(Path(vol.path()))
            for dom in conn.listAllDomains(0):
                root = ET.fromstring(dom.XMLDesc(0))
                for src in root.iterfind("./devices/disk/source"):
                    if src.get("file"):
                        candidates.add(Path(src.get("file")))
        except Exception as e:       # libvirt going away mid-scan leaves the folder scan
            log.debug("libvirt overlay scan incomplete: %s", e)
    overlays = []
    for c in sorted(candidates):
        if _key(c) == me:
            continue
        try:
            with open(c, "rb") as f:
                if f.read(4) != b"QFI\xfb":
                    continue
        except OSError:
            continue
        if me in {_key(p) for p in backing_chain(c)}:
            overlays.append(c)
    return overlays
