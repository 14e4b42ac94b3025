"""Render a profile's kickstart and prove pykickstart accepts it.

Values are computed here (hashes, storage layout, kernel arguments); the
syntax of each release lives in kickstarts/kickstart.ks.j2. The text is
parsed by pykickstart at the release's version before anyone sees it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import jinja2

from builder import __version__, catalog, install_methods, paths
from builder.catalog import OsEntry
from builder.errors import InputError
from builder.fsutil import atomic_write
from builder.profile import effective
from builder.profile.loader import LoadedProfile
from builder.profile.secrets import crypt_password


# PV-on-HVM guests of a RHEL 5.1 dom0 need `noapic`; a 5.2 dom0 does not (seed ch. 12, L4110).
NOAPIC_DOM0 = "5.1"


@dataclass(frozen=True)
class HostFacts:
    """What the guest's host contributes to generated files (kept explicit for caching).

    constant_tsc comes from the target host's libvirt capabilities; None (unknown)
    adds no clock arguments: set machine.clock.timekeeping: always to force them.
    """
    constant_tsc: bool | None = True


@dataclass(frozen=True)
class KickstartResult:
    text: str
    version: str                 # pykickstart handler used for validation
    warnings: tuple[str, ...]

    @property
    def data(self) -> bytes:
        return self.text.encode()


def _environment(extra_dir: Path | None) -> jinja2.Environment:
    search = [str(extra_dir)] if extra_dir else []
    search.append(str(paths.kickstarts_dir()))
    return jinja2.Environment(loader=jinja2.FileSystemLoader(search), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


def source_line(loaded: LoadedProfile, entry: OsEntry) -> str:
    inst = loaded.profile.install
    media = inst.media or ""
    if install_methods.get(inst.method).network_tree and inst.media_is_url:
        if media.startswith("nfs://"):
            host, _, path = media[len("nfs://"):].partition("/")
            return f"nfs --server={host} --dir=/{path}"
        return f"url --url={media}"
    return "cdrom"


def swap_mib(loaded: LoadedProfile) -> int:
    part = loaded.profile.kickstart.partitioning
    if part.swap is not None:
        return max(part.swap >> 20, 1)
    return min(max(loaded.profile.machine.memory, 256), 2048)


def storage_lines(loaded: LoadedProfile, entry: OsEntry) -> list[str]:
    p = loaded.profile
    part = p.kickstart.partitioning
    d = entry.kickstart
    fs = lambda given: effective.fstype(p, entry, given)  # noqa: E731
    lines: list[str] = []
    if p.machine.firmware == "uefi" and part.scheme in ("plain", "lvm"):
        lines.append("part /boot/efi --fstype=efi --size=200")
    if part.scheme == "auto":
        lines.append("autopart" + (" --type=lvm" if d.autopart_type else ""))
    elif part.scheme == "plain":
        lines += [f"part /boot --fstype={fs(None)} --size={d.boot_size}",
                  f"part swap --size={swap_mib(loaded)}",
                  f"part / --fstype={fs(None)} --size=1 --grow"]
    elif part.scheme == "lvm":
        # The classic RHEL layout (seed 8.4: /boot plus VolGroup00 with LogVol00/01).
        lines += [f"part /boot --fstype={fs(None)} --size={d.boot_size}",
                  "part pv.01 --size=1 --grow",
                  "volgroup VolGroup00 pv.01",
                  f"logvol swap --vgname=VolGroup00 --name=LogVol01 --size={swap_mib(loaded)}",
                  f"logvol / --vgname=VolGroup00 --name=LogVol00 --fstype={fs(None)} --size=1 --grow"]
    else:
        for pt in part.parts:
            line = f"part {pt.mount}"
            if not pt.mount.startswith(("pv.", "raid.")) and pt.mount != "swap":
                line += f" --fstype={fs(pt.fstype)}"
            line += f" --size={pt.size}"
            if pt.grow:
                line += " --grow"
            if pt.maxsize:
                line += f" --maxsize={pt.maxsize}"
            if pt.ondisk:
                line += f" --ondisk={pt.ondisk}"
            lines.append(line)
        for vg in part.volgroups:
            lines.append(f"volgroup {vg.name} {' '.join(vg.pvs)}")
        for lv in part.logvols:
            line = f"logvol {lv.mount} --vgname={lv.vg} --name={lv.name}"
            if lv.mount != "swap":
                line += f" --fstype={fs(lv.fstype)}"
            line += f" --size={lv.size}" + (" --grow" if lv.grow else "")
            lines.append(line)
    return lines


def kernel_args(loaded: LoadedProfile, entry: OsEntry, host: HostFacts) -> list[str]:
    """Arguments the installed system boots with: console, ch. 17 clock, the profile's own."""
    p = loaded.profile
    args: list[str] = []
    if p.kickstart.bootloader.serial_console:
        if p.virt == "pv":
            args.append(entry.boot.pv_console)
        else:
            args += ["console=tty0", entry.boot.serial_console]
    mode = p.machine.clock.timekeeping
    if p.hypervisor == "kvm" and (mode == "always" or (mode == "auto" and host.constant_tsc is False)):
        args += catalog.timekeeping_args(entry, p.arch)
    if p.kickstart.xen_pv_drivers and p.kickstart.xen_dom0_release == NOAPIC_DOM0:
        args.append("noapic")
    for arg in p.kickstart.bootloader.append.split():
        if arg not in args:
            args.append(arg)
    return args


def _services(loaded: LoadedProfile):
    p = loaded.profile
    enabled = list(p.kickstart.services.enabled)
    disabled = list(p.kickstart.services.disabled)
    if p.virt == "pv" and "kdump" not in disabled and "kdump" not in enabled:
        disabled.append("kdump")       # seed 8.1: kdump is unsupported on PV guests
    return {"enabled": enabled, "disabled": disabled}


def _packages(loaded: LoadedProfile, entry: OsEntry) -> list[str]:
    p = loaded.profile
    names = list(p.kickstart.packages)
    extra: list[str] = []
    if p.virt == "pv" and entry.virt.pv_kernel_package:
        extra.append(entry.virt.pv_kernel_package)     # seed 8.1: kernel-xen in the guest
    if p.kickstart.xen_pv_drivers and entry.virt.xen_pv_drivers == "kmod":
        extra += ["kmod-xenpv", *entry.virt.xen_pv_extra_packages]
    for name in extra:
        if name not in names:
            names.append(name)
    return names


def _xenpv(loaded: LoadedProfile, entry: OsEntry):
    if not loaded.profile.kickstart.xen_pv_drivers:
        return None
    min_kernel = entry.virt.xen_pv_min_kernel
    version, _, release = (min_kernel or "").partition("-")
    return {
        "nics": ["eth0"],
        "modules_conf": entry.virt.xen_pv_modules_conf or "/etc/modprobe.conf",
        "blacklist": entry.virt.xen_pv_blacklist,
        "manual_load": entry.virt.xen_pv_manual_load,
        # 2.4.21-60.EL -> ("2.4.21", 60): RHEL 3 kernels differ only in the release number.
        "min_kernel": min_kernel,
        "min_version": version,
        "min_release": int(release.split(".")[0]) if release else 0,
    }


def context(loaded: LoadedProfile, entry: OsEntry, host: HostFacts) -> dict:
    p = loaded.profile
    ks = p.kickstart
    d = entry.kickstart
    scheme = ks.password_hash or d.password_hash
    users = [
        {"name": u.name, "groups": u.groups, "uid": u.uid, "ssh_keys": u.ssh_keys,
         "password": crypt_password(u.password, loaded.base_dir, scheme=scheme,
                                    salt_context=f"{p.name}:user:{u.name}") if u.password else None}
        for u in ks.users
    ]
    ctx = {
        "golden_version": __version__,
        "p": p, "ks": ks, "os": entry, "d": d,
        "source_line": source_line(loaded, entry),
        "rootpw": crypt_password(ks.root_password, loaded.base_dir, scheme=scheme,
                                 salt_context=f"{p.name}:root"),
        "users": users,
        "services": _services(loaded),
        "part": ks.partitioning,
        "storage_lines": storage_lines(loaded, entry),
        "bootloader_append": " ".join(kernel_args(loaded, entry, host)),
        "packages": _packages(loaded, entry),
        "pv_console_getty": p.virt == "pv" and entry.virt.pv_console_getty,
        "xenpv": _xenpv(loaded, entry),
        # A release without poweroff/halt reboots; virt-install's install domain stops on reboot as well.
        "finish_command": ks.finish if ks.finish in d.finish_commands else d.finish_commands[0],
    }
    return ctx


def render(loaded: LoadedProfile, host: HostFacts = HostFacts()) -> KickstartResult:
    p = loaded.profile
    entry = catalog.get(p.os)
    if entry.is_windows or p.kickstart is None:
        raise InputError(f"profile {p.name} has no kickstart ({entry.name})",
                         hint="Windows profiles render answer files: `golden unattend`")
    template_dir = None
    template_name = "kickstart.ks.j2"
    if p.kickstart.template:
        custom = Path(p.kickstart.template)
        if not custom.is_file():
            raise InputError(f"kickstart template {custom} does not exist", where="kickstart.template")
        template_dir, template_name = custom.parent, custom.name
    env = _environment(template_dir)
    ctx = context(loaded, entry, host)
    try:
        ctx["golden_post"] = env.get_template("golden-post.sh.j2").render(ctx)
        text = env.get_template(template_name).render(ctx)
    except jinja2.TemplateError as exc:
        raise InputError(f"kickstart template error: {exc}", where=template_name) from exc
    text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    found = validate(text, entry.pykickstart, name=f"{p.name}.ks")
    return KickstartResult(text=text, version=entry.pykickstart, warnings=found)


def validate(text: str, version: str, name: str = "ks.cfg") -> tuple[str, ...]:
    """Parse with pykickstart at `version`; errors raise, warnings are returned.

    A text that passed once is remembered (keyed by text, version and pykickstart's
    version): loading pykickstart costs more than a whole no-op `golden build`.
    """
    memo = _memo_path(text, version)
    try:
        return tuple(json.loads(memo.read_text()))
    except (OSError, ValueError):
        pass
    found = _validate(text, version, name)
    with contextlib.suppress(OSError):
        atomic_write(memo, json.dumps(list(found)))
    return found


def _memo_path(text: str, version: str) -> Path:
    from importlib.metadata import version as dist_version
    try:
        pyks = dist_version("pykickstart")
    except Exception:                      # noqa: BLE001
        pyks = "unknown"
    key = hashlib.sha256(f"{pyks}\0{version}\0{text}".encode()).hexdigest()
    return paths.cache_dir() / "kickstart-valid" / key


def _validate(text: str, version: str, name: str) -> tuple[str, ...]:
    from pykickstart.errors import KickstartError
    from pykickstart.parser import KickstartParser
    from pykickstart.version import makeVersion

    handler = makeVersion(version)
    parser = KickstartParser(handler, errorsAreFatal=True, missingIncludeIsFatal=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser.readKickstartFromString(text)
        except KickstartError as exc:
            line = getattr(exc, "lineno", None)
            bad = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
            detail = str(exc).strip().splitlines()
            raise InputError(
                f"generated kickstart fails pykickstart {version} validation"
                + (f" at line {line}: {bad.strip()!r}" if line else "") + f": {detail[-1] if detail else exc}",
                where=name,
                hint="a profile value this release does not support; see the catalog entry for its dialect",
            ) from exc
    return tuple(str(w.message).strip() for w in caught)
