"""golden against a remote libvirt host: media, disks and logs travel as storage volumes.

The "remote host" is a second libvirtd on this machine (second_libvirtd.py)
reached as qemu+tcp://127.0.0.1:PORT/system, in a mount namespace where the
test's temp dirs, golden's cache and the checkout are empty: a local path
that slipped into a domain definition or a virt-install argument fails there.
The install is the shipped demo profile; its disk comes back into the local
build dir and golden's image layer reads the kickstart's work from it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from demo_boot import overlay
from demo_build import derived_profile, unique_name
from second_libvirtd import SecondLibvirtd, default_hidden
from tests.conftest import GOLDEN, golden_bin

pytestmark = pytest.mark.system

POOL_PATH = "/var/lib/libvirt/images/golden"     # where golden puts its pool on a host without one
INSTALL_TIMEOUT = 1500


@pytest.fixture(scope="module")
def second(libvirt_up, tmp_path_factory):
    base = tmp_path_factory.mktemp("second-libvirtd")
    daemon = SecondLibvirtd(base, hide=default_hidden([tmp_path_factory.getbasetemp()]))
    daemon.start()
    yield daemon
    daemon.stop()


def domains(uri: str) -> set[str]:
    import libvirt

    conn = libvirt.open(uri)
    try:
        return {d.name() for d in conn.listAllDomains(0)}
    finally:
        conn.close()


def mine(vols: dict[str, set[str]], name: str) -> set[str]:
    return {f"{pool}/{v}" for pool, names in vols.items() for v in names if name in v}


# --- the "remote host" really is remote ------------------------------------------

def test_second_daemon_cannot_open_local_paths(second, tmp_path):
    """The control: a domain naming a local file does not start there, and nothing is shared."""
    import libvirt

    local = tmp_path / "local.img"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(local), "1M"], check=True)
    xml = (f"<domain type='qemu'><name>{unique_name('t-ctl')}</name><memory unit='MiB'>32</memory>"
           "<os><type arch='x86_64'>hvm</type></os><devices>"
           f"<disk type='file' device='disk'><source file='{local}'/><target dev='vda' bus='virtio'/></disk>"
           "</devices></domain>")
    conn = second.connect()
    try:
        with pytest.raises(libvirt.libvirtError, match="No such file|[Cc]annot access"):
            conn.createXML(xml, 0)
    finally:
        conn.close()
    assert not (domains(second.uri) & domains("qemu:///system")), "the two daemons share domains"


# --- the transport ------------------------------------------------------------------

def test_volume_transfer_keeps_data_and_holes(second, tmp_path):
    from builder.virt import remote

    src = tmp_path / "sparse.img"
    with open(src, "wb") as f:
        f.write(b"head" * 1024)
        f.seek(40 << 20)
        f.write(os.urandom(1 << 20))
        f.truncate(64 << 20)                    # a trailing hole too
    conn = second.connect()
    try:
        pool = remote.golden_pool(conn, second.uri)
        assert pool.path == POOL_PATH
        name = remote.transient_name("t-transfer", "probe")
        vol = remote.create_volume(pool, name, src.stat().st_size)
        try:
            sent = remote.upload(conn, vol, src)
            there = second.storage_root / "images" / "golden" / name
            assert sent < 2 << 20, f"{sent} bytes crossed for 1 MiB of data: holes were sent as zeros"
            assert there.stat().st_size == 64 << 20 and there.stat().st_blocks * 512 < 4 << 20
            back = tmp_path / "back.img"
            got = remote.download(conn, vol, back)
            assert got < 2 << 20
            assert back.read_bytes() == src.read_bytes()
            assert back.stat().st_blocks * 512 < 4 << 20, "the download filled the holes"
        finally:
            remote.delete_volume(pool, name)
    finally:
        conn.close()


# --- golden install --connect REMOTE ---------------------------------------------------

def test_remote_install_brings_the_disk_home(second, tmp_path):
    from builder.image import open_image

    work = tmp_path / "work"
    name = unique_name("t-remote")
    profile = derived_profile(work, name)
    build = work / f"{name}.build"
    try:
        run = golden_bin("install", profile, "--connect", second.uri, "--keep-domain", timeout=INSTALL_TIMEOUT)
        assert run.code == 0, f"remote install failed ({run.code}):\n{run.err}\n{run.out}"
        result = json.loads((build / "install.json").read_text())
        assert result["status"] == "completed" and result["connect"] == second.uri

        # what went over the wire, as golden told the user
        assert re.search(rf"uploading \S+golden-demo\.iso .* to golden/{re.escape(name)}\.media\.golden-", run.err)
        assert f"downloading golden/{name}-disk0.qcow2" in run.err

        # the installed disk is home, whole, and holds what the kickstart asked for
        disk = Path(result["disks"][0])
        assert disk == build / "disk0.qcow2" and disk.is_file()
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(disk)], check=True,
                                         capture_output=True, text=True).stdout)
        assert info["format"] == "qcow2" and info["virtual-size"] == 2 << 30 and "backing-filename" not in info
        there = second.storage_root / "images" / "golden" / f"{name}-disk0.qcow2"
        assert there.read_bytes() == disk.read_bytes(), "the local disk differs from the one on the remote host"
        rootpw = re.search(r"^rootpw --iscrypted (\S+)$", (build / "ks.cfg").read_text(), re.M).group(1)
        with open_image(overlay(disk, tmp_path / "look.qcow2"), readonly=True) as g:
            assert g.read_text("/root/golden-post.marker") == "post-ran\n"
            assert "Golden demo image, built by golden" in g.read_text("/etc/motd")
            shadow = g.read_text("/etc/shadow")
        assert f"root:{rootpw}:" in shadow, "the disk holds this run's kickstart"

        # the serial console came back while the install ran
        serial = Path(result["serial_log"]).read_text(errors="replace")
        assert "golden-installer: result=ok" in serial and "ks-source=" in serial

        # the kept domain lives on the remote host only, and names nothing of this machine
        assert name in domains(second.uri) and name not in domains("qemu:///system")
        conn = second.connect()
        try:
            dom = conn.lookupByName(name)
            assert not dom.isActive()
            xml = dom.XMLDesc(0)
        finally:
            conn.close()
        for local in {str(work), str(tmp_path), *map(str, default_hidden())}:
            assert local not in xml, f"the remote domain names the local path {local}"
        root = ET.fromstring(xml)
        sources = [d.find("source") for d in root.findall("./devices/disk")]
        files = [s.get("file") for s in sources if s is not None]
        assert files == [f"{POOL_PATH}/{name}-disk0.qcow2"], files
        assert [e.get("file") for e in root.iter("log")][0] == f"{POOL_PATH}/{name}-serial.log"
        assert (build / "domain.xml").read_text().count(POOL_PATH) >= 1

        # no volume left behind: the domain's disk and log remain, uploads and virt-install's kernel are gone
        vols = second.volumes()
        assert mine(vols, name) == {f"golden/{name}-disk0.qcow2", f"golden/{name}-serial.log"}, vols
        assert not any(".golden-" in v for names in vols.values() for v in names), vols
        assert not vols.get("boot-scratch"), f"virt-install left its kernel/initrd: {vols}"
    finally:
        second.remove_domain(name)


def test_remote_cd_install_boots_uploaded_cds(second, tmp_path):
    """OEMDRV: the install CD and the side CD with the kickstart both go up as volumes, then come out.

    Without --keep-domain: afterwards the remote host holds neither the domain nor any of its volumes."""
    work = tmp_path / "work"
    name = unique_name("t-roem")
    profile = derived_profile(work, name, install={"method": "oemdrv"})
    build = work / f"{name}.build"
    try:
        run = golden_bin("install", profile, "--connect", second.uri, timeout=INSTALL_TIMEOUT)
        assert run.code == 0, f"remote oemdrv install failed ({run.code}):\n{run.err}"
        domain = json.loads((build / "install.json").read_text())["domain"]
        assert re.fullmatch(re.escape(name) + r"-[0-9a-f]{6}", domain)
        assert f"to golden/{domain}.oemdrv.golden-" in run.err and f"to golden/{domain}.media.golden-" in run.err
        serial = (build / "serial.log").read_text(errors="replace")
        assert re.search(r"golden-installer: ks-source=hd:\S+:/ks.cfg", serial), serial[-2000:]
        assert (build / "disk0.qcow2").is_file()
        root = ET.fromstring((build / "domain.xml").read_text())
        cds = root.findall("./devices/disk[@device='cdrom']")
        assert len(cds) == 2 and all(cd.find("source") is None for cd in cds), "the uploads were ejected"
        assert root.find("./os/boot").get("dev") == "hd"
        assert not {name, domain} & domains(second.uri)
        vols = second.volumes()
        assert not mine(vols, domain) and not any(".golden-" in v for names in vols.values() for v in names), vols
    finally:
        second.remove_domain(name)


def _run_until(args: list, pattern: str, timeout: float = 600) -> tuple[subprocess.Popen, str]:
    """Start golden; return once a stderr line matches `pattern` (progress lines are unbuffered)."""
    proc = subprocess.Popen([str(GOLDEN), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen = []
    deadline = time.monotonic() + timeout
    for line in proc.stderr:
        seen.append(line)
        if re.search(pattern, line) or time.monotonic() > deadline:
            break
    return proc, "".join(seen)


def test_interrupted_remote_install_leaves_no_volume(second, tmp_path):
    work = tmp_path / "work"
    name = unique_name("t-rint")
    profile = derived_profile(work, name)
    proc = None
    try:
        proc, seen = _run_until(["install", profile, "--connect", second.uri], r": kernel booting$")
        assert "kernel booting" in seen, seen
        assert mine(second.volumes(), name), "the install should have volumes while it runs"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 4, f"exit {proc.returncode}:\n{seen}{err}"
        assert "interrupted" in err
        assert not [d for d in domains(second.uri) if d.startswith(name)]
        assert not mine(second.volumes(), name), second.volumes()
        assert not (work / f"{name}.build" / "disk0.qcow2").exists()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        second.remove_domain(name)


def test_failed_remote_install_keeps_its_disk_locally_only(second, tmp_path):
    work = tmp_path / "work"
    name = unique_name("t-rfail")
    # a console line the watchdog knows as the installer giving up
    profile = derived_profile(work, name, kickstart={"post": "echo 'golden-installer: FAILED: t-rfail says so'\n"
                                                             "sleep 600\n"})
    build = work / f"{name}.build"
    try:
        run = golden_bin("install", profile, "--connect", second.uri, "--keep-failed", timeout=INSTALL_TIMEOUT)
        assert run.code == 4, f"exit {run.code}:\n{run.err}"
        assert "installer failed: t-rfail says so" in run.err, run.err
        assert "t-rfail says so" in (build / "serial.log").read_text(errors="replace")
        assert (build / "disk0.qcow2").is_file(), "--keep-failed brings the failed disk home"
        assert not [d for d in domains(second.uri) if d.startswith(name)]
        assert not mine(second.volumes(), name), second.volumes()
    finally:
        second.remove_domain(name)


# --- other commands that take --connect -----------------------------------------------

def test_doctor_checks_the_remote_host(second):
    from builder.virt import accel

    run = golden_bin("doctor", "--connect", second.uri, "--json", timeout=300)
    data = json.loads(run.out)
    checks = {c["name"]: c for c in data["checks"]}
    assert run.code == (3 if not data["ok"] else 0), run.err
    assert checks["libvirt connection"]["verdict"] == "ok" and second.uri in checks["libvirt connection"]["detail"]
    assert checks["storage pool"]["verdict"] == "ok" and POOL_PATH in checks["storage pool"]["detail"]
    assert checks["volume transport"]["verdict"] == "ok", checks["volume transport"]
    # the same machine underneath: the probe through libvirt agrees with the local one
    assert data["accelerator"] == accel.probe().accel, checks["KVM usable"]
    assert not {"/dev/kvm", "libvirtd", "virtlogd", "image directory"} & set(checks), \
        "local host checks say nothing about a remote host"
    assert not any(".golden-" in v for names in second.volumes().values() for v in names)

    down = golden_bin("doctor", "--connect", "qemu+tcp://127.0.0.1:9/system", "--json", timeout=120)
    assert down.code == 3
    failed = [c for c in json.loads(down.out)["checks"] if c["verdict"] == "fail"]
    assert failed and failed[0]["name"] == "libvirt connection" and failed[0]["fix"]


def test_drivers_attach_uploads_the_iso(second, tmp_path):
    from builder.media.iso import write_iso

    iso = write_iso(tmp_path / "drivers.iso", {"README.TXT": b"virtio drivers\n"}, "DRIVERS")
    name = unique_name("t-rattach")
    conn = second.connect()
    try:
        conn.defineXML(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                       "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>")
        run = golden_bin("drivers", "attach", name, "--iso", iso, "--connect", second.uri, timeout=120)
        assert run.code == 0, run.err
        root = ET.fromstring(conn.lookupByName(name).XMLDesc(0))
        cd = root.find("./devices/disk[@device='cdrom']/source").get("file")
        assert cd.startswith(POOL_PATH + "/") and str(tmp_path) not in cd
        there = second.storage_root / "images" / "golden" / Path(cd).name
        assert there.read_bytes() == Path(iso).read_bytes()
    finally:
        conn.close()
        second.remove_domain(name)
