"""The demo install media, booted for real under qemu (TCG, no libvirt).

One install (direct kernel boot, kickstart injected into the initrd) feeds
the disk checks, the boot of the installed disk and a clone boot; the ISO is
booted on SeaBIOS and OVMF; kickstart look-up is checked with an OEMDRV CD
and over HTTP (qemu user networking to a loopback server).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pycdlib
import pytest

import demo_qemu as q
from builder.demo import DEMO_LABEL, build_demo_media
from builder.demo.host import kernel_version
from builder.demo.media import build_into
from builder.media.initrd import append_files

pytestmark = pytest.mark.system

ROOT_HASH = "$6$goldensalt$9k49.9ZQpflt/IPKVMQ/oN19mYzi3v94CJ9NOysu6DjFsSodma0BjYbaB1et2gdijy2CX4.tIQde5/ABwuJYo0"
VM_UUID = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"

KICKSTART = f"""\
# golden demo media system test
text
zerombr
clearpart --all --initlabel
part /boot --size=256 --fstype=ext4
part swap --size=128
part / --grow --fstype=ext4
rootpw --iscrypted {ROOT_HASH}
network --bootproto=dhcp --device=eth0 --hostname=demo-test
timezone --utc Europe/Paris
bootloader --location=mbr --timeout=1 --append="console=ttyS0,115200 golden.poweroff"
%packages
@core
%end
%post
echo "post ran in $(cat /etc/hostname)" > /root/post-marker
echo post-output-line
%end
poweroff
"""

INSTALL_TIMEOUT = 600
BOOT_TIMEOUT = 300


@pytest.fixture(scope="session")
def demo():
    return build_demo_media()


@pytest.fixture(scope="session")
def installed(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("demo-install")
    initrd = append_files(demo.initrd, {"ks.cfg": KICKSTART.encode()}, work / "initrd-ks.img")
    disk = work / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(2 << 30)
    serial = work / "install.log"
    args = q.base_args(serial) + [
        "-kernel", str(demo.kernel), "-initrd", str(initrd),
        "-append", "inst.ks=file:/ks.cfg console=ttyS0,115200",
        "-drive", f"file={disk},format=raw,if=virtio",
    ] + q.user_net()
    run = q.run(args, serial, timeout=INSTALL_TIMEOUT, until=q.FAILED, grace=2)
    return disk, run


def _parts(disk):
    parts = q.mbr_partitions(disk)
    assert len(parts) == 3, parts
    return parts


def test_install_reports_progress_and_powers_off(installed):
    _, run = installed
    assert run.failed() is None, run.serial[-3000:]
    assert run.exited, "qemu did not power off after the install"
    lines = run.lines("golden-installer: ")
    assert "DEMO MEDIA, not Red Hat Enterprise Linux" in lines[0]
    assert run.value("cmdline") == "inst.ks=file:/ks.cfg console=ttyS0,115200"
    assert run.value("ks-source") == "file:/ks.cfg"
    assert run.value("ks-sha256") == hashlib.sha256(KICKSTART.encode()).hexdigest()
    stages = [line.split("=", 1)[1] for line in lines if line.startswith("golden-installer: stage=")]
    assert stages == ["reading-kickstart", "partitioning", "formatting", "installing",
                      "bootloader", "post", "done"]
    assert lines[-1] == "golden-installer: result=ok"
    assert any(re.fullmatch(r"golden-installer: device name=vda size=2147483648 fstype=none label=-", l)
               for l in lines)
    assert "post-output-line" in run.serial  # %post output reaches the console


def test_install_partitions_and_file_systems(installed):
    disk, _ = installed
    boot, swap, root = _parts(disk)
    assert (boot.type, boot.bootable, boot.size) == (0x83, True, 256 << 20)
    assert (swap.type, swap.size) == (0x82, 128 << 20)
    assert root.type == 0x83 and root.start + root.size > (2 << 30) - (4 << 20)
    assert [q.fs_type(disk, p) for p in (boot, swap, root)] == ["ext4", "swap", "ext4"]
    fstab = q.read_file(disk, root, "/etc/fstab")
    for part, mnt in ((root, "/"), (boot, "/boot"), (swap, "swap")):
        assert re.search(rf"^UUID={q.fs_uuid(disk, part)}\s+{re.escape(mnt)}\s", fstab, re.M), fstab
    # extlinux: MBR boot code, config pointing at the root file system
    with open(disk, "rb") as f:
        assert f.read(440) == Path("/usr/lib/syslinux/mbr/mbr.bin").read_bytes()[:440]
    conf = q.read_file(disk, boot, "/extlinux/extlinux.conf")
    kver = kernel_version()
    assert f"kernel /vmlinuz-{kver}" in conf and f"initrd /initramfs-{kver}.img" in conf
    assert f"append root=UUID={q.fs_uuid(disk, root)} ro console=ttyS0,115200 golden.poweroff" in conf
    q.stat_file(disk, boot, "/extlinux/ldlinux.sys")


def test_install_identity_and_configuration(installed):
    disk, _ = installed
    root = _parts(disk)[2]
    read = functools.partial(q.read_file, disk, root)
    assert read("/etc/hostname").strip() == "demo-test"
    assert "HOSTNAME=demo-test" in read("/etc/sysconfig/network")
    assert "NETWORKING=yes" in read("/etc/sysconfig/network")
    shadow = read("/etc/shadow")
    assert shadow.startswith(f"root:{ROOT_HASH}:")
    ifcfg = read("/etc/sysconfig/network-scripts/ifcfg-eth0")
    for line in ("DEVICE=eth0", f"HWADDR={q.MAC.upper()}", "BOOTPROTO=dhcp", "ONBOOT=yes", "TYPE=Ethernet"):
        assert line in ifcfg.splitlines(), ifcfg
    rules = read("/etc/udev/rules.d/70-persistent-net.rules")
    assert (f'SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{{address}}=="{q.MAC}", '
            f'ATTR{{type}}=="1", KERNEL=="eth*", NAME="eth0"') in rules
    assert re.fullmatch(r"[0-9a-f]{32}\n", read("/etc/machine-id"))
    assert read("/root/post-marker") == "post ran in demo-test\n"
    assert "post-output-line" in read("/root/ks-post.log")
    assert read("/root/anaconda-ks.cfg") == KICKSTART
    assert "stage=done" in read("/var/log/anaconda/anaconda.log")
    os_release = read("/etc/os-release")
    assert 'ID="golden-demo"' in os_release and 'ID_LIKE="rhel fedora"' in os_release
    assert "not Red Hat Enterprise Linux" in read("/etc/golden-demo-release")
    assert q.symlink_target(disk, root, "/etc/system-release") == "golden-demo-release"
    assert q.symlink_target(disk, root, "/etc/localtime") == "../usr/share/zoneinfo/Europe/Paris"
    assert 'ZONE="Europe/Paris"' in read("/etc/sysconfig/clock")
    assert q.symlink_target(disk, root, "/etc/rc.local") == "rc.d/rc.local"
    assert "Mode:  0755" in q.stat_file(disk, root, "/etc/rc.d/rc.local")
    for key in ("ecdsa", "ed25519"):
        assert read(f"/etc/ssh/ssh_host_{key}_key").startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        assert read(f"/etc/ssh/ssh_host_{key}_key.pub").startswith(("ecdsa-sha2-nistp256 ", "ssh-ed25519 "))
    q.stat_file(disk, root, "/var/lib/random-seed")
    q.stat_file(disk, root, "/var/log/messages")


def _overlay(disk: Path, path: Path) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(disk), "-F", "raw", str(path)],
                   check=True)
    return path


def _identity(run: q.Run) -> dict[str, str]:
    lines = run.lines("golden-identity ")
    assert len(lines) == 1, run.serial[-3000:]
    return dict(field.split("=", 1) for field in lines[0].split()[1:])


def test_installed_disk_boots_and_reports_identity(installed, tmp_path):
    disk, _ = installed
    root = _parts(disk)[2]
    machine_id = q.read_file(disk, root, "/etc/machine-id").strip()
    serial = tmp_path / "boot.log"
    args = q.base_args(serial, memory=512) + [
        "-uuid", VM_UUID, "-drive", f"file={_overlay(disk, tmp_path / 'boot.qcow2')},format=qcow2,if=virtio",
    ] + q.user_net()
    run = q.run(args, serial, timeout=BOOT_TIMEOUT)
    assert run.exited, "the installed system did not power off (golden.poweroff)"
    ident = _identity(run)
    assert ident["hostname"] == "demo-test"
    assert ident["mac"] == q.MAC
    assert ident["machine-id"] == machine_id
    assert ident["uuid"] == VM_UUID
    assert ident["nic"] == "eth0"
    assert ident["ssh-ed25519"].startswith("SHA256:")


def test_unsealed_clone_gets_eth1_and_fresh_machine_id(installed, tmp_path):
    """A copy with a new MAC and an emptied machine-id (half sealed): the old
    udev rule renames its NIC to eth1, and a new machine-id is made at boot."""
    disk, _ = installed
    clone = tmp_path / "clone.img"
    subprocess.run(["cp", "--sparse=always", str(disk), str(clone)], check=True)
    root = _parts(clone)[2]
    old_id = q.read_file(clone, root, "/etc/machine-id").strip()
    (tmp_path / "uninit").write_text("uninitialized\n")
    res = subprocess.run(["debugfs", "-w", "-R", "rm /etc/machine-id", f"{clone}?offset={root.start}"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(["debugfs", "-w", "-R", f"write {tmp_path / 'uninit'} /etc/machine-id",
                          f"{clone}?offset={root.start}"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    serial = tmp_path / "clone.log"
    args = q.base_args(serial, memory=512) + ["-drive", f"file={clone},format=raw,if=virtio"] + \
        q.user_net(mac="52:54:00:ab:cd:ef")
    run = q.run(args, serial, timeout=BOOT_TIMEOUT)
    assert run.exited
    ident = _identity(run)
    assert ident["mac"] == "none" and ident["nic"] == "eth1"
    assert re.fullmatch(r"[0-9a-f]{32}", ident["machine-id"]) and ident["machine-id"] != old_id
    rules = q.read_file(clone, root, "/etc/udev/rules.d/70-persistent-net.rules")
    assert 'ATTR{address}=="52:54:00:ab:cd:ef"' in rules and 'NAME="eth1"' in rules


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_iso_boots_to_the_installer(demo, tmp_path, firmware):
    serial = tmp_path / "iso.log"
    args = q.base_args(serial, uefi_vars=tmp_path / "vars.fd" if firmware == "uefi" else None)
    args += ["-cdrom", str(demo.iso), "-boot", "d"]
    run = q.run(args, serial, timeout=BOOT_TIMEOUT, until=q.FAILED)
    cmdline = run.value("cmdline")
    assert cmdline and f"inst.stage2=hd:LABEL={DEMO_LABEL}" in cmdline, run.serial[-3000:]
    assert "console=ttyS0,115200" in cmdline
    assert run.failed() == "no kickstart found"
    media = [l for l in run.lines("golden-installer: device ") if f"label={DEMO_LABEL}" in l]
    assert media and "fstype=iso9660" in media[0]
    assert "files=.discinfo,.treeinfo,EFI,GOLDEN-DEMO-README.txt,images,isolinux" in media[0]


def _small_iso(path: Path, label: str, files: dict[str, bytes]) -> Path:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label)
    for name, data in files.items():
        stem, _, ext = name.upper().replace("-", "_").partition(".")
        iso.add_fp(io.BytesIO(data), len(data), f"/{stem[:8]}.{ext[:3]};1", rr_name=name, joliet_path=f"/{name}")
    iso.write(str(path))
    iso.close()
    return path


def test_oemdrv_kickstart_is_found_and_unsupported_directive_fails(demo, tmp_path):
    """No ks= at all: the kickstart comes from the disc labelled OEMDRV. Also:
    rd.live.check hashes the install medium, and report lines reach the
    serial port when it is not the last console= (so not /dev/console)."""
    ks = b"# from an OEMDRV disc\ntext\nraid / --level=1 --device=md0 raid.01 raid.02\n"
    oemdrv = _small_iso(tmp_path / "oemdrv.iso", "OEMDRV", {"ks.cfg": ks})
    serial = tmp_path / "oemdrv.log"
    args = q.base_args(serial) + [
        "-kernel", str(demo.kernel), "-initrd", str(demo.initrd),
        "-append", "rd.live.check console=ttyS0,115200 console=tty0",
        "-drive", f"if=ide,index=1,media=cdrom,format=raw,file={oemdrv}",
        "-drive", f"if=ide,index=2,media=cdrom,format=raw,file={demo.iso}",
    ]
    run = q.run(args, serial, timeout=BOOT_TIMEOUT, until=q.FAILED)
    assert run.value("ks-source") == "hd:sr0:/ks.cfg", run.serial[-3000:]
    assert run.value("ks-sha256") == hashlib.sha256(ks).hexdigest()
    assert run.lines("golden-installer: media-check ") == [
        f"golden-installer: media-check device=sr1 sha256={demo.sha256}"]
    assert run.failed() == "unsupported kickstart directive 'raid' at line 3"
    assert "golden-installer: stage=partitioning" not in run.serial


def test_installer_initrd_boots_an_installed_root_and_obeys_the_power_button(installed, tmp_path):
    """root= on the command line turns the installer initrd into the installed
    system's initramfs; without golden.poweroff the system waits at a login
    prompt until the ACPI power button (virsh shutdown) powers it off."""
    disk, _ = installed
    demo = build_demo_media()
    root_uuid = q.fs_uuid(disk, _parts(disk)[2])
    serial = tmp_path / "root.log"
    monitor = tmp_path / "monitor.sock"
    args = q.base_args(serial, memory=512)
    args[args.index("-monitor") + 1] = f"unix:{monitor},server,nowait"
    args += ["-kernel", str(demo.kernel), "-initrd", str(demo.initrd),
             "-append", f"root=UUID={root_uuid} ro console=ttyS0,115200",
             "-drive", f"file={_overlay(disk, tmp_path / 'root.qcow2')},format=qcow2,if=virtio"] + q.user_net()
    login = re.compile(r"demo-test login:")

    def press_power_button():
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if serial.exists() and login.search(serial.read_text(errors="replace")):
                time.sleep(1)
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(monitor))
                    s.sendall(b"system_powerdown\n")
                    time.sleep(1)
                return
            time.sleep(0.5)

    presser = threading.Thread(target=press_power_button, daemon=True)
    presser.start()
    run = q.run(args, serial, timeout=BOOT_TIMEOUT)
    presser.join(5)
    assert "golden-identity hostname=demo-test mac=52:54:00:12:34:56 " in run.serial, run.serial[-3000:]
    assert run.exited, "the power button did not power the system off"
    assert "Requesting system poweroff" in run.serial


RICH_KICKSTART = """\
install
cdrom
lang de_DE.UTF-8
keyboard --vckeymap=de --xlayouts='de'
timezone Asia/Tokyo
rootpw --plaintext golden
user --name=alice --password=wonderland --groups=wheel --uid=1500 --gecos="Alice L"
sshkey --username=alice "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoldenDemoKeyForTestsOnly alice@demo"
selinux --permissive
firewall --enabled --service=ssh,http
services --enabled=sshd,chronyd --disabled=kdump
authconfig --enableshadow --passalgo=sha512
firstboot --disable
network --bootproto=static --device=eth0 --ip=10.0.2.50 --netmask=255.255.255.0 --gateway=10.0.2.2 \\
  --nameserver=10.0.2.3 --noipv6
%include /tmp/ks-hostname
zerombr
clearpart --all --initlabel
autopart --type=plain
bootloader --location=mbr --timeout=0 --append="golden.poweroff"
poweroff

%pre
echo "network --hostname=rich-demo" > /tmp/ks-hostname
%end

%packages
@core
openssh-server
-kdump
%end

%post --nochroot
echo "nochroot sees $ANA_INSTALL_PATH" > $ANA_INSTALL_PATH/root/nochroot-marker
%end

%post
id alice > /root/alice-id
exit 3
%end
"""


def test_rich_kickstart_from_cdrom(demo, tmp_path):
    """autopart, a static address, users and keys, %pre + %include, both kinds
    of %post (a failing one is not fatal), read from inst.ks=cdrom:."""
    ks_cd = _small_iso(tmp_path / "ks.iso", "KICKSTART", {"ks.cfg": RICH_KICKSTART.encode()})
    disk = tmp_path / "rich.img"
    with open(disk, "wb") as f:
        f.truncate(3 << 30)
    serial = tmp_path / "rich.log"
    args = q.base_args(serial, memory=768) + [
        "-kernel", str(demo.kernel), "-initrd", str(demo.initrd),
        "-append", "inst.ks=cdrom:/ks.cfg console=ttyS0,115200",
        "-cdrom", str(ks_cd), "-drive", f"file={disk},format=raw,if=virtio",
    ] + q.user_net(mac="52:54:00:00:00:42")
    run = q.run(args, serial, timeout=INSTALL_TIMEOUT, until=q.FAILED, grace=2)
    assert run.failed() is None, run.serial[-3000:]
    assert run.exited and run.value("result") == "ok"
    assert run.value("ks-source") == "cdrom:sr0:/ks.cfg"
    boot, swap, root = q.mbr_partitions(disk)
    assert (boot.size, boot.bootable) == (512 << 20, True)
    assert swap.type == 0x82 and 16 << 20 <= swap.size <= (3 << 30) // 10
    assert root.size > 2 << 30
    read = functools.partial(q.read_file, disk, root)
    assert read("/etc/hostname") == "rich-demo\n"
    ifcfg = read("/etc/sysconfig/network-scripts/ifcfg-eth0").splitlines()
    for line in ("BOOTPROTO=none", "IPADDR=10.0.2.50", "NETMASK=255.255.255.0", "GATEWAY=10.0.2.2",
                 "DNS1=10.0.2.3", "IPV6INIT=no", "HWADDR=52:54:00:00:00:42", "ONBOOT=yes"):
        assert line in ifcfg, ifcfg
    assert read("/etc/resolv.conf") == "nameserver 10.0.2.3\n"
    passwd = read("/etc/passwd")
    assert "alice:x:1500:1500:Alice L:/home/alice:/bin/sh" in passwd.splitlines()
    assert re.search(r"^alice:\$6\$[^:]+:", read("/etc/shadow"), re.M)
    assert re.search(r"^root:\$6\$[^:]+:", read("/etc/shadow"), re.M)
    assert "wheel:x:10:alice" in read("/etc/group").splitlines()
    assert "alice@demo" in read("/home/alice/.ssh/authorized_keys")
    assert read("/root/alice-id").startswith("uid=1500(alice) gid=1500(alice)")
    assert read("/root/nochroot-marker") == "nochroot sees /mnt/sysimage\n"
    assert read("/etc/locale.conf") == 'LANG="de_DE.UTF-8"\n'
    assert read("/etc/vconsole.conf") == 'KEYMAP="de"\n'
    assert "SELINUX=permissive" in read("/etc/selinux/config")
    assert "SERVICES=ssh,http" in read("/etc/sysconfig/golden-firewall")
    assert "ENABLED=sshd,chronyd" in read("/etc/sysconfig/golden-services")
    assert "authconfig --enableshadow --passalgo=sha512" in read("/etc/sysconfig/golden-auth")
    assert "RUN_FIRSTBOOT=NO" in read("/etc/sysconfig/firstboot")
    assert "UTC=false" in read("/etc/sysconfig/clock")
    assert "exited with status 3" in read("/var/log/anaconda/anaconda.log")


class _OneFile(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path != "/ks/demo.cfg":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_http_kickstart_and_windows_style_media_are_seen(demo, tmp_path):
    """inst.ks=http:// over qemu user networking (guestfwd to a loopback
    server), with a driver floppy and a driver CD attached: the device lines
    show what a Windows setup would see on them."""
    ks = b"text\nvolgroup vg0 pv.01\n"
    handler = type("Handler", (_OneFile,), {"body": ks})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    floppy = tmp_path / "drivers.img"
    subprocess.run(["mkfs.fat", "-C", "-n", "DRIVERS", str(floppy), "1440"], check=True, capture_output=True)
    (tmp_path / "TXTSETUP.OEM").write_text("[Disks]\n")
    subprocess.run(["mcopy", "-i", str(floppy), str(tmp_path / "TXTSETUP.OEM"), "::/"], check=True,
                   env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
    driver_cd = _small_iso(tmp_path / "virtio.iso", "VIRTIO_WIN", {"autounattend.xml": b"<unattend/>\n"})
    serial = tmp_path / "http.log"
    port = server.server_address[1]
    args = q.base_args(serial) + [
        "-kernel", str(demo.kernel), "-initrd", str(demo.initrd),
        "-append", "inst.ks=http://10.0.2.100/ks/demo.cfg console=ttyS0,115200",
        "-drive", f"if=floppy,format=raw,file={floppy}",
        "-drive", f"if=ide,index=1,media=cdrom,format=raw,file={driver_cd}",
    ] + q.user_net(extra=f",guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:{port}")
    try:
        run = q.run(args, serial, timeout=BOOT_TIMEOUT, until=q.FAILED)
    finally:
        server.shutdown()
        server.server_close()
    devices = {l.split()[2]: l for l in run.lines("golden-installer: device ")}
    assert devices["name=fd0"].endswith("size=1474560 fstype=vfat label=DRIVERS files=TXTSETUP.OEM")
    assert devices["name=sr0"].endswith("fstype=iso9660 label=VIRTIO_WIN files=autounattend.xml")
    assert run.value("ks-source") == "http://10.0.2.100/ks/demo.cfg", run.serial[-3000:]
    assert run.failed() == "unsupported kickstart directive 'volgroup' at line 2"


def test_media_builds_are_reproducible(tmp_path):
    """Two builds, the second in another time zone, give identical bytes."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    build_into(first)
    env = dict(os.environ, TZ="America/New_York")
    code = f"from pathlib import Path; from builder.demo.media import build_into; build_into(Path({str(second)!r}))"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    for name in ("golden-demo.iso", "initrd.img", "vmlinuz"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
