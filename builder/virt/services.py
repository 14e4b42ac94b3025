"""libvirtd and virtlogd: are they running, and start them where no init system does.

Hosts without systemd (containers, minimal VMs, CI runners) never start the
daemons by themselves; virt-install then fails with a socket error that does
not say what to do.
"""

from __future__ import annotations

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
    else:
        # A stale socket from a killed daemon makes the new one refuse to start.
        for stale in (daemon.socket, daemon.socket.replace("-sock", "-admin-sock")):
            if os.path.exists(stale) and not daemon.running():
                os.unlink(stale)
        proc = subprocess.run([binary, "-d"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise HostError(f"{daemon.name} -d failed: {proc.stderr.strip()}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.running():
            return
        time.sleep(0.2)
    raise HostError(f"{daemon.name} did not come up within {timeout:.0f} s",
                    hint=f"look at /var/log/libvirt/ or run `{daemon.name} -v` in a terminal")


def ensure_running() -> list[str]:
    """Start whatever is missing; return the names started."""
    started = []
    for daemon in DAEMONS:
        if not daemon.running():
            start(daemon)
            started.append(daemon.name)
    return started
