"""A PXE tree for one profile and one machine: what a TFTP root and a ks web server hand out.

    DIR/pxelinux.0, ldlinux.c32          BIOS loader (from the host's syslinux)
    DIR/pxelinux.cfg/default              no per-host file: boot the next device
    DIR/pxelinux.cfg/01-<mac>             this machine: install the profile
    DIR/grubnetx64.efi                    UEFI loader (grub-mkimage, prefix (tftp)/grub)
    DIR/grub/grub.cfg, grub.cfg-01-<mac>  the same two configs for grub
    DIR/images/<profile>/vmlinuz, initrd.img
    DIR/ks/<mac>.cfg                      the kickstart, served over HTTP by `golden pxe serve`

Several profiles and machines can share one tree: each run adds its own
images/<profile>/ and per-host files and rewrites the shared ones with the
same bytes. The same inputs give the same bytes.
"""

from __future__ import annotations

import filecmp
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from builder import catalog
from builder.errors import InputError
from builder.fsutil import atomic_path, atomic_write
from builder.net import bootfiles, loaders, pxecfg
from builder.net.bootfiles import BootFiles
from builder.net.mac import dashed, grub_name, parse_mac, pxelinux_name
from builder.profile.loader import LoadedProfile
from builder.render import bootargs

# The host address on `golden pxe network`'s default subnet: where the ks
# web server listens when libvirt serves DHCP and TFTP.
DEFAULT_SERVER = "192.168.150.1"
DEFAULT_HTTP_PORT = 80
KS_DIR = "ks"
CONFIG_DIR = "pxelinux.cfg"


@dataclass
class PxeTree:
    root: Path
    profile: str
    mac: str
    ks_url: str
    args: list[str]
    files: list[str]                       # written or confirmed, relative to root
    boot_origin: str
    efi: bool
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"root": str(self.root), "profile": self.profile, "mac": self.mac, "ks_url": self.ks_url,
                "kernel_args": self.args, "files": self.files, "boot_files_from": self.boot_origin,
                "uefi": self.efi, "notes": self.notes}


def ks_url(server: str, port: int, mac: str) -> str:
    host = f"{server}:{port}" if port != 80 else server
    return f"http://{host}/{KS_DIR}/{dashed(mac)}.cfg"


def check_server(server: str) -> str:
    try:
        return str(ipaddress.IPv4Address(server))
    except ValueError:
        raise InputError(f"--server {server!r} is not an IPv4 address",
                         "give the address the guest reaches the ks web server at, e.g. 192.168.150.1") from None


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise InputError(f"--http-port {port} is not a TCP port (1-65535)")
    return port


def host_mac(loaded: LoadedProfile, mac: str | None) -> str:
    if mac:
        return parse_mac(mac)
    if loaded.profile.network.mac != "auto":
        return parse_mac(loaded.profile.network.mac)
    raise InputError(f"{loaded.name}: the per-host config needs the guest's MAC, and network.mac is auto",
                     "pass --mac 52:54:00:xx:xx:xx, or set network.mac in the profile so the guest gets it too")


def installer_args(loaded: LoadedProfile, url: str) -> tuple[list[str], bool]:
    """Kernel arguments in the OS's dialect, and whether it takes ksdevice=bootif."""
    p = loaded.profile
    entry = catalog.get(p.os)
    repo = p.install.media if p.install.media_is_url else None
    args = bootargs.installer_args(entry, delivery="http", ks_url=url, repo_url=repo, extra=p.install.extra_args)
    # Anaconda before RHEL 7 asks which NIC to use when there are several;
    # dracut-era installers follow BOOTIF by themselves.
    return args, entry.boot.ks_arg == "ks"


def _check_profile(loaded: LoadedProfile) -> None:
    p = loaded.profile
    entry = catalog.get(p.os)
    if entry.is_windows:
        raise InputError(f"{loaded.name}: Windows does not install from a pxelinux/grub PXE tree",
                         "install Windows from its ISO (install.method: cdrom)")
    if p.kickstart is None:
        raise InputError(f"{loaded.name}: the profile has no kickstart (install.method: import), "
                         "so there is nothing to install over PXE")
    if p.virt == "pv":
        raise InputError(f"{loaded.name}: a para-virtualized guest has no PXE firmware; "
                         "it installs from a network tree (install.method: location)")


def _place(src: Path | bytes, dest: Path, mode: int = 0o644) -> None:
    """Write dest from a file or bytes, leaving an identical file alone (its mtime too)."""
    if dest.is_file() and (dest.stat().st_mode & 0o777) != mode:
        dest.chmod(mode)
    if isinstance(src, Path):
        if dest.is_file() and dest.stat().st_size == src.stat().st_size and filecmp.cmp(src, dest, shallow=False):
            return
        with atomic_path(dest, mode) as tmp:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                while chunk := fin.read(1 << 20):
                    fout.write(chunk)
        return
    if dest.is_file() and dest.stat().st_size == len(src) and dest.read_bytes() == src:
        return
    atomic_write(dest, src, mode)


def build_tree(loaded: LoadedProfile, out: Path, *, mac: str | None = None, server: str = DEFAULT_SERVER,
               http_port: int = DEFAULT_HTTP_PORT, boot: BootFiles | None = None,
               efi: bool = True, kickstart: bytes | None = None) -> PxeTree:
    """Write (or refresh) the PXE tree for `loaded` under `out` and return what it holds."""
    _check_profile(loaded)
    p = loaded.profile
    entry = catalog.get(p.os)
    mac = host_mac(loaded, mac)
    server = check_server(server)
    http_port = check_port(http_port)
    url = ks_url(server, http_port, mac)
    args, ksdevice = installer_args(loaded, url)
    bios = loaders.bios_loader()
    if boot is None:
        boot = bootfiles.for_media(p.install.media, p.arch, base_dir=loaded.base_dir)
    if kickstart is None:
        from builder.render.kickstart import render
        from builder.virt.hostfacts import host_facts
        kickstart = render(loaded, host_facts()).data

    notes: list[str] = []
    efi_image = None
    if efi:
        reason = loaders.efi_unavailable_reason()
        if reason:
            notes.append(f"UEFI: {reason}, so no {loaders.EFI_LOADER}: BIOS guests only "
                         "(the grub configs are written anyway)")
        else:
            efi_image = loaders.build_efi_loader()
            notes.append(f"UEFI: {loaders.EFI_LOADER} is not signed; turn Secure Boot off in the guest firmware")
    if not p.install.media_is_url and p.install.media != "demo":
        notes.append("install.media is not a network tree: the installer boots over PXE but finds no "
                     "packages unless the kickstart's install source is reachable (serve the ISO's "
                     "contents over HTTP and point install.media at that URL)")

    images = f"images/{p.name}"
    host = pxecfg.HostBoot(mac=mac, profile=p.name, title=entry.name, kernel=f"{images}/vmlinuz",
                           initrd=f"{images}/initrd.img", args=tuple(args), ksdevice=ksdevice)
    files: dict[str, Path | bytes] = {
        "pxelinux.0": bios.pxelinux,
        "ldlinux.c32": bios.ldlinux,
        f"{CONFIG_DIR}/default": pxecfg.pxelinux_default().encode(),
        f"{CONFIG_DIR}/{pxelinux_name(mac)}": pxecfg.pxelinux_host(host).encode(),
        f"{loaders.GRUB_DIR}/grub.cfg": pxecfg.grub_default().encode(),
        f"{loaders.GRUB_DIR}/{grub_name(mac)}": pxecfg.grub_host(host).encode(),
        host.kernel: boot.kernel,
        host.initrd: boot.initrd,
        f"{KS_DIR}/{dashed(mac)}.cfg": kickstart,
    }
    if efi_image is not None:
        files[loaders.EFI_LOADER] = efi_image
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    for rel in sorted(files):
        # Kickstarts carry password hashes: only the ks web server (run by
        # the tree's owner) reads them; dnsmasq's TFTP, which drops to an
        # unprivileged user, cannot hand them out.
        _place(files[rel], out / rel, 0o600 if rel.startswith(f"{KS_DIR}/") else 0o644)
    return PxeTree(root=out, profile=p.name, mac=mac, ks_url=url,
                   args=[f"initrd={host.initrd}", *args] + (["ksdevice=bootif"] if ksdevice else []),
                   files=sorted(files), boot_origin=boot.origin, efi=efi_image is not None, notes=notes)
