"""Chapter 17's question, asked of the host the guest will run on: is its TSC constant?

`timekeeping: auto` adds the clock arguments only when the target host's TSC
drifts. The answer comes from that host's libvirt capabilities, never from
the machine golden runs on, so a kickstart built here for `--connect
qemu+ssh://other/system` fits the other host, and the same profile and target
give the same kickstart on any build machine.
"""

from __future__ import annotations

import functools
from xml.etree import ElementTree as ET



def constant_tsc(capabilities_xml: str) -> bool | None:
    """True/False from the host CPU of a capabilities document; None when it does not say.

    libvirt lists Linux's constant_tsc as the CPUID feature `invtsc`, and reports
    `<counter name='tsc'>` only for an invariant TSC.
    """
    cpu = ET.fromstring(capabilities_xml).find("./host/cpu")
    if cpu is None:
        return None
    names = {f.get("name") for f in cpu.findall("feature")}
    if "invtsc" in names or cpu.find("counter[@name='tsc']") is not None:
        return True
    # A host CPU with a model and features was probed: the absence of invtsc is an answer.
    return False if cpu.findtext("model") and names else None


@functools.lru_cache(maxsize=8)
def target_constant_tsc(uri: str) -> bool | None:
    """Ask the libvirt host at `uri`; None when it cannot be reached (nothing is assumed from here)."""
    from builder.virt.connection import connection
    try:
        with connection(uri, readonly=True) as conn:
            return constant_tsc(conn.getCapabilities())
    except Exception:                      # noqa: BLE001 - an unreachable host only means "unknown"
        return None
