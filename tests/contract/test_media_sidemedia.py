"""Kickstart side media: the OEMDRV ISO and the ks floppy."""

from __future__ import annotations

import subprocess
import time

import pytest

from builder.errors import InputError
from builder.media.sidemedia import ks_floppy, oemdrv_iso

from media_isos import run

KS = b"#version=RHEL9\ntext\nrootpw --lock\nreboot\n" * 20


def test_oemdrv_iso(tmp_path):
    out = oemdrv_iso(KS, tmp_path / "oemdrv.iso")
    assert "Volume id: OEMDRV" in run("isoinfo", "-d", "-i", str(out)).stdout
    for flags in (["-R"], ["-J"]):
        assert run("isoinfo", *flags, "-x", "/ks.cfg", "-i", str(out), text=False).stdout == KS
    assert run("isoinfo", "-x", "/KS.CFG;1", "-i", str(out), text=False).stdout == KS
    assert oemdrv_iso(KS, tmp_path / "again.iso").read_bytes() == out.read_bytes()


def test_ks_floppy(tmp_path):
    out = ks_floppy(KS, tmp_path / "ks.img")
    assert out.stat().st_size == 1_474_560
    assert run("mtype", "-i", str(out), "::ks.cfg", text=False).stdout == KS
    assert "KS       CFG" in run("mdir", "-i", str(out), "::").stdout
    subprocess.run(["fsck.fat", "-n", str(out)], check=True, capture_output=True)
    assert ks_floppy(KS, tmp_path / "again.img").read_bytes() == out.read_bytes()


@pytest.mark.parametrize("make", [oemdrv_iso, ks_floppy])
def test_fast(tmp_path, make):
    make(KS, tmp_path / "warm")            # imports are not what we measure
    times = []
    for i in range(3):
        t = time.perf_counter()
        make(KS, tmp_path / f"m{i}")
        times.append(time.perf_counter() - t)
    assert sorted(times)[1] < 0.5


@pytest.mark.parametrize("make", [oemdrv_iso, ks_floppy])
def test_empty_kickstart_is_refused(tmp_path, make):
    with pytest.raises(InputError, match="empty"):
        make(b"", tmp_path / "x")
