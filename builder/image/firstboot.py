"""Run scripts once, at the guest's first boot, through the guest's own init system.

systemd guests get a oneshot unit enabled by a symlink (what `systemctl
enable` would make); RHEL 3-6 and other guests without systemd get a line in
rc.local. Either way a small POSIX-sh runner executes the queued scripts in
name order, logs to /root/golden-firstboot.log and moves each script to a done
folder, so it never runs twice.
"""

from __future__ import annotations

import posixpath
import re

from builder.errors import InputError
from builder.image.changes import Recorder
from builder.image.osinfo import OSInfo

BASE = "/var/lib/golden-firstboot"
SCRIPTS = f"{BASE}/scripts"
DONE = f"{BASE}/done"
RUNNER = "/usr/local/sbin/golden-firstboot"
LOG = "/root/golden-firstboot.log"
UNIT = "golden-firstboot.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
WANTS_LINK = f"/etc/systemd/system/multi-user.target.wants/{UNIT}"
RC_LOCAL = ("/etc/rc.d/rc.local", "/etc/rc.local")
RC_MARK = "# golden first-boot scripts"

RUNNER_SH = f"""#!/bin/sh
# Installed by golden: runs each queued first-boot script once, in name order.
scripts={SCRIPTS}
done_dir={DONE}
log={LOG}
mkdir -p "$done_dir"
for s in "$scripts"/*; do
    [ -f "$s" ] || continue
    name=${{s##*/}}
    echo "=== $name: start $(date)" >>"$log"
    chmod 0755 "$s"
    "$s" >>"$log" 2>&1
    echo "=== $name: exit $? $(date)" >>"$log"
    mv -f "$s" "$done_dir/$name"
done
"""

UNIT_TEXT = f"""[Unit]
Description=golden first-boot scripts
After=network-online.target
Wants=network-online.target
ConditionPathExistsGlob={SCRIPTS}/*

[Service]
Type=oneshot
ExecStart={RUNNER}
TimeoutSec=0
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
"""


def mechanism(h, osi: OSInfo) -> str:
    if osi.has_systemd:
        return "systemd"
    if any(h.is_file(p) for p in RC_LOCAL):
        return "rc.local"
    raise InputError("firstboot: the guest has neither systemd nor an rc.local to start scripts from",
                     where=str(h.image), hint="add /etc/rc.local to the image, or run the script another way")


def install(h, rec: Recorder, osi: OSInfo, name: str, script: bytes) -> str:
    """Queue `script` and make sure the guest runs the queue at boot. Returns the queued path."""
    how = mechanism(h, osi)
    rec.mkdir_p(SCRIPTS, 0o700)
    existing = h.ls(SCRIPTS) + (h.ls(DONE) if h.is_dir(DONE) else []) if h.is_dir(SCRIPTS) else []
    numbers = [int(m.group(1)) for n in existing if (m := re.match(r"(\d+)-", n))]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", posixpath.basename(name)) or "script"
    queued = f"{SCRIPTS}/{max(numbers, default=0) + 1:02d}-{safe}"
    rec.write(queued, script, mode=0o755, detail="first-boot script")
    rec.mkdir_p(posixpath.dirname(RUNNER))
    rec.write(RUNNER, RUNNER_SH, mode=0o755, detail="first-boot runner")
    if how == "systemd":
        rec.write(UNIT_PATH, UNIT_TEXT, mode=0o644, detail="oneshot unit")
        rec.mkdir_p(posixpath.dirname(WANTS_LINK))
        rec.symlink(UNIT_PATH, WANTS_LINK)
    else:
        path = next(p for p in RC_LOCAL if h.is_file(p))
        text = h.read_text(path)
        if RC_MARK not in text:
            sep = "" if text.endswith("\n") or not text else "\n"
            rec.edit(path, f"{text}{sep}{RC_MARK}\n[ -x {RUNNER} ] && {RUNNER}\n", "runs the first-boot queue")
        rec.chmod(path, h.stat(path).perms | 0o755)
    return queued
