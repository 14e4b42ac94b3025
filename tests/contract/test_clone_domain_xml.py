"""Clone domain XML, rewritten or generated, is accepted by libvirt's own schema (virt-xml-validate)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from builder.clone import template
from builder.clone.domainxml import CloneSpec, parse, rewrite
from builder.image.osinfo import OSInfo
from tests.unit.clone.clone_fixtures import template_xml

pytestmark = pytest.mark.skipif(shutil.which("virt-xml-validate") is None, reason="virt-xml-validate is missing")


def valid(xml: str, tmp_path: Path) -> None:
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    run = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr + xml


def test_rewritten_clone_validates(tmp_path):
    spec = CloneSpec(name="web-1", uuid="0e6a4c4c-8f4e-4bde-9a3e-35f0a7b0c001",
                     macs=("52:54:00:0a:0b:0c", "52:54:00:0a:0b:0d"), disks=(Path("/c/web-1.qcow2"),),
                     disk_formats=("qcow2",), hostname="web-1", serial_log=Path("/c/web-1.serial.log"),
                     source="/images/demo.qcow2", record=Path("/images/demo.build/clones.json"))
    valid(rewrite(parse(template_xml(nics=2)), spec), tmp_path)


@pytest.mark.parametrize("osi", [None, OSInfo(distro="golden-demo", family="rhel", major=1, minor=0, arch="x86_64"),
                                 OSInfo(distro="rhel", family="rhel", major=3, minor=9, arch="i386")])
def test_generated_template_validates(tmp_path, osi):
    root = template.generate(Path("/images/gold.qcow2"), "qcow2", virt_type="qemu", osi=osi)
    spec = CloneSpec(name="web-1", uuid="0e6a4c4c-8f4e-4bde-9a3e-35f0a7b0c001", macs=("52:54:00:0a:0b:0c",),
                     disks=(Path("/c/web-1.qcow2"),), disk_formats=("qcow2",), hostname="web-1",
                     serial_log=Path("/c/web-1.serial.log"), source="/images/gold.qcow2")
    xml = rewrite(root, spec)
    valid(xml, tmp_path)
    bus = parse(xml).find("./devices/disk/target").get("bus")
    assert bus == ("ide" if osi is not None and osi.major == 3 else "virtio")   # RHEL 3 has no virtio
