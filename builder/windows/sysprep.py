"""Generalizing a Windows install with sysprep, per era.

`windows.generalize` (default true) makes sysprep the last first-logon
step, so the image golden publishes has no SID or computer name of its own
and each clone gets fresh ones at its first boot (specialize / Mini-Setup).

- 2008 and later: the answer file's generalize pass keeps the installed
  PnP drivers (Microsoft-Windows-PnpSysprep PersistAllDeviceInstalls, so
  viostor/netkvm survive), and the last FirstLogonCommands entry runs
  `sysprep /generalize /oobe`. `/mode:vm` (skip hardware redetection on
  the same hypervisor) exists from Windows 8 / Server 2012 (NT 6.2) on;
  2008, 2008 R2 and 7 reject it.
- XP / 2003: sysprep.exe is not installed; it ships in the install CD's
  SUPPORT\\TOOLS\\DEPLOY.CAB. The last [GuiRunOnce] commands expand it into
  %SystemDrive%\\Sysprep, copy golden's sysprep.inf there from the floppy
  (Sysprep reads it only beside sysprep.exe) and run
  `sysprep -reseal -mini -quiet` with the end action of `windows.finish`.
  XP/2003 sysprep has no `-shutdown`: after -reseal it shuts down by
  default, and `-forceshutdown` is its documented switch for machines that
  do not power off that way (a non-ACPI "Standard PC" HAL).

sysprep.inf is copied into the image, so it carries no secret: no
AdminPassword (Mini-Setup keeps the installed one) and no ProductKey.
"""

from __future__ import annotations

from builder.catalog import OsEntry
from builder.profile.schema import Profile
from builder.windows import values
from builder.windows.media import FLOPPY_LETTER, MediaPlan

SYSPREP_EXE = "%WINDIR%\\System32\\Sysprep\\sysprep.exe"
# Where Mini-Setup finds sysprep.inf: beside sysprep.exe in %SystemDrive%\Sysprep.
SIF_SYSPREP_DIR = "%SystemDrive%\\Sysprep"
DEPLOY_CAB = "SUPPORT\\TOOLS\\DEPLOY.CAB"
# Letters the XP/2003 install CD may have (A: is the floppy, C: the system disk).
INSTALL_CD_LETTERS = ("D", "E", "F", "G")
INF_NAME = "sysprep.inf"
# The drive letter Mini-Setup sees the system disk as: AutoPartition puts Windows on C:.
SYSTEM_DRIVE = "C:"

_UNATTEND_END = {"poweroff": "/shutdown", "reboot": "/reboot", "none": "/quit"}
_SIF_END = {"poweroff": "-forceshutdown", "reboot": "-reboot", "none": "-noreboot"}


def enabled(profile: Profile) -> bool:
    return bool(profile.windows and profile.windows.generalize)


def has_vm_mode(entry: OsEntry) -> bool:
    """Does this release's sysprep take /mode:vm? (Windows 8 / Server 2012, NT 6.2, and later.)"""
    return entry.windows.nt_version() >= (6, 2)


def unattend_command(profile: Profile, entry: OsEntry) -> str:
    """The last FirstLogonCommands entry of a generalized 2008+ install."""
    args = [SYSPREP_EXE, "/generalize", "/oobe", _UNATTEND_END[profile.windows.finish], "/quiet"]
    if has_vm_mode(entry):
        args.append("/mode:vm")
    return " ".join(args)


def staged_driver_dir(folder: str) -> str:
    """Where the install keeps a driver set on the system disk (winnt.sif OemPnPDriversPath names it too)."""
    return f"%SystemDrive%\\Drivers\\{folder}"


def sif_commands(profile: Profile, entry: OsEntry, media: MediaPlan) -> list[str]:
    """The last [GuiRunOnce] commands of a generalized XP/2003 install, in order."""
    cab = " ".join(INSTALL_CD_LETTERS)
    commands = [f"cmd /c if not exist {SIF_SYSPREP_DIR} mkdir {SIF_SYSPREP_DIR}",
                f"cmd /c for %d in ({cab}) do @if exist %d:\\{DEPLOY_CAB} "
                f"expand %d:\\{DEPLOY_CAB} -F:* {SIF_SYSPREP_DIR}",
                f"cmd /c copy /y {FLOPPY_LETTER}:\\{INF_NAME} {SIF_SYSPREP_DIR}\\{INF_NAME}"]
    for driver in media.text_mode:
        # The F6 driver sits at the floppy's root; [SysprepMassStorage] needs its INF on the disk.
        stem = driver.set.inf.rsplit(".", 1)[0]
        commands.append(f"cmd /c xcopy {FLOPPY_LETTER}:\\{stem}.* {staged_driver_dir(driver.set.folder)} /i /y /q")
    commands.append(f"{SIF_SYSPREP_DIR}\\sysprep.exe -reseal -mini -quiet {_SIF_END[profile.windows.finish]}")
    return commands


def mass_storage(media: MediaPlan) -> list[tuple[str, str]]:
    """[SysprepMassStorage] lines: each storage set's PnP ids -> its INF as staged on the system disk."""
    out = []
    for ds in media.sets:
        if ds.kind != "storage":
            continue
        inf = f"{SYSTEM_DRIVE}\\Drivers\\{ds.folder}\\{ds.inf}"
        out += [(hwid, inf) for hwid in ds.hardware_ids]
    return out


def _q(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def render_inf(profile: Profile, entry: OsEntry, media: MediaPlan) -> bytes:
    """sysprep.inf for Mini-Setup on each clone of an XP/2003 image (CRLF, ASCII)."""
    w = profile.windows
    unattended = [("OemSkipEula", "Yes"), ("UnattendMode", "FullUnattended"), ("DriverSigningPolicy", "Ignore")]
    folders = [f"Drivers\\{ds.folder}" for ds in media.sets]
    if folders:
        unattended.append(("OemPnPDriversPath", _q(";".join(folders))))
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("Unattended", unattended),
        ("GuiUnattended", [("OemSkipWelcome", "1"), ("OEMSkipRegional", "1"),
                           ("TimeZone", f"{values.sif_time_zone(w.timezone):03d}")]),
        # "*": Mini-Setup makes up a unique name; `golden clone` may write each clone's own.
        ("UserData", [("FullName", _q(w.full_name)), ("OrgName", _q(w.organization)), ("ComputerName", "*")]),
    ]
    if entry.windows.server:
        sections.append(("LicenseFilePrintData", [("AutoMode", "PerServer"), ("AutoUsers", "5")]))
    sections.append(("Identification", [("JoinWorkgroup", "WORKGROUP")]))
    sections.append(("Networking", [("InstallDefaultComponents", "Yes")]))
    storage = mass_storage(media)
    if storage:
        # golden lists its own controllers: building the whole section from Windows' INFs
        # adds hundreds of CriticalDeviceDatabase entries and slows every clone's boot.
        sections.append(("Sysprep", [("BuildMassStorageSection", "No")]))
        sections.append(("SysprepMassStorage", [(hwid, _q(inf)) for hwid, inf in storage]))
    lines = [f"; sysprep.inf written by golden for profile {profile.name} ({entry.name}, {profile.arch}).",
             "; Mini-Setup reads it from %SystemDrive%\\Sysprep on each clone's first boot.",
             "; It holds no password and no product key: it stays in the image."]
    for name, items in sections:
        lines += ["", f"[{name}]"] + [f"{key}={value}" for key, value in items]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def check_inf(data: bytes, media: MediaPlan) -> list[str]:
    """Read sysprep.inf back; returns what was checked."""
    from builder.windows.winnt import parse, unquote

    parser = parse(data)
    for section, key in (("Unattended", "OemSkipEula"), ("Unattended", "UnattendMode"),
                         ("GuiUnattended", "TimeZone"), ("UserData", "ComputerName")):
        if not parser.has_option(section, key):
            raise ValueError(f"sysprep.inf [{section}] lacks {key}")
    for section, key in (("GuiUnattended", "AdminPassword"), ("UserData", "ProductKey")):
        if parser.has_option(section, key):
            raise ValueError(f"sysprep.inf holds {key}: it is copied into the image")
    done = ["sysprep.inf " + " ".join(f"[{s}]" for s in parser.sections())]
    storage = mass_storage(media)
    if storage:
        have = {k.upper(): unquote(v) for k, v in parser.items("SysprepMassStorage")} \
            if parser.has_section("SysprepMassStorage") else {}
        for hwid, inf in storage:
            if have.get(hwid.upper()) != inf:
                raise ValueError(f"sysprep.inf [SysprepMassStorage] lacks {hwid} -> {inf}")
        done.append(f"[SysprepMassStorage] {len(storage)} virtio storage ids")
    return done
