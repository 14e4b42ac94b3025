"""The first-boot identity beacon: where golden clone installs it, and that its line is what verify reads."""

from __future__ import annotations

import subprocess

from builder.clone import beacon
from builder.clone.verify import compare, parse_identity
from builder.image import firstboot
from builder.image.changes import Recorder
from builder.image.osinfo import OSInfo
from tests.unit.treeguest import tree

SYSTEMD = OSInfo(distro="debian", family="debian", major=12, init="systemd")
SYSV = OSInfo(distro="rhel", family="rhel", major=5, init="sysvinit")


def installed(guest, osi):
    rec = Recorder(guest, dry_run=True)
    notes = beacon.install(guest, rec, osi)
    return {c["path"]: c for c in rec.as_list()}, " ".join(notes)


def test_systemd_guest_gets_a_one_shot_script(tmp_path):
    guest = tree(tmp_path, {"/lib/systemd/systemd": b"\x7fELF", "/etc/os-release": "ID=debian\n"})
    changes, notes = installed(guest, SYSTEMD)
    queued = f"{firstboot.SCRIPTS}/01-{beacon.NAME}"
    assert queued in changes and firstboot.UNIT_PATH in changes and firstboot.WANTS_LINK in changes
    assert "prints this clone's identity once at first boot" in notes


def test_rhel5_guest_gets_it_through_rc_local(tmp_path):
    guest = tree(tmp_path, {"/sbin/init": b"\x7fELF", "/etc/rc.d/rc.local": "#!/bin/sh\ntouch /var/lock/subsys/local\n"})
    changes, _ = installed(guest, SYSV)
    assert f"{firstboot.SCRIPTS}/01-{beacon.NAME}" in changes
    assert "/etc/rc.d/rc.local" in changes and firstboot.UNIT_PATH not in changes


def test_guest_whose_init_prints_the_line_gets_nothing(tmp_path):
    # The demo OS: its init script prints golden-identity on every boot.
    init = "#!/bin/sh\nidentity_line() {\n  echo \"golden-identity hostname=$(hostname)\"\n}\n"
    guest = tree(tmp_path, {"/usr/sbin/init": init, "/etc/rc.local": "#!/bin/sh\n"})
    changes, notes = installed(guest, SYSV)
    assert changes == {} and notes == ""


def test_guest_without_any_boot_hook_is_told_why(tmp_path):
    guest = tree(tmp_path, {"/sbin/init": b"\x7fELF"})
    changes, notes = installed(guest, SYSV)
    assert changes == {}
    assert "no identity beacon" in notes and "rc.local" in notes


def test_the_script_prints_a_line_verify_understands():
    # Run on this host in a private mount namespace where /dev/kmsg is /dev/null: the
    # fields it finds here (this host's hostname, NIC, machine-id) must parse as verify expects.
    run = subprocess.run(["unshare", "--mount", "sh", "-c", 'mount --bind /dev/null /dev/kmsg && exec sh -s'],
                         input=beacon.SCRIPT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    fields = parse_identity(run.stdout)
    assert set(fields) >= {"hostname", "mac", "machine-id", "uuid", "ssh", "ssh-ed25519", "via"}
    assert fields["hostname"] == open("/proc/sys/kernel/hostname").read().strip()
    assert fields["ssh"] in ("active", "inactive", "none", "failed")


def test_verify_fails_a_clone_whose_sshd_did_not_come_up():
    expected = {"hostname": "web-1", "macs": ["52:54:00:aa:bb:01"], "uuid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}
    good = {"hostname": "web-1", "mac": "52:54:00:aa:bb:01", "uuid": expected["uuid"],
            "machine-id": "0123456789abcdef0123456789abcdef", "ssh": "active"}
    assert compare(expected, good) == []
    assert compare(expected, dict(good, ssh="none")) == []     # no sshd installed: nothing to check
    assert compare(expected, dict(good, ssh="failed")) == ["sshd is failed on the clone's first boot"]
    demo = {k: v for k, v in good.items() if k != "ssh"}    # the demo's own line has no ssh= field
    assert compare(expected, demo) == []
