"""`golden inspect`, `golden customize` and `golden seal` on copies of the session's demo golden image.

All of it runs on the loop backend (the demo's file systems are ext4, which
the host kernel mounts), so no guestfs appliance starts in this module; the
guestfs backend is compared with the loop backend on the demo image in
tests/system/image/test_image_demo_backends.py.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from passlib.context import CryptContext

from demo_build import undefine, unique_name
from tests.conftest import golden_bin

from builder.clone.records import sha256_sparse
from builder.image import open_image

pytestmark = pytest.mark.system


@pytest.fixture
def demo_copy(demo_install, tmp_path) -> Path:
    path = tmp_path / "demo.qcow2"
    subprocess.run(["cp", "--sparse=always", str(demo_install.disk), str(path)], check=True)
    return path


def gi_tree(g) -> dict:
    """Every file's type, mode, owner and content digest (what a user of the image could notice)."""
    import hashlib
    out = {}
    for p in g.find("/"):
        st = g.lstat(p)
        out[p] = (st.mode, st.uid, st.gid, hashlib.sha256(g.read(p)).hexdigest() if st.is_file else
                  (g.readlink(p) if st.is_symlink else None))
    return out


def run_json(*args):
    run = golden_bin(*args)
    assert run.code == 0, run.err
    return json.loads(run.out)


def test_inspect_reports_the_installed_demo(demo_install, demo_copy):
    before = sha256_sparse(demo_copy)
    report = run_json("inspect", demo_copy, "--json")
    assert report["backend"] == "loop" and report["os"]["distro"] == "golden-demo"
    assert report["os"]["arch"] == "x86_64" and report["hostname"] == "demo-golden"
    assert [(p["device"], p["bootable"]) for p in report["partitions"]] == \
        [("/dev/sda1", True), ("/dev/sda2", False), ("/dev/sda3", False)]
    assert sorted(f["fstype"] for f in report["filesystems"]) == ["ext4", "ext4", "swap"]
    assert all(f["uuid"] for f in report["filesystems"])
    assert [(m["mountpoint"], m["device"]) for m in report["mountpoints"]] == [("/", "/dev/sda3"),
                                                                               ("/boot", "/dev/sda1")]
    assert report["kernels"] and report["kernels"][0]["initrd"]
    boot = report["bootloaders"][0]
    assert boot["type"] == "extlinux" and "golden.poweroff" in boot["default_entry"]["args"]
    eth0 = report["network"]["ifcfg"][0]
    assert (eth0["device"], eth0["hwaddr"].lower(), eth0["bootproto"]) == ("eth0", demo_install.result["mac"], "dhcp")
    assert report["identity"]["machine_id"]["state"] == "set"
    assert len(report["identity"]["ssh_host_keys"]) == 2
    assert report["identity"]["persistent_net_macs"] == [demo_install.result["mac"]]
    assert "machine-id set in /etc/machine-id" in report["findings"]
    assert sha256_sparse(demo_copy) == before                  # inspecting changes nothing


def test_inspect_a_domain_by_name_and_as_a_table(demo_install):
    report = run_json("inspect", demo_install.name, "--json")
    assert report["image"] == str(demo_install.disk) and report["hostname"] == "demo-golden"
    table = golden_bin("inspect", demo_install.name)
    assert table.code == 0, table.err
    for heading in ("partitions", "file systems", "boot loaders", "network configuration", "identity",
                    "not golden yet"):
        assert heading in table.out
    missing = golden_bin("inspect", "no-such-domain-" + uuid.uuid4().hex[:6])
    assert missing.code == 2 and "no such image file or libvirt domain" in missing.err


def test_seal_dry_run_seal_and_seal_again(demo_copy):
    before = sha256_sparse(demo_copy)
    dry = run_json("seal", demo_copy, "--dry-run", "--json")
    results = {op["name"]: op["result"] for op in dry["operations"]}
    assert results["machine-id"] == results["ssh-hostkeys"] == results["udev-persistent-net"] == "would change"
    assert sha256_sparse(demo_copy) == before
    sealed = run_json("seal", demo_copy, "--json")
    assert {op["name"]: op["result"] for op in sealed["operations"]} == \
        {name: result.replace("would change", "changed") for name, result in results.items()}
    hwaddr = next(op for op in sealed["operations"] if op["name"] == "net-hwaddr")
    assert hwaddr["changes"] == [{"path": "/etc/sysconfig/network-scripts/ifcfg-eth0", "action": "edited",
                                  "detail": "removed HWADDR"}]
    assert run_json("inspect", demo_copy, "--json")["findings"] == []
    again = golden_bin("seal", demo_copy)
    assert again.code == 0 and "0 of" in again.out and "operations changed something" in again.out


def test_seal_only_skip_and_list(demo_copy):
    only = run_json("seal", demo_copy, "--only", "machine-id,ssh-hostkeys", "--json")
    assert [op["name"] for op in only["operations"]] == ["machine-id", "ssh-hostkeys"]
    skip = run_json("seal", demo_copy, "--skip", "logfiles", "--skip", "tmp-files", "--json")
    names = [op["name"] for op in skip["operations"]]
    assert "logfiles" not in names and "tmp-files" not in names and "random-seed" in names
    listed = {op["name"]: op["default"] for op in run_json("seal", "--list", "--json")}
    assert listed["machine-id"] is True and listed["fs-uuids"] is False
    before = sha256_sparse(demo_copy)
    bad = golden_bin("seal", demo_copy, "--only", "machine-idd")
    assert bad.code == 2 and "did you mean 'machine-id'" in bad.err
    assert sha256_sparse(demo_copy) == before


def test_customize_every_operation_in_one_call(demo_copy, tmp_path):
    (tmp_path / "root.pass").write_text("Demo-Pass-1\n")
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", "ops@example", "-f", str(tmp_path / "k")],
                   check=True)
    (tmp_path / "setup.sh").write_text("#!/bin/sh\necho set up\n")
    report = run_json("customize", demo_copy, "--hostname", "web-7.example.com",
                      "--root-password-file", tmp_path / "root.pass", "--ssh-key", tmp_path / "k.pub",
                      "--upload", f"{tmp_path / 'setup.sh'}:/root/", "--write", "/etc/motd:built by a test",
                      "--edit", "/etc/motd:s/test/golden test/", "--firstboot", tmp_path / "setup.sh",
                      "--selinux-relabel", "--json")
    assert [op["op"] for op in report["operations"]] == ["hostname", "root-password", "ssh-key", "upload",
                                                         "write", "edit", "firstboot", "selinux-relabel"]
    assert all(op["result"] == "changed" for op in report["operations"])
    assert "Demo-Pass-1" not in json.dumps(report)
    with open_image(demo_copy, readonly=True) as g:
        assert g.read_text("/etc/hostname").strip() == "web-7.example.com"
        assert g.read_text("/etc/motd") == "built by a golden test"
        assert (tmp_path / "k.pub").read_text().split()[1] in g.read_text("/root/.ssh/authorized_keys")
        assert g.stat("/root/.ssh/authorized_keys").perms == 0o600
        root_hash = g.read_text("/etc/shadow").splitlines()[0].split(":")[1]
        assert CryptContext(schemes=["sha512_crypt", "md5_crypt"]).verify("Demo-Pass-1", root_hash)
        assert g.is_file("/root/setup.sh") and g.is_file("/.autorelabel")
        assert "golden-firstboot" in g.read_text("/etc/rc.d/rc.local")


def test_customize_that_cannot_apply_changes_nothing(demo_copy):
    """The demo OS ships no zoneinfo: the time zone fails, and the hostname before it is not applied either.

    (The image's bytes may change: mounting ext4 read-write updates its superblock. Its files may not.)
    """
    with open_image(demo_copy, readonly=True) as g:
        before = gi_tree(g)
    run = golden_bin("customize", demo_copy, "--hostname", "web-8", "--timezone", "Europe/Paris")
    assert run.code == 2 and "no /usr/share/zoneinfo/Europe/Paris" in run.err
    with open_image(demo_copy, readonly=True) as g:
        assert gi_tree(g) == before and g.read_text("/etc/hostname").strip() == "demo-golden"
    nothing = golden_bin("customize", demo_copy)
    assert nothing.code == 2 and "nothing to do" in nothing.err


def test_running_domain_refuses_writes_and_warns_readers(demo_install, vm_dirs):
    import libvirt

    from builder.clone.domainxml import CloneSpec, parse, rewrite
    work = vm_dirs("busy-cli")
    disk = work / "busy.qcow2"
    subprocess.run(["cp", "--sparse=always", str(demo_install.disk), str(disk)], check=True)
    name = unique_name("t-busy")
    spec = CloneSpec(name=name, uuid=str(uuid.uuid4()), macs=("52:54:00:7f:00:02",), disks=(disk,),
                     disk_formats=("qcow2",), hostname=name, serial_log=None, source="test")
    conn = libvirt.open("qemu:///system")
    try:
        dom = conn.defineXML(rewrite(parse(demo_install.domain_xml.read_text()), spec))
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)      # qemu holds the disk open, read-write
        for args in (["customize", disk, "--hostname", "x"], ["seal", name]):
            run = golden_bin(*args)
            assert run.code == 2 and f"in use by running domain '{name}'" in run.err, run.err
        read = golden_bin("inspect", disk, "--json")
        assert read.code == 0 and "may be inconsistent" in read.err
    finally:
        undefine(name)
        conn.close()


def test_base_of_overlays_is_not_changed(demo_copy):
    overlay = demo_copy.with_name("clone.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(demo_copy), str(overlay)],
                   check=True)
    for args in (["seal", demo_copy], ["customize", demo_copy, "--hostname", "x"]):
        run = golden_bin(*args)
        assert run.code == 2 and "backing file of 1 overlay" in run.err


def test_customize_then_seal_in_one_call(demo_copy):
    report = run_json("customize", demo_copy, "--hostname", "web-9", "--seal", "--json")
    assert report["operations"][0]["result"] == "changed"
    assert {op["name"]: op["result"] for op in report["seal"]["operations"]}["machine-id"] == "changed"
    assert "net-hostname" not in {op["name"] for op in report["seal"]["operations"]}   # it would undo --hostname
    after = run_json("inspect", demo_copy, "--json")
    assert after["hostname"] == "web-9" and after["network"]["sysconfig_network"]["HOSTNAME"] == "web-9"
    assert after["findings"] == ["HOSTNAME=web-9 in /etc/sysconfig/network"]
