"""Choosing a publish target from --to, and what each says about a bad URI."""

from __future__ import annotations

import pytest

from builder.errors import InputError
from builder.ship.targets import Target, resolve, targets
from builder.ship.targets import libvirt_pool, oci
from tests.ship_fixtures import make_build


def test_every_registered_target_meets_the_protocol():
    assert [t.name for t in targets()] == ["oci", "libvirt-pool", "directory"]
    assert all(isinstance(t, Target) for t in targets())


@pytest.mark.parametrize("uri, name", [
    ("oci://127.0.0.1:5000/golden/rhel9:1", "oci"),
    ("libvirt+qemu:///system/golden", "libvirt-pool"),
    ("file:///srv/images", "directory"),
    ("/srv/images", "directory"),
])
def test_uri_picks_its_target(uri, name):
    assert resolve(uri).name == name


def test_libvirt_uri_keeps_the_connect_uri_intact():
    assert libvirt_pool.parse("libvirt+qemu:///system/golden") == ("qemu:///system", "golden")
    assert libvirt_pool.parse("libvirt+qemu+ssh://root@h/system/images?keyfile=/k") == \
        ("qemu+ssh://root@h/system?keyfile=/k", "images")
    with pytest.raises(InputError) as exc:
        libvirt_pool.parse("libvirt+qemu:///golden")
    assert exc.value.where == "--to"


def test_oci_reference_scheme_follows_the_host():
    assert oci.parse("oci://127.0.0.1:5000/golden/rhel9:1.0").base == "http://127.0.0.1:5000"
    ref = oci.parse("oci://registry.example.com/golden/rhel9")
    assert (ref.base, ref.repo, ref.tag) == ("https://registry.example.com", "golden/rhel9", "latest")
    with pytest.raises(InputError) as exc:
        oci.parse("oci://127.0.0.1:5000/Golden/RHEL9:1")
    assert "lower case" in exc.value.hint


def test_dry_runs_touch_no_registry_and_no_daemon(tmp_path, golden):
    manifest = make_build(tmp_path)
    run = golden("publish", manifest, "--to", "oci://127.0.0.1:9/golden/x:1", "--dry-run")
    assert run.code == 0, run.err
    assert "would push it to http://127.0.0.1:9/v2/golden/x as tag 1" in run.out
    run = golden("publish", manifest, "--to", "libvirt+qemu+ssh://nohost.invalid/system/p", "--dry-run")
    assert run.code == 0, run.err
    assert "would upload" in run.out and "rhel7-golden.domain.xml" in run.out


def test_bad_manifest_is_an_input_error_naming_the_field(tmp_path, golden):
    bad = tmp_path / "x.manifest.json"
    bad.write_text('{"golden_manifest": 1, "name": "x", "status": "published", "image": {"path": "/x"}}')
    run = golden("publish", bad, "--to", tmp_path / "site")
    assert run.code == 2 and f"{bad}: image.sha256: missing" in run.err
    assert not (tmp_path / "site").exists()
