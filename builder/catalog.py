"""The OS catalog: what golden knows about each OS version, as data.

Entries live in builder/data/catalog.yaml. Adding an OS is one entry there,
not an `if` in five modules: renderers and validators read these facts.
"""

from __future__ import annotations

import difflib
import functools
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from builder import paths
from builder.errors import InputError


FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs", "swap", "vfat", "efi", "biosboot")
FsName = Literal["ext2", "ext3", "ext4", "xfs", "btrfs", "swap", "vfat", "efi", "biosboot"]


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BootDialect(_Facts):
    ks_arg: str                     # ks / inst.ks
    repo_arg: str | None            # method / repo / inst.repo
    serial_console: str
    pv_console: str


class KickstartDialect(_Facts):
    end_sections: bool
    install_keyword: bool
    key_skip: bool
    langsupport: bool
    auth: Literal["authconfig", "authselect"]
    selinux: bool
    services: bool
    user: bool
    sshkey: bool
    eula: bool
    firewall_style: Literal["service", "flags"]
    bootloader_timeout: bool
    keyboard_style: Literal["plain", "vckeymap"]
    noipv6: bool
    ignoredisk: bool
    autopart_type: bool
    default_fstype: str
    boot_size: int
    password_hash: Literal["sha512", "md5"]
    # Checked against each release's own anaconda (tests/unit/test_kickstart_releases.py).
    mouse: bool = False                       # RHEL 3 asks for a mouse unless `mouse` is given
    network_onboot: bool = True               # RHEL 3's network command has no --onboot
    finish_commands: tuple[str, ...] = ("poweroff", "reboot", "halt")   # RHEL 3 knows only reboot
    packages_resolvedeps: bool = False        # RHEL 3/4 stop on dependencies without it
    max_nameservers: int = 0                  # what --nameserver keeps (RHEL 3/4: 3, RHEL 5: 2); 0: no limit
    # What the installer can do, read by the profile rules.
    filesystems: tuple[FsName, ...] = FILESYSTEMS   # fstypes it installs to
    lvm: bool = True                          # partitioning scheme lvm
    repo_command: bool = True                 # the `repo` command (from RHEL 5)
    oemdrv: bool = True                       # reads a kickstart from an OEMDRV-labelled disk (RHEL 7+)
    fixed_nic: str | None = None              # the only device its network command configures; None: any


class VirtFacts(_Facts):
    kvm: bool
    virtio: bool
    pv: bool
    pv_kernel_package: str | None
    xen_pv_drivers: Literal["none", "kmod", "builtin"]
    xen_pv_extra_packages: tuple[str, ...] = ()
    xen_pv_modules_conf: str | None = None
    xen_pv_min_kernel: str | None = None      # oldest guest kernel the kmod works with (RHEL 3: 2.4.21-60.EL)
    default_disk_bus: str
    default_nic_model: str
    pv_pci_passthrough: bool = False          # PCI passthrough to a PV guest is supported (RHEL <= 5; guide 15.5)
    pv_console_getty: bool = False            # the PV console xvc0 needs a getty added (RHEL 5, seed 36.2)
    xen_pv_blacklist: bool = False            # emulated NIC modules to blacklist once the PV NIC is in (seed 12.3.4)
    xen_pv_manual_load: bool = False          # kmod-xenpv modules loaded by golden's own boot script (RHEL 3, seed 12.3.2)


class WindowsFacts(_Facts):
    era: Literal["sif", "unattend"]           # winnt.sif (XP/2003) or autounattend.xml
    nt: str = "6.0"                           # kernel version: 5.1 XP, 5.2 2003, 6.0 2008, 6.1 7/2008 R2, 10.0
    server: bool = False
    computer_type: str | None = None          # HAL the seed asks for (F5 at setup)
    computer_type_arches: tuple[str, ...] = ("i386",)   # x64 Windows ships only ACPI HALs
    timer: Literal["pmtimer", "platformclock", "none"] = "none"
    storage_driver_media: Literal["floppy", "any"] = "any"
    virtio_win_folder: str                    # folder name in the virtio-win tree
    virtio_win_arch: dict[str, str | None] = {}   # golden arch -> virtio-win arch folder (None: no drivers)
    product_key_required: bool = True
    product_key_alphabet: str = "BCDFGHJKMPQRTVWXY2346789"
    image_index: int | None = None            # default install.wim image

    def nt_version(self) -> tuple[int, int]:
        major, _, minor = self.nt.partition(".")
        return int(major), int(minor or 0)


class OsEntry(_Facts):
    id: str
    name: str
    family: Literal["linux", "windows"]
    kind: Literal["linux", "windows"]
    distro: str
    major: int
    minor: int
    arches: tuple[str, ...]
    answer_file: Literal["kickstart", "winnt.sif", "autounattend.xml"]
    pykickstart: str | None = None
    osinfo: tuple[str, ...]
    cim_os_type: dict[str, int] = {}          # arch -> OVF OperatingSystemSection id; unlisted: 1 (Other)
    boot: BootDialect | None = None
    kickstart: KickstartDialect | None = None
    virt: VirtFacts
    windows: WindowsFacts | None = None
    timekeeping: dict[str, tuple[str, ...]] = {}
    divider_ok: bool = False
    uefi: bool = True                         # installs and boots on UEFI firmware
    # What an installed system is, read by the image steps (builder/image).
    init: Literal["systemd", "upstart", "sysvinit"] | None = None   # None: not a Linux init (Windows)
    systemd: int | None = None                # systemd version shipped, when init is systemd
    machine_id: Literal["delete", "empty", "uninitialized", "none"]
    first_uid: int = 1000                     # UID_MIN when login.defs does not say (RHEL <= 6: 500)
    sha_crypt: bool = True                    # glibc verifies $6$ hashes (not RHEL 3/4)
    min_memory: int
    min_disk_gb: int

    @model_validator(mode="after")
    def _systemd_needs_systemd_init(self):
        if self.systemd is not None and self.init != "systemd":
            raise ValueError(f"systemd: {self.systemd} is given but init is {self.init}")
        return self

    @property
    def is_windows(self) -> bool:
        return self.family == "windows"

    def version_tuple(self) -> tuple[int, int]:
        return (self.major, self.minor)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve(raw: dict, name: str, stack: tuple[str, ...] = ()) -> dict:
    if name in stack:
        raise InputError(f"catalog inheritance cycle: {' -> '.join(stack + (name,))}")
    entry = dict(raw[name])
    parent = entry.pop("inherit", None)
    if parent is None:
        return entry
    if parent not in raw:
        raise InputError(f"catalog entry {name} inherits unknown entry {parent}")
    return _merge(_resolve(raw, parent, stack + (name,)), entry)


@functools.lru_cache(maxsize=1)
def _load() -> dict[str, OsEntry]:
    source = paths.data_dir() / "catalog.yaml"
    raw = yaml.safe_load(source.read_text())
    extra = paths.data_dir() / "catalog-windows.yaml"
    if extra.exists():
        raw.update(yaml.safe_load(extra.read_text()))
    entries: dict[str, OsEntry] = {}
    for name, value in raw.items():
        if not isinstance(value, dict):
            raise InputError(f"{source}: entry {name}: a catalog entry is a map of fields, not {value!r}")
    for name in raw:
        if name.startswith("_"):
            continue
        data = _resolve(raw, name)
        data["id"] = name
        try:
            entries[name] = OsEntry.model_validate(data)
        except ValidationError as exc:
            raise InputError(f"{source}: entry {name}: {exc}") from exc
    return entries


def entries() -> dict[str, OsEntry]:
    return dict(_load())


def get(os_id: str) -> OsEntry:
    table = _load()
    if os_id in table:
        return table[os_id]
    close = difflib.get_close_matches(os_id, list(table), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else "run `golden os` to list known ids"
    raise InputError(f"unknown os {os_id!r}", hint=hint)


def find(distro: str, major: int | None, minor: int | None = None) -> OsEntry | None:
    """The entry describing an installed `distro` release (an inspected image), if golden knows one.

    A minor release golden does not list takes its major's newest listed entry: the facts read
    this way (init, first UID, crypt) hold per major release. Without a major, only a distro with
    a single entry matches.
    """
    same = [e for e in _load().values() if e.distro == distro and (major is None or e.major == major)]
    if major is None:
        return same[0] if len(same) == 1 else None
    exact = [e for e in same if e.minor == (minor or 0)]
    return (exact or sorted(same, key=OsEntry.version_tuple))[-1] if same else None


def timekeeping_args(entry: OsEntry, arch: str) -> tuple[str, ...]:
    """Chapter 17 guest kernel arguments for a KVM guest on a host without constant_tsc."""
    return entry.timekeeping.get(arch, ())
