"""The demo media's initrd: an installed system's initramfs plus the installer.

initrd.img is two gzip'd newc archives back to back (the kernel unpacks
both, the second over the first):

1. the *boot* archive: busybox, the kernel modules, and /init, which with
   root= on the command line mounts an installed system and switches to it.
   Installed systems get exactly these bytes as /boot/initramfs-KVER.img;
2. the *installer* archive: the installer scripts, the tools busybox lacks
   (e2fsprogs' mke2fs, util-linux's sfdisk and blkid, extlinux) with their
   shared libraries, and the *rootfs* archive the installer unpacks onto the
   target disk (busybox userland, ssh-keygen, /sbin/init, RHEL-like /etc,
   the kernel and the boot archive under /boot).

Everything is laid out merged-/usr like RHEL 7+ (/bin -> usr/bin, ...), and
every archive is deterministic (see builder.media.initrd).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.demo import host
from builder.errors import HostError
from builder.media.initrd import (
    Entry, chardev_entry, dir_entry, file_entry, gzip_bytes, newc_archive, symlink_entry,
)

FILES = Path(__file__).resolve().parent / "files"
LIB = "usr/lib/golden"

# merged /usr: top-level names that are symlinks into usr/
_MERGED = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}


@dataclass(frozen=True)
class Identity:
    """What the media says it is (also written to usr/lib/golden/media.conf)."""

    name: str
    version: str
    label: str


def image_path(host_path: str) -> str:
    """Where a host file goes in the merged-/usr image: /lib/x -> usr/lib/x, /sbin/x -> usr/sbin/x."""
    rel = host_path.lstrip("/")
    top, _, rest = rel.partition("/")
    if top in _MERGED and rest:
        return f"{_MERGED[top]}/{rest}"
    return rel


def script(name: str) -> bytes:
    return (FILES / name).read_bytes()


def _host_file(path: str | Path, dest: str, perm: int | None = None) -> Entry:
    p = Path(path)
    data = p.read_bytes()
    if perm is None:
        perm = 0o755 if p.stat().st_mode & 0o111 else 0o644
    return file_entry(dest, data, perm)


def _skeleton() -> list[Entry]:
    entries = [symlink_entry(name, target) for name, target in _MERGED.items()]
    for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "dev", "proc", "sys", "run", "mnt", "etc", "var"):
        entries.append(dir_entry(d))
    entries.append(dir_entry("tmp", 0o1777))
    return entries


def _busybox(skip: set[str]) -> list[Entry]:
    """busybox and a symlink for each applet, except where `skip` puts a real file."""
    bb = host.need(host.BUSYBOX)
    if not host.is_static(bb):
        raise HostError(f"{bb} is not statically linked", hint="apt-get install busybox-static")
    entries = [_host_file(bb, "usr/bin/busybox", 0o755)]
    for applet in host.busybox_applets(bb):
        dest = image_path("/" + applet)
        if dest in skip or dest == "usr/bin/busybox" or "/" not in dest:
            continue
        entries.append(symlink_entry(dest, "/usr/bin/busybox"))
    return entries


def _programs(programs: dict[str, str]) -> list[Entry]:
    """Dynamic programs (host path -> image path) and the libraries they load."""
    entries = [_host_file(src, dest, 0o755) for src, dest in programs.items()]
    for asked, real in host.shared_libraries(list(programs)).items():
        entries.append(_host_file(real, image_path(asked), 0o755))
    return entries


def _modules(kver: str) -> tuple[list[Entry], list[str]]:
    order = host.module_order(kver)
    entries = [_host_file(Path("/lib/modules", kver, rel), f"usr/lib/modules/{kver}/{rel}", 0o644)
               for rel in order]
    entries.append(file_entry(f"{LIB}/modules.load", ("\n".join(order) + "\n").encode()))
    return entries, order


def _media_conf(ident: Identity) -> Entry:
    text = (f'GOLDEN_NAME="{ident.name}"\nGOLDEN_VERSION="{ident.version}"\n'
            f'GOLDEN_LABEL="{ident.label}"\n')
    return file_entry(f"{LIB}/media.conf", text.encode())


def boot_archive(kver: str, ident: Identity) -> bytes:
    """The installed systems' initramfs (and first half of the installer's)."""
    entries = _skeleton()
    entries += _busybox(skip={"usr/sbin/init"})
    entries += _modules(kver)[0]
    entries += [
        file_entry("init", script("init"), 0o755),
        file_entry(f"{LIB}/lib.sh", script("lib.sh")),
        _media_conf(ident),
        chardev_entry("dev/console", 5, 1),
        dir_entry("sysroot"),
        dir_entry("root", 0o700),
    ]
    return gzip_bytes(newc_archive(entries))


def rootfs_archive(kver: str, ident: Identity, kernel: bytes, boot_gz: bytes) -> bytes:
    """The base system the installer unpacks on the target disk."""
    entries = _skeleton()
    entries += _busybox(skip={"usr/sbin/init"})
    entries += _programs({str(host.need(host.SSH_KEYGEN)): "usr/bin/ssh-keygen"})
    entries += _modules(kver)[0]
    entries += [
        file_entry("usr/sbin/init", script("system-init"), 0o755),
        file_entry(f"{LIB}/lib.sh", script("lib.sh")),
        file_entry(f"{LIB}/shutdown", script("shutdown"), 0o755),
        _media_conf(ident),
        file_entry("usr/share/udhcpc/default.script", script("udhcpc.script"), 0o755),
        file_entry(f"boot/vmlinuz-{kver}", kernel, 0o755),
        file_entry(f"boot/initramfs-{kver}.img", boot_gz, 0o600),
        file_entry("etc/os-release", script("os-release")),
        file_entry("etc/golden-demo-release", script("golden-demo-release")),
        symlink_entry("etc/system-release", "golden-demo-release"),
        file_entry("etc/issue", script("issue")),
        file_entry("etc/inittab", script("inittab")),
        file_entry("etc/profile", script("profile")),
        file_entry("etc/shells", b"/bin/sh\n/bin/ash\n/usr/bin/sh\n"),
        file_entry("etc/rc.d/rc.local", script("rc.local"), 0o755),
        symlink_entry("etc/rc.local", "rc.d/rc.local"),
        file_entry("etc/acpi/PWRF/00000080", script("acpi-power"), 0o755),
        file_entry("etc/acpid.conf", b"PWRF PWRF/00000080\n"),
        file_entry("etc/acpi.map", b"EV_KEY 0x01 KEY_POWER 116 1 button/power PWRF 00000080\n"),
    ]
    for d in ("boot/extlinux", "home", "media", "opt", "srv", "usr/local/bin", "usr/local/sbin",
              "var/lib", "var/log", "var/spool", "var/empty/sshd", "etc/ssh",
              "etc/sysconfig/network-scripts", "etc/udev/rules.d", "etc/selinux"):
        entries.append(dir_entry(d))
    entries += [dir_entry("var/tmp", 0o1777), dir_entry("root", 0o550), symlink_entry("var/run", "../run"),
                file_entry("var/log/wtmp", b"", 0o664), file_entry("var/log/lastlog", b"", 0o644)]
    return gzip_bytes(newc_archive(entries))


def installer_archive(ident: Identity, rootfs_gz: bytes) -> bytes:
    """The installer half of initrd.img."""
    tools = {
        str(host.need(host.MKE2FS)): "usr/sbin/mke2fs",
        str(host.need(host.SFDISK)): "usr/sbin/sfdisk",
        str(host.need(host.BLKID)): "usr/sbin/blkid",
        str(host.need(host.EXTLINUX)): "usr/bin/extlinux",
    }
    entries = _programs(tools)
    entries += [
        _host_file(host.need(host.MKE2FS_CONF), "etc/mke2fs.conf", 0o644),
        _host_file(host.need(host.MBR_BIN), "usr/share/syslinux/mbr.bin", 0o644),
        file_entry("usr/share/golden-demo/rootfs.cpio.gz", rootfs_gz, 0o644),
        file_entry("usr/share/udhcpc/default.script", script("udhcpc.script"), 0o755),
        file_entry(f"{LIB}/installer.sh", script("installer.sh"), 0o755),
        file_entry(f"{LIB}/ks.sh", script("ks.sh")),
        file_entry(f"{LIB}/ks-parse.awk", script("ks-parse.awk")),
        file_entry(f"{LIB}/disks.sh", script("disks.sh")),
        file_entry(f"{LIB}/configure.sh", script("configure.sh")),
        # ssh-keygen (run chrooted in the target) and the installer need names for uid 0
        file_entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        file_entry("etc/group", b"root:x:0:\n"),
    ]
    return gzip_bytes(newc_archive(entries))


@dataclass(frozen=True)
class Initrd:
    kernel: bytes
    initrd: bytes
    kernel_version: str


def build_initrd(ident: Identity, kver: str | None = None) -> Initrd:
    kver = kver or host.kernel_version()
    kernel = host.kernel_image(kver).read_bytes()
    boot_gz = boot_archive(kver, ident)
    rootfs_gz = rootfs_archive(kver, ident, kernel, boot_gz)
    return Initrd(kernel, boot_gz + installer_archive(ident, rootfs_gz), kver)
