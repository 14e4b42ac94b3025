"""Report command: one self-contained HTML page per build."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Optional

import typer

from builder.cli import app
from builder.cli.output import console, err_console, print_json


@app.command("report")
def report_cmd(
    build_dir: Path = typer.Argument(..., help="The build directory (DIR/NAME.build) that holds build.json."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", metavar="OUT.html",
                                       help="Write the page here (default: BUILD_DIR/report.html)."),
    open_page: bool = typer.Option(False, "--open", help="Open the page in a web browser afterwards."),
    as_json: bool = typer.Option(False, "--json", help="Print where the page was written, as JSON."),
):
    """Write an HTML report of a build: stages, artifacts, inspect, seal, clones, failure evidence.

    The page is one file with everything inline (no JavaScript, nothing fetched),
    so it can be kept as a CI artifact or mailed.
    """
    from builder.report import render_report

    path = render_report(build_dir, out).absolute()
    if as_json:
        print_json({"report": str(path)})
    else:
        console.print(f"report: {path}")
    if open_page and not webbrowser.open(path.as_uri()):
        err_console.print(f"no web browser found here; open {path.as_uri()} yourself")
