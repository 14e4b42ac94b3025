"""virt-install argv for every install method (pure planning, no libvirt)."""

from __future__ import annotations


import pytest

from builder import catalog
from builder.layout import BuildLayout
from builder.profile import load
from builder.virt.install_cmd import InstallTarget, build_argv, shell_line
from tests.unit.profile_factory import representative, write


def argv_for(tmp_path, os_id="rhel9.6", target=InstallTarget(virt_type="qemu"), **overrides):
    loaded = load(write(tmp_path, representative(os_id, **overrides)))
    entry = catalog.get(loaded.profile.os)
    layout = BuildLayout.for_profile(loaded.profile, tmp_path)
    return build_argv(loaded.profile, entry, layout, target), layout


def opt(argv, name):
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def test_location_injects_kickstart_with_dialect(tmp_path):
    argv, layout = argv_for(tmp_path, "rhel9.6")
    assert opt(argv, "--location") == ["http://mirror.example.com/tree/"]
    assert opt(argv, "--initrd-inject") == [str(layout.kickstart)]
    extra = opt(argv, "--extra-args")[0].split()
    assert extra[:3] == ["inst.ks=file:/ks.cfg", "inst.repo=http://mirror.example.com/tree/", "console=ttyS0,115200"]
    argv, _ = argv_for(tmp_path, "rhel5.11")
    extra = opt(argv, "--extra-args")[0].split()
    assert extra[:2] == ["ks=file:/ks.cfg", "method=http://mirror.example.com/tree/"]
    argv, _ = argv_for(tmp_path, "rhel6.10")
    assert "repo=http://mirror.example.com/tree/" in opt(argv, "--extra-args")[0]


def test_tcg_and_kvm_choices(tmp_path):
    argv, _ = argv_for(tmp_path, target=InstallTarget(virt_type="qemu"))
    assert opt(argv, "--virt-type") == ["qemu"] and opt(argv, "--cpu") == ["mode=maximum"]
    argv, _ = argv_for(tmp_path, target=InstallTarget(virt_type="kvm"))
    assert opt(argv, "--virt-type") == ["kvm"] and opt(argv, "--cpu") == ["host-passthrough"]


def test_disks_network_console_and_display(tmp_path):
    argv, layout = argv_for(tmp_path, "rhel5.11", target=InstallTarget(virt_type="qemu", mac="52:54:00:aa:bb:cc"),
                            disks=[{"size": "6G", "bus": "ide"}, {"size": "512M", "format": "raw", "bus": "virtio"}],
                            network={"mode": "bridge", "source": "br0", "model": "e1000"})
    disks = opt(argv, "--disk")
    assert disks[0] == f"path={layout.disks[0]},size=6,sparse=yes,format=qcow2,bus=ide,target.dev=hda"
    assert disks[1] == f"path={layout.disks[1]},size=0.5,sparse=yes,format=raw,bus=virtio,target.dev=vda"
    assert opt(argv, "--network") == ["bridge=br0,model=e1000,mac=52:54:00:aa:bb:cc"]
    assert opt(argv, "--serial") == [f"pty,log.file={layout.serial_log}"]
    assert opt(argv, "--graphics") == ["vnc,listen=none"]
    assert "--noautoconsole" in argv and "--noreboot" in argv


@pytest.mark.parametrize("method,expect", [
    ("pxe", ["--pxe"]),
])
def test_simple_methods(tmp_path, method, expect):
    network = {"mode": "bridge", "source": "installation"} if method == "pxe" else {"mode": "nat"}
    media = "/srv/x.iso" if method != "pxe" else "http://mirror.example.com/tree/"
    argv, _ = argv_for(tmp_path, "rhel5.11", install={"method": method, "media": media}, network=network)
    text = " ".join(argv)
    assert " ".join(expect) in text
    assert "--initrd-inject" not in argv


def test_remaster_oemdrv_ksfloppy(tmp_path):
    argv, layout = argv_for(tmp_path, "rhel9.6", install={"method": "remaster", "media": "/srv/rhel9.iso"})
    assert opt(argv, "--cdrom") == [str(layout.remastered_iso)]
    argv, layout = argv_for(tmp_path, "rhel9.6", install={"method": "oemdrv", "media": "/srv/rhel9.iso"})
    assert opt(argv, "--cdrom") == ["/srv/rhel9.iso"]
    assert f"path={layout.oemdrv_iso},device=cdrom,bus=ide,readonly=on" in opt(argv, "--disk")
    argv, layout = argv_for(tmp_path, "rhel5.11", install={"method": "ksfloppy", "media": "/srv/rhel5.iso"})
    assert f"path={layout.ks_floppy},device=floppy" in opt(argv, "--disk")
    assert opt(argv, "--extra-args")[0].startswith("ks=hd:fd0:/ks.cfg")


def test_import_uses_existing_disk(tmp_path):
    argv, _ = argv_for(tmp_path, "rhel9.6", install={"method": "import"},
                       disks=[{"path": "/srv/existing.qcow2", "format": "qcow2"}])
    assert "--import" in argv
    assert opt(argv, "--disk")[0].startswith("path=/srv/existing.qcow2,format=qcow2")


def test_xen_pv_and_fv(tmp_path):
    argv, _ = argv_for(tmp_path, "rhel5.11", target=InstallTarget(virt_type="xen"), hypervisor="xen", virt="pv",
                       arch="i386", network={"mode": "bridge", "source": "xenbr0"}, disks=[{"size": "4G"}])
    assert "--paravirt" in argv and opt(argv, "--virt-type") == ["xen"] and opt(argv, "--arch") == ["i686"]
    assert opt(argv, "--disk")[0].endswith("bus=xen,target.dev=xvda")
    assert "--cpu" not in argv and "--machine" not in argv
    assert "console=xvc0" in opt(argv, "--extra-args")[0]
    assert opt(argv, "--console") and not opt(argv, "--serial")
    argv, _ = argv_for(tmp_path, "rhel5.11", target=InstallTarget(virt_type="xen"), hypervisor="xen",
                       network={"mode": "bridge", "source": "xenbr0"}, disks=[{"size": "6G"}])
    assert "--paravirt" not in argv
    assert opt(argv, "--disk")[0].endswith("bus=ide,target.dev=hda")
    assert opt(argv, "--network") == ["bridge=xenbr0,model=rtl8139"]


def test_uefi_uses_q35_and_sata_cdroms(tmp_path):
    argv, layout = argv_for(tmp_path, "rhel9.6", machine={"memory": 2048, "firmware": "uefi"},
                            install={"method": "oemdrv", "media": "/srv/rhel9.iso"})
    assert opt(argv, "--boot") == ["uefi"] and opt(argv, "--machine") == ["q35"]
    assert f"path={layout.oemdrv_iso},device=cdrom,bus=sata,readonly=on" in opt(argv, "--disk")


def test_shell_line_is_quoted(tmp_path):
    argv, _ = argv_for(tmp_path)
    line = shell_line(argv)
    assert "--extra-args 'inst.ks=file:/ks.cfg" in line
    assert line.count("\\\n") == sum(1 for a in argv if a.startswith("--"))
