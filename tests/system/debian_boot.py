"""Boot a Debian test guest (debian_guest.py) under qemu TCG and read its probe report.

Direct kernel boot of the guest's own kernel and initrd on a qcow2 overlay, so
the cached base disk is never written. Network is qemu user mode with
restrict=on: DHCP works, nothing routes out.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import demo_qemu

# Printed through /dev/kmsg: each line carries the kernel's "[   12.345678] " stamp and
# may follow a getty's "login: " prompt on the same console line.
PROBE_LINE = re.compile(r"(?:^|\] )probe: (.*?)\r?$", re.M)
PROBE_DONE = re.compile(r"(?:^|\] )probe: done", re.M)
# systemd-firstboot waiting for a key on the console: the boot would never finish.
FIRSTBOOT_PROMPT = "-- Press any key to proceed --"
STOP = re.compile(rf"{PROBE_DONE.pattern}|{re.escape(FIRSTBOOT_PROMPT)}", re.M)
# systemd under TCG takes 1-2 minutes to reach multi-user; leave room for a slow host.
BOOT_TIMEOUT = 420


def overlay(base: Path, fmt: str, path: Path) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", fmt, str(path)],
                   check=True, capture_output=True)
    return path


def boot(guest, disk: Path, serial: Path, *, timeout: float = BOOT_TIMEOUT, probe: bool = True) -> demo_qemu.Run:
    """Run until the probe says done and the guest powers off (or timeout); qemu never outlives this."""
    cmdline = guest.cmdline + (" systemd.wants=golden-probe.service" if probe else "")
    args = demo_qemu.base_args(serial, memory=1024) + [
        "-smp", "2", "-kernel", str(guest.kernel), "-initrd", str(guest.initrd), "-append", cmdline,
        "-drive", f"file={disk},format=qcow2,if=virtio",
        "-nic", "user,restrict=on,model=virtio-net-pci"]
    # Poweroff follows the probe within seconds; stop waiting for it after a short grace.
    return demo_qemu.run(args, serial, timeout=timeout, until=STOP if probe else None, grace=15)


def probe_report(run: demo_qemu.Run) -> dict:
    """The probe's `key=value` fields; keys becomes {path: sha256}. Empty when the probe never ran."""
    fields: dict = {}
    for body in PROBE_LINE.findall(run.serial):
        if body.startswith(("failed=", "sshd=")):
            key, _, value = body.partition("=")
            fields[key] = value
            continue
        for item in body.split(" "):
            key, _, value = item.partition("=")
            fields[key] = value
    if "keys" in fields:
        fields["keys"] = dict(k.rsplit(":", 1) for k in fields["keys"].split(",") if k)
    return fields


# Direct kernel boot of the guest's own kernel (the fixtures have no bootloader), a
# serial console and user-mode networking only: golden clone keeps <os> as it is.
_DOMAIN = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>768</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline></os>
  <features><acpi/><apic/></features>
  <cpu mode='maximum' check='none'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
{disks}    <interface type='user'><model type='virtio'/></interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
"""


def domain_xml(name: str, kernel: Path, initrd: Path, cmdline: str, disks: list[Path]) -> str:
    """A libvirt domain booting `kernel` with the qcow2 `disks` as vda, vdb, ..."""
    return _DOMAIN.format(name=name, kernel=kernel, initrd=initrd, cmdline=cmdline, disks="".join(
        f"    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{d}'/>\n"
        f"      <target dev='vd{chr(ord('a') + i)}' bus='virtio'/></disk>\n" for i, d in enumerate(disks)))
