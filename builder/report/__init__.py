"""`golden report`: one self-contained HTML page per build.

    render_report(build_dir)            -> build_dir/report.html
    render_report(build_dir, out=path)  -> path

It reads build_dir/build.json (the build record), build_dir/clones.json when
present, and for a failed build build_dir/screenshot.png and the end of
build_dir/serial.log; nothing else in the build directory is read.
"""

from builder.report.render import REPORT_NAME, render_html, render_report

__all__ = ["REPORT_NAME", "render_html", "render_report"]
