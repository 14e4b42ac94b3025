"""Small RHEL-like install ISOs for the media tests, built three ways.

The layout follows a RHEL 8 DVD: isolinux/ (isolinux.bin, isolinux.cfg with
"linux" and a default "check" label), EFI/BOOT/grub.cfg, images/efiboot.img
(made by mkfs.fat + mcopy, holding EFI/BOOT/grub.cfg), images/pxeboot/ and
both El Torito entries. Vendor ISOs come from mkisofs/xorriso, so besides
pycdlib the same tree is mastered by xorriso and by genisoimage.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from builder.media.iso import write_iso

DATA = Path(__file__).resolve().parent.parent / "data" / "media"
ISOLINUX_BIN = Path("/usr/lib/ISOLINUX/isolinux.bin")
RHEL8_LABEL = "RHEL-8-10-0-BaseOS-x86_64"
RHEL5_LABEL = "RHEL/5.11 x86_64 DVD"


def run(*cmd: str, text: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=True, capture_output=True, text=text, **kw)


def make_efiboot(path: Path, grub_cfg: bytes, *, fat_bits: int = 12, kib: int = 2880) -> Path:
    """A FAT image as lorax makes it: mkfs.fat, then EFI/BOOT/{BOOTX64.EFI,grub.cfg}."""
    path.unlink(missing_ok=True)
    cfg = path.with_suffix(".grub.cfg")
    cfg.write_bytes(grub_cfg)
    efi = path.with_suffix(".efi")
    efi.write_bytes(b"MZ" + bytes(range(256)) * 64)
    run("mkfs.fat", "-F", str(fat_bits), "-n", "ANACONDA", "-C", str(path), str(kib))
    run("mmd", "-i", str(path), "::EFI", "::EFI/BOOT")
    run("mcopy", "-i", str(path), str(efi), "::EFI/BOOT/BOOTX64.EFI")
    run("mcopy", "-i", str(path), str(cfg), "::EFI/BOOT/grub.cfg")
    cfg.unlink()
    efi.unlink()
    return path


def rhel8_tree(root: Path, *, pad_bytes: int = 0) -> dict[str, Path]:
    """Write the RHEL 8 layout under `root`; return {iso path: local file}."""
    files = {
        "isolinux/isolinux.bin": ISOLINUX_BIN.read_bytes(),
        "isolinux/isolinux.cfg": (DATA / "isolinux-rhel8.cfg").read_bytes(),
        "isolinux/vmlinuz": b"\x7fkernel" * 2000,
        "isolinux/initrd.img": b"\x1finitrd" * 3000,
        "EFI/BOOT/grub.cfg": (DATA / "grub-rhel8.cfg").read_bytes(),
        "EFI/BOOT/BOOTX64.EFI": b"MZ" + bytes(range(256)) * 40,
        "images/pxeboot/vmlinuz": b"\x7fkernel" * 2000,
        "images/pxeboot/initrd.img": b"\x1finitrd" * 3000,
        ".treeinfo": b"[general]\nname = Red Hat Enterprise Linux 8.10\n",
        ".discinfo": b"1700000000.0\nRed Hat Enterprise Linux 8.10\nx86_64\n",
        "media.repo": b"[InstallMedia-BaseOS]\nname=Red Hat Enterprise Linux 8 - BaseOS\n",
        "RPM-GPG-KEY-redhat-release": b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n",
        "BaseOS/Packages/bash-4.4.20-5.el8.x86_64.rpm": b"\xed\xab\xee\xdb" * 500,
    }
    out: dict[str, Path] = {}
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        out[rel] = p
    img = root / "images" / "efiboot.img"
    make_efiboot(img, (DATA / "grub-rhel8.cfg").read_bytes())
    out["images/efiboot.img"] = img
    if pad_bytes:
        pad = root / "images" / "install.img"
        write_random(pad, pad_bytes)
        out["images/install.img"] = pad
    return out


def write_random(path: Path, size: int) -> None:
    """Incompressible, non-sparse bytes (so no copy can take a shortcut)."""
    import os
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n


def master(tree: Path, files: dict[str, Path], out: Path, label: str, tool: str, *,
           efi: bool = True) -> Path:
    """Master `tree` into `out` with pycdlib, xorriso or genisoimage, BIOS (+ EFI) bootable."""
    if tool == "pycdlib":
        return write_iso(out, files, label, bios_boot="isolinux/isolinux.bin",
                         efi_boot="images/efiboot.img" if efi else None,
                         boot_catalog="isolinux/boot.cat")
    args = ["-o", str(out), "-R", "-J", "-V", label,
            "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
            "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"]
    if efi:
        args += ["-eltorito-alt-boot", "-e", "images/efiboot.img", "-no-emul-boot"]
    if tool == "xorriso":
        # As lorax does for RHEL 8/9: isohybrid MBR + GPT for USB sticks.
        args += ["-isohybrid-mbr", "/usr/lib/ISOLINUX/isohdpfx.bin"]
        if efi:
            args += ["-isohybrid-gpt-basdat"]
        run("xorriso", "-as", "mkisofs", "-quiet", *args, str(tree))
    elif tool == "genisoimage":
        # RHEL 5-7 era: mkisofs with -T (TRANS.TBL) and RRIP 1.09 "RR" entries.
        run("genisoimage", "-quiet", "-T", *args, str(tree))
    else:
        raise ValueError(tool)
    return out


def make_rhel8_iso(tmp: Path, tool: str = "pycdlib", *, name: str = "rhel8.iso") -> Path:
    tree = tmp / f"tree-{tool}"
    if tree.exists():
        shutil.rmtree(tree)
    files = rhel8_tree(tree)
    return master(tree, files, tmp / name, RHEL8_LABEL, tool)


def make_rhel5_iso(tmp: Path, tool: str = "pycdlib") -> Path:
    tree = tmp / f"tree5-{tool}"
    files = {
        "isolinux/isolinux.bin": ISOLINUX_BIN.read_bytes(),
        "isolinux/isolinux.cfg": (DATA / "isolinux-rhel5.cfg").read_bytes(),
        "isolinux/vmlinuz": b"\x7fkernel" * 1000,
        "isolinux/initrd.img": b"\x1finitrd" * 1000,
        "images/stage2.img": b"stage2" * 1000,
        ".discinfo": b"1400000000.0\nRed Hat Enterprise Linux Server 5.11\nx86_64\n",
    }
    paths = {}
    for rel, data in files.items():
        p = tree / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        paths[rel] = p
    return master(tree, paths, tmp / f"rhel5-{tool}.iso", RHEL5_LABEL, tool, efi=False)


def extract(iso: Path, dest: Path) -> dict[str, bytes]:
    """Every file of `iso` as xorriso (osirrox) reads it: {path: bytes}."""
    dest.mkdir(parents=True, exist_ok=True)
    run("xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest))
    out = {}
    for p in sorted(dest.rglob("*")):
        if p.is_file():
            out[p.relative_to(dest).as_posix()] = p.read_bytes()
    run("chmod", "-R", "u+w", str(dest))
    return out


def el_torito(iso: Path) -> list[str]:
    """xorriso's El Torito report lines for the boot images."""
    r = run("xorriso", "-indev", str(iso), "-report_el_torito", "plain")
    return [line for line in r.stdout.splitlines() if line.startswith("El Torito")]
