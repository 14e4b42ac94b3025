"""The virt-install command for a profile: an argv list, never a shell string.

Pure: every path, the MAC and the accelerator are inputs, so `golden plan`
can print exactly what `golden install` will run.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from builder.catalog import OsEntry
from builder.errors import InputError
from builder.layout import BuildLayout
from builder.profile import effective
from builder.profile.schema import Profile
from builder.render import bootargs


@dataclass(frozen=True)
class InstallTarget:
    """What the host decides: where, how accelerated, which osinfo id and MAC."""
    connect: str = "qemu:///system"
    virt_type: str = "kvm"          # kvm | qemu | xen
    osinfo: str | None = None       # None: the catalog's first choice
    mac: str | None = None          # None: libvirt picks
    media: str | None = None        # resolved install media (path or URL)
    disk_paths: tuple[Path, ...] = ()   # override the layout's disk paths (e.g. remote volumes)


def _gib(size: int) -> str:
    value = size / (1 << 30)
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _cpu(profile: Profile, target: InstallTarget) -> str | None:
    if target.virt_type == "xen":
        return None
    choice = profile.machine.cpu
    if choice == "auto":
        # TCG: `mode=maximum` gives RDRAND & co., so guests do not stall on entropy.
        return "host-passthrough" if target.virt_type == "kvm" else "mode=maximum"
    return "mode=maximum" if choice == "maximum" else choice


def disk_args(profile: Profile, entry: OsEntry, layout: BuildLayout, target: InstallTarget) -> list[str]:
    out = []
    targets = effective.disk_targets(profile, entry)
    paths = list(target.disk_paths) or layout.disks
    for i, disk in enumerate(profile.disks):
        bus = effective.disk_bus(profile, entry, i, disk)
        opts = []
        if profile.install.method == "import" and i == 0:
            opts.append(f"path={disk.path}")
        else:
            opts += [f"path={paths[i]}", f"size={_gib(effective.disk_size(entry, disk))}"]
            opts.append(f"sparse={'yes' if disk.sparse else 'no'}")
        opts += [f"format={disk.format}", f"bus={bus}", f"target.dev={targets[i]}"]
        out += ["--disk", ",".join(opts)]
    return out


def network_args(profile: Profile, entry: OsEntry, target: InstallTarget) -> list[str]:
    net = profile.network
    if net.mode == "none":
        return ["--network", "none"]
    source = effective.network_source(profile)
    parts = {"nat": f"network={source}", "pxe": f"network={source}", "bridge": f"bridge={source}",
             "user": "type=user"}[net.mode]
    opts = [parts]
    model = effective.nic_model(profile, entry)
    if model and model != "netfront":
        opts.append(f"model={model}")
    mac = net.mac if net.mac != "auto" else target.mac
    if mac:
        opts.append(f"mac={mac}")
    return ["--network", ",".join(opts)]


def _cd(path, profile: Profile) -> list[str]:
    return ["--disk", f"path={path},device=cdrom,bus={effective.cdrom_bus(profile)},readonly=on"]


def _floppy(path) -> list[str]:
    return ["--disk", f"path={path},device=floppy"]


def _paravirt_devices(profile: Profile, entry: OsEntry, target: InstallTarget) -> list[str]:
    if target.virt_type == "xen":
        return []
    if entry.is_windows:
        # A virtio device Windows has no driver for is an unknown device, and
        # XP/2003 greet it with a "Found New Hardware" wizard at first logon:
        # only the devices whose drivers the profile loads.
        sets = set(profile.windows.drivers.sets) if profile.windows and profile.windows.drivers.media != "none" \
            else set()
        out = ["--rng", "/dev/urandom"] if "viorng" in sets else []
        return out + ["--memballoon", "virtio" if "balloon" in sets else "none"]
    return ["--rng", "/dev/urandom"] if entry.virt.virtio else []


def build_argv(profile: Profile, entry: OsEntry, layout: BuildLayout, target: InstallTarget) -> list[str]:
    media = target.media or profile.install.media
    method = profile.install.method
    argv = ["virt-install", "--connect", target.connect,
            "--name", profile.name,
            "--memory", str(profile.machine.memory),
            "--vcpus", str(profile.machine.vcpus),
            "--virt-type", target.virt_type,
            "--os-variant", target.osinfo or entry.osinfo[0]]
    if profile.arch == "i386":
        argv += ["--arch", "i686"]
    cpu = _cpu(profile, target)
    if cpu:
        argv += ["--cpu", cpu]
    if target.virt_type != "xen":
        argv += ["--machine", effective.machine_type(profile)]
    if profile.machine.firmware == "uefi":
        argv += ["--boot", "uefi"]
    argv += disk_args(profile, entry, layout, target)
    argv += network_args(profile, entry, target)
    # A display device that listens nowhere: no port to allocate (parallel
    # builds stay clean) yet libvirt can still take screenshots of a hang.
    argv += ["--graphics", "vnc,listen=none"]
    if profile.virt == "pv":
        argv += ["--console", f"pty,log.file={layout.serial_log}"]
    else:
        argv += ["--serial", f"pty,log.file={layout.serial_log}"]
    argv += _paravirt_devices(profile, entry, target)
    if effective.clock_offset(profile, entry) == "localtime":
        argv += ["--clock", "offset=localtime"]
    argv += _install_source(profile, entry, layout, media, method)
    argv += ["--noautoconsole", "--noreboot"]
    return argv


def _install_source(profile: Profile, entry: OsEntry, layout: BuildLayout, media, method) -> list[str]:
    if entry.is_windows:
        out = ["--cdrom", str(media)]
        for holder in effective.floppies(profile, entry):
            if holder == "drivers":
                out += _floppy(layout.driver_floppy)
        for holder in effective.cdroms(profile, entry):
            if holder == "drivers":
                out += _cd(layout.driver_iso, profile)
        return out
    url = media if profile.install.media_is_url else None
    extra = profile.install.extra_args
    if profile.virt == "pv":
        args = bootargs.installer_args(entry, delivery="file", virt="pv", repo_url=url, extra=extra)
        return ["--paravirt", "--location", str(media), "--initrd-inject", str(layout.kickstart),
                "--extra-args", " ".join(args)]
    if method == "location":
        args = bootargs.installer_args(entry, delivery="file", repo_url=url, extra=extra)
        return ["--location", str(media), "--initrd-inject", str(layout.kickstart),
                "--extra-args", " ".join(args)]
    if method == "ksfloppy":
        args = bootargs.installer_args(entry, delivery="floppy", repo_url=url, extra=extra)
        return ["--location", str(media), "--extra-args", " ".join(args)] + _floppy(layout.ks_floppy)
    if method == "cdrom":
        return ["--cdrom", str(media)]
    if method == "remaster":
        return ["--cdrom", str(layout.remastered_iso)]
    if method == "oemdrv":
        return ["--cdrom", str(media)] + _cd(layout.oemdrv_iso, profile)
    if method == "pxe":
        return ["--pxe"]
    if method == "import":
        return ["--import"]
    raise InputError(f"unknown install method {method!r}")


def shell_line(argv: list[str]) -> str:
    """For people: the same command, quoted, with continuations."""
    out, line = [], []
    for token in argv:
        if token.startswith("--") and line:
            out.append(" ".join(line))
            line = []
        line.append(shlex.quote(token))
    out.append(" ".join(line))
    return " \\\n    ".join(out)
