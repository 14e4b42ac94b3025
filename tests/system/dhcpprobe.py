"""A minimal DHCP client for tests: one DISCOVER with a chosen client architecture, the OFFER back.

Run it inside the network namespace a test created, bound to one interface,
so the broadcast never leaves that namespace.
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
import sys

SO_BINDTODEVICE = 25
MAGIC = b"\x63\x82\x53\x63"


def discover(ifname: str, mac: str, arch: int, timeout: float = 5.0) -> dict:
    """Send DHCPDISCOVER (option 93 = arch) on ifname; return the OFFER's fields."""
    hw = bytes.fromhex(mac.replace(":", ""))
    xid = secrets.randbits(32)
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                         b"\0" * 4, b"\0" * 4, hw.ljust(16, b"\0"), b"", b"")
    options = (MAGIC + bytes([53, 1, 1]) + bytes([93, 2]) + struct.pack("!H", arch)
               + bytes([60, 9]) + b"PXEClient" + bytes([55, 3, 1, 66, 67]) + b"\xff")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        s.bind(("", 68))
        s.settimeout(timeout)
        s.sendto(header + options, ("255.255.255.255", 67))
        while True:
            data, _ = s.recvfrom(4096)
            if len(data) < 240 or struct.unpack("!I", data[4:8])[0] != xid:
                continue
            return _parse(data)
    finally:
        s.close()


def _parse(data: bytes) -> dict:
    out = {"yiaddr": socket.inet_ntoa(data[16:20]), "siaddr": socket.inet_ntoa(data[20:24]),
           "file": data[108:236].rstrip(b"\0").decode(errors="replace"), "options": {}}
    i = 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, length = data[i], data[i + 1]
        out["options"][code] = data[i + 2:i + 2 + length]
        i += 2 + length
    if 67 in out["options"]:
        out["file"] = out["options"][67].rstrip(b"\0").decode(errors="replace")
    return out


if __name__ == "__main__":
    # python dhcpprobe.py IFNAME MAC ARCH -> prints "yiaddr siaddr file"
    ifname, mac, arch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    offer = discover(ifname, mac, arch)
    print(offer["yiaddr"], offer["siaddr"], offer["file"] or "-")
    sys.stdout.flush()
    os._exit(0)
