"""The guest agent path of `golden verify`: the channel clones get, and what it reads back."""

from __future__ import annotations

import subprocess

from clone_fixtures import template_xml

from builder.clone import agent
from builder.clone.domainxml import AGENT_CHANNEL, parse, rewrite
from test_clone_domainxml import SPEC


def _channels(xml: str) -> list[str]:
    return [t.get("name") for t in parse(xml).findall("./devices/channel/target")]


def _without_channels(root):
    for channel in root.findall("./devices/channel"):
        channel.getparent().remove(channel)
    return root


def test_every_kvm_clone_gets_one_agent_channel():
    added = rewrite(_without_channels(parse(template_xml())), SPEC)
    assert _channels(added) == [AGENT_CHANNEL]
    # A template that already has it (virt-install adds one) keeps exactly one.
    assert _channels(rewrite(parse(template_xml()), SPEC)).count(AGENT_CHANNEL) == 1


def test_xen_clones_get_no_virtio_serial():
    root = _without_channels(parse(template_xml()))
    root.set("type", "xen")
    assert AGENT_CHANNEL not in _channels(rewrite(root, SPEC))


def test_fingerprint_is_what_ssh_keygen_prints(tmp_path):
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    printed = subprocess.run(["ssh-keygen", "-l", "-f", f"{key}.pub"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    assert agent.fingerprint((tmp_path / "k.pub").read_bytes()) == printed
    assert agent.fingerprint(b"ssh-ed25519 not!base64") is None and agent.fingerprint(b"") is None


def test_first_mac_skips_loopback_and_empty_addresses():
    nics = [{"name": "lo", "hardware-address": "00:00:00:00:00:00"}, {"name": "sit0"},
            {"name": "enp1s0", "hardware-address": "52:54:00:AB:CD:EF"},
            {"name": "enp2s0", "hardware-address": "52:54:00:00:00:02"}]
    assert agent._first_mac(nics) == "52:54:00:ab:cd:ef"
    assert agent._first_mac([{"name": "lo", "hardware-address": "00:00:00:00:00:00"}]) == ""


def test_a_domain_without_an_agent_answers_nothing():
    import libvirt
    conn = libvirt.open("test:///default")
    try:
        dom = conn.lookupByName("test")
        assert agent.identity(dom) is None and agent.read_file(dom, "/etc/machine-id") is None
    finally:
        conn.close()
