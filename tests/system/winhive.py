"""Write a small Windows registry hive file (regf), for test images.

Enough of the format for hivex (and Windows) to read keys and REG_DWORD /
REG_SZ / REG_EXPAND_SZ values: a base block, one or more 4 KiB hive bins,
nk (key), sk (security), li (subkey list), value-list and vk (value) cells.
Tests check the result with hivexregedit, an independent reader.
"""

from __future__ import annotations

import struct

REG_SZ, REG_EXPAND_SZ, REG_DWORD = 1, 2, 4
_NONE = 0xFFFFFFFF
_FILETIME = 132223104000000000          # 2020-01-01T00:00:00Z


_HBIN_HEADER = 32


class _Cells:
    """Cells of the (single) hive bin, appended in order after its header.

    Offsets are what the format stores: from the start of the first bin.
    """

    def __init__(self):
        self.data = bytearray()

    def add(self, payload: bytes) -> int:
        size = (len(payload) + 4 + 7) & ~7
        offset = _HBIN_HEADER + len(self.data)
        self.data += struct.pack("<i", -size) + payload + b"\0" * (size - 4 - len(payload))
        return offset

    def patch(self, offset: int, field: int, fmt: str, value) -> None:
        struct.pack_into(fmt, self.data, offset - _HBIN_HEADER + 4 + field, value)


def _sk(cells: _Cells) -> int:
    # A self-relative descriptor with no owner, group or ACLs.
    descriptor = struct.pack("<BBHIIII", 1, 0, 0x8004, 0, 0, 0, 0)
    offset = cells.add(struct.pack("<2sHIIII", b"sk", 0, 0, 0, 0, len(descriptor)) + descriptor)
    cells.patch(offset, 4, "<I", offset)          # flink: itself (the only sk)
    cells.patch(offset, 8, "<I", offset)          # blink
    return offset


def build(tree: dict, root_name: str = "ROOT") -> bytes:
    """The hive bytes. `tree` maps key names to sub-trees; a value is (type, data) under a
    key named by a string starting with '=' ({"Select": {"=Current": (REG_DWORD, 1)}})."""
    cells = _Cells()
    sk = _sk(cells)
    nodes: list[int] = []

    def key(name: str, children: dict, parent: int, is_root: bool) -> int:
        raw = name.encode("ascii")
        values = [(k[1:], v) for k, v in children.items() if k.startswith("=")]
        subkeys = [(k, v) for k, v in children.items() if not k.startswith("=")]
        flags = 0x2C if is_root else 0x20                        # (hive entry, no delete,) compressed name
        nk = struct.pack("<2sHQ" + "I" * 15 + "HH", b"nk", flags, _FILETIME, 0, parent,
                         len(subkeys), 0, _NONE, _NONE, len(values), _NONE, sk, _NONE,
                         max((len(k) * 2 for k, _ in subkeys), default=0), 0,
                         max((len(k) * 2 for k, _ in values), default=0),
                         max((_data_size(v) for _, v in values), default=0), 0, len(raw), 0) + raw
        me = cells.add(nk)
        nodes.append(me)
        # Windows keeps subkey lists sorted by upper-cased name.
        offsets = [key(k, v, me, False) for k, v in sorted(subkeys, key=lambda kv: kv[0].upper())]
        if offsets:
            li = cells.add(struct.pack("<2sH", b"li", len(offsets)) + b"".join(struct.pack("<I", o) for o in offsets))
            cells.patch(me, 0x1C, "<I", li)
        if values:
            vks = [_vk(cells, vname, vtype, vdata) for vname, (vtype, vdata) in values]
            vlist = cells.add(b"".join(struct.pack("<I", o) for o in vks))
            cells.patch(me, 0x28, "<I", vlist)
        return me

    root = key(root_name, tree, 0, True)
    cells.patch(sk, 12, "<I", len(nodes))         # every key shares the one descriptor
    bins = bytes(cells.data)
    size = (len(bins) + _HBIN_HEADER + 4095) & ~4095
    free = size - _HBIN_HEADER - len(bins)
    hbin = struct.pack("<4sIIQQI", b"hbin", 0, size, 0, _FILETIME, 0) + bins
    if free:
        hbin += struct.pack("<i", free) + b"\0" * (free - 4)
    base = bytearray(4096)
    struct.pack_into("<4sIIQIIIIIII", base, 0, b"regf", 1, 1, _FILETIME, 1, 3, 0, 1, root, size, 1)
    name = "golden-test".encode("utf-16-le")
    base[0x30:0x30 + len(name)] = name
    checksum = 0
    for (word,) in struct.iter_unpack("<I", bytes(base[:0x1FC])):
        checksum ^= word
    checksum = {0: 1, 0xFFFFFFFF: 0xFFFFFFFE}.get(checksum, checksum)
    struct.pack_into("<I", base, 0x1FC, checksum)
    return bytes(base) + hbin


def _data_size(value) -> int:
    vtype, data = value
    return 4 if vtype == REG_DWORD else len(_encode(vtype, data))


def _encode(vtype: int, data) -> bytes:
    if vtype == REG_DWORD:
        return struct.pack("<I", data)
    return (data + "\0").encode("utf-16-le")


def _vk(cells: _Cells, name: str, vtype: int, data) -> int:
    raw = name.encode("ascii")
    blob = _encode(vtype, data)
    if len(blob) <= 4:
        length, where = len(blob) | 0x80000000, struct.unpack("<I", blob.ljust(4, b"\0"))[0]
    else:
        length, where = len(blob), cells.add(blob)
    return cells.add(struct.pack("<2sHIIIHH", b"vk", len(raw), length, where, vtype, 1, 0) + raw)


def windows_system_hive(*, viostor: bool = True, start: int = 0, netkvm: bool = False,
                        critical_device: bool = True) -> bytes:
    """A SYSTEM hive as XP-7 leave it, with or without the virtio drivers' entries."""
    services: dict = {"atapi": {"=Start": (REG_DWORD, 0), "=Type": (REG_DWORD, 1)}}
    cdd: dict = {"pci#ven_8086&cc_0101": {"=Service": (REG_SZ, "intelide")}}
    if viostor:
        services["viostor"] = {"=Type": (REG_DWORD, 1), "=Start": (REG_DWORD, start),
                               "=ErrorControl": (REG_DWORD, 1), "=Group": (REG_SZ, "SCSI miniport"),
                               "=ImagePath": (REG_EXPAND_SZ, "system32\\drivers\\viostor.sys")}
        if critical_device:
            cdd["pci#ven_1af4&dev_1001&subsys_00021af4&rev_00"] = {
                "=Service": (REG_SZ, "viostor"), "=ClassGUID": (REG_SZ, "{4D36E97B-E325-11CE-BFC1-08002BE10318}")}
    if netkvm:
        services["netkvm"] = {"=Type": (REG_DWORD, 1), "=Start": (REG_DWORD, 3)}
    control_set = {"Services": services, "Control": {"CriticalDeviceDatabase": cdd,
                                                     "ComputerName": {"ComputerName": {
                                                         "=ComputerName": (REG_SZ, "W2K3-GOLDEN")}}}}
    return build({"Select": {"=Current": (REG_DWORD, 1), "=Default": (REG_DWORD, 1),
                             "=LastKnownGood": (REG_DWORD, 1), "=Failed": (REG_DWORD, 0)},
                  "ControlSet001": control_set}, root_name="$$$PROTO.HIV")
