"""The Windows clone's identity beacon: where it is hooked in, and how verify judges its line."""

from __future__ import annotations

from builder.clone.verify import Verdict, _shared, compare, parse_identity
from builder.windows import beacon

EXPECTED = {"hostname": "web-1", "macs": ["52:54:00:aa:bb:01"], "uuid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}
LINE = ("golden-identity hostname=WEB-1 mac=52:54:00:AA:BB:01 sid=S-1-5-21-3623811015-3361044348-30300820 "
        "uuid=1B4E28BA-2FA1-11D2-883F-0016D3CCA427 machine-guid=6f1c0b4e-0000-4a4a-9a9a-0123456789ab via=windows")


def test_a_new_setupcomplete_calls_the_beacon():
    text = beacon.setupcomplete(None)
    assert text == f'@echo off\ncall "{beacon.SCRIPT_WIN}"\n'
    assert beacon.crlf(text) == text.replace("\n", "\r\n").encode()


def test_an_existing_setupcomplete_keeps_its_lines_and_runs_the_beacon_before_exit():
    theirs = "@echo off\r\nnet user deploy /active:no\r\nexit /b 0\r\n"
    text = beacon.setupcomplete(theirs)
    lines = text.split("\n")
    assert lines[:2] == ["@echo off", "net user deploy /active:no"]
    assert lines[2] == beacon.CALL and lines[3] == "exit /b 0"
    assert beacon.setupcomplete(text) is None          # a re-clone adds nothing


def test_sysprep_inf_gets_the_next_gui_run_once_command():
    inf = '[GuiUnattended]\r\nAutoLogon=Yes\r\n[GuiRunOnce]\r\nCommand0="C:\\drivers\\setup.exe"\r\n\r\n[UserData]\r\nComputerName=web-1\r\n'
    text, autologon = beacon.gui_run_once(inf)
    assert autologon
    lines = text.split("\r\n")
    at = lines.index("[GuiRunOnce]")
    assert lines[at + 1:at + 3] == ['Command0="C:\\drivers\\setup.exe"', f'Command1="{beacon.SCRIPT_WIN}"']
    assert lines[lines.index("[UserData]") + 1] == "ComputerName=web-1"
    assert beacon.gui_run_once(text) == (text, True)


def test_sysprep_inf_without_the_section_or_autologon():
    text, autologon = beacon.gui_run_once("[UserData]\r\nComputerName=web-1\r\n")
    assert not autologon
    assert text.endswith(f'\r\n\r\n[GuiRunOnce]\r\nCommand0="{beacon.SCRIPT_WIN}"\r\n')


def test_the_script_reports_what_verify_reads():
    # The echo line is the contract with verify: one line, to COM1, with these fields.
    echo = [line for line in beacon.CMD.splitlines() if line.startswith("echo golden-identity")]
    assert len(echo) == 1 and echo[0].endswith(">COM1")
    fields = parse_identity(echo[0].removesuffix(">COM1"))
    assert set(fields) == {"hostname", "mac", "sid", "uuid", "machine-guid", "via"}
    assert "\r" not in beacon.CMD and beacon.crlf(beacon.CMD).count(b"\r\n") == beacon.CMD.count("\n")


def test_verify_accepts_a_windows_clone_and_refuses_a_missing_sid():
    reported = parse_identity(LINE)
    assert compare(EXPECTED, reported) == []
    assert compare(EXPECTED, dict(reported, sid="none")) == ["sid 'none' is not a machine SID"]
    assert compare(EXPECTED, dict(reported, hostname="WEB-2")) == ["hostname 'WEB-2', expected 'web-1'"]


def test_two_clones_sharing_a_sid_fail():
    a = Verdict("web-1", True, reported=parse_identity(LINE))
    b = Verdict("web-2", True, reported=dict(parse_identity(LINE), hostname="WEB-2", mac="52:54:00:aa:bb:02",
                                             uuid="u2"))
    _shared([a, b])
    assert a.ok and not b.ok
    assert b.problems == ["sid S-1-5-21-3623811015-3361044348-30300820 is shared with web-1"]
    assert b.record_entry()["observed"]["sid"] == "S-1-5-21-3623811015-3361044348-30300820"
