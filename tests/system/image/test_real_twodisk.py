"""A real Debian 12 guest on two disks (root on the first, /var on the second), opened whole.

The guest comes from debian_twodisk.py (cached across sessions) and is
defined as a shut-off libvirt domain with both disks, so the tests go the
way a user does: `golden inspect DOMAIN`, `golden seal DOMAIN`, `golden
clone DOMAIN` and `golden verify` of the clones, which boot and answer
through the QEMU guest agent.

What shows that both disks were opened as one guest: the dpkg database and
the logs live on the second disk, so the package count, /var in the
mountpoints and a sealed /var/log are only right when it was.
"""

from __future__ import annotations

import json
import subprocess

import pytest

import debian_boot
from debian_guest import _appliance
from debian_twodisk import HOSTNAME, MACHINE_ID, VAR_LOG, twodisk_guest  # noqa: F401 (the fixture)
from demo_build import unique_name
from tests.conftest import golden_bin

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def domain(twodisk_guest, libvirt_up, vm_dirs):  # noqa: F811
    """A shut-off domain on qcow2 overlays of copies of both disks: (name, sys overlay, var overlay, work dir)."""
    import libvirt
    work = vm_dirs("twodisk")
    # The cache is private to root; libvirt's qemu user reads copies.
    for f in (twodisk_guest.sys, twodisk_guest.var, twodisk_guest.kernel, twodisk_guest.initrd):
        subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(f), str(work / f.name)], check=True)
    sys_disk = debian_boot.overlay(work / "sys.raw", "raw", work / "tpl-sys.qcow2")
    var_disk = debian_boot.overlay(work / "var.raw", "raw", work / "tpl-var.qcow2")
    name = unique_name("t-2disk")
    conn = libvirt.open("qemu:///system")
    dom = conn.defineXML(debian_boot.domain_xml(name, work / "vmlinuz", work / "initrd.img", twodisk_guest.cmdline,
                                                 [sys_disk, var_disk]))
    try:
        yield name, sys_disk, var_disk, work
    finally:
        dom.undefine()
        conn.close()


def _inspect(*args):
    run = golden_bin("inspect", *args, "--json", timeout=900)
    assert run.code == 0, f"golden inspect failed ({run.code}):\n{run.err}"
    return json.loads(run.out)


def test_inspect_domain_opens_both_disks(twodisk_guest, domain):  # noqa: F811
    name, sys_disk, var_disk, _ = domain
    r = _inspect(name)
    assert r["backend"] == "guestfs"
    assert [(d["path"], d["device"]) for d in r["disks"]] == [(str(sys_disk), "/dev/sda"), (str(var_disk), "/dev/sdb")]
    assert r["hostname"] == HOSTNAME and (r["os"]["distro"], r["os"]["major"]) == ("debian", 12)
    assert [(m["mountpoint"], m["device"]) for m in r["mountpoints"]] == [("/", "/dev/sda1"), ("/var", "/dev/sdb1")]
    # dpkg's database is on the /var disk: the count only matches when it was mounted.
    assert len(r["packages"]) == twodisk_guest.facts["packages"], r["packages_note"]
    assert {f["device"]: f["uuid"] for f in r["filesystems"]} == {
        "/dev/sda1": twodisk_guest.facts["sys_uuid"], "/dev/sdb1": twodisk_guest.facts["var_uuid"]}


def test_first_disk_alone_says_what_is_missing(domain):
    _, sys_disk, _, _ = domain
    r = _inspect(sys_disk, "--backend", "loop")
    assert [m["mountpoint"] for m in r["mountpoints"]] == ["/"]
    assert r["packages"] == []
    notes = " ".join(r.get("notes", []) + [r["packages_note"] or ""])
    assert "/var is on no disk given" in notes and "-a DISK" in notes, notes


def test_loop_backend_refuses_a_guest_of_two_disks(domain):
    _, sys_disk, var_disk, _ = domain
    run = golden_bin("inspect", sys_disk, "-a", var_disk, "--backend", "loop", timeout=120)
    assert run.code == 2, run.err
    assert "one disk" in run.err and "--backend guestfs" in run.err, run.err


def test_add_is_refused_with_a_domain(domain):
    name, _, var_disk, _ = domain
    run = golden_bin("inspect", name, "-a", var_disk, timeout=120)
    assert run.code == 2 and "--add" in run.err, run.err


@pytest.fixture(scope="module")
def sealed(domain):
    name, sys_disk, var_disk, _ = domain
    run = golden_bin("seal", name, "--json", timeout=900)
    assert run.code == 0, f"golden seal failed ({run.code}):\n{run.err}"
    return json.loads(run.out)


def test_seal_of_the_domain_reaches_the_second_disk(domain, sealed):
    _, sys_disk, var_disk, _ = domain
    assert sealed["image"] == str(sys_disk)
    g = _appliance()
    g.add_drive_opts(str(sys_disk), format="qcow2", readonly=True)
    g.add_drive_opts(str(var_disk), format="qcow2", readonly=True)
    g.launch()
    try:
        g.mount_ro("/dev/sda1", "/")
        g.mount_ro("/dev/sdb1", "/var")
        machine_id = g.read_file("/etc/machine-id").decode().strip()
        log_size = g.statns(VAR_LOG)["st_size"] if g.exists(VAR_LOG) else 0
        dpkg_log = g.statns("/var/log/dpkg.log")["st_size"] if g.exists("/var/log/dpkg.log") else 0
    finally:
        g.close()
    assert machine_id != MACHINE_ID                       # on the first disk
    assert (log_size, dpkg_log) == (0, 0)                 # on the second disk
    changed = {c["path"] for op in sealed["operations"] for c in op["changes"]}
    assert VAR_LOG in changed, sorted(changed)


@pytest.fixture(scope="module")
def verified(domain, sealed):
    name = domain[0]
    work = domain[3]
    prefix = unique_name("t-2dc")
    clones = work / "clones"
    run = golden_bin("clone", name, "--name", f"{prefix}-{{n}}", "--count", "2", "--dir", clones,
                     "--json", timeout=1200)
    assert run.code == 0, f"golden clone failed ({run.code}):\n{run.err}\n{run.out}"
    made = json.loads(run.out)
    try:
        yield made, golden_bin("verify", *[c["name"] for c in made], "--timeout", "600", "--json", timeout=1500)
    finally:
        golden_bin("clone", "--remove-batch", clones, timeout=300)


def test_clones_of_a_two_disk_guest_boot_and_verify(verified):
    made, check = verified
    assert all(len(c["disks"]) == 2 for c in made), made
    assert len({d for c in made for d in c["disks"]}) == 4
    verdicts = {v["name"]: v for v in json.loads(check.out)}
    print({n: (v["ok"], v["seconds"], v["problems"]) for n, v in verdicts.items()})
    assert check.code == 0, check.err + check.out
    a, b = (verdicts[c["name"]]["reported"] for c in made)
    for c, r in zip(made, (a, b)):
        # The guest runs qemu-guest-agent: verify asks it, through the channel golden clone added.
        assert r["via"] == "agent", r
        assert r["hostname"] == c["name"] and r["ssh"] == "active", r
        assert r["ssh-ed25519"].startswith("SHA256:") and r["mac"] == c["macs"][0], r
    assert a["ssh-ed25519"] != b["ssh-ed25519"] and a["machine-id"] != b["machine-id"]
