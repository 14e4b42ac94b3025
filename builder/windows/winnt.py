"""winnt.sif: the answer file of Windows XP and Server 2003 setup.

Text-mode setup reads it from the floppy in A: when it boots from the CD.
It is an INI file: CRLF, ASCII, values in double quotes where they may hold
spaces (a quote inside is doubled). winnt.sif has no password hashing, so
AdminPassword is the one plaintext secret golden ever writes; the file is
written mode 0600 and lives only in the build directory and on the floppy.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass

from builder.catalog import OsEntry
from builder.profile.schema import Profile
from builder.windows import sysprep, values
from builder.windows.media import MediaPlan
from builder.windows.txtsetup import RETAIL_IDE

# What setup needs to run from first screen to desktop without a question.
REQUIRED = {
    "Data": ("AutoPartition", "MsDosInitiated", "UnattendedInstall"),
    "Unattended": ("UnattendMode", "OemPreinstall", "OemSkipEula", "DriverSigningPolicy", "TargetPath"),
    "GuiUnattended": ("AdminPassword", "EncryptedAdminPassword", "TimeZone", "OemSkipWelcome"),
    "UserData": ("ProductKey", "ComputerName", "FullName", "OrgName"),
}


@dataclass(frozen=True)
class SifInputs:
    admin_password: str
    product_key: str | None


def _q(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def computer_type(profile: Profile, entry: OsEntry) -> str | None:
    """The HAL winnt.sif names, or None to let setup detect one."""
    chosen = profile.windows.computer_type
    if chosen == "detect":
        return None
    if chosen:
        return chosen
    facts = entry.windows
    return facts.computer_type if profile.arch in facts.computer_type_arches else None


def gui_run_once(profile: Profile, entry: OsEntry, media: MediaPlan) -> list[str]:
    """Commands of the first logon, in order (winnt.sif [GuiRunOnce])."""
    w = profile.windows
    commands = []
    for ds in media.pnp_sets:
        src = media.windows_paths(ds)[0]
        # OemPnPDriversPath names these folders; Windows finds the drivers
        # there for devices it meets from now on (e.g. after `golden virtio`).
        commands.append(f"cmd /c xcopy {src} %SystemDrive%\\Drivers\\{ds.folder} /e /i /y /q")
    if entry.windows.timer == "pmtimer":
        # Seed ch. 17: "/use pmtimer" in boot.ini; the switch is /usepmtimer.
        commands.append('bootcfg /raw "/usepmtimer" /A /ID 1')
    commands += list(w.first_logon_commands)
    if w.generalize:
        # sysprep ends the install itself (shut down, reboot or stay up as `finish` says).
        commands += sysprep.sif_commands(profile, entry, media)
    elif w.finish == "poweroff":
        commands.append("shutdown -s -f -t 0")
    elif w.finish == "reboot":
        commands.append("shutdown -r -f -t 0")
    return commands


def render(profile: Profile, entry: OsEntry, media: MediaPlan, secrets: SifInputs) -> bytes:
    w = profile.windows
    facts = entry.windows
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    sections.append(("Data", [("AutoPartition", "1"), ("MsDosInitiated", '"0"'),
                              ("UnattendedInstall", '"Yes"')]))
    unattended = [
        ("UnattendMode", "FullUnattended"),
        ("UnattendSwitch", "Yes"),
        ("OemSkipEula", "Yes"),
        ("OemPreinstall", "Yes"),
        ("TargetPath", "\\WINDOWS"),
        ("Repartition", "Yes"),
        ("WaitForReboot", "No"),
        ("NoWaitAfterTextMode", "1"),
        ("NoWaitAfterGUIMode", "1"),
        ("DriverSigningPolicy", "Ignore"),
        ("NonDriverSigningPolicy", "Ignore"),
    ]
    if media.pnp_sets:
        unattended.append(("OemPnPDriversPath",
                           _q(";".join(f"Drivers\\{ds.folder}" for ds in media.pnp_sets))))
    hal = computer_type(profile, entry)
    if hal:
        unattended.append(("ComputerType", f"{_q(hal)}, Retail"))
    sections.append(("Unattended", unattended))
    if media.text_mode:
        sections.append(("MassStorageDrivers", [(_q(d.description), "OEM") for d in media.text_mode]
                         + [(_q(RETAIL_IDE), "RETAIL")]))
        boot_files = ["txtsetup.oem"] + [f for d in media.text_mode for f in d.files]
        sections.append(("OEMBootFiles", [(name, None) for name in boot_files]))
    sections.append(("GuiUnattended", [
        ("AdminPassword", _q(secrets.admin_password)),
        ("EncryptedAdminPassword", "No"),
        ("AutoLogon", "Yes"),
        ("AutoLogonCount", "1"),
        ("OEMSkipRegional", "1"),
        ("OemSkipWelcome", "1"),
        ("TimeZone", f"{values.sif_time_zone(w.timezone):03d}"),
    ]))
    user = []
    if secrets.product_key:
        user.append(("ProductKey", _q(secrets.product_key)))
    user += [("FullName", _q(w.full_name)), ("OrgName", _q(w.organization)), ("ComputerName", w.computer_name)]
    sections.append(("UserData", user))
    if facts.server:
        # Server 2003 asks for the licensing mode in GUI setup otherwise.
        sections.append(("LicenseFilePrintData", [("AutoMode", "PerServer"), ("AutoUsers", "5")]))
    sections.append(("Identification", [("JoinWorkgroup", "WORKGROUP")]))
    sections.append(("Networking", [("InstallDefaultComponents", "Yes")]))
    run_once = gui_run_once(profile, entry, media)
    if run_once:
        sections.append(("GuiRunOnce", [(f"Command{i}", _q(cmd)) for i, cmd in enumerate(run_once)]))

    lines = [f"; winnt.sif written by golden for profile {profile.name} ({entry.name}, {profile.arch}).",
             "; Setup reads it from the floppy in A:. It holds the product key and, because",
             "; winnt.sif has no password hashing, the Administrator password in plain text."]
    for name, items in sections:
        lines += ["", f"[{name}]"]
        lines += [key if value is None else f"{key}={value}" for key, value in items]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def parse(data: bytes) -> configparser.RawConfigParser:
    """winnt.sif read back as INI (case-preserving, no duplicate sections or keys)."""
    parser = configparser.RawConfigParser(strict=True, delimiters=("=",), comment_prefixes=(";",),
                                          allow_no_value=True, interpolation=None)
    parser.optionxform = str
    parser.read_string(data.decode("ascii"))
    return parser


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value


def check(data: bytes, profile: Profile, entry: OsEntry, media: MediaPlan) -> list[str]:
    """Read the rendered file back and confirm what setup needs; returns what was checked."""
    parser = parse(data)
    for section, keys in REQUIRED.items():
        if not parser.has_section(section):
            raise ValueError(f"winnt.sif lacks [{section}]")
        missing = [k for k in keys if not parser.has_option(section, k)]
        if missing:
            raise ValueError(f"winnt.sif [{section}] lacks {', '.join(missing)}")
    if parser.get("Unattended", "UnattendMode") != "FullUnattended":
        raise ValueError("winnt.sif is not FullUnattended")
    if unquote(parser.get("UserData", "ComputerName")) != profile.windows.computer_name:
        raise ValueError("winnt.sif ComputerName differs from the profile")
    done = ["INI sections " + " ".join(f"[{s}]" for s in parser.sections())]
    hal = computer_type(profile, entry)
    if hal:
        got = parser.get("Unattended", "ComputerType")
        if not got.startswith(f'"{hal}"'):
            raise ValueError(f"winnt.sif ComputerType is {got}, expected {hal}")
        done.append(f"ComputerType {hal!r}")
    if media.text_mode:
        names = [unquote(k) for k in parser.options("MassStorageDrivers")]
        for d in media.text_mode:
            if d.description not in names:
                raise ValueError(f"winnt.sif [MassStorageDrivers] lacks {d.description!r}")
        done.append(f"F6 driver {', '.join(d.set.name for d in media.text_mode)} in [MassStorageDrivers]")
    if entry.windows.timer == "pmtimer":
        run = [unquote(v) for _, v in parser.items("GuiRunOnce")] if parser.has_section("GuiRunOnce") else []
        if not any("/usepmtimer" in c for c in run):
            raise ValueError("winnt.sif does not set /usepmtimer")
        done.append("/usepmtimer")
    if profile.windows.generalize:
        run = [unquote(v) for _, v in parser.items("GuiRunOnce")] if parser.has_section("GuiRunOnce") else []
        want = sysprep.sif_commands(profile, entry, media)
        if run[-len(want):] != want:
            raise ValueError("winnt.sif [GuiRunOnce] does not end with the sysprep steps")
        done.append("GuiRunOnce ends with sysprep -reseal -mini")
    return done
