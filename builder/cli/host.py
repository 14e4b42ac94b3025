"""Host commands: doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from builder.cli import app
from builder.cli.output import console, print_json
from builder.errors import EXIT_HOST

_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "info": "cyan"}


@app.command("doctor")
def doctor_cmd(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    start_services: bool = typer.Option(False, "--start-services",
                                        help="Start libvirtd and virtlogd when no init system does."),
    image_dir: Path = typer.Option(Path("/var/lib/libvirt/images"), "--image-dir",
                                   help="Where guest images live (checked for access and SELinux labels)."),
    reprobe: bool = typer.Option(False, "--reprobe", help="Probe KVM again instead of using this boot's answer."),
    connect: Optional[str] = typer.Option(None, "--connect", "-c",
                                          help="Check a remote libvirt host (e.g. qemu+ssh://host/system) "
                                               "through the connection instead of this machine."),
):
    """Check the host: CPU flags, KVM (probed for real), daemons, tools, storage."""
    from builder.virt import accel, connection, doctor

    if connect and not connection.is_local(connect):
        from builder.errors import InputError
        from builder.virt import doctor_remote

        if start_services:
            raise InputError("--start-services starts this machine's daemons, not a remote host's",
                             hint=f"start libvirtd on the host of {connect} with its init system")
        checks, probed = doctor_remote.run(connect, reprobe=reprobe)
        accelerator, title = (probed.accel if probed else "unknown"), f"golden doctor: {connect}"
    else:
        if reprobe:
            accel.probe(force=True)
        checks = doctor.run(image_dir, start_services=start_services)
        accelerator, title = accel.probe().accel, "golden doctor"
    failed = [c for c in checks if c.verdict == "fail"]
    if as_json:
        print_json({"accelerator": accelerator, "connect": connect, "checks": [c.to_json() for c in checks],
                    "ok": not failed})
    else:
        table = Table(title=title)
        for col in ("check", "verdict", "detail", "fix"):
            table.add_column(col)
        for c in checks:
            table.add_row(c.name, f"[{_STYLE[c.verdict]}]{c.verdict}[/]", c.detail, c.fix)
        console.print(table)
        console.print(f"accelerator: [bold]{accelerator.upper()}[/bold]")
    if failed:
        raise typer.Exit(EXIT_HOST)
