"""A Windows profile's install devices, booted for real under qemu (TCG).

golden writes the install media of a shipped Windows profile (answer file,
F6 floppy or driver CD, from a fake virtio-win ISO) and plans its
virt-install command. The test turns that command's device wiring into
plain qemu options - the Windows install CD replaced by golden's demo ISO,
whose installer reports every block device it sees on the serial console -
and checks that the devices a Windows setup would see hold what the answer
file says: winnt.sif and txtsetup.oem with the F6 driver on A:, or
autounattend.xml and the DriverPaths folders on the second CD drive.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import demo_qemu as q
from builder import catalog
from builder.demo import build_demo_media
from builder.plan import make_plan
from builder.profile import load
from builder.virt.install_cmd import InstallTarget
from builder.windows import txtsetup, wiring
from builder.windows.media import CD_LETTERS
from tests.virtiowin import build_iso, build_tree

pytestmark = pytest.mark.system

BOOT_TIMEOUT = 300


@pytest.fixture(scope="module")
def demo():
    return build_demo_media()


@pytest.fixture(scope="module")
def virtio_iso(tmp_path_factory):
    base = tmp_path_factory.mktemp("virtio-win")
    return build_iso(build_tree(base / "tree"), base / "virtio-win.iso")


def child_profile(tmp_path: Path, shipped: str, virtio_iso: Path) -> Path:
    path = tmp_path / f"{shipped}-test.yaml"
    path.write_text(yaml.safe_dump({
        "name": f"{shipped}-test",
        "extends": shipped,
        "windows": {"drivers": {"source": str(virtio_iso)}},
        "output": {"dir": str(tmp_path / "images")},
    }))
    return path


def qemu_devices(argv: list[str], demo_iso: Path) -> list[str]:
    """virt-install's storage options as qemu -drive options, IDE slots in virt-install's order."""
    drives, ide = [], 0
    for i, arg in enumerate(argv):
        if arg == "--cdrom":
            drives.append(f"if=ide,index={ide},media=cdrom,format=raw,readonly=on,file={demo_iso}")
            ide += 1
        elif arg == "--disk":
            opts = dict(kv.split("=", 1) for kv in argv[i + 1].split(","))
            if opts.get("device") == "floppy":
                drives.append(f"if=floppy,format=raw,file={opts['path']}")
            elif opts.get("device") == "cdrom":
                assert opts["bus"] == "ide"
                drives.append(f"if=ide,index={ide},media=cdrom,format=raw,readonly=on,file={opts['path']}")
                ide += 1
            else:
                path = Path(opts["path"])
                with open(path, "wb") as f:
                    f.truncate(int(float(opts["size"]) * (1 << 30)))
                drives.append(f"if={opts['bus']},format=raw,file={path}")
    # The install CD goes first: virt-install puts --cdrom before other CD drives.
    drives.sort(key=lambda d: 0 if str(demo_iso) in d else 1)
    return [a for d in drives for a in ("-drive", d)]


def boot(tmp_path: Path, demo, profile_path: Path):
    loaded = load(profile_path)
    entry = catalog.get(loaded.profile.os)
    plan = make_plan(loaded, cwd=tmp_path, target=InstallTarget(virt_type="qemu", media=str(demo.iso)))
    wiring.write_install_media(loaded, plan.layout)
    argv = plan.virt_install
    # virt-install writes qcow2; qemu here gets a raw file of the same size.
    argv = [a.replace("format=qcow2", "format=raw") for a in argv]
    serial = tmp_path / "serial.log"
    args = q.base_args(serial, memory=512) + [
        "-kernel", str(demo.kernel), "-initrd", str(demo.initrd), "-append", "console=ttyS0,115200",
    ] + qemu_devices(argv, demo.iso) + ["-nic", "none"]
    run = q.run(args, serial, timeout=BOOT_TIMEOUT, until=q.FAILED)
    devices = {}
    for line in run.lines("golden-installer: device "):
        fields = dict(f.split("=", 1) for f in line.split()[2:] if "=" in f)
        fields["files"] = [n for n in fields.get("files", "").split(",") if n]
        devices[fields["name"]] = fields
    return loaded, entry, plan, run, devices


def test_f6_floppy_wiring_win2k3(tmp_path, demo, virtio_iso):
    loaded, entry, plan, run, devices = boot(tmp_path, demo, child_profile(tmp_path, "win2k3-kvm", virtio_iso))
    assert run.failed() == "no kickstart found", run.serial[-3000:]
    floppy = devices["fd0"]
    assert floppy["size"] == "1474560" and floppy["fstype"] == "vfat" and floppy["label"] == "GOLDENDRV"
    names = {n.upper() for n in floppy["files"]}
    # winnt.sif is read from A:, txtsetup.oem from A:'s root, with the files it names
    assert {"WINNT.SIF", "TXTSETUP.OEM", "NETKVM"} <= names
    oem = txtsetup.parse(_floppy_file(plan, "TXTSETUP.OEM"))
    for section, lines in oem.items():
        if section.startswith("Files.scsi."):
            assert {fields[1].upper() for _, fields in lines} <= names
    # the install CD, and the system disk on virtio as the profile's drivers allow
    assert devices["sr0"]["label"] == "GOLDEN-DEMO-1-x86_64"
    # (qemu's own empty CD drive may show up as sr1; golden adds no second CD for XP/2003)
    assert all(d["fstype"] == "none" for n, d in devices.items() if n.startswith("sr") and n != "sr0")
    assert int(devices["vda"]["size"]) == 6 << 30
    assert not [name for name in devices if re.fullmatch(r"(hd|sd)[a-z]", name)]


def _floppy_file(plan, name: str) -> bytes:
    from builder.media import fat
    return fat.read_file(plan.layout.driver_floppy, name)


def test_driver_cd_wiring_win7(tmp_path, demo, virtio_iso):
    loaded, entry, plan, run, devices = boot(tmp_path, demo, child_profile(tmp_path, "win7-kvm", virtio_iso))
    assert run.failed() == "no kickstart found", run.serial[-3000:]
    assert devices.get("fd0", {"size": "0"})["size"] == "0"     # qemu's empty drive at most: no floppy
    assert devices["sr0"]["label"] == "GOLDEN-DEMO-1-x86_64"
    driver_cd = devices["sr1"]
    assert driver_cd["fstype"] == "iso9660" and driver_cd["label"] == "GOLDEN-DRIVERS"
    assert {n.lower() for n in driver_cd["files"]} == {"autounattend.xml", "netkvm", "viostor"}
    # Setup sees the second optical drive as E: (X: is WinPE, D: the install DVD);
    # DriverPaths name its folders on each likely letter.
    answer = (plan.layout.unattend_dir / "autounattend.xml").read_text()
    paths = re.findall(r"<Path>([A-Z]):\\([^\\<]+)\\", answer)
    assert {letter for letter, _ in paths} == set(CD_LETTERS) and "E" in CD_LETTERS
    assert {folder.lower() for _, folder in paths} <= {n.lower() for n in driver_cd["files"]}
    assert int(devices["vda"]["size"]) == 24 << 30
