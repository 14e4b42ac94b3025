"""`golden virtio` and `golden drivers attach` logic with fake libvirt and guest checks."""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess

import pytest
from lxml import etree

from builder.errors import InputError
from builder.media.initrd import dir_entry, file_entry, newc_archive
from builder.windows import attach, initramfs, txtsetup, virtio
from builder.windows.guestcheck import DriverReport
from builder.windows.manifest import driver_set
from builder.windows.txtsetup import TextModeDriver

DOMAIN = """<domain type='kvm'>
  <name>g</name>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://microsoft.com/win/2k3"/>
    </libosinfo:libosinfo>
  </metadata>
  <os><type arch='i686' machine='pc-i440fx-7.2'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='hda' bus='ide'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/srv/data.img'/>
      <target dev='hdb' bus='ide'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:11:22:33'/>
      <source network='default'/>
      <model type='rtl8139'/>
    </interface>
  </devices>
</domain>"""


class FakeDomain:
    def __init__(self, xml: str, active=False):
        self.xml = xml
        self.active = active
        self.attached: list[str] = []
        self.updated: list[str] = []

    def XMLDesc(self, flags=0):
        return self.xml

    def isActive(self):
        return self.active

    def attachDeviceFlags(self, xml, flags):
        self.attached.append(xml)

    def updateDeviceFlags(self, xml, flags):
        self.updated.append(xml)


class FakeConn:
    def __init__(self, dom):
        self.dom = dom
        self.defined: list[str] = []

    def lookupByName(self, name):
        import libvirt
        if name != "g":
            raise libvirt.libvirtError("no domain")
        return self.dom

    def defineXML(self, xml):
        self.defined.append(xml)


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "disk0.qcow2"
    path.write_bytes(b"QFI\xfb")
    return path


def report(storage=True, network=True, os_name="windows"):
    return DriverReport(os=os_name, storage=storage, network=network, found=["viostor.sys"],
                        missing=[] if storage else ["Services\\viostor"], network_note="no netkvm")


def test_switch_moves_disks_and_nics(disk):
    conn = FakeConn(FakeDomain(DOMAIN.format(disk=disk)))
    seen = []
    result = virtio.switch(conn, "g", check=lambda image, fmt, os_hint: seen.append((image, fmt, os_hint))
                           or report())
    assert seen == [(disk, "qcow2", "windows")]
    assert result.disks == [("hda", "vda"), ("hdb", "vdb")]
    assert result.nics == [("52:54:00:11:22:33", "rtl8139")]
    root = etree.fromstring(conn.defined[0].encode())
    targets = [(t.get("dev"), t.get("bus")) for t in root.iterfind("./devices/disk/target")]
    assert targets == [("vda", "virtio"), ("vdb", "virtio"), ("hdc", "ide")]   # the CD stays
    assert root.find("./devices/disk/address") is None
    assert root.find("./devices/interface/model").get("type") == "virtio"


def test_switch_refuses_without_the_storage_driver(disk):
    conn = FakeConn(FakeDomain(DOMAIN.format(disk=disk)))
    with pytest.raises(InputError, match="would not boot") as exc:
        virtio.switch(conn, "g", check=lambda *a: report(storage=False))
    assert "Services\\viostor" in str(exc.value) and "drivers attach" in exc.value.hint
    assert conn.defined == []


def test_switch_keeps_nics_without_a_network_driver(disk):
    conn = FakeConn(FakeDomain(DOMAIN.format(disk=disk)))
    result = virtio.switch(conn, "g", check=lambda *a: report(network=False))
    assert result.nics == [] and result.skipped_nics == "no netkvm"
    assert etree.fromstring(conn.defined[0].encode()).find("./devices/interface/model").get("type") == "rtl8139"


def test_switch_needs_a_shut_off_domain(disk):
    with pytest.raises(InputError, match="running"):
        virtio.switch(FakeConn(FakeDomain(DOMAIN.format(disk=disk), active=True)), "g", check=lambda *a: report())
    with pytest.raises(InputError, match="no domain"):
        virtio.switch(FakeConn(FakeDomain(DOMAIN.format(disk=disk))), "other", check=lambda *a: report())


def test_attach_fills_an_empty_drive_then_adds_one(tmp_path):
    iso = tmp_path / "drivers.iso"
    dom = FakeDomain(DOMAIN.format(disk="/srv/d.img"))
    result = attach.attach(FakeConn(dom), "g", iso)
    assert (result.action, result.target, result.bus) == ("inserted", "hdc", "ide")
    el = etree.fromstring(dom.updated[0].encode())
    assert el.get("device") == "cdrom" and el.find("source").get("file") == str(iso)
    assert el.find("target").get("bus") == "ide" and el.find("readonly") is not None
    full = DOMAIN.format(disk="/srv/d.img").replace("<target dev='hdc' bus='ide'/>",
                                                   "<source file='/srv/other.iso'/><target dev='hdc' bus='ide'/>")
    dom = FakeDomain(full)
    result = attach.attach(FakeConn(dom), "g", iso)
    assert (result.action, result.target) == ("added", "hdd")
    four = full.replace("</devices>", "<disk type='file' device='cdrom'><source file='/x.iso'/>"
                                      "<target dev='hdd' bus='ide'/></disk></devices>")
    with pytest.raises(InputError, match="4 IDE devices"):
        attach.attach(FakeConn(FakeDomain(four)), "g", iso)


def test_attach_uses_sata_on_q35(tmp_path):
    xml = DOMAIN.format(disk="/srv/d.img").replace("pc-i440fx-7.2", "pc-q35-7.2")
    dom = FakeDomain(xml)
    result = attach.attach(FakeConn(dom), "g", tmp_path / "d.iso")
    assert (result.bus, result.target, result.action) == ("sata", "sda", "added")


def test_check_iso(tmp_path):
    bad = tmp_path / "x.iso"
    bad.write_bytes(b"\0" * 40000)
    with pytest.raises(InputError, match="not an ISO"):
        attach.check_iso(bad)
    with pytest.raises(InputError, match="does not exist"):
        attach.check_iso(tmp_path / "missing.iso")


# --- initramfs ------------------------------------------------------------------

def _cpio(names):
    entries = [dir_entry("lib"), dir_entry("lib/modules")]
    entries += [file_entry(n, b"\x7fELF" + n.encode()) for n in names]
    return newc_archive(entries)


MODS = ["lib/modules/5.14.0/kernel/drivers/block/virtio_blk.ko.xz",
        "lib/modules/5.14.0/kernel/drivers/virtio/virtio_pci.ko.xz"]


@pytest.mark.parametrize("pack", ["plain", "gzip", "xz", "early+gzip", "zstd"])
def test_initramfs_member_names(pack):
    archive = _cpio(MODS)
    if pack == "gzip":
        data = gzip.compress(archive)
    elif pack == "xz":
        data = lzma.compress(archive)
    elif pack == "early+gzip":
        data = newc_archive([file_entry("kernel/x86/microcode/GenuineIntel.bin", b"u")]) + gzip.compress(archive)
    elif pack == "zstd":
        if shutil.which("zstd") is None:
            pytest.skip("zstd not installed")
        data = subprocess.run(["zstd", "-q", "-c"], input=archive, capture_output=True, check=True).stdout
    else:
        data = archive
    mods = initramfs.modules_in(initramfs.member_names(data))
    assert {"virtio_blk", "virtio_pci"} <= mods


def test_builtin_modules():
    assert initramfs.builtin_modules("kernel/drivers/block/virtio_blk.ko\n", "CONFIG_VIRTIO_PCI=y\n") == \
        {"virtio_blk", "virtio_pci"}
    assert initramfs.builtin_modules("", "CONFIG_VIRTIO_BLK=m\n") == set()


def test_guest_os_from_metadata():
    root = etree.fromstring(DOMAIN.format(disk="/x").encode())
    assert virtio.guest_os(root) == "windows"
    assert virtio.guest_os(etree.fromstring(b"<domain><devices/></domain>")) is None


# --- txtsetup.oem ---------------------------------------------------------------

def test_txtsetup_names_the_driver_files_and_ids():
    data = txtsetup.render([TextModeDriver(driver_set("viostor"), "xp", "x86")])
    oem = txtsetup.parse(data)
    assert list(oem) == ["Disks", "Defaults", "scsi", "Files.scsi.VIOSTOR_XP_X86",
                         "HardwareIds.scsi.VIOSTOR_XP_X86", "Config.viostor"]
    assert oem["Disks"] == [("d1", ["Red Hat VirtIO SCSI controller (xp x86)", "\\viostor.sys", "\\"])]
    assert oem["Defaults"] == [("scsi", ["VIOSTOR_XP_X86"])]
    assert dict(oem["Files.scsi.VIOSTOR_XP_X86"]) == {
        "driver": ["d1", "viostor.sys", "viostor"], "inf": ["d1", "viostor.inf"], "catalog": ["d1", "viostor.cat"]}
    ids = [fields for key, fields in oem["HardwareIds.scsi.VIOSTOR_XP_X86"]]
    assert ["PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00", "viostor"] in ids
    assert oem["Config.viostor"] == [("value", ["Parameters\\PnpInterface", "5", "REG_DWORD", "1"])]
    with pytest.raises(ValueError):
        txtsetup.parse(b"key = outside\r\n")
