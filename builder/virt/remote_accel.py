"""Does KVM work on a remote libvirt host? Asked through libvirt, never assumed.

The same question accel.py asks of this machine, asked of another one: its
capabilities can offer kvm domains while qemu hangs or asserts there. Through
the connection alone, golden boots two throw-away guests with
`<domain type='kvm'>` and host-passthrough CPU (the model installs use):
a boot sector that prints a line on the serial port, then a Linux kernel up
to its panic. Their serial output comes back through a storage volume.
The answer is cached per host for a few hours.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from xml.etree import ElementTree as ET

from builder import paths
from builder.virt import accel, remote

_MARKER = b"golden-accel-ok"
_TIMEOUT = 20.0
CACHE_SECONDS = 6 * 3600


def _boot_sector() -> bytes:
    """Real-mode code: print the marker on COM1, then halt."""
    code = bytearray()
    code += b"\x31\xc0\x8e\xd8\xfc"           # xor ax,ax ; mov ds,ax ; cld
    msg_at = len(code) + 3 + 3 + 1 + 2 + 2 + 1 + 2 + 1 + 1 + 2
    code += b"\xbe" + (0x7C00 + msg_at).to_bytes(2, "little")   # mov si, msg
    code += b"\xba\xf8\x03"                   # mov dx, 0x3f8
    code += b"\xac\x84\xc0\x74\x03\xee\xeb\xf8"   # lodsb ; test al,al ; jz done ; out dx,al ; jmp lodsb
    code += b"\xfa\xf4\xeb\xfc"               # done: cli ; hlt ; jmp done
    assert len(code) == msg_at
    code += _MARKER + b"\r\n\x00"
    sector = bytearray(4096)
    sector[: len(code)] = code
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def kvm_offered(conn, arch: str = "x86_64") -> bool:
    root = ET.fromstring(conn.getCapabilities())
    return any(d.get("type") == "kvm" for g in root.findall("./guest")
               if g.find("arch") is not None and g.find("arch").get("name") == arch
               for d in g.findall("./arch/domain"))


def _host_key(conn, uri: str) -> str:
    root = ET.fromstring(conn.getCapabilities())
    return f"{uri} {conn.getHostname()} {root.findtext('./host/uuid') or ''}"


def _cache_file() -> Path:
    return paths.cache_dir() / "accel-remote.json"


def _cached(key: str) -> accel.AccelResult | None:
    try:
        entry = json.loads(_cache_file().read_text()).get(key)
    except (OSError, ValueError):
        return None
    if not entry or time.time() - entry.get("at", 0) > CACHE_SECONDS:
        return None
    with contextlib.suppress(TypeError):
        return accel.AccelResult(**entry["result"])
    return None


def _store(key: str, result: accel.AccelResult) -> None:
    cache = _cache_file()
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        data = {}
    data[key] = {"at": time.time(), "result": asdict(result)}
    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, cache)


def _domain_xml(name: str, log: str, disk: str | None = None, kernel: str | None = None) -> str:
    root = ET.Element("domain", type="kvm")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "memory", unit="MiB").text = "256"
    ET.SubElement(root, "vcpu").text = "1"
    os_el = ET.SubElement(root, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    if kernel:
        ET.SubElement(os_el, "kernel").text = kernel
        ET.SubElement(os_el, "cmdline").text = "console=ttyS0 panic=-1 rdinit=/golden-no-init init=/golden-no-init"
    else:
        ET.SubElement(os_el, "boot", dev="hd")
    ET.SubElement(root, "cpu", mode="host-passthrough")
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        ET.SubElement(root, event).text = "destroy"
    devices = ET.SubElement(root, "devices")
    if disk:
        d = ET.SubElement(devices, "disk", type="file", device="disk")
        ET.SubElement(d, "driver", name="qemu", type="raw")
        ET.SubElement(d, "source", file=disk)
        ET.SubElement(d, "target", dev="hda", bus="ide")
    serial = ET.SubElement(devices, "serial", type="file")
    ET.SubElement(serial, "source", path=log)
    ET.SubElement(devices, "memballoon", model="none")
    return ET.tostring(root, encoding="unicode")


class _Probe:
    def __init__(self, conn, pool: remote.Pool):
        self.conn, self.pool = conn, pool
        self.volumes: list[str] = []

    def _volume(self, role: str, data: bytes | Path | None):
        name = remote.transient_name("accel-probe", f"{role}{len(self.volumes)}")
        size = 0 if data is None else len(data) if isinstance(data, bytes) else data.stat().st_size
        vol = remote.create_volume(self.pool, name, size, "raw")
        self.volumes.append(name)
        if isinstance(data, Path):
            remote.upload(self.conn, vol, data)
        elif data:
            stream = self.conn.newStream(0)
            vol.upload(stream, 0, len(data), 0)
            stream.send(data)
            stream.finish()
        return vol

    def boot(self, what: str, *, sector: bytes | None = None, kernel: Path | None = None,
             good=lambda out: False) -> tuple[bool, str]:
        import libvirt

        log = self._volume("log", None)
        disk = self._volume("sector", sector).path() if sector else None
        kern = self._volume("kernel", kernel).path() if kernel else None
        name = f"golden-accel-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        try:
            dom = self.conn.createXML(_domain_xml(name, log.path(), disk, kern), 0)
        except libvirt.libvirtError as exc:
            return False, f"kvm guest with {what} did not start: {str(exc).strip().splitlines()[-1]}"
        out = b""
        deadline = time.monotonic() + _TIMEOUT
        try:
            while time.monotonic() < deadline:
                out = remote.read_from(self.conn, log, 0)
                if good(out):
                    return True, f"kvm ran {what}"
                try:
                    if not dom.isActive():
                        break
                except libvirt.libvirtError:
                    break                  # transient and gone
                time.sleep(0.5)
            out = remote.read_from(self.conn, log, 0)
            if good(out):
                return True, f"kvm ran {what}"
            return False, f"kvm guest with {what} did not get there within {_TIMEOUT:.0f} s"
        finally:
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()

    def cleanup(self) -> None:
        for name in self.volumes:
            remote.delete_volume(self.pool, name)
        self.volumes = []


def probe(conn, uri: str, pool: remote.Pool, force: bool = False) -> accel.AccelResult:
    """kvm or tcg for guests on `conn`'s host. GOLDEN_ACCEL=kvm|tcg overrides, as for the local probe."""
    host = conn.getHostname()
    override = os.environ.get("GOLDEN_ACCEL")
    if override in ("kvm", "tcg"):
        return accel.AccelResult(override, override == "kvm", "GOLDEN_ACCEL is set", f"remote:{host}", 0.0)
    if not kvm_offered(conn):
        return accel.AccelResult("tcg", False, f"{host} offers no kvm guests", f"remote:{host}", 0.0)
    key = _host_key(conn, uri)
    if not force and (hit := _cached(key)) is not None:
        return hit
    started = time.monotonic()
    runner = _Probe(conn, pool)
    try:
        ok, why = runner.boot("a 512-byte guest", sector=_boot_sector(), good=lambda out: _MARKER in out)
        kernel = accel._kernel()
        if ok and kernel is not None:
            ok, why = runner.boot(f"a Linux kernel ({kernel.name})", kernel=kernel,
                                  good=lambda out: b"Kernel panic" in out)
    finally:
        runner.cleanup()
    result = accel.AccelResult("kvm" if ok else "tcg", ok, f"{host}: {why}", f"remote:{host}",
                               round(time.monotonic() - started, 2))
    _store(key, result)
    return result
