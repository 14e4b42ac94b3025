"""Which OS is in the image: distro, version, architecture, init system.

Read only from files (os-release, redhat-release, ELF headers, library
names), never by running guest code, so both backends agree and any
architecture can be inspected.
"""

from __future__ import annotations

import posixpath
import re
import struct
from dataclasses import asdict, dataclass, replace

from builder.image import shellvars

ELF_MACHINES = {2: "sparc", 3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm",
                43: "sparc64", 50: "ia64", 62: "x86_64", 183: "aarch64", 243: "riscv64"}
# Files whose ELF header tells the architecture, most telling first.
ELF_PROBES = ("/bin/sh", "/bin/bash", "/bin/busybox", "/sbin/init", "/bin/ls", "/usr/bin/bash")
RHEL_LIKE = ("rhel", "centos", "rocky", "almalinux", "ol", "scientific", "circle", "eurolinux")
# systemd shipped with each major release, for images whose library name does not say; the
# releases golden installs take theirs from the catalog's `systemd` (systemd_table).
SYSTEMD_BY_RELEASE = {
    "fedora": {28: 238, 29: 239, 30: 241, 31: 243, 32: 245, 33: 246, 34: 248, 35: 249, 36: 250,
               37: 251, 38: 253, 39: 254, 40: 255},
    "debian": {8: 215, 9: 232, 10: 241, 11: 247, 12: 252, 13: 257},
    "ubuntu": {16: 229, 18: 237, 20: 245, 22: 249, 24: 255},
}
_REDHAT_NAMES = (
    (r"^Red Hat Enterprise Linux", "rhel"), (r"^Red Hat Linux", "rhl"), (r"^CentOS", "centos"),
    (r"^Fedora", "fedora"), (r"^Scientific Linux", "scientific"),
    (r"^(Enterprise Linux Enterprise Linux|Oracle Linux)", "ol"), (r"^Rocky Linux", "rocky"),
    (r"^AlmaLinux", "almalinux"),
)


@dataclass(frozen=True)
class OSInfo:
    type: str = "linux"
    distro: str = "unknown"           # os-release ID, or derived from redhat-release
    family: str = "unknown"           # rhel | debian | suse | <distro>
    name: str = ""
    version: str = ""
    major: int | None = None
    minor: int | None = None
    pretty_name: str = ""
    arch: str = "unknown"
    init: str = "unknown"             # systemd | upstart | sysvinit | busybox | unknown
    systemd_version: int | None = None
    package_format: str | None = None
    release_file: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def has_systemd(self) -> bool:
        return self.init == "systemd"


def _version(text: str) -> tuple[int | None, int | None]:
    m = re.match(r"(\d+)(?:\.(\d+))?", text or "")
    if not m:
        return None, None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) is not None else None)


def parse_redhat_release(text: str) -> dict:
    """'Red Hat Enterprise Linux AS release 4 (Nahant Update 9)' -> rhel 4.9."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    m = re.match(r"^(?P<name>.*?)\s+release\s+(?P<ver>[\d.]+)(?:\s*\((?P<code>[^)]*)\))?", line)
    if not m:
        return {}
    distro = next((d for pat, d in _REDHAT_NAMES if re.match(pat, m.group("name"))), "unknown")
    major, minor = _version(m.group("ver"))
    update = re.search(r"Update (\d+)", m.group("code") or "")
    if minor is None and update:
        minor = int(update.group(1))
    version = m.group("ver") if minor is None or "." in m.group("ver") else f"{major}.{minor}"
    return {"distro": distro, "name": m.group("name"), "version": version, "major": major,
            "minor": minor, "pretty_name": line}


def _family(distro: str, id_like: str) -> str:
    words = {distro, *id_like.split()}
    if words & {"rhel", "fedora", "centos", *RHEL_LIKE, "rhl"}:
        return "rhel"
    if words & {"debian", "ubuntu"}:
        return "debian"
    if words & {"suse", "opensuse", "sles"}:
        return "suse"
    return distro


def elf_arch(header: bytes) -> str | None:
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    endian = "<" if header[5] == 1 else ">"
    machine = struct.unpack_from(endian + "H", header, 18)[0]
    arch = ELF_MACHINES.get(machine)
    if arch == "ppc64" and endian == "<":
        return "ppc64le"
    if arch == "s390x" and header[4] == 1:
        return "s390"
    return arch


def detect_arch(h) -> str:
    for path in ELF_PROBES:
        try:
            if h.is_file(path):
                arch = elf_arch(h.pread(path, 64, 0))
                if arch:
                    return arch
        except OSError:
            continue
    return "unknown"


def detect_init(h) -> str:
    init = "/sbin/init"
    if h.lexists(init):
        target = h.resolve(init) if h.is_symlink(init) else init
        base = posixpath.basename(target)
        if "systemd" in target:
            return "systemd"
        if base == "busybox":
            return "busybox"
        if h.is_file(target):
            if h.glob("/etc/init/*.conf"):
                return "upstart"
            return "sysvinit"
    if any(h.is_file(p) for p in ("/usr/lib/systemd/systemd", "/lib/systemd/systemd")):
        return "systemd"
    return "unknown"


def detect_systemd_version(h) -> int | None:
    for pattern in ("/usr/lib/systemd/libsystemd-shared-*.so", "/usr/lib64/systemd/libsystemd-shared-*.so",
                    "/lib/systemd/libsystemd-shared-*.so",
                    "/usr/lib/*-linux-gnu/systemd/libsystemd-shared-*.so"):
        for path in h.glob(pattern):
            m = re.match(r"libsystemd-shared-(\d+)", posixpath.basename(path))
            if m:
                return int(m.group(1))
    return None


def catalog_distro(distro: str) -> str:
    """The catalog's name for an inspected distro: RHEL rebuilds share RHEL's entries."""
    return "rhel" if distro in RHEL_LIKE else distro


def catalog_entry(osi: OSInfo):
    """The catalog entry describing the OS in an image, or None for an OS golden does not install."""
    from builder import catalog
    return catalog.find(catalog_distro(osi.distro), osi.major, osi.minor)


def systemd_table(distro: str) -> dict[int, int]:
    from builder import catalog
    key = catalog_distro(distro)
    table = dict(SYSTEMD_BY_RELEASE.get(key, {}))
    for entry in catalog.entries().values():
        if entry.distro == key and entry.systemd is not None:
            table[entry.major] = entry.systemd
    return table


def systemd_for_release(distro: str, family: str, major: int | None) -> int | None:
    table = systemd_table(distro)
    if not table or major is None:
        return None
    if major in table:
        return table[major]
    return table[max(table)] if major > max(table) else None


def _lsb_release(h) -> dict:
    """Ubuntu before os-release (and trees that lost it): DISTRIB_ID and DISTRIB_RELEASE.

    redhat-lsb writes only LSB_VERSION there, so a file without DISTRIB_ID says nothing.
    """
    lsb = shellvars.parse(h.read_text("/etc/lsb-release"))
    distro = lsb.get("DISTRIB_ID", "").strip().lower().replace(" ", "")
    if not distro:
        return {}
    ver = lsb.get("DISTRIB_RELEASE", "").strip()
    major, minor = _version(ver)
    # Derivatives (Mint, elementary) name their own ID; dpkg's version file says what they derive from.
    like = "debian" if h.is_file("/etc/debian_version") else ""
    return {"distro": distro, "family": _family(distro, like), "name": lsb.get("DISTRIB_ID", "").strip(),
            "version": ver, "major": major, "minor": minor, "pretty_name": lsb.get("DISTRIB_DESCRIPTION", ""),
            "release_file": "/etc/lsb-release"}


def detect(h) -> OSInfo:
    fields: dict = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        if h.is_file(path):
            osr = shellvars.parse(h.read_text(path))
            major, minor = _version(osr.get("VERSION_ID", ""))
            fields = {"distro": osr.get("ID", "unknown") or "unknown", "name": osr.get("NAME", ""),
                      "version": osr.get("VERSION_ID", ""), "major": major, "minor": minor,
                      "pretty_name": osr.get("PRETTY_NAME", ""), "release_file": path,
                      "family": _family(osr.get("ID", ""), osr.get("ID_LIKE", ""))}
            break
    if not fields:
        for path in ("/etc/redhat-release", "/etc/system-release", "/etc/centos-release"):
            if h.is_file(path):
                parsed = parse_redhat_release(h.read_text(path))
                if parsed:
                    fields = dict(parsed, release_file=path, family=_family(parsed["distro"], ""))
                    break
    if not fields and h.is_file("/etc/lsb-release"):
        fields = _lsb_release(h)
    if not fields and h.is_file("/etc/debian_version"):
        ver = h.read_text("/etc/debian_version").strip()
        major, minor = _version(ver)
        fields = {"distro": "debian", "family": "debian", "name": "Debian GNU/Linux", "version": ver,
                  "major": major, "minor": minor, "release_file": "/etc/debian_version"}
    osi = OSInfo(**fields)
    init = detect_init(h)
    systemd = None
    if init == "systemd":
        systemd = detect_systemd_version(h) or systemd_for_release(osi.distro, osi.family, osi.major)
    pkg = "rpm" if h.is_dir("/var/lib/rpm") else ("deb" if h.is_dir("/var/lib/dpkg") else None)
    return replace(osi, arch=detect_arch(h), init=init, systemd_version=systemd, package_format=pkg)


def apply_hint(osi: OSInfo, hint: str | None) -> OSInfo:
    """Override detection with a catalog id ('rhel6.10', 'demo') or a release ('rhel9', 'centos7')."""
    if not hint:
        return osi
    from builder import catalog
    entry = catalog.entries().get(hint.strip())
    if entry is not None and not entry.is_windows:
        return replace(osi, distro=entry.distro, family=_family(entry.distro, ""), major=entry.major,
                       minor=entry.minor, init=entry.init, systemd_version=entry.systemd)
    m = re.fullmatch(r"([a-z][a-z-]*?)(\d+(?:\.\d+)?)?", hint.strip().lower())
    if not m:
        return osi
    distro = m.group(1).rstrip("-")
    major, minor = _version(m.group(2) or "")
    family = _family(distro, "")
    init = osi.init
    systemd = osi.systemd_version
    known = catalog.find(catalog_distro(distro), major, minor)
    if known is not None and known.init is not None:
        init, systemd = known.init, known.systemd
    elif family == "rhel" and major is not None:
        init, systemd = "systemd", systemd_for_release(distro, family, major)   # newer than the catalog
    elif major is not None and systemd_for_release(distro, family, major):
        init, systemd = "systemd", systemd_for_release(distro, family, major)
    if major is None and known is not None:
        # A bare distro the catalog lists once ('golden-demo') is that entry's release.
        major, minor = known.major, known.minor
    return replace(osi, distro=distro, family=family, major=major if major is not None else osi.major,
                   minor=minor if major is not None else osi.minor, init=init, systemd_version=systemd)
