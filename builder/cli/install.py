"""Install commands: install, demo-media."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.live import Live
from rich.table import Table

from builder.cli import app, print_error
from builder.cli.output import console, err_console, print_json
from builder.errors import InstallError
from builder.profile import load


def _progress_table(profile: str, snap) -> Table:
    table = Table(show_header=False, box=None, title=f"installing {profile}")
    table.add_row("elapsed", f"{snap.elapsed:5.0f} s")
    table.add_row("stage", snap.stage)
    table.add_row("written", f"{snap.disk_bytes_written / (1 << 20):8.1f} MiB")
    table.add_row("quiet for", f"{snap.idle_for:5.0f} s")
    table.add_row("console", snap.last_line[-70:])
    return table


class _Progress:
    """A live panel on a terminal; one line per stage change in logs and CI."""

    def __init__(self, profile: str, quiet: bool):
        self.profile = profile
        self.quiet = quiet
        self.live: Live | None = None
        self.last_stage = None

    def __enter__(self):
        if not self.quiet and err_console.is_terminal:
            self.live = Live(console=err_console, refresh_per_second=2, transient=True)
            self.live.__enter__()
        return self

    def __call__(self, snap) -> None:
        if self.quiet:
            return
        if self.live:
            self.live.update(_progress_table(self.profile, snap))
        elif snap.stage != self.last_stage:
            err_console.print(f"[{snap.elapsed:5.0f}s] {self.profile}: {snap.stage}")
        self.last_stage = snap.stage

    def event(self, message: str) -> None:
        if not self.quiet:
            err_console.print(f"{self.profile}: {message}")

    def __exit__(self, *exc):
        if self.live:
            self.live.__exit__(*exc)


@app.command("install")
def install_cmd(
    profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
    connect: Optional[str] = typer.Option(None, "--connect", "-c",
                                          help="libvirt URI (default: $LIBVIRT_DEFAULT_URI or qemu:///system)."),
    keep_failed: bool = typer.Option(False, "--keep-failed", help="Keep the disks of a failed install."),
    keep_domain: bool = typer.Option(False, "--keep-domain",
                                     help="Keep the installed domain defined (shut off), named after the profile. "
                                          "Default: a uniquely named install domain, undefined once its disk and "
                                          "XML are saved."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Run the profile's unattended install under libvirt and watch it to the end."""
    from builder.virt.install import install

    loaded = load(profile)
    with _Progress(loaded.name, quiet=as_json) as progress:
        try:
            result = install(loaded, connect=connect, keep_failed=keep_failed, keep_domain=keep_domain,
                             on_progress=progress,
                             on_event=progress.event)
        except InstallError as exc:
            if as_json:
                print_json(exc.details.get("result", {"status": "failed", "reason": exc.message}))
                print_error(exc)
                raise typer.Exit(exc.exit_code)
            raise
    if as_json:
        print_json(result.to_json())
        return
    console.print(f"[green]installed {result.profile}[/green] in {result.elapsed:.0f} s "
                  f"({result.accelerator}, {result.connect})")
    if result.domain_kept:
        console.print(f"  domain:     {result.domain} (defined, shut off)")
    else:
        console.print(f"  domain:     {result.domain} (undefined; --keep-domain keeps it)")
    for disk in result.disks:
        console.print(f"  disk:       {disk}")
    console.print(f"  serial log: {result.serial_log}")
    console.print(f"  domain XML: {result.domain_xml}")


@app.command("demo-media")
def demo_media_cmd(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also place the media in this directory."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the cache is current."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Build golden's demo install media (a small RHEL-like installer; NOT Red Hat Enterprise Linux)."""
    from builder.demo.media import build_demo_media

    media = build_demo_media(out, force=force)
    info = {"iso": str(media.iso), "kernel": str(media.kernel), "initrd": str(media.initrd),
            "label": media.label, "version": media.version, "sha256": media.sha256}
    if as_json:
        print_json(info)
        return
    console.print(f"demo media {media.version} (label {media.label}) - demo media, not RHEL")
    for key in ("iso", "kernel", "initrd"):
        console.print(f"  {key:7} {info[key]}")
