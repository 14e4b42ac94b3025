"""`golden install`: run a profile's unattended install under libvirt, watched.

Order matters: every check that can fail on bad input runs before anything
is defined; once virt-install has run, every exit path (success, failure,
hang, Ctrl-C, SIGTERM) leaves nothing defined but the disks and the saved
domain XML, or, with `keep_domain`, a shut-off domain named after the profile.

The install domain is golden's scaffolding, so by default it gets a name no
user domain, other checkout or earlier install can hold (profile name plus a
random suffix): a leftover `demo` domain never blocks the next build.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from builder import catalog, install_methods, owners
from builder.errors import HostError, InputError, InstallError
from builder.fsutil import atomic_write
from builder.layout import BuildLayout
from builder.plan import BuildPlan, make_plan
from builder.profile import effective
from builder.profile.loader import LoadedProfile
from builder.virt import access, connection, identity, remote, screenshot, services
from builder.virt.hostfacts import default_connect_uri, host_facts, resolve_osinfo
from builder.virt.install_cmd import InstallTarget
from builder.virt.owner import pid_alive
from builder.virt.watchdog import Outcome, Watchdog

MARKER = "golden-install"


@dataclass
class InstallResult:
    profile: str
    domain: str
    status: str
    reason: str
    elapsed: float
    stage: str
    connect: str
    accelerator: str
    disks: list[str]
    serial_log: str
    kickstart: str | None
    mac: str | None
    screenshot: str | None = None
    domain_xml: str | None = None
    last_lines: list[str] = field(default_factory=list)
    kept_disks: bool = True
    domain_kept: bool = False       # False: undefined once its disks and XML were saved

    def to_json(self) -> dict:
        return asdict(self)


class _Terminated(Exception):
    """SIGTERM, turned into an exception so the same cleanup runs as for Ctrl-C."""


def _on_sigterm(signum, frame):
    raise _Terminated()


# --- orphans -----------------------------------------------------------------

def _marker_for(pid: int) -> str:
    return f"{MARKER} pid={pid} host={socket.gethostname()}"


def reap_orphans(conn) -> list[str]:
    """Destroy and undefine install domains whose golden process died (SIGKILL, power loss)."""
    import libvirt

    reaped = []
    host = socket.gethostname()
    for dom in conn.listAllDomains(0):
        try:
            desc = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).findtext("description") or ""
        except libvirt.libvirtError:
            continue
        if not desc.startswith(MARKER + " "):
            continue
        fields = dict(part.split("=", 1) for part in desc.split()[1:] if "=" in part)
        if fields.get("host") != host or pid_alive(int(fields.get("pid", "0") or 0)):
            continue
        _remove_domain(dom)
        reaped.append(dom.name())
    return reaped


def _remove_domain(dom) -> None:
    import libvirt

    with contextlib.suppress(libvirt.libvirtError):
        if dom.isActive():
            dom.destroy()
    flags = libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    with contextlib.suppress(libvirt.libvirtError):
        dom.undefineFlags(flags)


# --- preflight ---------------------------------------------------------------

def resolve_media(loaded: LoadedProfile) -> str | None:
    media = loaded.profile.install.media
    if media is None or loaded.profile.install.media_is_url:
        return media
    if media == "demo":
        from builder.demo.media import build_demo_media
        return str(build_demo_media().iso)
    path = Path(media)
    if not path.exists():
        raise InputError(f"install media {path} does not exist", where="install.media",
                         hint="point install.media at an ISO or install tree, or use `demo`")
    if not (path.is_file() or path.is_dir()):
        raise InputError(f"install media {path} is not a file", where="install.media")
    return str(path)


def domain_name(profile_name: str, keep_domain: bool) -> str:
    """The install domain's name: the profile's when the user keeps it, else one nobody else holds."""
    return profile_name if keep_domain else f"{profile_name}-{secrets.token_hex(3)}"


def preflight(loaded: LoadedProfile, conn, uri: str, layout: BuildLayout, domain: str | None = None) -> None:
    """Checks that need the host; `domain`, when given, must be free (a kept domain's name)."""
    p = loaded.profile
    if domain is not None and connection.lookup_domain(conn, domain) is not None:
        raise InputError(f"a domain named {domain!r} already exists on {uri}",
                         hint=f"remove it (`virsh -c {uri} undefine {domain}`), give the profile another name, "
                              "or install without --keep-domain")
    if p.hypervisor == "xen" and conn.getType().lower() != "xen":
        raise HostError(f"profile {p.name} needs a Xen host; {uri} is {conn.getType()}",
                        hint="run it with --connect xen:///system on a Xen host")
    if (p.install.media or "").startswith("nfs://") and install_methods.get(p.install.method).tree_boot:
        # virt-install (4.x) dropped NFS --location: it would fail after golden wrote its inputs.
        raise InputError(f"virt-install cannot fetch the installer kernel from the NFS tree {p.install.media}",
                         where="install.media",
                         hint="serve the tree over http or ftp, or mount it here, set install.media to the "
                              "folder and add the tree to install.extra_args (e.g. inst.repo=nfs:HOST:/PATH)")
    _check_pool_volumes(p, conn)
    _check_hostdevs(p, conn, uri)
    access.check_writable_dir(layout.build_dir, "build directory", "output.dir")
    if connection.is_local(uri) and "system" in uri:
        access.check_reachable(layout.build_dir, "build directory", "output.dir")
        media = p.install.media
        if media and media != "demo" and not p.install.media_is_url:
            access.check_reachable(Path(media), "install media", "install.media")


def _check_hostdevs(p, conn, uri: str) -> None:
    """Each passthrough device must be a PCI node device of the target host (guide 15.1: nodedev-list)."""
    import libvirt

    for i, dev in enumerate(p.hostdevs):
        try:
            xml = conn.nodeDeviceLookupByName(dev.nodedev).XMLDesc(0)
        except libvirt.libvirtError:
            raise HostError(f"hostdevs[{i}].pci: {uri} has no PCI device {dev.pci} ({dev.nodedev})",
                            hint=f"`virsh -c {uri} nodedev-list --cap pci` lists the host's devices; "
                                 "an SR-IOV virtual function appears only after its driver made it "
                                 "(e.g. `modprobe igb max_vfs=1`, guide 16.2)") from None
        # libvirt reports an IOMMU group only when the host kernel runs with its IOMMU on: the
        # guide's intel_iommu=on / iommu=on precondition, read through the connection.
        if ET.fromstring(xml).find("./capability/iommuGroup") is None:
            xen = p.hypervisor == "xen"
            raise HostError(f"hostdevs[{i}].pci: {dev.pci} is in no IOMMU group on {uri}: the host's IOMMU is off",
                            hint="enable VT-d / AMD-Vi in the BIOS and add "
                                 + ("iommu=on to the xen.gz line" if xen else "intel_iommu=on to the kernel line")
                                 + " of the host's grub entry (guide 15.1), then reboot")


def _check_pool_volumes(p, conn) -> None:
    from builder.storage.pool import require_volume

    for i, disk in enumerate(p.disks):
        if disk.vol is None:
            continue
        if i == 0 and disk.perms == "ro":
            raise InputError("the first disk is the install target: it cannot be read-only",
                             where="disks[0].perms", hint="drop perms: ro, or list this volume after the system disk")
        require_volume(conn, disk.vol, f"disks[{i}].vol")


# --- media -------------------------------------------------------------------

def write_inputs(plan: BuildPlan, loaded: LoadedProfile, media: str | None) -> None:
    """The files virt-install needs: the kickstart and any side media."""
    layout = plan.layout
    p = loaded.profile
    entry = plan.os
    layout.build_dir.mkdir(parents=True, exist_ok=True)
    if plan.kickstart is not None:
        atomic_write(layout.kickstart, plan.kickstart.data, mode=0o600)
    method = install_methods.get(p.install.method)
    if plan.kickstart is not None and method.media_file is not None:
        layout.media_dir.mkdir(parents=True, exist_ok=True)
        method.write_media(plan.kickstart.data, media, entry, p, layout)
    if entry.is_windows:
        from builder.windows import wiring
        wiring.write_install_media(loaded, layout)


def _pools_snapshot(conn) -> set[str]:
    try:
        return {pool.name() for pool in conn.listAllStoragePools(0)}
    except Exception:
        return set()


def _pool_dirs(layout: BuildLayout, media: str | None) -> list[Path]:
    """The directories virt-install may make a pool for: the build dir and the install media's folder."""
    dirs = [layout.build_dir]
    if media and "://" not in media:
        path = Path(media)
        dirs.append(path if path.is_dir() else path.parent)
    return dirs


def _drop_new_pools(conn, before: set[str], dirs: list[Path]) -> None:
    """virt-install makes an autostarted pool for every directory it touches; drop the ones for ours."""
    import libvirt

    for pool in conn.listAllStoragePools(0):
        if pool.name() in before:
            continue
        try:
            path = ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") or ""
        except libvirt.libvirtError:
            continue
        if path and any(Path(path) == d or d in Path(path).parents for d in dirs):
            with contextlib.suppress(libvirt.libvirtError):
                if pool.isActive():
                    pool.destroy()
                pool.undefine()


def _mac(loaded: LoadedProfile, conn) -> str | None:
    net = loaded.profile.network
    if net.mode == "none":
        return None
    if net.mac != "auto":
        if net.mac in connection.used_macs(conn):
            raise InputError(f"MAC {net.mac} is already used by another domain", where="network.mac")
        return net.mac
    return identity.random_mac(loaded.profile.hypervisor, connection.used_macs(conn))


# --- the install -------------------------------------------------------------

def install(loaded: LoadedProfile, *, connect: str | None = None, keep_failed: bool = False,
            keep_domain: bool = False, cwd: Path | None = None, on_progress=None, on_event=None,
            inputs_ready: bool = False) -> InstallResult:
    p = loaded.profile
    entry = catalog.get(p.os)
    uri = connect or default_connect_uri()
    layout = BuildLayout.for_profile(p, cwd or Path.cwd())
    if connection.is_local(uri):
        services.ensure_running()
    event = on_event or (lambda message: None)
    with connection.connection(uri) as conn:
        reaped = reap_orphans(conn)
        for name in reaped:
            event(f"removed domain {name} left by an interrupted golden run")
        name = domain_name(p.name, keep_domain)
        preflight(loaded, conn, uri, layout, domain=name)
        # A remote host sees none of our paths: files travel as storage volumes (virt/remote.py).
        store = None if connection.is_local(uri) else remote.Staging(conn, uri, name, event, forget=reaped)
        media = resolve_media(loaded)
        mac = _mac(loaded, conn)
        from builder.virt import accel
        virt_type = accel.domain_type(p.hypervisor, store.virt_type if store else None)
        target = InstallTarget(connect=uri, virt_type=virt_type, osinfo=resolve_osinfo(entry), mac=mac, media=media,
                               name=name)
        plan = make_plan(loaded, cwd=cwd or Path.cwd(), host=host_facts(uri), target=target)
        _clean_previous(layout)
        if not inputs_ready:          # `golden build` made (and cached) them in its media stage
            write_inputs(plan, loaded, media)
        argv = plan.virt_install + ["--metadata", f"description={_marker_for(os.getpid())}"]
        event(f"defining and starting {name} ({virt_type})")
        pools_before = _pools_snapshot(conn)
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        dom = None
        started = time.monotonic()
        # Recorded before virt-install defines it: any golden command after a SIGKILL removes it.
        dom_rec = owners.register("domain", name, uri=uri)
        try:
            if store:                   # uploads media, creates the disks: the argv names volumes
                argv = store.stage(plan, loaded, media) + argv[len(plan.virt_install):]
            _run_virt_install(argv, layout)
            dom = connection.lookup_domain(conn, name)
            if dom is None:
                raise HostError("virt-install returned but the domain is not defined")
            dom_rec.update(uuid=dom.UUIDString())
            watchdog = Watchdog(dom, layout.serial_log, timeout=p.install.timeout,
                                inactivity=p.install.inactivity,
                                disk_targets=effective.disk_targets(p, entry),
                                sync=store.pull_serial if store else None)
            outcome = watchdog.run(on_progress)
            if entry.is_windows:
                from builder.windows import wiring
                outcome = wiring.continue_setup(dom, outcome, lambda spent: Watchdog(
                    dom, layout.serial_log, timeout=max(60.0, p.install.timeout - spent),
                    inactivity=p.install.inactivity, disk_targets=effective.disk_targets(p, entry),
                    sync=store.pull_serial if store else None,
                ).run(on_progress), event)
            if store and outcome.ok:    # media out of the domain, its disks into the build dir
                store.collect(dom)
        except (KeyboardInterrupt, _Terminated):
            # Interrupted inside virt-install, the domain may exist already: _finish removes it.
            dom = dom or _domain_after_virt_install(conn, name)
            outcome = Outcome("interrupted", "interrupted (Ctrl-C or SIGTERM)", time.monotonic() - started,
                              "interrupted")
        except BaseException:
            dom = dom or connection.lookup_domain(conn, name)
            if dom is not None:
                _remove_domain(dom)
            owners.release(dom_rec)
            if not keep_failed:
                _remove_disks(layout)
            _drop_new_pools(conn, pools_before, _pool_dirs(layout, media))
            if store:
                store.discard()
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
        result = _finish(conn, dom, outcome, loaded, plan, layout, uri, virt_type, mac, keep_failed,
                         keep_domain, name)
        owners.release(dom_rec)         # removed, or kept as the user's (--keep-domain)
        _drop_new_pools(conn, pools_before, _pool_dirs(layout, media))
        if store:
            # The disks were downloaded: the remote volumes stay only for a kept domain.
            completed = result.status == "completed"
            store.finish(completed and keep_domain, keep_failed and not completed)
    if result.status != "completed":
        raise InstallError(
            f"install of {p.name} {result.status}: {result.reason}",
            hint=_failure_hint(result),
            details={"result": result.to_json()})
    return result


def _clean_previous(layout: BuildLayout) -> None:
    for path in layout.disks + [layout.serial_log, layout.screenshot, layout.domain_xml, layout.install_result]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _domain_after_virt_install(conn, name: str):
    """The domain a killed virt-install may have made: libvirtd finishes a define or
    start it was already handling, so look twice."""
    dom = connection.lookup_domain(conn, name)
    if dom is None:
        time.sleep(1.0)
        dom = connection.lookup_domain(conn, name)
    return dom


def _remove_disks(layout: BuildLayout) -> None:
    for disk in layout.disks:
        with contextlib.suppress(FileNotFoundError):
            disk.unlink()


def _run_virt_install(argv: list[str], layout: BuildLayout) -> None:
    binary = shutil.which(argv[0])
    if binary is None:
        raise HostError("virt-install is not installed", hint="run ./scripts/bootstrap.sh")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, preexec_fn=owners.die_with_parent)
    log = layout.build_dir / "virt-install.log"
    atomic_write(log, f"$ {' '.join(argv)}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        message = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise HostError(f"virt-install failed: {message[-1] if message else 'exit ' + str(proc.returncode)}",
                        hint=f"the full output is in {log}")


def _finish(conn, dom, outcome: Outcome, loaded, plan: BuildPlan, layout: BuildLayout, uri, virt_type, mac,
            keep_failed, keep_domain, name) -> InstallResult:
    import libvirt

    p = loaded.profile
    shot = None
    xml_path = None
    disks = [str(d) for d in layout.disks]
    domain_kept = False
    if outcome.ok and dom is not None:
        description = f"golden image of profile {p.name}"
        if keep_domain:
            # The reaper's marker goes: a kept domain is the user's now, not an orphan.
            with contextlib.suppress(libvirt.libvirtError):
                dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, description, None, None,
                                libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        # Saved without the marker too: a domain defined from this XML must never look like an orphan.
        atomic_write(layout.domain_xml, _with_description(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE),
                                                          description))
        xml_path = str(layout.domain_xml)
        kept = True
        if keep_domain:
            domain_kept = True
        else:
            _remove_domain(dom)
    else:
        if dom is not None:
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    shot = screenshot.take(conn, dom, layout.screenshot)
            _remove_domain(dom)
        kept = keep_failed
        if not keep_failed:
            _remove_disks(layout)
    result = InstallResult(
        profile=p.name, domain=name, domain_kept=domain_kept, status=outcome.status, reason=outcome.reason,
        elapsed=round(outcome.elapsed, 1), stage=outcome.stage, connect=uri, accelerator=virt_type,
        disks=disks, serial_log=str(layout.serial_log),
        kickstart=str(layout.kickstart) if plan.kickstart else None, mac=mac,
        screenshot=str(shot) if shot else None, domain_xml=xml_path,
        last_lines=outcome.last_lines, kept_disks=kept)
    atomic_write(layout.install_result, json.dumps(result.to_json(), indent=2))
    return result


def _with_description(xml: str, text: str) -> str:
    from lxml import etree

    root = etree.fromstring(xml.encode())
    desc = root.find("description")
    if desc is None:
        desc = etree.Element("description")
        root.find("name").addnext(desc)
    desc.text = text
    return etree.tostring(root, encoding="unicode") + "\n"


def _failure_hint(result: InstallResult) -> str:
    evidence = [f"serial log {result.serial_log}"]
    if result.screenshot:
        evidence.append(f"screenshot {result.screenshot}")
    tail = "\n".join("    " + line for line in result.last_lines[-10:])
    kept = "the disks were kept (--keep-failed)" if result.kept_disks else "the disks were removed"
    return (f"evidence: {', '.join(evidence)}; the domain was destroyed and undefined, {kept}."
            + (f"\nlast console lines:\n{tail}" if tail else ""))

