"""`golden pxe serve` without a network: the dnsmasq config, address pools, the ks web handler."""

from __future__ import annotations

import ipaddress
import socket
import threading
from pathlib import Path

import pytest

from builder.errors import InputError
from builder.net import serve
from builder.net.serve import ServeConfig, default_range, dnsmasq_conf, parse_range, pick_address

ADDR = ipaddress.IPv4Interface("10.213.0.1/24")


def conf(tmp_path, **kw) -> dict[str, list[str]]:
    cfg = ServeConfig(tree=tmp_path, interface="br0", address=ADDR, **kw)
    out: dict[str, list[str]] = {}
    for line in dnsmasq_conf(cfg, tmp_path / "leases").splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key, []).append(value)
    return out


def test_dnsmasq_conf_is_private_and_bound(tmp_path):
    c = conf(tmp_path)
    assert c["port"] == ["0"]
    assert c["interface"] == ["br0"] and "bind-interfaces" in c and c["except-interface"] == ["lo"]
    assert c["dhcp-range"] == ["10.213.0.128,10.213.0.254,255.255.255.0,1h"]
    assert c["dhcp-leasefile"] == [str(tmp_path / "leases")]
    assert c["tftp-root"] == [str(tmp_path)] and "enable-tftp" in c
    # No router, no DNS server handed out unless asked.
    assert c["dhcp-option"] == ["option:router", "option:dns-server"]
    assert "log-dhcp" not in c
    assert not any(v.startswith("/etc") for vals in c.values() for v in vals)


def test_dnsmasq_boot_files_by_client_arch(tmp_path):
    c = conf(tmp_path)
    assert c["dhcp-match"] == ["set:efi-x86_64,option:client-arch,7", "set:efi-x86_64,option:client-arch,9"]
    assert c["dhcp-boot"] == ["tag:!efi-x86_64,pxelinux.0,,10.213.0.1"]      # no grub image in the tree
    (tmp_path / "grubnetx64.efi").write_bytes(b"MZ")
    c = conf(tmp_path, router="10.213.0.254", log_dhcp=True)
    assert c["dhcp-boot"] == ["tag:efi-x86_64,grubnetx64.efi,,10.213.0.1", "tag:!efi-x86_64,pxelinux.0,,10.213.0.1"]
    assert c["dhcp-option"][0] == "option:router,10.213.0.254"
    assert "log-dhcp" in c


def test_ranges():
    assert default_range(ipaddress.IPv4Interface("192.168.150.1/24")) == ("192.168.150.128", "192.168.150.254")
    assert default_range(ipaddress.IPv4Interface("10.0.0.1/28")) == ("10.0.0.8", "10.0.0.14")
    assert parse_range("10.213.0.100, 10.213.0.150", ADDR) == ("10.213.0.100", "10.213.0.150")
    for bad, why in [("10.213.0.100", "START,END"), ("10.213.1.5,10.213.1.9", "outside"),
                     ("10.213.0.9,10.213.0.5", "after the end"), ("10.213.0.1,10.213.0.9", "own address")]:
        with pytest.raises(InputError, match=why):
            parse_range(bad, ADDR)
    with pytest.raises(InputError, match="too small"):
        default_range(ipaddress.IPv4Interface("10.0.0.1/30"))


def test_pick_address():
    found = [ADDR, ipaddress.IPv4Interface("10.9.0.1/16")]
    assert pick_address("br0", None, found) == ADDR
    assert pick_address("br0", "10.9.0.1", found).network.prefixlen == 16
    with pytest.raises(InputError, match="not on br0"):
        pick_address("br0", "10.9.0.2", found)
    with pytest.raises(InputError, match="no IPv4 address"):
        pick_address("br0", None, [])


def test_tree_checks(tmp_path):
    with pytest.raises(InputError, match="missing ks, pxelinux.0, ldlinux.c32, pxelinux.cfg"):
        serve.check_tree(tmp_path, dhcp=True)
    (tmp_path / "ks").mkdir()
    assert serve.check_tree(tmp_path, dhcp=False) == tmp_path.resolve()


# ---------------------------------------------------------------- web handler

class FakeServer:
    def __init__(self, ks_dir: Path):
        self.ks_dir = ks_dir
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        self.lines.append(line)


def ask(server: FakeServer, request: bytes) -> bytes:
    """One request through the real handler over a socketpair: no network involved."""
    ours, theirs = socket.socketpair()
    worker = threading.Thread(target=serve._KsHandler, args=(theirs, ("10.213.0.111", 40000), server))
    worker.start()
    ours.sendall(request)
    ours.shutdown(socket.SHUT_WR)
    worker.join(5)
    theirs.close()          # the real server closes the connection after the handler returns
    data = b""
    while chunk := ours.recv(65536):
        data += chunk
    ours.close()
    return data


@pytest.fixture
def ks_server(tmp_path):
    (tmp_path / "ks").mkdir()
    (tmp_path / "ks/52-54-00-12-34-56.cfg").write_text("text\nreboot\n")
    (tmp_path / "pxelinux.0").write_bytes(b"loader")
    return FakeServer(tmp_path / "ks")


def test_serves_a_kickstart(ks_server):
    reply = ask(ks_server, b"GET /ks/52-54-00-12-34-56.cfg HTTP/1.0\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert b"Content-Length: 12" in head
    assert body == b"text\nreboot\n"
    assert any("served ks/52-54-00-12-34-56.cfg (12 bytes) to 10.213.0.111" in line for line in ks_server.lines)
    assert any('"GET /ks/52-54-00-12-34-56.cfg HTTP/1.0" 200' in line for line in ks_server.lines)


@pytest.mark.parametrize("path", [b"/pxelinux.0", b"/ks/../pxelinux.0", b"/ks/%2e%2e/pxelinux.0", b"/ks/",
                                  b"/ks/missing.cfg", b"/ks/.hidden", b"/ks/x/../../pxelinux.0"])
def test_serves_nothing_else(ks_server, path):
    reply = ask(ks_server, b"GET " + path + b" HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.0 404"), reply[:80]
    assert b"loader" not in reply


def test_read_only(ks_server):
    for method in (b"PUT", b"POST", b"DELETE"):
        reply = ask(ks_server, method + b" /ks/52-54-00-12-34-56.cfg HTTP/1.0\r\nContent-Length: 1\r\n\r\nx")
        assert reply.startswith(b"HTTP/1.0 501")
    assert (ks_server.ks_dir / "52-54-00-12-34-56.cfg").read_text() == "text\nreboot\n"
    head = ask(ks_server, b"HEAD /ks/52-54-00-12-34-56.cfg HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and head.endswith(b"\r\n\r\n")


def test_dnsmasq_startup_failure_is_a_host_error():
    from builder.errors import HostError
    lines = []
    fake = serve._Dnsmasq(["sh", "-c", "echo 'dnsmasq: failed to create listening socket for port 67: "
                                       "Address already in use' >&2; exit 2"], lines.append)
    with pytest.raises(HostError) as exc:
        fake.wait_ready(5)
    assert exc.value.exit_code == 3
    assert "dnsmasq failed to start: dnsmasq: failed to create listening socket for port 67" in str(exc.value)
    fake.stop()


def test_dnsmasq_trouble_after_startup_is_a_host_error():
    from builder.errors import HostError
    fake = serve._Dnsmasq(["sh", "-c", "echo 'dnsmasq-tftp[1]: TFTP root is /x'; "
                                       "echo 'dnsmasq[1]: error binding DHCP socket to device br0'; sleep 30"],
                          lambda line: None)
    try:
        with pytest.raises(HostError, match="dnsmasq cannot serve: .*error binding DHCP socket"):
            fake.wait_ready(5)
    finally:
        fake.stop()
    assert fake.proc.poll() is not None
