"""`golden net default` (seed 10.1, scenario 16) on --root trees: never on this host's networks."""

from __future__ import annotations

import json
import os
import subprocess

from builder.net import natdefault
from tests.conftest import snapshot

NETWORKS = "etc/libvirt/qemu/networks"


def _tree(tmp_path, sysctl: str | None = None):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    if sysctl is not None:
        (root / "etc/sysctl.conf").write_text(sysctl)
    return root


def test_root_tree_gets_network_autostart_link_and_forwarding(golden, tmp_path):
    root = _tree(tmp_path, "# local tuning\nkernel.sysrq = 0\nvm.swappiness=10\n")
    run = golden("net", "default", "--root", root)
    assert run.code == 0, run.err
    net = root / NETWORKS / "default.xml"
    link = root / NETWORKS / "autostart/default.xml"
    assert b"<name>default</name>" in net.read_bytes() and b"<forward" in net.read_bytes()
    # libvirt's net-autostart makes an absolute link to the defined network's file.
    assert link.is_symlink() and os.readlink(link) == "/etc/libvirt/qemu/networks/default.xml"
    assert (root / "etc/sysctl.conf").read_text() == (
        "# local tuning\nkernel.sysrq = 0\nvm.swappiness=10\n\n"
        "# libvirt's NAT network needs IP forwarding (RHEL 5 Virtualization Guide 10.1); written by golden.\n"
        "net.ipv4.ip_forward = 1\n")


def test_network_file_passes_libvirts_schema(golden, tmp_path):
    root = _tree(tmp_path)
    assert golden("net", "default", "--root", root).code == 0
    check = subprocess.run(["virt-xml-validate", str(root / NETWORKS / "default.xml"), "network"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    builtin = tmp_path / "builtin.xml"
    builtin.write_bytes(natdefault.builtin_xml())
    check = subprocess.run(["virt-xml-validate", str(builtin), "network"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_second_run_changes_nothing(golden, tmp_path):
    root = _tree(tmp_path, "net.ipv4.ip_forward = 0\nnet.ipv4.conf.all.rp_filter = 1\n")
    assert golden("net", "default", "--root", root).code == 0
    before = snapshot(root)
    again = golden("net", "default", "--root", root, "--json")
    assert again.code == 0, again.err
    data = json.loads(again.out)
    assert data["written"] == [] and data["linked"] == []
    assert snapshot(root) == before
    # The 0 was turned into 1 in place; the other setting stayed where it was.
    assert (root / "etc/sysctl.conf").read_text() == "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 1\n"


def test_every_assignment_is_turned_on():
    # sysctl -p applies lines in order, so a later `= 0` would win over an earlier `= 1`.
    text = natdefault.sysctl_text("net.ipv4.ip_forward=1\n# net.ipv4.ip_forward = 0\nnet/ipv4/ip_forward = 0\n")
    assert natdefault.forwarding_on(text)
    assert "# net.ipv4.ip_forward = 0" in text          # comments are the user's
    assert not natdefault.forwarding_on("net.ipv4.ip_forward = 1\nnet.ipv4.ip_forward = 0\n")


def test_existing_default_network_is_kept(golden, tmp_path):
    root = _tree(tmp_path)
    net = root / NETWORKS / "default.xml"
    net.parent.mkdir(parents=True)
    net.write_text("<network><name>default</name><uuid>0c3e1a2b-1111-2222-3333-444455556666</uuid></network>\n")
    run = golden("net", "default", "--root", root)
    assert run.code == 0, run.err
    assert "0c3e1a2b" in net.read_text()
    assert "kept" in run.out


def test_dry_run_prints_the_guides_commands_and_writes_nothing(golden, tmp_path):
    root = _tree(tmp_path, "kernel.sysrq = 0\n")
    before = snapshot(root)
    run = golden("net", "default", "--root", root, "--dry-run")
    assert run.code == 0, run.err
    for cmd in ("virsh net-define", "virsh net-autostart default", "virsh net-start default"):
        assert cmd in run.out
    assert "+net.ipv4.ip_forward = 1" in run.out
    assert snapshot(root) == before


def test_real_host_needs_apply(golden):
    run = golden("net", "default")
    assert run.code == 2
    assert "--apply" in run.err and "--dry-run" in run.err


def test_bad_shipped_xml_is_refused_naming_file_and_field(golden, tmp_path):
    root = _tree(tmp_path, "kernel.sysrq = 0\n")
    bad = tmp_path / "default.xml"
    bad.write_text("<network><name>other</name></network>")
    before = snapshot(root)
    run = golden("net", "default", "--root", root, "--from", bad)
    assert run.code == 2
    assert f"{bad}: name:" in run.err
    assert snapshot(root) == before
