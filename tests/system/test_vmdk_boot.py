"""The demo install published as a streamOptimized vmdk boots under plain qemu into the demo system's init.

qemu-img reading the vmdk back (test_publish_formats) shows the bytes are
there; this shows the file a user imports elsewhere is a whole bootable disk.
qemu opens only the vmdk (no qcow2 in the chain): snapshot=on sends the
guest's writes to a throwaway overlay, because a streamOptimized vmdk is
written sequentially once and qemu cannot update it in place.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from builder.pipeline import formats
from builder.pipeline import publish as pub
from builder.profile import load
from demo_boot import IDENTITY, parse_identity
from demo_qemu import base_args, run

pytestmark = pytest.mark.system
# The profile's disk bus as a qemu -drive interface.
DRIVE_IF = {"virtio": "virtio", "ide": "ide", "sata": "ide"}


def test_published_vmdk_boots_and_prints_its_identity(demo_install, tmp_path):
    p = load(demo_install.profile).profile
    p = p.model_copy(update={"output": p.output.model_copy(update={"formats": ["vmdk"]})})
    publication = pub.Publication()
    made = formats.publish_formats(p, [demo_install.disk], tmp_path, publication, main={})
    publication.commit()
    vmdk = Path(made[0]["path"])
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(vmdk)], capture_output=True,
                                     text=True, check=True).stdout)
    assert info["format"] == "vmdk" and info["format-specific"]["data"]["create-type"] == "streamOptimized"

    smbios_uuid = str(uuid.uuid4())
    mac = demo_install.result["mac"]        # the installed NIC's MAC, so the guest names it eth0
    serial = tmp_path / "serial.log"
    args = base_args(serial, memory=int(p.machine.memory)) + [
        "-smp", str(p.machine.vcpus), "-uuid", smbios_uuid,
        "-drive", f"file={vmdk},format=vmdk,if={DRIVE_IF[p.disks[0].bus]},snapshot=on",
        # user mode with restrict=on: the guest's DHCP gets an answer, nothing leaves the host.
        "-nic", f"user,restrict=on,model=virtio-net-pci,mac={mac}",
    ]
    boot = run(args, serial, timeout=600, until=IDENTITY)
    tail = "\n".join(boot.serial.splitlines()[-20:])
    line = next((ln for ln in boot.serial.splitlines() if IDENTITY.search(ln)), None)
    assert line, f"no golden-identity line from the vmdk boot within {boot.seconds:.0f} s:\n{tail}"
    print(f"vmdk boot: {boot.seconds:.1f} s: {line}")
    identity = parse_identity(line)
    # Printed by the installed system's /sbin/init from its root file system: userspace, off the vmdk.
    assert identity["hostname"] == p.kickstart.network.hostname
    assert identity["mac"].lower() == mac.lower() and identity["nic"] == "eth0"
    assert identity["uuid"] == smbios_uuid, "the SMBIOS UUID is the one this qemu was given"
