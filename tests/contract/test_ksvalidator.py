"""Anaconda's own parser (ksvalidator, pykickstart) accepts every kickstart golden writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from builder import catalog
from builder.profile import load, shipped_profiles
from builder.render.kickstart import HostFacts, render
from tests.unit.profile_factory import representative, write

KSVALIDATOR = Path(sys.executable).parent / "ksvalidator"
LINUX_PROFILES = [name for name, path in shipped_profiles().items()
                  if not catalog.get(load(str(path)).profile.os).is_windows]
LINUX_OS = [k for k, v in catalog.entries().items() if not v.is_windows]


def ksvalidate(version: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    ks = tmp_path / "ks.cfg"
    ks.write_text(text)
    return subprocess.run([str(KSVALIDATOR), "-v", version, str(ks)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", LINUX_PROFILES)
def test_shipped_profile_kickstart_passes_ksvalidator(name, tmp_path):
    result = render(load(name), HostFacts(constant_tsc=False))
    proc = ksvalidate(result.version, result.text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in (proc.stdout + proc.stderr).lower()


@pytest.mark.parametrize("os_id", LINUX_OS)
def test_every_catalog_version_renders_a_valid_kickstart(os_id, tmp_path):
    loaded = load(write(tmp_path, representative(os_id)))
    result = render(loaded, HostFacts(constant_tsc=False))
    assert result.version == catalog.get(os_id).pykickstart
    proc = ksvalidate(result.version, result.text, tmp_path)
    assert proc.returncode == 0, f"{os_id}:\n{proc.stdout}{proc.stderr}\n{result.text}"
    # golden never leans on deprecated syntax: pykickstart raises no warnings either
    assert not result.warnings, result.warnings
