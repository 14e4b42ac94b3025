"""Chapter 17's clock arguments follow the guest's host (its libvirt capabilities), not the build machine."""

from __future__ import annotations

import re

import pytest

from builder.render.kickstart import HostFacts, render
from builder.profile import load
from builder.virt import hostfacts, timekeeping
from tests.unit.profile_factory import representative, write

HOST_CPU = """<capabilities><host><uuid>x</uuid><cpu><arch>x86_64</arch><model>Haswell-noTSX</model>
<vendor>Intel</vendor>{counter}<feature name='vme'/><feature name='ss'/>{feature}</cpu></host></capabilities>"""


def test_invtsc_or_tsc_counter_means_constant_tsc():
    assert timekeeping.constant_tsc(HOST_CPU.format(counter="", feature="<feature name='invtsc'/>")) is True
    counter = "<counter name='tsc' frequency='2445424000' scaling='no'/>"
    assert timekeeping.constant_tsc(HOST_CPU.format(counter=counter, feature="")) is True


def test_a_probed_cpu_without_invtsc_drifts():
    assert timekeeping.constant_tsc(HOST_CPU.format(counter="", feature="")) is False


def test_a_host_that_does_not_say_is_unknown():
    assert timekeeping.constant_tsc("<capabilities><host><uuid>x</uuid></host></capabilities>") is None
    assert timekeeping.constant_tsc("<capabilities><host><cpu><arch>i686</arch><features><pae/></features>"
                                    "</cpu></host></capabilities>") is None


def test_libvirt_test_driver_capabilities_are_read_through_the_connection():
    # test:///default's host CPU names no model or features: an honest "unknown".
    assert timekeeping.target_constant_tsc("test:///default") is None
    assert hostfacts.host_facts("test:///default") == HostFacts(constant_tsc=None)


def _bootloader(tmp_path, host):
    loaded = load(write(tmp_path, representative("rhel5.3")))
    return re.search(r"^bootloader .*$", render(loaded, host).text, re.M).group(0)


@pytest.mark.parametrize("flags", [set(), {"fpu", "tsc"}, {"fpu", "tsc", "constant_tsc"}])
def test_kickstart_does_not_change_with_the_build_machine(tmp_path, monkeypatch, flags):
    # Whatever this machine's /proc/cpuinfo says, the target decides.
    monkeypatch.setattr(hostfacts, "cpu_flags", lambda: flags)
    facts = hostfacts.host_facts("test:///default")
    assert facts.constant_tsc is None
    assert _bootloader(tmp_path, facts) == _bootloader(tmp_path, HostFacts(constant_tsc=True))


def test_unknown_target_adds_no_args_and_a_drifting_target_does(tmp_path):
    assert "notsc" not in _bootloader(tmp_path, HostFacts(constant_tsc=None))
    assert "notsc" in _bootloader(tmp_path, HostFacts(constant_tsc=False))
