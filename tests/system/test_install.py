"""`golden install` for real under libvirt (qemu:///system, TCG here), on the demo media.

What the kickstart asked for is read back from the installed disk through
golden's image layer (on a qcow2 overlay; the disk itself is never opened),
then the disk is booted and the guest's identity line is read from its serial
console. Installs: the session's `demo_install` (location, kickstart injected
into the initrd), one CD install with the kickstart on a remastered CD, one
with an OEMDRV side CD, and one whose %post hangs. Bad input is refused before
anything is defined.
"""

from __future__ import annotations

import json
import re
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from demo_boot import boot_identity, overlay
from demo_build import derived_profile, undefine, unique_name
from tests.conftest import GOLDEN, golden_bin, snapshot

pytestmark = pytest.mark.system

URI = "qemu:///system"
INSTALL_TIMEOUT = 1500
MIB = 1 << 20


# --- helpers ------------------------------------------------------------------

def domain_names() -> set[str]:
    out = subprocess.run(["virsh", "-c", URI, "list", "--all", "--name"], capture_output=True, text=True,
                         check=True).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def ks_sources(serial: str) -> list[str]:
    return re.findall(r"golden-installer: ks-source=(\S+)", serial)


def device_labels(serial: str) -> dict[str, str]:
    """Installer's device report: name -> file system label."""
    return dict(re.findall(r"golden-installer: device name=(\S+) .*?label=(\S+)", serial))


def rootpw_hash(kickstart: Path) -> str:
    m = re.search(r"^rootpw --iscrypted (\S+)$", kickstart.read_text(), re.M)
    assert m, "the kickstart has no crypted root password"
    return m.group(1)


def check_installed_disk(disk: Path, kickstart: Path, mac: str, work: Path) -> dict:
    """Read the installed disk (an overlay of it) and check it holds what the demo kickstart asked for."""
    from builder.image import inspect_image, open_image

    ov = overlay(disk, work / "inspect.qcow2")
    with open_image(ov, readonly=True) as g:
        report = inspect_image(g)
        shadow = g.read_text("/etc/shadow")
        marker = g.read_text("/root/golden-post.marker")
        motd = g.read_text("/etc/motd")
        clock = g.read_text("/etc/sysconfig/clock")
        machine_id = g.read_text("/etc/machine-id").strip()

    # part /boot --size=256, part swap --size=128, part / --grow: three partitions, in fstab by UUID.
    fs = {f["device"]: f for f in report["filesystems"]}
    mounts = {e["mountpoint"]: e["device"] for e in report["fstab"]}
    assert set(mounts) == {"/", "/boot", "swap"}, report["fstab"]
    boot, swap, root = fs[mounts["/boot"]], fs[mounts["swap"]], fs[mounts["/"]]
    assert (boot["fstype"], boot["size"]) == ("ext4", 256 * MIB)
    assert (swap["fstype"], swap["size"]) == ("swap", 128 * MIB)
    assert root["fstype"] == "ext4" and root["size"] > 1500 * MIB, "/ should --grow over the rest of 2 GiB"
    assert report["root"] == mounts["/"]
    parts = {p["device"]: p for p in report["partitions"]}
    assert parts[mounts["/boot"]]["bootable"] and len(parts) == 3

    # network --hostname=demo-golden --device=eth0 --bootproto=dhcp, with the MAC golden chose
    assert report["hostname"] == "demo-golden"
    assert report["network"]["sysconfig_network"]["HOSTNAME"] == "demo-golden"
    eth0 = [c for c in report["network"]["ifcfg"] if c["device"] == "eth0"]
    assert len(eth0) == 1, report["network"]["ifcfg"]
    assert eth0[0]["hwaddr"].lower() == mac.lower() and eth0[0]["bootproto"] == "dhcp"
    assert report["network"]["persistent_net_rules"] == [{"mac": mac.lower(), "name": "eth0"}]

    # rootpw --iscrypted: the kickstart's SHA-512 crypt hash, as is, in /etc/shadow
    root_entry = next(line for line in shadow.splitlines() if line.startswith("root:"))
    stored = root_entry.split(":")[1]
    assert stored.startswith("$6$") and stored == rootpw_hash(kickstart)

    # timezone --utc UTC; bootloader --append; %post ran in the installed system
    assert 'ZONE="UTC"' in clock and "UTC=true" in clock
    entry = report["bootloaders"][0]["default_entry"]
    assert report["bootloaders"][0]["type"] == "extlinux" and "golden.poweroff" in entry["args"]
    assert marker == "post-ran\n"
    assert "Golden demo image, built by golden" in motd
    assert re.fullmatch(r"[0-9a-f]{32}", machine_id)
    return {"machine_id": machine_id}


def check_first_boot(domain_xml: Path, disk: Path, mac: str, machine_id: str, work: Path) -> None:
    """Boot an overlay of the installed disk with the installed hardware; read its identity line."""
    ov = overlay(disk, work / "boot.qcow2")
    boot = boot_identity(domain_xml.read_text(), ov, name=unique_name("t-boot"), serial=work / "boot.log")
    tail = "\n".join(boot.lines[-15:])
    assert boot.identity, f"no golden-identity line within the timeout:\n{tail}"
    assert boot.identity["hostname"] == "demo-golden"
    assert boot.identity["mac"].lower() == mac.lower()
    assert boot.identity["machine-id"] == machine_id
    assert boot.identity["uuid"].lower() == boot.uuid.lower(), "the SMBIOS UUID is the domain's UUID"
    assert boot.powered_off, f"golden.poweroff: the guest should power itself off\n{tail}"


def install(profile: Path, *args, timeout: float = INSTALL_TIMEOUT):
    return golden_bin("install", profile, *args, timeout=timeout)


# --- location: the session's demo install ----------------------------------

def test_location_install_kickstart_came_from_the_initrd(demo_install):
    serial = demo_install.serial_log.read_text(errors="replace")
    assert ks_sources(serial) == ["file:/ks.cfg"]
    assert "golden-installer: result=ok" in serial
    assert demo_install.result["status"] == "completed" and demo_install.result["accelerator"] in ("qemu", "kvm")
    assert demo_install.result["domain"] == demo_install.name and demo_install.result["domain_kept"]
    assert demo_install.name in domain_names(), "--keep-domain leaves the installed domain defined, shut off"


def test_location_install_disk_holds_what_the_kickstart_asked_for(demo_install, vm_dirs):
    work = vm_dirs("inspect")
    check_installed_disk(demo_install.disk, Path(demo_install.result["kickstart"]), demo_install.result["mac"], work)


def test_location_install_boots_and_reports_its_identity(demo_install, vm_dirs):
    work = vm_dirs("boot")
    found = check_installed_disk(demo_install.disk, Path(demo_install.result["kickstart"]),
                                 demo_install.result["mac"], work)
    check_first_boot(demo_install.domain_xml, demo_install.disk, demo_install.result["mac"], found["machine_id"],
                     work)


# --- CD installs: kickstart on a remastered CD, or on an OEMDRV side CD --------

@pytest.mark.parametrize("method,scheme,label", [
    ("remaster", "cdrom", "GOLDEN-DEMO-1-x86_64"),   # inst.ks=cdrom:/ks.cfg in the CD's own boot menu
    ("oemdrv", "hd", "OEMDRV"),                       # no ks= at all: Anaconda's OEMDRV look-up
])
def test_cd_install(method, scheme, label, libvirt_up, vm_dirs):
    work = vm_dirs(method)
    name = unique_name(f"t-{method}")
    profile = derived_profile(work, name, install={"method": method})
    try:
        run = install(profile, "--json")
        assert run.code == 0, f"{method} install failed ({run.code}):\n{run.err}\n{run.out}"
        result = json.loads(run.out)
        serial = Path(result["serial_log"]).read_text(errors="replace")
        sources = ks_sources(serial)
        assert len(sources) == 1, serial[-3000:]
        got_scheme, device, path = sources[0].split(":")
        assert (got_scheme, path) == (scheme, "/ks.cfg")
        assert device_labels(serial)[device] == label, f"{sources[0]} should be read from the {label} CD"
        assert "inst.ks=file:" not in serial, "a CD install does not inject the kickstart into the initrd"
        # Without --keep-domain the install domain had a name of its own and is gone; its XML stays.
        assert re.fullmatch(re.escape(name) + r"-[0-9a-f]{6}", result["domain"]) and not result["domain_kept"]
        assert not {name, result["domain"]} & domain_names()
        assert f"<name>{result['domain']}</name>" in Path(result["domain_xml"]).read_text()
        found = check_installed_disk(Path(result["disks"][0]), Path(result["kickstart"]), result["mac"], work)
        check_first_boot(Path(result["domain_xml"]), Path(result["disks"][0]), result["mac"],
                         found["machine_id"], work)
    finally:
        undefine(name)


# --- a hung %post ------------------------------------------------------------------

INACTIVITY = 40
# Once %post hangs, the guest still flushes what the installer wrote (the
# kernel's 30 s dirty-page expiry), then goes quiet.
HANG_MARGIN = 60


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a valid PNG (signature, IHDR, image data that inflates to the right size)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, {}
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind}"
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {2: 3, 6: 4, 0: 1}[color]
    assert depth == 8 and len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + width * channels)
    assert b"IEND" in chunks
    return width, height


def test_hung_post_trips_the_watchdog(libvirt_up, vm_dirs):
    work = vm_dirs("hang")
    name = unique_name("t-hang")
    profile = derived_profile(work, name, install={"inactivity": f"{INACTIVITY}s", "timeout": "15m"},
                              kickstart={"post": "echo golden-test: about to hang\nsleep 100000\n"})
    build = work / f"{name}.build"
    try:
        started = time.monotonic()
        run = install(profile, timeout=900)
        wall = time.monotonic() - started
        assert run.code == 4, f"expected exit 4 for a hang, got {run.code}:\n{run.err}"
        assert f"{name} hung" in run.err and f"inactivity limit {INACTIVITY} s" in run.err
        # when the %post stage began, from the progress lines on stderr ("[   17s] NAME: post")
        m = re.search(rf"\[\s*(\d+)s\] {re.escape(name)}: post$", run.err, re.M)
        assert m, run.err
        post_at = int(m.group(1))
        result = json.loads((build / "install.json").read_text())
        assert result["status"] == "hung" and result["stage"] == "post"
        assert INACTIVITY <= result["elapsed"] - post_at <= INACTIVITY + HANG_MARGIN, \
            f"%post began at {post_at} s, hang declared at {result['elapsed']} s"
        assert wall < result["elapsed"] + 120, "cleanup after the verdict took too long"

        shot = build / "screenshot.png"
        assert result["screenshot"] == str(shot) and str(shot) in run.err
        width, height = png_size(shot.read_bytes())
        assert width >= 320 and height >= 200
        serial = build / "serial.log"
        assert str(serial) in run.err
        assert "golden-test: about to hang" in serial.read_text(errors="replace")
        assert "golden-test: about to hang" in run.err, "the last console lines are shown"

        assert name not in domain_names(), "virsh list --all still shows the hung domain"
        assert not (build / "disk0.qcow2").exists(), "without --keep-failed the disk is removed"
    finally:
        undefine(name)


# --- bad input: refused before anything is defined -----------------------------

def _refused(run, name: str, work: Path, before: dict, codes=(2, 3)) -> None:
    assert run.code in codes, f"exit {run.code}:\n{run.err}"
    assert "error:" in run.err and "Traceback" not in run.err
    assert name not in domain_names()
    assert not (work / f"{name}.build").exists(), "no build files for refused input"
    assert snapshot(work) == before


def test_missing_media_path_is_refused(libvirt_up, vm_dirs):
    work = vm_dirs("nomedia")
    name = unique_name("t-nomedia")
    missing = work / "no-such-dvd.iso"
    profile = derived_profile(work, name, install={"media": str(missing)})
    before = snapshot(work)
    run = install(profile)
    _refused(run, name, work, before, codes=(2,))
    assert f"install media {missing} does not exist" in run.err and "install.media" in run.err


def test_unreachable_uri_is_refused(libvirt_up, vm_dirs):
    work = vm_dirs("nouri")
    name = unique_name("t-nouri")
    profile = derived_profile(work, name)
    before = snapshot(work)
    run = install(profile, "--connect", "qemu+unix:///system?socket=/nonexistent/sock")
    _refused(run, name, work, before, codes=(3,))
    assert "cannot connect to libvirt" in run.err and "/nonexistent/sock" in run.err


def test_keep_domain_refuses_a_name_taken_by_a_domain(libvirt_up, vm_dirs):
    import libvirt

    work = vm_dirs("taken")
    name = unique_name("t-taken")
    profile = derived_profile(work, name)
    conn = libvirt.open(URI)
    try:
        other = conn.defineXML(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                               "<os><type arch='x86_64'>hvm</type></os><description>not golden's</description>"
                               "</domain>")
        uuid = other.UUIDString()
        before = snapshot(work)
        run = install(profile, "--keep-domain")
        assert run.code == 2, run.err
        assert f"a domain named {name!r} already exists" in run.err
        assert not (work / f"{name}.build").exists() and snapshot(work) == before
        still = conn.lookupByName(name)
        assert still.UUIDString() == uuid and not still.isActive(), "the other domain must be left alone"
    finally:
        try:
            conn.lookupByName(name).undefine()
        except libvirt.libvirtError:
            pass
        conn.close()


@pytest.fixture
def read_only_dir(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    subprocess.run(["mount", "--bind", str(d), str(d)], check=True, capture_output=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(d)], check=True, capture_output=True)
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=True, capture_output=True)


@pytest.mark.parametrize("where", ["under-a-file", "read-only-mount"])
def test_unwritable_disk_path_is_refused(where, libvirt_up, vm_dirs, request):
    work = vm_dirs("rodisk")
    name = unique_name("t-rodisk")
    if where == "under-a-file":
        blocker = work / "not-a-dir"
        blocker.write_text("a regular file\n")
        out = blocker / "images"
    else:
        out = request.getfixturevalue("read_only_dir") / "images"
    profile = derived_profile(work, name, output={"dir": str(out)})
    before = snapshot(work)
    run = install(profile)
    _refused(run, name, work, before, codes=(2,))
    assert "output.dir" in run.err and "not a writable directory" in run.err
    assert not (out / f"{name}.build").exists()


# --- Ctrl-C while virt-install is defining the domain ---------------------------

def test_ctrl_c_during_define_leaves_no_domain(libvirt_up, vm_dirs):
    work = vm_dirs("interrupt")
    name = unique_name("t-intr")
    profile = derived_profile(work, name)
    proc = subprocess.Popen([str(GOLDEN), "install", str(profile)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if "defining and starting" in line:
                # virt-install defines and starts the domain in about a second here: land inside it.
                time.sleep(0.8)
                proc.send_signal(signal.SIGINT)
                break
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 4, err
        assert f"install of {name} interrupted" in err
        assert name not in domain_names(), "an interrupted install must not leave its domain behind"
        assert not (work / f"{name}.build" / "disk0.qcow2").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        undefine(name)
