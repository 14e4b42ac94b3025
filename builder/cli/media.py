"""Media commands: `golden media oemdrv|ksfloppy|remaster PROFILE`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from builder import catalog, install_methods
from builder.cli import app
from builder.cli.output import console, print_json
from builder.errors import InputError
from builder.layout import BuildLayout
from builder.profile import load
from builder.profile.loader import LoadedProfile

media_app = typer.Typer(help="Kickstart delivery media: OEMDRV side CD, ks floppy, remastered install ISO.",
                        no_args_is_help=True)
app.add_typer(media_app, name="media")


def _kickstart(loaded: LoadedProfile) -> bytes:
    from builder.render.kickstart import render
    from builder.virt.hostfacts import host_facts

    entry = catalog.get(loaded.profile.os)
    if entry.is_windows:
        raise InputError(f"{loaded.name} is a Windows profile: its media come from `golden drivers`")
    return render(loaded, host_facts()).data


def _default(loaded: LoadedProfile, attr: str) -> Path:
    return getattr(BuildLayout.for_profile(loaded.profile, Path.cwd()), attr)


@media_app.command("oemdrv")
def oemdrv_cmd(profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
               output: Optional[Path] = typer.Option(None, "-o", "--output", help="Where to write the ISO.")):
    """A small ISO labelled OEMDRV with ks.cfg at its root (Anaconda on RHEL 7+ reads it by itself)."""
    from builder.media.sidemedia import oemdrv_iso

    loaded = load(profile)
    out = output or _default(loaded, "oemdrv_iso")
    started = time.perf_counter()
    oemdrv_iso(_kickstart(loaded), out)
    console.print(f"wrote {out} (label OEMDRV, ks.cfg) in {time.perf_counter() - started:.2f} s")


@media_app.command("ksfloppy")
def ksfloppy_cmd(profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
                 output: Optional[Path] = typer.Option(None, "-o", "--output", help="Where to write the image.")):
    """A 1.44 MB floppy with ks.cfg for `ks=hd:fd0:/ks.cfg` (RHEL 3-6)."""
    from builder.media.sidemedia import ks_floppy
    from builder.render import bootargs

    loaded = load(profile)
    out = output or _default(loaded, "ks_floppy")
    started = time.perf_counter()
    ks_floppy(_kickstart(loaded), out)
    arg = " ".join(bootargs.ks_arg(catalog.get(loaded.profile.os), "floppy"))
    console.print(f"wrote {out} (FAT12, ks.cfg) in {time.perf_counter() - started:.2f} s; boot with `{arg}`")


@media_app.command("remaster")
def remaster_cmd(
    profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
    iso: Optional[Path] = typer.Option(None, "--iso", help="The vendor install ISO (default: install.media)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Where to write the new ISO."),
    timeout: int = typer.Option(1, "--timeout", help="Boot menu timeout in seconds."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable report."),
):
    """Add ks.cfg to a copy of an install ISO and make its default boot entries use it (BIOS and UEFI)."""
    from builder.media.remaster import plan_remaster, remaster

    loaded = load(profile)
    entry = catalog.get(loaded.profile.os)
    source = iso or (Path(loaded.profile.install.media) if loaded.profile.install.media else None)
    if source is None or loaded.profile.install.media_is_url:
        raise InputError("remaster needs an ISO", where="--iso", hint="pass --iso VENDOR.iso")
    if str(source) == "demo":
        from builder.demo.media import build_demo_media
        source = build_demo_media().iso
    if not Path(source).is_file():
        raise InputError(f"{source} does not exist", where="--iso")
    args = install_methods.get("remaster").boot_args(entry, loaded.profile.virt)
    ks = _kickstart(loaded)
    started = time.perf_counter()
    if dry_run:
        report = plan_remaster(Path(source), ks, args, timeout_s=timeout)
    else:
        report = remaster(Path(source), output or _default(loaded, "remastered_iso"), ks, args, timeout_s=timeout)
    elapsed = time.perf_counter() - started
    if as_json:
        print_json({"src": str(report.src), "out": str(report.out) if report.out else None, "label": report.label,
                    "changed": report.changed, "added": report.added, "boot_lines": report.boot_lines,
                    "entries": report.entries, "boot_images": report.boot_images, "notes": report.notes,
                    "seconds": round(elapsed, 3)})
    else:
        typer.echo(report.summary())
        console.print(f"{'planned' if dry_run else 'remastered'} in {elapsed:.2f} s")
