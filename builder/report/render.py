"""Render a build directory's records into one self-contained HTML page.

Self-contained means a person can open it from a CI artifact store or a mail
attachment: the CSS is inline, the screenshot is a data: URI, there is no
JavaScript, and a Content-Security-Policy forbids fetching anything. Jinja2
escapes every value (autoescape), so a serial log holding markup shows as
text. The page carries no render time: the same records give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from builder.fsutil import atomic_write
from builder.report import build_view, records
from builder.report.changes_view import customize_view, seal_view
from builder.report.clones_view import clones_view
from builder.report.inspect_view import inspect_view

REPORT_NAME = "report.html"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("builder.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(build_dir: Path) -> str:
    """The report page for BUILD_DIR as text; InputError when build.json is missing or malformed."""
    build_dir = Path(build_dir)
    record = records.load_build(build_dir)
    clones, clones_problem = records.load_clones(build_dir)
    image_sha = record.image.sha256 if record.image is not None else None
    page = {
        "name": record.name,
        "build_dir": str(build_dir),
        "status": build_view.status(record),
        "header": build_view.header(record),
        "failure": build_view.failure(record, build_dir),
        "timeline": build_view.timeline(record),
        "artifacts": build_view.artifacts(record),
        "inspect": inspect_view(record.inspect),
        "customize": customize_view(record.customize),
        "seal": seal_view(record.seal),
        "clones": clones_view(clones, clones_problem, image_sha),
        "tools": build_view.tools(record),
    }
    return _environment().get_template("report.html.j2").render(**page)


def render_report(build_dir: Path, out: Path | None = None) -> Path:
    """Write the report of BUILD_DIR to OUT (default BUILD_DIR/report.html) atomically; return its path."""
    build_dir = Path(build_dir)
    html = render_html(build_dir)
    target = Path(out) if out is not None else build_dir / REPORT_NAME
    return atomic_write(target, html)
