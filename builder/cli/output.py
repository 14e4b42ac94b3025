"""Shared output helpers: rich for people, JSON for machines."""

from __future__ import annotations

import json
import sys

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def checks_table(title: str, checks):
    """doctor's and migrate check's table: one row per check, the verdict coloured."""
    from rich.table import Table

    style = {"ok": "green", "warn": "yellow", "fail": "red", "info": "cyan"}
    table = Table(title=title)
    for col in ("check", "verdict", "detail", "fix"):
        table.add_column(col)
    for c in checks:
        table.add_row(c.name, f"[{style[c.verdict]}]{c.verdict}[/]", c.detail, c.fix)
    return table


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
