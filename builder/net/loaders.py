"""Network boot loaders taken from the host: pxelinux for BIOS, a grub netboot image for UEFI.

Nothing is downloaded: pxelinux.0 and ldlinux.c32 come from the host's
pxelinux and syslinux packages (pxelinux 5+ loads ldlinux.c32 from beside
itself, so the two must come from the same syslinux release), and the UEFI
image is made by grub-mkimage from the host's grub x86_64-efi modules.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from builder.errors import HostError

# Debian/Ubuntu first, then Fedora/RHEL (syslinux-tftpboot) and older layouts.
PXELINUX_DIRS = (Path("/usr/lib/PXELINUX"), Path("/usr/share/syslinux"), Path("/usr/lib/syslinux"),
                 Path("/tftpboot"))
SYSLINUX_MODULE_DIRS = (Path("/usr/lib/syslinux/modules/bios"), Path("/usr/share/syslinux"),
                        Path("/usr/lib/syslinux"), Path("/tftpboot"))
GRUB_EFI_DIR = Path("/usr/lib/grub/x86_64-efi")

EFI_LOADER = "grubnetx64.efi"
GRUB_DIR = "grub"                       # grub.cfg and grub.cfg-01-<mac> live here in the tree
# The image's built-in prefix: the TFTP server that booted it, folder grub/.
# grub searches grub.cfg-01-<mac> first only when the prefix starts with (tftp).
GRUB_PREFIX = f"(tftp)/{GRUB_DIR}"
# Enough for a serial-console menu that loads a Linux kernel over TFTP; the
# modules these need (net, priority_queue, ...) come along by themselves.
# efi_gop/efi_uga give the kernel a framebuffer (without them grub complains
# "no suitable video mode" and graphical installers have no screen).
GRUB_MODULES = ("normal", "configfile", "echo", "test", "sleep", "serial", "terminal",
                "efinet", "tftp", "net", "linux", "efi_gop", "efi_uga")


@dataclass(frozen=True)
class BiosLoader:
    pxelinux: Path
    ldlinux: Path


def _first(dirs, name: str) -> Path | None:
    return next((d / name for d in dirs if (d / name).is_file()), None)


def bios_loader() -> BiosLoader:
    pxelinux = _first(PXELINUX_DIRS, "pxelinux.0")
    ldlinux = _first(SYSLINUX_MODULE_DIRS, "ldlinux.c32")
    missing = [n for n, p in (("pxelinux.0", pxelinux), ("ldlinux.c32", ldlinux)) if p is None]
    if missing:
        raise HostError(f"no {' or '.join(missing)} on this host for BIOS network boot",
                        "install the pxelinux and syslinux-common packages (Debian/Ubuntu) "
                        "or syslinux-tftpboot (Fedora/RHEL)")
    return BiosLoader(pxelinux, ldlinux)


def efi_unavailable_reason() -> str | None:
    if shutil.which("grub-mkimage") is None:
        return "grub-mkimage is not installed (package grub-common)"
    if not (GRUB_EFI_DIR / "moddep.lst").is_file():
        return f"no grub x86_64-efi modules in {GRUB_EFI_DIR} (package grub-efi-amd64-bin)"
    return None


def build_efi_loader() -> bytes:
    """A grub EFI image that reads its config over TFTP from grub/ (not signed: no Secure Boot)."""
    reason = efi_unavailable_reason()
    if reason:
        raise HostError(f"cannot build {EFI_LOADER}: {reason}")
    with tempfile.TemporaryDirectory(prefix="golden-grub-") as tmp:
        out = Path(tmp) / EFI_LOADER
        proc = subprocess.run(["grub-mkimage", "-O", "x86_64-efi", "-d", str(GRUB_EFI_DIR),
                               "-p", GRUB_PREFIX, "-o", str(out), *GRUB_MODULES],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise HostError(f"grub-mkimage failed: {proc.stderr.strip() or proc.returncode}")
        return out.read_bytes()
