"""The log files of a libvirt domain on this machine, found through the libvirt API read-only."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from builder.errors import InputError
from builder.virt import connection

QEMU_LOG_DIR = Path("/var/log/libvirt/qemu")
XEN_LOG_DIR = Path("/var/log/xen")


def domain_logs(name: str, uri: str, *, qemu_log_dir: Path = QEMU_LOG_DIR) -> list[Path]:
    """qemu's log, the serial and console logs the XML names, and golden's build folder logs."""
    if not connection.is_local(uri):
        raise InputError("golden diagnose reads log files on this machine; the domain lives on another host",
                         where=uri, hint="copy its logs (/var/log/libvirt/qemu/NAME.log, the serial log) "
                                         "here and run `golden diagnose FOLDER`")
    import libvirt

    with connection.connection(uri, readonly=True) as conn:
        dom = connection.lookup_domain(conn, name)
        if dom is None:
            raise InputError("no such log file, folder or libvirt domain", where=name,
                             hint=f"give a path, or a domain from `virsh -c {uri} list --all`")
        root = ET.fromstring(dom.XMLDesc(0 if dom.isActive() else libvirt.VIR_DOMAIN_XML_INACTIVE))
    paths: list[Path] = []
    if uri.startswith("qemu"):
        paths.append(qemu_log_dir / f"{name}.log")
    elif uri.startswith("xen"):
        paths += [XEN_LOG_DIR / n for n in ("xend.log", "xend-debug.log", "xen-hotplug.log")]
    for dev in root.findall("./devices/serial") + root.findall("./devices/console"):
        log = dev.find("log")
        if log is not None and log.get("file"):
            paths.append(Path(log.get("file")))
        src = dev.find("source")
        if dev.get("type") == "file" and src is not None and src.get("path"):
            paths.append(Path(src.get("path")))
    for disk in root.findall("./devices/disk/source"):
        paths += _build_folder_logs(disk.get("file"))
    seen: set[Path] = set()
    return [p for p in paths if not (p in seen or seen.add(p))]


def _build_folder_logs(disk: str | None) -> list[Path]:
    """A disk inside a golden build folder: the logs its build record names."""
    if not disk or not Path(disk).parent.name.endswith(".build"):
        return []
    build = Path(disk).parent
    out = [build / "virt-install.log"]
    try:
        record = json.loads((build / "install.json").read_text(encoding="utf-8"))
        out.append(Path(record.get("serial_log") or build / "serial.log"))
    except (OSError, ValueError):
        out.append(build / "serial.log")
    return [p for p in out if p.exists()]
