"""hostdevs: PCI passthrough and SR-IOV virtual functions (guide ch. 15-16, HV-14)."""

from __future__ import annotations

import subprocess

import pytest

from builder.errors import InputError
from builder.pipeline.publish import template_xml
from builder.profile import load
from tests.unit.profile_factory import representative, write
from tests.unit.test_install_cmd import argv_for, opt

NODE_XML = """<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads><active>2</active>
  <mhz>2000</mhz><model>x86_64</model></cpu>
  <memory>4194304</memory>
  <device><name>computer</name><capability type='system'><hardware><vendor>golden</vendor>
    <uuid>11111111-2222-3333-4444-555555555555</uuid></hardware></capability></device>
  <device><name>pci_0000_03_10_0</name><parent>computer</parent>
    <capability type='pci'><domain>0</domain><bus>3</bus><slot>16</slot><function>0</function>
      <product id='0x10ca'>82576 Virtual Function</product><vendor id='0x8086'>Intel</vendor>
      <iommuGroup number='12'><address domain='0x0000' bus='0x03' slot='0x10' function='0x0'/></iommuGroup>
    </capability>
  </device>
  <device><name>pci_0000_05_00_0</name><parent>computer</parent>
    <capability type='pci'><domain>0</domain><bus>5</bus><slot>0</slot><function>0</function>
      <product id='0x10c9'>82576 Gigabit Network Connection</product><vendor id='0x8086'>Intel</vendor></capability>
  </device>
</node>
"""


def test_both_spellings_become_one_hostdev_arg(tmp_path):
    argv, _ = argv_for(tmp_path, hostdevs=[{"pci": "0000:03:10.0"}, {"pci": "pci_0000_04_00_1", "managed": False}])
    assert opt(argv, "--hostdev") == ["pci_0000_03_10_0", "pci_0000_04_00_1,managed=no"]


def test_virt_install_writes_a_valid_hostdev(tmp_path):
    # virt-install itself turns the argv into domain XML, against a test host that has the device.
    node = tmp_path / "node.xml"
    node.write_text(NODE_XML)
    argv, _ = argv_for(tmp_path, hostdevs=[{"pci": "0000:03:10.0"}])
    i = argv.index("--hostdev")
    proc = subprocess.run(["virt-install", "--connect", f"test://{node}", "--name", "hd", "--memory", "512",
                           "--disk", "none", "--import", "--osinfo", "detect=on,require=off", "--print-xml",
                           *argv[i:i + 2]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "<hostdev mode=\"subsystem\" type=\"pci\" managed=\"yes\">" in proc.stdout
    assert 'bus="3" slot="16" function="0"' in proc.stdout
    xml = tmp_path / "dom.xml"
    xml.write_text(proc.stdout)
    assert subprocess.run(["virt-xml-validate", str(xml), "domain"], capture_output=True).returncode == 0
    # the clone template leaves the build host's device behind
    assert "<hostdev" not in template_xml(proc.stdout, "tpl", [])


@pytest.mark.parametrize("bad", ["03:10", "0000:03:20.0", "0000:03:10.8", "pci_8086_3a6c", "0000:3:10.0"])
def test_bad_addresses_are_refused(tmp_path, bad):
    with pytest.raises(InputError) as exc:
        load(write(tmp_path, representative("rhel9.6", hostdevs=[{"pci": bad}])))
    assert "hostdevs" in str(exc.value.lines() if hasattr(exc.value, "lines") else exc.value)


def _refusal(tmp_path, os_id, **over) -> str:
    with pytest.raises(InputError) as exc:
        load(write(tmp_path, representative(os_id, **over)))
    return str(exc.value) + "\n".join(getattr(exc.value, "lines", lambda: [])())


def test_duplicates_refused(tmp_path):
    text = _refusal(tmp_path, "rhel9.6", hostdevs=[{"pci": "0000:03:10.0"}, {"pci": "pci_0000_03_10_0"}])
    assert "hostdevs[1].pci: 0000:03:10.0 is already given by hostdevs[0]" in text


def test_pv_rhel6_guest_refused(tmp_path):
    text = _refusal(tmp_path, "rhel6.10", hypervisor="xen", virt="pv", disks=[{"size": "6G", "bus": "xen"}],
                    network={"mode": "bridge", "source": "xenbr0"},
                    install={"method": "location", "media": "http://mirror.example.com/rhel6/"},
                    hostdevs=[{"pci": "0000:03:10.0"}])
    assert "hostdevs: PCI passthrough to a para-virtualized" in text


def test_plan_names_the_host_steps(tmp_path):
    from builder.plan import make_plan
    plan = make_plan(load(write(tmp_path, representative("rhel9.6", hostdevs=[{"pci": "0000:03:10.0"}]))),
                     cwd=tmp_path)
    note = " ".join(plan.notes)
    assert "setsebool -P virt_use_sysfs 1" in note and "intel_iommu=on" in note and "0000:03:10.0" in note


def test_install_preflight_needs_each_device_on_the_target_host(tmp_path):
    import libvirt

    from builder.errors import HostError
    from builder.layout import BuildLayout
    from builder.virt.install import preflight

    node = tmp_path / "node.xml"
    node.write_text(NODE_XML)
    conn = libvirt.open(f"test://{node}")
    try:
        for pci, ok in (("0000:03:10.0", True), ("0000:04:00.1", False), ("0000:05:00.0", False)):
            loaded = load(write(tmp_path, representative("rhel9.6", output={"dir": str(tmp_path / "out")},
                                                         hostdevs=[{"pci": pci}])))
            layout = BuildLayout.for_profile(loaded.profile, tmp_path)
            if ok:
                preflight(loaded, conn, f"test://{node}", layout)
            else:
                with pytest.raises(HostError) as exc:
                    preflight(loaded, conn, f"test://{node}", layout)
                assert "hostdevs[0].pci" in exc.value.message
                if pci.startswith("0000:04"):           # not on the host at all
                    assert "pci_0000_04_00_1" in exc.value.message and "nodedev-list" in exc.value.hint
                else:                                   # present, but the host runs without its IOMMU
                    assert "IOMMU is off" in exc.value.message and "intel_iommu=on" in exc.value.hint
    finally:
        conn.close()
