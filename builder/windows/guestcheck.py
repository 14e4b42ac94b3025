"""Is the virtio storage driver installed in a Windows image? Checked offline.

Seed 13 (L4818-4821): "If the drivers are not installed on the guest and
the driver is set to the virtio driver the guest will not boot." So before
`golden virtio` moves a Windows disk to virtio, it opens the image with
libguestfs (read-only) and looks for what a boot from viostor needs:

- %SystemRoot%\\System32\\drivers\\viostor.sys;
- SYSTEM hive: <current control set>\\Services\\viostor, starting at boot
  (Start = 0);
- on XP-7, whose kernels map boot controllers through the
  CriticalDeviceDatabase, an entry for the virtio-blk PCI id.

The network driver (netkvm) is reported too: its service, a staged INF in
the INF folder, or golden's XP/2003 staging folder C:\\Drivers\\NetKVM.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from builder.errors import HostError

REG_DWORD = 4
VIRTIO_BLK_IDS = ("pci#ven_1af4&dev_1001", "pci#ven_1af4&dev_1042")
VIRTIO_NET_IDS = ("VEN_1AF4&DEV_1000", "VEN_1AF4&DEV_1041")


@dataclass
class DriverReport:
    os: str                                   # windows | linux
    storage: bool
    network: bool
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    network_note: str = ""


@contextlib.contextmanager
def guestfs_handle(image: Path, fmt: str | None) -> Iterator:
    """A read-only libguestfs appliance on `image` (TCG unless KVM works)."""
    with guestfs_drives([(image, fmt)]) as g:
        yield g


@contextlib.contextmanager
def guestfs_handles(disks) -> Iterator:
    """One read-only appliance for several DiskFiles, in order (/dev/sda, /dev/sdb, ...)."""
    with guestfs_drives([(d.path, d.format) for d in disks]) as g:
        yield g


@contextlib.contextmanager
def guestfs_drives(drives: list[tuple[Path, str | None]], *, readonly: bool = True) -> Iterator:
    try:
        import guestfs
    except ImportError:
        raise HostError("the libguestfs Python binding is not installed",
                        hint="install python3-guestfs (Debian) or python3-libguestfs") from None
    from builder.virt.accel import guestfs_settings

    settings = guestfs_settings()
    g = guestfs.GuestFS(python_return_dict=True)
    try:
        g.set_backend(settings.get("LIBGUESTFS_BACKEND", "direct"))
        g.set_backend_settings([s for s in settings.get("LIBGUESTFS_BACKEND_SETTINGS", "").split(":") if s])
        for image, fmt in drives:
            opts = {"readonly": readonly}
            if fmt:
                opts["format"] = fmt
            g.add_drive_opts(str(image), **opts)
        try:
            g.launch()
        except RuntimeError as exc:
            names = ", ".join(str(image) for image, _ in drives)
            raise HostError(f"libguestfs could not open {names}: {exc}",
                            hint="run `libguestfs-test-tool` to see why the appliance fails") from None
        yield g
        if not readonly:
            # Written data reaches the disk in shutdown: its failure is the write's failure.
            try:
                g.shutdown()
            except RuntimeError as exc:
                raise HostError(f"libguestfs could not finish writing {drives[0][0]}: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            g.shutdown()
        g.close()


def _path(g, path: str) -> str | None:
    try:
        real = g.case_sensitive_path(path)
    except RuntimeError:
        return None
    return real if g.exists(real) else None


def find_systemroot(g) -> str | None:
    for candidate in ("/Windows", "/WINNT"):
        root = _path(g, candidate)
        if root and g.is_dir(root) and _path(g, f"{root}/system32/config/system"):
            return root
    return None


class _Hive:
    """Read-only navigation of a hive opened in the appliance."""

    def __init__(self, g, path: str):
        self.g = g
        g.hivex_open(path, write=False)
        self.root = g.hivex_root()

    def child(self, node: int, *names: str) -> int:
        for name in names:
            if not node:
                return 0
            node = self.g.hivex_node_get_child(node, name)
        return node

    def children(self, node: int) -> list[str]:
        return [self.g.hivex_node_name(c["hivex_node_h"] if isinstance(c, dict) else c)
                for c in self.g.hivex_node_children(node)]

    def dword(self, node: int, key: str) -> int | None:
        value = self.g.hivex_node_get_value(node, key)
        if not value or self.g.hivex_value_type(value) != REG_DWORD:
            return None
        data = self.g.hivex_value_value(value)
        if isinstance(data, str):
            data = data.encode("latin-1")
        return int.from_bytes(data[:4], "little")

    def string(self, node: int, key: str) -> str | None:
        value = self.g.hivex_node_get_value(node, key)
        if not value:
            return None
        try:
            return self.g.hivex_value_string(value)
        except RuntimeError:
            return None

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.g.hivex_close()


def check_mounted(g, systemroot: str) -> DriverReport:
    """The driver checks on a guest mounted at the appliance's /."""
    report = DriverReport(os="windows", storage=False, network=False)
    sys_file = _path(g, f"{systemroot}/system32/drivers/viostor.sys")
    (report.found if sys_file else report.missing).append(
        f"{systemroot}/System32/drivers/viostor.sys" + ("" if sys_file else " (the viostor driver file)"))
    hive = _Hive(g, _path(g, f"{systemroot}/system32/config/system"))
    try:
        current = hive.dword(hive.child(hive.root, "Select"), "Current") if hive.child(hive.root, "Select") else None
        control_set = f"ControlSet{current or 1:03d}"
        cs = hive.child(hive.root, control_set)
        service = hive.child(cs, "Services", "viostor")
        boot_ok = False
        if service:
            start = hive.dword(service, "Start")
            if start == 0:
                report.found.append(f"SYSTEM\\{control_set}\\Services\\viostor (Start=0, boot)")
                boot_ok = True
            else:
                report.missing.append(f"SYSTEM\\{control_set}\\Services\\viostor starts at boot "
                                      f"(it has Start={start}; a boot disk needs 0)")
        else:
            report.missing.append(f"SYSTEM\\{control_set}\\Services\\viostor (the driver's service)")
        cdd = hive.child(cs, "Control", "CriticalDeviceDatabase")
        cdd_ok = True
        if cdd:
            ids = [n for n in hive.children(cdd) if n.lower().startswith(VIRTIO_BLK_IDS)]
            mapped = [n for n in ids if (hive.string(hive.child(cdd, n), "Service") or "").lower() == "viostor"]
            cdd_ok = bool(mapped)
            if cdd_ok:
                report.found.append(f"CriticalDeviceDatabase\\{mapped[0]} -> viostor")
            else:
                report.missing.append("CriticalDeviceDatabase entry pci#ven_1af4&dev_1001... -> viostor "
                                      "(XP to 7 need it to boot from a new controller)")
        report.storage = bool(sys_file) and boot_ok and cdd_ok
        net_service = hive.child(cs, "Services", "netkvm")
    finally:
        hive.close()
    if net_service:
        report.network = True
        report.network_note = "netkvm service installed"
    else:
        staged = _path(g, "/Drivers/NetKVM/netkvm.inf")
        inf_dir = _path(g, f"{systemroot}/inf")
        packaged = None
        if inf_dir:
            for name in g.ls(inf_dir):
                if name.lower().startswith("oem") and name.lower().endswith(".inf"):
                    text = g.read_file(f"{inf_dir}/{name}")
                    if any(i.encode() in text.upper() for i in VIRTIO_NET_IDS):
                        packaged = name
                        break
        if staged or packaged:
            report.network = True
            report.network_note = (f"netkvm staged in {staged}" if staged else
                                   f"netkvm package {packaged} in the INF folder")
        else:
            report.network_note = "no netkvm driver (service, INF package or C:\\Drivers\\NetKVM)"
    return report


def check_image(image: Path, fmt: str | None = None) -> DriverReport | None:
    """Check a Windows disk image; None when no Windows installation is on it."""
    with guestfs_handle(image, fmt) as g:
        for device, kind in sorted(g.list_filesystems().items()):
            if kind != "ntfs":
                continue
            try:
                g.mount_ro(device, "/")
            except RuntimeError:
                continue
            try:
                root = find_systemroot(g)
                if root:
                    return check_mounted(g, root)
            finally:
                g.umount_all()
    return None

