"""Storage commands: `golden pool`, `golden disk add`, `golden storage label`, `golden media floppy|attach`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from builder.cli import app
from builder.cli.media import media_app
from builder.cli.output import console, print_json
from builder.errors import HostError, InputError

_CONNECT = "libvirt URI (default: $LIBVIRT_DEFAULT_URI or qemu:///system)."

pool_app = typer.Typer(help="libvirt storage pools: directory, LVM volume group, iSCSI target.",
                       no_args_is_help=True)
disk_app = typer.Typer(help="Extra disks for defined guests.", no_args_is_help=True)
storage_app = typer.Typer(help="Host storage preparation (SELinux labels).", no_args_is_help=True)
app.add_typer(pool_app, name="pool")
app.add_typer(disk_app, name="disk")
app.add_typer(storage_app, name="storage")


def _uri(connect: Optional[str]) -> str:
    from builder.virt.hostfacts import default_connect_uri

    return connect or default_connect_uri()


def _size(value: str) -> int:
    from builder.profile.fields import parse_size

    try:
        size = parse_size(value)
    except ValueError as exc:
        raise InputError(str(exc), where="--size") from exc
    if size <= 0:
        raise InputError("size must be above zero", where="--size")
    return size


@pool_app.command("define")
def pool_define(
    name: str = typer.Argument(..., help="Pool name."),
    type_: str = typer.Option("dir", "--type", "-t", help="dir, logical, iscsi or iscsi-direct."),
    path: Optional[str] = typer.Option(None, "--path", help="dir: the directory; others: the target path."),
    vg: Optional[str] = typer.Option(None, "--vg", help="logical: the volume group name."),
    device: List[str] = typer.Option([], "--device", help="logical: a physical volume to build the VG on."),
    host: Optional[str] = typer.Option(None, "--host", help="iscsi: the portal address."),
    port: int = typer.Option(3260, "--port", help="iscsi: the portal port."),
    iqn: Optional[str] = typer.Option(None, "--iqn", help="iscsi: the target IQN."),
    initiator: Optional[str] = typer.Option(None, "--initiator", help="iscsi-direct: our initiator IQN."),
    no_start: bool = typer.Option(False, "--no-start", help="Define only: do not build, start or autostart."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the pool XML and change nothing."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT),
):
    """Define a storage pool (and build, start and autostart it)."""
    from builder.storage import pool
    from builder.virt.connection import connection

    spec = pool.PoolSpec(name=name, type=type_, target=path, source_name=vg, devices=tuple(device),
                         host=host, port=port, iqn=iqn, initiator=initiator)
    xml = pool.pool_xml(spec)
    if dry_run:
        if json_out:
            print_json({"dry_run": True, "name": name, "type": type_, "xml": xml})
        else:
            typer.echo(xml, nl=False)
        return
    with connection(_uri(connect)) as conn:
        info = pool.define(conn, spec, build=not no_start, start=not no_start, autostart=not no_start)
    if json_out:
        print_json(info)
    else:
        console.print(f"defined pool {info['name']} ({info['type']}, "
                      f"{'active' if info['active'] else 'inactive'}) at {info['target']}")


@pool_app.command("list")
def pool_list(json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
              connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT)):
    """List storage pools with type, state and space."""
    from builder.storage import pool
    from builder.virt.connection import connection

    with connection(_uri(connect), readonly=True) as conn:
        pools = pool.list_pools(conn)
    if json_out:
        print_json(pools)
        return
    for p in pools:
        console.print(f"{p['name']:<24} {p['type']:<12} {'active' if p['active'] else 'inactive':<9} "
                      f"{'autostart' if p['autostart'] else '-':<10} {p['target'] or ''}")


@pool_app.command("remove")
def pool_remove(name: str = typer.Argument(..., help="Pool name."),
                delete: bool = typer.Option(False, "--delete", help="Also delete the pool's storage (dir, VG)."),
                dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed."),
                json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
                connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT)):
    """Stop and undefine a storage pool (its volumes stay unless --delete)."""
    from builder.storage import pool
    from builder.virt.connection import connection

    with connection(_uri(connect)) as conn:
        if dry_run:
            found = pool._lookup(conn, name)
            if found is None:
                raise InputError(f"no pool named {name} on {conn.getURI()}", where="NAME")
            info = {**pool.describe(found), "dry_run": True}
        else:
            info = pool.remove(conn, name, delete=delete)
    if json_out:
        print_json(info)
    else:
        console.print(f"{'would remove' if dry_run else 'removed'} pool {name}")


@disk_app.command("add")
def disk_add(
    domain: str = typer.Argument(..., help="A defined guest."),
    size: str = typer.Option("4G", "--size", help="Size of a new file, e.g. 4G or 512M."),
    fmt: str = typer.Option("raw", "--format", help="raw or qcow2."),
    preallocate: bool = typer.Option(False, "--preallocate", help="Write the whole file now (not sparse)."),
    file: Optional[Path] = typer.Option(None, "--file", help="Image path (default: DOMAIN-TARGET.img in cwd); "
                                                               "an existing file or block device is used as is."),
    target: Optional[str] = typer.Option(None, "--target", help="Target device, e.g. vdb (default: next free vd*)."),
    readonly: bool = typer.Option(False, "--readonly", help="Read-only for the guest."),
    shareable: bool = typer.Option(False, "--shareable", help="May be attached to several guests."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and print the plan; create nothing."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT),
):
    """Create a disk image and attach it to a defined guest's config (and to the running guest)."""
    from builder.storage import disk
    from builder.virt.connection import connection

    nbytes = _size(size)
    with connection(_uri(connect)) as conn:
        path = file
        if path is None:
            probe = disk.plan(conn, domain, path=Path("/nonexistent"), size=nbytes, fmt=fmt, target=target,
                              preallocate=preallocate, readonly=readonly, shareable=shareable)
            path = Path.cwd() / f"{domain}-{probe.target}.{'qcow2' if fmt == 'qcow2' else 'img'}"
        p = disk.plan(conn, domain, path=path.absolute(), size=nbytes, fmt=fmt, target=target,
                      preallocate=preallocate, readonly=readonly, shareable=shareable)
        if not dry_run:
            disk.add(conn, p)
    out = {**p.to_dict(), "dry_run": dry_run}
    if json_out:
        print_json(out)
    else:
        verb = "would attach" if dry_run else "attached"
        console.print(f"{verb} {p.path} as {p.target} ({p.bus}) to {domain}"
                      + (f" [{', '.join(p.attached)}]" if p.attached else ""))


@storage_app.command("label")
def storage_label(directory: Path = typer.Argument(..., help="Directory that will hold guest images."),
                  type_: str = typer.Option("virt_image_t", "--type", help="virt_image_t or xen_image_t."),
                  dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands only."),
                  json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """Give DIR the SELinux file context qemu needs (semanage fcontext + restorecon)."""
    from builder.storage import label

    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory", where="DIR")
    commands = label.plan(directory, type_)
    enabled = label.selinux_enabled()
    if json_out:
        print_json({"commands": commands, "selinux_enabled": enabled, "dry_run": dry_run})
    else:
        for argv in commands:
            typer.echo(" ".join(f"'{a}'" if "(" in a else a for a in argv))
        if not enabled:
            typer.echo("SELinux is not enabled on this host", err=True)
    if dry_run:
        return
    if not enabled:
        raise HostError("SELinux is not enabled on this host; nothing to label",
                        hint="run this on an SELinux host, or use --dry-run to see the plan")
    label.apply(commands)


@media_app.command("floppy")
def media_floppy(output: Path = typer.Argument(..., help="Image to write (1.44 MB, FAT12)."),
                 source: Optional[Path] = typer.Option(None, "--from", help="Directory whose files to copy in."),
                 label_: str = typer.Option("", "--label", help="FAT volume label."),
                 json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """A blank or filled 1.44 MB floppy image (2880 sectors, FAT12)."""
    from builder.storage.removable import floppy_from_dir

    info = floppy_from_dir(output, source, label_)
    if json_out:
        print_json(info)
    else:
        console.print(f"wrote {output} ({info['sectors']} sectors, {len(info['files'])} files)")


@media_app.command("attach")
def media_attach(domain: str = typer.Argument(..., help="A defined guest."),
                 file: Path = typer.Argument(..., help="Floppy or ISO image."),
                 kind: str = typer.Option(..., "--as", help="floppy or cdrom."),
                 json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
                 connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT)):
    """Attach a floppy (fda/fdb) or a read-only CD (next free hda-hdd) to a defined guest."""
    from builder.storage.removable import attach
    from builder.virt.connection import connection

    with connection(_uri(connect)) as conn:
        info = attach(conn, domain, file, kind)
    if json_out:
        print_json(info)
    else:
        console.print(f"attached {info['path']} to {domain} as {info['target']} ({kind})")
