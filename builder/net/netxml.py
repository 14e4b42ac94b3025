"""libvirt <network> XML for PXE and bridges, built with lxml and checked by virt-xml-validate.

Two shapes:
- an isolated network (no <forward>) whose own dnsmasq hands out addresses
  and serves a PXE tree over TFTP, for users who let libvirt do DHCP/TFTP;
- a network over an existing host bridge (<forward mode='bridge'/>), so
  guests can say network=NAME instead of bridge=NAME.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from lxml import etree

from builder.errors import HostError, InputError
from builder.net import loaders

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"
DEFAULT_PXE_NETWORK = "golden-pxe"
DEFAULT_PXE_SUBNET = "192.168.150.1/24"      # host address / prefix; matches pxe.DEFAULT_SERVER


def _check_name(name: str) -> str:
    # libvirt takes most names, but this one becomes a file name and a virsh argument.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,49}", name):
        raise InputError(f"network name {name!r}: use letters, digits, '_', '.' and '-' (at most 50)")
    return name


def parse_subnet(text: str) -> ipaddress.IPv4Interface:
    """`192.168.150.1/24`: the host's address on the network and its prefix."""
    try:
        iface = ipaddress.IPv4Interface(text)
    except ValueError:
        raise InputError(f"--subnet {text!r} is not ADDRESS/PREFIX, e.g. 192.168.150.1/24") from None
    if iface.ip in (iface.network.network_address, iface.network.broadcast_address) or iface.network.prefixlen > 29:
        raise InputError(f"--subnet {text}: give the host's own address in a /29 or larger subnet, "
                         "e.g. 192.168.150.1/24")
    if not iface.ip.is_private:
        raise InputError(f"--subnet {text} is not a private address range",
                         "an isolated PXE network belongs in 10/8, 172.16/12 or 192.168/16")
    return iface


def _tostring(root) -> bytes:
    etree.indent(root, space="  ")
    return etree.tostring(root, pretty_print=True, encoding="utf-8")


def pxe_network(tree: Path, *, name: str = DEFAULT_PXE_NETWORK, bridge: str | None = None,
                subnet: str = DEFAULT_PXE_SUBNET, dhcp_range: tuple[str, str] | None = None,
                uefi: bool = True) -> bytes:
    """An isolated libvirt network that PXE-boots guests from `tree`."""
    from builder.net.bridge import check_bridge_name
    from builder.net.serve import default_range, parse_range

    tree = Path(tree).resolve()
    if not (tree / "pxelinux.0").is_file():
        raise InputError(f"--tree {tree} is not a PXE tree (no pxelinux.0)",
                         "make one with `golden pxe tree PROFILE --out DIR`")
    iface = parse_subnet(subnet)
    start, end = parse_range(",".join(dhcp_range), iface) if dhcp_range else default_range(iface)

    net = etree.Element("network", nsmap={"dnsmasq": DNSMASQ_NS})
    etree.SubElement(net, "name").text = _check_name(name)
    # No <forward>: isolated. Guests reach the host and each other, nothing else.
    br = etree.SubElement(net, "bridge", stp="on", delay="0")
    if bridge:
        br.set("name", check_bridge_name(bridge))
    ip = etree.SubElement(net, "ip", address=str(iface.ip), netmask=str(iface.netmask))
    etree.SubElement(ip, "tftp", root=str(tree))
    dhcp = etree.SubElement(ip, "dhcp")
    etree.SubElement(dhcp, "range", start=start, end=end)
    etree.SubElement(dhcp, "bootp", file="pxelinux.0")
    if uefi and (tree / loaders.EFI_LOADER).is_file():
        # <bootp> has room for one file; UEFI clients (DHCP option 93 = 7 or 9)
        # get the grub image through dnsmasq options libvirt passes through.
        # dnsmasq tries dhcp-boot lines last-first, so these tagged ones, which
        # libvirt appends after its own untagged line, win for UEFI clients.
        opts = etree.SubElement(net, f"{{{DNSMASQ_NS}}}options")
        for value in ("dhcp-match=set:efi-x86_64,option:client-arch,7",
                      "dhcp-match=set:efi-x86_64,option:client-arch,9",
                      f"dhcp-boot=tag:efi-x86_64,{loaders.EFI_LOADER}"):
            etree.SubElement(opts, f"{{{DNSMASQ_NS}}}option", value=value)
    return _tostring(net)


def bridge_network(name: str, bridge: str) -> bytes:
    """A libvirt network for an existing host bridge (seed 10.2: shared physical device)."""
    from builder.net.bridge import check_bridge_name

    net = etree.Element("network")
    etree.SubElement(net, "name").text = _check_name(name)
    etree.SubElement(net, "forward", mode="bridge")
    etree.SubElement(net, "bridge", name=check_bridge_name(bridge))
    return _tostring(net)


def validate(xml: bytes, schema: str = "network") -> None:
    """Run libvirt's own schema check (virt-xml-validate) on `xml`."""
    if shutil.which("virt-xml-validate") is None:
        raise HostError("virt-xml-validate is missing", "install the libvirt-clients package")
    with tempfile.NamedTemporaryFile(prefix="golden-", suffix=".xml") as f:
        f.write(xml)
        f.flush()
        proc = subprocess.run(["virt-xml-validate", f.name, schema], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().replace(f.name, "<xml>")
        raise InputError(f"libvirt's {schema} schema refuses the generated XML: {detail}")
