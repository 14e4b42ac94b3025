"""Profile rules specific to Windows guests (driver sets, product keys)."""

from __future__ import annotations


def check(profile, entry) -> list[tuple[list, str, str | None]]:
    return []
