"""libvirtd and virtlogd: are they running, and start them where no init system does.

Hosts without systemd (containers, minimal VMs, CI runners) never start the
daemons by themselves; virt-install then fails with a socket error that does
not say what to do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from builder.errors import HostError


@dataclass(frozen=True)
class Daemon:
    name: str
    socket: str

    def running(self) -> bool:
        """A live process owns the daemon's socket (a stale socket file does not count)."""
        import socket as socketlib

        if not os.path.exists(self.socket):
            return False
        sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        sock.settimeout(2)
        try:
            sock.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            sock.close()


LIBVIRTD = Daemon("libvirtd", "/run/libvirt/libvirt-sock")
VIRTLOGD = Daemon("virtlogd", "/run/libvirt/virtlogd-sock")
DAEMONS = (VIRTLOGD, LIBVIRTD)


def has_init_system() -> bool:
    return Path("/run/systemd/system").is_dir()


def start(daemon: Daemon, timeout: float = 20.0) -> None:
    if daemon.running():
        return
    binary = shutil.which(daemon.name) or f"/usr/sbin/{daemon.name}"
    if not os.path.exists(binary):
        raise HostError(f"{daemon.name} is not installed", hint="run ./scripts/bootstrap.sh (needs root)")
    if os.geteuid() != 0:
        raise HostError(f"{daemon.name} is not running and only root can start the system daemon",
                        hint=f"ask an administrator to start {daemon.name}")
    if has_init_system():
        proc = subprocess.run(["systemctl", "start", daemon.name], capture_output=True, text=True)
        if proc.returncode != 0:
            raise HostError(f"systemctl start {daemon.name} failed: {proc.stderr.strip()}")
        if _wait(daemon, timeout):
            return
    else:
        # A stale socket from a killed daemon makes the new one refuse to start.
        for stale in (daemon.socket, daemon.socket.replace("-sock", "-admin-sock")):
            if os.path.exists(stale) and not daemon.running():
                os.unlink(stale)
        with _networks_not_autostarted(daemon):
            proc = subprocess.run([binary, "-d"], capture_output=True, text=True)
            if proc.returncode != 0:
                raise HostError(f"{daemon.name} -d failed: {proc.stderr.strip()}")
            if _wait(daemon, timeout) and (daemon is not LIBVIRTD or _drivers_ready(timeout)):
                return
    raise HostError(f"{daemon.name} did not come up within {timeout:.0f} s",
                    hint=f"look at /var/log/libvirt/ or run `{daemon.name} -v` in a terminal")


def _wait(daemon: Daemon, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.running():
            return True
        time.sleep(0.2)
    return False


def _drivers_ready(timeout: float) -> bool:
    """libvirtd listens before its drivers finish starting (and autostarting); an API call waits for them."""
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = libvirt.open("qemu:///system")
            try:
                conn.listAllNetworks(0)
                return True
            finally:
                conn.close()
        except libvirt.libvirtError:
            time.sleep(0.2)
    return False


NETWORK_AUTOSTART = Path("/etc/libvirt/qemu/networks/autostart")


@contextlib.contextmanager
def _networks_not_autostarted(daemon: Daemon):
    """Start libvirtd without its autostarted networks, then put their autostart links back.

    Debian marks libvirt's NAT `default` network autostart; a daemon golden starts for
    its own builds must not bring up a routed network nobody asked for. Autostart is
    set again once the daemon is up, so the host's configuration is unchanged.
    """
    if daemon is not LIBVIRTD or not NETWORK_AUTOSTART.is_dir():
        yield
        return
    aside = NETWORK_AUTOSTART.parent / f".golden-autostart-aside-{os.getpid()}"
    links = [p for p in NETWORK_AUTOSTART.iterdir() if p.name.endswith(".xml")]
    if not links:
        yield
        return
    aside.mkdir(exist_ok=True)
    moved = []
    try:
        for link in links:
            link.rename(aside / link.name)
            moved.append(link.name)
        yield
    finally:
        for name in moved:
            # Through the API when the daemon is up, so its own view says autostart too.
            if not _set_autostart(name[:-len(".xml")]):
                with contextlib.suppress(OSError):
                    (aside / name).rename(NETWORK_AUTOSTART / name)
            with contextlib.suppress(OSError):
                (aside / name).unlink()
        with contextlib.suppress(OSError):
            aside.rmdir()


def _set_autostart(network: str) -> bool:
    import libvirt

    try:
        conn = libvirt.open("qemu:///system")
    except libvirt.libvirtError:
        return False
    try:
        conn.networkLookupByName(network).setAutostart(1)
        return True
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()


def ensure_running() -> list[str]:
    """Start whatever is missing; return the names started."""
    started = []
    for daemon in DAEMONS:
        if not daemon.running():
            start(daemon)
            started.append(daemon.name)
    return started
