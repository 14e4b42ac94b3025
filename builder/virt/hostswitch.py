"""Switch a RHEL host between the Xen and KVM hypervisors by its grub default (guide §33.2, scenario 20).

Only one hypervisor runs at a time and each has its own kernel, so the switch
is the `default=N` line of legacy grub's /boot/grub/grub.conf: the plain
kernel's stanza for KVM, the `kernel /xen.gz` + `module /vmlinuz-…xen` one for
Xen. Everything happens under a root folder; the packages and the reboot are
steps for the person, golden runs neither yum nor the boot loader tools.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import InputError
from builder.net.bridge import FileChange, parse_release
from builder.virt.hostboot import GRUB2_CONFIGS, UNKNOWN, host_release

GRUB_CONF = "boot/grub/grub.conf"
SYSCONFIG_KERNEL = "etc/sysconfig/kernel"
TARGETS = ("kvm", "xen")

# The guide's `yum install kvm`; kmod-kvm holds the kvm, kvm_intel and kvm_amd modules it pulls in.
PACKAGES = {"kvm": ("kvm", "kmod-kvm"), "xen": ("kernel-xen", "xen")}
KVM_ARCHES = ("x86_64",)
KVM_SINCE = (5, 4)

_TITLE = re.compile(r"^\s*title(?:\s+(.*?))?\s*$")
_DEFAULT = re.compile(r"^(\s*default\s*(?:=|\s)\s*)(\S+)(.*)$", re.S)
_IMAGE = re.compile(r"^\s*(kernel|module|initrd)\s+(\S+)")


@dataclass(frozen=True)
class Stanza:
    index: int
    title: str
    kernel: str                         # the path on the `kernel` line ("" when there is none)
    modules: tuple[str, ...]

    @property
    def is_xen(self) -> bool:
        return Path(self.kernel).name.startswith("xen.gz") and any(
            Path(m).name.startswith("vmlinuz-") and m.endswith("xen") for m in self.modules)

    @property
    def has_initrd(self) -> bool:
        return any(Path(m).name.startswith("initrd-") for m in self.modules)

    @property
    def is_plain(self) -> bool:
        name = Path(self.kernel).name
        return name.startswith("vmlinuz-") and not name.endswith("xen")

    @property
    def version(self) -> str:
        """The kernel release this stanza boots, as `uname -r` prints it."""
        image = self.kernel if self.is_plain else next(
            (m for m in self.modules if Path(m).name.startswith("vmlinuz-")), "")
        return Path(image).name[len("vmlinuz-"):] if image else ""

    def to_json(self) -> dict:
        return {"index": self.index, "title": self.title, "kernel": self.kernel, "version": self.version}


def stanzas(text: str) -> list[Stanza]:
    found: list[Stanza] = []
    title, kernel, modules = None, "", []
    for line in text.splitlines() + ["title"]:          # the sentinel closes the last stanza
        m = _TITLE.match(line)
        if m:
            if title is not None:
                found.append(Stanza(len(found), title, kernel, tuple(modules)))
            title, kernel, modules = (m.group(1) or ""), "", []
            continue
        image = _IMAGE.match(line)
        if image and title is not None:
            if image.group(1) == "kernel":
                kernel = image.group(2)
            else:
                modules.append(image.group(2))
    return found


@dataclass
class SwitchPlan:
    target: str
    root: Path
    release: str
    arch: str | None
    config: str
    current: Stanza | None
    new: Stanza
    files: list[FileChange] = field(default_factory=list)    # grub.conf, then etc/sysconfig/kernel if present
    modes: dict = field(default_factory=dict)       # path -> permission bits to keep
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(f.changed for f in self.files)

    @property
    def packages(self) -> tuple[str, ...]:
        return PACKAGES[self.target]

    def steps(self) -> list[str]:
        steps = [f"yum install {' '.join(self.packages)}   (golden does not run yum; skip if installed)"]
        if self.files[0].changed:
            steps.append(f"/{self.config}: default={self.new.index} ({self.new.title})")
        if len(self.files) > 1 and self.files[1].changed:
            steps.append(f"/{SYSCONFIG_KERNEL}: DEFAULTKERNEL={'kernel-xen' if self.target == 'xen' else 'kernel'}")
        steps.append("reboot")
        steps.append(self.verify()["command"])
        return steps

    def verify(self) -> dict:
        if self.target == "kvm":
            return {"command": "lsmod | grep kvm",
                    "expect": "kvm and kvm_intel or kvm_amd are loaded",
                    "uname_r": self.new.version}
        return {"command": "uname -r", "expect": f"{self.new.version} (ends in xen: Xen is running)",
                "uname_r": self.new.version}

    def to_json(self) -> dict:
        return {"target": self.target, "root": str(self.root), "release": self.release, "arch": self.arch,
                "config": self.config, "current": self.current.to_json() if self.current else None,
                "new": self.new.to_json(), "changed": self.changed, "packages": list(self.packages),
                "files": [{"path": str(f.path), "changed": f.changed, "diff": f.diff()} for f in self.files],
                "steps": self.steps(), "verify": self.verify(), "notes": self.notes}


def _read(path: Path, rel: str) -> str:
    try:
        # surrogateescape: any byte the file holds comes back out unchanged
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise InputError(f"cannot read {rel}: {exc.strerror or exc}", where=str(path),
                         hint="point --root at a copy of the host's files that holds /boot") from None


def _arch(root: Path, arch: str | None) -> str | None:
    if arch:
        return arch
    try:
        platform = (root / "etc/rpm/platform").read_text().split("-", 1)[0].strip()
    except OSError:
        platform = ""
    if platform:
        return platform
    return os.uname().machine if root.resolve() == Path("/") else None


def _check_kvm(release: tuple[int, int] | None, release_text: str, arch: str | None) -> None:
    if arch is None:
        raise InputError("cannot tell the host's architecture from the tree (no etc/rpm/platform)",
                         hint="pass --arch (KVM needs x86_64: Intel 64 or AMD64)")
    if arch not in KVM_ARCHES:
        raise InputError(f"KVM needs an Intel 64 or AMD64 (x86_64) host; this one is {arch}",
                         hint="the guide's switch (§33.2) exists only for x86_64; stay on Xen")
    if release is None:
        raise InputError(f"cannot tell the RHEL release of the host ({release_text})",
                         hint="pass --host-release, e.g. 5.4 (KVM needs RHEL 5.4 or newer)")
    if release < KVM_SINCE:
        raise InputError(f"KVM needs RHEL 5.4 or newer; the host runs {release[0]}.{release[1]} "
                         f"({release_text})", hint="update the host to 5.4 or later first, or stay on Xen")


def _pick(found: list[Stanza], target: str, current: Stanza | None) -> Stanza:
    if target == "kvm":
        matches = [s for s in found if s.is_plain]
        if not matches:
            raise InputError(f"{GRUB_CONF} has no stanza for a plain (non-xen) kernel: "
                             "a `kernel /vmlinuz-…` stanza must exist before KVM can be the default",
                             hint="install it first: yum install kernel kvm kmod-kvm, then run this again")
    else:
        matches = [s for s in found if s.is_xen and s.has_initrd]
        if not matches:
            partial = [s for s in found if s.is_xen]
            why = (f" (stanza {partial[0].index} `{partial[0].title}` lacks its `module /initrd-…xen.img` line: "
                   "it would panic at boot)" if partial else "")
            raise InputError(f"{GRUB_CONF} has no Xen stanza (`kernel /xen.gz-…` with `module /vmlinuz-…xen` "
                             f"and `module /initrd-…`){why}",
                             hint="install it first: yum install kernel-xen xen, then run this again")
    if current is not None and current.version:
        # The kernel of the release that boots now, in its other flavour, before any other one.
        base = current.version.removesuffix("xen")
        for s in matches:
            if s.version.removesuffix("xen") == base:
                return s
    return matches[0]


def _default_value(text: str) -> str:
    """The default= of the global section (before the first title); none means the first stanza."""
    for line in text.splitlines(True):
        if _TITLE.match(line):
            break
        m = _DEFAULT.match(line)
        if m:
            return m.group(2)
    return "0"


def _set_default(text: str, index: int) -> str:
    lines = text.splitlines(True)
    for i, line in enumerate(lines):
        if _TITLE.match(line):
            break
        m = _DEFAULT.match(line)
        if m:
            lines[i] = f"{m.group(1)}{index}{m.group(3)}"
            return "".join(lines)
    # No default line boots the first title; say it before the first stanza, where grub reads options.
    at = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")),
              len(lines))
    lines.insert(at, f"default={index}\n")
    return "".join(lines)


def _sysconfig_kernel(text: str, target: str) -> str:
    """DEFAULTKERNEL decides which flavour a `yum update` makes the default (guide §35.10, E3)."""
    lines = text.splitlines(True)
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*DEFAULTKERNEL\s*=\s*)(\S*)(.*)$", line, re.S)
        if m:
            value = m.group(2)
            if target == "xen" and value != "kernel-xen":
                lines[i] = f"{m.group(1)}kernel-xen{m.group(3)}"
            elif target == "kvm" and value == "kernel-xen":
                lines[i] = f"{m.group(1)}kernel{m.group(3)}"
            break
    return "".join(lines)


def make_plan(root: Path, target: str, *, arch: str | None = None, host_release_text: str | None = None) -> SwitchPlan:
    if target not in TARGETS:
        raise InputError(f"--to {target!r}: use kvm or xen")
    root = Path(root)
    conf = root / GRUB_CONF
    if not conf.exists() and not conf.is_symlink():
        grub2 = next((rel for rel in GRUB2_CONFIGS if (root / rel).exists()), None)
        if grub2:
            raise InputError(f"this host boots with grub2 ({grub2}), not legacy grub: golden switches only "
                             f"RHEL 5/6's {GRUB_CONF}",
                             hint="on RHEL 7 and later run `grubby --set-default /boot/vmlinuz-VERSION` or "
                                  "`grub2-set-default 'TITLE'` on the host (RHEL 6 and later have no Xen dom0)")
    if conf.is_symlink():
        real = conf.resolve()
        if not real.is_relative_to(root.resolve()):
            raise InputError(f"{GRUB_CONF} is a link that leaves --root ({os.readlink(conf)})", where=str(conf),
                             hint="copy the real grub.conf into the tree")
        conf = real
    text = _read(conf, GRUB_CONF)
    release_text = host_release(root)
    release = parse_release(host_release_text) if host_release_text else _release(release_text)
    arch = _arch(root, arch)
    if target == "kvm":
        _check_kvm(release, release_text, arch)
    elif release is not None and release[0] >= 6:
        raise InputError(f"RHEL {release[0]} has no Xen hypervisor (dom0): it ended with RHEL 5 ({release_text})",
                         hint="stay on KVM, or run Xen hosts on RHEL 5")
    found = stanzas(text)
    if not found:
        raise InputError(f"{GRUB_CONF} has no `title` stanza", where=str(conf),
                         hint=f"install the packages first: yum install {' '.join(PACKAGES[target])}")
    value = _default_value(text)
    if value == "saved":
        raise InputError(f"{GRUB_CONF} says default=saved: the entry is kept in /boot/grub/default", where=str(conf),
                         hint="run `grub-set-default N` on the host, or put a number in default=")
    if not value.isdigit():
        raise InputError(f"{GRUB_CONF}: default={value} is not a stanza number", where=str(conf))
    current = found[int(value)] if int(value) < len(found) else None
    new = _pick(found, target, current)
    plan = SwitchPlan(target, root, release_text, arch, GRUB_CONF, current, new)
    if current is None:
        plan.notes.append(f"default={value} names no stanza (there are {len(found)}); grub falls back to the first")
    new_text = text if current is not None and current.index == new.index else _set_default(text, new.index)
    plan.files.append(FileChange(conf, text, new_text))
    plan.modes[conf] = conf.stat().st_mode & 0o7777
    sysconfig = root / SYSCONFIG_KERNEL
    if sysconfig.is_file():
        old = _read(sysconfig, SYSCONFIG_KERNEL)
        plan.files.append(FileChange(sysconfig, old, _sysconfig_kernel(old, target)))
        plan.modes[sysconfig] = sysconfig.stat().st_mode & 0o7777
    return plan


def _release(text: str) -> tuple[int, int] | None:
    if text == UNKNOWN:
        return None
    m = re.search(r"release\s+(\d+)(?:\.(\d+))?", text)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def write(plan: SwitchPlan) -> list[Path]:
    """Write each changed file whole (temp file + rename), keeping its permission bits (grub.conf is 0600)."""
    from builder.fsutil import atomic_write

    written = []
    for change in plan.files:
        if change.changed:
            atomic_write(change.path, change.new.encode("utf-8", "surrogateescape"), mode=plan.modes[change.path])
            written.append(change.path)
    return written


# ---------------------------------------------------------------- kickstart

def host_kickstart(hypervisor: str, arch: str = "x86_64") -> str:
    """The %packages section that makes a new RHEL 5 install a virtualization host (guide §6.1, §6.3)."""
    if hypervisor not in TARGETS:
        raise InputError(f"--hypervisor {hypervisor!r}: use kvm or xen")
    if hypervisor == "kvm" and arch not in KVM_ARCHES:
        raise InputError(f"KVM needs an Intel 64 or AMD64 (x86_64) host, not {arch}", hint="use --hypervisor xen")
    lines = [f"# golden host kickstart: RHEL 5 {hypervisor.upper()} host on {arch} (Virtualization Guide "
             f"{'§6.1' if hypervisor == 'xen' else '§6.3'}).",
             "# Append to the host's kickstart; the installation number must unlock the virtualization groups.",
             "%packages", f"@{hypervisor}"]
    if hypervisor == "xen" and arch == "ia64":
        lines.append("xen-ia64-guest-firmware")      # fully virtualized guests on Itanium need it (§6.1)
    # RHEL 5's anaconda ends %packages at the end of the file; %end came with RHEL 6.
    return "\n".join(lines) + "\n"
