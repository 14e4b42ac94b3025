"""`golden clone`: stamp out N guests with a fresh identity from a sealed image, a domain or a Xen config.

The API the pipeline and Makefile call:

    from builder.clone.batch import clone_batch, remove_batch
    from builder.clone.verify import verify

    records = clone_batch("images/demo.qcow2", "web-{n}", 3, directory="clones/demo")  # -> list[CloneRecord]
    verdicts = verify([r.name for r in records])                                       # -> list[Verdict]
    remove_batch("clones/demo")                                                        # -> names removed

clone_batch(source, pattern, count, *, linked=True, start=False, connect=None,
            directory=None, hwaddr="set", first=1, backend="auto", bridge=None,
            replace=False, on_event=None, keys=())

  source     an image file (DIR/NAME.qcow2; the domain XML comes from
             DIR/NAME.domain.xml, DIR/NAME.build/domain.xml or the domain.xml
             beside an install's disk, else a minimal one is generated), the name
             of a defined, shut-off libvirt domain, or a Xen guest config file
             (/etc/xen/NAME; the clones are new config files beside it).
  pattern    the clones' names with {n} for the number (web-{n}, db-{n:02d}),
             numbered from `first`; each name is also the clone's hostname.
  linked     qcow2 overlays on the source (backing format recorded), or full
             copies (reflinked where the file system allows; overlays flattened).
  directory  where the clone disks go (NAME.qcow2, NAME-disk1.qcow2, ...,
             NAME.serial.log); default the source image's folder (the folder
             above it for an install's NAME.build/ disk).
  hwaddr     "set": ifcfg-ethK gets the clone's K-th MAC in HWADDR; "remove": no pin.
  backend    image backend for the in-guest step: auto | loop | guestfs.
  bridge     Xen configs only: the host bridge every vif uses (checked to exist).
  replace    earlier golden clones of the same names (shut off) are removed
             first, with their files; anything else of those names is refused.
  on_event   called with a line of progress text.
  keys       LUKS keys (builder.image.luks.parse_keys) for a source whose
             identity files sit inside LUKS containers; guestfs backend only.

Order: everything is checked before anything is made (image readable and
not corrupt, not written by a running domain, names free on the connection
and on disk, MACs left in the hypervisor's range, free space). Then all disks
are created, all clones are customized in one open_images batch (one guestfs
appliance launch for up to 250 clone disks, each clone's disks opened together
as one guest, or loop mounts and no launch at all),
each domain is defined (new name, UUID, MACs, disks, serial log) and, with
start, started. Any failure or Ctrl-C/SIGTERM removes what the batch made:
defined domains are undefined, created disks deleted.

Records: the clones are merged into DIRECTORY/clones.json (what remove_batch
reads) and, when the image has a build directory, into NAME.build/clones.json
(what `golden report` shows); both use the schema in the README's Build records section,
and `golden verify` fills in each clone's `verified` in both.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from lxml import etree

from builder import owners
from builder.clone import disks as diskops
from builder.clone import domainxml, guestid, naming, records, template, xenconfig
from builder.errors import HostError, InputError
from builder.fsutil import atomic_write
from builder.image.diskfile import DiskFile
from builder.image.host import signals_deferred, sigterm_as_interrupt
from builder.virt import identity

log = logging.getLogger("golden.clone")

# libguestfs takes at most 255 drives per appliance, one for itself.
GUESTFS_BATCH = 250
# Loop mounts cost no launch; a few at a time keeps FUSE exporters and loop devices few.
LOOP_BATCH = 8


@dataclass
class CloneRecord:
    name: str
    uuid: str
    macs: list[str]
    hostname: str
    disks: list[str]
    linked: bool
    created: str
    source: str
    started: bool = False
    config: str | None = None          # the Xen config file written (Xen sources); else a libvirt domain
    record: str | None = None          # the build's clones.json listing this clone (when it has a build dir)
    batch: str | None = None           # the clone directory's clones.json
    changes: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def entry(self) -> dict:
        """This clone as clones.json lists it."""
        return {"name": self.name, "uuid": self.uuid, "macs": list(self.macs), "hostname": self.hostname,
                "disk": self.disks[0], "linked": self.linked, "created": self.created, "verified": None}


@dataclass
class Source:
    kind: str                                  # image | domain | xen
    label: str                                 # the image path, domain name or config path
    disks: list[DiskFile]                      # writable disks to clone; the first holds the OS
    hypervisor: str                            # kvm | xen
    nics: int
    template: etree._Element | None = None     # libvirt domain XML to define clones from
    template_from: str = ""
    xen: xenconfig.XenConfig | None = None
    xen_cloned: list[int] = field(default_factory=list)   # indexes of the config's disk entries cloned


@dataclass
class Planned:
    name: str
    uuid: str
    macs: list[str]
    disks: list[Path]
    serial_log: Path
    config: Path | None = None
    formats: list[str] = field(default_factory=list)


# ---- the source ---------------------------------------------------------------------------

def _template_disks(root: etree._Element, where: str) -> list[Path]:
    """The template's writable disks, all of which must be files (a shared block device is not a clone)."""
    out = []
    for disk in root.findall("./devices/disk"):
        if disk.get("device", "disk") != "disk" or disk.find("readonly") is not None \
                or disk.find("shareable") is not None:
            continue
        src = disk.find("source")
        if src is None or src.get("file") is None:
            target = disk.find("target")
            dev = target.get("dev") if target is not None else "?"
            raise InputError(f"writable {disk.get('type', '?')} disk {dev} is not a file; golden clones "
                             "file-backed disks only", where=where,
                             hint="mark shared disks <shareable/> or <readonly/>, or move the disk to a file")
        out.append(Path(src.get("file")))
    return out


def _from_template(kind: str, label: str, root, where: str, first: DiskFile | None, conn) -> Source:
    paths = _template_disks(root, where)
    if first is None:
        if not paths:
            raise InputError("the domain has no writable file-backed disk to clone", where=where)
        disks = [diskops.check_image(p, conn) for p in paths]
    else:
        disks = [first] + [diskops.check_image(p, conn) for p in paths[1:]]
    hypervisor = "xen" if root.get("type") == "xen" else "kvm"
    return Source(kind, label, disks, hypervisor, len(domainxml.interfaces(root)), root, where)


def _xen_source(path: Path, conn) -> Source:
    config = xenconfig.read(path)
    entries = config.disks()
    cloned = [i for i, d in enumerate(entries) if d["mode"].startswith("w")]
    if not cloned:
        raise InputError("the config has no writable disk to clone", where=str(path))
    disks = []
    for i in cloned:
        if entries[i]["kind"] == "phy:":
            raise InputError(f"disk {entries[i]['path']} is a block device (phy:); golden clones image files",
                             where=str(path), hint="copy the volume yourself and point a file: entry at it")
        disks.append(diskops.check_image(Path(entries[i]["path"]), conn))
    return Source("xen", str(path), disks, "xen", len(config.vifs()), xen=config, xen_cloned=cloned,
                  template_from=str(path))


def resolve_source(source: str | Path, conn) -> Source:
    """What SOURCE names: an image file, a Xen config file or a defined domain."""
    text = str(source)
    path = Path(text)
    if path.exists():
        if xenconfig.looks_like(path):
            return _xen_source(path, conn)
        image = diskops.check_image(path, conn)
        found = template.find_template(path)
        if found is None:
            return Source("image", str(path.resolve()), [image], "kvm", 1, None, "generated")
        return _from_template("image", str(path.resolve()), template.load(found), str(found), image, conn)
    if "/" in text or text.endswith((".qcow2", ".img", ".raw")) or conn is None:
        raise InputError("image not found", where=text, hint="give an image file, a Xen config or a domain name")
    import libvirt
    from builder.virt.connection import lookup_domain
    dom = lookup_domain(conn, text)
    if dom is None:
        raise InputError(f"no image file or libvirt domain named {text!r}", where=text,
                         hint="`virsh list --all` shows the defined domains")
    if dom.isActive():
        raise InputError(f"domain {text} is running: its disks change while they are copied", where=text,
                         hint=f"shut it down first (`virsh shutdown {text}`), or clone its sealed image")
    root = domainxml.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return _from_template("domain", text, root, f"domain {text}", None, conn)


# ---- preflight ----------------------------------------------------------------------------

def _probe(disk: DiskFile, backend: str):
    """Which backend the clones will use, and the OS (read through the loop backend when it works)."""
    from builder.image import open_image
    from builder.image.osinfo import detect
    if backend == "guestfs":
        return "guestfs", None
    try:
        with open_image(disk.path, backend="loop", readonly=True, check_in_use=False) as g:
            return "loop", detect(g)
    except HostError as exc:
        if backend == "loop":
            raise
        log.info("%s: clones go to the guestfs backend: %s", disk.path, exc)
        return "guestfs", None


def _default_dir(source: Source) -> Path:
    first = Path(source.disks[0].path).resolve()
    return first.parent.parent if first.parent.name.endswith(".build") else first.parent


def _ext(fmt: str) -> str:
    return "qcow2" if fmt == "qcow2" else "img"


def _plan(source: Source, names: list[str], directory: Path, linked: bool, macs: list[str],
          uuids: list[str]) -> list[Planned]:
    out = []
    for i, name in enumerate(names):
        formats = ["qcow2" if linked else (d.format if not d.backing_chain else "qcow2") for d in source.disks]
        paths = [directory / (f"{name}.{_ext(f)}" if k == 0 else f"{name}-disk{k}.{_ext(f)}")
                 for k, f in enumerate(formats)]
        config = Path(source.label).parent / name if source.kind == "xen" else None
        out.append(Planned(name, uuids[i], macs[i * source.nics:(i + 1) * source.nics], paths,
                           directory / f"{name}.serial.log", config, formats))
    return out


def _existing(conn) -> tuple[set[str], set[str], set[str]]:
    """Names, UUIDs and MACs of every domain on the connection."""
    names, uuids = set(), set()
    if conn is None:
        return names, uuids, set()
    from builder.virt.connection import used_macs
    for dom in conn.listAllDomains(0):
        names.add(dom.name())
        uuids.add(dom.UUIDString().lower())
    return names, uuids, used_macs(conn)


def _check_names(planned: list[Planned], taken: set[str], source: Source, replaced: set[Path]) -> None:
    clash = [p.name for p in planned if p.name in taken]
    if clash:
        shown = ", ".join(clash[:5]) + (" ..." if len(clash) > 5 else "")
        raise InputError(f"{len(clash)} clone name(s) are taken: {shown}", where=naming.WHERE,
                         hint="pick another pattern, or start numbering after them with --first")
    sources = {Path(d.path).resolve() for d in source.disks}
    for p in planned:
        for path in [*p.disks, p.serial_log] + ([p.config] if p.config else []):
            if path.resolve() in sources or (path.exists() and path not in replaced):
                raise InputError(f"{path} already exists; golden does not overwrite it", where=naming.WHERE,
                                 hint="remove it, or pick another pattern or --dir")


def _check_directory(directory: Path, uri: str | None, source: Source, linked: bool) -> None:
    from builder.virt import access
    access.check_writable_dir(directory, "clone directory", "--dir")
    if uri and source.kind != "xen":
        from builder.virt.connection import is_local
        if is_local(uri) and "system" in uri:
            access.check_reachable(directory, "clone directory", "--dir")
            if linked:
                for d in source.disks:
                    access.check_reachable(Path(d.path), "source image (the clones' backing file)")


def _adapt_domain_type(root: etree._Element, host_type: str, where: str, event) -> None:
    """A template made where KVM works, cloned where it does not (or the other way): follow this host.

    `host_type` is the connection's hypervisor (libvirt's getType(): QEMU, Xen, ...).
    """
    host, kind = host_type.lower(), root.get("type")
    if (host == "xen") != (kind == "xen") and host in ("xen", "qemu"):
        raise InputError(f"the domain XML is for a {kind} guest, and this libvirt connection is {host_type}",
                         where=where, hint="clone it on a host of its hypervisor (--connect), or give a "
                                           "template for this one")
    if host != "qemu" or kind not in ("kvm", "qemu"):
        return
    from builder.virt import accel
    want = accel.probe().virt_type
    if root.get("type") != want:
        event(f"domain type {root.get('type')} -> {want} (this host's accelerator)")
        root.set("type", want)


# ---- the batch ----------------------------------------------------------------------------

class _Made:
    """What the batch created, so a failure can take it back."""

    def __init__(self):
        self.files: list[Path] = []
        self.dirs: list[Path] = []
        self.domains: list = []
        self.records: list[tuple[Path, set[str]]] = []
        # Owner records (builder/owners.py): a SIGKILLed batch is undone by the next golden command.
        self.owned: list[owners.Record] = []

    def own(self, kind: str, ident, **data) -> owners.Record:
        rec = owners.register(kind, ident, **data)
        self.owned.append(rec)
        return rec

    def hand_over(self) -> None:
        """The batch is recorded complete: its clones are the user's now, not the reaper's."""
        for rec in self.owned:
            owners.release(rec)
        self.owned.clear()

    def rollback(self, event) -> None:
        with signals_deferred():
            for dom in reversed(self.domains):
                _undefine(dom)
            for path, names in self.records:
                with contextlib.suppress(OSError):
                    records.remove_clones(path, names)
            existing = [f for f in reversed(self.files) if f.exists()]
            diskops.remove(existing)
            for d in reversed(self.dirs):
                with contextlib.suppress(OSError):
                    d.rmdir()
            # What could not be removed keeps its record, for the reaper of a later command.
            for rec in self.owned:
                if rec.kind == "domain" or not Path(rec.ident).exists():
                    owners.release(rec)
            self.owned.clear()
        event(f"rolled back: {len(self.domains)} domain(s) undefined, {len(existing)} file(s) removed")


def _mkdirs(directory: Path, made: _Made) -> None:
    missing = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        made.own("file", d, empty_only=True)
        d.mkdir()
        made.dirs.append(d)


def _create_disks(source: Source, planned: list[Planned], linked: bool, made: _Made, event) -> None:
    for p in planned:
        for base, path in zip(source.disks, p.disks):
            made.own("file", path)
            made.files.append(path)
            if linked:
                diskops.create_overlay(base, path)
            else:
                diskops.full_copy(base, path)
        made.own("file", p.serial_log)
        made.files.append(p.serial_log)
        if p.config:
            made.own("file", p.config)
            made.files.append(p.config)


def _personalize(planned: list[Planned], backend: str, hwaddr: str, event, keys=()) -> dict[str, dict]:
    from builder.image import open_images
    per_clone = len(planned[0].disks) if planned else 1
    size = max(1, GUESTFS_BATCH // per_clone) if backend == "guestfs" else LOOP_BATCH
    reports: dict[str, dict] = {}
    for i in range(0, len(planned), size):
        chunk = planned[i:i + size]
        if backend == "guestfs":
            event(f"launching one guestfs appliance for {len(chunk)} clone(s)")
        # The overlays were made moments ago by this batch: nobody else uses them.
        with open_images([list(p.disks) for p in chunk], backend=backend, check_in_use=False,
                         keys=keys) as guests:
            for p, g in zip(chunk, guests):
                reports[p.name] = guestid.personalize(g, hostname=p.name, macs=p.macs, hwaddr=hwaddr)
    return reports


def _define(conn, source: Source, planned: list[Planned], record: Path | None, batch: Path, made: _Made,
            event) -> None:
    for p in planned:
        spec = domainxml.CloneSpec(name=p.name, uuid=p.uuid, macs=tuple(p.macs), disks=tuple(p.disks),
                                   disk_formats=tuple(p.formats), hostname=p.name, serial_log=p.serial_log,
                                   source=source.label, record=record, batch=batch)
        xml = domainxml.rewrite(source.template, spec)
        import libvirt
        made.own("domain", p.name, uri=conn.getURI(), uuid=p.uuid)
        try:
            made.domains.append(conn.defineXML(xml))
        except libvirt.libvirtError as exc:
            raise HostError(f"libvirt refused to define {p.name}: {str(exc).strip()}",
                            hint=f"the domain XML came from {source.template_from}") from None
        event(f"defined {p.name}")


def _write_xen(source: Source, planned: list[Planned], linked: bool, bridge: str | None) -> None:
    config = source.xen
    entries = config.disks()
    for p in planned:
        new = {i: path for i, path in zip(source.xen_cloned, p.disks)}
        disk_list = []
        for i, entry in enumerate(entries):
            if i in new:
                kind = "tap:qcow2:" if linked else entry["kind"]
                disk_list.append((kind, str(new[i])))
            else:
                disk_list.append((entry["kind"], entry["path"]))
        values = xenconfig.clone_values(config, name=p.name, uuid=p.uuid, macs=p.macs, bridge=bridge,
                                        disks=disk_list)
        atomic_write(p.config, xenconfig.clone_text(config, values))


def _start(planned: list[Planned], made: _Made, event) -> None:
    import libvirt
    for dom in made.domains:
        try:
            dom.create()
        except libvirt.libvirtError as exc:
            raise HostError(f"{dom.name()} did not start: {str(exc).strip()}") from None
        event(f"started {dom.name()}")


def clone_batch(source: str | Path, pattern: str, count: int, *, linked: bool = True, start: bool = False,
                connect: str | None = None, directory: str | Path | None = None, hwaddr: str = "set",
                first: int = 1, backend: str = "auto", bridge: str | None = None, replace: bool = False,
                on_event: Callable[[str], None] | None = None, keys: tuple = ()) -> list[CloneRecord]:
    """Clone SOURCE COUNT times; see the module docstring."""
    from builder.image import BACKENDS
    event = on_event or (lambda message: None)
    naming.check_pattern(pattern)
    guestid.check_hwaddr_mode(hwaddr)
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}", where="--backend", hint=", ".join(BACKENDS))
    if count < 1:
        raise InputError(f"--count must be at least 1, not {count}", where="--count")
    if count > identity.mac_space("kvm"):
        raise InputError(f"{count} clones need more MAC addresses than a hypervisor prefix holds "
                         f"({identity.mac_space('kvm')} for 52:54:00, {identity.mac_space('xen')} for 00:16:3e)",
                         where="--count")
    xen_file = Path(str(source)).exists() and xenconfig.looks_like(Path(str(source)))
    if start and xen_file:
        raise InputError("--start does not apply to Xen config files", hint="start them with `xm create NAME`")
    uri = None
    if not xen_file or connect:
        uri = _local_uri(connect)
    with contextlib.ExitStack() as stack:
        conn = None
        if uri:
            from builder.virt.connection import connection as open_conn
            conn = stack.enter_context(open_conn(uri))
        return _run(conn, uri, source, pattern, count, linked=linked, start=start, directory=directory,
                    hwaddr=hwaddr, first=first, backend=backend, bridge=bridge, replace=replace, event=event,
                    keys=keys)


def _local_uri(connect: str | None) -> str:
    from builder.virt import connection, services
    from builder.virt.hostfacts import default_connect_uri
    uri = connect or default_connect_uri()
    refuse_remote(uri)
    if connection.is_local(uri) and uri.startswith("qemu"):
        services.ensure_running()
    return uri


def refuse_remote(uri: str) -> None:
    """Clone disks are made beside the image, where a remote daemon cannot open them."""
    from builder.virt import connection
    if not connection.is_local(uri):
        raise InputError(f"golden clone and verify work on a local libvirt connection; {uri} is remote",
                         where="--connect",
                         hint="copy the golden image to that host (with its .domain.xml) and run golden clone "
                              "there, or build it there with `golden build --connect`")


def _run(conn, uri, source_arg, pattern, count, *, linked, start, directory, hwaddr, first, backend, bridge,
         replace, event, keys=()) -> list[CloneRecord]:
    t0 = time.monotonic()
    source = resolve_source(source_arg, conn)
    from builder.image.container import check_container
    for disk in source.disks:
        check_container(disk)       # before anything is made: every clone would inherit the damage
    system = source.disks[0]
    from builder.windows.clonecheck import refuse_windows
    windows = refuse_windows(system)    # refused unless generalized by sysprep: clones would share a SID
    # The checksum of the source goes into the records; reading 2 GiB of holes overlaps the rest.
    hasher = ThreadPoolExecutor(max_workers=1)
    checksum: Future = hasher.submit(records.source_sha256, Path(system.path))
    try:
        out = _batch(conn, uri, source, pattern, count, checksum, linked=linked, start=start, directory=directory,
                     hwaddr=hwaddr, first=first, backend=backend, bridge=bridge, replace=replace, event=event,
                     windows=windows, keys=keys)
    finally:
        hasher.shutdown(wait=False, cancel_futures=True)
    event(f"{count} clone(s) ready in {time.monotonic() - t0:.2f} s")
    return out


def _batch(conn, uri, source: Source, pattern, count, checksum: Future, *, linked, start, directory, hwaddr,
           first, backend, bridge, replace, event, windows: dict | None = None, keys=()) -> list[CloneRecord]:
    t0 = time.monotonic()
    system = source.disks[0]
    if source.kind == "xen":
        missing = xenconfig.missing_bridges(source.xen, bridge)
        if missing:
            raise InputError(f"bridge {', '.join(missing)} does not exist on this host "
                             "(xm would fail: \"Bridge ... does not exist!\")", where=source.label,
                             hint="give --bridge NAME with a bridge from `ip link show type bridge`")
    elif bridge:
        raise InputError("--bridge applies to Xen config files only", where="--bridge")
    taken, uuids_taken, macs_used = _existing(conn)
    if source.kind == "xen":
        macs_used |= xenconfig.macs_in(Path(source.label).parent)
        taken |= {p.name for p in Path(source.label).parent.iterdir()}
    need = count * source.nics
    if need + len(macs_used) > identity.mac_space(source.hypervisor):
        raise InputError(f"{count} clones x {source.nics} NIC(s) need {need} new MAC addresses; the "
                         f"{source.hypervisor} prefix has room for {identity.mac_space(source.hypervisor)} and "
                         f"{len(macs_used)} are in use", where="--count")
    names = naming.expand(pattern, count, first)
    if windows:
        from builder.windows import cloneanswer
        cloneanswer.check_names(names)
    out_dir = Path(directory).resolve() if directory else _default_dir(source)
    _check_directory(out_dir, uri, source, linked)
    per_clone = diskops.OVERLAY_BYTES * len(source.disks) if linked else \
        sum(diskops.allocated_bytes(d) for d in source.disks)
    probe_dir = out_dir
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    diskops.check_free_space(probe_dir, per_clone * count)
    uuids = []
    while len(uuids) < count:
        u = identity.new_uuid()
        if u not in uuids_taken and u not in uuids:
            uuids.append(u)
    macs = identity.fresh_macs(source.hypervisor, macs_used, need)
    planned = _plan(source, names, out_dir, linked, macs, uuids)
    old_domains, old_files = _replaceable(conn, planned, out_dir) if replace else ([], set())
    _check_names(planned, taken - {d.name() for d in old_domains}, source, old_files)
    # Windows clones are named through guestfs (ntfs-3g); the loop backend reads Linux guests only.
    if keys and backend == "loop":
        raise InputError("the loop backend cannot open LUKS containers, so --key needs the guestfs backend",
                         where="--key", hint="use `--backend guestfs` (or `--backend auto`)")
    if (len(source.disks) > 1 or keys) and not windows:
        # Every disk of the clone is opened as one guest, so fstab entries on the others are mounted
        # (a /var disk holds /var/lib/dbus/machine-id); the loop backend opens one disk per guest.
        if backend == "loop":
            raise InputError(f"the loop backend opens a guest of one disk; {source.label} has {len(source.disks)}",
                             where="--backend", hint="use `--backend guestfs` (or `--backend auto`)")
        used_backend, osi = "guestfs", None
    else:
        used_backend, osi = ("guestfs", None) if windows else _probe(system, backend)
    if source.kind != "xen":
        if source.template is None:
            if conn.getType().lower() == "xen":
                raise InputError("no domain XML beside the image, and golden generates QEMU/KVM domains only",
                                 where=source.label, hint="put the guest's XML in NAME.domain.xml beside it")
            from builder.virt import accel
            source.template = template.generate(Path(system.path), system.format, virt_type=accel.probe().virt_type,
                                                osi=osi)
        _adapt_domain_type(source.template, conn.getType(), source.template_from, event)
    build_dir = template.build_dir_of(Path(system.path))
    record = build_dir / records.NAME if build_dir else None
    batch = out_dir / records.NAME
    event(f"checked in {time.monotonic() - t0:.2f} s: {count} clone(s) of {source.label} "
          f"({'linked' if linked else 'full'}, domain XML from {source.template_from}) into {out_dir}")
    if old_domains or old_files:
        _remove(old_domains, old_files)
        event(f"replaced: {len(old_domains)} earlier clone(s) undefined, {len(old_files)} file(s) removed")

    made = _Made()
    try:
        with sigterm_as_interrupt():
            t = time.monotonic()
            _mkdirs(out_dir, made)
            _create_disks(source, planned, linked, made, event)
            event(f"created {count * len(source.disks)} {'overlay' if linked else 'copy'}(ies) in "
                  f"{time.monotonic() - t:.2f} s")
            t = time.monotonic()
            if windows:
                event(f"launching one guestfs appliance to name {count} Windows clone(s)")
                reports = cloneanswer.write([(p.disks[0], p.formats[0] if p.formats else None) for p in planned],
                                            [p.name for p in planned], windows)
            else:
                reports = _personalize(planned, used_backend, hwaddr, event, keys)
            event(f"set the identity of {count} clone(s) in {time.monotonic() - t:.2f} s ({used_backend} backend)")
            t = time.monotonic()
            if source.kind == "xen":
                _write_xen(source, planned, linked, bridge)
                event(f"wrote {count} Xen config(s) in {time.monotonic() - t:.2f} s")
            else:
                _define(conn, source, planned, record, batch, made, event)
                event(f"defined {count} domain(s) in {time.monotonic() - t:.2f} s")
            created = records.utc_now()
            out = [CloneRecord(name=p.name, uuid=p.uuid, macs=p.macs, hostname=p.name,
                               disks=[str(d) for d in p.disks], linked=linked, created=created,
                               source=source.label, config=str(p.config) if p.config else None,
                               record=str(record) if record else None, batch=str(batch),
                               changes=reports[p.name]["changes"], notes=reports[p.name]["notes"])
                   for p in planned]
            for note in sorted({n for r in out for n in r.notes}):
                event(f"note: {note}")
            sha = checksum.result()
            for path in dict.fromkeys(filter(None, (record, batch))):
                made.records.append((path, {p.name for p in planned}))
                records.merge_clones(path, Path(system.path), sha, [r.entry() for r in out])
            if start:
                _start(planned, made, event)
                for r in out:
                    r.started = True
            made.hand_over()
    except BaseException:
        made.rollback(event)
        raise
    return out


# ---- --replace and --remove-batch -----------------------------------------------------------

def _golden_clone(dom) -> dict | None:
    """What golden recorded in a domain's XML, or None for a domain golden did not clone."""
    import libvirt
    ident = domainxml.expected_identity(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return ident if ident.get("source") is not None else None


def _clone_files(dom, ident: dict) -> set[Path]:
    import libvirt
    root = domainxml.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    files = {Path(d.find("source").get("file")) for d in domainxml.writable_disks(root)}
    return files | ({Path(ident["serial_log"])} if ident.get("serial_log") else set())


def _replaceable(conn, planned: list[Planned], out_dir: Path) -> tuple[list, set[Path]]:
    """The earlier clones of these names that --replace may remove: golden's, shut off; nothing else."""
    from builder.virt.connection import lookup_domain
    listed = {c.get("name"): c for c in records.read(out_dir / records.NAME)["clones"]}
    domains, files = [], set()
    for p in planned:
        dom = lookup_domain(conn, p.name) if conn is not None else None
        if dom is not None:
            ident = _golden_clone(dom)
            if ident is None:
                raise InputError(f"domain {p.name} exists and golden did not clone it; --replace removes only "
                                 "golden's clones", where=naming.WHERE, hint="pick another name pattern")
            if dom.isActive():
                raise InputError(f"clone {p.name} is running", where=naming.WHERE,
                                 hint=f"shut it down first (`virsh shutdown {p.name}`)")
            domains.append(dom)
            files |= _clone_files(dom, ident)
        entry = listed.get(p.name)
        if entry is not None:
            files |= {Path(entry["disk"]), p.serial_log} | ({p.config} if p.config else set())
            files |= set(p.disks)
    return domains, {f for f in files if f.exists()}


def _undefine(dom) -> None:
    import libvirt
    with contextlib.suppress(libvirt.libvirtError):
        if dom.isActive():
            dom.destroy()
    try:
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    except libvirt.libvirtError:
        # Drivers without NVRAM or managed save refuse those flags.
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefine()


def _remove(domains: list, files: set[Path]) -> None:
    with signals_deferred():
        for dom in domains:
            _undefine(dom)
        diskops.remove(sorted(files))


def remove_batch(directory: str | Path, *, connect: str | None = None,
                 on_event: Callable[[str], None] | None = None) -> list[str]:
    """Remove the clones DIRECTORY/clones.json lists: undefine golden's domains, delete their files.

    Running clones are stopped first. A domain of a listed name that golden did
    not clone (or that now uses other disks) is left alone and reported.
    Returns the names removed.
    """
    event = on_event or (lambda message: None)
    directory = Path(directory).resolve()
    path = directory / records.NAME
    if not path.is_file():
        raise InputError("no clones.json here: not a golden clone directory", where=str(directory),
                         hint="give the --dir a `golden clone` wrote to")
    entries = records.read(path)["clones"]
    from builder.virt.connection import connection, lookup_domain
    removed: list[str] = []
    builds: set[Path] = set()
    with connection(_local_uri(connect)) as conn:
        for entry in entries:
            name = entry.get("name")
            disk = Path(entry.get("disk") or "")
            dom = lookup_domain(conn, name) if name else None
            files = {disk, directory / f"{name}.serial.log"}
            if dom is not None:
                ident = _golden_clone(dom)
                mine = _clone_files(dom, ident) if ident else set()
                if ident is None or disk not in mine:
                    event(f"left {name} alone: that domain is not the clone this directory lists")
                    continue
                files |= mine
                if ident.get("record"):
                    builds.add(Path(ident["record"]))
                _remove([dom], set())
            diskops.remove(sorted(f for f in files if f.parent == directory or f == disk))
            removed.append(name)
            event(f"removed {name}")
        for record in builds - {path}:
            if record.is_file():
                records.remove_clones(record, set(removed))
        records.remove_clones(path, set(removed))
        if not records.read(path)["clones"]:
            path.unlink()
    return removed
