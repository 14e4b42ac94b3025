"""golden clone refuses bad input before it makes anything (libvirt's test driver stands in for a host).

The test driver reads a node description from a file (test:///PATH), so each
case sets up exactly the domains it needs. Every refusal must leave the
directory as it was: no overlay, no serial log, no record.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clone_fixtures import qcow2, template_xml, tree

from builder.clone import batch
from builder.clone.batch import clone_batch
from builder.errors import InputError
from builder.virt import identity

NODE_DOMAIN = """<domain type='test'><name>{name}</name><memory>65536</memory><os><type>hvm</type></os>
<devices>{disk}<interface type='user'><mac address='{mac}'/></interface></devices></domain>"""


def node(path: Path, *domains: dict) -> str:
    body = "".join(NODE_DOMAIN.format(name=d["name"], mac=d.get("mac", "52:54:00:00:00:01"),
                                      disk=f"<disk type='file' device='disk'><source file='{d['disk']}'/>"
                                           "<target dev='vda'/></disk>" if d.get("disk") else "")
                   for d in domains)
    path.write_text(f"<node>{body}</node>")
    return f"test://{path}"


@pytest.fixture
def gold(tmp_path) -> Path:
    image = qcow2(tmp_path / "gold.qcow2")
    (tmp_path / "gold.domain.xml").write_text(template_xml(image))
    return image


def refused(tmp_path, match, *args, **kwargs) -> InputError:
    before = tree(tmp_path)
    with pytest.raises(InputError, match=match) as e:
        clone_batch(*args, **kwargs)
    assert tree(tmp_path) == before, "a refused batch left files behind"
    assert e.value.exit_code == 2
    return e.value


def test_pattern_without_number(gold, tmp_path):
    refused(tmp_path, "has no {n}", gold, "web", 2, connect="test:///default")


def test_name_taken_on_the_connection(gold, tmp_path):
    uri = node(tmp_path / "node.xml", {"name": "web-2"})
    err = refused(tmp_path, "1 clone name.*taken: web-2", gold, "web-{n}", 3, connect=uri)
    assert "--first" in err.hint


def test_disk_file_already_there(gold, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "web-2.qcow2").write_text("someone's disk")
    refused(tmp_path, "web-2.qcow2 already exists", gold, "web-{n}", 2, connect="test:///default",
            directory=tmp_path / "out")


def test_more_clones_than_macs(gold, tmp_path):
    refused(tmp_path, "more MAC addresses than", gold, "web-{n}", identity.mac_space("kvm") + 1,
            connect="test:///default")
    # Two NICs per clone: half as many clones fit.
    (tmp_path / "gold.domain.xml").write_text(template_xml(gold, nics=2))
    refused(tmp_path, r"need \d+ new MAC addresses", gold, "web-{n}", identity.mac_space("kvm") // 2 + 1,
            connect="test:///default")


def test_missing_and_corrupt_images(tmp_path):
    refused(tmp_path, "image not found", tmp_path / "nope.qcow2", "web-{n}", 1, connect="test:///default")
    bad = qcow2(tmp_path / "bad.qcow2")
    with open(bad, "r+b") as f:
        f.truncate(1024)                                       # header kept, tables gone
    refused(tmp_path, "not a usable qcow2", bad, "web-{n}", 1, connect="test:///default")


def test_image_written_by_a_running_domain(gold, tmp_path):
    uri = node(tmp_path / "node.xml", {"name": "busy", "disk": gold})
    err = refused(tmp_path, "in use by running domain 'busy'", gold, "web-{n}", 1, connect=uri)
    assert "shut the guest down" in err.hint


def test_running_or_unknown_domain_as_source(tmp_path):
    refused(tmp_path, "domain test is running", "test", "web-{n}", 1, connect="test:///default")
    refused(tmp_path, "no image file or libvirt domain named 'ghost'", "ghost", "web-{n}", 1,
            connect="test:///default")


def test_options_checked_first(gold, tmp_path):
    refused(tmp_path, "HWADDR mode", gold, "web-{n}", 1, connect="test:///default", hwaddr="keep")
    refused(tmp_path, "unknown backend", gold, "web-{n}", 1, connect="test:///default", backend="nbd")
    refused(tmp_path, "Xen config files only", gold, "web-{n}", 1, connect="test:///default", bridge="br0")


def test_a_writable_block_disk_cannot_be_shared_by_clones(gold, tmp_path):
    xml = template_xml(gold).replace("</devices>", "<disk type='block' device='disk'><source dev='/dev/vg/data'/>"
                                                   "<target dev='vdb' bus='virtio'/></disk></devices>")
    (tmp_path / "gold.domain.xml").write_text(xml)
    refused(tmp_path, "block disk vdb is not a file", gold, "web-{n}", 1, connect="test:///default")


def test_disk_names_and_default_directory(tmp_path):
    build = tmp_path / "demo.build"
    build.mkdir()
    disk = qcow2(build / "disk0.qcow2")
    data = qcow2(tmp_path / "data.qcow2")
    (build / "domain.xml").write_text(template_xml(disk))
    source = batch.resolve_source(disk, None)
    assert source.template_from == str(build / "domain.xml")
    source.disks.append(batch.diskops.check_image(data))
    assert batch._default_dir(source) == tmp_path            # beside the build directory, not inside it
    planned = batch._plan(source, ["web-1"], tmp_path, True, ["52:54:00:00:00:01"], ["u"])
    assert [p.name for p in planned[0].disks] == ["web-1.qcow2", "web-1-disk1.qcow2"]
    assert planned[0].serial_log == tmp_path / "web-1.serial.log"


def test_define_then_roll_back(gold, tmp_path):
    """The define step and the rollback, on the test driver: nothing of the batch stays."""
    import libvirt
    conn = libvirt.open("test:///default")
    source = batch.resolve_source(gold, conn)
    planned = batch._plan(source, ["web-1", "web-2"], tmp_path, True,
                          ["52:54:00:00:00:0a", "52:54:00:00:00:0b"], [identity.new_uuid(), identity.new_uuid()])
    made = batch._Made()
    batch._create_disks(source, planned, True, made, print)
    batch._define(conn, source, planned, None, tmp_path / "clones.json", made, print)
    assert {d.name() for d in conn.listAllDomains(0)} == {"test", "web-1", "web-2"}
    assert (tmp_path / "web-1.qcow2").exists()
    made.rollback(print)
    assert {d.name() for d in conn.listAllDomains(0)} == {"test"}
    assert not (tmp_path / "web-1.qcow2").exists() and not (tmp_path / "web-2.qcow2").exists()


def test_template_type_follows_the_host(gold, tmp_path):
    root = batch.template.load(tmp_path / "gold.domain.xml")
    events = []
    root.set("type", "kvm")
    batch._adapt_domain_type(root, "QEMU", "gold.domain.xml", events.append)
    from builder.virt import accel
    assert root.get("type") == accel.probe().virt_type
    root.set("type", "xen")
    with pytest.raises(InputError, match="for a xen guest, and this libvirt connection is QEMU"):
        batch._adapt_domain_type(root, "QEMU", "gold.domain.xml", events.append)
    root.set("type", "qemu")
    with pytest.raises(InputError, match="for a qemu guest, and this libvirt connection is Xen"):
        batch._adapt_domain_type(root, "Xen", "gold.domain.xml", events.append)
