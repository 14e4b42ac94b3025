"""virt-install argv for a remote libvirt host: volumes, never local paths (pure, no libvirt).

The only local paths left are the ones virt-install itself reads on this
machine and uploads: the kernel and initrd of `--install` and the kickstart
of `--initrd-inject`.
"""

from __future__ import annotations


import pytest

from builder import catalog
from builder.errors import HostError
from builder.layout import BuildLayout
from builder.profile import load
from builder.virt.install_cmd import InstallTarget, build_argv
from builder.virt.remote import RemoteLayout, owned_names, transient_name
from tests.unit.profile_factory import representative, write
from tests.unit.windows_factory import profile as windows_profile

POOL_PATH = "/srv/pools/golden"
ISO = "/srv/iso/install.iso"


def remote_layout(layout: BuildLayout, name: str, *, boot: bool = False, disks: int = 1) -> RemoteLayout:
    files = [ISO, layout.remastered_iso, layout.oemdrv_iso, layout.ks_floppy, layout.driver_floppy,
             layout.driver_iso, "/srv/iso/winxp-i386.iso", "/srv/iso/win2k8-x86_64.iso"]
    uploads = {str(f): transient_name(name, f"f{i}", pid=42) for i, f in enumerate(files)}
    kernel = (layout.media_dir / "remote-boot" / "vmlinuz", layout.media_dir / "remote-boot" / "initrd.img")
    return RemoteLayout(pool="golden", pool_path=POOL_PATH,
                        disks=tuple(f"{name}-disk{i}.qcow2" for i in range(disks)),
                        serial_log=f"{POOL_PATH}/{name}-serial.log", uploads=uploads,
                        boot=kernel if boot else None)


def remote_argv(loaded, tmp_path, **kw):
    entry = catalog.get(loaded.profile.os)
    layout = BuildLayout.for_profile(loaded.profile, tmp_path)
    rl = remote_layout(layout, loaded.profile.name, disks=len(loaded.profile.disks), **kw)
    argv = build_argv(loaded.profile, entry, layout, InstallTarget(virt_type="qemu", remote=rl))
    return argv, layout, rl


def opt(argv, name):
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def local_tokens(argv, tmp_path) -> list[str]:
    """Arguments naming a local path, except those virt-install reads here and uploads itself."""
    out = []
    for i, token in enumerate(argv):
        if (str(tmp_path) in token or "/srv/iso" in token) and argv[i - 1] not in ("--install", "--initrd-inject"):
            out.append(token)
    return out


@pytest.mark.parametrize("method", ["location", "remaster", "oemdrv", "ksfloppy"])
def test_no_local_path_reaches_a_remote_host(tmp_path, method):
    loaded = load(write(tmp_path, representative("rhel9.6" if method != "ksfloppy" else "rhel5.11",
                                                 install={"method": method, "media": ISO})))
    argv, layout, rl = remote_argv(loaded, tmp_path, boot=method in ("location", "ksfloppy"))
    assert local_tokens(argv, tmp_path) == []
    disks = opt(argv, "--disk")
    assert disks[0].startswith(f"vol=golden/{loaded.profile.name}-disk0.qcow2,format=qcow2,")
    assert "size=" not in disks[0], "the disk volume is created through the API before virt-install"
    assert all(d.startswith("vol=golden/") for d in disks), disks
    assert opt(argv, "--serial") == [f"pty,log.file={POOL_PATH}/{loaded.profile.name}-serial.log"]
    assert "--cdrom" not in argv and "--location" not in argv


def test_location_from_a_local_iso_hands_virt_install_kernel_and_initrd(tmp_path):
    loaded = load(write(tmp_path, representative("rhel9.6", install={"method": "location", "media": ISO})))
    argv, layout, rl = remote_argv(loaded, tmp_path, boot=True)
    kernel, initrd = rl.boot
    assert opt(argv, "--install") == [f"kernel={kernel},initrd={initrd}"]
    assert opt(argv, "--initrd-inject") == [str(layout.kickstart)]
    assert f"vol=golden/{rl.uploads[ISO]},device=cdrom,bus=ide,readonly=on" in opt(argv, "--disk")
    assert opt(argv, "--extra-args")[0].startswith("inst.ks=file:/ks.cfg")


def test_location_from_an_http_tree_stays_with_virt_install(tmp_path):
    loaded = load(write(tmp_path, representative("rhel9.6")))      # http://mirror.example.com/tree/
    argv, layout, _ = remote_argv(loaded, tmp_path)
    assert opt(argv, "--location") == ["http://mirror.example.com/tree/"]
    assert opt(argv, "--initrd-inject") == [str(layout.kickstart)]
    assert "--install" not in argv


def test_cd_installs_boot_the_uploaded_volume(tmp_path):
    loaded = load(write(tmp_path, representative("rhel9.6", install={"method": "oemdrv", "media": ISO})))
    argv, layout, rl = remote_argv(loaded, tmp_path)
    disks = opt(argv, "--disk")
    assert disks[1:] == [f"vol=golden/{rl.uploads[ISO]},device=cdrom,bus=ide,readonly=on",
                         f"vol=golden/{rl.uploads[str(layout.oemdrv_iso)]},device=cdrom,bus=ide,readonly=on"]
    assert opt(argv, "--install") == ["bootdev=cdrom"]


def test_windows_media_go_as_volumes(tmp_path):
    loaded = load(windows_profile(tmp_path, "win2k8", "x86_64"))
    argv, layout, rl = remote_argv(loaded, tmp_path)
    assert local_tokens(argv, tmp_path) == []
    assert "--cdrom" not in argv and opt(argv, "--install") == ["bootdev=cdrom"]
    assert any(d.startswith(f"vol=golden/{rl.uploads[str(layout.driver_iso)]},device=cdrom")
               for d in opt(argv, "--disk"))


def test_a_local_file_without_a_volume_is_a_bug_not_a_path(tmp_path):
    loaded = load(write(tmp_path, representative("rhel9.6", install={"method": "oemdrv", "media": "/elsewhere.iso"})))
    with pytest.raises(HostError, match="local file and the libvirt host is remote"):
        remote_argv(loaded, tmp_path)


def test_volume_ownership_by_name():
    names = ["web-disk0.qcow2", "web-disk1.raw", "web-serial.log", "web-serial.log.0", "web-cd-virtio-win.iso",
             "webserver-disk0.qcow2", "web.media.golden-12-host", "other-disk0.qcow2"]
    assert owned_names("web", names) == ["web-disk0.qcow2", "web-disk1.raw", "web-serial.log",
                                         "web-serial.log.0", "web-cd-virtio-win.iso"]
    assert transient_name("web", "media", pid=12).startswith("web.media.golden-12-")
