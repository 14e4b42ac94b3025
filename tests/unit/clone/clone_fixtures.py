"""Domain XML and image fixtures for the clone unit tests (no root, no qemu process)."""

from __future__ import annotations

import subprocess
from pathlib import Path

# The shape virt-install leaves after a `golden install` (see images/NAME.build/domain.xml).
TEMPLATE = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>1f310ff1-c1ef-4702-972e-6038e22b5f90</uuid>
  <title>the golden install</title>
  <description>golden image of profile demo</description>
  <memory unit='KiB'>524288</memory>
  <vcpu placement='static'>1</vcpu>
  <sysinfo type='smbios'><system><entry name='uuid'>1f310ff1-c1ef-4702-972e-6038e22b5f90</entry></system></sysinfo>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    {kernel}
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='maximum' check='none'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}' discard='unmap'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/golden/demo.iso'/>
      <target dev='hda' bus='ide'/>
      <readonly/>
    </disk>
    {nics}
    <serial type='pty'>
      <source path='/dev/pts/4'/>
      <log file='/old/build/serial.log'/>
      <target type='isa-serial' port='0'><model name='isa-serial'/></target>
    </serial>
    <console type='pty'>
      <log file='/old/build/serial.log'/>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/demo.org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <graphics type='vnc' port='5901' autoport='no'><listen type='address'/></graphics>
  </devices>
</domain>
"""
NIC = "<interface type='user'><mac address='52:54:00:86:86:91'/><model type='virtio'/></interface>"


def template_xml(disk: Path | str = "/old/build/disk0.qcow2", *, name: str = "demo", nics: int = 1,
                 fmt: str = "qcow2", kernel: str = "") -> str:
    return TEMPLATE.format(name=name, disk=disk, fmt=fmt, nics="\n    ".join([NIC] * nics), kernel=kernel)


def qcow2(path: Path, size: str = "64M") -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return path


def tree(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.stat().st_size for p in sorted(directory.rglob("*"))}
