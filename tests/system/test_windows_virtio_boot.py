"""`golden virtio` and `golden drivers attach` against real libvirt and real images.

The Windows images are small NTFS disks made with libguestfs: a SYSTEM hive
(written by winhive.py, read back by hivexregedit) with or without the
viostor service, and viostor.sys or not. The Linux images are ext4 disks
with a kernel and an initramfs that does or does not carry virtio_blk.
Domains are only defined, never started.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from lxml import etree

import winhive
from builder.media.initrd import dir_entry, file_entry, newc_archive
from builder.virt.accel import guestfs_settings
from tests.conftest import golden_bin
from tests.virtiowin import build_iso, build_tree

pytestmark = pytest.mark.system
URI = "qemu:///system"
MiB = 1 << 20
KVER = "5.14.0-427.el9.x86_64"


def virsh(*args: str, check=True) -> str:
    return subprocess.run(["virsh", "-c", URI, *args], check=check, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def workdir():
    # Outside /tmp/pytest-of-root (0700): libvirt's qemu user must be able to reach the ISO.
    d = Path(tempfile.mkdtemp(prefix="golden-wintest-", dir="/var/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def windows_images(workdir):
    """ready.raw: viostor installed (XP-7 style); bare.raw: no viostor."""
    import guestfs

    images = {"ready": workdir / "ready.raw", "bare": workdir / "bare.raw", "stale": workdir / "stale.raw"}
    for path in images.values():
        with open(path, "wb") as f:
            f.truncate(64 * MiB)
    env = guestfs_settings()
    g = guestfs.GuestFS(python_return_dict=True)
    g.set_backend(env["LIBGUESTFS_BACKEND"])
    g.set_backend_settings(env["LIBGUESTFS_BACKEND_SETTINGS"].split(":"))
    for path in images.values():
        g.add_drive_opts(str(path), format="raw")
    g.launch()
    try:
        for dev, kind in zip(("/dev/sda", "/dev/sdb", "/dev/sdc"), images):
            g.part_disk(dev, "mbr")
            g.mkfs("ntfs", dev + "1")
            g.mount(dev + "1", "/")
            g.mkdir_p("/WINDOWS/system32/config")
            g.mkdir_p("/WINDOWS/system32/drivers")
            g.mkdir_p("/WINDOWS/inf")
            g.write("/WINDOWS/system32/drivers/atapi.sys", b"MZ atapi")
            if kind == "ready":
                hive = winhive.windows_system_hive(viostor=True)
                g.write("/WINDOWS/system32/drivers/viostor.sys", b"MZ viostor")
                g.mkdir_p("/Drivers/NetKVM")
                g.write("/Drivers/NetKVM/netkvm.inf", b"; netkvm staged by golden\r\n")
            elif kind == "stale":
                # the file is there but the service is demand-start: not a boot driver
                hive = winhive.windows_system_hive(viostor=True, start=3)
                g.write("/WINDOWS/system32/drivers/viostor.sys", b"MZ viostor")
            else:
                hive = winhive.windows_system_hive(viostor=False)
            g.write("/WINDOWS/system32/config/system", hive)
            g.umount_all()
    finally:
        g.shutdown()
        g.close()
    return images


def _linux_image(workdir: Path, name: str, modules: list[str]) -> Path:
    stage = workdir / f"{name}-root"
    for d in ("etc", "boot", f"lib/modules/{KVER}/kernel/drivers/net"):
        (stage / d).mkdir(parents=True, exist_ok=True)
    fs_uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
    (stage / "etc/fstab").write_text(f"UUID={fs_uuid} / ext4 defaults 1 1\n")
    (stage / "etc/os-release").write_text('NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID=rhel\n')
    (stage / "etc/redhat-release").write_text("Red Hat Enterprise Linux release 9.4 (Plow)\n")
    (stage / f"boot/vmlinuz-{KVER}").write_bytes(b"MZ fake kernel")
    (stage / f"lib/modules/{KVER}/kernel/drivers/net/virtio_net.ko.xz").write_bytes(b"\xfd7zXZ")
    entries = [dir_entry("usr"), dir_entry("usr/lib"), dir_entry("usr/lib/modules")]
    entries += [file_entry(f"usr/lib/modules/{KVER}/kernel/drivers/{m}.ko.xz", b"\xfd7zXZ") for m in modules]
    early = newc_archive([file_entry("kernel/x86/microcode/GenuineIntel.bin", b"ucode")])
    (stage / f"boot/initramfs-{KVER}.img").write_bytes(early + gzip.compress(newc_archive(entries)))
    fs = workdir / f"{name}.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-U", fs_uuid, "-d", str(stage), str(fs), "60M"], check=True)
    disk = workdir / f"{name}.raw"
    with open(disk, "wb") as f:
        f.truncate(64 * MiB)
    subprocess.run(["sfdisk", "-q", str(disk)], input=b"label: dos\nstart=2048, type=83\n", check=True)
    subprocess.run(["dd", f"if={fs}", f"of={disk}", "bs=1M", "seek=1", "conv=notrunc", "status=none"], check=True)
    return disk


def _define(name: str, disk: Path, os_id: str, machine: str = "pc") -> None:
    # q35 has no IDE controller: its disk goes on SATA and it gets no empty CD drive.
    bus, dev = ("sata", "sda") if machine == "q35" else ("ide", "hda")
    cdrom = "" if machine == "q35" else (
        "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>")
    xml = f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="{os_id}"/>
    </libosinfo:libosinfo>
  </metadata>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='{dev}' bus='{bus}'/>
    </disk>
    {cdrom}
    <interface type='user'>
      <mac address='52:54:00:aa:00:{abs(hash(name)) % 90 + 10:02d}'/>
      <model type='rtl8139'/>
    </interface>
  </devices>
</domain>"""
    path = disk.parent / f"{name}.xml"
    path.write_text(xml)
    virsh("define", str(path))


@pytest.fixture
def domain(request):
    names = []

    def make(disk: Path, os_id: str, machine: str = "pc") -> str:
        name = f"golden-test-{request.node.name[:20]}-{os.getpid()}-{len(names)}".replace("_", "-")
        _define(name, disk, os_id, machine)
        names.append(name)
        return name
    yield make
    for name in names:
        virsh("undefine", name, check=False)


def _xml(name: str):
    return etree.fromstring(virsh("dumpxml", "--inactive", name).encode())


def _buses(root):
    return [(t.get("dev"), t.get("bus")) for t in root.iterfind("./devices/disk/target")]


def test_windows_with_viostor_moves_to_virtio(windows_images, domain):
    name = domain(windows_images["ready"], "http://microsoft.com/win/2k3")
    result = golden_bin("virtio", name, "--connect", URI)
    assert result.code == 0, result.err
    assert "Services\\viostor (Start=0, boot)" in result.out
    assert "CriticalDeviceDatabase\\pci#ven_1af4&dev_1001&subsys_00021af4&rev_00 -> viostor" in result.out
    root = _xml(name)
    assert _buses(root) == [("vda", "virtio"), ("hdc", "ide")]
    assert root.find("./devices/interface/model").get("type") == "virtio"   # netkvm staged in C:\Drivers
    again = golden_bin("virtio", name, "--connect", URI)
    assert again.code == 0 and "nothing changed" in again.out


@pytest.mark.parametrize("kind,missing", [
    ("bare", "Services\\viostor (the driver's service)"),
    ("stale", "it has Start=3"),
])
def test_windows_without_a_boot_viostor_is_refused(windows_images, domain, kind, missing):
    name = domain(windows_images[kind], "http://microsoft.com/win/2k3")
    before = virsh("dumpxml", "--inactive", name)
    result = golden_bin("virtio", name, "--connect", URI)
    assert result.code == 2, result.out + result.err
    assert "would not boot from a virtio disk" in result.err and missing in result.err
    assert "golden drivers attach" in result.err
    assert virsh("dumpxml", "--inactive", name) == before


def test_linux_initramfs_decides(workdir, domain):
    ready = _linux_image(workdir, "linux-ready", ["block/virtio_blk", "virtio/virtio_pci"])
    bare = _linux_image(workdir, "linux-bare", ["virtio/virtio_pci"])
    name = domain(ready, "http://redhat.com/rhel/9.4")
    result = golden_bin("virtio", name, "--connect", URI)
    assert result.code == 0, result.err
    assert f"kernel {KVER}: virtio_pci, virtio_blk built in or in /boot/initramfs-{KVER}.img" in result.out
    assert _buses(_xml(name))[0] == ("vda", "virtio")
    name = domain(bare, "http://redhat.com/rhel/9.4")
    result = golden_bin("virtio", name, "--connect", URI)
    assert result.code == 2 and "virtio_blk not built in or in" in result.err, result.err
    assert _buses(_xml(name))[0] == ("hda", "ide")


def test_running_or_unknown_domains_are_refused(domain):
    result = golden_bin("virtio", "golden-test-no-such-domain", "--connect", URI)
    assert result.code == 2 and "no domain named" in result.err


def test_drivers_attach(workdir, windows_images, domain):
    iso = build_iso(build_tree(workdir / "vw"), workdir / "virtio-win.iso")
    name = domain(windows_images["bare"], "http://microsoft.com/win/2k3")
    result = golden_bin("drivers", "attach", name, "--iso", iso, "--connect", URI)
    assert result.code == 0, result.err
    assert "inserted" in result.out and "hdc" in result.out
    cd = _xml(name).find("./devices/disk[@device='cdrom']")
    assert cd.find("source").get("file") == str(iso) and cd.find("target").get("bus") == "ide"
    other = build_iso(workdir / "vw" / "guest-agent", workdir / "ga.iso")
    result = golden_bin("drivers", "attach", name, "--iso", other, "--connect", URI)
    assert result.code == 0 and "added" in result.out, result.err
    targets = [(t.get("dev"), t.get("bus")) for t in _xml(name).iterfind("./devices/disk[@device='cdrom']/target")]
    assert sorted(targets) == [("hdb", "ide"), ("hdc", "ide")]
    result = golden_bin("drivers", "attach", name, "--iso", iso, "--connect", URI)
    assert result.code == 2 and "already in" in result.err


def test_drivers_attach_on_q35_uses_sata(workdir, windows_images, domain):
    iso = build_iso(build_tree(workdir / "vw2"), workdir / "virtio-win2.iso")
    name = domain(windows_images["bare"], "http://microsoft.com/win/2k19", machine="q35")
    result = golden_bin("drivers", "attach", name, "--iso", iso, "--connect", URI)
    assert result.code == 0, result.err
    targets = [(t.get("dev"), t.get("bus")) for t in _xml(name).iterfind("./devices/disk[@device='cdrom']/target")]
    assert targets == [("sdb", "sata")]
