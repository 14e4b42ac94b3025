"""`golden virtio`: move a defined, shut-off guest's disks and NICs to virtio.

Seed 13.3/13.4: change `bus='ide'` to `bus='virtio'` - but only once the
driver is installed, because "the guest will not boot" otherwise
(L4818-4821, F-11). golden checks that offline first: in a Windows image
the viostor driver file and its boot-start service (guestcheck.py), in a
Linux image virtio_pci and virtio_blk built in or in every initramfs
(initramfs.py). It refuses, naming what is missing, when the check fails.
NICs move only when the guest has a virtio network driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from builder.errors import InputError
from builder.profile.effective import disk_letters
from builder.windows import guestcheck, initramfs
from builder.windows.guestcheck import DriverReport


_OSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"


@dataclass
class SwitchResult:
    domain: str
    report: DriverReport
    disks: list[tuple[str, str]] = field(default_factory=list)     # (old target, new target)
    nics: list[tuple[str, str]] = field(default_factory=list)      # (mac, old model)
    skipped_nics: str = ""


def guest_os(root) -> str | None:
    """windows | linux from the libosinfo metadata virt-install writes, if present."""
    os_el = root.find(f"./metadata/{{{_OSINFO_NS}}}libosinfo/{{{_OSINFO_NS}}}os")
    if os_el is None:
        return None
    return "windows" if "microsoft.com" in (os_el.get("id") or "") else "linux"


def boot_disk(root):
    """The disk the guest boots from: the one with boot order 1, else the first disk."""
    disks = root.findall("./devices/disk[@device='disk']")
    if not disks:
        raise InputError("the guest has no disk")
    for disk in disks:
        boot = disk.find("boot")
        if boot is not None and boot.get("order") == "1":
            return disk
    return disks[0]


def _disk_path(disk) -> tuple[Path, str | None]:
    source = disk.find("source")
    path = source.get("file") or source.get("dev") if source is not None else None
    if not path:
        raise InputError("the boot disk is not a file or block device golden can inspect offline")
    driver = disk.find("driver")
    return Path(path), (driver.get("type") if driver is not None else None)


def _text(guest, path: str) -> str:
    return guest.read_text(path) if guest.exists(path) else ""


def check_linux(image: Path) -> DriverReport:
    from builder.image.access import open_image

    report = DriverReport(os="linux", storage=False, network=False)
    with open_image(image, readonly=True) as guest:
        kernels = sorted(p.rsplit("/vmlinuz-", 1)[1] for p in guest.glob("/boot/vmlinuz-*")
                         if "rescue" not in p)
        if not kernels:
            report.missing.append("a kernel in /boot (vmlinuz-*)")
            return report
        ok = True
        for kver in kernels:
            have = initramfs.builtin_modules(_text(guest, f"/lib/modules/{kver}/modules.builtin"),
                                             _text(guest, f"/boot/config-{kver}"))
            initrd = next((p for p in (f"/boot/initramfs-{kver}.img", f"/boot/initrd-{kver}.img",
                                       f"/boot/initrd.img-{kver}") if guest.exists(p)), None)
            if initrd and not set(initramfs.REQUIRED) <= have:
                try:
                    have |= initramfs.modules_in(initramfs.member_names(guest.read(initrd)))
                except ValueError as exc:
                    report.missing.append(f"{initrd}: {exc}")
            where = f"built in or in {initrd}" if initrd else "built in (no initramfs)"
            lacking = [m for m in initramfs.REQUIRED if m not in have]
            if lacking:
                ok = False
                report.missing.append(f"kernel {kver}: {', '.join(lacking)} not {where}")
            else:
                report.found.append(f"kernel {kver}: {', '.join(initramfs.REQUIRED)} {where}")
            # virtio_net is loaded after boot from /lib/modules.
            if guest.glob(f"/lib/modules/{kver}/kernel/drivers/net/virtio_net.ko*") or "virtio_net" in \
                    initramfs.modules_in(["/" + line for line in
                                          _text(guest, f"/lib/modules/{kver}/modules.builtin").split()]):
                report.network = True
        report.storage = ok
        report.network_note = "virtio_net present" if report.network else "no virtio_net module"
    return report


def rewrite(root, switch_nics: bool) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Move every non-virtio disk to virtio (new vdX names) and, if asked, NICs; in place."""
    used = {t.get("dev") for t in root.iterfind("./devices/disk/target")}
    disks, nics = [], []
    n = 0
    for disk in root.iterfind("./devices/disk[@device='disk']"):
        target = disk.find("target")
        if target is None or target.get("bus") == "virtio":
            continue
        while "vd" + disk_letters(n) in used:
            n += 1
        new = "vd" + disk_letters(n)
        used.add(new)
        old = target.get("dev")
        target.set("dev", new)
        target.set("bus", "virtio")
        address = disk.find("address")
        if address is not None:       # an IDE/SATA drive address means nothing on PCI
            disk.remove(address)
        disks.append((old, new))
    if switch_nics:
        for iface in root.iterfind("./devices/interface"):
            model = iface.find("model")
            old = model.get("type") if model is not None else "default"
            if old == "virtio":
                continue
            if model is None:
                model = etree.SubElement(iface, "model")
            model.set("type", "virtio")
            mac = iface.find("mac")
            nics.append((mac.get("address") if mac is not None else "?", old))
    return disks, nics


def switch(conn, domain: str, *, check=None) -> SwitchResult:
    """Check the guest's drivers offline, then redefine it with virtio disks (and NICs)."""
    import libvirt

    from builder.virt.connection import lookup_domain

    dom = lookup_domain(conn, domain)
    if dom is None:
        raise InputError(f"no domain named {domain!r}", hint="list them with `virsh list --all`")
    if dom.isActive():
        raise InputError(f"{domain} is running; its disks can only be inspected and moved while it is "
                         "shut off", hint=f"shut it down first: virsh shutdown {domain}")
    root = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
    image, fmt = _disk_path(boot_disk(root))
    if not image.exists():
        raise InputError(f"the boot disk {image} does not exist on this host",
                         hint="run golden virtio on the host that holds the guest's disks")
    report = (check or _check)(image, fmt, guest_os(root))
    if not report.storage:
        what = "viostor" if report.os == "windows" else "virtio_blk/virtio_pci"
        raise InputError(
            f"{domain}: the virtio storage driver ({what}) is not installed in {image}, so the guest "
            f"would not boot from a virtio disk (seed 13, F-11). Missing: " + "; ".join(report.missing),
            hint=("install virtio-win first: `golden drivers attach " + domain + " --iso DRIVERS.iso`, "
                  "boot, run the viostor installer (RHEV-Block.msi / virtio-win-gt), shut down, retry"
                  if report.os == "windows" else
                  "rebuild the initramfs with virtio drivers (dracut --add-drivers 'virtio_blk virtio_pci' "
                  "or mkinitrd --with virtio_blk --with virtio_pci), shut down, retry"))
    disks, nics = rewrite(root, switch_nics=report.network)
    if disks or nics:
        conn.defineXML(etree.tostring(root, encoding="unicode"))
    return SwitchResult(domain=domain, report=report, disks=disks, nics=nics,
                        skipped_nics="" if report.network else report.network_note)


def _check(image: Path, fmt: str | None, os_hint: str | None) -> DriverReport:
    if os_hint == "windows":
        report = guestcheck.check_image(image, fmt)
        if report is None:
            raise InputError(f"no Windows installation found in {image}")
        return report
    if os_hint == "linux":
        return check_linux(image)
    try:
        return check_linux(image)
    except InputError:
        report = guestcheck.check_image(image, fmt)
        if report is None:
            raise InputError(f"neither a Linux root nor a Windows installation was found in {image}",
                             hint="is the first disk the guest's system disk?") from None
        return report
