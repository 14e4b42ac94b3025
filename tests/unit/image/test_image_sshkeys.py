"""Which sealed guests make new SSH host keys by themselves, and what seal adds to the others."""

from __future__ import annotations

import pytest

from builder.image import sshkeys
from builder.image.changes import Recorder
from builder.image.osinfo import OSInfo
from tests.unit.treeguest import tree

SYSTEMD = OSInfo(distro="debian", family="debian", major=12, init="systemd")
SYSV = OSInfo(distro="debian", family="debian", major=6, init="sysvinit")

# Debian 12's units as openssh-server ships them: nothing in them makes keys.
DEBIAN_SSH_SERVICE = """[Unit]
Description=OpenBSD Secure Shell server
After=network.target auditd.service

[Service]
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
"""
RHEL7_SSHD_SERVICE = """[Unit]
Description=OpenSSH server daemon
After=network.target sshd-keygen.service
Wants=sshd-keygen.service
"""
RHEL6_INIT = """#!/bin/bash
KEYGEN=/usr/bin/ssh-keygen
do_rsa_keygen() {
	if [ ! -s $RSA_KEY ]; then
		$KEYGEN -q -t rsa -f $RSA_KEY -C '' -N '' >&/dev/null
	fi
}
"""
DEBIAN_INIT = """#!/bin/sh
test -x /usr/sbin/sshd || exit 0
case "$1" in
  start) start-stop-daemon --start --quiet --exec /usr/sbin/sshd ;;
esac
"""
BIN = b"\x7fELF"


def run(guest, osi):
    rec = Recorder(guest, dry_run=True)
    notes: list[str] = []
    sshkeys.arrange_regeneration(guest, rec, osi, notes)
    return {c["path"]: c for c in rec.as_list()}, " ".join(notes)


def test_debian_systemd_gets_a_keygen_unit_ordered_before_sshd(tmp_path):
    g = tree(tmp_path, {"/usr/sbin/sshd": BIN, "/usr/bin/ssh-keygen": BIN,
                        "/lib/systemd/system/ssh.service": DEBIAN_SSH_SERVICE,
                        "/etc/systemd/system/.keep": ""})
    changes, notes = run(g, SYSTEMD)
    assert sshkeys.UNIT_PATH in changes and "ssh-keygen -A" in notes
    assert {f"/etc/systemd/system/{t}.wants/{sshkeys.UNIT}" for t in ("multi-user.target", "ssh.service")} \
        <= set(changes)
    assert "/etc/systemd/system/sshd.service.wants/golden-ssh-hostkeys.service" not in changes
    unit = sshkeys.UNIT_TEXT.format(keygen="/usr/bin/ssh-keygen")
    assert "Before=ssh.service sshd.service" in unit and "ExecStart=/usr/bin/ssh-keygen -A" in unit


@pytest.mark.parametrize("files, own", [
    ({"/usr/lib/systemd/system/sshd.service": RHEL7_SSHD_SERVICE,
      "/usr/lib/systemd/system/sshd-keygen.service": "[Service]\n"}, "sshd-keygen.service"),
    ({"/usr/lib/systemd/system/sshd.service": "[Service]\nExecStartPre=/usr/sbin/sshd-gen-keys-start\n"},
     "sshd.service"),
    ({"/etc/systemd/system/golden-ssh-hostkeys.service": "[Service]\n"}, "from an earlier seal"),
], ids=["rhel-sshd-keygen", "suse-gen-keys", "resealed"])
def test_systemd_guests_that_make_keys_are_left_alone(tmp_path, files, own):
    g = tree(tmp_path, {"/usr/sbin/sshd": BIN, "/usr/bin/ssh-keygen": BIN, **files})
    changes, notes = run(g, SYSTEMD)
    assert changes == {} and own in notes


def test_rhel6_init_script_makes_its_keys(tmp_path):
    g = tree(tmp_path, {"/usr/sbin/sshd": BIN, "/usr/bin/ssh-keygen": BIN, "/etc/rc.d/init.d/sshd": RHEL6_INIT,
                        "/etc/rc.d/rc.local": "#!/bin/sh\ntouch /var/lock/subsys/local\n"})
    changes, notes = run(g, SYSV)
    assert changes == {} and "/etc/rc.d/init.d/sshd" in notes


def test_sysv_debian_gets_a_first_boot_script_that_restarts_sshd(tmp_path):
    g = tree(tmp_path, {"/usr/sbin/sshd": BIN, "/usr/bin/ssh-keygen": BIN, "/etc/init.d/ssh": DEBIAN_INIT,
                        "/etc/rc.local": "#!/bin/sh -e\nexit 0\n"})
    changes, notes = run(g, SYSV)
    queued = [p for p in changes if p.startswith("/var/lib/golden-firstboot/scripts/")]
    assert len(queued) == 1 and queued[0].endswith("-ssh-hostkeys")
    assert "/etc/rc.local" in changes and "restarts sshd" in notes
    assert '"$s" restart' in sshkeys.FIRSTBOOT_SH


def test_no_sshd_needs_nothing(tmp_path):
    g = tree(tmp_path, {"/usr/bin/ssh-keygen": BIN, "/etc/systemd/system/.keep": ""})
    changes, notes = run(g, SYSTEMD)
    assert changes == {} and "no sshd" in notes


FIRSTBOOT_DEBIAN = "[Unit]\nConditionFirstBoot=yes\n\n[Service]\nExecStart=systemd-firstboot --prompt-locale " \
                   "--prompt-timezone --prompt-root-password\n"


@pytest.mark.parametrize("files, prompts", [
    ({"/lib/systemd/system/systemd-firstboot.service": FIRSTBOOT_DEBIAN,
      "/lib/systemd/system/sysinit.target.wants/systemd-firstboot.service": FIRSTBOOT_DEBIAN}, True),
    ({"/lib/systemd/system/systemd-firstboot.service": FIRSTBOOT_DEBIAN}, False),          # not wanted
    ({"/lib/systemd/system/systemd-firstboot.service": "[Service]\nExecStart=systemd-firstboot\n",
      "/lib/systemd/system/sysinit.target.wants/systemd-firstboot.service": ""}, False),   # asks nothing
], ids=["debian-12", "not-wanted", "no-prompt"])
def test_a_first_boot_that_would_prompt_is_found(tmp_path, files, prompts):
    from builder.image.identity import firstboot_prompt
    g = tree(tmp_path, files)
    assert (firstboot_prompt(g) is not None) is prompts
