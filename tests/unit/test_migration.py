"""`golden migrate check` verdicts (seed ch. 21-22, scenario 22) from domain XML and each host's answers."""

from __future__ import annotations

import json

import pytest

from builder.virt import migration
from builder.virt.migration import Host

CAPS = """<capabilities><host><uuid>{uuid}</uuid><cpu><arch>x86_64</arch><model>Skylake</model>
<vendor>{vendor}</vendor><feature name='nx'/></cpu></host>
<guest><os_type>hvm</os_type><arch name='x86_64'><machine canonical='pc-i440fx-7.2'>pc</machine>
<machine>pc-i440fx-7.2</machine><machine>{machine}</machine><domain type='qemu'/>{kvm}</arch></guest></capabilities>"""


def _host(uuid="11111111-1111-1111-1111-111111111111", vendor="Intel", kvm=True, machine="pc-q35-7.2",
          version=7002000, networks=None, bridges=frozenset({"br0", "eth0"}), domains=None, hostname="host"):
    host_uuid, cpu_vendor, cpu_xml, guests, machines = migration.parse_capabilities(
        CAPS.format(uuid=uuid, vendor=vendor, machine=machine, kvm="<domain type='kvm'/>" if kvm else ""))
    return Host(uri=f"qemu+ssh://{hostname}/system", hypervisor="QEMU", version=version, hostname=hostname,
                uuid=host_uuid, cpu_vendor=cpu_vendor, cpu_xml=cpu_xml, guests=guests, machines=machines,
                networks={"default": True} if networks is None else networks,
                bridges=None if bridges is None else set(bridges), domains=domains or {})


def _xml(virt="kvm", machine="pc-i440fx-7.2", devices=""):
    return (f"<domain type='{virt}'><name>web1</name><uuid>aaaaaaaa-0000-0000-0000-000000000001</uuid>"
            f"<os><type arch='x86_64' machine='{machine}'>hvm</type></os><devices>"
            "<disk type='file' device='disk'><source file='/srv/nfs/web1.qcow2'/><target dev='vda'/></disk>"
            "<interface type='bridge'><source bridge='br0'/></interface>"
            f"{devices}</devices></domain>")


def _run(xml=None, running=True, src=None, dst=None, here=1 << 30, there=1 << 30, cpu=2, fstype="nfs4",
         unsafe=False):
    src = src or _host(hostname="host1")
    dst = dst or _host(uuid="22222222-2222-2222-2222-222222222222", hostname="host2")
    found = migration.checks(migration.parse_guest(xml or _xml()), running, src, dst,
                             lambda p: here, lambda p: there, lambda xml: cpu, lambda p: fstype, unsafe)
    return {c.name: c for c in found}


def _failed(found):
    return sorted(name for name, c in found.items() if c.verdict == "fail")


def test_a_guest_on_nfs_between_matching_hosts_passes():
    found = _run()
    assert _failed(found) == []
    assert found["storage /srv/nfs/web1.qcow2"].verdict == "ok"
    assert found["network bridge:br0"].verdict == "ok"
    assert found["migration ports"].verdict == "info" and "49152" in found["migration ports"].detail


def test_passthrough_and_sriov_guests_are_refused():
    hostdev = ("<hostdev mode='subsystem' type='pci' managed='yes'><source>"
               "<address domain='0x0000' bus='0x00' slot='0x1a' function='0x7'/></source></hostdev>"
               "<interface type='hostdev'><source><address type='pci' domain='0x0000' bus='0x03' slot='0x10' "
               "function='0x1'/></source></interface>")
    found = _run(_xml(devices=hostdev))
    check = found["passthrough devices"]
    assert check.verdict == "fail"
    assert "0x0000:0x00:0x1a:0x7" in check.detail and "0x0000:0x03:0x10:0x1" in check.detail
    assert "L5770" in check.fix


def test_a_stopped_guest_is_not_live_migrated():
    found = _run(running=False)
    assert _failed(found) == ["guest state"] and "virsh start web1" in found["guest state"].fix


def test_the_same_host_twice_is_refused():
    same = _host(hostname="host1")
    found = _run(src=same, dst=same)
    assert "different host" in _failed(found) and "host_uuid" in found["different host"].fix


@pytest.mark.parametrize("dst, failing", [
    (dict(bridges={"eth0"}), "network bridge:br0"),
    (dict(kvm=False), "hypervisor"),
    (dict(vendor="AMD"), "cpu"),
    (dict(domains={"web1": "bbbbbbbb-0000-0000-0000-000000000002"}), "name on target"),
])
def test_what_the_target_lacks_fails_by_name(dst, failing):
    found = _run(dst=_host(uuid="22222222-2222-2222-2222-222222222222", hostname="host2", **dst))
    assert _failed(found) == [failing]
    assert found[failing].fix


def test_a_machine_type_the_target_qemu_lacks_fails():
    found = _run(_xml(machine="pc-q35-8.2"), src=_host(machine="pc-q35-8.2", hostname="host1"))
    assert _failed(found) == ["hypervisor"] and "pc-q35-8.2" in found["hypervisor"].detail


def test_an_older_target_qemu_is_a_warning():
    found = _run(dst=_host(uuid="22222222-2222-2222-2222-222222222222", version=6002000))
    assert found["hypervisor"].verdict == "warn" and "6.2.0" in found["hypervisor"].detail


def test_networks_must_exist_and_be_active_on_the_target():
    xml = _xml(devices="<interface type='network'><source network='prod'/></interface>")
    missing = _run(xml)
    assert _failed(missing) == ["network network:prod"]
    idle = _run(xml, dst=_host(uuid="22222222-2222-2222-2222-222222222222", networks={"prod": False}))
    assert "net-start prod" in idle["network network:prod"].fix


def test_unlistable_host_interfaces_warn_instead_of_guessing():
    found = _run(dst=_host(uuid="22222222-2222-2222-2222-222222222222", bridges=None))
    assert found["network bridge:br0"].verdict == "warn"


def test_storage_must_be_the_same_file_at_the_same_path():
    unseen = _run(there=None)
    assert _failed(unseen) == ["storage /srv/nfs/web1.qcow2"] and "shared storage" in \
        unseen["storage /srv/nfs/web1.qcow2"].fix
    other = _run(there=5 << 30)
    assert "a different file" in other["storage /srv/nfs/web1.qcow2"].detail


def test_local_file_systems_fail_as_libvirt_would_unless_unsafe_is_given():
    local = _run(fstype="ext4")
    assert _failed(local) == ["shared /srv/nfs/web1.qcow2"]
    assert "Migration without shared storage is unsafe" in local["shared /srv/nfs/web1.qcow2"].detail
    forced = _run(fstype="ext4", unsafe=True)
    assert _failed(forced) == [] and forced["shared /srv/nfs/web1.qcow2"].verdict == "warn"
    remote = _run(fstype=None)
    assert remote["shared /srv/nfs/web1.qcow2"].verdict == "warn"


def test_read_only_media_and_block_devices_pass_the_shared_gate():
    xml = _xml(devices="<disk type='file' device='cdrom'><source file='/iso/x.iso'/><readonly/></disk>"
                       "<disk type='block' device='disk'><source dev='/dev/disk/by-path/ip-lun-1'/></disk>")
    found = _run(xml)
    assert found["shared /iso/x.iso"].verdict == "ok"
    assert found["shared /dev/disk/by-path/ip-lun-1"].verdict == "ok"


def test_cpu_checks_only_matter_with_hardware_acceleration():
    assert _run(cpu=0)["cpu"].verdict == "fail"
    assert _run(cpu=-1)["cpu"].verdict == "warn"
    tcg = _run(_xml(virt="qemu"), cpu=0, dst=_host(uuid="22222222-2222-2222-2222-222222222222", vendor="AMD"))
    assert tcg["cpu"].verdict == "ok"


def test_xen_hosts_get_the_relocation_port():
    src, dst = _host(hostname="host1"), _host(uuid="22222222-2222-2222-2222-222222222222")
    src.hypervisor = dst.hypervisor = "Xen"
    found = _run(_xml(virt="kvm"), src=src, dst=dst)
    assert "8002" in found["migration ports"].detail and "xend-relocation-server" in found["migration ports"].fix


def test_mount_type_takes_the_longest_mount_point():
    mounts = ("/dev/sda1 / ext4 rw 0 0\nnfs:/exports /srv/nfs nfs4 rw 0 0\n"
              "nfs:/other /srv/nfs2 nfs rw 0 0\ntmpfs /srv/nfs/scratch tmpfs rw 0 0\n")
    assert migration.mount_type("/srv/nfs/web1.qcow2", mounts) == "nfs4"
    assert migration.mount_type("/srv/nfs/scratch/x", mounts) == "tmpfs"
    assert migration.mount_type("/srv/nfs22/x", mounts) == "ext4"


def test_virsh_command_moves_the_definition_unless_asked_to_keep_it():
    argv = migration.virsh_argv("qemu:///system", "qemu+ssh://h2/system", "web1", "tcp://10.0.0.2", False, True)
    assert argv[:5] == ["virsh", "-c", "qemu:///system", "migrate", "--live"]
    assert {"--persistent", "--undefinesource", "--unsafe"} <= set(argv)
    assert argv[-2:] == ["--migrateuri", "tcp://10.0.0.2"]
    assert "--undefinesource" not in migration.virsh_argv("a", "b", "web1", None, True)


def test_cli_refuses_an_unknown_guest_and_the_same_uri(golden):
    same = golden("migrate", "check", "test", "--connect", "test:///default", "--to", "test:///default")
    assert same.code == 2 and "--to" in same.err
    words = golden("migrate", "a", "b", "c", "--to", "qemu+ssh://h2/system")
    assert words.code == 2 and "check DOMAIN" in words.err


def test_cli_names_a_missing_guest_before_reaching_the_target(golden, tmp_path):
    run = golden("migrate", "check", "nosuch", "--connect", "test:///default", "--to",
                 f"test://{tmp_path}/unreachable.xml")
    assert run.code == 2
    assert "no domain named 'nosuch' on test:///default" in run.err
