"""The virt-install command for a profile: an argv list, never a shell string.

Pure: every path, the MAC and the accelerator are inputs, so `golden plan`
can print exactly what `golden install` will run. For a remote libvirt host
(`target.remote`), every local file becomes a storage volume (`vol=POOL/NAME`)
and a local path never reaches the argv.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from builder import install_methods
from builder.catalog import OsEntry
from builder.layout import BuildLayout
from builder.profile import effective
from builder.profile.schema import Profile
from builder.render import bootargs
from builder.virt.remote import RemoteLayout


@dataclass(frozen=True)
class InstallTarget:
    """What the host decides: where, how accelerated, which osinfo id and MAC."""
    connect: str = "qemu:///system"
    virt_type: str = "kvm"          # kvm | qemu | xen
    osinfo: str | None = None       # None: the catalog's first choice
    mac: str | None = None          # None: libvirt picks
    media: str | None = None        # resolved install media (path or URL)
    remote: RemoteLayout | None = None  # the volumes of an install on a remote host
    name: str | None = None         # the domain's name; None: the profile's name


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
    paths = layout.disks
    for i, disk in enumerate(profile.disks):
        bus = effective.disk_bus(profile, entry, i, disk)
        opts = []
        if disk.vol is not None:               # an existing pool volume: libvirt knows its path and format
            opts.append(f"vol={disk.vol}")
            opts += [f"perms={disk.perms}"] if disk.perms else []
            out += ["--disk", ",".join(opts + [f"bus={bus}", f"target.dev={targets[i]}"])]
            continue
        if target.remote is not None:          # created (or uploaded, for import) before virt-install
            opts.append(target.remote.volume(target.remote.disks[i]))
        elif install_methods.get(profile.install.method).imports_first_disk and i == 0:
            opts.append(f"path={disk.path}")
        else:
            opts += [f"path={paths[i]}", f"size={_gib(effective.disk_size(entry, disk))}"]
            opts.append(f"sparse={'yes' if disk.sparse else 'no'}")
        opts += [f"format={disk.format}", f"bus={bus}", f"target.dev={targets[i]}"]
        out += ["--disk", ",".join(opts)]
    return out


def _pv_on_hvm(profile: Profile) -> bool:
    return bool(profile.hypervisor == "xen" and profile.virt == "fv" and profile.kickstart
                and profile.kickstart.xen_pv_drivers)


def network_args(profile: Profile, entry: OsEntry, target: InstallTarget) -> list[str]:
    net = profile.network
    if net.mode == "none":
        return ["--network", "none"]
    source = effective.network_source(profile)
    parts = {"nat": f"network={source}", "pxe": f"network={source}", "bridge": f"bridge={source}",
             "user": "type=user"}[net.mode]
    opts = [parts]
    model = effective.nic_model(profile, entry)
    if _pv_on_hvm(profile):
        # No vif type=ioemu: the PV drivers' netfront NIC instead of an emulated one (seed 12.3.1, E20).
        opts.append("model=netfront")
    elif model and model != "netfront":
        opts.append(f"model={model}")
    mac = net.mac if net.mac != "auto" else target.mac
    if mac:
        opts.append(f"mac={mac}")
    return ["--network", ",".join(opts)]


def _source(path, target: InstallTarget) -> str:
    return target.remote.source(path) if target.remote is not None else f"path={path}"


def _cd(path, profile: Profile, target: InstallTarget) -> list[str]:
    return ["--disk", f"{_source(path, target)},device=cdrom,bus={effective.cdrom_bus(profile)},readonly=on"]


def _floppy(path, target: InstallTarget) -> list[str]:
    return ["--disk", f"{_source(path, target)},device=floppy"]


def _boot_cd(path, profile: Profile, target: InstallTarget) -> list[str]:
    # --cdrom takes only a path the daemon can open; an uploaded volume is a CD drive booted first.
    if target.remote is not None:
        return _cd(path, profile, target) + ["--install", "bootdev=cdrom"]
    return ["--cdrom", str(path)]


def _tree(profile: Profile, layout: BuildLayout, media, target: InstallTarget, args: list[str],
          inject: bool = True) -> list[str]:
    """--location: virt-install fetches the kernel and initrd and injects the kickstart.

    On a remote host it takes only an http/ftp tree; for a local ISO it is given the
    kernel and initrd golden read from it (it uploads them) and the ISO as a CD.
    """
    rest = (["--initrd-inject", str(layout.kickstart)] if inject else []) + ["--extra-args", " ".join(args)]
    if target.remote is not None and target.remote.boot is not None:
        kernel, initrd = target.remote.boot
        return ["--install", f"kernel={kernel},initrd={initrd}"] + rest + _cd(media, profile, target)
    return ["--location", str(media)] + rest


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
    argv = ["virt-install", "--connect", target.connect,
            "--name", target.name or profile.name,
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
    serial_log = target.remote.serial_log if target.remote is not None else layout.serial_log
    if profile.virt == "pv":
        argv += ["--console", f"pty,log.file={serial_log}"]
    else:
        argv += ["--serial", f"pty,log.file={serial_log}"]
    argv += _paravirt_devices(profile, entry, target)
    for dev in profile.hostdevs:
        argv += ["--hostdev", dev.nodedev + ("" if dev.managed else ",managed=no")]
    if effective.clock_offset(profile, entry) == "localtime":
        argv += ["--clock", "offset=localtime"]
    argv += _install_source(profile, entry, layout, media, target)
    argv += ["--noautoconsole", "--noreboot"]
    return argv


def _install_source(profile: Profile, entry: OsEntry, layout: BuildLayout, media,
                    target: InstallTarget) -> list[str]:
    if entry.is_windows:
        out = _boot_cd(media, profile, target)
        for holder in effective.floppies(profile, entry):
            if holder == "drivers":
                out += _floppy(layout.driver_floppy, target)
        for holder in effective.cdroms(profile, entry):
            if holder == "drivers":
                out += _cd(layout.driver_iso, profile, target)
        return out
    ctx = _SourceArgs(profile, entry, layout, media, target)
    if profile.virt == "pv":
        return ["--paravirt"] + ctx.tree(bootargs.installer_args(entry, delivery="file", virt="pv",
                                                                  repo_url=ctx.url, extra=profile.install.extra_args))
    return install_methods.get(profile.install.method).source_args(ctx)


@dataclass(frozen=True)
class _SourceArgs:
    """The argv pieces an install method (builder/install_methods) builds its install source from."""
    profile: Profile
    entry: OsEntry
    layout: BuildLayout
    media: object
    target: InstallTarget

    @property
    def url(self) -> str | None:
        return self.media if self.profile.install.media_is_url else None

    def installer_args(self, delivery: str) -> list[str]:
        return bootargs.installer_args(self.entry, delivery=delivery, repo_url=self.url,
                                       extra=self.profile.install.extra_args)

    def tree(self, args: list[str], inject: bool = True) -> list[str]:
        return _tree(self.profile, self.layout, self.media, self.target, args, inject)

    def boot_cd(self, path) -> list[str]:
        return _boot_cd(path, self.profile, self.target)

    def cd(self, path) -> list[str]:
        return _cd(path, self.profile, self.target)

    def floppy(self, path) -> list[str]:
        return _floppy(path, self.target)


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
