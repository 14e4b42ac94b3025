"""windows.generalize: the generalize pass and sysprep step read back from the rendered answer files."""

from __future__ import annotations

import configparser

import pytest
from lxml import etree

from builder import catalog
from builder.profile import load, shipped_profiles
from builder.windows import drivers, sysprep, unattend, winnt
from builder.windows.autounattend import NS
from tests.unit.windows_factory import PASSWORD, every_release, key_for, profile

U = {"u": NS}
SHIPPED = sorted(n for n in shipped_profiles() if n.startswith("win"))
UNATTEND = [r for r in every_release() if catalog.get(r[0]).windows.era == "unattend"]
SYSPREP = "%WINDIR%\\System32\\Sysprep\\sysprep.exe"


def sif(data: bytes) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, allow_no_value=True, interpolation=None,
                                          delimiters=("=",), comment_prefixes=(";",))
    parser.optionxform = str
    parser.read_string(data.decode("ascii"))
    return parser


def commands(root) -> list[str]:
    cmds = root.xpath("//u:FirstLogonCommands/u:SynchronousCommand", namespaces=U)
    ordered = sorted(cmds, key=lambda c: int(c.findtext("u:Order", namespaces=U)))
    return [c.findtext("u:CommandLine", namespaces=U) for c in ordered]


# --- 2008 and later ----------------------------------------------------------

@pytest.mark.parametrize("os_id,arch", UNATTEND)
def test_generalize_pass_keeps_drivers_and_sysprep_runs_last(tmp_path, os_id, arch):
    result = unattend.render(load(profile(tmp_path, os_id, arch)))
    root = etree.fromstring(result.data)
    passes = [s.get("pass") for s in root.xpath("/u:unattend/u:settings", namespaces=U)]
    assert passes.index("windowsPE") < passes.index("generalize") < passes.index("specialize")
    (comp,) = root.xpath("//u:settings[@pass='generalize']/u:component", namespaces=U)
    assert comp.get("name") == "Microsoft-Windows-PnpSysprep"
    assert comp.get("processorArchitecture") == {"i386": "x86", "x86_64": "amd64"}[arch]
    assert comp.get("publicKeyToken") == "31bf3856ad364e35"
    assert comp.get("language") == "neutral" and comp.get("versionScope") == "nonSxS"
    assert comp.findtext("u:PersistAllDeviceInstalls", namespaces=U) == "true"
    assert comp.findtext("u:DoNotCleanUpNonPresentDevices", namespaces=U) == "true"
    cmds = commands(root)
    assert cmds[-1].split()[:4] == [SYSPREP, "/generalize", "/oobe", "/shutdown"]
    assert not any("sysprep" in c.lower() or c.startswith("shutdown") for c in cmds[:-1])
    assert "generalize pass" in result.checks()[0][1]


@pytest.mark.parametrize("os_id,vm", [("win2k8", False), ("win2k8r2", False), ("win7", False),
                                      ("win10", True), ("win2k16", True), ("win2k19", True), ("win2k22", True)])
def test_mode_vm_only_where_sysprep_has_it(tmp_path, os_id, vm):
    root = etree.fromstring(unattend.render(load(profile(tmp_path, os_id, "x86_64"))).data)
    assert ("/mode:vm" in commands(root)[-1].split()) is vm


@pytest.mark.parametrize("finish,flag", [("poweroff", "/shutdown"), ("reboot", "/reboot"), ("none", "/quit")])
def test_finish_picks_sysprep_end_action(tmp_path, finish, flag):
    root = etree.fromstring(unattend.render(load(profile(tmp_path, "win2k19", windows={"finish": finish}))).data)
    last = commands(root)[-1].split()
    assert flag in last and not {"/shutdown", "/reboot", "/quit"} - {flag} & set(last)


def test_generalize_false_keeps_the_plain_shutdown(tmp_path):
    result = unattend.render(load(profile(tmp_path, "win2k19", windows={"generalize": False})))
    root = etree.fromstring(result.data)
    assert not root.xpath("//u:settings[@pass='generalize']", namespaces=U)
    assert not any("sysprep" in c.lower() for c in commands(root))
    assert commands(root)[-1] == "shutdown /s /t 0"
    assert "generalize" not in result.checks()[0][1]


def test_checker_rejects_a_missing_generalize_pass(tmp_path):
    loaded = load(profile(tmp_path, "win10"))
    entry = catalog.get("win10")
    result = unattend.render(loaded)
    root = etree.fromstring(result.data)
    gen = root.xpath("//u:settings[@pass='generalize']", namespaces=U)[0]
    gen.getparent().remove(gen)
    from builder.windows import autounattend
    with pytest.raises(ValueError, match="generalize pass"):
        autounattend.check(etree.tostring(root), loaded.profile, entry, result.layout)


# --- XP / 2003 -------------------------------------------------------------------

def test_sif_runs_sysprep_from_deploy_cab_last(tmp_path):
    result = unattend.render(load(profile(tmp_path, "win2k3", "i386")))
    run = [winnt.unquote(v) for _, v in sif(result.data).items("GuiRunOnce")]
    tail = run[-5:]
    assert tail[0] == "cmd /c if not exist %SystemDrive%\\Sysprep mkdir %SystemDrive%\\Sysprep"
    assert "expand %d:\\SUPPORT\\TOOLS\\DEPLOY.CAB -F:* %SystemDrive%\\Sysprep" in tail[1]
    assert tail[1].startswith("cmd /c for %d in (D E F G) do @if exist %d:\\SUPPORT\\TOOLS\\DEPLOY.CAB ")
    assert tail[2] == "cmd /c copy /y A:\\sysprep.inf %SystemDrive%\\Sysprep\\sysprep.inf"
    assert tail[3] == "cmd /c xcopy A:\\viostor.* %SystemDrive%\\Drivers\\viostor /i /y /q"
    assert tail[4] == "%SystemDrive%\\Sysprep\\sysprep.exe -reseal -mini -quiet -forceshutdown"
    assert not any(c.startswith("shutdown") for c in run)
    assert [name for name, _ in result.checks()] == ["winnt.sif", "sysprep.inf"]


def test_sysprep_inf_sections_keep_viostor_and_hold_no_secret(tmp_path):
    result = unattend.render(load(profile(tmp_path, "win2k3", "i386")))
    data = result.files["sysprep.inf"]
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    ini = sif(data)
    assert ini.get("Unattended", "OemSkipEula") == "Yes"
    assert ini.get("Unattended", "UnattendMode") == "FullUnattended"
    assert ini.get("GuiUnattended", "TimeZone") == "110"
    assert ini.get("UserData", "ComputerName") == "*"
    assert ini.get("Sysprep", "BuildMassStorageSection") == "No"
    storage = dict(ini.items("SysprepMassStorage"))
    assert storage == {"PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00": '"C:\\Drivers\\viostor\\viostor.inf"',
                       "PCI\\VEN_1AF4&DEV_1042&SUBSYS_11001AF4&REV_01": '"C:\\Drivers\\viostor\\viostor.inf"'}
    assert ini.has_section("LicenseFilePrintData")          # 2003 is a server
    assert PASSWORD.encode() not in data and key_for("win2k3").encode() not in data
    assert not ini.has_option("GuiUnattended", "AdminPassword")


def test_sysprep_inf_rides_the_floppy_and_the_record(tmp_path):
    loaded = load(profile(tmp_path, "winxp", "i386", windows={"drivers": {"media": "none"}}))
    plan, files = drivers.build_files(loaded)
    assert set(files) == {"winnt.sif", "sysprep.inf"}
    ini = sif(files["sysprep.inf"])
    assert not ini.has_section("SysprepMassStorage") and not ini.has_section("LicenseFilePrintData")
    run = [winnt.unquote(v) for _, v in sif(files["winnt.sif"]).items("GuiRunOnce")]
    assert not any("xcopy A:\\viostor" in c for c in run)


@pytest.mark.parametrize("finish,flag", [("poweroff", "-forceshutdown"), ("reboot", "-reboot"),
                                         ("none", "-noreboot")])
def test_sif_finish_picks_sysprep_switch(tmp_path, finish, flag):
    data = unattend.render(load(profile(tmp_path, "winxp", "i386", windows={"finish": finish}))).data
    run = [winnt.unquote(v) for _, v in sif(data).items("GuiRunOnce")]
    assert run[-1].split() == ["%SystemDrive%\\Sysprep\\sysprep.exe", "-reseal", "-mini", "-quiet", flag]


def test_sif_generalize_false(tmp_path):
    result = unattend.render(load(profile(tmp_path, "win2k3", "i386", windows={"generalize": False})))
    assert set(result.files) == {"winnt.sif"}
    run = [winnt.unquote(v) for _, v in sif(result.data).items("GuiRunOnce")]
    assert run[-1] == "shutdown -s -f -t 0" and not any("sysprep" in c.lower() for c in run)


def test_check_inf_refuses_a_missing_virtio_id(tmp_path):
    result = unattend.render(load(profile(tmp_path, "win2k3", "i386")))
    broken = result.files["sysprep.inf"].replace(b"DEV_1042", b"DEV_9999")
    with pytest.raises(ValueError, match="DEV_1042"):
        sysprep.check_inf(broken, result.layout)


# --- every shipped profile ---------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profiles_generalize(name):
    loaded = load(name)
    result = unattend.render(loaded)
    entry = catalog.get(loaded.profile.os)
    assert loaded.profile.windows.generalize is True           # the default
    if entry.windows.era == "sif":
        run = [winnt.unquote(v) for _, v in sif(result.data).items("GuiRunOnce")]
        assert run[-1].startswith("%SystemDrive%\\Sysprep\\sysprep.exe -reseal -mini -quiet")
        assert "SysprepMassStorage" in sif(result.files["sysprep.inf"]).sections()
    else:
        root = etree.fromstring(result.data)
        assert root.xpath("//u:settings[@pass='generalize']//u:PersistAllDeviceInstalls/text()",
                          namespaces=U) == ["true"]
        last = commands(root)[-1]
        assert last.startswith(SYSPREP + " /generalize /oobe /shutdown")
        assert ("/mode:vm" in last) is (entry.windows.nt_version() >= (6, 2))
