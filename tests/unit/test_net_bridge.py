"""Host bridges: names the seed allows, ifcfg files, sysctl, nmcli, libvirt, the uplink guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.errors import InputError
from builder.net import bridge as br
from builder.net.hostnet import check_uplink, uplinks
from builder.net.ifcfg import Ifcfg, lint

from tests.conftest import snapshot

SCRIPTS = "etc/sysconfig/network-scripts"

ETH1 = """# Intel Corporation Gigabit Network Connection
DEVICE=eth1
BOOTPROTO=dhcp
HWADDR=00:13:20:F7:6E:8E
ONBOOT=yes
IPADDR=192.168.1.20
NETMASK=255.255.255.0
GATEWAY=192.168.1.1
MTU=9000
"""


# ------------------------------------------------------------------ names

@pytest.mark.parametrize("name", ["br0", "installation", "BR0x", "a" * 15, "br-pxe.1", "Installation"])
def test_good_names(name):
    assert br.check_bridge_name(name, (5, 4)) == name


@pytest.mark.parametrize("name, why", [
    ("a" * 16, "at most 15"), ("br 0", "characters"), ("br/0", "characters"), ("br:0", "characters"),
    ("", "empty"), ("..", "characters"), ("virbr0", "NAT bridge"), ("brü", "characters")])
def test_bad_names(name, why):
    with pytest.raises(InputError, match=why):
        br.check_bridge_name(name)


@pytest.mark.parametrize("name", ["INSTALL", "BR0", "PXE-1"])
def test_uppercase_only_names_before_5_9(name):
    with pytest.raises(InputError, match="segfault.*L1343.*RHEL 5.8"):
        br.check_bridge_name(name, (5, 8))
    for release in ((5, 9), (6, 10), None):
        assert br.check_bridge_name(name, release) == name


def test_release_parsing_and_detection(tmp_path):
    assert br.parse_release("5.8") == (5, 8)
    assert br.parse_release("rhel6.10") == (6, 10)
    assert br.parse_release("5") == (5, 0)
    assert br.parse_release("current") is None
    with pytest.raises(InputError):
        br.parse_release("five")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/redhat-release").write_text("Red Hat Enterprise Linux Server release 5.8 (Tikanga)\n")
    assert br.detect_release(tmp_path) == (5, 8)
    with pytest.raises(InputError, match="segfault"):
        br.make_plan("INSTALL", "eth1", root=tmp_path)
    assert br.make_plan("INSTALL", "eth1", root=tmp_path, release=None, release_given=True).name == "INSTALL"


# ------------------------------------------------------------------ ifcfg

def staged(tmp_path, **files) -> Path:
    (tmp_path / SCRIPTS).mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp_path / SCRIPTS / name.replace("_", "-")).write_text(text)
    return tmp_path


def test_bridge_ifcfg_exactly():
    assert br.bridge_ifcfg("installation").text() == (
        "# Bridge installation, written by golden (`golden bridge apply`).\n"
        "DEVICE=installation\nTYPE=Bridge\nBOOTPROTO=dhcp\nONBOOT=yes\nDELAY=0\nNM_CONTROLLED=no\n")


def test_port_keeps_identity_and_drops_ip(tmp_path):
    plan = br.make_plan("installation", "eth1", root=staged(tmp_path, ifcfg_eth1=ETH1))
    nic = next(f for f in plan.files if f.path.name == "ifcfg-eth1")
    assert nic.new == ("# Intel Corporation Gigabit Network Connection\nDEVICE=eth1\nHWADDR=00:13:20:F7:6E:8E\n"
                       "ONBOOT=yes\nMTU=9000\nBRIDGE=installation\nNM_CONTROLLED=no\n")
    assert any("BOOTPROTO, IPADDR, NETMASK, GATEWAY" in n for n in plan.notes)
    cfg = Ifcfg.parse(nic.new)
    assert lint("ifcfg-eth1", cfg, bridge_port=True) == []


def test_port_without_a_file_gets_the_live_mac(tmp_path):
    plan = br.make_plan("br0", "eth0", root=tmp_path, hwaddr="52:54:00:ab:cd:ef")
    nic = next(f for f in plan.files if f.path.name == "ifcfg-eth0")
    assert nic.old is None
    assert "HWADDR=52:54:00:AB:CD:EF\n" in nic.new and "BRIDGE=br0\n" in nic.new


def test_wrong_type_case_and_device_mismatch_are_reported(tmp_path):
    root = staged(tmp_path, ifcfg_installation="DEVICE=install\nTYPE=bridge\nBOOTPROTO=dhcp\nONBOOT=yes\n")
    plan = br.make_plan("installation", "eth1", root=root)
    text = "\n".join(plan.findings)
    assert "TYPE=bridge is not a bridge to initscripts: TYPE=Bridge is case-sensitive" in text
    assert "DEVICE=install does not match the file name" in text
    assert plan.files[0].new.count("TYPE=Bridge\n") == 1


def test_ip_settings_on_an_existing_port_are_reported(tmp_path):
    root = staged(tmp_path, ifcfg_eth1=ETH1 + "BRIDGE=installation\n")
    plan = br.make_plan("installation", "eth1", root=root)
    assert any("a bridge port carries IP settings (BOOTPROTO, IPADDR, NETMASK, GATEWAY)" in f for f in plan.findings)


def test_ifcfg_quoting_and_duplicates():
    cfg = Ifcfg.parse('DEVICE="eth0"\nTYPE=\'Bridge\'\nONBOOT=no\nONBOOT=yes\n# c\n')
    assert cfg.get("DEVICE") == "eth0" and cfg.get("TYPE") == "Bridge" and cfg.get("ONBOOT") == "yes"
    cfg.set("ONBOOT", "no")
    assert cfg.text() == 'DEVICE="eth0"\nTYPE=\'Bridge\'\nONBOOT=no\n# c\n'


def test_sysctl_is_idempotent():
    old = "kernel.sysrq = 0\nnet.bridge.bridge-nf-call-iptables = 1\n# net.bridge.bridge-nf-call-arptables = 1\n"
    new = br.sysctl_text(old)
    assert new.startswith("kernel.sysrq = 0\nnet.bridge.bridge-nf-call-iptables = 0\n")
    for key in br.BRIDGE_NF:
        assert sum(line.startswith(key) for line in new.splitlines()) == 1
    assert br.sysctl_text(new) == new
    assert br.sysctl_text(None).count(" = 0\n") == 3


def test_iptables_filter_instead_of_sysctl(tmp_path):
    plan = br.make_plan("br0", "eth0", root=tmp_path, filter="iptables")
    assert [f.path.name for f in plan.files] == ["ifcfg-br0", "ifcfg-eth0"]
    assert ["iptables", "-I", "FORWARD", "-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"] \
        in plan.rhel_commands
    with pytest.raises(InputError):
        br.make_plan("br0", "eth0", root=tmp_path, filter="nft")


def test_nmcli_and_libvirt_styles(tmp_path):
    plan = br.make_plan("br0", "enp1s0", root=tmp_path)
    assert plan.nmcli_commands[0][:7] == ["nmcli", "connection", "add", "type", "bridge", "ifname", "br0"]
    assert plan.nmcli_commands[1][:9] == ["nmcli", "connection", "add", "type", "bridge-slave", "ifname", "enp1s0",
                                          "master", "br0"]
    xml = plan.libvirt_xml.decode()
    assert "<forward mode=\"bridge\"/>" in xml and "<bridge name=\"br0\"/>" in xml and "<name>br0</name>" in xml


def test_nic_and_bridge_names(tmp_path):
    with pytest.raises(InputError, match="loopback"):
        br.make_plan("br0", "lo", root=tmp_path)
    with pytest.raises(InputError, match="cannot both"):
        br.make_plan("br0", "br0", root=tmp_path)


# ------------------------------------------------------------------ uplink

ROUTES_ONE = [{"dst": "default", "gateway": "10.0.0.1", "dev": "eth0", "protocol": "dhcp"}]


def test_only_uplink_is_refused():
    assert uplinks(ROUTES_ONE) == {"eth0"}
    with pytest.raises(InputError, match="eth0 carries this host's only default route") as exc:
        check_uplink("eth0", ROUTES_ONE, force=False)
    assert "--force" in exc.value.hint
    assert "--force given" in check_uplink("eth0", ROUTES_ONE, force=True)


def test_other_uplinks_or_other_nics_pass():
    two = ROUTES_ONE + [{"dst": "default", "gateway": "10.1.0.1", "dev": "wlan0", "metric": 600}]
    assert check_uplink("eth0", two, force=False) is None
    assert check_uplink("eth1", ROUTES_ONE, force=False) is None
    assert check_uplink("eth0", [], force=False) is None
    v6 = [{"dst": "default", "gateway": "fe80::1", "dev": "eth0"}]
    with pytest.raises(InputError):
        check_uplink("eth0", v6, force=False)


def test_apply_refuses_uplink_before_writing(tmp_path):
    root = staged(tmp_path, ifcfg_eth0=ETH1.replace("eth1", "eth0"))
    plan = br.make_plan("br0", "eth0", root=root)
    before = snapshot(tmp_path)
    calls = []
    with pytest.raises(InputError, match="only default route"):
        br.apply(plan, style="rhel", live=True, force=False, runner=calls.append, routes=ROUTES_ONE)
    assert snapshot(tmp_path) == before and calls == []


def test_apply_stages_files_with_backups(tmp_path):
    root = staged(tmp_path, ifcfg_eth1=ETH1)
    (root / "etc/sysctl.conf").write_text("kernel.sysrq = 0\n")
    plan = br.make_plan("installation", "eth1", root=root)
    report = br.apply(plan, style="rhel", live=False, force=False, runner=pytest.fail, routes=ROUTES_ONE)
    scripts = root / SCRIPTS
    assert (scripts / "ifcfg-installation").read_text().splitlines()[1:3] == ["DEVICE=installation", "TYPE=Bridge"]
    assert "BRIDGE=installation" in (scripts / "ifcfg-eth1").read_text()
    assert (scripts / "ifcfg-eth1.golden.bak").read_text() == ETH1
    assert "net.bridge.bridge-nf-call-arptables = 0" in (root / "etc/sysctl.conf").read_text()
    assert report.ran == [] and any("staged only" in n for n in report.notes)
    # Again: nothing changes, the original backup stays.
    plan = br.make_plan("installation", "eth1", root=root)
    assert not any(f.changed for f in plan.files)
    assert br.apply(plan, style="rhel", live=False, force=False).written == []
    assert (scripts / "ifcfg-eth1.golden.bak").read_text() == ETH1


def test_apply_other_styles_run_their_commands(tmp_path):
    plan = br.make_plan("br0", "eth1", root=tmp_path)
    ran = []
    br.apply(plan, style="nmcli", live=False, force=False, runner=ran.append, routes=ROUTES_ONE)
    assert ran == plan.nmcli_commands
    ran.clear()
    br.apply(plan, style="libvirt", live=False, force=False, runner=ran.append, routes=ROUTES_ONE)
    assert [c[:2] for c in ran] == [["virsh", "net-define"], ["virsh", "net-autostart"], ["virsh", "net-start"]]
    assert ran[0][2].endswith(".xml")
    with pytest.raises(InputError, match="only default route"):
        br.apply(br.make_plan("br0", "eth0", root=tmp_path), style="nmcli", live=False, force=False,
                 runner=ran.append, routes=ROUTES_ONE)


def test_live_commands_move_addresses_and_routes():
    cmds = br.live_commands("br0", "eth0", bridge_exists=False, nic_mac="52:54:00:00:00:01",
                            nic_addresses=[{"family": "inet", "local": "10.0.0.5", "prefixlen": 24}],
                            nic_routes=[{"dst": "default", "gateway": "10.0.0.1", "family": "inet"}])
    text = [" ".join(c) for c in cmds]
    assert text[0] == "ip link add br0 type bridge stp_state 0 forward_delay 0"
    assert "ip link set dev br0 address 52:54:00:00:00:01" in text
    assert text.index("ip link set dev eth0 master br0") < text.index("ip addr add 10.0.0.5/24 dev br0")
    assert text[-1] == "ip -4 route replace default via 10.0.0.1 dev br0"


# ------------------------------------------------------------------ CLI

def test_cli_plan_prints_every_style(golden, tmp_path):
    root = staged(tmp_path, ifcfg_eth1=ETH1)
    before = snapshot(root)
    result = golden("bridge", "plan", "installation", "--nic", "eth1", "--root", root)
    assert result.code == 0, result.err
    for text in ("TYPE=Bridge", "BRIDGE=installation", "net.bridge.bridge-nf-call-iptables = 0",
                 "nmcli connection add type bridge-slave ifname eth1 master installation",
                 "<forward mode=\"bridge\"/>", "service network restart", "-IPADDR=192.168.1.20"):
        assert text in result.out, text
    data = json.loads(golden("bridge", "plan", "installation", "--nic", "eth1", "--root", root, "--json").out)
    assert data["host_release"] == "current" and len(data["files"]) == 3
    assert snapshot(root) == before          # plan changes nothing


def test_cli_refusals_exit_2(golden, tmp_path):
    r = golden("bridge", "plan", "INSTALL", "--nic", "eth1", "--root", tmp_path, "--host-release", "5.4")
    assert r.code == 2 and "segfault" in r.err
    r = golden("bridge", "plan", "a-very-long-bridge", "--nic", "eth1", "--root", tmp_path)
    assert r.code == 2 and "at most 15" in r.err
    r = golden("bridge", "plan", "br0", "--nic", "eth1", "--root", tmp_path, "--style", "xen")
    assert r.code == 2


def test_cli_apply_stages_under_root(golden, tmp_path):
    root = staged(tmp_path, ifcfg_eth1=ETH1)
    r = golden("bridge", "apply", "installation", "--nic", "eth1", "--root", root)
    assert r.code == 0, r.err
    assert "wrote" in r.out and "staged only" in r.out
    assert (root / SCRIPTS / "ifcfg-installation").is_file()
