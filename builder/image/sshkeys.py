"""SSH host keys after seal: does the guest make new ones at boot, and a generator for guests that do not.

Fedora and RHEL 7+ ship sshd-keygen(@).service, SUSE's sshd.service runs
sshd-gen-keys-start, and the sshd init scripts of RHEL 3-6 make missing keys
before they start the daemon. Debian and Ubuntu make them only in
openssh-server's postinst, so a sealed Debian clone fails at boot with
"sshd: no hostkeys available". For those guests seal adds a unit (or, without
systemd, a first-boot script) that runs `ssh-keygen -A`, which makes only the
key types that are missing; it stays in the guest like sshd-keygen does on
Fedora, so a later re-seal of a clone works the same way.
"""

from __future__ import annotations

import posixpath
import re

from builder.image import firstboot
from builder.image.changes import Recorder
from builder.image.identity import UNIT_DIRS
from builder.image.osinfo import OSInfo

SSHD = ("/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd")
KEYGEN = ("/usr/bin/ssh-keygen", "/bin/ssh-keygen")
INIT_SCRIPTS = ("/etc/rc.d/init.d/sshd", "/etc/init.d/sshd", "/etc/init.d/ssh", "/etc/init.d/openssh")
SSH_UNITS = ("ssh.service", "sshd.service")
_MAKES_KEYS = re.compile(r"ssh-keygen|sshd-keygen|sshd-gen-keys")

UNIT = "golden-ssh-hostkeys.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"

UNIT_TEXT = """[Unit]
Description=Generate the SSH host keys that golden seal removed
Before=ssh.service sshd.service

[Service]
Type=oneshot
ExecStart={keygen} -A
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target ssh.service sshd.service
"""

# Without systemd this runs from rc.local, after the init script has already
# failed to start sshd for want of keys: so it starts it again.
FIRSTBOOT_SH = """#!/bin/sh
{keygen} -A || exit 1
for s in /etc/init.d/ssh /etc/init.d/sshd /etc/rc.d/init.d/sshd; do
    [ -x "$s" ] && {{ "$s" restart; break; }}
done
"""


def _first(h, paths) -> str | None:
    return next((p for p in paths if h.is_file(p)), None)


def guest_generator(h, osi: OSInfo) -> str | None:
    """What in the guest makes missing host keys when sshd starts, or None."""
    if osi.has_systemd:
        for d in UNIT_DIRS:
            if not h.is_dir(d):
                continue
            for name in sorted(h.ls(d)):
                if name == UNIT:
                    return f"{UNIT} (from an earlier seal)"
                if name.startswith("sshd-keygen"):
                    return name
                path = posixpath.join(d, name)
                if name in SSH_UNITS and h.is_file(path) and _MAKES_KEYS.search(h.read_text(path)):
                    return name
        # Unit-less systemd guests start sshd through its init script (systemd-sysv-generator).
    script = _first(h, INIT_SCRIPTS)
    if script and _MAKES_KEYS.search(h.read_text(script)):
        return script
    return None


def arrange_regeneration(h, rec: Recorder, osi: OSInfo, notes: list[str]) -> None:
    """Make sure a clone comes up with sshd running on keys of its own."""
    if _first(h, SSHD) is None:
        notes.append("no sshd in the guest: nothing has to make host keys")
        return
    own = guest_generator(h, osi)
    if own:
        notes.append(f"the guest makes new host keys when sshd starts ({own})")
        return
    keygen = _first(h, KEYGEN)
    if keygen is None:
        notes.append("sshd without ssh-keygen: nothing can make host keys at boot; sshd will not start")
        return
    if osi.has_systemd:
        rec.write(UNIT_PATH, UNIT_TEXT.format(keygen=keygen), mode=0o644, detail="ssh-keygen -A before sshd")
        wanted_by = ["multi-user.target"] + [u for u in SSH_UNITS
                                             if any(h.is_file(posixpath.join(d, u)) for d in UNIT_DIRS)]
        for target in wanted_by:
            link = f"/etc/systemd/system/{target}.wants/{UNIT}"
            rec.mkdir_p(posixpath.dirname(link))
            rec.symlink(UNIT_PATH, link)
        notes.append(f"the guest's sshd does not make host keys: {UNIT} runs `ssh-keygen -A` before it at boot")
    else:
        firstboot.install(h, rec, osi, "ssh-hostkeys", FIRSTBOOT_SH.format(keygen=keygen).encode())
        notes.append("the guest's sshd does not make host keys: a first-boot script runs `ssh-keygen -A` "
                     "and restarts sshd")
