"""Pipeline commands: build (profile to published golden image)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from builder.cli import app, print_error
from builder.cli.install import _Progress
from builder.cli.output import console, err_console, print_json
from builder.errors import GoldenError
from builder.layout import BuildLayout

_MARK = {"ran": "[green]ran[/green]", "cached": "[cyan]cached[/cyan]", "failed": "[red]FAILED[/red]",
         "skipped": "[dim]skipped[/dim]", "running": "[yellow]...[/yellow]"}


class _StageLines:
    """One line per finished stage; the install's live panel comes from _Progress."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, stage) -> None:
        if self.quiet or stage.status in ("pending",):
            return
        if stage.status == "running":
            return
        seconds = f"{stage.seconds:6.1f} s" if stage.status in ("ran", "failed") else " " * 8
        detail = f"  {stage.detail}" if stage.detail else ""
        err_console.print(f"  {stage.name:<10} {_MARK.get(stage.status, stage.status):<8} {seconds}{detail}")


@app.command("build")
def build_cmd(
    profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
    connect: Optional[str] = typer.Option(None, "--connect", "-c",
                                          help="libvirt URI (default: $LIBVIRT_DEFAULT_URI or qemu:///system)."),
    force: bool = typer.Option(False, "--force", help="Rebuild every stage even if its inputs did not change."),
    keep_failed: bool = typer.Option(False, "--keep-failed", help="Keep the disks of a failed install."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", "-o",
                                              help="Publish into this folder instead of the profile's output.dir."),
    until: Optional[str] = typer.Option(None, "--until", metavar="STAGE",
                                        help="Stop after this stage (validate, kickstart, media, install, seal)."),
    as_json: bool = typer.Option(False, "--json", help="Print the build record as JSON."),
):
    """Build a golden image: validate, media, install, inspect, customize, seal, publish.

    Each stage reruns only when its inputs changed; the image, its manifest, its
    domain XML template and its report are published together or not at all.
    """
    from builder.pipeline import build
    from builder.profile import load

    loaded = load(profile)
    if output_dir is not None:
        output = loaded.profile.output.model_copy(update={"dir": str(output_dir.absolute())})
        loaded.profile = loaded.profile.model_copy(update={"output": output})
    quiet = as_json
    if not quiet:
        err_console.print(f"building {loaded.name}")
    with _Progress(loaded.name, quiet=quiet) as progress:
        try:
            outcome = build(loaded, connect=connect, force=force, keep_failed=keep_failed, until=until,
                            on_stage=_StageLines(quiet), on_progress=progress, on_event=progress.event)
        except GoldenError as exc:
            if as_json:
                record = BuildLayout.for_profile(loaded.profile, Path.cwd()).build_dir / "build.json"
                if record.exists():
                    print_json(json.loads(record.read_text()))
                print_error(exc)
                raise typer.Exit(exc.exit_code)
            raise
    if as_json:
        print_json(outcome.to_json())
        return
    if outcome.status.startswith("stopped"):
        console.print(f"{outcome.name}: {outcome.status}; nothing published (build dir {outcome.build_dir})")
        return
    if outcome.status == "up-to-date":
        console.print(f"[cyan]up to date[/cyan]: {outcome.name} - nothing rebuilt "
                      "(the profile and its inputs did not change; --force rebuilds)")
    else:
        console.print(f"[green]published {outcome.name}[/green] (rebuilt: {', '.join(outcome.rebuilt)})")
    console.print(f"  image:    {outcome.image}")
    console.print(f"  manifest: {outcome.manifest}")
    if outcome.report:
        console.print(f"  report:   {outcome.report}")


@app.command("matrix")
def matrix_cmd(
    profiles: List[str] = typer.Argument(..., help="Profile paths or shipped profile names."),
    connect: List[str] = typer.Option(None, "--connect", "-c",
                                      help="A libvirt URI to build on; repeat for several hosts (profiles go to them round-robin)."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="At most this many builds at a time."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", "-o", help="Publish every image here."),
    force: bool = typer.Option(False, "--force", help="Rebuild every stage of every profile."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
):
    """Build many profiles across one or more libvirt hosts, N at a time, and summarise."""
    from rich.table import Table

    from builder.pipeline.matrix import exit_code, run_matrix, to_json
    from builder.profile import load
    from builder.virt.hostfacts import default_connect_uri

    for ref in profiles:
        load(ref)                                 # every profile is valid before any build starts
    uris = list(connect) or [default_connect_uri()]

    def done(result) -> None:
        if not as_json:
            err_console.print(f"  {result.profile} on {result.connect}: {result.status} ({result.seconds:.0f} s)")

    results = run_matrix(list(profiles), uris, jobs=jobs,
                         output_dir=output_dir.absolute() if output_dir else None, force=force, on_done=done)
    if as_json:
        print_json(to_json(results))
    else:
        table = Table(title=f"golden matrix: {len(results)} build(s) on {len(uris)} host(s), -j {jobs}")
        for column in ("profile", "host", "status", "seconds", "image / error"):
            table.add_column(column, overflow="fold")
        for r in results:
            colour = "green" if r.exit_code == 0 else "red"
            table.add_row(Path(r.profile).stem, r.connect, f"[{colour}]{r.status}[/{colour}]", f"{r.seconds:.0f}",
                          _short(r.image) if r.image else r.error)
        console.print(table)
    code = exit_code(results)
    if code:
        raise typer.Exit(code)


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
