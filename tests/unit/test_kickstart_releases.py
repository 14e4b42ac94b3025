"""Each release's kickstart against that release's own anaconda and independent tested kickstarts.

Sources: anaconda's kickstart.py/network.py at the RHEL tags (anaconda-9.1.6.20-1.RHEL = RHEL 3,
anaconda-10.1.1.104-1 = RHEL 4, anaconda-11.1.2.263-2 = RHEL 5), anaconda docs/kickstart-docs.txt
(RHEL 5 era), autotest/virt-test shared/unattended/RHEL-{3,4,5,6,7}-series.ks. Nothing copied.
"""

from __future__ import annotations

import re

import pytest

from builder.errors import InputError
from builder.profile import load
from builder.render.kickstart import render
from tests.unit.profile_factory import representative, write

V3 = "anaconda-9.1.6.20-1.RHEL kickstart.py"
V4 = "anaconda-10.1.1.104-1 kickstart.py"
V5 = "anaconda-11.1.2.263-2 / docs/kickstart-docs.txt"
VT = "autotest/virt-test shared/unattended"


def ks(tmp_path, os_id, **ks_overrides):
    data = representative(os_id)
    if os_id.startswith("rhel3"):
        data["kickstart"].pop("selinux", None)
        data["kickstart"]["firewall"] = {"services": ["ssh"]}
    data["kickstart"].update(ks_overrides)
    return render(load(write(tmp_path, data))).text


def has(pattern):
    return lambda text: re.search(pattern, text, re.M) is not None


def lacks(pattern):
    return lambda text: re.search(pattern, text, re.M) is None


# (release, what must hold, why / source)
TABLE = [
    ("rhel3.9", has(r"^mouse none$"), f"{V3}: the mouse step is skipped only when `mouse` is given; {VT} RHEL-3 has it"),
    ("rhel4.8", lacks(r"^mouse"), f"{V4}: no mouse screen; {VT} RHEL-4 has no mouse line"),
    ("rhel5.11", lacks(r"^mouse"), f"{V5}: `mouse` is deprecated and halts the install"),
    ("rhel3.9", lacks(r"^network .*--onboot"), f"{V3}: doNetwork's getopt has no onboot= and refuses it"),
    ("rhel4.8", has(r"^network .*--onboot=yes"), f"{V4}: onboot= added to doNetwork"),
    ("rhel3.9", has(r"^reboot$"), f"{V3}: handlers have reboot only (no poweroff/halt/shutdown: KeyError)"),
    ("rhel4.8", has(r"^poweroff$"), f"{V4}: poweroff/halt/shutdown handlers exist; {VT} RHEL-4 uses poweroff"),
    ("rhel3.9", has(r"^langsupport "), f"{V3}: langsupport handler; {VT} RHEL-3 has it"),
    ("rhel4.8", has(r"^langsupport "), f"{V4}: langsupport handler; {VT} RHEL-4 has it"),
    ("rhel5.11", lacks(r"^langsupport"), f"{V5}: langsupport is deprecated and halts the install"),
    ("rhel3.9", has(r"^firewall --enabled --ssh$"), f"{V3}: doFirewall takes --enabled and --ssh; {VT} same"),
    ("rhel6.10", has(r"^firewall --enabled --service=ssh"), "RHEL 6 pykickstart F10_Firewall --service"),
    ("rhel3.9", lacks(r"^selinux"), f"{V3}: no selinux handler (RHEL 3 has no SELinux)"),
    ("rhel3.9", lacks(r"^services"), f"{V3}/{V4}: no services handler: chkconfig in %post"),
    ("rhel4.8", lacks(r"^services"), f"{V4}: no services handler"),
    ("rhel5.11", has(r"^key --skip$"), f"{V5} docs: without key anaconda pauses for an installation number"),
    ("rhel6.10", lacks(r"^key --"), "installation numbers are a RHEL 5 feature (virt-test's RHEL-6 key --skip is inert)"),
    ("rhel5.11", has(r"^install$"), f"{V5}: install before the method line; {VT} RHEL-5 has it"),
    ("rhel9.6", lacks(r"^install$"), "RHEL 9 pykickstart removed `install`"),
    ("rhel5.11", lacks(r"^%end$"), "RHEL 5 anaconda has no %end (pykickstart RHEL5 handler)"),
    ("rhel6.10", has(r"^%end$"), "%end closes sections from RHEL 6"),
    ("rhel7.9", has(r"^authconfig "), "authconfig until RHEL 7"),
    ("rhel8.10", has(r"^authselect "), "authselect replaces authconfig from RHEL 8"),
]


@pytest.mark.parametrize("os_id, check, source", TABLE, ids=[f"{t[0]}-{i}" for i, t in enumerate(TABLE)])
def test_release_dialect(tmp_path, os_id, check, source):
    assert check(ks(tmp_path, os_id)), source


def test_rhel3_maps_halt_and_poweroff_to_reboot(tmp_path):
    for finish in ("poweroff", "halt"):
        text = ks(tmp_path, "rhel3.9", finish=finish)
        assert re.search(r"^reboot$", text, re.M) and not re.search(rf"^{finish}$", text, re.M)


@pytest.mark.parametrize("os_id, keeps", [("rhel3.9", 3), ("rhel4.8", 3), ("rhel5.11", 2)])
def test_nameservers_beyond_what_the_installer_keeps_are_refused(tmp_path, os_id, keeps):
    servers = [f"10.9.8.{i}" for i in range(1, keeps + 2)]
    network = {"bootproto": "static", "ip": "10.9.8.7", "netmask": "255.255.255.0", "gateway": "10.9.8.1",
               "nameservers": servers}
    with pytest.raises(InputError) as exc:
        ks(tmp_path, os_id, network=network)
    text = str(exc.value) + " ".join(str(i) for i in exc.value.details.get("issues", []))
    assert "nameservers" in text and f"first {keeps}" in text
    network["nameservers"] = servers[:keeps]
    assert f"--nameserver={','.join(servers[:keeps])}" in ks(tmp_path, os_id, network=network)
