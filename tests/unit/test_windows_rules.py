"""Windows profile rules: keys, driver sets, media, names, values."""

from __future__ import annotations

import pytest

from builder import catalog
from builder.errors import InputError
from builder.profile import load
from builder.profile.loader import ProfileError
from builder.windows import manifest, values
from tests.unit.windows_factory import KEYS, profile


def errors(path) -> list[str]:
    try:
        load(path)
    except ProfileError as exc:
        return exc.lines()
    return []


@pytest.mark.parametrize("key,os_id,ok", [
    (KEYS["sif"], "winxp", True),
    (KEYS["win7"], "win7", True),
    (KEYS["win10"], "win10", True),              # W269N: an N, fine from Windows 8 on
    (KEYS["win10"], "win7", False),              # ... but no Windows 7 key has one
    ("bcdfg-hjkmp-qrtvw-xy234-6789b", "winxp", False),
    ("BCDFG-HJKMP-QRTVW-XY234", "winxp", False),
    ("BCDFGHJKMPQRTVWXY2346789B", "winxp", False),
    ("BCDFG-HJKMP-QRTVW-XY234-6789B-", "winxp", False),
    ("BCDF0-HJKMP-QRTVW-XY234-6789B", "winxp", False),   # 0, 1, 5 never appear
])
def test_product_key_shape(key, os_id, ok):
    assert (values.product_key_problem(key, catalog.get(os_id).windows) is None) is ok


def test_every_published_key_fits_its_release():
    for os_id in ("win2k8", "win2k8r2", "win7", "win10", "win2k16", "win2k19", "win2k22"):
        assert values.product_key_problem(KEYS[os_id], catalog.get(os_id).windows) is None, os_id


def test_key_read_at_validate_time(tmp_path, monkeypatch):
    monkeypatch.setenv("GOLDEN_T_KEY", "not-a-key")
    path = profile(tmp_path, "win2k8", "x86_64", windows={"product_key": {"env": "GOLDEN_T_KEY"}})
    assert any("windows.product_key: not a product key" in e for e in errors(path))
    monkeypatch.setenv("GOLDEN_T_KEY", KEYS["win2k8"])
    assert errors(path) == []


def test_key_required_for_xp_and_2003_only(tmp_path):
    for os_id, arch, required in (("winxp", "i386", True), ("win2k3", "x86_64", True), ("win7", "x86_64", False)):
        path = profile(tmp_path, os_id, arch)
        path.write_text(path.read_text().replace("  product_key:\n    file: secrets/product.key\n", ""))
        assert any("needs a product key" in e for e in errors(path)) is required, os_id


@pytest.mark.parametrize("name,ok", [
    ("WEB1", True), ("W2K3-GOLDEN", True), ("A" * 15, True), ("A" * 16, False), ("web_1", False),
    ("12345", False), ("-web", False), ("web.corp", False), ("wéb", False),
])
def test_computer_names(tmp_path, name, ok):
    path = profile(tmp_path, "win2k8", "x86_64", windows={"computer_name": name})
    assert (errors(path) == []) is ok


def test_driver_set_missing_names_the_folder(tmp_path):
    lines = errors(profile(tmp_path, "winxp", "x86_64", windows={"drivers": {"sets": ["viostor"]}}))
    assert any("windows.drivers.sets[0]" in e and "viostor/xp/amd64" in e for e in lines), lines
    lines = errors(profile(tmp_path, "win2k3", "i386", windows={"drivers": {"sets": ["viostor", "vioscsi"]}}))
    assert any("windows.drivers.sets[1]" in e and "vioscsi/2k3/x86" in e for e in lines), lines
    lines = errors(profile(tmp_path, "win2k8", "x86_64", windows={"drivers": {"sets": ["viostor", "viostor"]}}))
    assert any("listed twice" in e for e in lines)


def test_manifest_folders_match_virtio_win_names():
    m = manifest.load()
    assert set(m.os_folders) == {"xp", "2k3", "2k8", "2k8R2", "w7", "w10", "2k16", "2k19", "2k22"}
    assert set(m.arch_folders) == {"x86", "amd64"}
    assert m.sets["netkvm"].folder == "NetKVM" and m.sets["viostor"].oses["xp"] == ("x86",)
    for os_id, entry in catalog.entries().items():
        if entry.is_windows:
            assert entry.windows.virtio_win_folder in m.os_folders, os_id
    with pytest.raises(InputError, match="unknown driver set"):
        manifest.driver_set("nope")


def test_windows_sections_and_media_rules(tmp_path):
    assert any("machine.firmware" in e for e in errors(profile(
        tmp_path, "win2k3", "x86_64", machine={"memory": 1024, "firmware": "uefi"})))
    assert any("windows.drivers.media" in e for e in errors(profile(
        tmp_path, "win2k19", "x86_64", machine={"memory": 2048, "firmware": "uefi"},
        windows={"drivers": {"media": "floppy"}})))
    assert errors(profile(tmp_path, "win2k19", "x86_64", machine={"memory": 2048, "firmware": "uefi"})) == []
    assert any("install.method" in e for e in errors(profile(
        tmp_path, "win7", "x86_64", install={"method": "location", "media": "/srv/win7.iso"})))
    assert any("both" in e for e in errors(profile(
        tmp_path, "win7", "x86_64", windows={"image": {"index": 1, "name": "x"}})))
    assert any("computer_type" in e for e in errors(profile(
        tmp_path, "win7", "x86_64", windows={"computer_type": "Standard PC"})))
    assert any("computer_type" in e for e in errors(profile(
        tmp_path, "winxp", "i386", windows={"computer_type": "Generic i486 Platform"})))


def test_virtio_disk_needs_viostor(tmp_path):
    lines = errors(profile(tmp_path, "win2k8", "x86_64", disks=[{"size": "16G", "bus": "virtio"}],
                           windows={"drivers": {"sets": ["netkvm"]}}))
    assert any("disks[0].bus" in e and "viostor" in e for e in lines)


def test_time_zones():
    assert values.sif_time_zone(35) == 35
    assert values.sif_time_zone("pacific standard time") == 4
    assert values.unattend_time_zone(85) == "GMT Standard Time"
    assert values.unattend_time_zone("UTC") == "UTC"
    with pytest.raises(ValueError):
        values.sif_time_zone("UTC")
    with pytest.raises(ValueError):
        values.sif_time_zone(999)


def test_ascii_only_for_winnt_sif(tmp_path):
    assert any("ASCII" in e for e in errors(profile(tmp_path, "winxp", "i386", windows={"full_name": "Zoë"})))
    assert errors(profile(tmp_path, "win7", "x86_64", windows={"full_name": "Zoë"})) == []
    assert any("ASCII" in e for e in errors(profile(tmp_path, "winxp", "i386", password="pässword")))
