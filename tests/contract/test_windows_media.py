"""Driver floppies and CDs built from a fake virtio-win tree, read back by mtools,
isoinfo and xorriso: the right files for each release and arch, txtsetup.oem
naming files that are on the floppy, answer files at the root."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from builder import catalog, paths
from builder.errors import InputError
from builder.profile import load
from builder.windows import drivers, txtsetup, winnt
from builder.windows.autounattend import NS
from tests.unit.windows_factory import every_release, profile
from tests.virtiowin import PDB_SIZE, build_iso, build_tree

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("mdir", "mtype", "isoinfo", "xorriso",
                                                                 "genisoimage")),
                                reason="mtools, isoinfo, xorriso and genisoimage are needed")

WITH_DRIVERS = [(o, a) for o, a in every_release()
                if catalog.get(o).windows.virtio_win_arch.get(a) is not None]


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    base = tmp_path_factory.mktemp("virtio-win")
    tree = build_tree(base / "tree")
    flat = build_tree(base / "flat", flat=True)
    return {"tree": tree, "iso": build_iso(tree, base / "virtio-win.iso"), "flat": flat}


def floppy_listing(image: Path) -> dict[str, str]:
    """Upper-case path -> path as mtools shows it, for every file (mdir -b, recursive)."""
    out = {}
    for line in run("mdir", "-i", str(image), "-/", "-b", "::").splitlines():
        path = line.strip()
        if path and not path.endswith("/"):
            out[path.removeprefix("::/").upper()] = path
    return out


def mtype(image: Path, path: str) -> bytes:
    return subprocess.run(["mtype", "-i", str(image), "::/" + path], check=True, capture_output=True).stdout


def iso_listing(image: Path) -> set[str]:
    joliet = {line.strip().lstrip("/") for line in run("isoinfo", "-J", "-f", "-i", str(image)).splitlines()}
    rock = {line.strip().strip("'").lstrip("/")
            for line in subprocess.run(["xorriso", "-indev", str(image), "-find", "/", "-type", "f"],
                                       check=True, capture_output=True, text=True).stdout.splitlines()}
    assert {p for p in rock} <= joliet, "Rock Ridge and Joliet show the same files"
    return rock


def iso_read(image: Path, path: str) -> bytes:
    return subprocess.run(["isoinfo", "-R", "-x", "/" + path, "-i", str(image)], check=True,
                          capture_output=True).stdout


@pytest.mark.parametrize("os_id,arch", [r for r in WITH_DRIVERS if catalog.get(r[0]).windows.era == "sif"])
@pytest.mark.parametrize("kind", ["tree", "iso", "flat"])
def test_f6_floppy(tmp_path, sources, os_id, arch, kind):
    loaded = load(profile(tmp_path, os_id, arch))
    out = drivers.write_floppy(loaded, tmp_path / "drivers.img", sources[kind])
    assert out.stat().st_size == 1_474_560
    files = floppy_listing(out)
    folder = catalog.get(os_id).windows.virtio_win_folder
    vw_arch = {"i386": "x86", "x86_64": "amd64"}[arch]
    # text mode: txtsetup.oem, winnt.sif and viostor at the root
    assert {"TXTSETUP.OEM", "WINNT.SIF", "VIOSTOR.SYS", "VIOSTOR.INF", "VIOSTOR.CAT"} <= set(files)
    assert f"golden-fake viostor {folder} {vw_arch} viostor.sys".encode() in mtype(out, "VIOSTOR.SYS")
    # PnP drivers in their virtio-win folder, no debug symbols anywhere
    assert f"NETKVM/{folder.upper()}/{vw_arch.upper()}/NETKVM.INF" in files
    assert f"golden-fake netkvm {folder} {vw_arch}".encode() in mtype(out, f"NETKVM/{folder}/{vw_arch}/NETKVM.INF")
    assert not any(p.endswith(".PDB") for p in files)
    # every file txtsetup.oem names is on the floppy where [Disks] says
    oem = txtsetup.parse(mtype(out, "TXTSETUP.OEM"))
    disks = {key: fields[2] for key, fields in oem["Disks"]}
    assert set(disks.values()) == {"\\"}
    for section, lines in oem.items():
        if section.startswith("Files.scsi."):
            for _, fields in lines:
                disk, name = fields[0], fields[1]
                on_floppy = (disks[disk].strip("\\") + "/" + name).strip("/").upper()
                assert on_floppy in files, on_floppy
    tag = oem["Disks"][0][1][1].lstrip("\\").upper()
    assert tag in files
    # winnt.sif on the floppy is the answer file, and names the same controller
    sif = winnt.parse(mtype(out, "WINNT.SIF"))
    described = [fields[0] for _, fields in oem["scsi"]]
    assert [winnt.unquote(k) for k in sif.options("MassStorageDrivers")][:-1] == described
    assert sorted(sif.options("OEMBootFiles")) == sorted(["txtsetup.oem"] + [
        fields[1] for s, lines in oem.items() if s.startswith("Files.scsi.") for _, fields in lines])
    pnp_paths = winnt.unquote(sif.get("Unattended", "OemPnPDriversPath")).split(";")
    assert pnp_paths == ["Drivers\\NetKVM"]
    run_once = " ".join(v for _, v in sif.items("GuiRunOnce"))
    assert f"xcopy A:\\NetKVM\\{folder}\\{vw_arch} %SystemDrive%\\Drivers\\NetKVM" in run_once


@pytest.mark.parametrize("os_id,arch", [r for r in WITH_DRIVERS if catalog.get(r[0]).windows.era == "unattend"])
def test_driver_cd(tmp_path, sources, os_id, arch):
    loaded = load(profile(tmp_path, os_id, arch))
    out = drivers.write_iso(loaded, tmp_path / "drivers.iso", sources["iso"])
    files = iso_listing(out)
    folder = catalog.get(os_id).windows.virtio_win_folder
    vw_arch = {"i386": "x86", "x86_64": "amd64"}[arch]
    assert "autounattend.xml" in files
    assert f"viostor/{folder}/{vw_arch}/viostor.sys" in files
    assert f"NetKVM/{folder}/{vw_arch}/netkvm.inf" in files
    assert not any(p.endswith(".pdb") or p.endswith(".msi") for p in files)
    assert f"golden-fake viostor {folder} {vw_arch}".encode() in iso_read(out, f"viostor/{folder}/{vw_arch}/viostor.sys")
    root = etree.fromstring(iso_read(out, "autounattend.xml"))
    # every DriverPaths folder is a folder of this CD (on one of its possible letters)
    for path in root.xpath("//u:DriverPaths//u:Path/text()", namespaces={"u": NS}):
        rel = path.split(":\\", 1)[1].replace("\\", "/")
        assert any(f.startswith(rel + "/") for f in files), path
    label = re.search(r"Volume id: (.*)", run("isoinfo", "-d", "-i", str(out))).group(1).strip()
    assert label == "GOLDEN-DRIVERS"


def test_unattend_era_on_a_floppy(tmp_path, sources):
    loaded = load(profile(tmp_path, "win2k8", "x86_64", windows={"drivers": {"media": "floppy"}}))
    out = drivers.write_floppy(loaded, tmp_path / "f.img", sources["tree"])
    files = floppy_listing(out)
    assert "AUTOUNATTEND.XML" in files and "TXTSETUP.OEM" not in files
    assert "VIOSTOR/2K8/AMD64/VIOSTOR.SYS" in files
    root = etree.fromstring(mtype(out, "AUTOUNATTEND.XML"))
    assert root.xpath("//u:DriverPaths//u:Path/text()", namespaces={"u": NS})[0] == "A:\\viostor\\2k8\\amd64"


def test_same_inputs_same_bytes_from_any_source(tmp_path, sources):
    loaded = load(profile(tmp_path, "win2k3", "i386"))
    a = drivers.write_floppy(loaded, tmp_path / "a.img", sources["tree"]).read_bytes()
    b = drivers.write_floppy(loaded, tmp_path / "b.img", sources["iso"]).read_bytes()
    assert a == b
    loaded = load(profile(tmp_path, "win7", "x86_64"))
    a = drivers.write_iso(loaded, tmp_path / "a.iso", sources["tree"]).read_bytes()
    b = drivers.write_iso(loaded, tmp_path / "b.iso", sources["iso"]).read_bytes()
    assert a == b


def test_missing_driver_folder_names_it(tmp_path):
    tree = build_tree(tmp_path / "partial", skip={"viostor/2k3/x86"})
    loaded = load(profile(tmp_path, "win2k3", "i386"))
    with pytest.raises(InputError, match=r"no folder viostor/2k3/x86 \(nor Wnet/x86") as exc:
        drivers.write_floppy(loaded, tmp_path / "f.img", tree)
    assert exc.value.where == "windows.drivers.sets"
    assert not (tmp_path / "f.img").exists()


def test_incomplete_folder_names_the_file(tmp_path):
    tree = build_tree(tmp_path / "t")
    (tree / "viostor" / "w7" / "amd64" / "viostor.cat").unlink()
    with pytest.raises(InputError, match="lacks viostor.cat"):
        drivers.write_iso(load(profile(tmp_path, "win7", "x86_64")), tmp_path / "d.iso", tree)


def test_floppy_overflow_lists_file_sizes(tmp_path):
    tree = build_tree(tmp_path / "t")
    (tree / "NetKVM" / "xp" / "x86" / "netkvm.sys").write_bytes(b"\0" * 1_600_000)
    with pytest.raises(InputError, match="1.44 MB floppy") as exc:
        drivers.write_floppy(load(profile(tmp_path, "winxp", "i386")), tmp_path / "f.img", tree)
    assert re.search(r"netkvm/xp/x86/netkvm\.sys: 1,600,000 bytes", str(exc.value), re.I), str(exc.value)


def test_pdb_files_would_not_fit_so_they_stay_behind(tmp_path, sources):
    assert PDB_SIZE * 2 > 500_000
    loaded = load(profile(tmp_path, "win10", "x86_64", windows={"drivers": {
        "media": "floppy", "sets": ["viostor", "vioscsi", "netkvm", "balloon"]}}))
    files = floppy_listing(drivers.write_floppy(loaded, tmp_path / "f.img", sources["tree"]))
    assert "BALLOON/W10/AMD64/BLNSVR.EXE" in files and not any(f.endswith(".PDB") for f in files)


def test_package_layouts_of_usr_share_virtio_win(tmp_path, sources):
    by_driver = tmp_path / "pkg" / "drivers" / "by-driver"
    shutil.copytree(sources["tree"], by_driver)
    loaded = load(profile(tmp_path, "win2k8r2", "x86_64"))
    a = drivers.write_iso(loaded, tmp_path / "a.iso", tmp_path / "pkg").read_bytes()
    only_iso = tmp_path / "only-iso"
    only_iso.mkdir()
    shutil.copy(sources["iso"], only_iso / "virtio-win.iso")
    b = drivers.write_iso(loaded, tmp_path / "b.iso", only_iso).read_bytes()
    assert a == b
    with pytest.raises(InputError, match="holds no virtio-win drivers"):
        drivers.write_iso(loaded, tmp_path / "c.iso", tmp_path / "pkg" / "drivers")
    with pytest.raises(InputError, match="does not exist"):
        drivers.write_iso(loaded, tmp_path / "c.iso", tmp_path / "nowhere")


def test_cli_commands(tmp_path, sources, golden):
    path = profile(tmp_path, "win2k3", "i386")
    result = golden("drivers", "floppy", path, "--from", sources["iso"], "-o", tmp_path / "f.img")
    assert result.code == 0, result.err
    assert "TXTSETUP.OEM" in floppy_listing(tmp_path / "f.img")
    assert (tmp_path / "f.img").stat().st_mode & 0o077 == 0
    result = golden("drivers", "iso", path, "--from", sources["iso"], "-o", tmp_path / "f.iso")
    assert result.code == 2 and "only from a floppy" in result.err
    result = golden("unattend", path, "-o", tmp_path / "out")
    assert result.code == 0 and (tmp_path / "out" / "winnt.sif").stat().st_mode & 0o777 == 0o600
    result = golden("unattend", profile(tmp_path, "win10", "x86_64"))
    assert result.code == 0 and result.out.startswith('<?xml version="1.0" encoding="utf-8"?>')
    result = golden("validate", *sorted(paths.profiles_dir().glob("win*.yaml")))
    assert result.code == 0, result.err
    assert result.out.count("ok: ") >= 4 and "winnt.sif (INI sections" in result.out
