"""The profile format: one typed, immutable model per section.

Field-level checks live here; checks that need the OS catalog or span several
sections (the seed's rules) live in rules.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      field_validator, model_validator)

from builder import install_methods
from builder.profile.bounds import excerpt, limits, ranges
from builder.profile.fields import (AbsPath, DeviceName, FsType, GroupName, HostPath, Hostname, Ipv4,
                                    KernelArgs, KeyboardLayout, LangCode, Mac, PackageName,
                                    Script, Seconds, ServiceName, SizeBytes, SshKey, TimeZone,
                                    Url, UserName, parse_size)
from builder.profile.secrets import Secret

_RANGES = ranges()
Text = Annotated[str, Field(max_length=limits()["text_chars"])]


class Strict(BaseModel):
    # Every string is bounded; the few long ones (scripts, descriptions) say so.
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=limits()["string_chars"])


def _guest_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", value):
        raise ValueError(f"{excerpt(value)} is not a valid guest name: use letters, digits, '_', '.' "
                         "and '-' (seed 7.2), at most 63 characters, starting with a letter or digit")
    return value


GuestName = Annotated[str, AfterValidator(_guest_name)]


def _mib(value) -> int:
    # Bare numbers are MiB (as virt-install --memory); strings may carry units.
    return parse_size(value) >> 20 if not isinstance(value, int) else value


MiB = Annotated[int, BeforeValidator(_mib), Field(ge=1, le=_RANGES["memory_mib"])]
PartMiB = Annotated[int, Field(ge=1, le=_RANGES["part_mib"])]


# --- machine ---------------------------------------------------------------

class Clock(Strict):
    offset: Literal["utc", "localtime"] | None = None      # None: localtime for Windows, else utc
    timekeeping: Literal["auto", "always", "never"] = "auto"  # ch. 17 args; auto: when the host lacks constant_tsc


class Machine(Strict):
    memory: MiB = 1024
    vcpus: int = Field(1, ge=1, le=255)
    firmware: Literal["bios", "uefi"] = "bios"
    clock: Clock = Clock()
    cpu: Literal["auto", "host-passthrough", "host-model", "maximum"] = "auto"
    machine_type: Literal["pc", "q35"] | None = None       # None: q35 for UEFI, else pc


# --- storage ---------------------------------------------------------------

DISK_TARGET_RULES = {
    # seed ch. 9 (D5.3), plus vd* for virtio and fd* for floppies
    "ide": r"hd[a-t]",
    "scsi": r"sd[a-p]",
    "sata": r"sd[a-p]",
    "xen": r"xvd([a-z]|[a-i][a-z])",
    "virtio": r"vd[a-z]{1,2}",
}


class Disk(Strict):
    size: SizeBytes | None = None                 # None: the catalog's minimum disk
    format: Literal["qcow2", "raw"] = "qcow2"
    bus: Literal["ide", "scsi", "sata", "virtio", "xen"] | None = None   # None: catalog default
    target: str | None = None                     # e.g. hda, vdb, xvda
    sparse: bool = True                           # seed 9.2: production may want sparse: false
    path: HostPath | None = None                  # an existing disk (install.method: import)
    vol: str | None = None                        # POOL/VOL: an existing libvirt volume (guide 5.12)
    perms: Literal["rw", "ro", "sh"] | None = None   # vol only: read-only or shareable

    @model_validator(mode="after")
    def _vol(self):
        if self.vol is None:
            if self.perms is not None:
                raise ValueError("perms applies only to a disk given as vol: POOL/VOL")
            return self
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}/[A-Za-z0-9_.+-][A-Za-z0-9_.+-]{0,254}", self.vol):
            raise ValueError(f"{excerpt(self.vol)} is not POOL/VOL (a libvirt pool and one of its volumes)")
        if self.path is not None or self.size is not None:
            raise ValueError("a vol: disk already exists: drop path and size")
        return self

    @field_validator("target")
    @classmethod
    def _target(cls, value):
        if value is None:
            return value
        if not any(re.fullmatch(rx, value) for rx in DISK_TARGET_RULES.values()):
            raise ValueError(f"{excerpt(value)} is not a valid disk target: use hd[a-t], sd[a-p], "
                             "xvd[a-z] or xvd[a-i][a-z], or vd[a-z] (seed ch. 9)")
        return value

    @field_validator("size")
    @classmethod
    def _size(cls, value):
        if value is not None and value < (64 << 20):
            raise ValueError("disk size below 64 MiB")
        return value


# --- network ---------------------------------------------------------------

class Network(Strict):
    mode: Literal["nat", "bridge", "pxe", "user", "none"] = "nat"
    source: str | None = None                    # libvirt network or host bridge name
    model: Literal["virtio", "e1000", "rtl8139", "netfront"] | None = None
    mac: Mac = "auto"

    @field_validator("source")
    @classmethod
    def _source(cls, value):
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}", value):
            raise ValueError(f"{excerpt(value)} is not a valid network or bridge name "
                             "(letters, digits, '_', '.', ':', '-'; at most 15 characters)")
        return value


# --- PCI passthrough -------------------------------------------------------

_PCI_ADDR = re.compile(r"(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-9a-fA-F])")
_PCI_NODEDEV = re.compile(r"pci_([0-9a-fA-F]{4})_([0-9a-fA-F]{2})_([0-9a-fA-F]{2})_([0-9a-fA-F])")


def _pci(value: str) -> str:
    """DDDD:BB:SS.F or libvirt's nodedev name pci_DDDD_BB_SS_F -> the canonical address."""
    m = _PCI_ADDR.fullmatch(value) or _PCI_NODEDEV.fullmatch(value)
    if not m:
        raise ValueError(f"{excerpt(value)} is not a PCI address; use domain:bus:slot.function "
                         "like 0000:03:10.0, or the node device name pci_0000_03_10_0 (guide 15.1)")
    domain, bus, slot, function = (int(g, 16) if g else 0 for g in m.groups())
    if slot > 0x1F:
        raise ValueError(f"slot {slot:#x} is past 0x1f (32 slots per bus)")
    if function > 7:
        raise ValueError(f"function {function} is past 7 (8 functions per device)")
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


class HostDev(Strict):
    pci: Annotated[str, AfterValidator(_pci)]
    managed: bool = True                          # libvirt detaches the device from the host driver itself
    vf: bool = False                              # an SR-IOV virtual function (guide ch. 16)

    @property
    def nodedev(self) -> str:
        return "pci_" + re.sub(r"[:.]", "_", self.pci)


# --- install ---------------------------------------------------------------

# The values come from the registry, so a method module and the schema cannot disagree.
InstallMethodName = Literal[install_methods.NAMES]  # type: ignore[valid-type]


class Install(Strict):
    method: InstallMethodName = "location"
    media: HostPath | None = None   # ISO path, http/ftp/nfs tree, an existing disk (import), or `demo`
    timeout: Seconds = 90 * 60
    inactivity: Seconds = 10 * 60
    extra_args: KernelArgs = ""

    @field_validator("media")
    @classmethod
    def _media(cls, value):
        if value is None:
            return value
        if any(ch in value for ch in "\n\r\0") or value != value.strip():
            raise ValueError("media must be a single path or URL")
        return value

    @model_validator(mode="after")
    def _times(self):
        if self.timeout < 60:
            raise ValueError("timeout below 60 s cannot fit an install")
        if not 10 <= self.inactivity <= self.timeout:
            raise ValueError("inactivity must be between 10 s and the timeout")
        return self

    @property
    def media_is_url(self) -> bool:
        return bool(self.media and re.match(r"(https?|ftp|nfs)://", self.media))


# --- kickstart -------------------------------------------------------------

class KsNetwork(Strict):
    bootproto: Literal["dhcp", "static"] = "dhcp"
    device: DeviceName = "eth0"
    hostname: Hostname | None = None
    ip: Ipv4 | None = None
    netmask: Ipv4 | None = None
    gateway: Ipv4 | None = None
    nameservers: list[Ipv4] = []
    onboot: bool = True
    ipv6: bool = True

    @model_validator(mode="after")
    def _static(self):
        if self.bootproto == "static" and not (self.ip and self.netmask):
            raise ValueError("bootproto static needs ip and netmask")
        if self.bootproto == "dhcp" and (self.ip or self.netmask or self.gateway):
            raise ValueError("ip/netmask/gateway are only used with bootproto: static")
        return self


class Firewall(Strict):
    enabled: bool = True
    services: list[ServiceName] = ["ssh"]
    ports: list[Annotated[str, AfterValidator(lambda v: _port(v))]] = []


def _port(value: str) -> str:
    if not re.fullmatch(r"\d{1,5}:(tcp|udp)", value) or not 0 < int(value.split(":")[0]) < 65536:
        raise ValueError(f"{excerpt(value)} is not a port; use e.g. 8080:tcp")
    return value


def _mount(value: str) -> str:
    if value == "swap" or re.fullmatch(r"(pv|raid)\.\d{1,3}", value):
        return value
    from builder.profile.fields import _abs_path
    return _abs_path(value)


Mount = Annotated[str, AfterValidator(_mount)]


class Part(Strict):
    mount: Mount
    size: PartMiB = 1                            # MiB
    grow: bool = False
    maxsize: PartMiB | None = None
    fstype: FsType | None = None                 # None: the catalog's default
    ondisk: DeviceName | None = None


class VolGroup(Strict):
    name: DeviceName
    pvs: list[Annotated[str, AfterValidator(_mount)]]


class LogVol(Strict):
    mount: Mount
    vg: DeviceName
    name: DeviceName
    size: PartMiB = 1
    grow: bool = False
    fstype: FsType | None = None


class Partitioning(Strict):
    scheme: Literal["plain", "lvm", "auto", "custom"] = "plain"
    clear: bool = True                           # zerombr + clearpart --all --initlabel
    drives: list[DeviceName] = []
    swap: Annotated[SizeBytes, Field(ge=0)] | None = None   # None: sized from memory
    parts: list[Part] = []
    volgroups: list[VolGroup] = []
    logvols: list[LogVol] = []

    @model_validator(mode="after")
    def _custom(self):
        explicit = bool(self.parts or self.volgroups or self.logvols)
        if explicit and self.scheme != "custom":
            raise ValueError("parts/volgroups/logvols need scheme: custom")
        if self.scheme == "custom" and not self.parts:
            raise ValueError("scheme custom needs a parts list")
        mounts = [p.mount for p in self.parts] + [lv.mount for lv in self.logvols]
        dup = sorted({m for m in mounts if m != "swap" and mounts.count(m) > 1})
        if dup:
            raise ValueError(f"mount point(s) used twice: {', '.join(dup)}")
        if self.scheme == "custom" and "/" not in mounts:
            raise ValueError("custom partitioning has no / file system")
        pv_names = {p.mount for p in self.parts if p.mount.startswith("pv.")}
        for vg in self.volgroups:
            missing = [pv for pv in vg.pvs if pv not in pv_names]
            if missing:
                raise ValueError(f"volume group {vg.name} uses undefined physical volume(s) {missing}")
        vg_names = {vg.name for vg in self.volgroups}
        for lv in self.logvols:
            if lv.vg not in vg_names:
                raise ValueError(f"logical volume {lv.name} names unknown volume group {lv.vg}")
        return self


class User(Strict):
    name: UserName
    password: Secret | None = None
    groups: list[GroupName] = []
    ssh_keys: list[SshKey] = []
    uid: int | None = Field(None, ge=1000, le=60000)


class Services(Strict):
    enabled: list[ServiceName] = []
    disabled: list[ServiceName] = []

    @model_validator(mode="after")
    def _both(self):
        both = sorted(set(self.enabled) & set(self.disabled))
        if both:
            raise ValueError(f"service(s) both enabled and disabled: {', '.join(both)}")
        return self


class Bootloader(Strict):
    append: KernelArgs = ""
    timeout: int | None = Field(None, ge=0, le=600)
    location: Literal["mbr", "none"] = "mbr"
    serial_console: bool = True                  # add console=ttyS0 (console=xvc0 for PV)


class ScriptSection(Strict):
    script: Script
    nochroot: bool = False
    interpreter: AbsPath | None = None
    log: AbsPath | None = None


def _script_or_text(value):
    if isinstance(value, str):
        return {"script": value}
    return value


ScriptItem = Annotated[ScriptSection, BeforeValidator(_script_or_text)]


def _script_list(value):
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    return value


class Repo(Strict):
    name: Annotated[str, AfterValidator(lambda v: _repo_name(v))]
    baseurl: Url


def _repo_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
        raise ValueError(f"{excerpt(value)} is not a valid repo name")
    return value


class Kickstart(Strict):
    template: HostPath | None = None             # a template that extends kickstart.ks.j2
    lang: LangCode = "en_US.UTF-8"
    keyboard: KeyboardLayout = "us"
    timezone: TimeZone = "UTC"
    utc: bool = True
    root_password: Secret
    password_hash: Literal["sha512", "md5"] | None = None   # None: the catalog's choice
    network: KsNetwork = KsNetwork()
    selinux: Literal["enforcing", "permissive", "disabled"] | None = None  # None: installer default
    firewall: Firewall = Firewall()
    partitioning: Partitioning = Partitioning()
    packages: list[PackageName] = []
    services: Services = Services()
    users: list[User] = []
    ssh_keys: list[SshKey] = []                  # for root
    repos: list[Repo] = []
    bootloader: Bootloader = Bootloader()
    pre: Annotated[list[ScriptItem], BeforeValidator(_script_list)] = []
    post: Annotated[list[ScriptItem], BeforeValidator(_script_list)] = []
    finish: Literal["poweroff", "reboot", "halt"] = "poweroff"
    xen_pv_drivers: bool = False                 # ch. 12 PV-on-HVM set-up for FV guests on Xen
    # Where kmod-xenpv comes from: a name in `repos`, or `install` (the install tree carries it).
    xen_pv_repo: str | None = None
    # The Xen host's RHEL release, e.g. "5.1": PV drivers on a 5.1 dom0 need `noapic` (seed ch. 12).
    xen_dom0_release: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+$")] | None = None

    @model_validator(mode="after")
    def _users(self):
        names = [u.name for u in self.users]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"user(s) listed twice: {', '.join(dup)}")
        if "root" in names:
            raise ValueError("root is configured with root_password and ssh_keys, not in users")
        return self


# --- windows ---------------------------------------------------------------

def _computer_name(value: str) -> str:
    if len(value) > 15:
        raise ValueError(f"{excerpt(value)} is {len(value)} characters; Windows computer names are at most 15")
    if not re.fullmatch(r"[A-Za-z0-9-]+", value) or value.isdigit() or value.startswith("-"):
        raise ValueError(f"{excerpt(value)} is not a valid Windows computer name: use letters, digits "
                         "and '-', not only digits, not starting with '-'")
    return value


class WindowsImage(Strict):
    index: int | None = Field(None, ge=1, le=1000)
    name: str | None = None


class WindowsDrivers(Strict):
    source: HostPath | None = None               # an unpacked virtio-win tree or virtio-win ISO
    sets: list[Annotated[str, AfterValidator(lambda v: _driver_set(v))]] = ["viostor", "netkvm"]
    media: Literal["auto", "floppy", "iso", "none"] = "auto"


def _locale(value: str) -> str:
    if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4}){1,2}", value):
        raise ValueError(f"{excerpt(value)} is not a Windows language tag (e.g. en-US, de-DE, zh-Hans-CN)")
    return value


def _driver_set(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9_-]+", value):
        raise ValueError(f"{excerpt(value)} is not a driver set name (e.g. viostor, vioscsi, netkvm)")
    return value


class Windows(Strict):
    image: WindowsImage = WindowsImage()
    product_key: Secret | None = None
    admin_password: Secret
    computer_name: Annotated[str, AfterValidator(_computer_name)]
    # A winnt.sif index (checked against values.TIME_ZONES by the Windows rules) or a time zone name.
    timezone: Annotated[int, Field(ge=0, le=1000)] | str = 85
    locale: Annotated[str, AfterValidator(lambda v: _locale(v))] = "en-US"   # autounattend.xml languages
    full_name: str = "golden"
    organization: str = "golden"
    computer_type: str | None = None             # XP/2003 HAL; None: the catalog's (seed), "detect": Setup's
    drivers: WindowsDrivers = WindowsDrivers()
    first_logon_commands: list[str] = []         # each at most 1024 characters (Windows' CommandLine limit)
    finish: Literal["poweroff", "reboot", "none"] = "poweroff"   # after the first-logon commands
    generalize: bool = True                      # sysprep as the last first-logon step (finish picks its end)

    @field_validator("full_name", "organization")
    @classmethod
    def _single_line(cls, value: str) -> str:
        if any(ch in value for ch in "\n\r\0\"") or len(value) > 63:
            raise ValueError("must be one line of at most 63 characters without quotes")
        return value


# --- image steps -----------------------------------------------------------

class CustomizeStep(Strict):
    """One customize operation; exactly one field is set (e.g. `- hostname: web1`)."""
    hostname: Hostname | None = None
    root_password: Secret | None = None
    ssh_key: SshKey | None = None
    upload: HostPath | None = None               # SRC:DST
    write: Text | None = None                    # PATH:CONTENT
    edit: str | None = None                      # PATH:s/a/b/
    firstboot: HostPath | None = None            # a script on the host
    timezone: TimeZone | None = None
    selinux_relabel: bool | None = None

    @model_validator(mode="after")
    def _one(self):
        set_fields = [k for k, v in self.__dict__.items() if v is not None]
        if len(set_fields) != 1:
            raise ValueError("each customize step sets exactly one operation, e.g. `- hostname: web1`")
        return self


class Seal(Strict):
    skip: list[str] = []
    only: list[str] | None = None


class Clone(Strict):
    name: str = "{name}-{n}"
    hwaddr: Literal["set", "remove"] = "set"     # HWADDR in ifcfg-eth0: the new MAC, or none


class Output(Strict):
    dir: HostPath = "images"
    format: Literal["qcow2", "raw"] = "qcow2"
    # qcow2 cluster compression of the published qcow2 files; off by default
    # because clones read their base hot and compressed clusters cost CPU.
    compress: Literal["zstd", "zlib", "none"] = "none"
    # Extra copies converted from the sealed image beside the main one.
    formats: list[Literal["qcow2", "raw", "vmdk", "vhdx", "ova"]] = []


class Profile(Strict):
    name: GuestName
    extends: str | None = None
    description: Text = ""
    os: str
    arch: Literal["i386", "x86_64"] = "x86_64"
    hypervisor: Literal["kvm", "xen"] = "kvm"
    virt: Literal["fv", "pv"] = "fv"
    machine: Machine = Machine()
    disks: list[Disk] = Field(default_factory=lambda: [Disk()], min_length=1)
    network: Network = Network()
    hostdevs: list[HostDev] = []
    install: Install = Install()
    kickstart: Kickstart | None = None
    windows: Windows | None = None
    customize: list[CustomizeStep] = []
    seal: Seal = Seal()
    clone: Clone = Clone()
    output: Output = Output()


SECTION_MODELS = {name: field.annotation for name, field in Profile.model_fields.items()}
