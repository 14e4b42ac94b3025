"""Host commands: `golden doctor`, `golden host switch` and `golden host kickstart`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from builder.cli import app
from builder.cli.output import checks_table, console, print_json
from builder.errors import EXIT_HOST, InputError


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
        console.print(checks_table(title, checks))
        console.print(f"accelerator: [bold]{accelerator.upper()}[/bold]")
    if failed:
        raise typer.Exit(EXIT_HOST)


# `golden host`: the virtualization host itself, staged under --root (seed §33.2, §6.1, §6.3).
host_app = typer.Typer(help="The virtualization host: switch Xen <-> KVM in a staged tree, host kickstarts.",
                       no_args_is_help=True)
app.add_typer(host_app, name="host")


@host_app.command("switch")
def host_switch_cmd(
    to: str = typer.Option(..., "--to", help="kvm | xen: the hypervisor the host boots next."),
    root: Path = typer.Option(..., "--root", help="A copy of the host's files (holds boot/grub/grub.conf); "
                              "golden never edits this machine's /boot."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the diff; write nothing."),
    arch: Optional[str] = typer.Option(None, "--arch", help="The host's architecture (default: "
                                       "ROOT/etc/rpm/platform). KVM needs x86_64."),
    host_release: Optional[str] = typer.Option(None, "--host-release", help="RHEL release of the host, "
                                               "e.g. 5.4 (default: from ROOT/etc/redhat-release)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Make grub.conf's default= boot the plain kernel (KVM) or the xen.gz stanza (Xen); list the rest."""
    from builder.virt import hostswitch

    if not root.is_dir():
        raise InputError(f"--root {root}: not a folder")
    plan = hostswitch.make_plan(root, to, arch=arch, host_release_text=host_release)
    written = [] if dry_run else hostswitch.write(plan)
    if as_json:
        data = plan.to_json()
        data["dry_run"] = dry_run
        data["written"] = [str(p) for p in written]
        print_json(data)
        return
    now = f"{plan.current.index} ({plan.current.title})" if plan.current else "none"
    if not plan.changed:
        console.print(f"{to}: nothing to change: {plan.config} already boots stanza {now}")
        return
    console.print(f"{to}: {plan.config} default {now} -> {plan.new.index} ({plan.new.title})")
    for change in plan.files:
        if change.changed:
            typer.echo(change.diff(), nl=False)
    for note in plan.notes:
        console.print(f"note: {note}")
    console.print("then, on the host:")
    for i, step in enumerate(plan.steps(), 1):
        console.print(f"  {i}. {step}")
    verify = plan.verify()
    console.print(f"expect: {verify['expect']} (uname -r: {verify['uname_r']})")
    if dry_run:
        console.print("dry run: nothing written")
    else:
        for path in written:
            console.print(f"wrote {path}")


@host_app.command("kickstart")
def host_kickstart_cmd(
    hypervisor: str = typer.Option(..., "--hypervisor", help="kvm | xen"),
    arch: str = typer.Option("x86_64", "--arch", help="The host's architecture (ia64 adds the Xen guest firmware)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write here (default: stdout)."),
):
    """The %packages lines (@kvm or @xen) that make a new RHEL 5 install a virtualization host."""
    from builder.fsutil import atomic_write
    from builder.render.kickstart import validate
    from builder.virt import hostswitch

    text = hostswitch.host_kickstart(hypervisor, arch)
    validate(text, "RHEL5", name="host.ks")
    if output:
        atomic_write(output, text)
        typer.echo(f"wrote {output} (pykickstart RHEL5: valid)", err=True)
    else:
        typer.echo(text, nl=False)
