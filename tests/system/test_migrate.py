"""`golden migrate` between two real libvirt daemons on this machine (seed ch. 21-22, scenario 22).

The second daemon (second_libvirtd.py) has its own host UUID and sees /var/tmp, so a disk there is
"shared storage at the same path" for both; a daemon that hides the folder stands in for a host
without the share. The guest is a small TCG domain idling in SeaBIOS: live migration moves its
memory and device state whatever it runs.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from demo_build import undefine, unique_name
from second_libvirtd import SecondLibvirtd, default_hidden
from tests.conftest import golden_bin

pytestmark = pytest.mark.system

# qemu's migration stream must go to the loopback: the target's hostname resolves elsewhere.
LOOPBACK = "tcp://127.0.0.1"


def _domain_xml(name: str, disk) -> str:
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>
<target dev='vda' bus='virtio'/></disk><interface type='user'><model type='virtio'/></interface>
<video><model type='none'/></video></devices></domain>"""


@pytest.fixture(scope="module")
def share(libvirt_up, vm_dirs):
    return vm_dirs("migrate")


@pytest.fixture(scope="module")
def target(share, tmp_path_factory):
    daemon = SecondLibvirtd(tmp_path_factory.mktemp("second-libvirtd-migrate"),
                            hide=default_hidden([tmp_path_factory.getbasetemp()]))
    with daemon:
        yield daemon


@pytest.fixture
def guest(share):
    import libvirt

    name = unique_name("t-mig")
    disk = share / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    conn = libvirt.open("qemu:///system")
    try:
        conn.defineXML(_domain_xml(name, disk)).create()
    finally:
        conn.close()
    yield name, disk
    undefine(name)


def _checks(run) -> dict:
    return {c["name"]: c for c in json.loads(run.out)["checks"]}


def _state(uri: str, name: str):
    import libvirt

    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByName(name)
        return bool(dom.isActive()), bool(dom.isPersistent())
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def test_check_finds_the_shared_disk_and_libvirts_local_fs_refusal(guest, target):
    name, disk = guest
    run = golden_bin("migrate", "check", name, "--to", target.uri, "--json")
    assert run.code == 3, run.err + run.out
    checks = _checks(run)
    assert checks["different host"]["verdict"] == "ok" and target.host_uuid in checks["different host"]["detail"]
    assert checks[f"storage {disk}"]["verdict"] == "ok"
    assert checks["guest state"]["verdict"] == "ok" and checks["passthrough devices"]["verdict"] == "ok"
    # /var/tmp is ext4 here: libvirt would stop the migration half-way, so the check fails it first.
    shared = checks[f"shared {disk}"]
    assert shared["verdict"] == "fail" and "Migration without shared storage is unsafe" in shared["detail"]
    assert _state("qemu:///system", name) == (True, True)
    assert name not in target.domain_names()


def test_a_target_without_the_share_fails_the_storage_check(guest, share, tmp_path_factory):
    name, disk = guest
    hidden = SecondLibvirtd(tmp_path_factory.mktemp("second-libvirtd-noshare"),
                            hide=default_hidden([tmp_path_factory.getbasetemp(), share]))
    with hidden:
        run = golden_bin("migrate", "check", name, "--to", hidden.uri, "--unsafe", "--json")
        storage = _checks(run)[f"storage {disk}"]
        assert run.code == 3, run.err
        assert storage["verdict"] == "fail" and "does not see" in storage["detail"]
        # Asking left nothing defined there: the folder probe's pool was transient.
        conn = hidden.connect()
        try:
            assert [p.name() for p in conn.listAllStoragePools(0) if "migrate-check" in p.name()] == []
        finally:
            conn.close()


def test_migrate_moves_the_running_guest_and_its_definition(guest, target):
    name, disk = guest
    run = golden_bin("migrate", name, "--to", target.uri, "--unsafe", "--migrate-uri", LOOPBACK, "--json",
                     timeout=600)
    try:
        assert run.code == 0, run.err + run.out
        result = json.loads(run.out)
        assert result["migrated"] is True and "--live" in result["command"]
        assert _state(target.uri, name) == (True, True)      # running and persistent on the target
        assert _state("qemu:///system", name) is None          # gone from the source
        again = golden_bin("migrate", "check", name, "--to", target.uri)
        assert again.code == 2 and f"no domain named '{name}'" in again.err
    finally:
        target.remove_domain(name)
