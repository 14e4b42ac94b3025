"""Remote libvirt hosts: golden's storage pool there, and files moved through volumes.

A daemon reached as qemu+ssh://host/system cannot open this machine's
paths. Everything an install hands it travels through libvirt storage
volumes instead (volume_io.py moves the bytes): install media and side
media are uploaded, disks are
created in golden's pool, the serial log is written there and read back
while the install runs, and the installed disks are downloaded into the
local build directory so inspect and seal work on them as usual. Streams are
sparse where both ends allow it, so a 20 GiB disk with 1 GiB written moves
1 GiB.

Volume names say who owns them:

    NAME-disk0.qcow2, NAME-serial.log          the domain NAME's; kept with it
    NAME.media.golden-PID-HOST                 one install's upload; deleted when
                                               it ends, or by the next golden run
                                               on HOST once PID is gone
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlparse
from xml.etree import ElementTree as ET

from builder import install_methods
from builder.errors import HostError, InputError
from builder.fsutil import atomic_path
from builder.virt.volume_io import Progress, download, read_from, upload  # noqa: F401 (part of this API)
from builder.virt.owner import pid_alive

POOL_ENV = "GOLDEN_REMOTE_POOL"
DEFAULT_POOL = "golden"

Event = Callable[[str], None]

_TRANSIENT = re.compile(r"^(?P<domain>.+)\.(?P<role>[a-z0-9-]+)\.golden-(?P<pid>\d+)-(?P<host>.+)$")


# --- the pool ----------------------------------------------------------------

@dataclass(frozen=True)
class Pool:
    name: str
    path: str            # its directory on the remote host
    obj: object = field(compare=False, repr=False)


def _pool_target(pool) -> tuple[str, str]:
    root = ET.fromstring(pool.XMLDesc(0))
    return root.get("type", ""), root.findtext("./target/path") or ""


def _uri_path(uri: str) -> str:
    return urlparse(uri).path.rstrip("/")


def choose_pool_path(conn, uri: str) -> str:
    """Where golden's pool goes on the remote host, decided from what that host has.

    Beside the host's own images, so its SELinux label (virt_image_t) and
    permissions already suit qemu there.
    """
    import libvirt

    with contextlib.suppress(libvirt.libvirtError):
        kind, path = _pool_target(conn.storagePoolLookupByName("default"))
        if kind == "dir" and path:
            return f"{path.rstrip('/')}/golden"
    if _uri_path(uri) == "/system":
        return "/var/lib/libvirt/images/golden"
    raise HostError(f"cannot tell where to keep golden's volumes on {uri}: it has no `default` storage pool",
                    hint=f"define a directory pool named {DEFAULT_POOL} there, e.g. `virsh -c {uri} "
                         f"pool-define-as {DEFAULT_POOL} dir --target DIR && virsh -c {uri} pool-build "
                         f"{DEFAULT_POOL} && virsh -c {uri} pool-start {DEFAULT_POOL}`")


def golden_pool(conn, uri: str, on_event: Event = lambda message: None) -> Pool:
    """golden's directory pool on the remote host, defined and started if need be."""
    import libvirt

    name = os.environ.get(POOL_ENV) or DEFAULT_POOL
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        pool = None
    if pool is None:
        path = choose_pool_path(conn, uri)
        root = ET.Element("pool", type="dir")
        ET.SubElement(root, "name").text = name
        ET.SubElement(ET.SubElement(root, "target"), "path").text = path
        try:
            pool = conn.storagePoolDefineXML(ET.tostring(root, encoding="unicode"), 0)
            on_event(f"defined storage pool {name} at {path} on {conn.getHostname()}")
        except libvirt.libvirtError:
            try:                              # another golden run defined it first
                pool = conn.storagePoolLookupByName(name)
            except libvirt.libvirtError as exc:
                raise HostError(f"cannot define storage pool {name} at {path} on {uri}: {exc}") from exc
    kind, path = _pool_target(pool)
    if kind not in ("dir", "fs", "netfs"):
        raise HostError(f"storage pool {name} on {uri} is a {kind} pool; golden keeps files in a directory pool",
                        hint=f"set {POOL_ENV} to the name of a directory pool")
    if not pool.isActive():
        with contextlib.suppress(libvirt.libvirtError):
            pool.build(0)                     # creates the directory; harmless when it exists
        try:
            pool.create(0)
        except libvirt.libvirtError as exc:
            if not pool.isActive():
                raise HostError(f"cannot start storage pool {name} ({path}) on {uri}: {exc}") from exc
        with contextlib.suppress(libvirt.libvirtError):
            pool.setAutostart(1)
    with contextlib.suppress(libvirt.libvirtError):
        pool.refresh(0)
    return Pool(name=name, path=path, obj=pool)


def lookup_volume(pool: Pool, name: str):
    import libvirt

    try:
        return pool.obj.storageVolLookupByName(name)
    except libvirt.libvirtError:
        return None


def create_volume(pool: Pool, name: str, capacity: int, fmt: str = "raw", allocation: int = 0):
    import libvirt

    root = ET.Element("volume")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "capacity", unit="bytes").text = str(capacity)
    ET.SubElement(root, "allocation", unit="bytes").text = str(allocation)
    ET.SubElement(ET.SubElement(root, "target"), "format", type=fmt)
    try:
        return pool.obj.createXML(ET.tostring(root, encoding="unicode"), 0)
    except libvirt.libvirtError as exc:
        raise HostError(f"cannot create volume {name} in pool {pool.name}: {exc}") from exc


def delete_volume(pool: Pool, name: str) -> bool:
    import libvirt

    vol = lookup_volume(pool, name)
    if vol is None:
        return False
    try:
        vol.delete(0)
        return True
    except libvirt.libvirtError:
        return False


# --- what virt-install sees --------------------------------------------------

@dataclass(frozen=True)
class RemoteLayout:
    """Where an install's files are on the remote host: what install_cmd writes into the argv."""
    pool: str
    pool_path: str
    disks: tuple[str, ...]                 # volume names, in profile order
    serial_log: str                        # a path there: log.file= takes no volume
    uploads: Mapping[str, str] = field(default_factory=dict)   # local path -> volume name
    boot: tuple[Path, Path] | None = None  # local kernel and initrd virt-install uploads itself

    def volume(self, name: str) -> str:
        return f"vol={self.pool}/{name}"

    def source(self, path) -> str:
        """`vol=POOL/NAME` for a local file that was uploaded; a local path never reaches the argv."""
        name = self.uploads.get(str(path))
        if name is None:
            raise HostError(f"{path} is a local file and the libvirt host is remote; golden has no volume for it",
                            hint="this is a bug in golden: please report it with the profile")
        return self.volume(name)


# --- one install's volumes ---------------------------------------------------

def _host() -> str:
    return socket.gethostname()


def transient_name(domain: str, role: str, pid: int | None = None) -> str:
    return f"{domain}.{role}.golden-{pid or os.getpid()}-{_host()}"


def owned_names(domain: str, names) -> list[str]:
    """The volumes in `names` that belong to domain `domain` (disks, serial log, CDs given to it)."""
    rx = re.compile(re.escape(domain) + r"-(disk\d+\.[a-z0-9]+|serial\.log(\.\d+)?|cd-.+)$")
    return [n for n in names if rx.match(n)]


def upload_for_domain(conn, uri: str, domain: str, src: Path, on_event: Event = lambda message: None) -> Path:
    """Send `src` to the remote host as a CD image the domain keeps; returns its path there."""
    pool = golden_pool(conn, uri, on_event)
    name = f"{domain}-cd-{re.sub(r'[^A-Za-z0-9._-]', '_', Path(src).name)}"
    delete_volume(pool, name)                 # a new upload replaces it whole, never patches it
    vol = create_volume(pool, name, Path(src).stat().st_size)
    try:
        on_event(f"uploading {src} ({_mib(Path(src).stat().st_size)}) to {pool.name}/{name} on {conn.getHostname()}")
        upload(conn, vol, Path(src))
    except BaseException:
        delete_volume(pool, name)
        raise
    return Path(vol.path())


def reap_transient(pool: Pool) -> list[str]:
    """Delete uploads left by golden runs on this host that died without cleaning up."""
    reaped = []
    for vol in pool.obj.listAllVolumes(0):
        m = _TRANSIENT.match(vol.name())
        if m and m["host"] == _host() and not pid_alive(int(m["pid"])):
            if delete_volume(pool, vol.name()):
                reaped.append(vol.name())
    return reaped


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


# The layout file of each method's side medium, named for the method; then Windows' driver media.
_ROLES = {**{m.media_file: m.name for m in install_methods.METHODS.values() if m.media_file},
          "driver_floppy": "drivers-floppy", "driver_iso": "drivers-iso"}


class Staging:
    """The volumes of one install on a remote host, from upload to download and cleanup."""

    def __init__(self, conn, uri: str, domain: str, on_event: Event = lambda message: None,
                 forget: list[str] = ()):
        self.conn, self.uri, self.domain = conn, uri, domain
        self.event = on_event
        self.pool = golden_pool(conn, uri, on_event)
        self.created: list[str] = []          # every volume this run made, in order
        self.layout: RemoteLayout | None = None
        self.local_serial: Path | None = None
        self.local_disks: list[Path] = []
        self._serial_offset = 0
        for name in reap_transient(self.pool):
            on_event(f"deleted volume {name} left by an interrupted golden run")
        for name in forget:                   # domains of killed golden runs, just removed
            self.forget_domain(name)

    @property
    def host(self) -> str:
        return self.conn.getHostname()

    def forget_domain(self, name: str) -> None:
        """Delete the volumes of a domain that was just removed (an orphan of a killed run)."""
        for vol in owned_names(name, [v.name() for v in self.pool.obj.listAllVolumes(0)]):
            if delete_volume(self.pool, vol):
                self.event(f"deleted volume {vol} of removed domain {name}")

    def virt_type(self) -> str:
        """kvm or qemu for this host's guests, probed there (see remote_accel.py)."""
        from builder.virt import remote_accel

        result = remote_accel.probe(self.conn, self.uri, self.pool)
        self.event(f"accelerator on {self.host}: {result.accel} ({result.reason})")
        return result.virt_type

    # -- before virt-install --

    def _candidates(self, plan, media: str | None) -> dict[str, str]:
        """Local files the argv may name, and the role of each."""
        out = {}
        if media and Path(media).is_file():
            out[str(Path(media))] = "media"
        for attr, role in _ROLES.items():
            path = getattr(plan.layout, attr)
            if path.is_file():
                out[str(path)] = role
        return out

    def _boot_files(self, plan, loaded, media: str | None) -> tuple[Path, Path] | None:
        """virt-install refuses a local ISO as --location on a remote host; hand it the kernel and initrd."""
        p = loaded.profile
        if not install_methods.get(p.install.method).tree_boot and p.virt != "pv":
            return None
        if not media or p.install.media_is_url:
            return None
        if Path(media).is_dir():
            raise InputError(f"install media {media} is a local folder, which a remote libvirt host cannot read",
                             where="install.media",
                             hint="use an ISO (golden uploads it) or an http:// tree the remote host can reach")
        from builder.net import bootfiles

        boot = bootfiles.from_iso(Path(media), p.arch)
        out = plan.layout.media_dir / "remote-boot"
        paths = []
        for name, data in (("vmlinuz", boot.kernel), ("initrd.img", boot.initrd)):
            target = out / name
            with atomic_path(target) as tmp:
                tmp.write_bytes(data if isinstance(data, bytes) else Path(data).read_bytes())
            paths.append(target)
        return paths[0], paths[1]

    def plan_layout(self, plan, loaded, media: str | None) -> RemoteLayout:
        p = loaded.profile
        disks = tuple(f"{self.domain}-disk{i}.{d.format}" for i, d in enumerate(p.disks))
        uploads = {path: transient_name(self.domain, role)
                   for path, role in self._candidates(plan, media).items()}
        serial = f"{self.domain}-serial.log"
        return RemoteLayout(pool=self.pool.name, pool_path=self.pool.path, disks=disks,
                            serial_log=f"{self.pool.path.rstrip('/')}/{serial}", uploads=uploads,
                            boot=self._boot_files(plan, loaded, media))

    def stage(self, plan, loaded, media: str | None) -> list[str]:
        """Create the disks and serial log, upload what the argv names; returns the remote argv."""
        from builder import catalog
        from builder.virt.install_cmd import build_argv

        p = loaded.profile
        layout = self.plan_layout(plan, loaded, media)
        target = replace(plan.target, remote=layout)
        argv = build_argv(p, catalog.get(p.os), plan.layout, target)
        used = {path: name for path, name in layout.uploads.items()
                if any(layout.volume(name) in token for token in argv)}
        self.layout = replace(layout, uploads=used)
        self.local_disks = list(plan.layout.disks)
        self._remove_leftovers()
        self._create_disks(loaded, plan)
        self._create_serial_log(plan.layout.serial_log)
        for path, name in used.items():
            self._upload(Path(path), name)
        return argv

    def _remove_leftovers(self) -> None:
        # The domain does not exist (preflight checked): volumes named after it are an interrupted run's.
        for name in owned_names(self.domain, [v.name() for v in self.pool.obj.listAllVolumes(0)]):
            if delete_volume(self.pool, name):
                self.event(f"deleted leftover volume {name} (no domain {self.domain} owns it)")

    def _create_disks(self, loaded, plan) -> None:
        from builder import catalog
        from builder.profile import effective

        p = loaded.profile
        entry = catalog.get(p.os)
        for i, (disk, name) in enumerate(zip(p.disks, self.layout.disks)):
            if install_methods.get(p.install.method).imports_first_disk and i == 0:
                source = Path(disk.path)
                vol = create_volume(self.pool, name, source.stat().st_size, disk.format)
                self.created.append(name)
                self._send(vol, source, f"disk image {source}")
                continue
            size = effective.disk_size(entry, disk)
            create_volume(self.pool, name, size, disk.format, allocation=0 if disk.sparse else size)
            self.created.append(name)
        if self.layout.disks:
            self.event(f"created {len(self.layout.disks)} disk volume(s) in pool {self.pool.name} on {self.host}")

    def _create_serial_log(self, local: Path) -> None:
        name = Path(self.layout.serial_log).name
        create_volume(self.pool, name, 0, "raw")
        self.created.append(name)
        self.local_serial = local
        self._serial_offset = 0
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(b"")

    def _upload(self, src: Path, name: str) -> None:
        vol = create_volume(self.pool, name, src.stat().st_size, "raw")
        self.created.append(name)
        self._send(vol, src, str(src))

    def _meter(self, what: str, every: float = 5.0):
        """A progress callback that tells the user how far a long transfer got, every few seconds."""
        last = time.monotonic()

        def report(done: int, total: int) -> None:
            nonlocal last
            if total and time.monotonic() - last >= every:
                last = time.monotonic()
                self.event(f"{what}: {min(100, done * 100 // total)}% ({_mib(done)} of {_mib(total)})")
        return report

    def _send(self, vol, src: Path, what: str) -> None:
        size = src.stat().st_size
        self.event(f"uploading {what} ({_mib(size)}) to {self.pool.name}/{vol.name()} on {self.host}")
        started = time.monotonic()
        sent = upload(self.conn, vol, src, self._meter(f"uploading {src.name}"))
        self.event(f"uploaded {_mib(sent)} of data in {time.monotonic() - started:.1f} s")

    # -- while the guest runs --

    def pull_serial(self) -> None:
        """Append what the remote serial log gained since the last call to the local serial log."""
        import libvirt

        if self.layout is None or self.local_serial is None:
            return
        vol = lookup_volume(self.pool, Path(self.layout.serial_log).name)
        if vol is None:
            return
        try:
            if vol.info()[1] < self._serial_offset:       # virtlogd rotated it
                self._serial_offset = 0
            data = read_from(self.conn, vol, self._serial_offset)
        except libvirt.libvirtError:
            return
        if data:
            with open(self.local_serial, "ab") as f:
                f.write(data)
            self._serial_offset += len(data)

    # -- after the install --

    def collect(self, dom) -> None:
        """The install completed: take uploads out of the domain, bring its disks home."""
        self.pull_serial()
        self._eject_uploads(dom)
        self.download_disks()

    def download_disks(self) -> None:
        for name, dest in zip(self.layout.disks, self.local_disks):
            vol = lookup_volume(self.pool, name)
            if vol is None:
                continue
            self.event(f"downloading {self.pool.name}/{name} from {self.host} to {dest}")
            started = time.monotonic()
            got = download(self.conn, vol, dest, self._meter(f"downloading {name}"))
            self.event(f"downloaded {_mib(got)} of data in {time.monotonic() - started:.1f} s")

    def _eject_uploads(self, dom) -> None:
        """Empty every drive that holds one of this run's uploads in the domain's saved config."""
        import libvirt

        names = set(self.layout.uploads.values())
        paths = set()
        for name in names:
            vol = lookup_volume(self.pool, name)
            if vol is not None:
                paths.add(vol.path())
        root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        for disk in root.findall("./devices/disk"):
            source = disk.find("source")
            if source is None:
                continue
            if source.get("file") not in paths and source.get("volume") not in names:
                continue
            if disk.get("device") not in ("cdrom", "floppy"):
                raise HostError(f"upload {source.get('file') or source.get('volume')} is attached as a "
                                f"{disk.get('device')} and cannot be ejected")
            disk.remove(source)
            if disk.get("type") == "volume":
                disk.set("type", "file")
            dom.updateDeviceFlags(ET.tostring(disk, encoding="unicode"), libvirt.VIR_DOMAIN_AFFECT_CONFIG)

    def finish(self, completed: bool, keep_failed: bool = False) -> None:
        """Uploads always go; a failed install's disks and log go too (downloaded first with --keep-failed)."""
        self.pull_serial()
        if not completed and keep_failed and self.layout is not None:
            with contextlib.suppress(HostError):
                self.download_disks()
        self._delete(keep_owned=completed)

    def discard(self) -> None:
        """Something went wrong on the way: delete every volume this run made."""
        self._delete(keep_owned=False)

    def _delete(self, keep_owned: bool) -> None:
        with contextlib.suppress(Exception):
            self.pool.obj.refresh(0)           # sees log files virtlogd rotated
        names = [v.name() for v in self.pool.obj.listAllVolumes(0)]
        owned = set(owned_names(self.domain, names)) if self.layout else set()
        for name in dict.fromkeys(self.created + sorted(owned)):
            if keep_owned and name in owned:
                continue
            delete_volume(self.pool, name)
        self.created = [name for name in self.created if keep_owned and name in owned]
