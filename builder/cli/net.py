"""`golden net default`: libvirt's NAT network and IP forwarding (seed 10.1)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer

from builder.cli import app
from builder.cli.output import console, print_json
from builder.errors import InputError

net_app = typer.Typer(help="libvirt virtual networks (seed 10.1).", no_args_is_help=True)
app.add_typer(net_app, name="net")


@net_app.command("default")
def net_default_cmd(
    root: Optional[Path] = typer.Option(None, "--root", help="Write the files into this tree instead of the host: "
                                        "ROOT/etc/libvirt/qemu/networks/default.xml, its autostart link, "
                                        "ROOT/etc/sysctl.conf."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    apply: bool = typer.Option(False, "--apply", help="Change this host: define, autostart and start the "
                               "network through libvirt and turn IP forwarding on. Needs root."),
    source: Path = typer.Option(Path("/usr/share/libvirt/networks/default.xml"), "--from",
                                help="The network XML to define (default: the one libvirt ships)."),
    connect: str = typer.Option("qemu:///system", "--connect", "-c", help="libvirt URI for --apply."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Define, autostart and start libvirt's NAT `default` network; net.ipv4.ip_forward = 1 in sysctl.conf."""
    from builder.net import natdefault as nat

    if root is not None and apply:
        raise InputError("--root and --apply: pick one (--root stages files, --apply changes this host)")
    if root is None and not dry_run and not apply:
        raise InputError("golden net default changes this host's routing (a NAT bridge and iptables rules)",
                         "look first with --dry-run, stage the files with --root DIR, or pass --apply")
    if root is not None and (root.exists() and not root.is_dir()):
        raise InputError(f"--root {root}: not a folder")
    plan = nat.make_plan(root if root is not None else Path("/"), source=source)
    from builder.net.netxml import validate
    import shutil
    if shutil.which("virt-xml-validate"):
        validate(plan.xml, "network")
    report = None
    if not dry_run:
        report = nat.write_tree(plan) if root is not None else nat.apply_live(plan, connect)
    if as_json:
        data = plan.to_json()
        data["dry_run"] = dry_run
        if report is not None:
            data["written"] = [str(p) for p in report.written]
            data["linked"] = [str(p) for p in report.linked]
            data["ran"] = report.ran
        print_json(data)
        return
    console.print(f"libvirt network [bold]default[/bold] from {plan.xml_source}")
    for change in plan.files:
        state = "new file" if change.old is None else ("changes" if change.changed else "unchanged")
        console.print(f"--- {change.path} ({state})")
        if change.changed:
            typer.echo(change.diff() if change.old is not None else change.new, nl=False)
    if plan.autostart_link:
        console.print(f"--- {plan.autostart_link} -> {nat.AUTOSTART_TARGET} (autostart link)")
    for note in plan.notes:
        console.print(f"note: {note}")
    if dry_run:
        console.print("on the host this is:")
        for cmd in plan.commands:
            console.print(f"  # {shlex.join(cmd)}")
        console.print("dry run: nothing changed")
        return
    for path in report.written:
        console.print(f"wrote {path}")
    for path in report.linked:
        console.print(f"linked {path}")
    for step in report.ran:
        console.print(f"ran: {step}")
    if root is not None:
        console.print(f"staged under {root}: nothing on this host changed")
