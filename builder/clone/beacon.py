"""A one-shot identity beacon, so `golden verify` can check guests golden did not build.

The demo OS prints its `golden-identity` line from its own init. Any other
guest gets, in each clone, a first-boot script (builder/image/firstboot.py:
a systemd oneshot, or rc.local on RHEL 3-6) that waits for sshd to settle and
prints the same line once, with what a person would check on a new clone:
hostname, first NIC's MAC, machine-id, SMBIOS UUID, the state of sshd and the
fingerprint of its ed25519 host key. The runner moves the script to its done
folder afterwards, so a clone's later boots stay quiet.

It writes to /dev/kmsg, not to the serial tty: serial-getty's vhangup of
ttyS0 can cut off a writer holding the tty, while kernel messages reach the
console (console=ttyS0) whatever getty does. 2.4 kernels (RHEL 3) have no
/dev/kmsg, and there the serial port is the only way out.
"""

from __future__ import annotations

from builder.errors import InputError
from builder.image import firstboot
from builder.image.changes import Recorder
from builder.image.osinfo import OSInfo

NAME = "golden-identity-beacon"
MARK = b"golden-identity"
# Init programs that may already print the line (the demo OS's does); a binary
# init (systemd, SysV init) is never a script, so its size bounds the read.
_INITS = ("/sbin/init", "/usr/sbin/init", "/init")
_SCRIPT_MAX = 256 << 10

# sshd's state (and whether its start is still queued), as the beacon reports it; the guest agent
# path (agent.py) runs the same check.
SSH_STATE = r"""ssh_state() {
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        for u in ssh sshd; do
            s=$(systemctl is-active "$u" 2>/dev/null)
            case $s in active|activating|failed|deactivating) echo "$s"; return ;; esac
        done
        systemctl cat ssh.service sshd.service >/dev/null 2>&1 && { echo inactive; return; }
        echo none; return
    fi
    for s in /etc/rc.d/init.d/sshd /etc/init.d/sshd /etc/init.d/ssh; do
        [ -x "$s" ] || continue
        if pidof sshd >/dev/null 2>&1; then echo active; else echo inactive; fi
        return
    done
    echo none
}
# This runs while the boot is still going on: sshd may not have been started yet (its
# start job is queued), or may be restarting after a failure. Wait for a final state.
queued() {
    systemctl list-jobs --no-legend 2>/dev/null | grep -Eq '(^|[[:space:]])sshd?[.]service[[:space:]]'
}
"""

SCRIPT = r"""#!/bin/sh
# Installed by golden clone: prints this clone's identity once, for `golden verify`.
""" + SSH_STATE + r"""i=0
while [ $i -lt 120 ]; do
    case $(ssh_state) in
        activating|deactivating) ;;
        inactive) queued || break ;;
        *) break ;;
    esac
    sleep 1; i=$((i+1))
done
ssh=$(ssh_state)
mac=
for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    [ -r "$d/address" ] || continue
    case $(cat "$d/type" 2>/dev/null) in 1|"") ;; *) continue ;; esac
    [ -e "$d/device" ] || continue
    mac=$(cat "$d/address"); break
done
uuid=$(tr 'A-F' 'a-f' 2>/dev/null </sys/class/dmi/id/product_uuid)
mid=
[ -r /etc/machine-id ] && read -r mid </etc/machine-id
[ -z "$mid" ] && [ -r /var/lib/dbus/machine-id ] && read -r mid </var/lib/dbus/machine-id
fp=
[ -s /etc/ssh/ssh_host_ed25519_key.pub ] &&
    fp=$(ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null | cut -d' ' -f2)
host=$(cat /proc/sys/kernel/hostname 2>/dev/null || hostname)
line="golden-identity hostname=$host mac=${mac:-none} machine-id=${mid:-none} uuid=${uuid:-none} ssh=$ssh ssh-ed25519=${fp:-none} via=beacon"
if [ -w /dev/kmsg ]; then
    echo "$line" >/dev/kmsg
else
    echo "$line" >/dev/ttyS0
fi
echo "$line"
"""


def prints_identity_itself(h) -> bool:
    """True when the guest's own init already prints a golden-identity line (the demo OS)."""
    for path in _INITS:
        if not h.is_file(path):
            continue
        try:
            head = h.pread(path, _SCRIPT_MAX)
        except OSError:
            continue
        if head.startswith(b"#!") and MARK in head:
            return True
    return False


def install(h, rec: Recorder, osi: OSInfo) -> list[str]:
    """Queue the beacon in an open, writable clone disk; returns notes for the clone report."""
    if prints_identity_itself(h):
        return []
    try:
        firstboot.mechanism(h, osi)
    except InputError as exc:
        return [f"no identity beacon: {exc.message}; `golden verify` needs the guest to print its own "
                "golden-identity line"]
    queued = firstboot.install(h, rec, osi, NAME, SCRIPT.encode())
    return [f"identity beacon {queued} prints this clone's identity once at first boot, for `golden verify`"]
