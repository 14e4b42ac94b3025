"""The Windows identity beacon: a clone reports its computer name and machine SID on COM1, once.

`golden verify` reads the serial log for a `golden-identity` line, as for
Linux (builder/clone/beacon.py). On Windows the line carries the machine SID
(the domain part of the built-in Administrator's SID, the same in every
local account) instead of a machine-id, because the SID is what sysprep's
generalize makes new and what breaks domain joins when two clones share it.

Where it runs:
- 2008 and later: %WINDIR%\\Setup\\Scripts\\SetupComplete.cmd, which Setup
  runs as SYSTEM once the specialize and OOBE passes are done, before any
  logon. A SetupComplete.cmd the image already has keeps its lines and gets
  one more. (Windows 8 and later skip it when the image was activated with
  an OEM key: such an image reports nothing, and verify says so.)
- XP/2003: sysprep.inf's [GuiRunOnce], which runs at the first logon after
  Mini-Setup, so the image needs [GuiUnattended] AutoLogon for it to run
  unattended.

wmic answers on every release up to Windows 11 23H2; later ones lack it by
default, so PowerShell is the fallback.
"""

from __future__ import annotations

import re

SCRIPT_DIR = "/golden"
SCRIPT = f"{SCRIPT_DIR}/identity.cmd"
SCRIPT_WIN = "C:\\golden\\identity.cmd"
SETUPCOMPLETE = "{root}/Setup/Scripts/SetupComplete.cmd"
CALL = f'call "{SCRIPT_WIN}"'

CMD = r"""@echo off
rem Written by golden clone: reports this clone's identity once on COM1, for `golden verify`.
setlocal EnableExtensions
set host=
set sid=
set mac=
set uuid=
set guid=
for /f "delims=" %%h in ('hostname') do set "host=%%h"
rem The built-in Administrator (RID 500) always exists; its SID minus the RID is the machine SID.
for /f "tokens=2 delims==" %%s in ('wmic useraccount where "SID like 'S-1-5-21-%%-500'" get SID /value 2^>nul ^| find "="') do for /f "delims=" %%t in ("%%s") do set "sid=%%t"
if defined sid set "sid=%sid:~0,-4%"
if not defined sid for /f "delims=" %%s in ('powershell -NoProfile -Command "(Get-LocalUser)[0].SID.AccountDomainSid.Value" 2^>nul') do set "sid=%%s"
for /f "tokens=2 delims==" %%u in ('wmic csproduct get UUID /value 2^>nul ^| find "="') do for /f "delims=" %%v in ("%%u") do set "uuid=%%v"
if not defined uuid for /f "delims=" %%u in ('powershell -NoProfile -Command "(Get-CimInstance Win32_ComputerSystemProduct).UUID" 2^>nul') do set "uuid=%%u"
for /f "tokens=1 delims=," %%m in ('getmac /fo csv /nh 2^>nul') do if not defined mac set "mac=%%~m"
if defined mac set "mac=%mac:-=:%"
for /f "tokens=3" %%g in ('reg query HKLM\SOFTWARE\Microsoft\Cryptography /v MachineGuid 2^>nul ^| find "MachineGuid"') do set "guid=%%g"
if not defined sid set sid=none
if not defined mac set mac=none
if not defined uuid set uuid=none
if not defined guid set guid=none
mode COM1 115200,n,8,1 >nul 2>&1
echo golden-identity hostname=%host% mac=%mac% sid=%sid% uuid=%uuid% machine-guid=%guid% via=windows>COM1
"""


def crlf(text: str) -> bytes:
    # cmd.exe reads batch files in the OEM code page; latin-1 keeps an existing file's bytes.
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("latin-1")


def setupcomplete(existing: str | None) -> str | None:
    """SetupComplete.cmd that also calls the beacon; None when it already does."""
    if existing is None:
        return f"@echo off\n{CALL}\n"
    text = existing.replace("\r\n", "\n")
    if SCRIPT_WIN.lower() in text.lower():
        return None
    # Before an `exit` that would end the file's commands early; else at the end.
    lines = text.split("\n")
    at = next((i for i, line in enumerate(lines) if re.match(r"\s*exit\b", line, re.I)), None)
    if at is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + CALL + "\n"
    return "\n".join(lines[:at] + [CALL] + lines[at:])


def gui_run_once(text: str) -> tuple[str, bool]:
    """sysprep.inf with the beacon as the next [GuiRunOnce] command; (text, whether AutoLogon is on)."""
    lines = text.replace("\r\n", "\n").split("\n")
    autologon = any(re.fullmatch(r"\s*autologon\s*=\s*\"?yes\"?\s*", line, re.I) for line in lines)
    if any(SCRIPT_WIN.lower() in line.lower() for line in lines):
        return text, autologon
    start = next((i for i, line in enumerate(lines) if re.fullmatch(r"\s*\[guirunonce\]\s*", line, re.I)), None)
    if start is None:
        while lines and lines[-1] == "":
            lines.pop()
        lines += ["", "[GuiRunOnce]", f'Command0="{SCRIPT_WIN}"', ""]
        return "\r\n".join(lines), autologon
    end = next((i for i in range(start + 1, len(lines)) if re.fullmatch(r"\s*\[[^\]]+\]\s*", lines[i])), len(lines))
    used = [int(m.group(1)) for line in lines[start + 1:end] if (m := re.match(r"\s*command(\d+)\s*=", line, re.I))]
    last = max((i for i in range(start + 1, end) if lines[i].strip()), default=start)
    lines.insert(last + 1, f'Command{max(used, default=-1) + 1}="{SCRIPT_WIN}"')
    return "\r\n".join(lines), autologon
