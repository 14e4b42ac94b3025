"""The demo install media, read back by independent readers: pycdlib, xorriso,
blkid, mtools, configparser and virt-install's own install-tree detection.

The media is built once (or taken from golden's cache) for the module.
"""

from __future__ import annotations

import configparser
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import zlib

import pycdlib
import pytest

from builder.demo import DEMO_LABEL, build_demo_media
from builder.demo.host import kernel_version
from builder.media.initrd import parse_newc, read_initrd

EXPECTED_FILES = {
    "/.discinfo", "/.treeinfo", "/GOLDEN-DEMO-README.txt",
    "/EFI/BOOT/BOOTX64.EFI", "/EFI/BOOT/grub.cfg",
    "/images/efiboot.img", "/images/pxeboot/vmlinuz", "/images/pxeboot/initrd.img",
    "/isolinux/isolinux.bin", "/isolinux/boot.cat", "/isolinux/isolinux.cfg", "/isolinux/boot.msg",
    "/isolinux/ldlinux.c32", "/isolinux/menu.c32", "/isolinux/libutil.c32", "/isolinux/libcom32.c32",
    "/isolinux/vmlinuz", "/isolinux/initrd.img",
}


@pytest.fixture(scope="module")
def media():
    return build_demo_media()


@pytest.fixture(scope="module")
def iso(media):
    iso = pycdlib.PyCdlib()
    iso.open(str(media.iso))
    yield iso
    iso.close()


def read(iso, path: str) -> bytes:
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, rr_path=path)
    return out.getvalue()


def test_iso_files_and_names(iso):
    found = set()
    for dirpath, _, files in iso.walk(rr_path="/"):
        found.update(f"{dirpath.rstrip('/')}/{name}" for name in files)
    assert found == EXPECTED_FILES
    joliet = set()
    for dirpath, _, files in iso.walk(joliet_path="/"):
        joliet.update(f"{dirpath.rstrip('/')}/{name}" for name in files)
    assert joliet == EXPECTED_FILES


def test_iso_label_and_dates(media, iso):
    assert iso.pvd.volume_identifier.decode().rstrip() == DEMO_LABEL
    res = subprocess.run(["blkid", "-p", "-o", "value", "-s", "LABEL", str(media.iso)],
                         capture_output=True, text=True, check=True)
    assert res.stdout.strip() == DEMO_LABEL
    created = iso.pvd.volume_creation_date
    assert (created.year, created.month, created.dayofmonth, created.hour, created.gmtoffset) == (2020, 1, 1, 0, 0)
    rec = iso.get_record(rr_path="/isolinux/isolinux.cfg")
    assert (rec.date.years_since_1900, rec.date.month, rec.date.gmtoffset) == (120, 1, 0)


def test_pxeboot_copies_are_the_isolinux_files(media, iso):
    assert read(iso, "/images/pxeboot/vmlinuz") == read(iso, "/isolinux/vmlinuz") == media.kernel.read_bytes()
    assert read(iso, "/images/pxeboot/initrd.img") == read(iso, "/isolinux/initrd.img") == media.initrd.read_bytes()
    assert hashlib.sha256(media.iso.read_bytes()).hexdigest() == media.sha256


@pytest.mark.skipif(not shutil.which("xorriso"), reason="xorriso not installed")
def test_two_el_torito_entries(media):
    res = subprocess.run(["xorriso", "-indev", str(media.iso), "-report_el_torito", "plain"],
                         capture_output=True, text=True, check=True)
    out = res.stdout
    assert re.search(r"El Torito cat path : /isolinux/boot.cat", out)
    assert re.search(r"El Torito boot img :\s+1\s+BIOS\s+y\s+none\s+0x0000\s+0x00\s+4\s", out), out
    assert re.search(r"El Torito boot img :\s+2\s+UEFI\s+y\s+none", out), out
    assert "El Torito img path :   1  /isolinux/isolinux.bin" in out
    assert "El Torito img path :   2  /images/efiboot.img" in out
    assert "boot-info-table" in out


def test_treeinfo(media, iso):
    ti = configparser.ConfigParser()
    ti.read_string(read(iso, "/.treeinfo").decode())
    assert ti["general"]["family"] == "Golden Demo Linux"
    assert ti["general"]["version"] == "1.0"
    assert ti["general"]["arch"] == "x86_64"
    assert ti["tree"]["platforms"] == "x86_64,xen"
    assert ti["header"]["type"] == "productmd.treeinfo"
    assert ti["release"]["name"] == "Golden Demo Linux"
    for section in ("images-x86_64", "images-xen"):
        assert ti[section]["kernel"] == "images/pxeboot/vmlinuz"
        assert ti[section]["initrd"] == "images/pxeboot/initrd.img"
    assert ti["images-x86_64"]["efiboot.img"] == "images/efiboot.img"
    for path, value in ti["checksums"].items():
        assert value == "sha256:" + hashlib.sha256(read(iso, "/" + path)).hexdigest()
    discinfo = read(iso, "/.discinfo").decode().splitlines()
    assert discinfo[1:3] == ["1.0", "x86_64"]
    readme = read(iso, "/GOLDEN-DEMO-README.txt").decode()
    assert "NOT RED HAT ENTERPRISE LINUX" in readme and DEMO_LABEL in readme


def test_isolinux_cfg(iso):
    cfg = read(iso, "/isolinux/isolinux.cfg").decode()
    lines = [line.strip() for line in cfg.splitlines()]
    assert lines[0] == "serial 0 115200"  # syslinux wants it first
    assert "timeout 50" in lines
    stanza = cfg.split("\nlabel linux\n", 1)[1].split("\nlabel ", 1)[0]
    assert "menu label ^Install Golden Demo Linux 1.0 (DEMO MEDIA, not RHEL)" in stanza
    assert "menu default" in stanza and "kernel vmlinuz" in stanza
    assert (f"append initrd=initrd.img inst.stage2=hd:LABEL={DEMO_LABEL} console=tty0 console=ttyS0,115200"
            in stanza)
    check = cfg.split("\nlabel check\n", 1)[1].split("\nlabel ", 1)[0]
    assert "rd.live.check" in check


@pytest.mark.skipif(not shutil.which("mtype"), reason="mtools not installed")
def test_grub_cfg_on_the_iso_and_in_efiboot(iso, tmp_path):
    cfg = read(iso, "/EFI/BOOT/grub.cfg").decode()
    assert 'set default="0"' in cfg and "set timeout=5" in cfg
    assert f"search --no-floppy --set=root -l '{DEMO_LABEL}'" in cfg
    assert "serial --unit=0 --speed=115200" in cfg
    assert "menuentry 'Install Golden Demo Linux 1.0 (DEMO MEDIA, not RHEL)'" in cfg
    assert "menuentry 'Test this media & install" in cfg
    assert (f"linux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL={DEMO_LABEL} console=tty0 console=ttyS0,115200"
            in cfg)
    assert "initrd /images/pxeboot/initrd.img" in cfg
    img = tmp_path / "efiboot.img"
    img.write_bytes(read(iso, "/images/efiboot.img"))
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    inner = subprocess.run(["mtype", "-i", str(img), "::/EFI/BOOT/grub.cfg"], capture_output=True,
                           check=True, env=env).stdout
    assert inner.decode() == cfg
    efi = tmp_path / "BOOTX64.EFI"
    subprocess.run(["mcopy", "-i", str(img), "::/EFI/BOOT/BOOTX64.EFI", str(efi)], check=True, env=env)
    assert efi.read_bytes() == read(iso, "/EFI/BOOT/BOOTX64.EFI")
    assert efi.read_bytes()[:2] == b"MZ"


def test_initrd_layout(media):
    raw = media.initrd.read_bytes()
    members = read_initrd(raw)
    for path in ("init", "usr/bin/busybox", "usr/lib/golden/installer.sh", "usr/lib/golden/ks-parse.awk",
                 "usr/sbin/mke2fs", "usr/sbin/sfdisk", "usr/sbin/blkid", "usr/bin/extlinux",
                 "usr/share/syslinux/mbr.bin", "usr/share/golden-demo/rootfs.cpio.gz", "dev/console",
                 "usr/lib64/ld-linux-x86-64.so.2"):
        assert path in members, path
    assert members["bin"].data == b"usr/bin"
    assert members["usr/sbin/mke2fs"].kind == "file"  # e2fsprogs, over the busybox applet
    conf = members["usr/lib/golden/media.conf"].data.decode()
    assert f'GOLDEN_LABEL="{DEMO_LABEL}"' in conf
    # the driver list loads dependencies first
    order = members["usr/lib/golden/modules.load"].data.decode().split()
    names = [p.rsplit("/", 1)[-1][:-3] for p in order]
    for before, after in (("virtio", "virtio_blk"), ("scsi_mod", "sr_mod"), ("cdrom", "isofs"),
                          ("jbd2", "ext4"), ("fat", "vfat"), ("libata", "ata_piix")):
        assert names.index(before) < names.index(after), (before, after)
    # installed systems boot with exactly the first (boot) archive of initrd.img
    d = zlib.decompressobj(wbits=31)
    d.decompress(raw)
    boot_gz = raw[:len(raw) - len(d.unused_data)]
    rootfs = {e.path: e for e in parse_newc(gzip.decompress(members["usr/share/golden-demo/rootfs.cpio.gz"].data))}
    kver = kernel_version()
    assert rootfs[f"boot/initramfs-{kver}.img"].data == boot_gz
    assert rootfs[f"boot/vmlinuz-{kver}"].data == media.kernel.read_bytes()
    for path in ("usr/sbin/init", "usr/bin/ssh-keygen", "etc/os-release", "etc/rc.d/rc.local", "etc/inittab"):
        assert path in rootfs, path
    assert rootfs["etc/system-release"].data == b"golden-demo-release"


@pytest.mark.skipif(not shutil.which("virt-install"), reason="virt-install not installed")
def test_virt_install_finds_kernel_and_initrd(media):
    """virt-install --location reads .treeinfo from the ISO (test driver: no libvirtd, no pools)."""
    res = subprocess.run(
        ["virt-install", "--connect", "test:///default", "--name", "golden-demo-check", "--memory", "512",
         "--disk", "none", "--location", str(media.iso), "--osinfo", "detect=on,require=off",
         "--dry-run", "--print-xml", "--noautoconsole"],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert re.search(r"<kernel>[^<]*vmlinuz</kernel>", res.stdout), res.stdout
    assert re.search(r"<initrd>[^<]*initrd.img</initrd>", res.stdout), res.stdout


def test_out_dir_gets_links_to_the_cached_files(media, tmp_path):
    import time

    start = time.monotonic()
    placed = build_demo_media(tmp_path / "out")
    assert time.monotonic() - start < 1.0  # a cache hit
    assert placed.iso == tmp_path / "out" / "golden-demo.iso"
    assert placed.sha256 == media.sha256
    for mine, cached in ((placed.iso, media.iso), (placed.kernel, media.kernel), (placed.initrd, media.initrd)):
        assert mine.read_bytes() == cached.read_bytes()
        assert os.stat(mine).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["golden-demo.iso", "initrd.img", "vmlinuz"]
