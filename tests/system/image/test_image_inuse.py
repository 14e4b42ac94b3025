"""Images in use are not opened read-write: qemu locks, loop devices, running libvirt domains, overlays."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import guestimages as gi
from builder.errors import InputError
from builder.fsutil import sha256_file
from builder.image import open_image


def test_image_held_by_a_qemu_process(image, tmp_path):
    """qemu-storage-daemon stands in for any qemu (a VM outside libvirt, another golden run)."""
    img = image("rhel7")
    export = tmp_path / "export.raw"
    export.touch()
    proc = subprocess.Popen(["qemu-storage-daemon", "--blockdev", f"driver=file,node-name=f,filename={img}",
                             "--blockdev", "driver=raw,node-name=r,file=f", "--export",
                             f"type=fuse,id=e,node-name=r,mountpoint={export},writable=on"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while str(export) not in Path("/proc/self/mountinfo").read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(InputError, match="in use by a running qemu process") as e:
            with open_image(img, backend="loop"):
                pass
        assert "offline" in e.value.hint
        with open_image(img, backend="loop", readonly=True) as g:
            assert any("may be inconsistent" in w for w in g.warnings)
            assert g.is_file("/etc/fstab")
    finally:
        proc.terminate()
        proc.wait()
    with open_image(img, backend="loop"):
        pass


def test_image_attached_to_a_loop_device(image):
    img = image("rhel6")
    dev = subprocess.run(["losetup", "--find", "--show", "--read-only", str(img)], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        with pytest.raises(InputError, match=f"loop device {dev}"):
            with open_image(img, backend="loop"):
                pass
    finally:
        subprocess.run(["losetup", "--detach", dev], check=True)


def test_backing_file_of_overlays_is_protected_when_asked(image, tmp_path):
    base = image("rhel7")
    overlay = tmp_path / "clone1.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(overlay)],
                   check=True)
    with pytest.raises(InputError, match="backing file of 1 overlay") as e:
        with open_image(base, backend="loop", protect_backing=True):
            pass
    assert str(overlay) in str(e.value)
    with open_image(base, backend="loop", readonly=True, protect_backing=True):
        pass
    with open_image(base, backend="loop"):          # not asked: allowed
        pass


def test_unreachable_libvirt_is_skipped_quietly(image, caplog):
    caplog.set_level("DEBUG", logger="golden.image")
    with open_image(image("rhel9"), backend="loop",
                    connect_uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock") as g:
        assert g.warnings == []
    assert any("not checking for running domains" in r.message for r in caplog.records)


def _libvirt():
    import libvirt

    from builder.virt import services
    services.ensure_running()           # no init system here: the tests start the daemons themselves
    libvirt.registerErrorHandler(lambda *a: None, None)
    return libvirt, libvirt.open("qemu:///system")


DOMAIN = """<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='{fmt}'/><source file='{path}'/>
<target dev='vda' bus='virtio'/></disk></devices></domain>"""


@pytest.fixture
def libvirt_dir(base_images):
    # qemu runs as another user: the disk must sit somewhere it can reach.
    d = Path(tempfile.mkdtemp(prefix="golden-inuse-", dir="/var/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.system
def test_running_domain_blocks_read_write_and_warns_read_only(base_images, libvirt_dir):
    libvirt, conn = _libvirt()
    img = gi.copy_image(base_images["rhel7"], libvirt_dir / "guest.raw")
    name = f"golden-test-inuse-{os.getpid()}"
    dom = conn.createXML(DOMAIN.format(name=name, fmt="raw", path=img), 0)
    try:
        with pytest.raises(InputError, match=f"running domain '{name}'"):
            with open_image(img, backend="loop"):
                pass
        before = sha256_file(img)
        with open_image(img, backend="loop", readonly=True) as g:
            assert any(name in w and "inconsistent" in w for w in g.warnings)
            assert g.read_text("/etc/hostname") == gi.RHEL7["hostname"] + "\n"
        # The guest (SeaBIOS finding no boot loader) writes nothing, and neither did we.
        assert dom.isActive() and sha256_file(img) == before
    finally:
        dom.destroy()
        conn.close()
    with open_image(img, backend="loop"):
        pass


@pytest.mark.system
def test_running_domain_on_an_overlay_protects_its_backing_file(base_images, libvirt_dir):
    libvirt, conn = _libvirt()
    base = gi.copy_image(base_images["rhel6"], libvirt_dir / "base.raw")
    overlay = libvirt_dir / "clone.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(overlay)],
                   check=True)
    os.chmod(overlay, 0o666)
    name = f"golden-test-overlay-{os.getpid()}"
    dom = conn.createXML(DOMAIN.format(name=name, fmt="qcow2", path=overlay), 0)
    try:
        with pytest.raises(InputError, match=f"running domain '{name}'"):
            with open_image(base, backend="loop"):
                pass
        with open_image(base, backend="loop", readonly=True) as g:
            # A backing file is only read by the domain: reading it is consistent.
            assert g.warnings == []
    finally:
        dom.destroy()
        conn.close()
