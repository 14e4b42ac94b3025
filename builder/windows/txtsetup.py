"""txtsetup.oem: how XP/2003 text-mode setup loads an F6 storage driver.

Written from the driver manifest for the profile's storage sets. The driver
files sit at the floppy's root next to it (the classic F6 disk, and the flat
list winnt.sif's [OEMBootFiles] names), so [Disks] points at "\\".
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.windows.manifest import DriverSet

# The retail IDE/ATAPI driver: once [MassStorageDrivers] is present, text-mode
# setup loads only what it lists, and the install CD sits on IDE.
RETAIL_IDE = "IDE CD-ROM (ATAPI 1.2)/PCI IDE Controller"


@dataclass(frozen=True)
class TextModeDriver:
    """One storage set as text-mode setup sees it."""
    set: DriverSet
    os_folder: str
    arch_folder: str

    @property
    def component(self) -> str:
        return f"{self.set.name}_{self.os_folder}_{self.arch_folder}".upper()

    @property
    def description(self) -> str:
        # [scsi] and winnt.sif [MassStorageDrivers] must carry the same text.
        return f"{self.set.description} ({self.os_folder} {self.arch_folder})"

    @property
    def files(self) -> list[str]:
        return list(self.set.files)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def render(drivers: list[TextModeDriver]) -> bytes:
    """The bytes of txtsetup.oem (CRLF, ASCII) for these storage drivers."""
    if not drivers:
        raise ValueError("txtsetup.oem needs at least one storage driver")
    lines = ["; txtsetup.oem written by golden from drivers/virtio-win.yaml.",
             "; F6 storage drivers for Windows XP / Server 2003 text-mode setup.", ""]
    lines += ["[Disks]"]
    for i, d in enumerate(drivers, 1):
        lines.append(f"d{i} = {_quote(d.description)}, \\{d.set.sys}, \\")
    lines += ["", "[Defaults]", f"scsi = {drivers[0].component}", "", "[scsi]"]
    for d in drivers:
        lines.append(f"{d.component} = {_quote(d.description)}")
    for i, d in enumerate(drivers, 1):
        lines += ["", f"[Files.scsi.{d.component}]", f"driver = d{i}, {d.set.sys}, {d.set.service}",
                  f"inf = d{i}, {d.set.inf}"]
        if d.set.cat:
            lines.append(f"catalog = d{i}, {d.set.cat}")
        lines += ["", f"[HardwareIds.scsi.{d.component}]"]
        lines += [f"id = {_quote(hwid)}, {_quote(d.set.service)}" for hwid in d.set.hardware_ids]
        if d.set.config:
            lines += ["", f"[Config.{d.set.service}]"]
            lines += [f"value = {key}, {name}, {kind}, {data}" for key, name, kind, data in d.set.config]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def parse(data: bytes) -> dict[str, list[tuple[str, list[str]]]]:
    """txtsetup.oem read back: section -> [(key, fields)], fields unquoted, in order.

    Keys repeat within a section (one `id =` per hardware id), so this is
    not a plain INI mapping. Malformed structure raises ValueError.
    """
    sections: dict[str, list[tuple[str, list[str]]]] = {}
    current = None
    for raw in data.decode("ascii").split("\r\n"):
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            if current in sections:
                raise ValueError(f"txtsetup.oem: section [{current}] appears twice")
            sections[current] = []
        elif current is None or "=" not in line:
            raise ValueError(f"txtsetup.oem: {line!r} is not a key = value line in a section")
        else:
            key, _, value = line.partition("=")
            sections[current].append((key.strip(), [f.strip().strip('"') for f in _split_fields(value)]))
    return sections


def _split_fields(value: str) -> list[str]:
    fields, cur, quoted = [], "", False
    for ch in value:
        if ch == '"':
            quoted = not quoted
            cur += ch
        elif ch == "," and not quoted:
            fields.append(cur)
            cur = ""
        else:
            cur += ch
    fields.append(cur)
    return fields
