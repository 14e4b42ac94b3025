"""Windows images read offline: synthetic NTFS disks per era, generalized and not.

No Windows media exists here, so the suite makes Windows-shaped disks: an
NTFS file system (libguestfs: part-disk, mkfs ntfs) with the system root's
layout and SYSTEM and SOFTWARE hives written by tests/system/winhive.py from
nothing, holding the keys a real install has. All disks are built in one
appliance and read in one more; `golden inspect` is run once on one of them.
"""

from __future__ import annotations

import json
import struct
import subprocess
import uuid
from pathlib import Path

import pytest
from lxml import etree

import winhive
from builder.image import windows_inspect
from builder.windows import beacon
from builder.virt.accel import guestfs_settings
from tests.conftest import GOLDEN, golden_bin
from winhive import REG_DWORD, REG_EXPAND_SZ, REG_SZ

pytestmark = pytest.mark.system
MiB = 1 << 20
SZ = lambda v: (REG_SZ, v)          # noqa: E731
DW = lambda v: (REG_DWORD, v)       # noqa: E731

# What golden's build leaves in %WINDIR%\Panther: the install's answer file, as Setup caches it.
CACHED_ANSWER = b"""<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="specialize">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64"
               publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <ComputerName>W2K19-GOLDEN</ComputerName><TimeZone>UTC</TimeZone>
    </component>
  </settings>
</unattend>
"""

# (name, system root, facts) for each synthetic disk.
DISKS = {
    "w2k19-generalized": dict(
        root="Windows", arch="AMD64", computer="W2K19-GOLDEN", viostor=True, netkvm=True,
        version={"=ProductName": SZ("Windows Server 2019 Standard"), "=EditionID": SZ("ServerStandard"),
                 "=CurrentVersion": SZ("6.3"), "=CurrentMajorVersionNumber": DW(10),
                 "=CurrentMinorVersionNumber": DW(0), "=CurrentBuildNumber": SZ("17763"),
                 "=InstallationType": SZ("Server")},
        image_state="IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE",
        cached_answer=CACHED_ANSWER,
        programs={"{7C8A1A1E-0000-4D2B-9C8F-VIRTIOWIN}": {"=DisplayName": SZ("Virtio-win-driver-installer"),
                                                         "=DisplayVersion": SZ("0.1.240.0"),
                                                         "=Publisher": SZ("Red Hat, Inc.")},
                  "KB4470788": {"=DisplayName": SZ("Servicing Stack Update"), "=SystemComponent": DW(1)},
                  "Connection Manager": {"=UninstallString": SZ("cmstp.exe /u")}},
        wow64_programs={"7-Zip": {"=DisplayName": SZ("7-Zip 23.01"), "=DisplayVersion": SZ("23.01"),
                                  "=Publisher": SZ("Igor Pavlov")}}),
    "win7-complete": dict(
        root="Windows", arch="x86", computer="WIN7-BUILDER", viostor=False, netkvm=False,
        version={"=ProductName": SZ("Windows 7 Professional"), "=EditionID": SZ("Professional"),
                 "=CurrentVersion": SZ("6.1"), "=CurrentBuildNumber": SZ("7601"),
                 "=CSDVersion": SZ("Service Pack 1")},
        image_state="IMAGE_STATE_COMPLETE", programs={}),
    "w2k3-resealed": dict(
        root="WINDOWS", arch=None, pe_machine=0x14C, computer="W2K3-GOLDEN", viostor=True, netkvm=False,
        version={"=ProductName": SZ("Microsoft Windows Server 2003"), "=CurrentVersion": SZ("5.2"),
                 "=CurrentBuildNumber": SZ("3790"), "=CSDVersion": SZ("Service Pack 2")},
        setup={"=CmdLine": SZ("setup -newsetup -mini"), "=MiniSetupInProgress": DW(1),
               "=SystemSetupInProgress": DW(1), "=SetupType": DW(1)},
        sysprep=True, programs={}),
    "xp-not-resealed": dict(
        root="WINDOWS", arch="x86", computer="XP-BUILDER", viostor=True, netkvm=False,
        version={"=ProductName": SZ("Microsoft Windows XP"), "=CurrentVersion": SZ("5.1"),
                 "=CurrentBuildNumber": SZ("2600"), "=CSDVersion": SZ("Service Pack 3")},
        setup={"=CmdLine": SZ("setup -newsetup"), "=SystemSetupInProgress": DW(0), "=SetupType": DW(0)},
        sysprep=True, programs={}),
    "ntfs-data": None,
}


def system_hive(f: dict) -> bytes:
    services: dict = {"atapi": {"=Start": DW(0), "=Type": DW(1)}}
    cdd: dict = {"pci#ven_8086&cc_0101": {"=Service": SZ("intelide")}}
    if f["viostor"]:
        services["viostor"] = {"=Type": DW(1), "=Start": DW(0), "=ErrorControl": DW(1),
                               "=ImagePath": (REG_EXPAND_SZ, "system32\\drivers\\viostor.sys")}
        cdd["pci#ven_1af4&dev_1001&subsys_00021af4&rev_00"] = {"=Service": SZ("viostor")}
    if f["netkvm"]:
        services["netkvm"] = {"=Type": DW(1), "=Start": DW(3)}
    env = {"=PROCESSOR_ARCHITECTURE": SZ(f["arch"])} if f["arch"] else {"=OS": SZ("Windows_NT")}
    control = {"CriticalDeviceDatabase": cdd, "Session Manager": {"Environment": env},
               "ComputerName": {"ComputerName": {"=ComputerName": SZ(f["computer"])}}}
    # A stale ControlSet001 holding another name: the reader must follow Select\Current.
    stale = {"Control": {"ComputerName": {"ComputerName": {"=ComputerName": SZ("STALE-NAME")}}}}
    tree = {"Select": {"=Current": DW(2), "=Default": DW(2), "=LastKnownGood": DW(1), "=Failed": DW(0)},
            "ControlSet001": stale, "ControlSet002": {"Services": services, "Control": control}}
    if f.get("setup"):
        tree["Setup"] = f["setup"]
    return winhive.build(tree, root_name="$$$PROTO.HIV")


def software_hive(f: dict) -> bytes:
    current = {"CurrentVersion": f["version"], "Uninstall": f["programs"]}
    if f.get("image_state"):
        current["Setup"] = {"State": {"=ImageState": SZ(f["image_state"])}}
    tree = {"Microsoft": {"Windows NT": {"CurrentVersion": f["version"]},
                          "Windows": {"CurrentVersion": {k: v for k, v in current.items() if k != "CurrentVersion"}}}}
    if f.get("wow64_programs"):
        tree["WOW6432Node"] = {"Microsoft": {"Windows": {"CurrentVersion": {"Uninstall": f["wow64_programs"]}}}}
    return winhive.build(tree, root_name="$$$PROTO.HIV")


def pe_header(machine: int) -> bytes:
    head = bytearray(512)
    head[:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x80)
    head[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<H", head, 0x84, machine)
    return bytes(head)


@pytest.fixture(scope="module")
def disks(tmp_path_factory):
    import guestfs

    d = tmp_path_factory.mktemp("golden-windows-disks")
    paths = {name: d / f"{name}.raw" for name in DISKS}
    for path in paths.values():
        with open(path, "wb") as f:
            f.truncate(48 * MiB)
    env = guestfs_settings()
    g = guestfs.GuestFS(python_return_dict=True)
    g.set_backend(env["LIBGUESTFS_BACKEND"])
    g.set_backend_settings(env["LIBGUESTFS_BACKEND_SETTINGS"].split(":"))
    for path in paths.values():
        g.add_drive_opts(str(path), format="raw")
    g.launch()
    try:
        for dev, (name, facts) in zip(g.list_devices(), DISKS.items()):
            g.part_disk(dev, "mbr")
            g.mkfs("ntfs", dev + "1")
            g.mount(dev + "1", "/")
            if facts is None:
                g.mkdir_p("/Data")
                g.write("/Data/readme.txt", b"not a system disk")
            else:
                root = "/" + facts["root"]
                for sub in ("system32/config", "system32/drivers", "inf"):
                    g.mkdir_p(f"{root}/{sub}")
                g.write(f"{root}/system32/config/SYSTEM", system_hive(facts))
                g.write(f"{root}/system32/config/SOFTWARE", software_hive(facts))
                g.write(f"{root}/system32/ntoskrnl.exe", pe_header(facts.get("pe_machine", 0x8664)))
                if facts["viostor"]:
                    g.write(f"{root}/system32/drivers/viostor.sys", b"MZ viostor")
                if facts.get("sysprep"):
                    g.mkdir_p("/Sysprep")
                    g.write("/Sysprep/sysprep.inf", b"[UserData]\r\nComputerName=*\r\n")
                if facts.get("cached_answer"):
                    g.mkdir_p(f"{root}/Panther")
                    g.write(f"{root}/Panther/unattend.xml", facts["cached_answer"])
            g.umount_all()
    finally:
        g.shutdown()
        g.close()
    # An independent reader agrees the hives hold what the fixture meant.
    hive = d / "software.hive"
    hive.write_bytes(software_hive(DISKS["w2k19-generalized"]))
    out = subprocess.run(["hivexregedit", "--export", "--unsafe-printable-strings", "--prefix", "HKLM\\SOFTWARE",
                          str(hive), "\\"], capture_output=True, text=True, check=True).stdout
    assert '"ImageState"=str(1):"IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"' in out
    assert '"ProductName"=str(1):"Windows Server 2019 Standard"' in out
    return paths


@pytest.fixture(scope="module")
def reports(disks):
    # One appliance for every disk.
    return dict(zip(disks, windows_inspect.inspect_images(list(disks.values()))))


def test_server_2019_generalized(reports):
    r = reports["w2k19-generalized"]
    assert r["os"]["family"] == r["os"]["type"] == "windows"
    assert r["os"]["name"] == "Windows Server 2019 Standard"
    assert (r["os"]["version"], r["os"]["build"], r["os"]["edition"]) == ("10.0", "17763", "ServerStandard")
    assert r["os"]["arch"] == "x86_64" and r["os"]["installation_type"] == "Server"
    assert r["hostname"] == "W2K19-GOLDEN"
    assert r["hostname_source"] == "HKLM\\SYSTEM\\ControlSet002\\Control\\ComputerName\\ComputerName"
    w = r["windows"]
    assert w["image_state"] == "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE" and w["generalized"] is True
    assert w["drivers"]["viostor"] == {"installed": True, "start": 0, "boots_from_virtio": True}
    assert w["drivers"]["netkvm"]["installed"] and w["drivers"]["netkvm"]["present"]
    assert r["findings"] == []
    assert r["disk"] == {"format": "raw", "virtual_size": 48 * MiB}


def test_installed_programs_from_the_uninstall_keys(reports):
    programs = reports["w2k19-generalized"]["packages"]
    # Hidden (SystemComponent=1) and unnamed entries are left out, as Programs and Features does.
    assert [(p["name"], p["version"], p["publisher"]) for p in programs] == [
        ("7-Zip 23.01", "23.01", "Igor Pavlov"),
        ("Virtio-win-driver-installer", "0.1.240.0", "Red Hat, Inc."),
    ]
    assert programs[0]["key"] == "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\7-Zip"


def test_windows_7_not_generalized(reports):
    r = reports["win7-complete"]
    assert (r["os"]["version"], r["os"]["major"], r["os"]["minor"]) == ("6.1", 6, 1)
    assert r["os"]["pretty_name"] == "Windows 7 Professional Service Pack 1"
    assert r["os"]["edition"] == "Professional" and r["os"]["arch"] == "i386"
    assert r["hostname"] == "WIN7-BUILDER"
    assert r["windows"]["image_state"] == "IMAGE_STATE_COMPLETE" and r["windows"]["generalized"] is False
    assert r["windows"]["drivers"]["viostor"]["installed"] is False
    assert any(f.startswith("not generalized: IMAGE_STATE_COMPLETE") and "WIN7-BUILDER" in f
               for f in r["findings"])
    assert any(f.startswith("viostor cannot boot") for f in r["findings"])


def test_server_2003_resealed_by_sysprep(reports):
    r = reports["w2k3-resealed"]
    assert (r["os"]["version"], r["os"]["edition"]) == ("5.2", None)
    assert r["os"]["arch"] == "i386"                 # from ntoskrnl.exe's PE header: no environment value
    assert r["systemroot"] == "C:\\WINDOWS"
    w = r["windows"]
    assert w["generalized"] is True and w["image_state"] == "mini-setup pending (sysprep -reseal -mini)"
    assert w["setup_cmdline"] == "setup -newsetup -mini" and w["sysprep_inf"] is True
    assert r["hostname"] == "W2K3-GOLDEN"


def test_xp_with_sysprep_files_but_not_resealed(reports):
    r = reports["xp-not-resealed"]
    assert r["os"]["version"] == "5.1"
    assert r["windows"]["generalized"] is False and r["windows"]["sysprep_folder"] is True
    assert "C:\\Sysprep present but sysprep did not reseal" in r["windows"]["image_state"]


def test_ntfs_without_windows_is_not_a_windows_image(reports):
    assert reports["ntfs-data"] is None


def test_golden_inspect_json_for_a_windows_image(disks):
    run = golden_bin("inspect", str(disks["win7-complete"]), "--json", timeout=600)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["os"]["name"] == "Windows 7 Professional" and report["hostname"] == "WIN7-BUILDER"
    assert report["windows"]["generalized"] is False and report["backend"] == "guestfs"


def test_golden_clone_refuses_a_windows_image_that_is_not_generalized(disks, libvirt_up, tmp_path):
    out = tmp_path / "clones"
    run = golden_bin("clone", str(disks["win7-complete"]), "--name", f"t-win-{uuid.uuid4().hex[:6]}-{{n}}",
                     "--count", "3", "--dir", str(out), timeout=600)
    assert run.code == 2, (run.code, run.err)
    assert "Windows 7 Professional Service Pack 1 is not generalized" in run.err
    assert "IMAGE_STATE_COMPLETE" in run.err and "WIN7-BUILDER" in run.err
    assert "windows.generalize: true" in run.err               # how to fix it
    assert not out.exists()                                      # nothing made


def test_text_summary(reports):
    lines = windows_inspect.summary_lines(reports["w2k3-resealed"])
    assert lines[0].split(":", 1)[1].strip().startswith("Microsoft Windows Server 2003 Service Pack 2 (version 5.2")
    assert "computer:    W2K3-GOLDEN" in lines[1]
    assert "mini-setup pending (sysprep -reseal -mini) - generalized" in lines[3]
    assert "boots from virtio" in lines[4]
    lines = windows_inspect.summary_lines(reports["w2k19-generalized"])
    assert lines[-2:] == ["    - 7-Zip 23.01 23.01", "    - Virtio-win-driver-installer 0.1.240.0"]


def _read_back(drives: list[tuple[Path, str]], wanted: list[tuple[str, ...]]) -> list[dict[str, bytes | None]]:
    """Some files out of each disk (None where missing), case-insensitively, through one read-only appliance."""
    from builder.windows import guestcheck
    out = []
    with guestcheck.guestfs_drives(drives) as g:
        filesystems = g.list_filesystems()
        for drive, paths in zip(g.list_devices(), wanted):
            device = next(d for d, kind in sorted(filesystems.items())
                          if d.startswith(drive) and kind == "ntfs")
            g.mount_ro(device, "/")
            try:
                found = {path: guestcheck._path(g, path) for path in paths}
                out.append({path: g.read_file(real) if real else None for path, real in found.items()})
            finally:
                g.umount_all()
    return out


# source disk, the file each clone's name goes into, clones made
NAMED = [("w2k19-generalized", "/Windows/Panther/unattend.xml", 3), ("w2k3-resealed", "/Sysprep/sysprep.inf", 2)]
SETUPCOMPLETE = "/Windows/Setup/Scripts/SetupComplete.cmd"


def _specialize_names(text: bytes) -> list[str]:
    return etree.fromstring(text).xpath("//u:settings[@pass='specialize']//u:ComputerName/text()",
                                        namespaces={"u": "urn:schemas-microsoft-com:unattend"})


def test_golden_clone_writes_each_windows_clone_its_own_computer_name(disks, libvirt_up, vm_dirs):
    work = vm_dirs("winclone")
    runs = []
    for disk, wanted, count in NAMED:
        source = work / f"{disk}.raw"
        subprocess.run(["cp", "--sparse=always", str(disks[disk]), str(source)], check=True)
        prefix = f"tw{uuid.uuid4().hex[:5]}"
        out = work / f"{disk}-clones"
        # Both batches at once: each waits on its own appliances.
        proc = subprocess.Popen([str(GOLDEN), "clone", str(source), "--name", f"{prefix}-{{n}}", "--count",
                                 str(count), "--dir", str(out), "--json"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        runs.append((disk, wanted, count, source, prefix, out, proc))
    try:
        drives, files, expect = [], [], []
        for disk, wanted, count, source, prefix, out, proc in runs:
            stdout, stderr = proc.communicate(timeout=900)
            assert proc.returncode == 0, stderr.decode()
            made = json.loads(stdout)
            clones = made["clones"] if isinstance(made, dict) else made
            names = [c["name"] for c in clones]
            assert names == [f"{prefix}-{n}" for n in range(1, count + 1)]
            drives += [(Path(c["disks"][0]), "qcow2") for c in clones] + [(source, "raw")]
            files += [(wanted, beacon.SCRIPT, SETUPCOMPLETE)] * (count + 1)
            expect += [(disk, name) for name in names] + [(disk, None)]
        read = _read_back(drives, files)
        texts = [r[path] for r, (path, *_) in zip(read, files)]
        for (disk, name), text, got in zip(expect, texts, read):
            if disk == "w2k19-generalized":
                # The cached answer file: the clone's name, the rest kept; the source still names the template.
                assert _specialize_names(text) == [name or "W2K19-GOLDEN"]
                assert b"<TimeZone>UTC</TimeZone>" in text
                # Setup runs SetupComplete.cmd after OOBE: that starts the identity beacon.
                assert (got[SETUPCOMPLETE] or b"").count(beacon.CALL.encode()) == (1 if name else 0)
            else:
                assert f"ComputerName={name or '*'}\r\n".encode() in text
                assert (f'[GuiRunOnce]\r\nCommand0="{beacon.SCRIPT_WIN}"'.encode() in text) == bool(name)
                assert got[SETUPCOMPLETE] is None
            if name:
                assert b"echo golden-identity hostname=%host%" in got[beacon.SCRIPT]
                assert got[beacon.SCRIPT].count(b"\r\n") == got[beacon.SCRIPT].count(b"\n")
            else:
                assert got[beacon.SCRIPT] is None       # the source image is left as it was
        assert len(set(texts)) == len(texts)
    finally:
        for *_, out, proc in runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            gone = golden_bin("clone", "--remove-batch", str(out), timeout=600)
            assert gone.code == 0 or not out.exists(), gone.err
