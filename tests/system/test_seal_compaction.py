"""Seal's compaction operations on the demo disk: freed blocks leave the published image, swap keeps its UUID."""

from __future__ import annotations

import os

import pytest

from builder.image import open_image
from builder.image.seal import seal as seal_image
from builder.pipeline import publish as pub
from demo_boot import overlay

pytestmark = pytest.mark.system


def published_bytes(work, out):
    pub.convert(work, out, "qcow2")
    size = out.stat().st_size
    out.unlink()
    return size


def test_free_space_and_swap_reset(demo_install, tmp_path):
    work = overlay(demo_install.disk, tmp_path / "work.qcow2")
    junk = os.urandom(1 << 20) * 48         # incompressible-looking per cluster, 48 MiB
    with open_image(work, backend="guestfs") as h:
        swap_before = {f.device: (f.uuid, f.label) for f in h.filesystems() if f.fstype == "swap"}
        h.write("/root/junk", junk)
    with open_image(work, backend="guestfs") as h:
        h.rm_rf("/root/junk")
    dirty = published_bytes(work, tmp_path / "dirty.qcow2")

    with open_image(work, backend="guestfs") as h:
        report = seal_image(h, only=["free-space", "swap-reset"])
    ops = {op["name"]: op for op in report["operations"]}
    assert ops["free-space"]["result"] == "changed" and ops["swap-reset"]["result"] == "changed"
    clean = published_bytes(work, tmp_path / "clean.qcow2")
    assert clean < dirty - (32 << 20), (clean, dirty)

    with open_image(work, backend="guestfs", readonly=True) as h:
        swap_after = {f.device: (f.uuid, f.label) for f in h.filesystems() if f.fstype == "swap"}
    assert swap_before and swap_after == swap_before
