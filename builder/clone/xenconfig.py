"""Xen guest configuration files (/etc/xen/<name>): read, check and clone them.

The file is Python syntax executed by xm (seed ch. 32), so it is parsed with
`ast` — values only, nothing executed. A clone changes what seed 33.18-33.19
lists: name, uuid, each vif's mac and bridge, and the disk paths; the rest of
the file (comments, layout, other settings) is copied as it is.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import InputError

_DISK = re.compile(r"^(?P<kind>file:|tap:aio:|tap:qcow2:|phy:)(?P<path>[^,]+),(?P<vdev>[^,]+),(?P<mode>[rw]!?)$")


@dataclass
class XenConfig:
    path: Path
    values: dict
    text: str = ""
    spans: dict = field(default_factory=dict)    # key -> (start, end) offsets of its value in text

    @property
    def name(self) -> str:
        return str(self.values.get("name", ""))

    def vifs(self) -> list[dict[str, str]]:
        out = []
        for entry in self.values.get("vif", []):
            fields = {}
            for part in str(entry).split(","):
                if "=" in part:
                    key, _, value = part.strip().partition("=")
                    fields[key.strip()] = value.strip()
            out.append(fields)
        return out

    def disks(self) -> list[dict[str, str]]:
        out = []
        for entry in self.values.get("disk", []):
            m = _DISK.match(str(entry).strip())
            if not m:
                raise InputError(f"disk entry {entry!r} is not TYPE:PATH,VDEV,MODE (seed 32.1)", where=str(self.path))
            out.append(m.groupdict())
        return out


def read(path: Path) -> XenConfig:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read Xen config: {exc.strerror}", where=str(path)) from exc
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        # xm chokes on these with "Non-ASCII character ... invalid syntax" (seed E10).
        raise InputError(f"non-ASCII byte at offset {exc.start}: xm would refuse this file (seed 35.13)",
                         where=str(path), hint="regenerate the file, or remove the stray byte") from exc
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise InputError(f"line {exc.lineno}: {exc.msg} (a Xen config is Python syntax)", where=str(path),
                         hint="check quotes and commas; the seed's own examples have mismatched quotes") from exc
    values: dict = {}
    spans: dict = {}
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            raise InputError(f"line {node.lineno}: only `key = value` lines are allowed", where=str(path))
        try:
            values[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError as exc:
            raise InputError(f"line {node.lineno}: {node.targets[0].id} is not a literal value", where=str(path)) from exc
        v = node.value
        spans[node.targets[0].id] = (starts[v.lineno - 1] + v.col_offset, starts[v.end_lineno - 1] + v.end_col_offset)
    config = XenConfig(path, values, text, spans)
    _lint(config)
    return config


def _lint(config: XenConfig) -> None:
    where = str(config.path)
    for key in ("on_boot",):
        if key in config.values:
            raise InputError(f"{key} is not a Xen parameter (did you mean on_reboot?)", where=where)
    for vif in config.vifs():
        vtype = vif.get("type")
        if vtype and vtype != "ioemu":
            raise InputError(f"vif type {vtype!r} is not valid (the seed's 'ieomu' typo?); use type=ioemu or omit it",
                             where=where)
        mac = vif.get("mac")
        if mac and not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", mac):
            raise InputError(f"vif mac {mac!r} is not a MAC address", where=where)
    if "uuid" in config.values:
        from builder.virt.identity import normalize_uuid
        try:
            normalize_uuid(str(config.values["uuid"]))
        except InputError as exc:
            raise InputError(exc.message, where=where) from exc
    is_pv = "bootloader" in config.values or config.values.get("builder") != "hvm"
    if is_pv and any(v.get("type") == "ioemu" for v in config.vifs()):
        raise InputError("a para-virtualized guest's vif must not be type=ioemu (seed F-9)", where=where)


def _format_value(value) -> str:
    if isinstance(value, list):
        return "[ " + ", ".join(repr(str(v)) for v in value) + " ]"
    return repr(value)


def clone_values(config: XenConfig, *, name: str, uuid: str, macs: list[str], bridge: str | None,
                 disks: list[tuple[str, str]]) -> dict:
    """The clone's values; `disks` gives (kind, path) for every disk entry, in order."""
    values = dict(config.values)
    values["name"] = name
    values["uuid"] = uuid
    vifs = []
    for fields, mac in zip(config.vifs(), macs):
        fields = dict(fields)
        fields["mac"] = mac
        if bridge:
            fields["bridge"] = bridge
        vifs.append(", ".join(f"{k}={v}" for k, v in fields.items()))
    if "vif" in values:
        values["vif"] = vifs
    if "disk" in values:
        values["disk"] = [f"{kind}{path},{disk['vdev']},{disk['mode']}"
                          for disk, (kind, path) in zip(config.disks(), disks)]
    return values


def missing_bridges(config: XenConfig, bridge_override: str | None, sysfs: Path = Path("/sys/class/net")) -> list[str]:
    """Bridges the clone would need that this host lacks (xm: "Bridge xenbr1 does not exist!")."""
    names = {bridge_override} if bridge_override else {v.get("bridge") for v in config.vifs() if v.get("bridge")}
    return sorted(n for n in names if n and not (sysfs / n / "bridge").is_dir())


def macs_in(directory: Path) -> set[str]:
    """MACs the Xen configs in a folder already use (unreadable files are skipped)."""
    macs = set()
    for path in Path(directory).iterdir():
        if not path.is_file() or path.stat().st_size > 65536:
            continue
        try:
            config = read(path)
        except InputError:
            continue
        macs.update(v["mac"].lower() for v in config.vifs() if v.get("mac"))
    return macs


def looks_like(path: Path) -> bool:
    """A small text file of `key = value` lines naming a guest: a Xen config, not a disk image."""
    try:
        if not path.is_file() or path.stat().st_size > 65536:
            return False
        text = path.read_bytes().decode("ascii")
    except (OSError, UnicodeDecodeError):
        return False
    return bool(re.search(r"^\s*name\s*=", text, re.M)) and bool(re.search(r"^\s*(disk|vif|memory)\s*=", text, re.M))


def clone_text(config: XenConfig, values: dict) -> str:
    """The config file with the values that differ replaced in place; new keys are appended."""
    text = config.text
    edits = sorted(((config.spans[k], _format_value(v)) for k, v in values.items()
                    if k in config.spans and config.values.get(k) != v), reverse=True)
    for (start, end), literal in edits:
        text = text[:start] + literal + text[end:]
    added = [f"{k} = {_format_value(v)}" for k, v in values.items() if k not in config.spans]
    if added:
        text = text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(added) + "\n"
    return text
