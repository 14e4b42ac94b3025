"""A clone's domain XML: new host-side identity, per-clone files, install leftovers gone."""

from __future__ import annotations

from pathlib import Path

from clone_fixtures import template_xml

from builder.clone.domainxml import GOLDEN_NS, CloneSpec, expected_identity, parse, rewrite

SPEC = CloneSpec(name="web-1", uuid="0e6a4c4c-8f4e-4bde-9a3e-35f0a7b0c001", macs=("52:54:00:0a:0b:0c",),
                 disks=(Path("/clones/web-1.qcow2"),), disk_formats=("qcow2",), hostname="web-1",
                 serial_log=Path("/clones/web-1.serial.log"), source="/images/demo.qcow2",
                 record=Path("/images/demo.build/clones.json"))


def test_host_side_identity_is_replaced():
    root = parse(rewrite(parse(template_xml()), SPEC))
    assert root.findtext("name") == "web-1"
    assert root.findtext("uuid") == SPEC.uuid
    assert root.findtext("./sysinfo/system/entry[@name='uuid']") == SPEC.uuid
    assert root.find("title") is None and root.findtext("description") == "golden clone of /images/demo.qcow2"
    assert [m.get("address") for m in root.findall("./devices/interface/mac")] == ["52:54:00:0a:0b:0c"]
    disk = root.find("./devices/disk[@device='disk']")
    assert disk.find("source").get("file") == "/clones/web-1.qcow2"
    assert disk.find("driver").get("type") == "qcow2" and disk.find("driver").get("discard") == "unmap"


def test_per_domain_files_and_ports_are_not_shared():
    root = parse(rewrite(parse(template_xml()), SPEC))
    for chardev in ("serial", "console"):
        el = root.find(f"./devices/{chardev}")
        assert el.find("log").get("file") == "/clones/web-1.serial.log" and el.find("log").get("append") == "off"
        assert el.find("source") is None                       # the source's pty
    assert root.find("./devices/channel/source").get("path") is None
    graphics = root.find("./devices/graphics")
    assert (graphics.get("port"), graphics.get("autoport")) == ("-1", "yes")
    cdrom = root.find("./devices/disk[@device='cdrom']")
    assert cdrom.find("source") is None and cdrom.find("readonly") is not None


def test_installer_kernel_boot_goes_but_a_chosen_one_stays():
    installer = ("<kernel>/b/vmlinuz</kernel><initrd>/b/initrd.img</initrd>"
                 "<cmdline>inst.ks=file:/ks.cfg console=ttyS0</cmdline>")
    root = parse(rewrite(parse(template_xml(kernel=installer)), SPEC))
    assert root.find("./os/kernel") is None and root.find("./os/cmdline") is None
    own = "<kernel>/boot/vmlinuz-pv</kernel><cmdline>root=/dev/vda1 console=ttyS0</cmdline>"
    root = parse(rewrite(parse(template_xml(kernel=own)), SPEC))
    assert root.findtext("./os/kernel") == "/boot/vmlinuz-pv"


def test_a_template_without_serial_gets_a_logged_console():
    template = parse(template_xml())
    for el in template.findall("./devices/serial") + template.findall("./devices/console"):
        el.getparent().remove(el)
    root = parse(rewrite(template, SPEC))
    assert root.find("./devices/serial/log").get("file") == "/clones/web-1.serial.log"
    assert root.find("./devices/console/target").get("type") == "serial"


def test_a_file_serial_writes_the_clones_own_file():
    template = parse(template_xml())
    serial = template.find("./devices/serial")
    serial.set("type", "file")
    serial.find("source").set("path", "/old/build/console.txt")
    root = parse(rewrite(template, SPEC))
    assert root.find("./devices/serial/source").get("path") == "/clones/web-1.serial.log"


def test_expected_identity_reads_back_what_was_set():
    got = expected_identity(rewrite(parse(template_xml()), SPEC))
    assert got == {"name": "web-1", "uuid": SPEC.uuid, "macs": ["52:54:00:0a:0b:0c"], "hostname": "web-1",
                   "source": "/images/demo.qcow2", "record": "/images/demo.build/clones.json", "batch": None,
                   "serial_log": "/clones/web-1.serial.log"}
    root = parse(rewrite(parse(template_xml()), SPEC))
    assert len(root.findall(f"./metadata/{{{GOLDEN_NS}}}clone")) == 1


def test_counts_must_match_the_template():
    import pytest
    spec = CloneSpec(**{**SPEC.__dict__, "macs": ("52:54:00:00:00:01", "52:54:00:00:00:02")})
    with pytest.raises(ValueError, match="1 interfaces"):
        rewrite(parse(template_xml()), spec)
