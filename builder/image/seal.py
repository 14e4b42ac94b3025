"""Seal: reset what makes an installed guest one particular machine.

A registry of identity-reset operations modelled on virt-sysprep's Linux
defaults (what each resets, and which are off by default because they can
break a guest), with two deliberate differences:

* machine-id is left in the state whose first boot makes a *new* id, chosen
  per OS (see identity.py), and nothing writes an id afterwards;
* NetworkManager keyfiles lose their MAC and UUID pins instead of being
  deleted, and logs that RHEL expects to exist are truncated, not removed.

Every operation reports the files it removed, truncated or edited, or
"nothing to do"; `dry_run` reports without changing anything.
"""

from __future__ import annotations

import difflib
import re
import uuid as uuidlib
from dataclasses import dataclass
from typing import Callable, Iterable

from builder.errors import InputError
from builder.image import accounts, bootloader, netconf, shellvars, sshkeys
from builder.image.changes import Recorder
from builder.image.identity import (DBUS_MACHINE_ID, MACHINE_ID, MachineIdPolicy, firstboot_prompt,
                                    machine_id_policy)
from builder.image.osinfo import OSInfo, apply_hint, detect


@dataclass
class Context:
    h: object
    os: OSInfo
    rec: Recorder
    notes: list[str]


@dataclass(frozen=True)
class Operation:
    name: str
    description: str
    default: bool
    run: Callable[[Context], None]


OPERATIONS: dict[str, Operation] = {}


def operation(name: str, description: str, default: bool = True):
    def register(fn):
        OPERATIONS[name] = Operation(name, description, default, fn)
        return fn
    return register


def list_operations() -> list[dict]:
    return [{"name": op.name, "description": op.description, "default": op.default}
            for op in OPERATIONS.values()]


def _remove_globs(ctx: Context, patterns: Iterable[str], *, files_only: bool = False) -> None:
    for pattern in patterns:
        for path in ctx.h.glob(pattern):
            if files_only and ctx.h.is_dir(path) and not ctx.h.is_symlink(path):
                continue
            ctx.rec.remove(path)


# ---- identity -------------------------------------------------------------------------

@operation("machine-id", "Leave /etc/machine-id in the state whose first boot generates a new id "
                         "(per OS), and remove a copied /var/lib/dbus/machine-id")
def _machine_id(ctx: Context) -> None:
    h, rec = ctx.h, ctx.rec
    policy = machine_id_policy(ctx.os)
    prompt = firstboot_prompt(h) if policy.action == "uninitialized" else None
    if prompt:
        # An empty file also gets a new id at boot, without first-boot semantics.
        policy = MachineIdPolicy("empty", f"{prompt} would stop the clone's first boot at a console prompt "
                                          "('uninitialized' makes it a first boot); an empty file gets a new id "
                                          "at boot without one")
    ctx.notes.append(f"policy {policy.action}: {policy.reason}")
    if policy.action == "uninitialized":
        rec.write(MACHINE_ID, "uninitialized\n", mode=None if h.lexists(MACHINE_ID) else 0o444,
                  detail="'uninitialized'")
    elif policy.action == "empty":
        if not h.lexists(MACHINE_ID):
            rec.write(MACHINE_ID, "", mode=0o444, detail="empty")
        elif h.read(MACHINE_ID) != b"":
            # Truncated in place: the file stays (a missing one fails on a read-only /etc).
            if not rec.dry_run:
                h.truncate(MACHINE_ID)
            rec.note(MACHINE_ID, "truncated", "empty")
    else:
        rec.remove(MACHINE_ID)
    if h.is_symlink(DBUS_MACHINE_ID):
        ctx.notes.append(f"{DBUS_MACHINE_ID} is a symlink to {h.readlink(DBUS_MACHINE_ID)}; kept")
    elif h.lexists(DBUS_MACHINE_ID):
        rec.remove(DBUS_MACHINE_ID, "regenerated at boot by dbus-uuidgen --ensure")


@operation("ssh-hostkeys", "Remove the SSH host keys, so each clone generates its own at first boot "
                           "(where the guest's sshd does not, e.g. Debian, a unit that runs ssh-keygen -A)")
def _ssh_hostkeys(ctx: Context) -> None:
    _remove_globs(ctx, ["/etc/ssh/ssh_host_*"], files_only=True)
    sshkeys.arrange_regeneration(ctx.h, ctx.rec, ctx.os, ctx.notes)


@operation("udev-persistent-net", "Remove 70-persistent-net.rules, so a clone's new MAC becomes eth0 again")
def _persistent_net(ctx: Context) -> None:
    ctx.rec.remove(netconf.PERSISTENT_NET)


def _edit_ifcfg(ctx: Context, keys: set[str]) -> None:
    for path, *links in netconf.same_files(ctx.h, netconf.ifcfg_files(ctx.h)):
        text = ctx.h.read_text(path)
        new, removed = shellvars.remove_vars(text, keys)
        if removed and ctx.rec.edit(path, new, "removed " + ", ".join(removed)):
            for link in links:
                ctx.rec.note(link, "edited", f"hard link of {path}")


@operation("net-hwaddr", "Remove HWADDR= and UUID= from ifcfg-* files")
def _net_hwaddr(ctx: Context) -> None:
    _edit_ifcfg(ctx, {"HWADDR", "UUID"})


@operation("net-hostname", "Remove HOSTNAME= and DHCP_HOSTNAME= from ifcfg-* files; reset HOSTNAME= "
                           "in /etc/sysconfig/network to localhost.localdomain")
def _net_hostname(ctx: Context) -> None:
    _edit_ifcfg(ctx, {"HOSTNAME", "DHCP_HOSTNAME"})
    path = "/etc/sysconfig/network"
    if ctx.h.is_file(path):
        text = ctx.h.read_text(path)
        current = shellvars.parse(text).get("HOSTNAME")
        if current is not None and current != "localhost.localdomain":
            ctx.rec.edit(path, shellvars.set_var(text, "HOSTNAME", "localhost.localdomain"),
                         f"HOSTNAME {current} -> localhost.localdomain")


_NM_PINS = {"connection": ("uuid",), "ethernet": ("mac-address", "cloned-mac-address"),
            "802-3-ethernet": ("mac-address", "cloned-mac-address"), "wifi": ("mac-address",),
            "802-11-wireless": ("mac-address",)}


def unpin_keyfile(text: str) -> tuple[str, list[str]]:
    """Drop the uuid and MAC pins of a NetworkManager keyfile, line by line.

    Without a uuid NetworkManager derives one from the file name; a
    cloned-mac-address is only a pin when it is a literal address (not
    "stable", "random", "preserve" or "permanent").
    """
    out, removed = [], []
    section = None
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        m = re.match(r"^\[(.+)\]$", stripped)
        if m:
            section = m.group(1)
        elif section in _NM_PINS and "=" in stripped and not stripped.startswith(("#", ";")):
            key, value = (s.strip() for s in stripped.split("=", 1))
            if key in _NM_PINS[section] and (key != "cloned-mac-address" or netconf.MAC.match(value)):
                removed.append(f"{section}.{key}")
                continue
        out.append(line)
    return "".join(out), removed


@operation("net-nmconn", "Remove MAC and UUID pins from NetworkManager keyfiles, and NetworkManager's "
                         "per-host secret_key")
def _net_nmconn(ctx: Context) -> None:
    for path in netconf.keyfiles(ctx.h):
        new, removed = unpin_keyfile(ctx.h.read_text(path))
        if removed:
            ctx.rec.edit(path, new, "removed " + ", ".join(removed))
    # It seeds stable-privacy IPv6 addresses and "stable" MACs: clones must not share it.
    ctx.rec.remove("/var/lib/NetworkManager/secret_key")


@operation("dhcp-client-state", "Remove DHCP client leases (dhclient, NetworkManager, dhcpcd)")
def _dhcp_client(ctx: Context) -> None:
    _remove_globs(ctx, ["/var/lib/dhclient/*", "/var/lib/dhcp/dhclient*", "/var/lib/dhcp3/dhclient*",
                        "/var/lib/NetworkManager/*.lease", "/var/lib/NetworkManager/*.leases",
                        "/var/lib/dhcpcd/*.lease", "/var/lib/dhcpcd/*.lease6", "/var/db/dhclient*"],
                  files_only=True)


# ---- leftovers of the install and of use --------------------------------------------------

_ROTATED = re.compile(r"(\.\d+|\.gz|\.bz2|\.xz|\.zst|\.old|-\d{8}|-\d{8}\.(gz|bz2|xz|zst))$")
_INSTALL_LOGS = ("/root/anaconda-ks.cfg", "/root/original-ks.cfg", "/root/initial-setup-ks.cfg",
                 "/root/anaconda-post.log", "/root/install.log", "/root/install.log.syslog",
                 "/root/upgrade.log", "/root/upgrade.log.syslog")
# Owned by the utmp operation.
_UTMP_FILES = ("/var/log/wtmp", "/var/log/btmp")


@operation("logfiles", "Empty the files under /var/log (removing rotated ones, the journal and installer "
                       "logs), keeping the directories and the files services expect")
def _logfiles(ctx: Context) -> None:
    h, rec = ctx.h, ctx.rec
    if h.is_dir("/var/log/journal"):
        # Named after the old machine-id; journald makes a new one.
        rec.remove_children("/var/log/journal")
    if h.is_dir("/var/log/anaconda"):
        rec.remove_children("/var/log/anaconda")
    for path in h.find("/var/log"):
        if path.startswith(("/var/log/journal/", "/var/log/anaconda/")) or path in _UTMP_FILES:
            continue
        st = h.lstat(path)
        if not st.is_file:
            continue
        if _ROTATED.search(path.rsplit("/", 1)[1]):
            rec.remove(path, "rotated log")
        else:
            rec.truncate(path)
    for path in _INSTALL_LOGS:
        rec.remove(path, "installer log (may hold the kickstart's password hash)")


_HISTORIES = (".bash_history", ".sh_history", ".ash_history", ".zsh_history", ".history", ".python_history",
              ".lesshst", ".viminfo")


@operation("bash-history", "Remove shell (and editor) histories of root and every user")
def _bash_history(ctx: Context) -> None:
    for home in accounts.home_dirs(ctx.h):
        for name in _HISTORIES:
            ctx.rec.remove(f"{home.rstrip('/')}/{name}")


@operation("tmp-files", "Empty /tmp and /var/tmp")
def _tmp_files(ctx: Context) -> None:
    ctx.rec.remove_children("/tmp")
    ctx.rec.remove_children("/var/tmp")


@operation("rhn-systemid", "Remove the RHN system id")
def _rhn(ctx: Context) -> None:
    for path in ("/etc/sysconfig/rhn/systemid", "/etc/sysconfig/rhn/osad-auth.conf"):
        ctx.rec.remove(path)


@operation("rh-subscription-manager", "Remove subscription-manager's consumer identity, entitlements, facts "
                                      "and the generated redhat.repo (product certificates stay)")
def _rhsm(ctx: Context) -> None:
    _remove_globs(ctx, ["/etc/pki/consumer/*", "/etc/pki/entitlement/*", "/var/lib/rhsm/facts/*",
                        "/var/lib/rhsm/cache/*", "/var/lib/rhsm/packages/*", "/etc/yum.repos.d/redhat.repo"])


@operation("yum-uuid", "Remove yum's /var/lib/yum/uuid and dnf's countme state")
def _yum_uuid(ctx: Context) -> None:
    ctx.rec.remove("/var/lib/yum/uuid")
    _remove_globs(ctx, ["/var/lib/dnf/repos/*/countme"])


@operation("random-seed", "Remove the saved random seed, so clones do not start from the same entropy")
def _random_seed(ctx: Context) -> None:
    for path in ("/var/lib/random-seed", "/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed"):
        ctx.rec.remove(path)


@operation("package-manager-cache", "Empty the yum, dnf and apt package caches")
def _pm_cache(ctx: Context) -> None:
    ctx.rec.remove_children("/var/cache/yum")
    ctx.rec.remove_children("/var/cache/dnf")
    _remove_globs(ctx, ["/var/cache/apt/archives/*.deb", "/var/cache/apt/*.bin"])


@operation("rpm-db", "Remove the RPM database's host-specific Berkeley DB environment (__db.*)")
def _rpm_db(ctx: Context) -> None:
    _remove_globs(ctx, ["/var/lib/rpm/__db.*"])


@operation("crash-data", "Remove kernel crash dumps (/var/crash)")
def _crash(ctx: Context) -> None:
    ctx.rec.remove_children("/var/crash")


@operation("mail-spool", "Empty local mailboxes (the files stay, with their owner and mode)")
def _mail(ctx: Context) -> None:
    seen = set()
    for d in ("/var/spool/mail", "/var/mail"):
        if not ctx.h.is_dir(d) or ctx.h.resolve(d) in seen:
            continue
        seen.add(ctx.h.resolve(d))
        for name in ctx.h.ls(d):
            path = f"{d}/{name}"
            if ctx.h.is_file(path) and not ctx.h.is_symlink(path):
                ctx.rec.truncate(path)
            elif not ctx.h.is_symlink(path):
                ctx.rec.remove(path)


@operation("utmp", "Remove utmp and empty wtmp and btmp (login records)")
def _utmp(ctx: Context) -> None:
    seen = set()
    for path in ("/var/run/utmp", "/run/utmp"):
        if ctx.h.lexists(path) and ctx.h.resolve(path) not in seen:
            seen.add(ctx.h.resolve(path))
            ctx.rec.remove(path)
    for path in _UTMP_FILES:
        ctx.rec.truncate(path)


@operation("passwd-backups", "Remove /etc/passwd-, /etc/shadow- and the other account file backups")
def _passwd_backups(ctx: Context) -> None:
    for name in ("passwd-", "shadow-", "group-", "gshadow-", "subuid-", "subgid-"):
        ctx.rec.remove(f"/etc/{name}")


@operation("lvm-system-devices", "Remove LVM's /etc/lvm/devices/system.devices (clones have new disk ids)")
def _lvm_devices(ctx: Context) -> None:
    ctx.rec.remove("/etc/lvm/devices/system.devices")


# Nothing a booting guest reads names a PV or VG by UUID, so new ones need no other edit:
# fstab and the kernel command line name LVs as /dev/VG/LV, /dev/mapper/VG-LV or by file
# system UUID (which stays); initramfs hooks (Debian's lvm2, dracut's rd.lvm.vg/rd.lvm.lv)
# activate VGs by name; lvm.conf filters match device paths. The one exception is the
# devices file, whose PVID= fields are PV UUIDs: it is rewritten when it is still there
# (lvm-system-devices, which runs first, removes it by default).
@operation("lvm-uuids", "Give every LVM physical volume and volume group of the guest a new UUID, so "
                        "clones do not share them (LV names and file systems stay)")
def _lvm_uuids(ctx: Context) -> None:
    h, rec = ctx.h, ctx.rec
    before = h.lvm()
    if not before.vgs:
        return
    refusal = h.lvm_uuid_refusal()
    if refusal and not rec.dry_run:
        ctx.notes.append(f"not done: {refusal}; `golden seal --backend guestfs --only lvm-uuids` does it")
        return
    if rec.dry_run:
        if refusal:
            ctx.notes.append(f"not done by this backend: {refusal}")
        for pv in before.pvs:
            rec.note(pv.device, "pv uuid", f"{pv.uuid} -> a new random UUID")
        for vg in before.vgs:
            rec.note(f"/dev/{vg.name}", "vg uuid", f"{vg.uuid} -> a new random UUID")
        return
    h.new_lvm_uuids()
    after = h.lvm()
    new_pv = {pv.device: pv.uuid for pv in after.pvs}
    new_vg = {vg.name: vg.uuid for vg in after.vgs}
    for pv in before.pvs:
        rec.note(pv.device, "pv uuid", f"{pv.uuid} -> {new_pv.get(pv.device, '?')}")
    for vg in before.vgs:
        rec.note(f"/dev/{vg.name}", "vg uuid", f"{vg.uuid} -> {new_vg.get(vg.name, '?')}")
    devices = "/etc/lvm/devices/system.devices"
    if h.is_file(devices):
        renamed = {pv.uuid.replace("-", ""): new_pv[pv.device].replace("-", "")
                   for pv in before.pvs if pv.device in new_pv}
        text = h.read_text(devices)
        new_text = re.sub(r"(?<=PVID=)(\w+)", lambda m: renamed.get(m.group(1), m.group(1)), text)
        if new_text != text:
            rec.edit(devices, new_text, "PVID= follows the new PV UUIDs")


@operation("blkid-tab", "Remove the blkid cache")
def _blkid(ctx: Context) -> None:
    for path in ("/etc/blkid/blkid.tab", "/etc/blkid/blkid.tab.old", "/etc/blkid.tab", "/etc/blkid.tab.old"):
        ctx.rec.remove(path)


@operation("smolt-uuid", "Remove the Smolt hardware UUID")
def _smolt(ctx: Context) -> None:
    for path in ("/etc/sysconfig/hw-uuid", "/etc/smolt/uuid", "/etc/smolt/hw-uuid"):
        ctx.rec.remove(path)


@operation("abrt-data", "Remove crash reports collected by ABRT")
def _abrt(ctx: Context) -> None:
    for d in ("/var/spool/abrt", "/var/tmp/abrt", "/var/spool/abrt-upload"):
        ctx.rec.remove_children(d)


# ---- off by default: they can lock users out or stop the guest from booting ----------------

@operation("ssh-userdir", "Remove the .ssh directories of root and every user (authorized keys too)",
           default=False)
def _ssh_userdir(ctx: Context) -> None:
    for home in accounts.home_dirs(ctx.h):
        ctx.rec.remove(f"{home.rstrip('/')}/.ssh")


@operation("user-account", "Remove regular user accounts (UID_MIN and up, except nfsnobody), their homes "
                           "and mailboxes", default=False)
def _user_account(ctx: Context) -> None:
    h, rec = ctx.h, ctx.rec
    first = accounts.uid_min(h, ctx.os)
    doomed = [u for u in accounts.users(h) if u.uid >= first and u.uid not in (65534, 4294967294)]
    if not doomed:
        return
    names = {u.name for u in doomed}
    for path in ("/etc/passwd", "/etc/shadow"):
        if h.is_file(path):
            lines = h.read_text(path).splitlines(keepends=True)
            keep = [ln for ln in lines if ln.split(":", 1)[0] not in names]
            rec.edit(path, "".join(keep), "removed " + ", ".join(sorted(names)))
    gids = {u.gid for u in doomed}
    dropped_groups: set[str] = set()
    for path in ("/etc/group", "/etc/gshadow"):
        if not h.is_file(path):
            continue
        shadow = path.endswith("gshadow")
        out = []
        for line in h.read_text(path).splitlines(keepends=True):
            f = line.rstrip("\n").split(":")
            if len(f) >= 4:
                # A user's private group goes with the user; other groups lose the member.
                if f[0] in names and (f[0] in dropped_groups if shadow else
                                      (f[2].isdigit() and int(f[2]) in gids)):
                    dropped_groups.add(f[0])
                    continue
                members = [3, 2] if shadow else [3]
                for i in members:
                    f[i] = ",".join(m for m in f[i].split(",") if m and m not in names)
                line = ":".join(f) + ("\n" if line.endswith("\n") else "")
            out.append(line)
        rec.edit(path, "".join(out), "removed " + ", ".join(sorted(names)))
    for u in doomed:
        if u.home.startswith("/home/"):
            rec.remove(u.home)
        rec.remove(f"/var/spool/mail/{u.name}")


@operation("firewall-rules", "Remove iptables rules and custom firewalld zones, services and policies "
                             "(off: the guest may start without a firewall)", default=False)
def _firewall(ctx: Context) -> None:
    for path in ("/etc/sysconfig/iptables", "/etc/sysconfig/ip6tables"):
        ctx.rec.remove(path)
    _remove_globs(ctx, ["/etc/firewalld/zones/*", "/etc/firewalld/services/*", "/etc/firewalld/policies/*"])


# Files that name file systems by UUID; a new UUID must be written into each.
_UUID_REFERENCES = ("/etc/fstab", "/etc/crypttab", "/etc/default/grub", "/etc/kernel/cmdline",
                    *bootloader.GRUB2, *bootloader.GRUB_LEGACY, *bootloader.GRUBENV, *bootloader.EXTLINUX)


@operation("fs-uuids", "Give ext2/3/4, XFS and swap file systems new UUIDs and update fstab and the boot "
                       "loader (off: an initramfs that names the old UUID will not boot)", default=False)
def _fs_uuids(ctx: Context) -> None:
    h, rec = ctx.h, ctx.rec
    renamed = {}
    for fs in h.filesystems():
        if fs.fstype not in ("ext2", "ext3", "ext4", "xfs", "swap") or not fs.uuid:
            continue
        new = str(uuidlib.uuid4())
        renamed[fs.uuid.lower()] = new
        if not rec.dry_run:
            h.set_fs_uuid(fs.device, new)
        rec.note(fs.device, "uuid", f"{fs.uuid} -> {new}")
    if not renamed:
        return
    pattern = re.compile("|".join(re.escape(u) for u in renamed), re.I)
    files = [p for p in _UUID_REFERENCES if h.is_file(p)] + h.glob(f"{bootloader.BLS_DIR}/*.conf")
    seen = set()
    for path in files:
        real = h.resolve(path)
        if real in seen:
            continue
        seen.add(real)
        text = h.read_text(path)
        new_text, n = pattern.subn(lambda m: renamed[m.group(0).lower()], text)
        if n:
            rec.edit(path, new_text, f"{n} UUID reference(s) updated")


# ---- compaction ---------------------------------------------------------------------------
# Off by default: they cost a pass over every free block and only pay off for a
# compressed or shipped image. Both work through the guestfs appliance only.

_ZEROABLE = ("ext2", "ext3", "ext4", "xfs", "btrfs", "vfat")


def _guestfs(ctx: Context):
    if getattr(ctx.h, "backend", None) != "guestfs":
        ctx.notes.append(f"not done on the {getattr(ctx.h, 'backend', '?')} backend (guestfs only)")
        return None
    return ctx.h._g


@operation("swap-reset", "Re-create swap empty (mkswap keeping its UUID and label, so fstab still "
                         "matches): stale swap pages compress badly", default=False)
def _swap_reset(ctx: Context) -> None:
    g = _guestfs(ctx)
    if g is None:
        return
    for fs in ctx.h.filesystems():
        if fs.fstype != "swap":
            continue
        if not ctx.rec.dry_run:
            opts = {k: v for k, v in (("uuid", fs.uuid), ("label", fs.label)) if v}
            g.mkswap(ctx.h._to_appliance(fs.device), **opts)
        ctx.rec.note(fs.device, "mkswap", f"uuid {fs.uuid or '-'}, label {fs.label or '-'} kept")


@operation("free-space", "Give the free space of every mounted file system back to the image: fstrim, "
                         "passed to the image file as holes; zerofree (ext*) or zero-filling where a trim is "
                         "refused", default=False)
def _free_space(ctx: Context) -> None:
    # fstrim first: it only walks the free-space metadata, where zerofree reads every free
    # block (half a minute per few GiB under TCG). The appliance's drives are added with
    # discard (guestfs_backend), so the trim reaches the image instead of being dropped.
    g = _guestfs(ctx)
    if g is None:
        return
    h = ctx.h
    # Once per file system: btrfs subvolumes of one device share its free space.
    targets, seen = [], set()
    for m, t in h._targets:
        if m.fstype in _ZEROABLE and m.device not in seen:
            seen.add(m.device)
            targets.append((m, t))
    if ctx.rec.dry_run:
        for m, _ in targets:
            ctx.rec.note(m.mountpoint, "free space", "fstrim (zerofree or zero-fill if refused)")
        return
    untrimmed = []
    for m, target in targets:
        try:
            g.fstrim(target)
            ctx.rec.note(m.mountpoint, "free space", "fstrim")
        except RuntimeError:
            untrimmed.append((m, target))
    for m, target in untrimmed:
        ctx.rec.note(m.mountpoint, "free space", "zerofree" if m.fstype.startswith("ext") else "zero-filled")
        if not m.fstype.startswith("ext"):
            g.zero_free_space(target)
    ext = [m for m, _ in untrimmed if m.fstype.startswith("ext")]
    if ext:
        h._s.activate(h)
        g.umount_all()              # zerofree needs the file system unmounted
        h._s.active = None
        try:
            for m in ext:
                g.zerofree(h._to_appliance(m.device))
        finally:
            h._s.activate(h)


# ---- running it ----------------------------------------------------------------------------

def select(only: Iterable[str] | None = None, skip: Iterable[str] | None = None) -> list[str]:
    """Names to run: `only` (even ones off by default) or the defaults, minus `skip`."""
    def check(names):
        for n in names:
            if n not in OPERATIONS:
                near = difflib.get_close_matches(n, OPERATIONS, n=1)
                raise InputError(f"unknown seal operation {n!r}",
                                 hint=(f"did you mean {near[0]!r}? " if near else "")
                                 + "`golden seal --list` shows them all")
    only = list(only) if only is not None else None
    skip = list(skip or [])
    check((only or []) + skip)
    chosen = only if only is not None else [n for n, op in OPERATIONS.items() if op.default]
    return [n for n in OPERATIONS if n in chosen and n not in skip]


def seal(h, only: Iterable[str] | None = None, skip: Iterable[str] | None = None, *,
         os_hint: str | None = None, dry_run: bool = False) -> dict:
    """Run the selected operations on an open guest; report what each changed."""
    names = select(only, skip)
    osi = apply_hint(detect(h), os_hint)
    if not dry_run:
        h._require_rw()
        # Asked for by name, it is refused before any operation runs (a seal that stops half-way leaves
        # a half-sealed image); as a default it is left out with a note, so a build on a udev host still seals.
        refusal = h.lvm_uuid_refusal() if "lvm-uuids" in (only or ()) else None
        if refusal:
            raise InputError(f"the {h.backend} backend cannot run lvm-uuids on this image: {refusal}",
                             where=str(h.image), hint="use `--backend guestfs`")
    report = {"os": {"distro": osi.distro, "version": osi.version, "init": osi.init,
                     "systemd_version": osi.systemd_version},
              "dry_run": dry_run, "operations": []}
    for name in names:
        rec = Recorder(h, dry_run=dry_run)
        ctx = Context(h, osi, rec, [])
        OPERATIONS[name].run(ctx)
        report["operations"].append({
            "name": name,
            "result": ("would change" if dry_run else "changed") if rec.changes else "nothing to do",
            "changes": rec.as_list(),
            "notes": ctx.notes,
        })
    return report
