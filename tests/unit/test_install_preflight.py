"""`golden install` preflight on libvirt's test:///default driver (API paths only)."""

from __future__ import annotations

import pytest

from builder.errors import InputError
from builder.layout import BuildLayout
from builder.profile import load
from builder.virt.install import preflight

from profile_factory import representative, write

libvirt = pytest.importorskip("libvirt")


@pytest.fixture
def conn():
    c = libvirt.open("test:///default")
    yield c
    c.close()


def _preflight(tmp_path, conn, **overrides):
    loaded = load(write(tmp_path, representative("rhel9.6", output={"dir": str(tmp_path / "out")}, **overrides)))
    preflight(loaded, conn, "test:///default", BuildLayout.for_profile(loaded.profile, tmp_path))


def test_nfs_location_is_refused_before_anything_is_written(tmp_path, conn):
    with pytest.raises(InputError) as exc:
        _preflight(tmp_path, conn, install={"method": "location", "media": "nfs://nfs.example.com/exports/rhel9"})
    assert exc.value.where == "install.media" and "NFS" in exc.value.message
    assert "inst.repo=nfs:HOST:/PATH" in exc.value.hint
    assert not (tmp_path / "out").exists()


def test_http_location_passes(tmp_path, conn):
    _preflight(tmp_path, conn, install={"method": "location", "media": "http://mirror.example.com/tree/"})


def test_name_of_an_existing_domain_is_refused(tmp_path, conn):
    # test:///default always holds a domain called "test"
    with pytest.raises(InputError) as exc:
        _preflight(tmp_path, conn, name="test")
    assert "already exists" in exc.value.message
