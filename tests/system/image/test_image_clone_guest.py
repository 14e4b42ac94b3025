"""Inside a clone of a RHEL-like disk (seed 33.18-33.19), with libvirt and Xen config targets.

The disks come from guestimages (a RHEL 7 layout with NetworkManager-era
ifcfg pins, a RHEL 6 LVM layout with hard-linked ifcfg files and a static
address). They carry no domain XML, so golden generates one; the Xen test
writes config files and checks the bridge inside a network namespace the
test makes, where xenbr0 exists.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

import guestimages as gi
import netns
from builder.clone.batch import clone_batch
from builder.clone.domainxml import parse
from builder.clone import xenconfig
from builder.image import open_image
from demo_build import undefine, unique_name
from tests.conftest import GOLDEN

pytestmark = pytest.mark.system


@pytest.fixture
def vmdir(vm_dirs, libvirt_up):
    return vm_dirs("clone-guest")


def _inside(disk: str) -> dict:
    with open_image(disk, readonly=True) as g:
        out = {p: g.read_text(p) for p in ("/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/hosts",
                                            "/etc/sysconfig/network")}
        out["hostname"] = g.read_text("/etc/hostname") if g.is_file("/etc/hostname") else None
        out["machine-id"] = g.read_text("/etc/machine-id") if g.is_file("/etc/machine-id") else None
        out["ssh"] = g.glob("/etc/ssh/ssh_host_*")
        out["hardlink"] = g.read_text("/etc/sysconfig/networking/devices/ifcfg-eth0") \
            if g.is_file("/etc/sysconfig/networking/devices/ifcfg-eth0") else None
    return out


def test_rhel7_clones_get_their_names_macs_and_a_reset_identity(base_images, vmdir):
    gold = gi.copy_image(base_images["rhel7"], vmdir / "rhel7.raw")
    prefix = unique_name("t-r7")
    events = []
    try:
        made = clone_batch(gold, f"{prefix}-{{n}}", 2, directory=vmdir / "clones", on_event=events.append)
        full = clone_batch(gold, f"{prefix}-{{n}}", 1, first=3, linked=False, hwaddr="remove",
                           directory=vmdir / "clones")
        import libvirt
        conn = libvirt.open("qemu:///system")
        xml = parse(conn.lookupByName(made[0].name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        full_xml = parse(conn.lookupByName(full[0].name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        conn.close()
        inside = {r.name: _inside(r.disks[0]) for r in made + full}
    finally:
        for n in (1, 2, 3):
            undefine(f"{prefix}-{n}")
    assert any("domain XML from generated" in e for e in events)
    # The generated domain: what the catalog says RHEL 7.9 takes, on this host's accelerator.
    assert xml.find("./devices/disk/target").get("bus") == "virtio"
    assert xml.find("./devices/disk/driver").get("type") == "qcow2"
    assert xml.find("./devices/serial/log").get("file") == str(vmdir / "clones" / f"{made[0].name}.serial.log")
    assert full_xml.find("./devices/disk/driver").get("type") == "raw" and full[0].disks[0].endswith(".img")
    for r in made:
        got = inside[r.name]
        ifcfg = got["/etc/sysconfig/network-scripts/ifcfg-eth0"]
        assert f'HWADDR="{r.macs[0].upper()}"' in ifcfg               # the source's quoting and case
        assert "UUID=" not in ifcfg and f'DHCP_HOSTNAME="{r.name}"' in ifcfg
        assert got["hostname"] == r.name + "\n"
        assert f"HOSTNAME={r.name}" in got["/etc/sysconfig/network"]
        hosts = [line.split() for line in got["/etc/hosts"].splitlines()]
        assert ["192.168.122.10", r.name] in hosts and "rhel7-golden" not in got["/etc/hosts"]
        assert got["machine-id"] == "" and got["ssh"] == []        # RHEL 7: systemd 219 wants an empty file
    assert "HWADDR" not in inside[full[0].name]["/etc/sysconfig/network-scripts/ifcfg-eth0"]
    assert len({r.macs[0] for r in made + full}) == 3


def test_xen_config_clone_checks_the_bridge_and_personalizes_the_disk(base_images, vmdir):
    gold = gi.copy_image(base_images["rhel6"], vmdir / "rhel6.raw")
    cfg = vmdir / "rhel6pv"
    cfg.write_text(f"""# Xen PV guest
name = "rhel6pv"
uuid = "{uuid.uuid4()}"
memory = 512
bootloader = "/usr/bin/pygrub"
disk = [ "tap:aio:{gold},xvda,w" ]
vif = [ "mac=00:16:3e:11:22:33,bridge=xenbr0" ]
""")
    args = [str(GOLDEN), "clone", str(cfg), "--name", "r6-{n}", "--count", "2", "--json"]
    before = sorted(p.name for p in vmdir.iterdir())
    outside = subprocess.run(args, capture_output=True, text=True)
    assert outside.returncode == 2 and "bridge xenbr0 does not exist" in outside.stderr
    assert sorted(p.name for p in vmdir.iterdir()) == before
    with netns.namespace("golden-xen-") as ns:
        netns.ip(ns, "link", "add", "xenbr0", "type", "bridge")
        run = subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    made = json.loads(run.stdout)
    for r in made:
        config = xenconfig.read(Path(r["config"]))
        assert config.name == r["name"] and config.values["uuid"] == r["uuid"]
        (vif,) = config.vifs()
        assert vif["bridge"] == "xenbr0" and vif["mac"] == r["macs"][0]
        assert vif["mac"].startswith("00:16:3e:") and int(vif["mac"].split(":")[3], 16) <= 0x7F
        (disk,) = config.disks()
        assert (disk["kind"], disk["path"]) == ("tap:qcow2:", r["disks"][0])
        assert config.text.startswith("# Xen PV guest\n")
        got = _inside(r["disks"][0])
        assert f"HOSTNAME={r['name']}" in got["/etc/sysconfig/network"]
        ifcfg = got["/etc/sysconfig/network-scripts/ifcfg-eth0"]
        assert f"HWADDR={r['macs'][0].upper()}" in ifcfg and f"DHCP_HOSTNAME={r['name']}" in ifcfg
        assert got["hardlink"] == ifcfg                        # RHEL 6's second name for the file
        assert any("static IPADDR=192.168.122.20" in n for n in r["notes"])
    assert made[0]["macs"] != made[1]["macs"]
