"""ISOs written by write_iso and read by iso.py, checked with isoinfo and xorriso."""

from __future__ import annotations

import os
import time

import pytest

from builder.errors import InputError
from builder.media import iso

from media_isos import ISOLINUX_BIN, el_torito, extract, run

FILES = {
    "RPM-GPG-KEY-redhat-release": b"key\n",
    "images/pxeboot/vmlinuz": b"\x7fkernel" * 700,
    "isolinux/isolinux.cfg": b"default linux\n",
    "a-very-long-file-name-that-iso9660-cannot-hold.txt": b"long\n",
    "Packages/bash-5.1.8-9.el9.x86_64.rpm": b"rpm" * 1000,
    "Packages/bash-5.1.8-9.el9.i686.rpm": b"rpm" * 999,
    "empty": b"",
}


def test_written_iso_reads_back_everywhere(tmp_path):
    out = iso.write_iso(tmp_path / "x.iso", FILES, "RHEL-9-6-0-BaseOS-x86_64")
    assert extract(out, tmp_path / "x") == FILES
    info = run("isoinfo", "-d", "-i", str(out)).stdout
    assert "Volume id: RHEL-9-6-0-BaseOS-x86_64" in info
    assert "Joliet" in info and "Rock Ridge" in info
    assert run("isoinfo", "-J", "-x", "/isolinux/isolinux.cfg", "-i", str(out)).stdout == "default linux\n"
    plain = run("isoinfo", "-l", "-i", str(out)).stdout
    assert "ISOLINUX.CFG;1" in plain and "RPM_GPG_KEY_REDHAT_RELEASE;1" in plain
    with iso.IsoReader(out) as r:
        assert r.files() == {k: len(v) for k, v in sorted(FILES.items())}
        assert r.label() == "RHEL-9-6-0-BaseOS-x86_64"
        assert r.read("ISOLINUX/ISOLINUX.CFG;1") == b"default linux\n"      # ISO 9660 name
        assert r.read("/IsoLinux/ISOLINUX.cfg") == b"default linux\n"       # any case
        assert r.read("packages/BASH-5.1.8-9.EL9.I686.RPM") == b"rpm" * 999
        assert r.boot_entries() == []
        with pytest.raises(InputError, match="not found"):
            r.read("isolinux/missing.cfg")


def test_same_bytes_across_runs_and_time_zones(tmp_path):
    a = iso.write_iso(tmp_path / "a.iso", FILES, "LABEL").read_bytes()
    old_tz = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "Pacific/Kiritimati"
        time.tzset()
        time.sleep(1.1)
        b = iso.write_iso(tmp_path / "b.iso", dict(reversed(FILES.items())), "LABEL").read_bytes()
    finally:
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()
    assert a == b
    assert b"2020010100000000" in a[16 * 2048: 17 * 2048]


def test_boot_entries_from_paths(tmp_path):
    efi = tmp_path / "efiboot.img"
    efi.write_bytes(b"\0" * 512 * 2880)
    out = iso.write_iso(tmp_path / "boot.iso",
                        {"isolinux/isolinux.bin": ISOLINUX_BIN, "images/efiboot.img": efi,
                         "isolinux/isolinux.cfg": b"default x\n"},
                        "BOOT", bios_boot="isolinux/isolinux.bin", efi_boot="images/efiboot.img")
    entries = iso.boot_entries(out)
    assert [(e.platform, e.path, e.emulation) for e in entries] == [
        ("bios", "isolinux/isolinux.bin", "noemul"), ("efi", "images/efiboot.img", "noemul")]
    assert entries[0].sectors == 4
    report = el_torito(out)
    assert "El Torito cat path : /isolinux/boot.cat" in report
    assert "El Torito img opts :   1  boot-info-table isohybrid-suitable" in report


@pytest.mark.parametrize("label", ["", "x" * 33, "tab\tlabel", "trailing "])
def test_bad_labels_are_refused(tmp_path, label):
    with pytest.raises(InputError, match="volume label"):
        iso.write_iso(tmp_path / "x.iso", {"a": b"a"}, label)


def test_bad_inputs_are_refused(tmp_path):
    with pytest.raises(InputError, match="both a file and a folder"):
        iso.write_iso(tmp_path / "x.iso", {"a": b"a", "a/b": b"b"}, "L")
    with pytest.raises(InputError, match="no such file"):
        iso.write_iso(tmp_path / "x.iso", {"a": tmp_path / "missing"}, "L")
    with pytest.raises(InputError, match="boot file"):
        iso.write_iso(tmp_path / "x.iso", {"a": b"a"}, "L", bios_boot="isolinux/isolinux.bin")
    assert not (tmp_path / "x.iso").exists()


def test_reading_a_non_iso_is_an_input_error(tmp_path):
    p = tmp_path / "junk.iso"
    p.write_bytes(b"junk" * 10000)
    with pytest.raises(InputError, match="not a readable ISO"):
        iso.list_files(p)
