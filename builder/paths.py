"""Where golden's shipped data lives: profiles, templates and driver manifests.

They sit beside the package in a checkout (the editable install golden uses);
a wheel carries a copy in builder/shipped/ (see setup.py). GOLDEN_HOME points
elsewhere for a relocated install.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def home() -> Path:
    env = os.environ.get("GOLDEN_HOME")
    if env:
        return Path(env).resolve()
    shipped = PACKAGE_DIR / "shipped"
    # A checkout wins over a stale copy so edits to profiles/ show at once.
    if not (PACKAGE_DIR.parent / "profiles").is_dir() and shipped.is_dir():
        return shipped
    return PACKAGE_DIR.parent


def profiles_dir() -> Path:
    return home() / "profiles"


def kickstarts_dir() -> Path:
    return home() / "kickstarts"


def drivers_dir() -> Path:
    return home() / "drivers"


def data_dir() -> Path:
    return PACKAGE_DIR / "data"


def cache_dir() -> Path:
    """Per-user cache for expensive, reusable things (demo media, probes)."""
    env = os.environ.get("GOLDEN_CACHE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        # Media in here is handed to qemu, which libvirt's system daemon runs
        # as its own user: /root is not traversable for it, /var/cache is.
        return Path("/var/cache/golden")
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "golden" if xdg else Path.home() / ".cache" / "golden"
