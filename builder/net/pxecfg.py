"""Boot loader configs of a PXE tree, as text: pxelinux for BIOS, grub for UEFI.

Each loader first asks the TFTP server for a file named after the booting
NIC's MAC, then falls back to a shared default. golden writes the install
entry only into the per-host file; the default says so on the console and
hands the machine back to the firmware, so a machine nobody planned for is
never reinstalled by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.net.mac import dashed, grub_name, pxelinux_name

SERIAL_SPEED = 115200


@dataclass(frozen=True)
class HostBoot:
    """What one machine, known by its MAC, boots."""

    mac: str
    profile: str
    title: str                  # the OS, for the menu
    kernel: str                 # paths relative to the TFTP root
    initrd: str
    args: tuple[str, ...]       # installer arguments: kickstart, repo, console, extra
    ksdevice: bool = False      # RHEL 3-6 Anaconda: pick the NIC that PXE-booted (ksdevice=bootif)

    @property
    def bootif(self) -> str:
        return f"BOOTIF=01-{dashed(self.mac)}"


def _header(what: str) -> list[str]:
    return [f"# {what}", "# Written by golden (`golden pxe tree`); regenerate rather than edit."]


def pxelinux_default() -> str:
    lines = _header("pxelinux default: machines without a per-host file (pxelinux.cfg/01-<mac>) land here") + [
        f"SERIAL 0 {SERIAL_SPEED}",
        "SAY golden-pxe: no per-host config for this machine in pxelinux.cfg/; booting the next device",
        "DEFAULT local",
        "PROMPT 0",
        "LABEL local",
        "  LOCALBOOT 0",
    ]
    return "\n".join(lines) + "\n"


def pxelinux_host(h: HostBoot) -> str:
    args = [f"initrd={h.initrd}", *h.args]
    if h.ksdevice:
        args.append("ksdevice=bootif")
    lines = _header(f"pxelinux per-host config for {h.mac}: install {h.profile} ({h.title})") + [
        f"SERIAL 0 {SERIAL_SPEED}",
        f"SAY golden-pxe: per-host config {pxelinux_name(h.mac)}: installing {h.profile}",
        "DEFAULT install",
        "PROMPT 0",
        "LABEL install",
        f"  KERNEL {h.kernel}",
        f"  APPEND {' '.join(args)}",
        # Appends BOOTIF=01-<mac>: the installer configures the NIC it booted from.
        "  IPAPPEND 2",
    ]
    return "\n".join(lines) + "\n"


def _grub_console() -> list[str]:
    return [f"serial --unit=0 --speed={SERIAL_SPEED}",
            "terminal_input serial console",
            "terminal_output serial console"]


def grub_default() -> str:
    lines = _header("grub default: UEFI machines without a per-host file (grub.cfg-01-<mac>) land here")
    lines += _grub_console() + [
        "echo 'golden-pxe: no per-host config for this machine in grub/; booting the next device'",
        "sleep 3",
        "exit",
    ]
    return "\n".join(lines) + "\n"


def grub_host(h: HostBoot) -> str:
    # No IPAPPEND in grub: the per-host file knows the MAC, so it names it.
    args = [*h.args, h.bootif]
    if h.ksdevice:
        args.append("ksdevice=bootif")
    lines = _header(f"grub per-host config for {h.mac}: install {h.profile} ({h.title})")
    lines += _grub_console() + [
        "set timeout=0",
        "set default=0",
        f"echo 'golden-pxe: per-host config {grub_name(h.mac)}: installing {h.profile}'",
        f"menuentry 'Install {h.profile}' {{",
        f"    linux /{h.kernel} {' '.join(args)}",
        f"    initrd /{h.initrd}",
        "}",
    ]
    return "\n".join(lines) + "\n"
