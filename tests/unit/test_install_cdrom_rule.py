"""A Linux install from a bare CD would hang at the boot prompt: refused at validate time."""

from __future__ import annotations

import pytest

from builder.errors import InputError
from builder.profile import load
from tests.unit.profile_factory import representative, write
from tests.unit.windows_factory import profile as windows_profile


@pytest.mark.parametrize("os_id", ["rhel3.9", "rhel5.11", "rhel7.9", "rhel9.6"])
def test_linux_cdrom_is_refused_with_the_ways_that_work(tmp_path, os_id):
    with pytest.raises(InputError) as exc:
        load(write(tmp_path, representative(os_id, install={"method": "cdrom", "media": "/srv/x.iso"})))
    text = str(exc.value) + " " + " ".join(str(i) for i in exc.value.details.get("issues", []))
    text += " " + (exc.value.hint or "")
    assert "install.method" in text and "no kickstart argument" in text, text
    for way in ("remaster", "ksfloppy", "oemdrv", "location"):
        assert way in text, (way, text)


def test_cli_validate_exits_2_naming_the_field(golden, tmp_path):
    path = write(tmp_path, representative("rhel6.10", install={"method": "cdrom", "media": "/srv/x.iso"}))
    r = golden("validate", path)
    assert r.code == 2
    assert "install.method" in r.err and "remaster" in r.err and "oemdrv" in r.err


def test_windows_cdrom_still_validates(tmp_path):
    loaded = load(windows_profile(tmp_path, "win2k8", "x86_64"))
    assert loaded.profile.install.method == "cdrom"
