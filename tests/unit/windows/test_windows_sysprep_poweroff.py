"""sysprep's power-off ends a Windows install: wiring.continue_setup and the watchdog
on libvirt's test:///default driver (API paths only; a real Windows boot is not possible here)."""

from __future__ import annotations

import uuid

import pytest

from builder.virt.watchdog import Outcome, Snapshot, Watchdog
from builder.windows import wiring

libvirt = pytest.importorskip("libvirt")

XML = """<domain type='test'><name>{name}</name><memory>65536</memory>
<os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='/tmp/{name}.img'/>
<target dev='vda' bus='virtio'/></disk></devices></domain>"""


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def dom():
    conn = libvirt.open("test:///default")
    d = conn.defineXML(XML.format(name=f"golden-sysprep-{uuid.uuid4().hex[:8]}"))
    yield d
    if d.isActive():
        d.destroy()
    d.undefine()
    conn.close()


def watch(dom, tmp_path, clock, timeout=3600.0):
    return Watchdog(dom, tmp_path / "serial.log", timeout=timeout, inactivity=600, disk_targets=["vda"],
                    clock=clock)


def test_power_off_after_the_restart_completes_the_install(dom, tmp_path):
    clock = Clock()
    dom.create()
    first = watch(dom, tmp_path, clock)
    assert isinstance(first.poll(), Snapshot)
    dom.destroy()                        # Setup's first reboot: virt-install's install boot ends
    first_outcome = first.poll()
    assert first_outcome.ok
    events, seen_running = [], []

    def second_boot(spent):
        # continue_setup has started the persistent domain again for the rest of setup
        seen_running.append(dom.isActive())
        w = watch(dom, tmp_path, clock)
        clock.now += 120
        assert isinstance(w.poll(), Snapshot)
        dom.shutdown()                   # sysprep /generalize /oobe /shutdown powers the guest off
        clock.now += 1
        return w.poll()

    outcome = wiring.continue_setup(dom, first_outcome, second_boot, events.append)
    assert seen_running == [True]
    assert outcome.status == "completed" and outcome.reason == "the guest powered off"
    assert not dom.isActive()
    assert events and "starting the guest again" in events[0]


def test_a_guest_still_running_at_the_timeout_is_not_complete(dom, tmp_path):
    # sysprep that never powers off (a dialog, a failed generalize) must not count as done.
    clock = Clock()
    dom.create()

    def second_boot(spent):
        w = watch(dom, tmp_path, clock, timeout=60)
        clock.now += 61
        return w.poll()

    first = Outcome("completed", "the guest powered off", 10.0, "setup")
    dom.destroy()
    outcome = wiring.continue_setup(dom, first, second_boot)
    assert outcome.status == "timeout" and dom.isActive()


def test_a_failed_first_stage_does_not_boot_again(dom, tmp_path):
    first = Outcome("hung", "no console output", 5.0, "setup")
    assert wiring.continue_setup(dom, first, lambda spent: pytest.fail("booted again")) is first
    assert not dom.isActive()
