"""Rules that need the OS catalog or span sections: the seed's combinations.

Each rule adds an Issue pointing at the field a user should change. The
numbers come from builder/data/limits.yaml, which cites the seed.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

from builder import catalog, install_methods, paths
from builder.errors import InputError
from builder.profile import effective
from builder.profile.loader import Issue, LoadedProfile
from builder.profile.secrets import check_available

_OLD_FIREWALL_FLAGS = {"ssh", "http", "ftp", "smtp", "telnet"}


@functools.lru_cache(maxsize=1)
def limits() -> dict:
    return yaml.safe_load((paths.data_dir() / "limits.yaml").read_text())


def check(loaded: LoadedProfile) -> list[Issue]:
    p = loaded.profile
    try:
        entry = catalog.get(p.os)
    except InputError as exc:
        return [Issue(("os",), exc.message, exc.hint)]
    issues: list[Issue] = []
    add = lambda path, msg, hint=None: issues.append(Issue(tuple(path), msg, hint))  # noqa: E731

    if p.arch not in entry.arches:
        add(["arch"], f"{entry.name} is not available for {p.arch}",
            f"use one of: {', '.join(entry.arches)}")
    _sections(p, entry, add)
    _virt(p, entry, add)
    _install(p, entry, add)
    _machine(p, entry, add)
    _disks(p, entry, add)
    _network(p, entry, add)
    _hostdevs(p, entry, add)
    if p.kickstart and not entry.is_windows:
        _kickstart(p, entry, add)
    _image_steps(p, add)
    _secrets(loaded, add)
    if entry.is_windows and p.windows:
        from builder.windows import rules as windows_rules
        for path, msg, hint in windows_rules.check(p, entry):
            add(path, msg, hint)
    return issues


def _sections(p, entry, add):
    if entry.is_windows:
        if p.windows is None:
            add(["windows"], f"{entry.name} needs a windows: section (answer-file settings)")
        if p.kickstart is not None:
            add(["kickstart"], "a Windows profile has no kickstart; use the windows: section")
    else:
        if p.windows is not None:
            add(["windows"], f"{entry.name} is not Windows; remove the windows: section")
        if p.kickstart is None and install_methods.get(p.install.method).needs_kickstart:
            add(["kickstart"], "is required for a Linux install",
                "add a kickstart: section with at least root_password")


def _virt(p, entry, add):
    if p.virt == "pv":
        if p.hypervisor != "xen":
            add(["virt"], "para-virtualization exists only on Xen; KVM runs fully virtualized guests (seed HV-1)",
                "use virt: fv, or hypervisor: xen")
        if entry.is_windows:
            add(["virt"], "Windows guests are always fully virtualized (seed HV-2)", "use virt: fv")
        elif not entry.virt.pv:
            add(["virt"], f"{entry.name} cannot run as a Xen para-virtualized guest",
                "use virt: fv")
    if p.hypervisor == "kvm" and not entry.virt.kvm:
        add(["hypervisor"], f"{entry.name} is not supported on KVM")


def _install(p, entry, add):
    inst = p.install
    method = install_methods.get(inst.method)
    if not method.needs_media:
        for problem in method.rules(p, entry):
            add(*problem)
        return
    if not inst.media:
        add(["install", "media"], f"install method {method.name} needs media",
            "an ISO path, an http/ftp/nfs install tree, or `demo` for golden's demo media")
        return
    is_url = inst.media_is_url
    if p.virt == "pv":
        if not method.installs_pv or not is_url:
            add(["install", "media" if method.installs_pv else "method"],
                "a para-virtualized guest installs from a network tree (http, ftp or nfs), "
                "not from an ISO or CD (seed 8.1, HV-9)",
                "use method: location with media: http://server/tree/")
        return
    if entry.is_windows:
        if not method.installs_windows:
            add(["install", "method"], "Windows installs from local media only (seed 8.5); use method: cdrom")
        elif is_url:
            add(["install", "media"], "Windows media must be a local ISO, not a URL (seed 8.5)")
        return
    for problem in method.rules(p, entry):
        add(*problem)


def _machine(p, entry, add):
    lim = limits()
    mem = p.machine.memory
    if mem < lim["memory"]["floor_mib"]:
        add(["machine", "memory"], f"{mem} MiB is below {lim['memory']['floor_mib']} MiB, "
            "which is unlikely to work (seed 26)")
    elif mem < entry.min_memory:
        add(["machine", "memory"], f"{mem} MiB is below the {entry.min_memory} MiB {entry.name} needs to install",
            f"use at least memory: {entry.min_memory}")
    if p.hypervisor == "xen":
        table = lim["xen_pv" if p.virt == "pv" else "xen_fv"]["memory_mib"]
        cap = table.get(p.arch)
        if cap and mem > cap:
            add(["machine", "memory"], f"{mem} MiB exceeds the Xen {p.virt.upper()} limit of "
                f"{cap} MiB for {p.arch} guests (seed 5.3)")
    if p.machine.firmware == "uefi":
        if p.arch != "x86_64":
            add(["machine", "firmware"], "UEFI guests are x86_64 only here (OVMF)")
        if p.hypervisor == "xen":
            add(["machine", "firmware"], "UEFI is not supported for Xen guests in golden", "use firmware: bios")
        if not entry.uefi:
            add(["machine", "firmware"], f"{entry.name} does not {'boot' if entry.is_windows else 'install'} "
                "on UEFI", "use firmware: bios")
    if p.machine.machine_type == "q35" and p.hypervisor == "xen":
        add(["machine", "machine_type"], "q35 is a KVM/QEMU machine type")


def _disks(p, entry, add):
    lim = limits()
    targets = effective.disk_targets(p, entry)
    seen: dict[str, int] = {}
    ide = 0
    imported = install_methods.get(p.install.method).imports_first_disk
    for i, disk in enumerate(p.disks):
        bus = effective.disk_bus(p, entry, i, disk)
        size = effective.disk_size(entry, disk)
        if i == 0 and size < (entry.min_disk_gb << 30) and not imported:
            add(["disks", 0, "size"], f"{size >> 20} MiB is below the {entry.min_disk_gb} GiB "
                f"{entry.name} needs", f"use at least size: {entry.min_disk_gb}G")
        if bus == "virtio":
            if entry.is_windows and not effective.windows_loads_storage_driver(p):
                add(["disks", i, "bus"], "a Windows disk on virtio needs the viostor driver during setup "
                    "(seed 13, F-11)", "add viostor to windows.drivers.sets, or use bus: ide")
            elif not entry.is_windows and not entry.virt.virtio:
                add(["disks", i, "bus"], f"{entry.name} has no virtio drivers (virtio from RHEL 4.8/5.3)",
                    "use bus: ide")
            if p.hypervisor == "xen":
                add(["disks", i, "bus"], "virtio is a KVM bus; Xen guests use ide or xen")
        if bus == "xen" and p.hypervisor != "xen":
            add(["disks", i, "bus"], "bus xen exists only on Xen hypervisors")
        if p.virt == "pv" and bus != "xen":
            add(["disks", i, "bus"], "para-virtualized guests see only Xen block devices", "use bus: xen")
        if p.hypervisor == "xen" and p.virt == "fv" and i == 0 and bus == "xen":
            add(["disks", 0, "bus"], "the disk holding /boot and the MBR cannot use Xen PV block drivers "
                "(seed 12.2, F-10); keep it emulated", "use bus: ide for the first disk")
        if bus == "scsi" and p.hypervisor == "kvm" and not entry.virt.virtio:
            add(["disks", i, "bus"], "SCSI emulation is not supported on KVM (seed 5.2); it needs virtio-scsi "
                f"drivers, which {entry.name} lacks", "use bus: ide")
        if bus == "ide":
            ide += 1
        target = targets[i]
        rule = effective_rule(bus)
        if disk.target and rule and not re.fullmatch(rule, disk.target):
            add(["disks", i, "target"], f"target {disk.target} does not match bus {bus}",
                f"{bus} disks are named like {rule}")
        if target in seen:
            add(["disks", i, "target"], f"target {target} is already used by disks[{seen[target]}]")
        seen[target] = i
        if disk.path and not imported and i == 0:
            add(["disks", 0, "path"], "disks[0].path is only used with install method import")
    if effective.cdrom_bus(p) == "ide":
        ide += len(effective.cdroms(p, entry))
    if p.hypervisor == "kvm" or p.virt == "fv":
        cap = lim["kvm" if p.hypervisor == "kvm" else "xen_fv"]["ide_devices"]
        if ide > cap:
            add(["disks"], f"{ide} IDE devices (disks and install CDs) exceed the limit of {cap} "
                "per guest (seed 5.2, N-2)", "move disks to virtio, or drop a CD")


def effective_rule(bus: str) -> str | None:
    from builder.profile.schema import DISK_TARGET_RULES
    return DISK_TARGET_RULES.get(bus)


def _network(p, entry, add):
    net = p.network
    model = effective.nic_model(p, entry)
    if net.mode == "bridge" and not net.source:
        add(["network", "source"], "bridge mode needs the host bridge name", "e.g. source: br0")
    if model == "virtio":
        if entry.is_windows and not effective.windows_has_netkvm(p):
            add(["network", "model"], "a virtio NIC on Windows needs netkvm in windows.drivers.sets",
                "add netkvm, or use model: e1000")
        elif not entry.is_windows and not entry.virt.virtio:
            add(["network", "model"], f"{entry.name} has no virtio drivers", "use model: e1000 or rtl8139")
        if p.hypervisor == "xen":
            add(["network", "model"], "virtio is a KVM device; Xen FV guests use rtl8139/e1000, PV guests netfront")
    if model == "netfront" and p.virt != "pv" and not (p.kickstart and p.kickstart.xen_pv_drivers):
        add(["network", "model"], "netfront is the Xen para-virtualized NIC; an FV guest uses rtl8139, e1000 "
            "or virtio")
    if p.virt == "pv" and model not in ("netfront", None):
        add(["network", "model"], "a para-virtualized guest sees only the Xen netfront NIC")
    if net.mac != "auto":
        prefix = "00:16:3e" if p.hypervisor == "xen" else "52:54:00"
        if not net.mac.startswith(prefix):
            add(["network", "mac"], f"{net.mac} lacks the {p.hypervisor.upper()} prefix {prefix} (seed 33.9)",
                "use auto, or an address starting with " + prefix)
        elif p.hypervisor == "xen" and int(net.mac.split(":")[3], 16) > 0x7F:
            add(["network", "mac"], "Xen MACs keep the fourth octet at most 0x7f (seed 33.9)")


def _hostdevs(p, entry, add):
    """Guide ch. 15-16, HV-14: who may get a host PCI device."""
    seen: dict[str, int] = {}
    for i, dev in enumerate(p.hostdevs):
        if dev.pci in seen:
            add(["hostdevs", i, "pci"], f"{dev.pci} is already given by hostdevs[{seen[dev.pci]}]; "
                "each device (or SR-IOV virtual function) maps to one guest once (guide 16, N-17)")
        seen.setdefault(dev.pci, i)
    if not p.hostdevs or p.hypervisor != "xen":
        return
    if p.virt == "pv" and not entry.virt.pv_pci_passthrough:
        add(["hostdevs"], f"PCI passthrough to a para-virtualized {entry.name} guest is insecure and "
            "unsupported (guide 15.5, HV-14)", "use virt: fv")
    release = p.kickstart.xen_dom0_release if p.kickstart else None
    if p.virt == "fv" and release and _release(release) < (5, 4):
        add(["hostdevs"], f"PCI passthrough to fully virtualized Xen guests needs a RHEL 5.4 or later "
            f"host; kickstart.xen_dom0_release is {release} (guide 15.5, HV-14)")


def _kickstart(p, entry, add):
    ks = p.kickstart
    d = entry.kickstart
    if ks.selinux and not d.selinux:
        add(["kickstart", "selinux"], f"{entry.name} has no SELinux", "remove kickstart.selinux")
    if d.firewall_style == "flags":
        odd = [s for s in ks.firewall.services if s not in _OLD_FIREWALL_FLAGS]
        if odd:
            add(["kickstart", "firewall", "services"],
                f"{entry.name}'s firewall command only knows {', '.join(sorted(_OLD_FIREWALL_FLAGS))}; "
                f"not {', '.join(odd)}", "list other services as ports, e.g. ports: ['8080:tcp']")
    fstypes = [(["kickstart", "partitioning", "parts", i, "fstype"], part.fstype)
               for i, part in enumerate(ks.partitioning.parts)]
    fstypes += [(["kickstart", "partitioning", "logvols", i, "fstype"], lv.fstype)
                for i, lv in enumerate(ks.partitioning.logvols)]
    for path, fs in fstypes:
        if not fs:
            continue
        if fs not in d.filesystems:
            add(path, f"{entry.name} does not install to {fs}", "use one of: " + ", ".join(d.filesystems))
        if fs in ("efi",) and p.machine.firmware != "uefi":
            add(path, "an EFI system partition only makes sense with firmware: uefi")
    if ks.partitioning.scheme == "lvm" and not d.lvm:
        add(["kickstart", "partitioning", "scheme"], f"{entry.name}'s installer does not do LVM "
            "(catalog: lvm: false)", "use scheme: plain")
    for path, args in ((["kickstart", "bootloader", "append"], ks.bootloader.append),
                       (["install", "extra_args"], p.install.extra_args)):
        if re.search(r"(^|\s)divider=", args) and not entry.divider_ok:
            add(path, f"divider= can panic {entry.name} (BZ#698842) or is useless there; "
                "it is only for RHEL 5.8+ guests (seed ch. 17, F-16)", "remove divider=")
    if ks.xen_pv_drivers:
        if p.hypervisor != "xen" or p.virt != "fv":
            add(["kickstart", "xen_pv_drivers"], "Xen PV drivers are for fully virtualized guests on Xen (seed ch. 12)")
        elif entry.virt.xen_pv_drivers == "none":
            add(["kickstart", "xen_pv_drivers"], f"{entry.name} has no PV-on-HVM drivers; the minimum guests are "
                "RHEL 3.9, 4.6 and 5.1 (seed 12.1)")
        else:
            _xen_pv_on_hvm(p, entry, add)
    elif ks.xen_pv_repo:
        add(["kickstart", "xen_pv_repo"], "names where kmod-xenpv comes from, but xen_pv_drivers is off",
            "remove xen_pv_repo, or set xen_pv_drivers: true")
    if ks.xen_dom0_release and p.hypervisor != "xen":
        add(["kickstart", "xen_dom0_release"], "is the release of a Xen host; this profile is for KVM")
    if d.max_nameservers and len(ks.network.nameservers) > d.max_nameservers:
        add(["kickstart", "network", "nameservers"], f"{entry.name}'s installer keeps only the first "
            f"{d.max_nameservers} of --nameserver; the others would be dropped without a word",
            f"list at most {d.max_nameservers}, or write /etc/resolv.conf in a %post script")
    if d.fixed_nic and ks.network.device != d.fixed_nic:
        add(["kickstart", "network", "device"], f"{entry.name}'s installer configures {d.fixed_nic} only "
            "(catalog: fixed_nic)", f"use device: {d.fixed_nic}")


def _release(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor)


def _xen_pv_on_hvm(p, entry, add):
    """Seed ch. 12: a repository that holds kmod-xenpv, a host that can serve it, a NIC without ioemu."""
    ks = p.kickstart
    repos = [r.name for r in ks.repos]
    if entry.virt.xen_pv_drivers == "kmod":
        if not ks.xen_pv_repo:
            add(["kickstart", "xen_pv_repo"], f"kmod-xenpv is not on {entry.name}'s install media, and no "
                "repository golden knows holds it: %packages would fail",
                "name the kickstart repo that holds it (xen_pv_repo: NAME, one of kickstart.repos), or "
                "`xen_pv_repo: install` when the install tree carries it")
        elif ks.xen_pv_repo != "install":
            if not entry.kickstart.repo_command:
                add(["kickstart", "xen_pv_repo"], f"{entry.name}'s kickstart has no repo command, so kmod-xenpv "
                    "can only come from the install tree", "add it to the tree and set xen_pv_repo: install")
            elif ks.xen_pv_repo not in repos:
                add(["kickstart", "xen_pv_repo"], f"{ks.xen_pv_repo!r} is not one of kickstart.repos "
                    f"({', '.join(repos) or 'none'})", "add the repo that holds kmod-xenpv to kickstart.repos")
    elif ks.xen_pv_repo:
        add(["kickstart", "xen_pv_repo"], f"{entry.name} has the PV-on-HVM drivers in its own kernel "
            "(seed 12.1); no kmod-xenpv is installed", "remove xen_pv_repo")
    if ks.xen_dom0_release and _release(ks.xen_dom0_release) < (5, 1):
        add(["kickstart", "xen_dom0_release"], f"PV-on-HVM drivers need a RHEL 5.1 or later Xen host; "
            f"this one is {ks.xen_dom0_release} (seed 12.1)")
    model = p.network.model
    if p.network.mode != "none" and model not in (None, "netfront"):
        add(["network", "model"], f"with the PV drivers the guest uses the Xen PV NIC; an emulated {model} "
            "(vif type=ioemu) would stay in the domain and cap its throughput (seed 12.3.1, E20)",
            "omit network.model (golden gives the domain a netfront NIC) or use model: netfront")
    if p.network.mode != "none" and p.install.media_is_url and install_methods.get(p.install.method).network_tree \
            and entry.virt.xen_pv_drivers == "kmod":
        add(["install", "media"], f"{entry.name}'s installer has no Xen PV NIC driver (kmod-xenpv is installed "
            "with the system), and the domain has no emulated NIC: a network install cannot fetch its tree",
            "install from the ISO: method: ksfloppy or remaster with media: the DVD image")


def _image_steps(p, add):
    from builder.image.seal import OPERATIONS
    known = set(OPERATIONS)
    if known is not None:
        for field in ("skip", "only"):
            for i, name in enumerate(getattr(p.seal, field) or []):
                if name not in known:
                    add(["seal", field, i], f"unknown seal operation {name!r}",
                        "run `golden seal --list` for the operation names")
    for i, step in enumerate(p.customize):
        if step.upload:
            src, sep, dst = step.upload.partition(":")
            if not sep or not dst.startswith("/"):
                add(["customize", i, "upload"], "upload takes SRC:DST with an absolute DST")
            elif not Path(src).is_file():
                add(["customize", i, "upload"], f"upload source {src} does not exist")
        if step.write is not None:
            path, sep, _ = step.write.partition(":")
            if not sep or not path.startswith("/"):
                add(["customize", i, "write"], "write takes PATH:CONTENT with an absolute PATH")
        if step.edit is not None:
            path, sep, expr = step.edit.partition(":")
            if not sep or not path.startswith("/") or not expr.startswith("s"):
                add(["customize", i, "edit"], "edit takes PATH:s/regex/replacement/[gi]")
        if step.firstboot and not Path(step.firstboot).is_file():
            add(["customize", i, "firstboot"], f"first-boot script {step.firstboot} does not exist")


def _secrets(loaded: LoadedProfile, add):
    p = loaded.profile
    found = []
    if p.kickstart:
        found.append((["kickstart", "root_password"], p.kickstart.root_password))
        found += [(["kickstart", "users", i, "password"], u.password)
                  for i, u in enumerate(p.kickstart.users) if u.password]
    if p.windows:
        found.append((["windows", "admin_password"], p.windows.admin_password))
        if p.windows.product_key:
            found.append((["windows", "product_key"], p.windows.product_key))
    found += [(["customize", i, "root_password"], s.root_password)
              for i, s in enumerate(p.customize) if s.root_password]
    for path, secret in found:
        try:
            check_available(secret, loaded.base_dir, where="")
        except InputError as exc:
            add(path, exc.message, exc.hint)
