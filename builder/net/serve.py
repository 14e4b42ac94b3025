"""`golden pxe serve`: dnsmasq (DHCP with PXE options, TFTP) and the kickstart web server.

Both run in the foreground for as long as the command does. dnsmasq gets a
private config file written to a temporary folder, listens on the one
interface it is given (never on lo, never DNS), and writes its leases next
to that config; nothing under /etc is read or written. The web server hands
out the tree's ks/ folder, read-only, and nothing else. Ctrl-C or SIGTERM
stops both and removes the temporary folder.
"""

from __future__ import annotations

import contextlib
import errno
import http.server
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from builder import owners
from builder.errors import HostError, InputError
from builder.net import loaders
from builder.net.pxe import CONFIG_DIR, KS_DIR

Log = Callable[[str], None]

EFI_TAG = "efi-x86_64"
# DHCP option 93 (client system architecture, RFC 4578): 7 = EFI BC, 9 = EFI x86-64.
EFI_ARCHES = (7, 9)
LEASE_TIME = "1h"
STARTUP_TIMEOUT = 10.0
# dnsmasq reports some socket problems after its startup lines and keeps
# running without DHCP (a second server on the same interface, for one).
SETTLE = 1.0
_FATAL = re.compile(r"error binding|failed to (create|bind)|unknown interface")

_KS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class ServeConfig:
    tree: Path
    interface: str
    address: ipaddress.IPv4Interface          # the server's address and subnet on the interface
    http_port: int = 80
    dhcp: bool = True                         # False: the ks web server only (libvirt serves DHCP/TFTP)
    range: tuple[str, str] | None = None      # DHCP pool; None: the upper half of the subnet
    router: str | None = None                 # advertised gateway; None: none (PXE networks are isolated)
    log_dhcp: bool = False                    # dnsmasq's option-by-option DHCP log

    @property
    def efi_loader(self) -> str | None:
        return loaders.EFI_LOADER if (self.tree / loaders.EFI_LOADER).is_file() else None

    def pool(self) -> tuple[str, str]:
        return self.range or default_range(self.address)


# ----------------------------------------------------------------- addresses

def interface_addresses(interface: str) -> list[ipaddress.IPv4Interface]:
    """IPv4 addresses on `interface` in this network namespace."""
    try:
        proc = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", interface],
                              capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        raise HostError("the `ip` command is missing (package iproute2)") from None
    if proc.returncode != 0:
        raise InputError(f"--interface {interface}: no such network interface here",
                         "list them with `ip -br link`")
    out = []
    for link in json.loads(proc.stdout or "[]"):
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                out.append(ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}"))
    return out


def pick_address(interface: str, wanted: str | None,
                 found: list[ipaddress.IPv4Interface]) -> ipaddress.IPv4Interface:
    if wanted:
        try:
            ip = ipaddress.IPv4Address(wanted)
        except ValueError:
            raise InputError(f"--address {wanted!r} is not an IPv4 address") from None
        for a in found:
            if a.ip == ip:
                return a
        have = ", ".join(str(a) for a in found) or "none"
        raise InputError(f"--address {wanted} is not on {interface} (it has: {have})")
    if not found:
        raise InputError(f"{interface} has no IPv4 address to serve from",
                         f"give it one (ip addr add 192.168.150.1/24 dev {interface}) or pick another interface")
    return found[0]


def default_range(address: ipaddress.IPv4Interface) -> tuple[str, str]:
    """The upper half of the subnet, minus the broadcast address and the server itself."""
    net = address.network
    if net.num_addresses < 8:
        raise InputError(f"{net} is too small for a DHCP pool; pass --range START,END")
    hosts = [h for h in net.hosts() if h != address.ip]
    upper = hosts[len(hosts) // 2:]
    return str(upper[0]), str(upper[-1])


def parse_range(text: str, address: ipaddress.IPv4Interface) -> tuple[str, str]:
    parts = [p.strip() for p in text.split(",")]
    try:
        start, end = (ipaddress.IPv4Address(p) for p in parts)
    except ValueError:
        raise InputError(f"--range {text!r} is not START,END (two IPv4 addresses)") from None
    net = address.network
    for ip in (start, end):
        if ip not in net:
            raise InputError(f"--range {text}: {ip} is outside {net}, the subnet of {address}")
    if start > end:
        raise InputError(f"--range {text}: the start comes after the end")
    if start <= address.ip <= end:
        raise InputError(f"--range {text} contains the server's own address {address.ip}")
    return str(start), str(end)


# ------------------------------------------------------------------ dnsmasq

def dnsmasq_conf(cfg: ServeConfig, leasefile: Path) -> str:
    start, end = cfg.pool()
    lines = [
        "# golden pxe serve: a private dnsmasq config; nothing under /etc is read or written.",
        "port=0",                                   # no DNS: only DHCP and TFTP
        "no-resolv",
        "no-hosts",
        f"interface={cfg.interface}",
        "bind-interfaces",
        "except-interface=lo",
        f"dhcp-range={start},{end},{cfg.address.netmask},{LEASE_TIME}",
        f"dhcp-leasefile={leasefile}",
        # dnsmasq advertises itself as router and DNS server unless told not to;
        # on a bridge into someone else's LAN that would steal the guests' traffic.
        f"dhcp-option=option:router{',' + cfg.router if cfg.router else ''}",
        "dhcp-option=option:dns-server",
        "enable-tftp",
        f"tftp-root={cfg.tree}",
    ]
    if cfg.log_dhcp:
        lines.append("log-dhcp")
    for arch in EFI_ARCHES:
        lines.append(f"dhcp-match=set:{EFI_TAG},option:client-arch,{arch}")
    if cfg.efi_loader:
        lines.append(f"dhcp-boot=tag:{EFI_TAG},{cfg.efi_loader},,{cfg.address.ip}")
    lines.append(f"dhcp-boot=tag:!{EFI_TAG},pxelinux.0,,{cfg.address.ip}")
    return "\n".join(lines) + "\n"


def port_holders(port: int, interface: str, address: str) -> list[str]:
    """Who already listens on UDP `port` for this interface in this network namespace.

    dnsmasq cannot tell: its sockets use SO_REUSEADDR, so a second DHCP or
    TFTP server on the same interface starts fine and the two answer in turn.
    """
    try:
        proc = subprocess.run(["ss", "-Hulnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    out = []
    for line in proc.stdout.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        host = fields[3].rsplit(":", 1)[0]
        host, _, device = host.partition("%")
        if device == interface or (not device and host in ("0.0.0.0", "*", "[::]", address)):
            who = re.search(r'users:\(\("([^"]+)",pid=(\d+)', line)
            out.append(f"{who.group(1)} (pid {who.group(2)})" if who else fields[3])
    return out


def dnsmasq_argv(conf: Path) -> list[str]:
    return ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}", "--log-facility=-", "--pid-file="]


# ------------------------------------------------------------- web server

class _KsHandler(http.server.BaseHTTPRequestHandler):
    server_version = "golden-ks"
    sys_version = ""

    def do_GET(self) -> None:      # noqa: N802 (http.server's naming)
        self._reply(body=True)

    def do_HEAD(self) -> None:     # noqa: N802
        self._reply(body=False)

    def _reply(self, body: bool) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        name = path[len(f"/{KS_DIR}/"):] if path.startswith(f"/{KS_DIR}/") else ""
        data = None
        if _KS_NAME.fullmatch(name):
            with contextlib.suppress(OSError):
                data = (self.server.ks_dir / name).read_bytes()
        if data is None:
            self.send_error(404, "no such kickstart")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)
        self.server.log(f"golden-ks-http: served {KS_DIR}/{name} ({len(data)} bytes) to {self.client_address[0]}")

    def log_message(self, format: str, *args) -> None:     # noqa: A002 (http.server's signature)
        self.server.log(f"golden-ks-http: {self.client_address[0]} {format % args}")


class KsHttpServer(http.server.ThreadingHTTPServer):
    """Serves DIR/ks/<name> at /ks/<name>: GET and HEAD only, one thread per request."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tree: Path, address: str, port: int, log: Log):
        self.ks_dir = Path(tree) / KS_DIR
        self.log = log
        try:
            super().__init__((address, port), _KsHandler)
        except OSError as exc:
            why = {errno.EADDRINUSE: "the port is in use", errno.EACCES: "ports below 1024 need root",
                   errno.EADDRNOTAVAIL: "the address is not on this host"}.get(exc.errno, exc.strerror)
            raise HostError(f"the kickstart web server cannot listen on {address}:{port}: {why}",
                            "pick another --http-port (and build the tree with the same one)") from None

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="golden-ks-http", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# ----------------------------------------------------------------- running

def check_tree(tree: Path, dhcp: bool) -> Path:
    tree = Path(tree).resolve()
    if not tree.is_dir():
        raise InputError(f"{tree}: no such PXE tree folder", "make one with `golden pxe tree PROFILE --out DIR`")
    wanted = [KS_DIR] + (["pxelinux.0", "ldlinux.c32", CONFIG_DIR] if dhcp else [])
    missing = [name for name in wanted if not (tree / name).exists()]
    if missing:
        raise InputError(f"{tree} is not a PXE tree: missing {', '.join(missing)}",
                         "make one with `golden pxe tree PROFILE --out DIR`")
    if dhcp:
        # dnsmasq reads TFTP files as an unprivileged user.
        for d in [tree, *tree.parents]:
            if not d.stat().st_mode & 0o001:
                raise InputError(f"{d} cannot be entered by other users, so dnsmasq's TFTP server "
                                 f"(which drops root) cannot read {tree}",
                                 f"chmod o+x {d}, or put the tree elsewhere")
    return tree


class _Dnsmasq:
    def __init__(self, argv: list[str], log: Log):
        self.log = log
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.fatal: str | None = None
        try:
            # Its own process group: Ctrl-C reaches golden alone, which then stops
            # dnsmasq in order instead of finding it already gone.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, bufsize=1, process_group=0)
        except FileNotFoundError:
            raise HostError("dnsmasq is not installed", "install the dnsmasq-base package") from None
        self.reader = threading.Thread(target=self._read, name="golden-dnsmasq-log", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            self.log(line)
            if self.fatal is None and _FATAL.search(line):
                self.fatal = line
            # The TFTP line is the last one dnsmasq logs once every socket is bound.
            if "TFTP root is" in line:
                self.ready.set()

    def check(self) -> None:
        if self.fatal:
            raise HostError(f"dnsmasq cannot serve: {self.fatal}",
                            "another DHCP server (libvirt's dnsmasq, a second `golden pxe serve`?) may hold "
                            "this interface")
        if self.proc.poll() is not None:
            raise HostError(f"dnsmasq exited: {self.last_words()}")

    def last_words(self) -> str:
        self.reader.join(2)
        return next((ln for ln in reversed(self.lines) if "dnsmasq" in ln), "") or \
            f"exit status {self.proc.returncode}"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready.wait(0.1):
                settled = time.monotonic() + SETTLE
                while time.monotonic() < settled:
                    self.check()
                    time.sleep(0.05)
                return
            if self.proc.poll() is not None:
                raise HostError(f"dnsmasq failed to start: {self.last_words()}",
                                "another DHCP server (libvirt's dnsmasq?) may hold port 67 on this interface")
        raise HostError(f"dnsmasq did not report ready within {timeout:.0f} s")

    def stop(self) -> None:
        # The whole group: dnsmasq and any helper it forked.
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.reader.join(2)


def serve(cfg: ServeConfig, log: Log, stop: threading.Event) -> None:
    """Run until `stop` is set; raises HostError when a server fails to start or dies."""
    tree = check_tree(cfg.tree, cfg.dhcp)
    # Named here rather than by mkdtemp so that it is registered (builder/owners.py) before it exists.
    workdir = Path(tempfile.gettempdir()) / f"golden-pxe-serve-{uuid.uuid4().hex[:12]}"
    workrec = owners.register("file", workdir)
    try:
        workdir.mkdir(mode=0o700)
    except BaseException:
        owners.release(workrec)
        raise
    web = None
    dnsmasq = None
    dnsrec = None
    try:
        web = KsHttpServer(tree, str(cfg.address.ip), cfg.http_port, log)
        web.start()
        log(f"golden-pxe: kickstarts at http://{cfg.address.ip}:{cfg.http_port}/{KS_DIR}/ from {tree / KS_DIR}")
        if cfg.dhcp:
            for port, what in ((67, "DHCP"), (69, "TFTP")):
                holders = port_holders(port, cfg.interface, str(cfg.address.ip))
                if holders:
                    raise HostError(f"{', '.join(holders)} already serves {what} (UDP {port}) on {cfg.interface}",
                                    "stop it first (libvirt's network on this bridge? another `golden pxe "
                                    "serve`?), or use --http-only and let it serve DHCP and TFTP")
            conf = workdir / "dnsmasq.conf"
            conf.write_text(dnsmasq_conf(cfg, workdir / "dnsmasq.leases"))
            # Its config path is unique to this run: the reaper knows the process by it.
            dnsrec = owners.register("process", str(conf), exe="dnsmasq", group=True)
            dnsmasq = _Dnsmasq(dnsmasq_argv(conf), log)
            dnsrec.update(pid=dnsmasq.proc.pid, start=owners.proc_start(dnsmasq.proc.pid))
            dnsmasq.wait_ready(STARTUP_TIMEOUT)
            start, end = cfg.pool()
            boot = "pxelinux.0" + (f" (BIOS), {cfg.efi_loader} (UEFI)" if cfg.efi_loader else " (BIOS only)")
            log(f"golden-pxe: dnsmasq pid {dnsmasq.proc.pid}: DHCP {start}-{end} and TFTP from {tree} "
                f"on {cfg.interface}, boot file {boot}")
        log("golden-pxe: serving; Ctrl-C to stop")
        while not stop.wait(0.2):
            if dnsmasq:
                dnsmasq.check()
    finally:
        if dnsmasq:
            dnsmasq.stop()
        if dnsmasq is None or dnsmasq.proc.poll() is not None:
            owners.release(dnsrec)
        if web:
            web.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if not workdir.exists():
            owners.release(workrec)
        log("golden-pxe: stopped")


@contextlib.contextmanager
def stop_on_signals():
    """An Event set by SIGINT or SIGTERM, with the previous handlers restored afterwards."""
    stop = threading.Event()
    previous = {}

    def handler(signum, frame):
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def line_logger(stream=None) -> Log:
    """Whole lines from several threads, flushed at once (the output is a log people tail)."""
    import sys
    lock = threading.Lock()
    out = stream or sys.stdout

    def log(line: str) -> None:
        with lock:
            out.write(line + "\n")
            out.flush()
    return log

