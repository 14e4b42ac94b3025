"""Every way golden hands a kickstart to the installer, booted for real (qemu, TCG).

The demo installer reports its kernel command line and where it found the
kickstart on the serial console; no disk is attached, so it stops with a
FAILED line once it has read the kickstart.
"""

from __future__ import annotations

import hashlib

import pytest

import demo_qemu as q
from builder.demo import build_demo_media
from demo_build import derived_profile, unique_name
from tests.conftest import golden_bin

pytestmark = pytest.mark.system

BOOT_TIMEOUT = 300


@pytest.fixture(scope="module")
def demo():
    return build_demo_media()


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    return derived_profile(tmp_path_factory.mktemp("delivery"), unique_name("t-media"))


def _kickstart(profile) -> bytes:
    run = golden_bin("kickstart", profile)
    assert run.code == 0, run.err
    return run.out.encode()


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_remastered_iso_boots_with_the_kickstart_on_seabios_and_ovmf(demo, profile, tmp_path, firmware):
    out = tmp_path / "remastered.iso"
    run = golden_bin("media", "remaster", profile, "--iso", demo.iso, "-o", out)
    assert run.code == 0, run.err
    serial = tmp_path / "boot.log"
    args = q.base_args(serial, uefi_vars=tmp_path / "vars.fd" if firmware == "uefi" else None)
    args += ["-cdrom", str(out), "-boot", "d"]
    boot = q.run(args, serial, timeout=BOOT_TIMEOUT, until=q.FAILED)
    cmdline = boot.value("cmdline") or ""
    # The default entry of the menu this firmware reads (isolinux.cfg, or the grub.cfg
    # inside images/efiboot.img on UEFI) carries the ks argument golden put there.
    assert "inst.ks=cdrom:/ks.cfg" in cmdline, boot.serial[-3000:]
    assert (boot.value("ks-source") or "").startswith("cdrom:"), boot.serial[-3000:]
    assert boot.value("ks-sha256") == hashlib.sha256(_kickstart(profile)).hexdigest()


def test_ks_floppy_is_read_from_fd0(demo, profile, tmp_path):
    floppy = tmp_path / "ks.img"
    run = golden_bin("media", "ksfloppy", profile, "-o", floppy)
    assert run.code == 0, run.err
    assert floppy.stat().st_size == 1474560
    serial = tmp_path / "floppy.log"
    args = q.base_args(serial) + [
        "-kernel", str(demo.kernel), "-initrd", str(demo.initrd),
        "-append", "ks=hd:fd0:/ks.cfg console=ttyS0,115200",
        "-drive", f"if=floppy,format=raw,file={floppy}",
    ]
    boot = q.run(args, serial, timeout=BOOT_TIMEOUT, until=q.FAILED)
    assert boot.value("ks-source") == "hd:fd0:/ks.cfg", boot.serial[-3000:]
    assert boot.value("ks-sha256") == hashlib.sha256(_kickstart(profile)).hexdigest()


def test_oemdrv_side_cd_is_found_without_a_ks_argument(demo, profile, tmp_path):
    oemdrv = tmp_path / "oemdrv.iso"
    run = golden_bin("media", "oemdrv", profile, "-o", oemdrv)
    assert run.code == 0, run.err
    serial = tmp_path / "oemdrv.log"
    args = q.base_args(serial) + [
        "-kernel", str(demo.kernel), "-initrd", str(demo.initrd),
        "-append", "console=ttyS0,115200",
        "-drive", f"if=ide,index=1,media=cdrom,format=raw,file={oemdrv}",
        "-drive", f"if=ide,index=2,media=cdrom,format=raw,file={demo.iso}",
    ]
    boot = q.run(args, serial, timeout=BOOT_TIMEOUT, until=q.FAILED)
    assert boot.value("ks-source") == "hd:sr0:/ks.cfg", boot.serial[-3000:]
    assert boot.value("ks-sha256") == hashlib.sha256(_kickstart(profile)).hexdigest()
