"""The demo install ISO, laid out like a RHEL installation DVD.

    isolinux/  isolinux.bin ldlinux.c32 menu.c32 libutil.c32 libcom32.c32
               isolinux.cfg boot.msg vmlinuz initrd.img boot.cat
    images/    pxeboot/vmlinuz pxeboot/initrd.img efiboot.img
    EFI/BOOT/  BOOTX64.EFI grub.cfg
    .treeinfo  .discinfo  GOLDEN-DEMO-README.txt

Two El Torito entries: BIOS (isolinux.bin, no emulation, boot info table)
and UEFI (images/efiboot.img, a FAT image holding EFI/BOOT). Rock Ridge and
Joliet names, as virt-install --location and GRUB read them.

The ISO is reproducible: pycdlib stamps the current time (in local time) into
the volume descriptors and every directory record, so while it builds, its
modules see a clock frozen at REPRODUCIBLE_EPOCH in UTC.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import threading
import time as _time
from pathlib import Path

import pycdlib

from builder.demo import host
from builder.demo.initramfs import script
from builder.errors import HostError
from builder.fsutil import REPRODUCIBLE_EPOCH, atomic_path

# GRUB modules built into BOOTX64.EFI: there is no module directory on the
# media, so everything grub.cfg uses must be inside the image.
GRUB_MODULES = (
    "part_gpt", "part_msdos", "fat", "iso9660", "search", "search_label", "search_fs_uuid",
    "search_fs_file", "normal", "configfile", "linux", "boot", "serial", "terminal", "echo",
    "test", "ls", "cat", "sleep", "reboot", "halt", "minicmd", "gzio", "efi_gop", "efi_uga",
    "chain", "loadenv",
)
SYSLINUX_MODULES = ("ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32")
EFIBOOT_LABEL = "EFIBOOT"
EFIBOOT_SERIAL = "4744454d"  # fixed FAT volume id ("GDEM")
_PVD_OFFSET = 16 * 2048
_PVD_VOLUME_ID = slice(_PVD_OFFSET + 40, _PVD_OFFSET + 72)


class _FrozenClock:
    """Stands in for the `time` module inside pycdlib: a fixed UTC instant."""

    def __init__(self, epoch: int):
        self._epoch = float(epoch)

    def time(self) -> float:
        return self._epoch

    def localtime(self, secs=None):
        return _time.gmtime(self._epoch if secs is None else secs)

    def __getattr__(self, name):
        return getattr(_time, name)


_clock_lock = threading.Lock()


@contextlib.contextmanager
def frozen_pycdlib_clock(epoch: int = REPRODUCIBLE_EPOCH):
    """Make pycdlib date everything it creates `epoch` (UTC), whatever TZ says."""
    clock = _FrozenClock(epoch)
    with _clock_lock:
        patched = [m for name, m in sorted(sys.modules.items())
                   if (name == "pycdlib" or name.startswith("pycdlib."))
                   and getattr(m, "time", None) is _time]
        for m in patched:
            m.time = clock
        try:
            yield
        finally:
            for m in patched:
                m.time = _time


def render(name: str, *, label: str, product: str, version: str) -> bytes:
    """A file from builder/demo/files with the media's label, name and version filled in."""
    text = script(name).decode()
    return (text.replace("@LABEL@", label).replace("@NAME@", product)
            .replace("@VERSION@", version)).encode()


def treeinfo(*, label: str, product: str, version: str, checksums: dict[str, str]) -> bytes:
    """A .treeinfo in productmd 1.2 form with the legacy [general] section
    that virt-install's urldetect and older Anaconda read."""
    lines = [
        "[header]", "type = productmd.treeinfo", "version = 1.2", "",
        "[release]", f"name = {product}", "short = GoldenDemo", f"version = {version}", "type = ga", "",
        "[tree]", "arch = x86_64", f"build_timestamp = {REPRODUCIBLE_EPOCH}",
        "platforms = x86_64,xen", "variants = BaseOS", "",
        "[general]", f"name = {product} {version}", f"family = {product}",
        f"timestamp = {REPRODUCIBLE_EPOCH}", "variant = BaseOS", f"version = {version}",
        "packagedir = ", "arch = x86_64", f"label = {label}", "",
        "[variant-BaseOS]", "id = BaseOS", "name = BaseOS", "type = variant", "uid = BaseOS",
        "packages = .", "repository = .", "",
        "[images-x86_64]", "kernel = images/pxeboot/vmlinuz", "initrd = images/pxeboot/initrd.img",
        "efiboot.img = images/efiboot.img", "",
        "[images-xen]", "kernel = images/pxeboot/vmlinuz", "initrd = images/pxeboot/initrd.img", "",
        "[checksums]",
    ]
    lines += [f"{path} = sha256:{digest}" for path, digest in sorted(checksums.items())]
    return ("\n".join(line.rstrip() for line in lines) + "\n").encode()


def discinfo(version: str) -> bytes:
    return f"{REPRODUCIBLE_EPOCH}.000000\n{version}\nx86_64\n1\n".encode()


def grub_efi_image(workdir: Path) -> bytes:
    """BOOTX64.EFI: GRUB with its modules built in and prefix /EFI/BOOT."""
    host.need(host.GRUB_EFI_DIR)
    out = workdir / "BOOTX64.EFI"
    res = subprocess.run([str(host.need(host.GRUB_MKIMAGE)), "-O", "x86_64-efi", "-p", "/EFI/BOOT",
                          "-d", host.GRUB_EFI_DIR.path, "-o", str(out), *GRUB_MODULES],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise HostError(f"grub-mkimage failed: {res.stderr.strip()}", hint="apt-get install grub-efi-amd64-bin")
    return out.read_bytes()


def efiboot_image(workdir: Path, bootx64: bytes, grub_cfg: bytes) -> bytes:
    """images/efiboot.img: a FAT image with EFI/BOOT/{BOOTX64.EFI,grub.cfg}, fixed
    volume id and file times."""
    tree = workdir / "efitree"
    boot = tree / "EFI" / "BOOT"
    boot.mkdir(parents=True)
    (boot / "BOOTX64.EFI").write_bytes(bootx64)
    (boot / "grub.cfg").write_bytes(grub_cfg)
    for p in (boot / "BOOTX64.EFI", boot / "grub.cfg", boot, tree / "EFI"):
        os.utime(p, (REPRODUCIBLE_EPOCH, REPRODUCIBLE_EPOCH))
    payload_kib = (len(bootx64) + len(grub_cfg)) // 1024
    size_kib = max(1440, (payload_kib + 512 + 63) // 64 * 64)
    img = workdir / "efiboot.img"
    env = dict(os.environ, TZ="UTC", MTOOLS_SKIP_CHECK="1")
    for cmd in ([str(host.need(host.MKFS_FAT)), "-C", "--invariant", "-i", EFIBOOT_SERIAL,
                 "-n", EFIBOOT_LABEL, str(img), str(size_kib)],
                [str(host.need(host.MCOPY)), "-s", "-m", "-i", str(img), str(tree / "EFI"), "::/"]):
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise HostError(f"{Path(cmd[0]).name} failed: {res.stderr.strip()}",
                            hint="apt-get install dosfstools mtools")
    return img.read_bytes()


def _iso_name(component: str, is_dir: bool) -> str:
    """An ISO 9660 level 3 name (d-characters) for a Rock Ridge/Joliet name."""
    allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
    name = component.upper().lstrip(".")
    if is_dir:
        return "".join(c if c in allowed else "_" for c in name)[:31]
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = "".join(c if c in allowed else "_" for c in stem)
    ext = "".join(c if c in allowed else "_" for c in ext)
    return f"{stem[:30 - len(ext)]}.{ext};1"


def write_iso(out: Path, files: dict[str, bytes], *, label: str, hardlinks: dict[str, str],
              application: str) -> None:
    """Write the ISO: `files` maps a path ("isolinux/vmlinuz") to its bytes,
    `hardlinks` maps extra paths to one of those files (same extent)."""
    iso_paths: dict[str, str] = {}

    def iso_path(path: str, is_dir: bool) -> str:
        parts = path.split("/")
        names = [_iso_name(p, True) for p in parts[:-1]] + [_iso_name(parts[-1], is_dir)]
        return "/" + "/".join(names)

    with frozen_pycdlib_clock():
        iso = pycdlib.PyCdlib()
        # Joliet volume ids hold 16 characters; the full label goes into the
        # primary descriptor below (as mkisofs does with a long -V).
        iso.new(interchange_level=3, sys_ident="LINUX", vol_ident=label[:16], rock_ridge="1.09",
                joliet=3, app_ident_str=application, pub_ident_str="golden",
                preparer_ident_str="golden demo media builder")
        dirs = sorted({"/".join(p.split("/")[:i]) for p in list(files) + list(hardlinks)
                       for i in range(1, p.count("/") + 1)})
        for d in dirs:
            iso.add_directory(iso_path(d, True), rr_name=d.rsplit("/", 1)[-1], joliet_path="/" + d)
        for path in sorted(files):
            data = files[path]
            ip = iso_path(path, False)
            if ip in iso_paths.values():
                raise HostError(f"two ISO files map to {ip}")
            iso_paths[path] = ip
            iso.add_fp(io.BytesIO(data), len(data), ip, rr_name=path.rsplit("/", 1)[-1],
                       joliet_path="/" + path)
        for path, target in sorted(hardlinks.items()):
            ip = iso_path(path, False)
            iso.add_hard_link(iso_old_path=iso_paths[target], iso_new_path=ip,
                              rr_name=path.rsplit("/", 1)[-1])
            iso.add_hard_link(iso_old_path=iso_paths[target], joliet_new_path="/" + path)
        iso.add_eltorito(iso_paths["isolinux/isolinux.bin"], bootcatfile=iso_path("isolinux/boot.cat", False),
                         rr_bootcatname="boot.cat", joliet_bootcatfile="/isolinux/boot.cat",
                         boot_load_size=4, boot_info_table=True, media_name="noemul")
        efi_sectors = (len(files["images/efiboot.img"]) + 511) // 512
        iso.add_eltorito(iso_paths["images/efiboot.img"], efi=True, platform_id=0xEF,
                         boot_load_size=min(efi_sectors, 0xFFFF), media_name="noemul")
        with atomic_path(out) as tmp:
            iso.write(str(tmp))
            iso.close()
            with open(tmp, "r+b") as f:
                f.seek(_PVD_VOLUME_ID.start)
                f.write(label.encode().ljust(32))


def build_iso(out: Path, *, kernel: bytes, initrd: bytes, label: str, product: str, version: str) -> None:
    ctx = dict(label=label, product=product, version=version)
    grub_cfg = render("grub.cfg", **ctx)
    with tempfile.TemporaryDirectory(prefix="golden-demo-iso-") as tmp:
        work = Path(tmp)
        bootx64 = grub_efi_image(work)
        efiboot = efiboot_image(work, bootx64, grub_cfg)
    files = {
        "isolinux/isolinux.bin": host.need(host.ISOLINUX_BIN).read_bytes(),
        "isolinux/isolinux.cfg": render("isolinux.cfg", **ctx),
        "isolinux/boot.msg": render("boot.msg", **ctx),
        "isolinux/vmlinuz": kernel,
        "isolinux/initrd.img": initrd,
        "EFI/BOOT/BOOTX64.EFI": bootx64,
        "EFI/BOOT/grub.cfg": grub_cfg,
        "images/efiboot.img": efiboot,
        ".discinfo": discinfo(version),
        "GOLDEN-DEMO-README.txt": render("README.txt", **ctx),
    }
    for mod in SYSLINUX_MODULES:
        files[f"isolinux/{mod}"] = host.syslinux_module(mod).read_bytes()
    files[".treeinfo"] = treeinfo(**ctx, checksums={
        "images/pxeboot/vmlinuz": hashlib.sha256(kernel).hexdigest(),
        "images/pxeboot/initrd.img": hashlib.sha256(initrd).hexdigest(),
        "images/efiboot.img": hashlib.sha256(efiboot).hexdigest(),
    })
    hardlinks = {"images/pxeboot/vmlinuz": "isolinux/vmlinuz",
                 "images/pxeboot/initrd.img": "isolinux/initrd.img"}
    write_iso(out, files, label=label, hardlinks=hardlinks,
              application=f"{product.upper()} {version} DEMO MEDIA NOT RHEL")
