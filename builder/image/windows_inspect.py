"""Read a Windows image offline: version, edition, identity, drivers, sysprep state, programs.

One read-only guestfs appliance for a batch of images (ntfs-3g mounts the
system volume inside it; the appliance's hivex reads the SYSTEM and
SOFTWARE hives). Nothing is written. What is read:

- SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion: ProductName, EditionID,
  CurrentMajorVersionNumber/CurrentMinorVersionNumber (10 and later) or
  CurrentVersion, CurrentBuildNumber, CSDVersion (service pack);
- SYSTEM\\<current control set>: ComputerName, Session Manager's
  PROCESSOR_ARCHITECTURE, the viostor and netkvm services;
- the image state: SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State
  ImageState (Vista and later), or for XP/2003 the markers `sysprep -reseal
  -mini` leaves (SYSTEM\\Setup CmdLine "setup -newsetup -mini",
  MiniSetupInProgress, %SystemDrive%\\Sysprep with sysprep.inf);
- installed programs: the Uninstall keys (and WOW6432Node's on 64-bit),
  without the entries Windows itself hides (no DisplayName, SystemComponent=1).
"""

from __future__ import annotations

import contextlib
import struct
import subprocess
import tempfile
from pathlib import Path

from builder.image.diskfile import describe
from builder.windows import guestcheck

REG_SZ, REG_EXPAND_SZ, REG_DWORD = 1, 2, 4
# ImageState values that mean "sysprep /generalize ran; the next boot specializes".
GENERALIZED_STATES = ("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", "IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT")
_ARCH = {"x86": "i386", "amd64": "x86_64", "ia64": "ia64", "arm64": "aarch64"}
_PE_MACHINE = {0x14C: "i386", 0x8664: "x86_64", 0xAA64: "aarch64"}
CURRENT_VERSION = ("Microsoft", "Windows NT", "CurrentVersion")
SETUP_STATE = ("Microsoft", "Windows", "CurrentVersion", "Setup", "State")
UNINSTALL = ("Microsoft", "Windows", "CurrentVersion", "Uninstall")


class _Hive(guestcheck._Hive):
    def path(self, *names: str) -> int:
        return self.child(self.root, *names)

    def subkeys(self, node: int) -> list[tuple[str, int]]:
        out = []
        for c in self.g.hivex_node_children(node):
            h = c["hivex_node_h"] if isinstance(c, dict) else c
            out.append((self.g.hivex_node_name(h), h))
        return out

    def text(self, node: int, key: str) -> str | None:
        """A REG_SZ / REG_EXPAND_SZ value (a DWORD shown as its number), or None."""
        if not node:
            return None
        value = self.g.hivex_node_get_value(node, key)
        if not value:
            return None
        if self.g.hivex_value_type(value) == REG_DWORD:
            return str(self.dword(node, key))
        try:
            return self.g.hivex_value_string(value).rstrip("\0")
        except RuntimeError:
            return None

    def number(self, node: int, key: str) -> int | None:
        return self.dword(node, key) if node else None


@contextlib.contextmanager
def _hive(g, path: str):
    hive = _Hive(g, path)
    try:
        yield hive
    finally:
        hive.close()


def _pe_arch(g, path: str | None) -> str | None:
    """The machine type in a PE executable's header (ntoskrnl.exe says what the OS runs on)."""
    if not path:
        return None
    try:
        head = g.pread(path, 4096, 0)
        (pe,) = struct.unpack_from("<I", head, 0x3C)
        if head[:2] != b"MZ" or head[pe:pe + 4] != b"PE\0\0":
            return None
        (machine,) = struct.unpack_from("<H", head, pe + 4)
    except (RuntimeError, struct.error):
        return None
    return _PE_MACHINE.get(machine)


def _software(g, systemroot: str) -> dict:
    path = guestcheck._path(g, f"{systemroot}/system32/config/software")
    if not path:
        return {"product_name": None, "edition": None, "version": None, "major": None, "minor": None,
                "build": None, "service_pack": None, "installation_type": None, "image_state": None,
                "programs": []}
    with _hive(g, path) as h:
        cv = h.path(*CURRENT_VERSION)
        major, minor = h.number(cv, "CurrentMajorVersionNumber"), h.number(cv, "CurrentMinorVersionNumber")
        if major is None:
            # Before Windows 10 CurrentVersion is the NT version ("6.1"); since 10 it is frozen at 6.3.
            text = h.text(cv, "CurrentVersion") or ""
            head, _, tail = text.partition(".")
            major = int(head) if head.isdigit() else None
            minor = int(tail) if tail.isdigit() else None
        version = f"{major}.{minor}" if major is not None else None
        state = h.text(h.path(*SETUP_STATE), "ImageState")
        programs = []
        for where in (UNINSTALL, ("WOW6432Node",) + UNINSTALL):
            for key, node in h.subkeys(h.path(*where)) if h.path(*where) else []:
                name = h.text(node, "DisplayName")
                if not name or h.number(node, "SystemComponent") == 1:
                    continue
                programs.append({"name": name, "version": h.text(node, "DisplayVersion"),
                                 "publisher": h.text(node, "Publisher"),
                                 "key": "HKLM\\SOFTWARE\\" + "\\".join(where + (key,))})
        return {"product_name": h.text(cv, "ProductName"), "edition": h.text(cv, "EditionID"),
                "version": version, "major": major, "minor": minor,
                "build": h.text(cv, "CurrentBuildNumber") or h.text(cv, "CurrentBuild"),
                "service_pack": h.text(cv, "CSDVersion"), "installation_type": h.text(cv, "InstallationType"),
                "image_state": state,
                "programs": sorted(programs, key=lambda p: (p["name"].casefold(), p["key"]))}


def _system(g, systemroot: str) -> dict:
    with _hive(g, guestcheck._path(g, f"{systemroot}/system32/config/system")) as h:
        current = h.number(h.path("Select"), "Current")
        control_set = f"ControlSet{current or 1:03d}"
        cs = h.path(control_set)
        name_key = ("Control", "ComputerName", "ComputerName")
        env = h.child(cs, "Control", "Session Manager", "Environment")
        setup = h.path("Setup")
        services = {}
        for service in ("viostor", "netkvm"):
            node = h.child(cs, "Services", service)
            services[service] = {"installed": bool(node), "start": h.number(node, "Start") if node else None}
        return {
            "control_set": control_set,
            "computer_name": h.text(h.child(cs, *name_key), "ComputerName"),
            "computer_name_key": "HKLM\\SYSTEM\\" + "\\".join((control_set,) + name_key),
            "processor_architecture": h.text(env, "PROCESSOR_ARCHITECTURE"),
            "setup": {"cmdline": h.text(setup, "CmdLine"),
                      "mini_setup_in_progress": h.number(setup, "MiniSetupInProgress") == 1,
                      "system_setup_in_progress": h.number(setup, "SystemSetupInProgress") == 1},
            "services": services,
        }


def _state(software: dict, system: dict, sysprep_dir: str | None, sysprep_inf: bool) -> dict:
    """Is the image generalized, and what says so."""
    setup = system["setup"]
    if software["image_state"]:
        state = software["image_state"]
        return {"state": state, "generalized": state in GENERALIZED_STATES,
                "source": "HKLM\\SOFTWARE\\" + "\\".join(SETUP_STATE) + "\\ImageState"}
    cmdline = (setup["cmdline"] or "").lower()
    if setup["mini_setup_in_progress"] or "-mini" in cmdline.split():
        # What `sysprep -reseal -mini` leaves on XP/2003: Mini-Setup runs at the next boot.
        return {"state": "mini-setup pending (sysprep -reseal -mini)", "generalized": True,
                "source": "HKLM\\SYSTEM\\Setup CmdLine/MiniSetupInProgress"}
    if setup["system_setup_in_progress"]:
        return {"state": "setup in progress", "generalized": False, "source": "HKLM\\SYSTEM\\Setup"}
    note = f"; {sysprep_dir} present but sysprep did not reseal" if sysprep_dir else ""
    return {"state": "complete (not generalized)" + note, "generalized": False,
            "source": "HKLM\\SYSTEM\\Setup" + (" and " + sysprep_dir if sysprep_inf else "")}


def _read(g, device: str, systemroot: str) -> dict:
    software = _software(g, systemroot)
    system = _system(g, systemroot)
    drivers = guestcheck.check_mounted(g, systemroot)
    sysprep_dir = guestcheck._path(g, "/Sysprep")
    sysprep_inf = bool(sysprep_dir and guestcheck._path(g, "/Sysprep/sysprep.inf"))
    arch = _ARCH.get((system["processor_architecture"] or "").lower()) \
        or _pe_arch(g, guestcheck._path(g, f"{systemroot}/system32/ntoskrnl.exe")) or "unknown"
    state = _state(software, system, "C:\\Sysprep" if sysprep_dir else None, sysprep_inf)
    name = software["product_name"] or "Windows"
    pretty = f"{name} {software['service_pack']}" if software["service_pack"] else name
    findings = []
    if not state["generalized"]:
        findings.append(f"not generalized: {state['state']} ({state['source']}); clones would share "
                        f"its SID and computer name {system['computer_name'] or '?'}")
    if not drivers.storage:
        findings.append("viostor cannot boot this image from a virtio disk: " + "; ".join(drivers.missing))
    return {
        "os": {"type": "windows", "family": "windows", "distro": "windows", "name": name, "pretty_name": pretty,
               "version": software["version"], "major": software["major"], "minor": software["minor"],
               "build": software["build"], "service_pack": software["service_pack"],
               "edition": software["edition"], "installation_type": software["installation_type"],
               "arch": arch},
        "hostname": system["computer_name"],
        "hostname_source": system["computer_name_key"],
        "root": device,
        "systemroot": "C:\\" + systemroot.strip("/"),
        "windows": {
            "image_state": state["state"],
            "generalized": state["generalized"],
            "image_state_source": state["source"],
            "sysprep_folder": sysprep_dir is not None,
            "sysprep_inf": sysprep_inf,
            "setup_cmdline": system["setup"]["cmdline"],
            "control_set": system["control_set"],
            "drivers": {
                "viostor": {**system["services"]["viostor"], "boots_from_virtio": drivers.storage},
                "netkvm": {**system["services"]["netkvm"], "present": drivers.network,
                           "note": drivers.network_note},
            },
        },
        "packages": software["programs"],
        "findings": findings,
    }


def inspect_images(images: list[Path]) -> list[dict | None]:
    """Reports for several images with one appliance; None for an image without Windows."""
    disks = [describe(p) for p in images]
    with guestcheck.guestfs_handles(disks) as g:
        reports: list[dict | None] = []
        devices = g.list_devices()
        for disk, drive in zip(disks, devices):
            # Look at one drive's file systems at a time: clones share everything else.
            found = None
            for device, kind in sorted(g.list_filesystems().items()):
                if not device.startswith(drive) or kind != "ntfs":
                    continue
                try:
                    g.mount_ro(device, "/")
                except RuntimeError:
                    continue
                try:
                    root = guestcheck.find_systemroot(g)
                    if root:
                        found = {"disk": {"format": disk.format, "virtual_size": disk.virtual_size},
                                 **_read(g, device, root)}
                        break
                finally:
                    g.umount_all()
            reports.append(found)
        return reports


def inspect_image(image: Path) -> dict | None:
    return inspect_images([image])[0]


def summary_lines(report: dict) -> list[str]:
    """The human-readable `golden inspect` output for a Windows image."""
    osr, w = report["os"], report["windows"]
    lines = [f"  os:          {osr['pretty_name']} (version {osr['version'] or '?'}, build {osr['build'] or '?'}, "
             f"edition {osr['edition'] or '-'}, {osr['arch']})",
             f"  computer:    {report['hostname'] or '-'} (from {report['hostname_source']})",
             f"  system root: {report['systemroot']} on {report['root']}",
             f"  image state: {w['image_state']} - {'generalized' if w['generalized'] else 'NOT generalized'}"]
    drv = w["drivers"]
    lines.append(f"  viostor:     {'installed' if drv['viostor']['installed'] else 'not installed'}"
                 f"{', boots from virtio' if drv['viostor']['boots_from_virtio'] else ''}")
    lines.append(f"  netkvm:      {drv['netkvm']['note']}")
    lines.append(f"  programs:    {len(report['packages'])}")
    lines += [f"    - {p['name']} {p['version'] or ''}".rstrip() for p in report["packages"]]
    return lines


class _DiskReader:
    """Random reads of an image's guest-visible bytes: the file itself for raw, `qemu-img dd` otherwise."""

    def __init__(self, disk):
        self.disk = disk
        self.pos = 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos if whence == 0 else self.pos + pos if whence == 1 else self.disk.virtual_size + pos
        return self.pos

    def read(self, size: int) -> bytes:
        data = self.pread(self.pos, size)
        self.pos += len(data)
        return data

    def pread(self, offset: int, size: int) -> bytes:
        if self.disk.format == "raw":
            with open(self.disk.path, "rb") as f:
                f.seek(offset)
                return f.read(size)
        # qemu-img dd counts in blocks of bs: read whole 512-byte sectors around the range.
        # Its count is where the copy ends, counted from the start of the disk, not after skip.
        first, last = offset // 512, (offset + size + 511) // 512
        with tempfile.TemporaryDirectory(prefix="golden-dd-") as tmp:
            # qemu-img dd creates its output file itself: give it a fresh name.
            out = Path(tmp) / "sectors"
            r = subprocess.run(["qemu-img", "dd", "-f", self.disk.format, "-O", "raw", "bs=512",
                                f"skip={first}", f"count={last}", f"if={self.disk.path}",
                                f"of={out}"], capture_output=True, timeout=60)
            if r.returncode != 0:
                raise OSError(r.stderr.decode(errors="replace").strip() or "qemu-img dd failed")
            data = out.read_bytes()
        start = offset - first * 512
        return data[start:start + size]


def holds_ntfs(image: Path) -> bool:
    """Does the disk hold an NTFS file system? Read from the host in milliseconds, any image format.

    Lets `golden inspect` and `golden clone` go straight to the Windows
    reader (one appliance) instead of first looking for a Linux root.
    """
    from builder.image.partitions import PartitionTableError, data_partitions, read_table

    disk = describe(image)
    reader = _DiskReader(disk)
    try:
        table = read_table(reader, disk.virtual_size)
        starts = [p.start for p in data_partitions(table)] or [0]
        # An NTFS boot sector names its file system at byte 3 (the OEM id).
        return any(reader.pread(start + 3, 8) == b"NTFS    " for start in starts)
    except (OSError, PartitionTableError, subprocess.SubprocessError):
        return False
