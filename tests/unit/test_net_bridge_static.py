"""A host's own address survives `golden bridge`: it moves from the NIC to the bridge (seed 10.2)."""

from __future__ import annotations

import json

import pytest

from builder.errors import InputError
from builder.net import bridge as br
from builder.net.ifcfg import Ifcfg, lint

from tests.conftest import snapshot

SCRIPTS = "etc/sysconfig/network-scripts"

STATIC_NETMASK = """DEVICE=eth0
HWADDR=00:13:20:F7:6E:8E
BOOTPROTO=static
IPADDR=192.168.1.20
NETMASK=255.255.255.0
GATEWAY=192.168.1.1
DNS1=192.168.1.2
DNS2=192.168.1.3
DOMAIN=example.lan
ONBOOT=yes
"""

STATIC_PREFIX = """DEVICE=eth0
BOOTPROTO=none
IPADDR0=10.20.30.40
PREFIX0=22
IPADDR1=10.99.0.5
PREFIX1=24
GATEWAY=10.20.28.1
DNS1=10.20.28.2
ONBOOT=yes
"""

DHCP = """DEVICE=eth0
BOOTPROTO=dhcp
ONBOOT=yes
"""


def stage(tmp_path, text):
    (tmp_path / SCRIPTS).mkdir(parents=True)
    (tmp_path / SCRIPTS / "ifcfg-eth0").write_text(text)
    return tmp_path


def files(plan):
    return {f.path.name: f.new for f in plan.files}


def test_static_netmask_moves_to_the_bridge(tmp_path):
    plan = br.make_plan("br0", "eth0", root=stage(tmp_path, STATIC_NETMASK))
    out = files(plan)
    bridge = Ifcfg.parse(out["ifcfg-br0"])
    assert bridge.get("TYPE") == "Bridge"
    assert bridge.get("BOOTPROTO") == "static"
    assert (bridge.get("IPADDR"), bridge.get("NETMASK"), bridge.get("GATEWAY")) == \
        ("192.168.1.20", "255.255.255.0", "192.168.1.1")
    assert (bridge.get("DNS1"), bridge.get("DNS2"), bridge.get("DOMAIN")) == ("192.168.1.2", "192.168.1.3",
                                                                             "example.lan")
    assert "dhcp" not in out["ifcfg-br0"]
    port = Ifcfg.parse(out["ifcfg-eth0"])
    assert port.keys() == ["DEVICE", "HWADDR", "ONBOOT", "BRIDGE", "NM_CONTROLLED"]
    assert lint("ifcfg-eth0", port, bridge_port=True) == []
    assert any("br0 gets the static address 192.168.1.20/24, gateway 192.168.1.1" in n for n in plan.notes)
    add = plan.nmcli_commands[0]
    settings = dict(zip(add[add.index("bridge.stp"):][::2], add[add.index("bridge.stp"):][1::2]))
    assert settings["ipv4.method"] == "manual"
    assert settings["ipv4.addresses"] == "192.168.1.20/24"
    assert settings["ipv4.gateway"] == "192.168.1.1"
    assert settings["ipv4.dns"] == "192.168.1.2,192.168.1.3"
    assert settings["ipv4.dns-search"] == "example.lan"


def test_static_prefix_keeps_prefix_and_every_address(tmp_path):
    plan = br.make_plan("br0", "eth0", root=stage(tmp_path, STATIC_PREFIX))
    bridge = Ifcfg.parse(files(plan)["ifcfg-br0"])
    assert bridge.get("BOOTPROTO") == "none"
    assert [bridge.get(k) for k in ("IPADDR0", "PREFIX0", "IPADDR1", "PREFIX1", "GATEWAY", "DNS1")] == \
        ["10.20.30.40", "22", "10.99.0.5", "24", "10.20.28.1", "10.20.28.2"]
    add = plan.nmcli_commands[0]
    assert add[add.index("ipv4.addresses") + 1] == "10.20.30.40/22,10.99.0.5/24"


def test_address_without_bootproto_is_static_on_the_bridge(tmp_path):
    plan = br.make_plan("br0", "eth0", root=stage(tmp_path, "DEVICE=eth0\nIPADDR=10.1.1.1\nPREFIX=8\n"))
    text = files(plan)["ifcfg-br0"]
    assert "BOOTPROTO=none\nIPADDR=10.1.1.1\nPREFIX=8\n" in text


def test_dhcp_stays_dhcp(tmp_path):
    plan = br.make_plan("br0", "eth0", root=stage(tmp_path, DHCP))
    bridge = Ifcfg.parse(files(plan)["ifcfg-br0"])
    assert bridge.get("BOOTPROTO") == "dhcp" and bridge.get("IPADDR") is None
    add = plan.nmcli_commands[0]
    assert add[add.index("ipv4.method") + 1] == "auto"


def test_second_apply_keeps_the_static_address(tmp_path):
    root = stage(tmp_path, STATIC_NETMASK)
    br.apply(br.make_plan("br0", "eth0", root=root), style="rhel", live=False, force=False, runner=pytest.fail)
    written = (root / SCRIPTS / "ifcfg-br0").read_text()
    assert "IPADDR=192.168.1.20" in written
    again = br.make_plan("br0", "eth0", root=root)
    assert not any(f.changed for f in again.files), [f.diff() for f in again.files]
    assert "IPADDR=192.168.1.20" in files(again)["ifcfg-br0"]


@pytest.mark.parametrize("line, field", [("NETMASK=255.0.255.0", "NETMASK"), ("NETMASK=24x", "NETMASK"),
                                         ("PREFIX=33", "PREFIX"), ("GATEWAY=192.168.1", "GATEWAY"),
                                         ("IPADDR=192.168.1.300", "IPADDR"), ("DNS1=nameserver", "DNS1"),
                                         ("BOOTPROTO=dhcpp", "BOOTPROTO")])
def test_malformed_settings_name_file_and_field(tmp_path, line, field):
    key = line.split("=")[0]
    text = "\n".join(l for l in STATIC_NETMASK.splitlines() if not l.startswith(key + "=")) + f"\n{line}\n"
    if key == "PREFIX":
        text = text.replace("NETMASK=255.255.255.0\n", "")
    with pytest.raises(InputError, match=field) as exc:
        br.make_plan("br0", "eth0", root=stage(tmp_path, text))
    assert exc.value.where.endswith("network-scripts/ifcfg-eth0")


def test_address_without_netmask_is_refused(tmp_path):
    with pytest.raises(InputError, match="no NETMASK or PREFIX"):
        br.make_plan("br0", "eth0", root=stage(tmp_path, "DEVICE=eth0\nBOOTPROTO=static\nIPADDR=10.0.0.2\n"))


def test_cli_apply_stages_static_bridge_and_refuses_bad_file(golden, tmp_path):
    root = stage(tmp_path / "a", STATIC_PREFIX)
    r = golden("bridge", "apply", "br0", "--nic", "eth0", "--root", root)
    assert r.code == 0, r.err
    assert "IPADDR0=10.20.30.40\nPREFIX0=22\n" in (root / SCRIPTS / "ifcfg-br0").read_text()
    data = json.loads(golden("bridge", "plan", "br0", "--nic", "eth0", "--root", root, "--json").out)
    assert any("10.20.30.40/22" in n for n in data["notes"])
    bad = stage(tmp_path / "b", STATIC_NETMASK.replace("255.255.255.0", "255.255.0.255"))
    before = snapshot(bad)
    r = golden("bridge", "apply", "br0", "--nic", "eth0", "--root", bad)
    assert r.code == 2 and "ifcfg-eth0" in r.err and "NETMASK" in r.err
    assert snapshot(bad) == before
