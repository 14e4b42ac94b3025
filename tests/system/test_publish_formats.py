"""The installed demo disk published with zstd and as qcow2, vmdk and ova, each read back by qemu-img/tar/lxml."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest
from lxml import etree

from builder.fsutil import sha256_file
from builder.pipeline import formats
from builder.pipeline import publish as pub
from builder.profile import load
from builder.render import ovf

pytestmark = pytest.mark.system
NS = {"ovf": ovf.OVF, "rasd": ovf.RASD}


def qemu_info(path):
    r = subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def same_content(a, b):
    return subprocess.run(["qemu-img", "compare", "-q", str(a), str(b)]).returncode == 0


def test_publish_zstd_qcow2_vmdk_ova(demo_install, tmp_path):
    loaded = load(demo_install.profile)
    p = loaded.profile
    p = p.model_copy(update={"output": p.output.model_copy(update={"compress": "zstd",
                                                                   "formats": ["qcow2", "vmdk", "ova"]})})
    disk = demo_install.disk                      # read only: every conversion reads it
    before = sha256_file(disk)
    publication = pub.Publication()
    main = tmp_path / f"{p.name}.qcow2"
    staged = publication.stage(main)
    pub.convert(disk, staged, "qcow2", "zstd")
    image = pub.image_info(staged, "qcow2")
    image["path"] = str(main)
    sizes = pub.compaction([disk], staged, "zstd")
    made = formats.publish_formats(p, [disk], tmp_path, publication, image)
    publication.commit()
    assert sha256_file(disk) == before

    assert [m["format"] for m in made] == ["qcow2", "vmdk", "ova"]
    for m in made:
        assert sha256_file(m["path"]) == m["sha256"]
    assert sizes["published_bytes"] < sizes["sealed_bytes"]

    info = qemu_info(main)
    assert info["format"] == "qcow2" and info["format-specific"]["data"]["compression-type"] == "zstd"
    subprocess.run(["qemu-img", "check", "-q", str(main)], check=True)
    assert same_content(disk, main)

    vmdk = tmp_path / f"{p.name}.vmdk"
    info = qemu_info(vmdk)
    assert info["format-specific"]["data"]["create-type"] == "streamOptimized"
    assert same_content(disk, vmdk)

    ova = tmp_path / f"{p.name}.ova"
    with tarfile.open(ova) as tar:
        names = tar.getnames()
        assert names[0] == f"{p.name}.ovf"
        root = etree.fromstring(tar.extractfile(names[0]).read())
        inner = tmp_path / "inner.vmdk"
        with tar.extractfile(f"{p.name}-disk1.vmdk") as src, open(inner, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    assert same_content(disk, inner)
    hw = root.find("ovf:VirtualSystem/ovf:VirtualHardwareSection", NS)
    quantities = {i.findtext("rasd:ResourceType", namespaces=NS): i.findtext("rasd:VirtualQuantity", namespaces=NS)
                  for i in hw.findall("ovf:Item", NS)}
    assert quantities["3"] == str(p.machine.vcpus) and quantities["4"] == str(int(p.machine.memory))
    assert "10" in quantities                      # the profile's NIC
