"""Each Windows clone's own computer name, written into its disk before its first boot.

A generalized image runs Windows' specialize pass (2008 and later) or
Mini-Setup (XP/2003) at its next boot, and that is where a new SID and the
computer name come from. golden writes the name where those read it:

- 2008 and later: every answer file in Windows Setup's implicit search order
  that has a specialize pass (the one golden's build leaves cached in
  %WINDIR%\\Panther is among them) gets the clone's ComputerName, everything
  else kept. An image without one gets %WINDIR%\\Panther\\Unattend\\Unattend.xml
  (second in the search order, after a registry override) holding the name and
  the OOBE screens to skip, and no password.
- XP/2003: [UserData] ComputerName in %SystemDrive%\\Sysprep\\sysprep.inf,
  the file Mini-Setup reads.

Every disk of the batch is written in one guestfs appliance (ntfs-3g), and
each file is read back before the clone counts as made.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from builder.errors import HostError, InputError
from builder.windows import beacon, guestcheck
from builder.windows.autounattend import ARCH, NS, PUBLIC_KEY_TOKEN, WCM

SHELL = "Microsoft-Windows-Shell-Setup"
# Windows Setup's implicit answer-file search order, below the registry's UnattendFile.
ANSWER_FILES = ("{root}/Panther/Unattend/Unattend.xml", "{root}/Panther/Unattend/Autounattend.xml",
                "{root}/Panther/Unattend.xml", "{root}/Panther/Autounattend.xml",
                "{root}/System32/Sysprep/Unattend.xml", "/Unattend.xml", "/Autounattend.xml")
NEW_ANSWER = "{root}/Panther/Unattend/Unattend.xml"
SYSPREP_INF = "/Sysprep/sysprep.inf"
# NetBIOS: at most 15 characters; DNS-safe ones only, and not all digits.
_NAME = re.compile(r"[A-Za-z0-9-]{1,15}")


def check_names(names: list[str]) -> None:
    for name in names:
        if not _NAME.fullmatch(name) or name.isdigit():
            raise InputError(f"{name!r} cannot be a Windows computer name: at most 15 letters, digits and "
                             "hyphens, not all digits", where="--name",
                             hint="pick a shorter --name pattern, e.g. web-{n}")


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _parse(data: bytes):
    return etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                         remove_blank_text=False))


def _computer_names(root) -> list:
    return root.xpath("u:settings[@pass='specialize']/u:component[@name=$c]/u:ComputerName",
                      namespaces={"u": NS}, c=SHELL)


def set_computer_name(data: bytes, name: str) -> tuple[bytes, str | None] | None:
    """The answer file with `name` in its specialize pass, and the name it had; None without that pass."""
    root = _parse(data)
    shells = root.xpath("u:settings[@pass='specialize']/u:component[@name=$c]", namespaces={"u": NS}, c=SHELL)
    if not shells:
        return None
    found = _computer_names(root)
    old = found[0].text if found else None
    if found:
        for el in found:
            el.text = name
    else:
        el = etree.SubElement(shells[0], _q("ComputerName"))
        el.text = name
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(root, encoding="utf-8"), old


def minimal_answer(name: str, arch: str, nt_major: int | None) -> bytes:
    """An answer file with the clone's name and no questions at OOBE; no password, no key."""
    root = etree.Element(_q("unattend"), nsmap={None: NS, "wcm": WCM})

    def shell(settings):
        return etree.SubElement(settings, _q("component"), name=SHELL, processorArchitecture=arch,
                                publicKeyToken=PUBLIC_KEY_TOKEN, language="neutral", versionScope="nonSxS")

    spec = etree.SubElement(root, _q("settings"), **{"pass": "specialize"})
    etree.SubElement(shell(spec), _q("ComputerName")).text = name
    oobe_pass = etree.SubElement(root, _q("settings"), **{"pass": "oobeSystem"})
    oobe = etree.SubElement(shell(oobe_pass), _q("OOBE"))
    tags = ["HideEULAPage"]
    tags += ["HideLocalAccountScreen", "HideOEMRegistrationScreen", "HideOnlineAccountScreens",
             "HideWirelessSetupInOOBE"] if (nt_major or 0) >= 10 else ["SkipMachineOOBE", "SkipUserOOBE"]
    for tag in tags:
        etree.SubElement(oobe, _q(tag)).text = "true"
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(root, encoding="utf-8", pretty_print=True)


def set_sysprep_name(text: str, name: str) -> tuple[str, str | None]:
    """sysprep.inf with [UserData] ComputerName=name (section or key added when missing), CRLF kept."""
    lines = text.replace("\r\n", "\n").split("\n")
    out, section, old, done = [], None, None, False
    for line in lines:
        head = re.fullmatch(r"\s*\[([^\]]+)\]\s*", line)
        if head:
            if section == "userdata" and not done:
                out.append(f"ComputerName={name}")
                done = True
            section = head.group(1).strip().lower()
        elif section == "userdata" and re.match(r"\s*computername\s*=", line, re.I):
            if not done:
                old = line.split("=", 1)[1].strip()
                out.append(f"ComputerName={name}")
                done = True
            continue
        out.append(line)
    if not done:
        if section == "userdata":
            while out and out[-1] == "":
                out.pop()
            out += [f"ComputerName={name}", ""]
        else:
            while out and out[-1] == "":
                out.pop()
            out += ["", "[UserData]", f"ComputerName={name}", ""]
    return "\r\n".join(out), old


def _windows_path(path: str) -> str:
    return "C:" + path.replace("/", "\\")


def _install_beacon(g, root: str, major: int | None) -> list[dict]:
    """The identity script, and on 2008 and later the SetupComplete.cmd line that runs it."""
    folder = guestcheck._path(g, beacon.SCRIPT_DIR) or beacon.SCRIPT_DIR
    g.mkdir_p(folder)
    g.write(f"{folder}/identity.cmd", beacon.crlf(beacon.CMD))
    changes = [{"path": beacon.SCRIPT_WIN, "action": "written", "detail": "identity beacon for golden verify"}]
    if major is not None and major < 6:
        return changes
    setup = guestcheck._path(g, f"{root}/Setup") or f"{root}/Setup"
    scripts = guestcheck._path(g, f"{setup}/Scripts") or f"{setup}/Scripts"
    g.mkdir_p(scripts)
    path = guestcheck._path(g, f"{scripts}/SetupComplete.cmd")
    text = beacon.setupcomplete(g.read_file(path).decode("latin-1") if path else None)
    if text is not None:
        action = "edited" if path else "written"
        path = path or f"{scripts}/SetupComplete.cmd"
        g.write(path, beacon.crlf(text))
        changes.append({"path": _windows_path(path), "action": action,
                        "detail": "runs the identity beacon once Setup is done"})
    return changes


def _write_one(g, root: str, name: str, report: dict) -> dict:
    changes, notes = [], []
    major = report["os"]["major"]
    if major is not None and major < 6:
        inf = guestcheck._path(g, SYSPREP_INF)
        if inf is None:
            g.mkdir_p("/Sysprep")
            inf = SYSPREP_INF
            notes.append("no C:\\Sysprep\\sysprep.inf: Mini-Setup gets the computer name only and asks the rest")
            text = ""
        else:
            text = g.read_file(inf).decode("latin-1")
        new, old = set_sysprep_name(text, name)
        new, autologon = beacon.gui_run_once(new)
        g.write(inf, new.encode("latin-1"))
        changes.append({"path": _windows_path(inf), "action": "edited" if text else "written",
                        "detail": f"[UserData] ComputerName {old or '-'} -> {name}; [GuiRunOnce] identity beacon"})
        if not autologon:
            notes.append("sysprep.inf has no [GuiUnattended] AutoLogon=Yes: the identity beacon runs only when "
                         "someone logs on, so `golden verify` waits for that")
        written = [inf]
    else:
        written = []
        for pattern in ANSWER_FILES:
            path = guestcheck._path(g, pattern.format(root=root))
            if path is None or not g.is_file(path):
                continue
            try:
                result = set_computer_name(g.read_file(path), name)
            except etree.XMLSyntaxError as exc:
                notes.append(f"{_windows_path(path)} is not XML ({exc}); left as it is")
                continue
            if result is None:
                continue
            data, old = result
            g.write(path, data)
            written.append(path)
            changes.append({"path": _windows_path(path), "action": "edited",
                            "detail": f"specialize ComputerName {old or '-'} -> {name}"})
        if not written:
            folder = guestcheck._path(g, f"{root}/Panther") or f"{root}/Panther"
            g.mkdir_p(f"{folder}/Unattend")
            path = f"{folder}/Unattend/Unattend.xml"
            g.write(path, minimal_answer(name, ARCH.get(report["os"]["arch"], "amd64"), major))
            written.append(path)
            changes.append({"path": _windows_path(path), "action": "written",
                            "detail": f"specialize ComputerName {name}, OOBE screens skipped"})
    changes += _install_beacon(g, root, major)
    for path in written:
        back = g.read_file(path)
        if name.encode() not in back:
            raise HostError(f"{_windows_path(path)} in the clone {name} does not hold its name after writing it")
    return {"changes": changes, "notes": notes}


def write(drives: list[tuple[Path, str | None]], names: list[str], report: dict) -> dict[str, dict]:
    """Write each clone's computer name into its disk; one appliance for the batch."""
    out: dict[str, dict] = {}
    with guestcheck.guestfs_drives(drives, readonly=False) as g:
        filesystems = g.list_filesystems()      # probes every drive: once for the batch
        for (image, _), drive, name in zip(drives, g.list_devices(), names):
            ntfs = sorted(d for d, kind in filesystems.items() if d.startswith(drive) and kind == "ntfs")
            for device in ntfs:
                g.mount(device, "/")
                try:
                    root = guestcheck.find_systemroot(g)
                    if root:
                        out[name] = _write_one(g, root, name, report)
                        break
                finally:
                    g.umount_all()
            if name not in out:
                raise HostError(f"no Windows system root found in the clone disk {image}")
    return out
