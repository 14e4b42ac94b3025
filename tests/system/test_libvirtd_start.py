"""Starting libvirtd where no init system does: autostarted networks stay down.

Debian marks libvirt's NAT `default` network autostart. When golden starts the
daemon itself, no network may come up as a side effect, and the host's
autostart settings must be the same afterwards.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from builder.virt import services

pytestmark = pytest.mark.system


def _stop_libvirtd() -> None:
    pid = int(Path("/run/libvirtd.pid").read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while services.LIBVIRTD.running():
        assert time.monotonic() < deadline, "libvirtd did not stop"
        time.sleep(0.2)
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_golden_starts_libvirtd_without_autostarting_networks(libvirt_up):
    import libvirt

    assert not services.has_init_system(), "this test is about hosts where golden starts the daemons"
    name = f"golden-t-as-{os.getpid()}"
    conn = libvirt.open("qemu:///system")
    # Isolated: no <forward>, no address; it must not even be started.
    net = conn.networkDefineXML(f"<network><name>{name}</name><bridge name='gtas{os.getpid() % 10000}'/>"
                                "</network>")
    try:
        net.setAutostart(1)
        conn.close()
        _stop_libvirtd()
        assert services.ensure_running() == ["libvirtd"]
        conn = libvirt.open("qemu:///system")
        net = conn.networkLookupByName(name)
        assert not net.isActive(), "golden's daemon start brought up an autostart network"
        assert net.autostart() == 1, "the host's autostart setting was not restored"
        assert (services.NETWORK_AUTOSTART / f"{name}.xml").is_symlink()
        assert not list(services.NETWORK_AUTOSTART.parent.glob(".golden-autostart-aside-*"))
    finally:
        conn = libvirt.open("qemu:///system")
        net = conn.networkLookupByName(name)
        net.setAutostart(0)
        if net.isActive():
            net.destroy()
        net.undefine()
        conn.close()
