"""LVM2 physical volumes and their text metadata, read in Python.

The loop backend never activates a guest VG through the host's LVM. Activation
needs device-mapper (absent here) and would put the guest VG into the host's
LVM namespace, where RHEL's `VolGroup00` on both sides clashes. Instead the
metadata is read from the image and each linear LV is mapped like a partition,
with `losetup --offset --sizelimit` over its one contiguous extent range.
The PV itself is never attached to a loop device, so even a host with udev
autoactivation sees no PV and activates nothing. LVs the loop backend cannot
map this way (striped, mirrored, thin, snapshots, non-contiguous segments) are
reported as unsupported and `auto` hands the image to guestfs.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from builder.image.model import LogicalVolume, LvmInfo, PhysicalVolume, VolumeGroup

SECTOR = 512
LABEL_ID = b"LABELONE"
LABEL_TYPE = b"LVM2 001"
MDA_MAGIC = b" LVM2 x[5A%r0N*>"


class LvmError(ValueError):
    pass


@dataclass(frozen=True)
class PvLabel:
    uuid: str                     # dashed, as in the metadata
    offset: int                   # byte offset of the PV (its partition) in the disk
    mda: tuple[int, int] | None   # (offset, size) of the first metadata area, relative to the PV


@dataclass(frozen=True)
class LvMapping:
    """Where a linear LV's bytes are, in the disk image."""

    lv: LogicalVolume
    offset: int | None            # None: not a single contiguous range (loop cannot map it)
    reason: str = ""


def dashed(raw: str) -> str:
    """LVM's 32-character UUIDs in their usual 6-4-4-4-4-4-6 form."""
    raw = raw.replace("-", "")
    if len(raw) != 32:
        return raw
    cuts = (6, 4, 4, 4, 4, 4, 6)
    out, pos = [], 0
    for n in cuts:
        out.append(raw[pos:pos + n])
        pos += n
    return "-".join(out)


def read_pv_label(f: BinaryIO, offset: int) -> PvLabel | None:
    """The PV label in the first four sectors at `offset`, or None if there is none."""
    f.seek(offset)
    head = f.read(4 * SECTOR)
    for sector in range(4):
        base = sector * SECTOR
        if head[base:base + 8] != LABEL_ID or head[base + 24:base + 32] != LABEL_TYPE:
            continue
        pvh = base + struct.unpack_from("<I", head, base + 20)[0]
        pv_uuid = head[pvh:pvh + 32].decode("ascii", "replace")
        pos = pvh + 40
        # Two zero-terminated lists of (offset, size): data areas, then metadata areas.
        lists: list[list[tuple[int, int]]] = [[], []]
        for which in range(2):
            while pos + 16 <= len(head):
                loc_off, loc_size = struct.unpack_from("<QQ", head, pos)
                pos += 16
                if loc_off == 0:
                    break
                lists[which].append((loc_off, loc_size))
        mda = lists[1][0] if lists[1] else None
        return PvLabel(uuid=dashed(pv_uuid), offset=offset, mda=mda)
    return None


def read_metadata(f: BinaryIO, label: PvLabel) -> str | None:
    """The current VG metadata text from the PV's first metadata area."""
    if label.mda is None:
        return None
    mda_off, mda_size = label.mda
    f.seek(label.offset + mda_off)
    header = f.read(SECTOR)
    if header[4:20] != MDA_MAGIC:
        raise LvmError("LVM metadata area header has the wrong magic")
    rl_off, rl_size = struct.unpack_from("<QQ", header, 40)
    if rl_size == 0:
        return None
    # The metadata lives in a ring buffer after the 512-byte header.
    first = min(rl_size, mda_size - rl_off)
    f.seek(label.offset + mda_off + rl_off)
    text = f.read(first)
    if first < rl_size:
        f.seek(label.offset + mda_off + SECTOR)
        text += f.read(rl_size - first)
    return text.rstrip(b"\0").decode("utf-8", "replace")


_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|([{}\[\],=])|(-?\d+)|([A-Za-z0-9_.+\-]+))')


def parse_config(text: str) -> dict:
    """LVM's config syntax (sections, key = value, lists) into nested dicts."""
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise LvmError(f"cannot parse LVM metadata near {text[pos:pos + 30]!r}")
        pos = m.end()
        comment, string, punct, number, word = m.groups()
        if comment:
            continue
        if string is not None:
            tokens.append(("str", re.sub(r"\\(.)", r"\1", string[1:-1])))
        elif punct:
            tokens.append((punct, punct))
        elif number is not None:
            tokens.append(("int", int(number)))
        elif word:
            tokens.append(("word", word))
    it = iter(tokens + [("end", None)])
    return _parse_section(it, toplevel=True)


def _parse_section(it, toplevel=False) -> dict:
    out: dict = {}
    for kind, value in it:
        if kind == "end":
            if not toplevel:
                raise LvmError("LVM metadata ends inside a section")
            return out
        if kind == "}":
            return out
        if kind != "word":
            raise LvmError(f"unexpected {value!r} in LVM metadata")
        nkind, _ = next(it)
        if nkind == "{":
            out[value] = _parse_section(it)
        elif nkind == "=":
            out[value] = _parse_value(it)
        else:
            raise LvmError(f"expected = or {{ after {value!r}")
    return out


def _parse_value(it):
    kind, value = next(it)
    if kind == "[":
        items = []
        for k, v in it:
            if k == "]":
                return items
            if k == ",":
                continue
            items.append(v)
        raise LvmError("LVM metadata ends inside a list")
    return value


@dataclass(frozen=True)
class VgLayout:
    info: LvmInfo
    mappings: tuple[LvMapping, ...]


def read_lvm(f: BinaryIO, pvs: list[tuple[str, int, int]]) -> VgLayout:
    """Read every PV among `pvs` (device, offset, size) and map its VGs' LVs to disk offsets."""
    labels: dict[str, tuple[str, PvLabel]] = {}
    texts: dict[str, str] = {}
    for device, offset, _size in pvs:
        label = read_pv_label(f, offset)
        if label is None:
            continue
        labels[label.uuid] = (device, label)
        text = read_metadata(f, label)
        if text:
            cfg = parse_config(text)
            for name, body in cfg.items():
                if isinstance(body, dict) and "physical_volumes" in body:
                    prev = texts.get(name)
                    # Each PV holds a copy; the highest seqno is current.
                    if prev is None or body.get("seqno", 0) > prev.get("seqno", 0):
                        texts[name] = body
    vgs, lvs, pvinfo, mappings = [], [], [], []
    for vg_name in sorted(texts):
        body = texts[vg_name]
        extent = int(body["extent_size"]) * SECTOR
        pv_by_key: dict[str, tuple[str, int]] = {}
        total = 0
        pv_devices = []
        for key, pv in sorted(body.get("physical_volumes", {}).items()):
            total += int(pv.get("pe_count", 0)) * extent
            found = labels.get(dashed(pv["id"]))
            if found:
                device, label = found
                pv_by_key[key] = (device, label.offset + int(pv["pe_start"]) * SECTOR)
                pv_devices.append(device)
                pvinfo.append(PhysicalVolume(device=device, uuid=dashed(pv["id"]), vg=vg_name))
        vgs.append(VolumeGroup(name=vg_name, uuid=dashed(body["id"]), extent_size=extent,
                               size=total, pvs=tuple(sorted(pv_devices))))
        for lv_name, lv in sorted(body.get("logical_volumes", {}).items()):
            if "VISIBLE" not in lv.get("status", []):
                continue
            segments = [lv[k] for k in sorted((k for k in lv if k.startswith("segment")
                                                and isinstance(lv[k], dict)),
                                               key=lambda k: int(k[7:] or 0))]
            size = sum(int(s["extent_count"]) for s in segments) * extent
            volume = LogicalVolume(name=lv_name, vg=vg_name, path=f"/dev/{vg_name}/{lv_name}",
                                   uuid=dashed(lv["id"]), size=size)
            lvs.append(volume)
            mappings.append(_map_linear(volume, segments, pv_by_key, extent))
    return VgLayout(LvmInfo(vgs=tuple(vgs), lvs=tuple(lvs), pvs=tuple(sorted(pvinfo, key=lambda p: p.device))),
                    tuple(mappings))


def _map_linear(volume: LogicalVolume, segments: list[dict], pv_by_key: dict, extent: int) -> LvMapping:
    """One contiguous byte range for the LV, or the reason there is none."""
    start = None
    expected_le = 0
    for seg in sorted(segments, key=lambda s: int(s["start_extent"])):
        if seg.get("type") != "striped" or int(seg.get("stripe_count", 0)) != 1:
            return LvMapping(volume, None, f"segment type {seg.get('type')} "
                                           f"x{seg.get('stripe_count', '?')} is not linear")
        pv_key, pv_extent = seg["stripes"][0], int(seg["stripes"][1])
        if pv_key not in pv_by_key:
            return LvMapping(volume, None, f"its PV {pv_key} is not on this disk")
        if int(seg["start_extent"]) != expected_le:
            return LvMapping(volume, None, "its segments leave a gap")
        _dev, data_start = pv_by_key[pv_key]
        seg_start = data_start + pv_extent * extent
        if start is None:
            start = seg_start
        elif seg_start != start + expected_le * extent:
            return LvMapping(volume, None, "its segments are not contiguous on disk")
        expected_le += int(seg["extent_count"])
    if start is None:
        return LvMapping(volume, None, "it has no segments")
    return LvMapping(volume, start)
