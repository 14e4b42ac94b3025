"""The loop backend for real: losetup --offset, host mounts, qemu-storage-daemon, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import guestimages as gi
from builder.errors import HostError, InputError
from builder.fsutil import sha256_file
from builder.image import Hostname, customize, open_image, open_images, seal


def test_layout_of_an_mbr_disk_with_logical_partitions(image):
    with open_image(image("rhel7"), backend="loop") as g:
        assert g.backend == "loop"
        assert [(p.number, p.kind) for p in g.partitions()] == [
            (1, "primary"), (2, "extended"), (5, "logical"), (6, "logical"), (7, "logical")]
        assert {f.device: (f.fstype, f.uuid) for f in g.filesystems()} == {
            "/dev/sda1": ("ext4", gi.RHEL7["boot_uuid"]), "/dev/sda5": ("ext4", gi.RHEL7["root_uuid"]),
            "/dev/sda6": ("swap", gi.RHEL7["swap_uuid"]), "/dev/sda7": ("ext4", gi.RHEL7["home_uuid"])}
        assert [(m.mountpoint, m.device) for m in g.mountpoints()] == [
            ("/", "/dev/sda5"), ("/boot", "/dev/sda1"), ("/home", "/dev/sda7")]
        assert g.is_file("/boot/vmlinuz-" + gi.RHEL7["kernel"])
        assert g.is_file("/home/alice/.bashrc")


def test_lvm_lvs_are_mapped_without_activating_the_vg(image):
    """The guest's VolGroup00 never reaches the host's LVM: only the LVs' file systems are attached."""
    img = image("rhel6")
    with open_image(img, backend="loop") as g:
        lvm = g.lvm()
        assert [v.name for v in lvm.vgs] == ["VolGroup00"] and lvm.vgs[0].pvs == ("/dev/sda2",)
        assert {lv.path: lv.size for lv in lvm.lvs} == {"/dev/VolGroup00/LogVol00": 48 << 20,
                                                        "/dev/VolGroup00/LogVol01": 28 << 20}
        assert g.root_device == "/dev/VolGroup00/LogVol00"
        offsets = set()
        for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
            if backing.read_text().strip() == str(img):
                offsets.add(int((backing.parent / "offset").read_text()))
        pv = next(p for p in g.partitions() if p.number == 2)
        assert len(offsets) == 2 and pv.start not in offsets
        assert min(offsets) == next(p for p in g.partitions() if p.number == 1).start
    # The host's LVM saw nothing: no VolGroup00 device nodes appeared.
    assert not Path("/dev/VolGroup00").exists()


def test_read_only_open_changes_nothing(image):
    img = image("rhel7")
    before = sha256_file(img)
    with open_image(img, backend="loop", readonly=True) as g:
        assert g.read_text("/etc/hostname") == gi.RHEL7["hostname"] + "\n"
        with pytest.raises(InputError, match="read-only"):
            g.write("/etc/motd", "x")
        with pytest.raises(InputError, match="read-only"):
            seal(g)
    assert sha256_file(img) == before


def test_qcow2_overlay_through_qemu_storage_daemon(image, tmp_path):
    base = image("rhel7")
    base_sum = sha256_file(base)
    overlay = tmp_path / "clone.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(overlay)],
                   check=True)
    with open_image(overlay, backend="loop") as g:
        assert g.disk.format == "qcow2"
        assert [p for p in gi.leftovers(overlay) if p.startswith("process")], "qemu-storage-daemon should run"
        customize(g, [Hostname("clone1")])
    assert gi.leftovers(overlay, base) == []
    assert sha256_file(base) == base_sum
    ro_sum = sha256_file(overlay)
    with open_image(overlay, backend="loop", readonly=True) as g:
        assert g.read_text("/etc/hostname") == "clone1\n"
    assert sha256_file(overlay) == ro_sum
    with open_image(base, backend="loop", readonly=True) as g:
        assert g.read_text("/etc/hostname") == gi.RHEL7["hostname"] + "\n"


def test_cleanup_after_an_exception(image, tmp_path):
    img = image("rhel6")
    overlay = tmp_path / "o.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image("rhel7")),
                    str(overlay)], check=True)
    before = gi.golden_work_mounts()
    with pytest.raises(RuntimeError, match="boom"):
        with open_images([img, overlay], backend="loop", check_in_use=False) as guests:
            assert [g.backend for g in guests] == ["loop", "loop"]
            assert gi.leftovers(img, overlay)
            raise RuntimeError("boom")
    assert gi.leftovers(img, overlay) == []
    assert gi.golden_work_mounts() == before


CHILD = textwrap.dedent("""
    import sys, time
    from builder.image import open_image
    with open_image(sys.argv[1], backend="loop") as g:
        print("ready", flush=True)
        time.sleep(60)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cleanup_when_interrupted(image, tmp_path, sig):
    """Ctrl-C (SIGINT) or a polite kill (SIGTERM) unmounts, detaches and stops qemu-storage-daemon."""
    overlay = tmp_path / "o.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image("rhel7")),
                    str(overlay)], check=True)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(overlay)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[3])
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        assert gi.leftovers(overlay)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert gi.leftovers(overlay) == []


def test_disk_without_an_os_is_an_input_error(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    disk = tmp_path / "data.raw"
    subprocess.run(["truncate", "-s", "16M", str(disk)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(disk)], check=True)
    with pytest.raises(InputError, match="no Linux root file system"):
        with open_image(disk, backend="loop"):
            pass
    assert gi.leftovers(disk) == []


def test_loop_backend_refuses_file_systems_the_kernel_cannot_mount(image):
    img = image("efi")
    with pytest.raises(HostError, match=r"loop backend cannot open this image.*/boot/efi \(vfat\)") as e:
        with open_image(img, backend="loop"):
            pass
    assert "guestfs" in e.value.hint
    assert gi.leftovers(img) == []


def test_guest_symlinks_never_reach_the_host(image, tmp_path):
    host_file = tmp_path / "host-secret"
    host_file.write_text("host\n")
    with open_image(image("rhel7"), backend="loop") as g:
        with pytest.raises(FileNotFoundError):       # the guest has no such folder; the host does
            g.write(str(host_file), "guest\n")
        g.mkdir_p(str(host_file.parent))
        g.symlink(str(host_file), "/root/escape")
        g.symlink("../../../../../../../.." + str(host_file), "/root/escape2")
        g.write("/root/escape", "guest\n")
        g.write("/root/escape2", "guest2\n")
        assert g.read_text(str(host_file)) == "guest2\n"        # the guest's own path
        assert g.resolve("/root/escape") == str(host_file)
        # /etc/localtime is an absolute-looking relative link into the guest's zoneinfo
        assert g.read("/etc/localtime") == g.read("/usr/share/zoneinfo/America/New_York")
    assert host_file.read_text() == "host\n"


def test_write_keeps_mode_owner_label_and_hard_links(image):
    with open_image(image("rhel6"), backend="loop") as g:
        shadow = g.stat("/etc/shadow")
        g._setxattr("/etc/shadow", "security.selinux", b"system_u:object_r:shadow_t:s0\0")
        g.write("/etc/shadow", g.read("/etc/shadow") + b"")
        g.write("/etc/shadow", g.read_text("/etc/shadow").replace("19000", "19001", 1))
        after = g.stat("/etc/shadow")
        assert (after.perms, after.uid, after.gid) == (shadow.perms, shadow.uid, shadow.gid) == (0, 0, 0)
        assert g._getxattr("/etc/shadow", "security.selinux") == b"system_u:object_r:shadow_t:s0\0"
        mail = "/var/spool/mail/bob"
        g.write(mail, "new\n")
        assert (g.stat(mail).uid, g.stat(mail).gid, g.stat(mail).perms) == (500, 12, 0o660)
        a = "/etc/sysconfig/network-scripts/ifcfg-eth0"
        b = "/etc/sysconfig/networking/devices/ifcfg-eth0"
        assert g.stat(a).nlink == 2
        g.write(a, g.read_text(a) + "# edited\n")
        assert g.read_text(b).endswith("# edited\n") and g.stat(b).nlink == 2
        g.write("/etc/new-file", "x")
        assert g.stat("/etc/new-file").perms == 0o644
        assert not any(n.endswith(".golden-tmp") for n in g.ls("/etc"))


def test_file_api(image):
    with open_image(image("rhel7"), backend="loop") as g:
        assert g.glob("/etc/ssh/ssh_host_*_key.pub") == [f"/etc/ssh/ssh_host_{t}_key.pub"
                                                         for t in ("ecdsa", "ed25519", "rsa")]
        assert g.glob("/tmp/*") == ["/tmp/junk.txt"] and "/tmp/.X11-unix" in g.glob("/tmp/.*")
        assert g.is_symlink("/bin") and g.is_dir("/bin") and g.readlink("/bin") == "usr/bin"
        assert g.exists("/sbin/init") and g.resolve("/sbin/init") == "/usr/lib/systemd/systemd"
        assert not g.exists("/nope") and not g.is_file("/etc")
        g.mkdir_p("/opt/a/b", 0o750)
        assert g.stat("/opt/a").perms == 0o750 and g.is_dir("/opt/a/b")
        g.write("/opt/a/b/f", b"\0binary\xff")
        assert g.read("/opt/a/b/f") == b"\0binary\xff" and g.pread("/opt/a/b/f", 3, 1) == b"bin"
        g.chmod("/opt/a/b/f", 0o600)
        g.chown("/opt/a/b/f", 1000, 1000)
        st = g.stat("/opt/a/b/f")
        assert (st.perms, st.uid, st.gid, st.size) == (0o600, 1000, 1000, 8)
        assert g.find("/opt") == ["/opt/a", "/opt/a/b", "/opt/a/b/f"]
        g.truncate("/opt/a/b/f")
        assert g.stat("/opt/a/b/f").size == 0
        with pytest.raises(IsADirectoryError):
            g.rm("/opt/a")
        g.rm_rf("/opt/a")
        assert not g.exists("/opt/a")
        g.rm("/nope", missing_ok=True)
        with pytest.raises(FileNotFoundError):
            g.rm("/nope")
        with pytest.raises(FileNotFoundError):
            g.read("/nope")
        with pytest.raises(FileNotFoundError):
            g.write("/no/such/dir/f", "x")
        with pytest.raises(ValueError):
            g.rm_rf("/")


def test_seal_and_customize_fast_on_the_loop_backend(image):
    """The project's target: `golden seal` plus one customize step in under 2 s on the loop backend."""
    img = image("rhel7")
    start = time.monotonic()
    with open_image(img, backend="loop") as g:
        customize(g, [Hostname("web1")])
        report = seal(g)
    elapsed = time.monotonic() - start
    print(f"loop backend: open + customize + seal + close took {elapsed:.2f} s")
    assert elapsed < 2.0
    assert json.dumps(report)


def test_batches_refuse_the_same_disk_twice_and_a_base_under_its_overlay(image, tmp_path):
    base = image("rhel9")
    overlay = tmp_path / "o.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(overlay)],
                   check=True)
    with pytest.raises(InputError, match="named twice"):
        with open_images([base, tmp_path / ".." / tmp_path.name / base.name]):
            pass
    with pytest.raises(InputError, match="a backing file of this image"):
        with open_images([base, overlay]):
            pass
    with open_images([base, overlay], readonly=True) as (a, b):
        assert a.read("/etc/hostname") == b.read("/etc/hostname")
    assert gi.leftovers(base, overlay) == []
