"""virt-install argv for Windows profiles (pure planning, no libvirt)."""

from __future__ import annotations

from builder import catalog
from builder.layout import BuildLayout
from builder.plan import make_plan
from builder.profile import load
from builder.virt.install_cmd import InstallTarget, build_argv
from tests.unit.windows_factory import profile


def argv_for(tmp_path, os_id, arch=None, **overrides):
    loaded = load(profile(tmp_path, os_id, arch, **overrides))
    entry = catalog.get(loaded.profile.os)
    layout = BuildLayout.for_profile(loaded.profile, tmp_path)
    return build_argv(loaded.profile, entry, layout, InstallTarget(virt_type="qemu")), layout


def opt(argv, name):
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def test_xp_install_cd_f6_floppy_virtio_disk_localtime(tmp_path):
    argv, layout = argv_for(tmp_path, "winxp", "i386")
    assert opt(argv, "--cdrom") == ["/srv/iso/winxp-i386.iso"]
    assert opt(argv, "--os-variant") == ["winxp"] and opt(argv, "--arch") == ["i686"]
    assert opt(argv, "--machine") == ["pc"]
    disks = opt(argv, "--disk")
    assert disks[0].endswith("bus=virtio,target.dev=vda")            # viostor from the F6 floppy
    assert f"path={layout.driver_floppy},device=floppy" in disks
    assert not any("device=cdrom" in d for d in disks)                 # no driver CD for XP
    assert opt(argv, "--clock") == ["offset=localtime"]
    assert opt(argv, "--network") == ["network=default,model=rtl8139"]  # netkvm is staged, not loaded
    assert opt(argv, "--memballoon") == ["none"] and "--rng" not in argv


def test_2008_driver_cd_virtio_disk_and_nic(tmp_path):
    argv, layout = argv_for(tmp_path, "win2k8", "x86_64")
    disks = opt(argv, "--disk")
    assert disks[0].endswith("bus=virtio,target.dev=vda")
    assert f"path={layout.driver_iso},device=cdrom,bus=ide,readonly=on" in disks
    assert not any("device=floppy" in d for d in disks)
    assert opt(argv, "--network") == ["network=default,model=virtio"]
    assert opt(argv, "--os-variant") == ["win2k8"]


def test_without_drivers_ide_disk_and_emulated_nic(tmp_path):
    argv, layout = argv_for(tmp_path, "win7", "x86_64", windows={"drivers": {"media": "none"}})
    disks = opt(argv, "--disk")
    assert disks[0].endswith("bus=ide,target.dev=hda")
    assert opt(argv, "--network") == ["network=default,model=e1000"]
    # autounattend.xml still needs a medium: the side CD carries it alone.
    assert f"path={layout.driver_iso},device=cdrom,bus=ide,readonly=on" in disks
    argv, _ = argv_for(tmp_path, "win2k3", "i386", windows={"drivers": {"media": "none"}})
    disks = opt(argv, "--disk")
    assert disks[0].endswith("bus=ide,target.dev=hda")
    assert any("device=floppy" in d for d in disks)                    # winnt.sif lives on A:


def test_uefi_q35_cds_on_sata(tmp_path):
    argv, layout = argv_for(tmp_path, "win2k19", "x86_64", machine={"memory": 2048, "firmware": "uefi"})
    assert opt(argv, "--machine") == ["q35"] and opt(argv, "--boot") == ["uefi"]
    assert f"path={layout.driver_iso},device=cdrom,bus=sata,readonly=on" in opt(argv, "--disk")


def test_balloon_and_rng_only_with_their_drivers(tmp_path):
    argv, _ = argv_for(tmp_path, "win10", "x86_64",
                       windows={"drivers": {"sets": ["viostor", "netkvm", "balloon", "viorng"]}})
    assert opt(argv, "--memballoon") == ["virtio"] and opt(argv, "--rng") == ["/dev/urandom"]


def test_plan_names_what_wiring_writes(tmp_path):
    loaded = load(profile(tmp_path, "win2k3", "i386"))
    plan = make_plan(loaded, cwd=tmp_path, target=InstallTarget(virt_type="qemu"))
    kinds = {a.kind: a for a in plan.artifacts}
    layout = plan.layout
    assert kinds["answer-file"].path == layout.unattend_dir / "winnt.sif"
    assert kinds["floppy"].path == layout.driver_floppy
    assert "txtsetup.oem" in kinds["floppy"].description and "iso" not in kinds
    loaded = load(profile(tmp_path, "win7", "x86_64"))
    plan = make_plan(loaded, cwd=tmp_path, target=InstallTarget(virt_type="qemu"))
    kinds = {a.kind: a for a in plan.artifacts}
    assert kinds["answer-file"].path == plan.layout.unattend_dir / "autounattend.xml"
    assert kinds["iso"].path == plan.layout.driver_iso and "floppy" not in kinds
    assert "NetKVM/w7/amd64" in kinds["iso"].description


def test_setup_continues_after_the_first_reboot():
    from builder.virt.watchdog import Outcome
    from builder.windows.wiring import continue_setup

    class Dom:
        started = 0

        def create(self):
            self.started += 1

    dom, events, spent = Dom(), [], []
    first = Outcome("completed", "the guest powered off", 600.0, "starting", ["a"])
    final = continue_setup(dom, first, lambda s: spent.append(s) or
                           Outcome("completed", "the guest powered off", 1800.0, "x", ["b"]), events.append)
    assert dom.started == 1 and spent == [600.0] and "seed 8.3" in events[0]
    assert (final.status, final.elapsed, final.last_lines) == ("completed", 2400.0, ["a", "b"])
    failed = Outcome("hung", "no output", 60.0, "starting")
    assert continue_setup(dom, failed, lambda s: None) is failed and dom.started == 1
