"""The values a profile leaves to golden: buses, NIC model, sizes, clock.

A profile may omit them; the catalog and the seed's rules decide. Both the
validator and the planner use these functions, so what `golden show` prints
is what a build does.
"""

from __future__ import annotations

from builder import install_methods
from builder.catalog import OsEntry
from builder.profile.schema import Disk, Profile


def windows_loads_storage_driver(profile: Profile) -> bool:
    """Does Windows setup get viostor (or vioscsi) from driver media during install?"""
    w = profile.windows
    return bool(w and w.drivers.media != "none" and ({"viostor", "vioscsi"} & set(w.drivers.sets)))


def windows_has_netkvm(profile: Profile) -> bool:
    w = profile.windows
    return bool(w and w.drivers.media != "none" and "netkvm" in w.drivers.sets)


def windows_answer_media(profile: Profile, entry: OsEntry) -> str | None:
    """The medium holding the answer file and drivers: floppy or iso (a side CD).

    XP/2003 read winnt.sif and F6 drivers from A: only. Later releases find
    autounattend.xml at the root of any removable medium, so the driver CD
    carries it (also with drivers.media none: then it holds only that file).
    """
    if not (entry.is_windows and profile.windows):
        return None
    if entry.windows.storage_driver_media == "floppy" or profile.windows.drivers.media == "floppy":
        return "floppy"
    return "iso"


def machine_type(profile: Profile) -> str:
    if profile.machine.machine_type:
        return profile.machine.machine_type
    return "q35" if profile.machine.firmware == "uefi" else "pc"


def cdrom_bus(profile: Profile) -> str:
    # q35 has no IDE controller; CDs go on SATA there.
    if profile.hypervisor == "xen":
        return "ide"
    return "sata" if machine_type(profile) == "q35" else "ide"


def disk_bus(profile: Profile, entry: OsEntry, index: int, disk: Disk) -> str:
    if disk.bus:
        bus = disk.bus
    elif profile.virt == "pv":
        bus = "xen"
    elif profile.hypervisor == "xen":
        bus = "ide"          # seed 12.2: the boot disk stays emulated on Xen FV
    elif entry.is_windows:
        bus = "virtio" if windows_loads_storage_driver(profile) else "ide"
    else:
        bus = entry.virt.default_disk_bus
    if bus == "ide" and machine_type(profile) == "q35":
        bus = "sata"
    return bus


def nic_model(profile: Profile, entry: OsEntry) -> str | None:
    if profile.network.mode == "none":
        return None
    if profile.network.model:
        return profile.network.model
    if profile.virt == "pv":
        return "netfront"
    if entry.is_windows:
        # XP/2003 stage netkvm for after setup (OemPnPDriversPath): the install
        # keeps the in-box NIC; later releases load netkvm from DriverPaths.
        if windows_has_netkvm(profile) and entry.windows.era == "unattend":
            return "virtio"
        return entry.virt.default_nic_model
    if profile.hypervisor == "xen":
        return "rtl8139"
    return entry.virt.default_nic_model


def disk_size(entry: OsEntry, disk: Disk) -> int:
    return disk.size if disk.size is not None else entry.min_disk_gb << 30


def clock_offset(profile: Profile, entry: OsEntry) -> str:
    if profile.machine.clock.offset:
        return profile.machine.clock.offset
    return "localtime" if entry.is_windows else "utc"


def network_source(profile: Profile) -> str | None:
    net = profile.network
    if net.source:
        return net.source
    return {"nat": "default", "pxe": "golden-pxe"}.get(net.mode)


def fstype(profile: Profile, entry: OsEntry, given: str | None) -> str:
    if given:
        return given
    return entry.kickstart.default_fstype if entry.kickstart else "ext4"


def disk_targets(profile: Profile, entry: OsEntry) -> list[str]:
    """Target device names per disk, given or assigned per bus in order."""
    prefixes = {"ide": "hd", "sata": "sd", "scsi": "sd", "virtio": "vd", "xen": "xvd"}
    used = {d.target for d in profile.disks if d.target}
    counters: dict[str, int] = {}
    targets = []
    for index, disk in enumerate(profile.disks):
        if disk.target:
            targets.append(disk.target)
            continue
        prefix = prefixes[disk_bus(profile, entry, index, disk)]
        while True:
            n = counters.get(prefix, 0)
            counters[prefix] = n + 1
            name = prefix + disk_letters(n)
            if prefix == "hd" and name == "hdc" and _cd_count(profile, entry) and cdrom_bus(profile) == "ide":
                continue     # hdc is where the install CD goes, as virt-install does
            if name not in used:
                break
        targets.append(name)
    return targets


def disk_letters(n: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa: the suffix of the n-th disk name (hda, vdb, sdaa)."""
    out = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(ord("a") + rem) + out
    return out


def _cd_count(profile: Profile, entry: OsEntry) -> int:
    return len(cdroms(profile, entry))


def cdroms(profile: Profile, entry: OsEntry) -> list[str]:
    """What each CD drive holds during install: media, oemdrv, drivers."""
    cds = list(install_methods.get(profile.install.method).cdroms(profile))
    if windows_answer_media(profile, entry) == "iso":
        cds.append("drivers")
    return cds


def floppies(profile: Profile, entry: OsEntry) -> list[str]:
    out = list(install_methods.get(profile.install.method).floppies(profile))
    if windows_answer_media(profile, entry) == "floppy":
        out.append("drivers")
    return out
