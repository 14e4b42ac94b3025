"""Published formats: qemu-img arguments, the OVF descriptor and the OVA tar, read back independently."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

from lxml import etree

from builder.pipeline import formats
from builder.pipeline import publish as pub
from builder.render import ovf

ROOT = Path(__file__).resolve().parents[2]
NS = {"ovf": ovf.OVF, "rasd": ovf.RASD, "vssd": ovf.VSSD}


def _profile(**over):
    base = dict(name="demo", description="demo image", os="rhel7.9", arch="x86_64",
                machine=SimpleNamespace(memory=768, vcpus=2, firmware="bios"),
                network=SimpleNamespace(mode="user", model="e1000"),
                disks=[SimpleNamespace(bus="virtio")],
                output=SimpleNamespace(format="qcow2", compress="zstd", formats=["qcow2", "vmdk", "ova"]))
    base.update(over)
    return SimpleNamespace(**base)


def test_qcow2_compression_and_stream_optimized_vmdk_arguments(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert pub.convert_argv(a, b, "qcow2", "zstd")[4:8] == ["-c", "-o", "compression_type=zstd", str(a)]
    assert "-c" not in pub.convert_argv(a, b, "qcow2", "none")
    assert "-c" not in pub.convert_argv(a, b, "raw", "zstd")        # raw has nothing to compress with
    assert "subformat=streamOptimized" in pub.convert_argv(a, b, "vmdk")


def test_ovf_descriptor_carries_the_profiles_hardware():
    system = formats.ovf_system(_profile())
    root = etree.fromstring(ovf.descriptor(system, [ovf.OvfDisk("demo-disk1.vmdk", 1234, 2 << 30)]))
    assert root.tag == f"{{{ovf.OVF}}}Envelope"
    # DMTF order: References, DiskSection, NetworkSection, then the VirtualSystem.
    assert [etree.QName(c).localname for c in root] == ["References", "DiskSection", "NetworkSection",
                                                        "VirtualSystem"]
    f = root.find("ovf:References/ovf:File", NS)
    assert f.get(f"{{{ovf.OVF}}}href") == "demo-disk1.vmdk" and f.get(f"{{{ovf.OVF}}}size") == "1234"
    disk = root.find("ovf:DiskSection/ovf:Disk", NS)
    assert disk.get(f"{{{ovf.OVF}}}capacity") == str(2 << 30)
    assert disk.get(f"{{{ovf.OVF}}}format").endswith("#streamOptimized")
    os_el = root.find("ovf:VirtualSystem/ovf:OperatingSystemSection", NS)
    assert os_el.get(f"{{{ovf.OVF}}}id") == "80"                  # RedHat Enterprise Linux 64-Bit
    items = root.findall("ovf:VirtualSystem/ovf:VirtualHardwareSection/ovf:Item", NS)
    by_type = {}
    for item in items:
        by_type.setdefault(item.findtext("rasd:ResourceType", namespaces=NS), []).append(item)
        names = [etree.QName(c).localname for c in item]
        assert names == sorted(names)                              # RASD is an alphabetical sequence
    assert by_type["3"][0].findtext("rasd:VirtualQuantity", namespaces=NS) == "2"
    assert by_type["4"][0].findtext("rasd:VirtualQuantity", namespaces=NS) == "768"
    assert by_type["17"][0].findtext("rasd:HostResource", namespaces=NS) == "ovf:/disk/vmdisk1"
    nic = by_type["10"][0]
    assert nic.findtext("rasd:ResourceSubType", namespaces=NS) == "E1000"
    assert nic.findtext("rasd:Connection", namespaces=NS) == "VM Network"


def test_no_network_means_no_adapter():
    system = formats.ovf_system(_profile(network=SimpleNamespace(mode="none", model=None)))
    root = etree.fromstring(ovf.descriptor(system, []))
    assert root.find("ovf:NetworkSection", NS) is None
    assert not [i for i in root.iter(f"{{{ovf.RASD}}}ResourceType") if i.text == "10"]


def test_ova_is_a_tar_with_the_ovf_first_and_a_matching_manifest(tmp_path):
    src = tmp_path / "src.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(src), "64M"], check=True)
    out = tmp_path / "demo.ova"
    formats.write_ova(_profile(), [src], out, tmp_path)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert names == ["demo.ovf", "demo-disk1.vmdk", "demo.mf"]
        blobs = {n: tar.extractfile(n).read() for n in names}
    for line in blobs["demo.mf"].decode().splitlines():
        name, digest = line[len("SHA256("):].split(")= ")
        assert hashlib.sha256(blobs[name]).hexdigest() == digest
    vmdk = tmp_path / "back.vmdk"
    vmdk.write_bytes(blobs["demo-disk1.vmdk"])
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(vmdk)], check=True,
                                     capture_output=True, text=True).stdout)
    assert info["format"] == "vmdk" and info["virtual-size"] == 64 << 20
    assert info["format-specific"]["data"]["create-type"] == "streamOptimized"
    root = etree.fromstring(blobs["demo.ovf"])
    assert root.find("ovf:DiskSection/ovf:Disk", NS).get(f"{{{ovf.OVF}}}capacity") == str(64 << 20)
    assert root.find("ovf:References/ovf:File", NS).get(f"{{{ovf.OVF}}}size") == str(len(blobs["demo-disk1.vmdk"]))


def test_zstd_compressed_qcow2_is_smaller_and_reads_back_the_same(tmp_path):
    src = tmp_path / "src.raw"
    src.write_bytes((b"golden compressible block " * 50000)[: 1 << 20] * 8)
    out = tmp_path / "out.qcow2"
    pub.convert(src, out, "qcow2", "zstd")
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(out)], check=True,
                                     capture_output=True, text=True).stdout)
    assert info["format-specific"]["data"]["compression-type"] == "zstd"
    assert out.stat().st_size < src.stat().st_size // 4
    assert subprocess.run(["qemu-img", "compare", "-q", str(src), str(out)]).returncode == 0
    sizes = pub.compaction([src], out, "zstd")
    assert sizes["published_bytes"] < sizes["sealed_bytes"] and sizes["virtual_size"] == 8 << 20


def test_unknown_compression_or_format_is_an_input_error(golden, tmp_path):
    for field, value in (("compress", "lz4"), ("formats", "[qcow2, iso]")):
        text = (ROOT / "profiles/demo.yaml").read_text().replace(
            "root_password: {file: secrets/root.pass}", f"root_password: {{file: {ROOT}/profiles/secrets/root.pass}}")
        text = text.replace("  format: qcow2\n", f"  format: qcow2\n  {field}: {value}\n")
        prof = tmp_path / f"bad-{field}.yaml"
        prof.write_text(text)
        r = golden("validate", str(prof), cwd=tmp_path)
        assert r.code == 2, (r.out, r.err)
        assert field in (r.err + r.out) and prof.name in (r.err + r.out)


def test_compress_and_formats_validate(golden, tmp_path):
    text = (ROOT / "profiles/demo.yaml").read_text().replace(
        "root_password: {file: secrets/root.pass}", f"root_password: {{file: {ROOT}/profiles/secrets/root.pass}}")
    prof = tmp_path / "good.yaml"
    prof.write_text(text.replace("  format: qcow2\n", "  format: qcow2\n  compress: zstd\n"
                                                      "  formats: [vmdk, vhdx, ova]\n"))
    r = golden("validate", str(prof), cwd=tmp_path)
    assert r.code == 0, r.err


def test_a_compressed_publish_seals_with_compaction_and_keys_it(tmp_path):
    """output.compress adds swap-reset and free-space after the default seal operations, and reruns seal."""
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from profile_factory import representative, write

    from builder.image.seal import OPERATIONS
    from builder.layout import BuildLayout
    from builder.pipeline.build import _seal_only
    from builder.pipeline.keys import compute_keys
    from builder.profile import load

    defaults = [n for n, op in OPERATIONS.items() if op.default]
    for d in "abc":
        (tmp_path / d).mkdir()
    plain = load(write(tmp_path / "a", representative("rhel7.9", output={"dir": str(tmp_path / "out")})))
    packed = load(write(tmp_path / "b", representative("rhel7.9", output={"dir": str(tmp_path / "out"),
                                                                        "compress": "zstd"})))
    chosen = load(write(tmp_path / "c", representative("rhel7.9", seal={"only": ["machine-id"]},
                                                       output={"dir": str(tmp_path / "out"), "compress": "zstd"})))
    assert _seal_only(plain) is None
    assert _seal_only(packed) == defaults + ["swap-reset", "free-space"]
    assert _seal_only(chosen) == ["machine-id"], "a profile's own seal.only is left as it is"
    keys = [compute_keys(x, BuildLayout.for_profile(x.profile, tmp_path), "test:///default", tmp_path)
            for x in (plain, packed)]
    assert keys[0].customize == keys[1].customize and keys[0].seal != keys[1].seal
