"""Answer files: winnt.sif read as INI, autounattend.xml read with lxml."""

from __future__ import annotations

import base64
import configparser

import pytest
from lxml import etree

from builder import catalog
from builder.profile import load, shipped_profiles
from builder.windows import unattend, winnt
from builder.windows.autounattend import NS
from tests.unit.windows_factory import PASSWORD, every_release, key_for, profile

U = {"u": NS}
SHIPPED = sorted(n for n in shipped_profiles() if n.startswith("win"))


def sif(data: bytes) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, allow_no_value=True, interpolation=None,
                                          delimiters=("=",), comment_prefixes=(";",))
    parser.optionxform = str
    parser.read_string(data.decode("ascii"))
    return parser


def xml(data: bytes):
    return etree.fromstring(data)


def render(path):
    return unattend.render(load(path))


# --- every release and arch ------------------------------------------------

@pytest.mark.parametrize("os_id,arch", every_release())
def test_every_release_renders_and_checks(tmp_path, os_id, arch):
    result = render(profile(tmp_path, os_id, arch))
    entry = catalog.get(os_id)
    assert result.name == entry.answer_file
    assert result.checks() and result.checks()[0][0] == entry.answer_file
    assert render(profile(tmp_path, os_id, arch)).data == result.data, "same profile, same bytes"


@pytest.mark.parametrize("os_id,arch", [r for r in every_release() if catalog.get(r[0]).windows.era == "unattend"])
def test_components_passes_and_processor_architecture(tmp_path, os_id, arch):
    root = xml(render(profile(tmp_path, os_id, arch)).data)
    want = {"i386": "x86", "x86_64": "amd64"}[arch]
    comps = root.xpath("//u:component", namespaces=U)
    assert comps and {c.get("processorArchitecture") for c in comps} == {want}
    passes = {s.get("pass"): [c.get("name") for c in s.xpath("u:component", namespaces=U)]
              for s in root.xpath("/u:unattend/u:settings", namespaces=U)}
    assert list(passes) == ["windowsPE", "generalize", "specialize", "oobeSystem"]     # Setup's pass order
    assert passes == {
        "windowsPE": ["Microsoft-Windows-International-Core-WinPE", "Microsoft-Windows-PnpCustomizationsWinPE",
                      "Microsoft-Windows-Setup"],
        "generalize": ["Microsoft-Windows-PnpSysprep"],
        "specialize": ["Microsoft-Windows-Shell-Setup"],
        "oobeSystem": ["Microsoft-Windows-International-Core", "Microsoft-Windows-Shell-Setup"],
    }
    assert {c.get("publicKeyToken") for c in comps} == {"31bf3856ad364e35"}


# --- winnt.sif --------------------------------------------------------------

def test_winnt_sif_sections_hal_driver_paths_and_timer(tmp_path):
    data = render(profile(tmp_path, "win2k3", "i386")).data
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    ini = sif(data)
    for section in ("Data", "Unattended", "GuiUnattended", "UserData", "MassStorageDrivers", "OEMBootFiles",
                    "GuiRunOnce", "LicenseFilePrintData"):
        assert ini.has_section(section), section
    assert ini.get("Data", "MsDosInitiated") == '"0"'
    assert ini.get("Unattended", "UnattendMode") == "FullUnattended"
    assert ini.get("Unattended", "OemPreinstall") == "Yes"
    assert ini.get("Unattended", "DriverSigningPolicy") == "Ignore"
    assert ini.get("Unattended", "ComputerType") == '"Standard PC", Retail'     # seed 8.4
    assert ini.get("Unattended", "OemPnPDriversPath") == '"Drivers\\NetKVM"'
    assert '"Red Hat VirtIO SCSI controller (2k3 x86)"' in ini.options("MassStorageDrivers")
    assert ini.get("MassStorageDrivers", '"IDE CD-ROM (ATAPI 1.2)/PCI IDE Controller"') == "RETAIL"
    assert ini.options("OEMBootFiles") == ["txtsetup.oem", "viostor.inf", "viostor.sys", "viostor.cat"]
    assert ini.get("GuiUnattended", "TimeZone") == "110"
    assert ini.get("UserData", "ComputerName") == "T-WIN2K3"
    run = [winnt.unquote(v) for _, v in ini.items("GuiRunOnce")]
    assert run[0] == "cmd /c xcopy A:\\NetKVM\\2k3\\x86 %SystemDrive%\\Drivers\\NetKVM /e /i /y /q"
    assert run[1] == 'bootcfg /raw "/usepmtimer" /A /ID 1'                        # seed ch. 17
    assert run[-1] == "%SystemDrive%\\Sysprep\\sysprep.exe -reseal -mini -quiet -forceshutdown"


def test_xp_hal_is_standard_pc_not_the_seeds_unlisted_name(tmp_path):
    ini = sif(render(profile(tmp_path, "winxp", "i386")).data)
    assert ini.get("Unattended", "ComputerType") == '"Standard PC", Retail'
    assert not ini.has_section("LicenseFilePrintData")       # a workstation


def test_x64_2003_names_no_hal_and_detect_leaves_it_to_setup(tmp_path):
    ini = sif(render(profile(tmp_path, "win2k3", "x86_64")).data)
    assert not ini.has_option("Unattended", "ComputerType")
    assert '"Red Hat VirtIO SCSI controller (2k3 amd64)"' in ini.options("MassStorageDrivers")
    ini = sif(render(profile(tmp_path, "win2k3", "i386", windows={"computer_type": "detect"})).data)
    assert not ini.has_option("Unattended", "ComputerType")
    ini = sif(render(profile(tmp_path, "win2k3", "i386",
                             windows={"computer_type": "ACPI Uniprocessor PC"})).data)
    assert ini.get("Unattended", "ComputerType") == '"ACPI Uniprocessor PC", Retail'


def test_winnt_sif_without_drivers(tmp_path):
    ini = sif(render(profile(tmp_path, "winxp", "x86_64", windows={"generalize": False})).data)   # drivers.media none
    assert not ini.has_section("MassStorageDrivers") and not ini.has_section("OEMBootFiles")
    assert not ini.has_option("Unattended", "OemPnPDriversPath")
    run = [winnt.unquote(v) for _, v in ini.items("GuiRunOnce")]
    assert run == ['bootcfg /raw "/usepmtimer" /A /ID 1', "shutdown -s -f -t 0"]


def test_winnt_sif_plaintext_password_is_the_only_plaintext_secret(tmp_path):
    data = render(profile(tmp_path, "winxp", "i386")).data
    ini = sif(data)
    assert ini.get("GuiUnattended", "AdminPassword") == f'"{PASSWORD}"'
    assert ini.get("GuiUnattended", "EncryptedAdminPassword") == "No"
    assert data.count(PASSWORD.encode()) == 1
    assert ini.get("UserData", "ProductKey") == f'"{key_for("winxp")}"'


def test_quotes_in_values_are_doubled(tmp_path):
    ini = sif(render(profile(tmp_path, "winxp", "i386", windows={
        "full_name": "Ops Team", "first_logon_commands": ['reg add "HKLM\\Software\\Golden" /f']})).data)
    run = dict(ini.items("GuiRunOnce"))
    assert '"reg add ""HKLM\\Software\\Golden"" /f"' in run.values()
    assert winnt.unquote(ini.get("UserData", "FullName")) == "Ops Team"


def test_finish_choices(tmp_path):
    ini = sif(render(profile(tmp_path, "winxp", "i386", windows={"finish": "none", "generalize": False})).data)
    assert not any("shutdown" in v for _, v in ini.items("GuiRunOnce"))
    root = xml(render(profile(tmp_path, "win10", "x86_64", windows={"finish": "reboot", "generalize": False})).data)
    assert root.xpath("//u:CommandLine/text()", namespaces=U)[-1] == "shutdown /r /t 0"


# --- autounattend.xml -------------------------------------------------------

def _passwords(root):
    return {el.getparent().tag.split("}")[1]: el.getparent()
            for el in root.xpath("//u:PlainText", namespaces=U)}


def test_autounattend_password_is_encoded_never_plain(tmp_path):
    data = render(profile(tmp_path, "win2k8r2", "x86_64")).data
    assert PASSWORD.encode() not in data
    root = xml(data)
    for tag, field in (("AdministratorPassword", "AdministratorPassword"), ("Password", "Password")):
        el = _passwords(root)[tag]
        assert el.findtext("u:PlainText", namespaces=U) == "false"
        decoded = base64.b64decode(el.findtext("u:Value", namespaces=U)).decode("utf-16-le")
        assert decoded == PASSWORD + field
    assert root.xpath("//u:AutoLogon/u:Username/text()", namespaces=U) == ["Administrator"]
    assert root.xpath("//u:AutoLogon/u:LogonCount/text()", namespaces=U) == ["1"]


def test_autounattend_key_only_in_windowspe_userdata(tmp_path):
    data = render(profile(tmp_path, "win7", "x86_64")).data
    root = xml(data)
    assert data.count(key_for("win7").encode()) == 1
    assert root.xpath("//u:settings[@pass='windowsPE']//u:UserData/u:ProductKey/u:Key/text()",
                      namespaces=U) == [key_for("win7")]
    path = profile(tmp_path, "win2k16", "x86_64")
    text = path.read_text().replace("  product_key:\n    file: secrets/product.key\n", "")
    path.write_text(text)
    root = xml(render(path).data)
    assert not root.xpath("//u:ProductKey", namespaces=U)


@pytest.mark.parametrize("os_id,folder,clock", [
    ("win2k8", "2k8", False),        # seed: 2008 / 2008 SP2 do not take USEPLATFORMCLOCK
    ("win2k8r2", "2k8R2", True),
    ("win7", "w7", True),
    ("win10", "w10", False),
    ("win2k22", "2k22", False),
])
def test_driver_paths_and_platform_clock(tmp_path, os_id, folder, clock):
    root = xml(render(profile(tmp_path, os_id, "x86_64")).data)
    paths = root.xpath("//u:DriverPaths/u:PathAndCredentials/u:Path/text()", namespaces=U)
    assert paths == [f"{d}:\\viostor\\{folder}\\amd64" for d in "DEF"] + \
        [f"{d}:\\NetKVM\\{folder}\\amd64" for d in "DEF"]
    keys = root.xpath("//u:DriverPaths/u:PathAndCredentials/@wcm:keyValue",
                      namespaces={**U, "wcm": "http://schemas.microsoft.com/WMIConfig/2002/State"})
    assert keys == [str(i) for i in range(1, 7)]
    commands = root.xpath("//u:FirstLogonCommands//u:CommandLine/text()", namespaces=U)
    assert ("bcdedit /set {default} USEPLATFORMCLOCK on" in commands) is clock
    assert any(f"pnputil -i -a %d:\\NetKVM\\{folder}\\amd64\\netkvm.inf" in c for c in commands)
    assert commands[-1].startswith("%WINDIR%\\System32\\Sysprep\\sysprep.exe /generalize /oobe /shutdown")
    orders = root.xpath("//u:FirstLogonCommands//u:Order/text()", namespaces=U)
    assert orders == [str(i) for i in range(1, len(commands) + 1)]


def test_x86_drivers_and_floppy_letters(tmp_path):
    root = xml(render(profile(tmp_path, "win7", "i386", windows={"drivers": {"media": "floppy"}})).data)
    paths = root.xpath("//u:DriverPaths//u:Path/text()", namespaces=U)
    assert paths == ["A:\\viostor\\w7\\x86", "A:\\NetKVM\\w7\\x86"]
    assert {c.get("processorArchitecture") for c in root.xpath("//u:component", namespaces=U)} == {"x86"}


def test_bios_and_uefi_disk_layouts(tmp_path):
    root = xml(render(profile(tmp_path, "win10", "x86_64")).data)
    assert root.xpath("//u:CreatePartition/u:Type/text()", namespaces=U) == ["Primary"]
    assert root.xpath("//u:ModifyPartition/u:Active/text()", namespaces=U) == ["true"]
    assert root.xpath("//u:InstallTo/u:PartitionID/text()", namespaces=U) == ["1"]
    root = xml(render(profile(tmp_path, "win10", "x86_64", machine={"memory": 2048, "firmware": "uefi"})).data)
    assert root.xpath("//u:CreatePartition/u:Type/text()", namespaces=U) == ["EFI", "MSR", "Primary"]
    assert root.xpath("//u:ModifyPartition/u:Format/text()", namespaces=U) == ["FAT32", "NTFS"]
    assert root.xpath("//u:InstallTo/u:PartitionID/text()", namespaces=U) == ["3"]


def test_image_selection_identity_and_time_zone(tmp_path):
    root = xml(render(profile(tmp_path, "win2k19", "x86_64")).data)
    assert root.xpath("//u:InstallFrom/u:MetaData/u:Key/text()", namespaces=U) == ["/IMAGE/INDEX"]
    assert root.xpath("//u:InstallFrom/u:MetaData/u:Value/text()", namespaces=U) == ["2"]  # catalog default
    root = xml(render(profile(tmp_path, "win2k19", "x86_64", windows={
        "image": {"name": "Windows Server 2019 SERVERDATACENTER"}, "timezone": "Tokyo Standard Time",
        "locale": "ja-JP"})).data)
    assert root.xpath("//u:MetaData/u:Value/text()", namespaces=U) == ["Windows Server 2019 SERVERDATACENTER"]
    assert root.xpath("//u:settings[@pass='specialize']//u:TimeZone/text()", namespaces=U) == ["Tokyo Standard Time"]
    assert root.xpath("//u:settings[@pass='specialize']//u:ComputerName/text()", namespaces=U) == ["T-WIN2K19"]
    assert set(root.xpath("//u:UILanguage/text()", namespaces=U)) == {"ja-JP"}
    root = xml(render(profile(tmp_path, "win7", "x86_64")).data)   # index 110 -> name
    assert root.xpath("//u:TimeZone/text()", namespaces=U) == ["W. Europe Standard Time"]


def test_oobe_settings_per_generation(tmp_path):
    old = xml(render(profile(tmp_path, "win7", "x86_64")).data)
    new = xml(render(profile(tmp_path, "win2k22", "x86_64")).data)
    tags = lambda root: [el.tag.split("}")[1] for el in root.xpath("//u:OOBE/*", namespaces=U)]  # noqa: E731
    assert "SkipUserOOBE" in tags(old) and "HideOnlineAccountScreens" not in tags(old)
    assert "HideLocalAccountScreen" in tags(new) and "SkipUserOOBE" not in tags(new)


def test_no_drivers_no_pnp_component(tmp_path):
    root = xml(render(profile(tmp_path, "win10", "x86_64", windows={"drivers": {"media": "none"}})).data)
    assert not root.xpath("//u:component[@name='Microsoft-Windows-PnpCustomizationsWinPE']", namespaces=U)
    assert not any("pnputil" in c for c in root.xpath("//u:CommandLine/text()", namespaces=U))


# --- the shipped profiles -----------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_windows_profiles(name):
    result = unattend.render(load(name))
    entry = catalog.get(load(name).profile.os)
    password = (load(name).base_dir / "secrets" / "admin.pass").read_text().strip()
    if entry.windows.era == "sif":
        ini = sif(result.data)
        assert ini.get("Unattended", "ComputerType") == '"Standard PC", Retail'
        assert any("/usepmtimer" in v for _, v in ini.items("GuiRunOnce"))
        assert result.data.count(password.encode()) == 1      # winnt.sif's AdminPassword, nowhere else
    else:
        assert password.encode() not in result.data
        root = xml(result.data)
        commands = root.xpath("//u:CommandLine/text()", namespaces=U)
        assert ("bcdedit /set {default} USEPLATFORMCLOCK on" in commands) is (entry.windows.timer == "platformclock")


def test_shipped_set_covers_the_seed(tmp_path):
    assert {"winxp-kvm", "win2k3-kvm", "win2k8-kvm", "win7-kvm"} <= set(SHIPPED)
    assert load("win2k8-kvm").profile.os == "win2k8"
    assert catalog.get("win2k8").windows.timer == "none"
    assert catalog.get("win7").windows.timer == "platformclock"
