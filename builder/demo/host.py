"""What the demo media is made of on this host: Debian packages' files.

Everything the demo media packs comes from installed Debian packages (the
kernel, busybox-static, e2fsprogs, util-linux, syslinux, GRUB, OpenSSH). This
module finds those files, the shared libraries the dynamic tools need and the
kernel modules' load order, and raises HostError naming the package to install
when something is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from builder.errors import HostError

# Kernel modules the installer and the installed system load, in this order
# (each preceded by its dependencies): storage, CD/floppy, file systems, NICs,
# and the power button so `virsh shutdown` reaches the installed system.
MODULES = (
    "virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net", "virtio_rng", "virtio_console",
    "libata", "ata_piix", "ahci", "sd_mod", "sr_mod", "cdrom", "floppy",
    "isofs", "ext4", "fat", "vfat", "nls_cp437", "nls_iso8859-1", "nls_utf8", "nls_ascii",
    "e1000", "8139cp", "8139too", "af_packet", "button", "evdev",
)

# Debian packages whose versions decide the media's bytes (the cache key).
PACKAGES = (
    "busybox-static", "e2fsprogs", "libext2fs2", "fdisk", "libfdisk1", "util-linux",
    "libblkid1", "extlinux", "syslinux-common", "isolinux", "grub-efi-amd64-bin",
    "grub-common", "openssh-client", "libc6", "libssl3", "dosfstools", "mtools", "kmod",
)


@dataclass(frozen=True)
class Tool:
    path: str
    package: str


BUSYBOX = Tool("/bin/busybox", "busybox-static")
MKE2FS = Tool("/sbin/mke2fs", "e2fsprogs")
MKE2FS_CONF = Tool("/etc/mke2fs.conf", "e2fsprogs")
SFDISK = Tool("/sbin/sfdisk", "fdisk")
BLKID = Tool("/sbin/blkid", "util-linux")
EXTLINUX = Tool("/usr/bin/extlinux", "extlinux")
SSH_KEYGEN = Tool("/usr/bin/ssh-keygen", "openssh-client")
MBR_BIN = Tool("/usr/lib/syslinux/mbr/mbr.bin", "syslinux-common")
ISOLINUX_BIN = Tool("/usr/lib/ISOLINUX/isolinux.bin", "isolinux")
SYSLINUX_MODULES = "/usr/lib/syslinux/modules/bios"
GRUB_EFI_DIR = Tool("/usr/lib/grub/x86_64-efi", "grub-efi-amd64-bin")
GRUB_MKIMAGE = Tool("/usr/bin/grub-mkimage", "grub-common")
MKFS_FAT = Tool("/sbin/mkfs.fat", "dosfstools")
MCOPY = Tool("/usr/bin/mcopy", "mtools")
MODPROBE = Tool("/sbin/modprobe", "kmod")


def need(tool: Tool) -> Path:
    """The tool's path, or a HostError saying which package brings it."""
    p = Path(tool.path)
    if not p.exists():
        raise HostError(f"{tool.path} is missing (needed to build the demo media)",
                        hint=f"apt-get install {tool.package}  (or run scripts/bootstrap)")
    return p


def syslinux_module(name: str) -> Path:
    return need(Tool(f"{SYSLINUX_MODULES}/{name}", "syslinux-common"))


def _version_key(v: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"[.-]", v)]


@lru_cache(maxsize=None)
def kernel_version() -> str:
    """The newest installed kernel that has both an image in /boot and its modules.

    Not necessarily the running kernel: a container may run another one.
    """
    found = []
    for img in Path("/boot").glob("vmlinuz-*"):
        ver = img.name[len("vmlinuz-"):]
        if Path("/lib/modules", ver, "modules.dep").exists():
            found.append(ver)
    if not found:
        raise HostError("no kernel with modules under /boot and /lib/modules",
                        hint="apt-get install linux-image-amd64")
    return max(found, key=_version_key)


def kernel_image(kver: str) -> Path:
    return need(Tool(f"/boot/vmlinuz-{kver}", f"linux-image-{kver}"))


def module_order(kver: str, names=MODULES) -> list[str]:
    """Module files (relative to /lib/modules/KVER) in a load order that satisfies
    dependencies and soft dependencies, each once. Built-in modules are skipped."""
    modprobe = need(MODPROBE)
    base = Path("/lib/modules", kver)
    order: list[str] = []
    for name in names:
        res = subprocess.run([str(modprobe), "-S", kver, "--show-depends", name],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise HostError(f"kernel {kver} has no module {name}: {res.stderr.strip()}",
                            hint=f"reinstall linux-image-{kver}")
        for line in res.stdout.splitlines():
            words = line.split()
            if not words or words[0] == "builtin":
                continue
            if words[0] != "insmod":
                raise HostError(f"unexpected modprobe output for {name}: {line!r}")
            rel = os.path.relpath(words[1], base)
            if rel.startswith(".."):
                raise HostError(f"module {words[1]} is outside {base}")
            if rel not in order:
                order.append(rel)
    return order


def _ldd(binary: Path) -> list[tuple[str, str]]:
    """(path the program asks for, real file) for each shared library of `binary`."""
    res = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if res.returncode != 0:
        if "not a dynamic executable" in (res.stdout + res.stderr):
            return []
        raise HostError(f"ldd {binary} failed: {res.stderr.strip()}")
    libs = []
    for line in res.stdout.splitlines():
        line = line.strip()
        m = re.match(r"\S+ => (/\S+) \(0x", line) or re.match(r"(/\S+) \(0x", line)
        if not m:
            if "not found" in line:
                raise HostError(f"{binary}: shared library missing: {line}")
            continue  # linux-vdso
        asked = m.group(1)
        libs.append((asked, os.path.realpath(asked)))
    return libs


def shared_libraries(binaries) -> dict[str, str]:
    """Path inside the image -> host file, for every library the binaries load.

    Names are kept as the loader asks for them (the soname, the ELF
    interpreter), with the content of the file they resolve to on the host.
    """
    out: dict[str, str] = {}
    for b in binaries:
        for asked, real in _ldd(Path(b)):
            out[asked] = real
    return dict(sorted(out.items()))


def is_static(binary: Path) -> bool:
    return not _ldd(binary)


def package_versions(packages=PACKAGES) -> dict[str, str]:
    """Installed version of each package ("-" when not installed)."""
    if not shutil.which("dpkg-query"):
        return {p: "?" for p in packages}
    res = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *packages],
                         capture_output=True, text=True)
    found = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    return {p: found.get(p, "-") for p in packages}


def busybox_applets(busybox: Path) -> list[str]:
    """Install paths of busybox's applets (e.g. "usr/bin/awk"), from the binary itself."""
    res = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True)
    if res.returncode != 0:
        raise HostError(f"{busybox} --list-full failed", hint="apt-get install busybox-static")
    return sorted(line.strip().lstrip("/") for line in res.stdout.splitlines() if line.strip())
