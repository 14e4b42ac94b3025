"""The target-host TSC answer, from the real libvirtd: on the local host it agrees with Linux's own flag."""

from __future__ import annotations

import pytest

from builder.virt import hostfacts, timekeeping

pytestmark = pytest.mark.system


def test_local_libvirt_capabilities_agree_with_cpuinfo(libvirt_up):
    answer = timekeeping.target_constant_tsc.__wrapped__("qemu:///system")
    assert answer is not None, "qemu:///system's host CPU should name its features"
    assert answer == ("constant_tsc" in hostfacts.cpu_flags())
