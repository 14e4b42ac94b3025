"""Publishing into a libvirt directory pool on qemu:///system: volumes of the image and its template."""

from __future__ import annotations

import json
import uuid
from xml.etree import ElementTree as ET

import pytest

from tests.ship_fixtures import make_build

pytestmark = pytest.mark.system

URI = "qemu:///system"


@pytest.fixture
def pool(libvirt_up, vm_dirs):
    import libvirt

    name = f"golden-ship-{uuid.uuid4().hex[:8]}"
    path = vm_dirs("ship-pool")
    conn = libvirt.open(URI)
    xml = f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"
    p = conn.storagePoolCreateXML(xml, 0)          # transient: gone once destroyed
    try:
        yield conn, p, name, path
    finally:
        for vol in p.listAllVolumes(0):
            vol.delete(0)
        p.destroy()
        conn.close()


def test_image_and_template_land_in_the_pool(tmp_path, golden, pool):
    conn, p, name, path = pool
    manifest = make_build(tmp_path / "out")
    image = tmp_path / "out" / "rhel7-golden.qcow2"
    run = golden("publish", manifest, "--to", f"libvirt+{URI}/{name}", "--json")
    assert run.code == 0, run.err
    result = json.loads(run.out)
    assert result["target"] == "libvirt-pool"
    p.refresh(0)
    vol = p.storageVolLookupByName("rhel7-golden.qcow2")
    assert (path / "rhel7-golden.qcow2").read_bytes() == image.read_bytes()
    assert ET.fromstring(vol.XMLDesc(0)).find("./target/format").get("type") == "qcow2"
    template = p.storageVolLookupByName("rhel7-golden.domain.xml")
    root = ET.fromstring((path / "rhel7-golden.domain.xml").read_text())
    assert root.find("./devices/disk/source").get("file") == vol.path()
    assert template.path() == str(path / "rhel7-golden.domain.xml")
    # A second publish replaces the volumes rather than failing on the names.
    assert golden("publish", manifest, "--to", f"libvirt+{URI}/{name}").code == 0
    assert sorted(v.name() for v in p.listAllVolumes(0)) == ["rhel7-golden.domain.xml", "rhel7-golden.qcow2"]


def test_missing_pool_is_an_input_error_naming_it(tmp_path, golden, libvirt_up):
    manifest = make_build(tmp_path / "out")
    missing = f"golden-nopool-{uuid.uuid4().hex[:8]}"
    run = golden("publish", manifest, "--to", f"libvirt+{URI}/{missing}")
    assert run.code == 2
    assert f"there is no storage pool '{missing}' on {URI}" in run.err and "pool-define-as" in run.err


def test_publish_to_a_pool_on_another_host(tmp_path, golden, libvirt_up, tmp_path_factory):
    """A second libvirtd that sees none of this side's paths stands in for a remote host."""
    from second_libvirtd import SecondLibvirtd, default_hidden

    from builder.virt import remote

    manifest = make_build(tmp_path / "out")
    image = tmp_path / "out" / "rhel7-golden.qcow2"
    with SecondLibvirtd(tmp_path_factory.mktemp("ship-remote"),
                        hide=default_hidden([tmp_path_factory.getbasetemp()])) as second:
        conn = second.connect()
        try:
            name = f"golden-ship-{uuid.uuid4().hex[:8]}"
            p = conn.storagePoolCreateXML(f"<pool type='dir'><name>{name}</name><target>"
                                          f"<path>/var/lib/libvirt/images</path></target></pool>", 0)
            run = golden("publish", manifest, "--to", f"libvirt+{second.uri}/{name}", "--json")
            assert run.code == 0, run.err
            p.refresh(0)
            vol = p.storageVolLookupByName("rhel7-golden.qcow2")
            back = tmp_path / "back.qcow2"
            remote.download(conn, vol, back)
            assert back.read_bytes() == image.read_bytes()
            assert vol.path() == "/var/lib/libvirt/images/rhel7-golden.qcow2"
            template = (second.storage_root / "images" / "rhel7-golden.domain.xml").read_text()
            assert ET.fromstring(template).find("./devices/disk/source").get("file") == vol.path()
            for v in p.listAllVolumes(0):
                v.delete(0)
            p.destroy()
        finally:
            conn.close()
