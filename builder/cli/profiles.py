"""Commands that read profiles: profiles, os, show, validate, kickstart, plan."""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import List, Optional

import typer
import yaml
from rich.table import Table

from builder import catalog
from builder.cli import app
from builder.cli.output import console, print_json
from builder.errors import GoldenError, InputError
from builder.fsutil import atomic_write
from builder.profile import load, shipped_profiles
from builder.profile.loader import LoadedProfile, display_path
from builder.profile.dump import resolved_dump
from builder.virt.install_cmd import shell_line


@app.command("profiles")
def profiles_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """List the shipped profiles."""
    from builder import paths
    from builder.errors import HostError

    shipped = shipped_profiles()
    if not shipped:
        where = paths.profiles_dir()
        raise HostError(f"no shipped profiles found: {where} " + ("has no *.yaml files" if where.is_dir()
                                                                 else "does not exist"),
                        hint="set GOLDEN_HOME to the folder that holds golden's profiles/ (its checkout), "
                             "or give commands a profile path")
    rows = []
    for name, path in shipped.items():
        try:
            loaded = load(str(path))
            p = loaded.profile
            rows.append({"name": name, "os": p.os, "arch": p.arch, "hypervisor": p.hypervisor, "virt": p.virt,
                         "method": p.install.method, "description": p.description, "valid": True})
        except GoldenError as exc:
            rows.append({"name": name, "valid": False, "error": str(exc)})
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Shipped profiles ({display_path(paths.profiles_dir())})")
    for col in ("name", "os", "arch", "hypervisor", "virt", "method", "description"):
        # Names and ids are what people copy into commands: never cut them.
        table.add_column(col, no_wrap=col != "description")
    for r in rows:
        if r["valid"]:
            table.add_row(r["name"], r["os"], r["arch"], r["hypervisor"], r["virt"], r["method"], r["description"])
        else:
            table.add_row(r["name"], "[red]invalid[/red]", "", "", "", "", r["error"])
    console.print(table)


@app.command("os")
def os_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """List the OS catalog: every OS id a profile can name."""
    entries = catalog.entries()
    if as_json:
        print_json({k: v.model_dump(mode="json") for k, v in entries.items()})
        return
    table = Table(title="OS catalog (builder/data/catalog*.yaml)")
    for col in ("id", "name", "arches", "answer file", "virtio", "Xen PV", "ks dialect", "osinfo"):
        table.add_column(col, no_wrap=col == "id")
    for key, e in entries.items():
        table.add_row(key, e.name, ",".join(e.arches), e.answer_file,
                      "yes" if e.virt.virtio else "no", "yes" if e.virt.pv else "no",
                      e.pykickstart or "-", e.osinfo[0])
    console.print(table)


@app.command("show")
def show_cmd(profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
             as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """Show the resolved profile: inherited values and defaults included, secrets hidden."""
    loaded = load(profile)
    data = resolved_dump(loaded)
    if as_json:
        print_json(data)
        return
    chain = " <- ".join(display_path(p) for p in loaded.chain)
    typer.echo(f"# resolved profile {loaded.name} ({chain})")
    typer.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())


@app.command("validate")
def validate_cmd(profiles: List[str] = typer.Argument(..., help="Profile paths or shipped names."),
                 as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """Validate profiles and the files they generate (kickstarts via pykickstart)."""
    from builder.cli.render import render_answer_files

    results = []
    failed = []
    for ref in profiles:
        try:
            loaded = load(ref)
            checked = render_answer_files(loaded)
            results.append({"profile": ref, "ok": True, "checked": checked})
        except GoldenError as exc:
            if os.environ.get("GOLDEN_DEBUG"):
                traceback.print_exc()
            failed.append(exc)
            results.append({"profile": ref, "ok": False,
                            "errors": exc.lines() if hasattr(exc, "lines") else [str(exc)],
                            "hint": exc.hint})
    if as_json:
        print_json(results)
    else:
        for r in results:
            if r["ok"]:
                console.print(f"ok: {r['profile']}: {', '.join(r['checked'])}")
    if failed:
        if not as_json:
            from builder.cli import print_error
            for exc in failed:
                print_error(exc)
        raise typer.Exit(failed[0].exit_code)


@app.command("kickstart")
def kickstart_cmd(profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
                  output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write here instead of stdout.")):
    """Render a profile's kickstart, validated by pykickstart at the OS's version."""
    from builder.render.kickstart import render
    from builder.virt.hostfacts import host_facts

    result = render(load(profile), host_facts())
    if output:
        atomic_write(output, result.data, mode=0o600)
        console.print(f"wrote {output} (pykickstart {result.version}: valid)", style="green")
    else:
        typer.echo(result.text, nl=False)


@app.command("plan")
def plan_cmd(profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
             connect: Optional[str] = typer.Option(None, "--connect", "-c", help="libvirt URI."),
             as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """Show every artifact a build would write and the virt-install command it would run."""
    from builder.cli.render import plan_for

    plan = plan_for(load(profile), connect=connect)
    if as_json:
        print_json(plan.to_json())
        return
    console.print(f"[bold]Plan for {plan.profile}[/bold] ({plan.os.name}, {plan.target.virt_type} via {plan.target.connect})")
    table = Table(show_header=True)
    table.add_column("artifact")
    table.add_column("what")
    for a in plan.artifacts:
        table.add_row(display_path(a.path), a.description)
    console.print(table)
    console.print("[bold]virt-install command[/bold]")
    typer.echo(shell_line(plan.virt_install))
    if plan.image_steps["customize"]:
        console.print(f"[bold]customize[/bold]: {plan.image_steps['customize']}")
    seal = plan.image_steps["seal"]
    console.print("[bold]seal[/bold]: default operations" + (f", skipping {seal['skip']}" if seal["skip"] else "")
                  + (f", only {seal['only']}" if seal["only"] else ""))
    for note in plan.notes:
        console.print(f"note: {note}")


def require_linux(loaded: LoadedProfile):
    if catalog.get(loaded.profile.os).is_windows:
        raise InputError(f"{loaded.name} is a Windows profile", hint="use `golden unattend` for its answer files")
