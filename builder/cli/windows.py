"""Windows commands: unattend, drivers floppy|iso|attach, virtio."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from builder.cli import app
from builder.cli.output import console, print_json
from builder.errors import InputError
from builder.fsutil import atomic_write
from builder.profile import load

drivers_app = typer.Typer(help="virtio-win driver media and driver CDs for Windows guests.",
                          no_args_is_help=True)
app.add_typer(drivers_app, name="drivers")


def _windows(profile: str):
    from builder import catalog

    loaded = load(profile)
    if not catalog.get(loaded.profile.os).is_windows:
        raise InputError(f"{loaded.name} is not a Windows profile", hint="use `golden kickstart` for Linux guests")
    return loaded


@app.command("unattend")
def unattend_cmd(profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
                 output: Optional[Path] = typer.Option(None, "-o", "--output",
                                                       help="Write into this directory instead of stdout.")):
    """Render a Windows profile's answer file: winnt.sif (XP/2003) or autounattend.xml."""
    from builder.windows import unattend

    result = unattend.render(_windows(profile))
    if output is None:
        typer.echo(result.data.decode(), nl=False)
        return
    if output.exists() and not output.is_dir():
        raise InputError(f"{output} is not a directory", where="--output")
    for name, check in result.checks():      # the answer file, and sysprep.inf for a generalized XP/2003
        path = atomic_write(output / name, result.files[name], mode=0o600)
        console.print(f"wrote {path} ({check})", style="green")


def _media_out(loaded, output: Optional[Path], suffix: str) -> Path:
    return output if output is not None else Path.cwd() / f"{loaded.name}-drivers.{suffix}"


@drivers_app.command("floppy")
def floppy_cmd(profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
               source: Optional[str] = typer.Option(None, "--from",
                                                    help="virtio-win tree or ISO (default: windows.drivers.source)."),
               output: Optional[Path] = typer.Option(None, "-o", "--output", help="Floppy image to write.")):
    """A 1.44 MB floppy: the answer file, txtsetup.oem (XP/2003) and the profile's drivers."""
    from builder.media import fat
    from builder.windows import drivers

    loaded = _windows(profile)
    out = drivers.write_floppy(loaded, _media_out(loaded, output, "img"), source)
    out.chmod(0o600)
    console.print(f"wrote {out}", style="green")
    for path, size in fat.list_files(out).items():
        console.print(f"  {path:48} {size:>9,}")


@drivers_app.command("iso")
def iso_cmd(profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
            source: Optional[str] = typer.Option(None, "--from",
                                                 help="virtio-win tree or ISO (default: windows.drivers.source)."),
            output: Optional[Path] = typer.Option(None, "-o", "--output", help="ISO to write.")):
    """A driver CD (Joliet, Rock Ridge): autounattend.xml at the root, drivers where DriverPaths look."""
    from builder.media import iso
    from builder.windows import drivers

    loaded = _windows(profile)
    out = drivers.write_iso(loaded, _media_out(loaded, output, "iso"), source)
    out.chmod(0o600)
    console.print(f"wrote {out}", style="green")
    for path, size in iso.list_files(out).items():
        console.print(f"  {path:48} {size:>9,}")


def _uri(connect: Optional[str]) -> str:
    from builder.virt.hostfacts import default_connect_uri
    return connect or default_connect_uri()


@drivers_app.command("attach")
def attach_cmd(domain: str = typer.Argument(..., help="A defined libvirt domain."),
               iso_path: Path = typer.Option(..., "--iso", help="Driver ISO (e.g. virtio-win.iso or `drivers iso` output)."),
               connect: Optional[str] = typer.Option(None, "--connect", "-c", help="libvirt URI."),
               as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """Put a driver CD into a defined guest (IDE CD-ROM; SATA on q35), seed 13.1."""
    from builder.virt import access, connection
    from builder.windows import attach

    uri = _uri(connect)
    iso_path = attach.check_iso(iso_path)
    if connection.is_local(uri) and "system" in uri:
        access.check_reachable(iso_path, "driver ISO", "--iso")
    with connection.connection(uri) as conn:
        if not connection.is_local(uri) and connection.lookup_domain(conn, domain) is not None:
            from builder.virt import remote     # the daemon there cannot open our path: send the ISO

            iso_path = remote.upload_for_domain(conn, uri, domain, iso_path, console.print)
        result = attach.attach(conn, domain, iso_path)
    if as_json:
        print_json(result.__dict__)
        return
    console.print(f"{result.action} {iso_path} as {result.bus} CD-ROM {result.target} of {domain}", style="green")
    if result.running:
        console.print("the guest is running: the drive appears at its next boot "
                      "(IDE devices are not hot-plugged, seed 13.1)")


@app.command("virtio")
def virtio_cmd(domain: str = typer.Argument(..., help="A defined, shut-off libvirt domain."),
               connect: Optional[str] = typer.Option(None, "--connect", "-c", help="libvirt URI."),
               as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """Switch a guest's disks and NICs to virtio, after checking offline that its drivers are installed."""
    from builder.virt import connection
    from builder.windows import virtio

    with connection.connection(_uri(connect)) as conn:
        result = virtio.switch(conn, domain)
    if as_json:
        print_json({"domain": result.domain, "os": result.report.os, "found": result.report.found,
                    "disks": result.disks, "nics": result.nics, "nics_skipped": result.skipped_nics})
        return
    for line in result.report.found:
        console.print(f"found: {line}")
    for old, new in result.disks:
        console.print(f"disk {old} -> {new} (virtio)", style="green")
    for mac, old in result.nics:
        console.print(f"NIC {mac}: {old} -> virtio", style="green")
    if result.skipped_nics:
        console.print(f"NICs left as they are: {result.skipped_nics}")
    if not (result.disks or result.nics):
        console.print(f"{domain} already uses virtio; nothing changed")
