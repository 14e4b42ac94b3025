"""`golden install` preflight on libvirt's test:///default driver (API paths only)."""

from __future__ import annotations

import re

import pytest

from builder.errors import InputError
from builder.layout import BuildLayout
from builder.profile import load
from builder.virt.install import domain_name, preflight

from profile_factory import representative, write

libvirt = pytest.importorskip("libvirt")


@pytest.fixture
def conn():
    c = libvirt.open("test:///default")
    yield c
    c.close()


def _preflight(tmp_path, conn, domain=None, **overrides):
    loaded = load(write(tmp_path, representative("rhel9.6", output={"dir": str(tmp_path / "out")}, **overrides)))
    preflight(loaded, conn, "test:///default", BuildLayout.for_profile(loaded.profile, tmp_path), domain=domain)


def test_nfs_location_is_refused_before_anything_is_written(tmp_path, conn):
    with pytest.raises(InputError) as exc:
        _preflight(tmp_path, conn, install={"method": "location", "media": "nfs://nfs.example.com/exports/rhel9"})
    assert exc.value.where == "install.media" and "NFS" in exc.value.message
    assert "inst.repo=nfs:HOST:/PATH" in exc.value.hint
    assert not (tmp_path / "out").exists()


def test_http_location_passes(tmp_path, conn):
    _preflight(tmp_path, conn, install={"method": "location", "media": "http://mirror.example.com/tree/"})


def test_a_kept_domain_name_that_exists_is_refused(tmp_path, conn):
    # test:///default always holds a domain called "test"
    with pytest.raises(InputError) as exc:
        _preflight(tmp_path, conn, domain=domain_name("test", keep_domain=True), name="test")
    assert "already exists" in exc.value.message and "--keep-domain" in exc.value.hint


def test_a_build_is_not_blocked_by_a_domain_named_like_its_profile(tmp_path, conn):
    name = domain_name("test", keep_domain=False)
    assert re.fullmatch(r"test-[0-9a-f]{6}", name) and name != domain_name("test", keep_domain=False)
    _preflight(tmp_path, conn, domain=name, name="test")
