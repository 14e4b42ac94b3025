"""autounattend.xml: the answer file of Windows Vista / Server 2008 and later.

Built with lxml. Setup finds it at the root of a removable medium (golden's
driver CD or floppy). Passwords are never in plain text: Unattend accepts
`<PlainText>false</PlainText>` with base64(UTF-16LE(password + field name)).
That is an encoding, not a hash - anyone with the file can decode it - so the
file is written mode 0600 like every other answer file.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from lxml import etree

from builder.catalog import OsEntry
from builder.profile.schema import Profile
from builder.windows import sysprep, values
from builder.windows.media import MediaPlan

NS = "urn:schemas-microsoft-com:unattend"
WCM = "http://schemas.microsoft.com/WMIConfig/2002/State"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PUBLIC_KEY_TOKEN = "31bf3856ad364e35"
ARCH = {"i386": "x86", "x86_64": "amd64"}

# The passes and the components golden configures in each: the checker
# refuses anything else, so a typo in a component name cannot slip through.
COMPONENTS = {
    "windowsPE": ("Microsoft-Windows-International-Core-WinPE", "Microsoft-Windows-PnpCustomizationsWinPE",
                  "Microsoft-Windows-Setup"),
    "generalize": ("Microsoft-Windows-PnpSysprep",),
    "specialize": ("Microsoft-Windows-Shell-Setup",),
    "oobeSystem": ("Microsoft-Windows-International-Core", "Microsoft-Windows-Shell-Setup"),
}
ADMIN = "Administrator"


@dataclass(frozen=True)
class UnattendInputs:
    admin_password: str
    product_key: str | None


def encode_password(password: str, field: str) -> str:
    """What Unattend expects when PlainText is false: base64 of UTF-16LE(password + field)."""
    return base64.b64encode((password + field).encode("utf-16-le")).decode("ascii")


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _sub(parent, tag: str, text: str | None = None, **attrs):
    el = etree.SubElement(parent, _q(tag))
    for key, value in attrs.items():
        el.set(f"{{{WCM}}}{key}" if key in ("action", "keyValue") else key, value)
    if text is not None:
        el.text = text
    return el


def _component(settings, name: str, arch: str):
    return _sub(settings, "component", name=name, processorArchitecture=arch,
                publicKeyToken=PUBLIC_KEY_TOKEN, language="neutral", versionScope="nonSxS")


def _international(comp, locale: str, winpe: bool) -> None:
    if winpe:
        setup_ui = _sub(comp, "SetupUILanguage")
        _sub(setup_ui, "UILanguage", locale)
    for tag in ("InputLocale", "SystemLocale", "UILanguage", "UserLocale"):
        _sub(comp, tag, locale)


def _disks(setup, firmware: str, nt: tuple[int, int]) -> int:
    """Disk 0 wiped and partitioned for the firmware; returns the Windows partition id."""
    config = _sub(setup, "DiskConfiguration")
    disk = _sub(config, "Disk", action="add")
    _sub(disk, "DiskID", "0")
    _sub(disk, "WillWipeDisk", "true")
    create = _sub(disk, "CreatePartitions")
    modify = _sub(disk, "ModifyPartitions")
    if firmware == "uefi":
        # GPT: EFI system partition, Microsoft reserved, Windows.
        msr = "16" if nt >= (10, 0) else "128"
        for order, (kind, size) in enumerate((("EFI", "100"), ("MSR", msr), ("Primary", None)), 1):
            part = _sub(create, "CreatePartition", action="add")
            _sub(part, "Order", str(order))
            _sub(part, "Type", kind)
            if size:
                _sub(part, "Size", size)
            else:
                _sub(part, "Extend", "true")
        for order, (pid, fmt, label, letter) in enumerate((("1", "FAT32", "System", None),
                                                           ("3", "NTFS", "Windows", "C")), 1):
            part = _sub(modify, "ModifyPartition", action="add")
            _sub(part, "Order", str(order))
            _sub(part, "PartitionID", pid)
            _sub(part, "Format", fmt)
            _sub(part, "Label", label)
            if letter:
                _sub(part, "Letter", letter)
        windows_partition = 3
    else:
        # MBR: one active NTFS partition over the whole disk.
        part = _sub(create, "CreatePartition", action="add")
        _sub(part, "Order", "1")
        _sub(part, "Type", "Primary")
        _sub(part, "Extend", "true")
        part = _sub(modify, "ModifyPartition", action="add")
        _sub(part, "Order", "1")
        _sub(part, "PartitionID", "1")
        _sub(part, "Active", "true")
        _sub(part, "Format", "NTFS")
        _sub(part, "Label", "Windows")
        _sub(part, "Letter", "C")
        windows_partition = 1
    _sub(config, "WillShowUI", "OnError")
    return windows_partition


def first_logon_commands(profile: Profile, entry: OsEntry, media: MediaPlan) -> list[tuple[str, str]]:
    """(command line, description) run at the first logon, in order."""
    w = profile.windows
    out = []
    netkvm = media.get("netkvm")
    if netkvm is not None:
        # DriverPaths already stages netkvm; pnputil makes sure it is installed.
        rel = media.folder(netkvm).replace("/", "\\") + "\\" + netkvm.inf
        if media.medium == "floppy":
            command = f"pnputil -i -a A:\\{rel}"
        else:
            letters = " ".join(letter for letter in ("D", "E", "F", "G", "H"))
            command = f"cmd /c for %d in ({letters}) do @if exist %d:\\{rel} pnputil -i -a %d:\\{rel}"
        out.append((command, "Install the virtio network driver (netkvm)"))
    if entry.windows.timer == "platformclock":
        out.append(("bcdedit /set {default} USEPLATFORMCLOCK on",
                    "Use the platform clock (RHEL 5 Virtualization Guide ch. 17)"))
    out += [(cmd, "From the profile") for cmd in w.first_logon_commands]
    if w.generalize:
        # Last: nothing may run on the generalized system before its clones boot it.
        out.append((sysprep.unattend_command(profile, entry),
                    "Generalize with sysprep: the image gets no SID or computer name of its own"))
    elif w.finish == "poweroff":
        out.append(("shutdown /s /t 0", "Power off: the install is complete"))
    elif w.finish == "reboot":
        out.append(("shutdown /r /t 0", "Reboot: the install is complete"))
    return out


def render(profile: Profile, entry: OsEntry, media: MediaPlan, secrets: UnattendInputs) -> bytes:
    w = profile.windows
    facts = entry.windows
    nt = facts.nt_version()
    arch = ARCH[profile.arch]
    root = etree.Element(_q("unattend"), nsmap={None: NS, "wcm": WCM, "xsi": XSI})
    root.append(etree.Comment(f" autounattend.xml written by golden for profile {profile.name} "
                              f"({entry.name}, {profile.arch}) "))

    # windowsPE: languages, drivers for Setup itself, disk, image, key.
    pe = _sub(root, "settings", **{"pass": "windowsPE"})
    _international(_component(pe, "Microsoft-Windows-International-Core-WinPE", arch), w.locale, True)
    if media.sets:
        pnp = _component(pe, "Microsoft-Windows-PnpCustomizationsWinPE", arch)
        paths = _sub(pnp, "DriverPaths")
        key = 0
        for ds in media.sets:
            for path in media.windows_paths(ds):
                key += 1
                item = _sub(paths, "PathAndCredentials", action="add", keyValue=str(key))
                _sub(item, "Path", path)
    setup = _component(pe, "Microsoft-Windows-Setup", arch)
    partition = _disks(setup, profile.machine.firmware, nt)
    image = _sub(_sub(setup, "ImageInstall"), "OSImage")
    if w.image.name or w.image.index or facts.image_index:
        install_from = _sub(image, "InstallFrom")
        meta = _sub(install_from, "MetaData", action="add")
        if w.image.name:
            _sub(meta, "Key", "/IMAGE/NAME")
            _sub(meta, "Value", w.image.name)
        else:
            _sub(meta, "Key", "/IMAGE/INDEX")
            _sub(meta, "Value", str(w.image.index or facts.image_index))
    install_to = _sub(image, "InstallTo")
    _sub(install_to, "DiskID", "0")
    _sub(install_to, "PartitionID", str(partition))
    _sub(image, "InstallToAvailablePartition", "false")
    _sub(image, "WillShowUI", "OnError")
    user = _sub(setup, "UserData")
    if secrets.product_key:
        key_el = _sub(user, "ProductKey")
        _sub(key_el, "Key", secrets.product_key)
        _sub(key_el, "WillShowUI", "OnError")
    _sub(user, "AcceptEula", "true")
    _sub(user, "FullName", w.full_name)
    _sub(user, "Organization", w.organization)

    if w.generalize:
        # generalize: read from the cached answer file when the last first-logon command
        # runs sysprep /generalize. Keep the virtio drivers installed on every clone.
        gen = _sub(root, "settings", **{"pass": "generalize"})
        pnp = _component(gen, "Microsoft-Windows-PnpSysprep", arch)
        _sub(pnp, "PersistAllDeviceInstalls", "true")
        _sub(pnp, "DoNotCleanUpNonPresentDevices", "true")

    # specialize: identity.
    spec = _sub(root, "settings", **{"pass": "specialize"})
    shell = _component(spec, "Microsoft-Windows-Shell-Setup", arch)
    _sub(shell, "ComputerName", w.computer_name)
    _sub(shell, "RegisteredOrganization", w.organization)
    _sub(shell, "RegisteredOwner", w.full_name)
    _sub(shell, "TimeZone", values.unattend_time_zone(w.timezone))

    # oobeSystem: no questions, the Administrator password, first logon.
    oobe_pass = _sub(root, "settings", **{"pass": "oobeSystem"})
    _international(_component(oobe_pass, "Microsoft-Windows-International-Core", arch), w.locale, False)
    shell = _component(oobe_pass, "Microsoft-Windows-Shell-Setup", arch)
    logon = _sub(shell, "AutoLogon")
    password = _sub(logon, "Password")
    _sub(password, "Value", encode_password(secrets.admin_password, "Password"))
    _sub(password, "PlainText", "false")
    _sub(logon, "Enabled", "true")
    _sub(logon, "LogonCount", "1")
    _sub(logon, "Username", ADMIN)
    commands = first_logon_commands(profile, entry, media)
    if commands:
        flc = _sub(shell, "FirstLogonCommands")
        for order, (line, description) in enumerate(commands, 1):
            cmd = _sub(flc, "SynchronousCommand", action="add")
            _sub(cmd, "CommandLine", line)
            _sub(cmd, "Description", description)
            _sub(cmd, "Order", str(order))
    oobe = _sub(shell, "OOBE")
    _sub(oobe, "HideEULAPage", "true")
    if nt >= (10, 0):
        for tag in ("HideLocalAccountScreen", "HideOEMRegistrationScreen", "HideOnlineAccountScreens",
                    "HideWirelessSetupInOOBE"):
            _sub(oobe, tag, "true")
    _sub(oobe, "NetworkLocation", "Work")
    _sub(oobe, "ProtectYourPC", "3")
    if nt < (10, 0):
        # Vista/7-era OOBE asks for a user account unless told to skip.
        _sub(oobe, "SkipMachineOOBE", "true")
        _sub(oobe, "SkipUserOOBE", "true")
    accounts = _sub(shell, "UserAccounts")
    admin = _sub(accounts, "AdministratorPassword")
    _sub(admin, "Value", encode_password(secrets.admin_password, "AdministratorPassword"))
    _sub(admin, "PlainText", "false")
    _sub(shell, "RegisteredOrganization", w.organization)
    _sub(shell, "RegisteredOwner", w.full_name)
    # The declaration is written here so it has the usual double quotes.
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(root, encoding="utf-8", pretty_print=True)


def check(data: bytes, profile: Profile, entry: OsEntry, media: MediaPlan) -> list[str]:
    """Parse the rendered XML and confirm passes, components and architecture."""
    root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    if root.tag != _q("unattend"):
        raise ValueError(f"autounattend.xml root is {root.tag}, expected unattend in {NS}")
    arch = ARCH[profile.arch]
    seen: dict[str, list[str]] = {}
    for settings in root.findall(_q("settings")):
        name = settings.get("pass")
        if name not in COMPONENTS or name in seen:
            raise ValueError(f"autounattend.xml: unexpected or repeated pass {name!r}")
        seen[name] = []
        for comp in settings.findall(_q("component")):
            cname = comp.get("name")
            if cname not in COMPONENTS[name]:
                raise ValueError(f"autounattend.xml: component {cname} does not belong in pass {name}")
            if comp.get("processorArchitecture") != arch:
                raise ValueError(f"autounattend.xml: {cname} is for {comp.get('processorArchitecture')}, "
                                 f"the guest is {arch}")
            if comp.get("publicKeyToken") != PUBLIC_KEY_TOKEN:
                raise ValueError(f"autounattend.xml: {cname} has the wrong publicKeyToken")
            seen[name].append(cname)
    for needed in ("windowsPE", "specialize", "oobeSystem"):
        if needed not in seen:
            raise ValueError(f"autounattend.xml lacks the {needed} pass")
    if "Microsoft-Windows-Setup" not in seen["windowsPE"]:
        raise ValueError("autounattend.xml: windowsPE lacks Microsoft-Windows-Setup")
    ns = {"u": NS}
    for value in root.iterfind(".//u:PlainText", ns):
        if value.text != "false":
            raise ValueError("autounattend.xml carries a plain-text password")
    names = root.xpath("//u:settings[@pass='specialize']//u:ComputerName/text()", namespaces=ns)
    if names != [profile.windows.computer_name]:
        raise ValueError("autounattend.xml ComputerName differs from the profile")
    done = [f"passes {', '.join(seen)}", f"components for {arch}"]
    driver_paths = root.xpath("//u:DriverPaths/u:PathAndCredentials/u:Path/text()", namespaces=ns)
    for ds in media.sets:
        for path in media.windows_paths(ds):
            if path not in driver_paths:
                raise ValueError(f"autounattend.xml DriverPaths lacks {path}")
    if media.sets:
        done.append("DriverPaths " + ", ".join(media.windows_paths(ds)[0] for ds in media.sets))
    commands = root.xpath("//u:FirstLogonCommands//u:CommandLine/text()", namespaces=ns)
    clock = any("USEPLATFORMCLOCK on" in c for c in commands)
    if clock != (entry.windows.timer == "platformclock"):
        raise ValueError("autounattend.xml USEPLATFORMCLOCK does not match the release "
                         "(on for 2008 R2 / 7 only, seed ch. 17)")
    if clock:
        done.append("USEPLATFORMCLOCK")
    if profile.windows.generalize != ("generalize" in seen):
        raise ValueError("autounattend.xml has a generalize pass although windows.generalize is false"
                         if "generalize" in seen else "autounattend.xml lacks the generalize pass")
    if profile.windows.generalize:
        persist = root.xpath("//u:settings[@pass='generalize']/u:component[@name='Microsoft-Windows-PnpSysprep']"
                             "/u:PersistAllDeviceInstalls/text()", namespaces=ns)
        if persist != ["true"]:
            raise ValueError("autounattend.xml generalize pass does not keep the installed drivers "
                             "(PersistAllDeviceInstalls)")
        if not commands or commands[-1] != sysprep.unattend_command(profile, entry):
            raise ValueError("autounattend.xml: the last first-logon command is not sysprep /generalize")
        if any("sysprep" in c.lower() for c in commands[:-1]):
            raise ValueError("autounattend.xml runs sysprep before its last first-logon command")
        done.append("generalize pass (PersistAllDeviceInstalls) and sysprep /generalize last"
                    + (" with /mode:vm" if sysprep.has_vm_mode(entry) else ""))
    return done
