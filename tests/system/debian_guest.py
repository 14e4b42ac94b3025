"""A real Debian 12 guest on LVM, built by the test suite and cached between sessions.

mmdebstrap makes the root tree as a tarball (the host's apt sources, so the
same mirror the machine already uses); everything that needs block devices
(partition, PV/VG/LV, mkfs, unpacking) happens inside the libguestfs
appliance, because this host has no device-mapper.

No bootloader is installed: tests boot the guest's own kernel and initrd
(copied out of /boot next to the disk) with qemu's direct kernel boot, so
the initrd must find the root LV by itself, which Debian's lvm2 initramfs
hook provides when lvm2 is installed before the kernel's initrd is built.

The result lives under CACHE keyed by a sha256 of PACKAGES and this file's
text: editing the recipe rebuilds, a second session reuses the image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, asdict
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("GOLDEN_TEST_CACHE", "/var/tmp/golden-test-cache"))
SUITE = "bookworm"
# tzdata, and the locale files below, because every installed Debian has them: without
# them a first boot (a sealed image's) stops at systemd-firstboot's console prompts.
PACKAGES = ("systemd-sysv", "openssh-server", "linux-image-amd64", "lvm2", "initramfs-tools", "udev", "tzdata")
HOSTNAME = "debtemplate"
# Fixed, so a test can tell the template's id from one a first boot made.
MACHINE_ID = "d3b1a2c4e5f60718293a4b5c6d7e8f90"
ROOT_LV = "/dev/mapper/vg0-root"
DISK_SIZE = 3 << 30
CMDLINE = f"root={ROOT_LV} ro console=ttyS0 panic=-1"

NETWORK = "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"
FSTAB = f"{ROOT_LV} / ext4 errors=remount-ro 0 1\n"
UNITS = "/lib/systemd/system"

# Installed but not enabled: a boot turns it on with `systemd.wants=golden-probe.service`
# on the kernel command line, which saves an appliance launch per boot and leaves a
# sealed image's own unit set untouched. It reports on the serial port, then powers off.
PROBE_UNIT = """[Unit]
Description=golden test probe: report ssh and identity on the console
After=ssh.service systemd-networkd.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/golden-probe
"""
PROBE_SCRIPT = r"""#!/bin/sh
# Through the kernel log, not /dev/ttyS0: serial-getty's vhangup of ttyS0 can start at
# the same moment and would silently cut off a writer holding the tty open.
exec >/dev/kmsg 2>&1
# ssh.service restarts after a failed start; wait out the retries so the state is final.
i=0
while [ $i -lt 40 ] && [ "$(systemctl is-active ssh)" = activating ]; do sleep 1; i=$((i+1)); done
keys=
for f in /etc/ssh/ssh_host_*_key.pub; do
  [ -e "$f" ] && keys="$keys${keys:+,}$f:$(sha256sum <"$f" | cut -d' ' -f1)"
done
echo "probe: ssh=$(systemctl is-active ssh) keys=$keys hostname=$(cat /proc/sys/kernel/hostname) machineid=$(cat /etc/machine-id)"
echo "probe: failed=$(systemctl --failed --plain --no-legend | cut -d' ' -f1 | paste -sd, -)"
echo "probe: sshd=$(journalctl -b -u ssh --no-pager -o cat | tail -n 3 | paste -sd'|' -)"
echo "probe: done"
systemctl poweroff
"""


@dataclass
class DebianGuest:
    disk: Path          # raw; treat as read-only, boot or seal an overlay of it
    format: str
    kernel: Path
    initrd: Path
    cmdline: str
    hostname: str
    machine_id: str
    packages: int       # dpkg-query's count of installed packages in the image
    host_keys: dict     # /etc/ssh/ssh_host_*_key.pub -> sha256 of its bytes
    build_seconds: float | None = None   # None when the cache answered


def recipe_key() -> str:
    h = hashlib.sha256()
    h.update("\n".join((SUITE, *PACKAGES)).encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def tarball_key() -> str:
    # The slow download is keyed on its inputs alone, so tuning the disk steps reuses it.
    return hashlib.sha256("\n".join((SUITE, *PACKAGES)).encode()).hexdigest()[:16]


def mmdebstrap(out: Path) -> None:
    tmp = out.with_name(f"{out.stem}.tmp{os.getpid()}.tar")
    cmd = ["mmdebstrap", "--variant=apt", "--format=tar", "--include=" + ",".join(PACKAGES), SUITE, str(tmp)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-4000:]}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _appliance():
    import guestfs
    from builder.virt.accel import guestfs_settings

    env = guestfs_settings()
    g = guestfs.GuestFS(python_return_dict=True)
    g.set_backend(env["LIBGUESTFS_BACKEND"])
    g.set_backend_settings(env["LIBGUESTFS_BACKEND_SETTINGS"].split(":"))
    return g


def configure(g, hostname: str, machine_id: str, fstab: str) -> None:
    """Identity, locale, systemd-networkd on DHCP and the (disabled) probe unit: what a boot test needs."""
    g.write("/etc/hostname", f"{hostname}\n")
    g.write("/etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n::1 localhost ip6-localhost\n")
    g.write("/etc/machine-id", f"{machine_id}\n")
    g.write("/etc/fstab", fstab)
    g.write("/etc/default/locale", "LANG=C.UTF-8\n")
    g.write("/etc/locale.conf", "LANG=C.UTF-8\n")
    g.mkdir_p("/etc/systemd/network")
    g.write("/etc/systemd/network/20-dhcp.network", NETWORK)
    # What `systemctl enable systemd-networkd` would link (no systemd to ask on the host).
    for unit, target in (("systemd-networkd.service", "multi-user.target"),
                         ("systemd-networkd.socket", "sockets.target"),
                         ("systemd-networkd-wait-online.service", "network-online.target")):
        g.mkdir_p(f"/etc/systemd/system/{target}.wants")
        g.ln_sf(f"{UNITS}/{unit}", f"/etc/systemd/system/{target}.wants/{unit}")
    g.ln_sf(f"{UNITS}/systemd-networkd.service", "/etc/systemd/system/dbus-org.freedesktop.network1.service")
    g.write("/etc/systemd/system/golden-probe.service", PROBE_UNIT)
    g.mkdir_p("/usr/local/sbin")
    g.write("/usr/local/sbin/golden-probe", PROBE_SCRIPT)
    g.chmod(0o755, "/usr/local/sbin/golden-probe")


def _fill_disk(disk: Path, tarball: Path, out: Path) -> dict:
    with open(disk, "wb") as f:
        f.truncate(DISK_SIZE)
    g = _appliance()
    g.add_drive_opts(str(disk), format="raw")
    g.launch()
    try:
        g.part_disk("/dev/sda", "mbr")
        g.part_set_mbr_id("/dev/sda", 1, 0x8E)
        g.pvcreate("/dev/sda1")
        g.vgcreate("vg0", ["/dev/sda1"])
        g.lvcreate_free("root", "vg0", 100)
        g.mkfs("ext4", "/dev/vg0/root")
        g.mount("/dev/vg0/root", "/")
        # xattrs keep file capabilities (ping and friends) as dpkg set them.
        g.tar_in(str(tarball), "/", xattrs=True, acls=True)
        configure(g, HOSTNAME, MACHINE_ID, FSTAB)
        # Counted by the guest's own dpkg, not by our parsing of its database.
        packages = len([s for s in g.sh("dpkg-query -W -f='${db:Status-Abbrev}\\n'").splitlines()
                        if s.startswith("ii")])
        keys = {p: hashlib.sha256(g.read_file(p)).hexdigest() for p in sorted(g.glob_expand("/etc/ssh/ssh_host_*_key.pub"))}
        kernels = sorted(g.glob_expand("/boot/vmlinuz-*"))
        assert len(kernels) == 1, kernels
        version = kernels[0][len("/boot/vmlinuz-"):]
        g.download(kernels[0], str(out / "vmlinuz"))
        g.download(f"/boot/initrd.img-{version}", str(out / "initrd.img"))
        g.umount_all()
        g.shutdown()
    finally:
        g.close()
    return {"packages": packages, "host_keys": keys, "kernel_version": version}


def check_initrd(initrd: Path) -> None:
    """Fail the build, not a 5-minute boot, when the initrd cannot activate LVM."""
    listing = subprocess.run(["lsinitramfs", str(initrd)], capture_output=True, text=True, check=True).stdout
    names = {Path(p).name for p in listing.splitlines()}
    missing = [n for n in ("lvm", "dm-mod.ko", "virtio_blk.ko", "ext4.ko") if not any(x.startswith(n) for x in names)]
    if missing:
        raise RuntimeError(f"initrd {initrd} lacks {missing}")


def build(cache: Path = CACHE) -> DebianGuest:
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / f"debian12-lvm-{recipe_key()}"
    meta = final / "guest.json"
    started = None
    if not meta.exists():
        started = time.monotonic()
        tarball = cache / f"debian12-rootfs-{tarball_key()}.tar"
        if not tarball.exists():
            mmdebstrap(tarball)
        work = Path(tempfile.mkdtemp(prefix=final.name + ".tmp", dir=cache))
        try:
            facts = _fill_disk(work / "disk.raw", tarball, work)
            check_initrd(work / "initrd.img")
            (work / "guest.json").write_text(json.dumps(facts, indent=1))
            try:
                os.rename(work, final)
            except OSError:
                if not meta.exists():     # not a concurrent session's finished copy
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    facts = json.loads(meta.read_text())
    return DebianGuest(disk=final / "disk.raw", format="raw", kernel=final / "vmlinuz", initrd=final / "initrd.img",
                       cmdline=CMDLINE, hostname=HOSTNAME, machine_id=MACHINE_ID, packages=facts["packages"],
                       host_keys=facts["host_keys"],
                       build_seconds=None if started is None else round(time.monotonic() - started, 1))


@pytest.fixture(scope="session")
def debian_guest() -> DebianGuest:
    """The cached Debian 12 LVM guest (built on first use; minutes)."""
    # Failures, not skips: the system tier runs as root after scripts/bootstrap.sh installed mmdebstrap.
    if os.geteuid() != 0:
        pytest.fail("the Debian test guest needs root (mmdebstrap, the appliance's tar_in)")
    if shutil.which("mmdebstrap") is None:
        pytest.fail("mmdebstrap is not installed: run scripts/bootstrap.sh")
    guest = build()
    print("debian guest:", asdict(guest))
    return guest
