"""`golden diagnose FILE|FOLDER|DOMAIN`: known failure signatures in logs, with cause and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from builder.cli import app
from builder.cli.output import console, print_json

_STYLE = {"error": "red", "warning": "yellow", "advice": "cyan", "harmless": "green"}


@app.command("diagnose")
def diagnose_cmd(
    target: str = typer.Argument(..., metavar="FILE|FOLDER|DOMAIN",
                                 help="A log file, a folder of logs (a build's .build folder), or a libvirt domain."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    connect: Optional[str] = typer.Option(None, "--connect", "-c", help="libvirt URI for a DOMAIN."),
    max_mib: int = typer.Option(32, "--max-mib", min=1, help="Read at most the last N MiB of each file."),
):
    """Match the RHEL 5 Virtualization Guide's error signatures (and golden's own) in logs.

    Exit status: 0 no known problem, 1 problems found, 2 no such file, folder or domain.
    """
    from builder import diagnose

    limit = max_mib << 20
    path = Path(target)
    if path.exists() or "/" in target or path.suffix in (".log", ".txt"):
        report = diagnose.diagnose_path(path, max_bytes=limit)
    else:
        from builder.virt.domain_logs import domain_logs
        from builder.virt.hostfacts import default_connect_uri

        files = domain_logs(target, connect or default_connect_uri())
        report = diagnose.diagnose_files(target, "domain", files, max_bytes=limit)
    if as_json:
        print_json(report.to_json())
    else:
        _print(report)
    if report.counted:
        raise typer.Exit(1)


def _print(report) -> None:
    for f in report.findings:
        s = f.signature
        console.print(f"[bold {_STYLE[s.severity]}]{s.id}[/] [{_STYLE[s.severity]}]{s.severity}[/]: "
                      f"[bold]{s.title}[/]")
        for h in f.hits:
            console.print(f"  {f.path}:{h.line}: {h.text}", markup=False)
        if f.more:
            console.print(f"  ... {f.more} more matching lines")
        console.print(f"  cause: {s.cause}", markup=False)
        console.print(f"  fix:   {s.fix}", markup=False)
        if s.guide:
            console.print(f"  guide: section {s.guide.get('section')} ({s.guide.get('lines')})", markup=False)
    if not report.counted:
        console.print("no known problem found")
    for r in report.read:
        part = "" if r.from_byte == 0 else f", the last {r.bytes_read} of {r.size} bytes"
        console.print(f"read {r.path} ({r.source}, {r.lines} lines{part})", markup=False)
    for s in report.skipped:
        console.print(f"skipped {s['file']}: {s['reason']}", markup=False)
    if not report.read:
        console.print(f"nothing to read for {report.target}", markup=False)
