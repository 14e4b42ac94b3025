"""Customize: a list of plain-data operations applied to one open guest.

Operations are frozen dataclasses. `parse_op` maps both the CLI form
(`hostname=web1`, `edit=/etc/x:s/a/b/g`, as virt-customize spells its
options) and the profile's `customize:` list (`{hostname: web1}`) onto them,
and `customize()` applies a list in order on one handle, which for guestfs
means one appliance launch for all of them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from builder.errors import InputError
from builder.image import accounts, firstboot, netconf, sedexpr, shellvars
from builder.image.changes import Recorder
from builder.image.osinfo import OSInfo, apply_hint, catalog_entry, detect

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_ZONE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")


@dataclass(frozen=True)
class Hostname:
    name: str

    def __post_init__(self):
        if not _HOSTNAME.match(self.name):
            raise InputError(f"hostname {self.name!r} is not a valid host name",
                             hint="letters, digits and hyphens, dot-separated labels of at most 63 characters")


@dataclass(frozen=True)
class RootPassword:
    """Exactly one of: a file whose first line is the password, an environment variable
    holding it, or a ready crypt(3) hash. The password is never logged or reported."""

    file: Path | None = None
    env: str | None = None
    hash: str | None = None

    def __post_init__(self):
        if sum(x is not None for x in (self.file, self.env, self.hash)) != 1:
            raise InputError("root-password takes exactly one of file, env or hash")
        if self.hash is not None and not re.fullmatch(r"\$(1|5|6|y|2[aby])\$[./A-Za-z0-9$=,]+", self.hash):
            raise InputError("root-password hash is not a crypt(3) hash", hint="make one with `openssl passwd -6`")


@dataclass(frozen=True)
class SshKey:
    """An authorized key for `user`: the key text itself, or a .pub file."""

    key: str | None = None
    key_file: Path | None = None
    user: str = "root"

    def __post_init__(self):
        if (self.key is None) == (self.key_file is None):
            raise InputError("ssh key: give either the key or a key file")


@dataclass(frozen=True)
class Upload:
    src: Path
    dst: str


@dataclass(frozen=True)
class Write:
    path: str
    content: str


@dataclass(frozen=True)
class Edit:
    path: str
    expr: str

    def __post_init__(self):
        sedexpr.parse(self.expr)


@dataclass(frozen=True)
class Firstboot:
    script: Path


@dataclass(frozen=True)
class Timezone:
    zone: str

    def __post_init__(self):
        if not _ZONE.match(self.zone) or ".." in self.zone:
            raise InputError(f"timezone {self.zone!r} is not a zoneinfo name", hint="e.g. Europe/Paris or UTC")


@dataclass(frozen=True)
class SelinuxRelabel:
    """Touch /.autorelabel. `enabled=False` turns off the automatic relabel customize
    schedules on SELinux guests when it creates files."""

    enabled: bool = True


Op = Hostname | RootPassword | SshKey | Upload | Write | Edit | Firstboot | Timezone | SelinuxRelabel

OP_NAMES = {"hostname": Hostname, "root-password": RootPassword, "ssh-key": SshKey, "upload": Upload,
            "write": Write, "edit": Edit, "firstboot": Firstboot, "timezone": Timezone,
            "selinux-relabel": SelinuxRelabel}
# virt-customize's spelling of the same operation.
_ALIASES = {"ssh-inject": "ssh-key"}


def _split_colon(value: str, what: str) -> tuple[str, str]:
    left, sep, right = value.partition(":")
    if not sep or not left:
        raise InputError(f"{what} wants SOURCE:DEST, got {value!r}")
    return left, right


def parse_op(name: str, value=None) -> Op:
    """One operation from its CLI/profile name and value."""
    name = name.replace("_", "-")
    name = _ALIASES.get(name, name)
    if name not in OP_NAMES:
        raise InputError(f"unknown customize operation {name!r}", hint="one of: " + ", ".join(OP_NAMES))
    if name == "selinux-relabel":
        if isinstance(value, str):
            value = value.lower() not in ("false", "no", "0", "off")
        return SelinuxRelabel(value is None or bool(value))
    if isinstance(value, dict):
        try:
            return OP_NAMES[name](**{k.replace("-", "_"): v for k, v in value.items()})
        except TypeError as e:
            raise InputError(f"customize operation {name!r}: {e}") from None
    if value is None or value == "":
        raise InputError(f"customize operation {name!r} needs a value")
    value = str(value)
    if name == "hostname":
        return Hostname(value)
    if name == "root-password":
        # virt-customize selectors: file:PATH (the default here) or env:VAR; a bare crypt hash is a hash.
        if value.startswith("env:"):
            return RootPassword(env=value[4:])
        if value.startswith("$"):
            return RootPassword(hash=value)
        return RootPassword(file=Path(value.removeprefix("file:")))
    if name == "ssh-key":
        # A key itself; or USER:file:PATH / USER:string:KEY (virt-customize); or a .pub path.
        if re.match(r"^(ssh-|ecdsa-|sk-)", value):
            return SshKey(key=value)
        user, sep, rest = value.partition(":")
        if not sep:
            return SshKey(key_file=Path(value))
        if rest.startswith("string:"):
            return SshKey(key=rest[7:], user=user)
        return SshKey(key_file=Path(rest.removeprefix("file:")), user=user)
    if name == "upload":
        src, dst = _split_colon(value, "upload")
        return Upload(Path(src), dst)
    if name == "write":
        path, content = _split_colon(value, "write")
        return Write(path, content)
    if name == "edit":
        path, expr = _split_colon(value, "edit")
        return Edit(path, expr)
    if name == "firstboot":
        return Firstboot(Path(value))
    return Timezone(value)


def parse_ops(items: Iterable) -> list[Op]:
    """Profile entries ({hostname: web1}), CLI strings ('hostname=web1') or (name, value) pairs."""
    ops = []
    for item in items:
        if isinstance(item, tuple(OP_NAMES.values())):
            ops.append(item)
        elif isinstance(item, dict):
            if len(item) != 1:
                raise InputError(f"a customize entry names one operation, got {sorted(item)}")
            (k, v), = item.items()
            ops.append(parse_op(k, v))
        elif isinstance(item, tuple):
            ops.append(parse_op(*item))
        elif isinstance(item, str):
            k, sep, v = item.partition("=")
            ops.append(parse_op(k, v if sep else None))
        else:
            raise InputError(f"cannot read customize entry {item!r}")
    return ops


def op_to_dict(op: Op) -> dict:
    """What the report says about an op: a password's source, never the password or its hash."""
    name = next(n for n, cls in OP_NAMES.items() if isinstance(op, cls))
    fields = {k: (v if isinstance(v, bool) else str(v)) for k, v in dataclasses.asdict(op).items()
              if v is not None}
    if "hash" in fields:
        fields["hash"] = "<hidden>"
    if name == "write" and len(fields["content"]) > 80:
        fields["content"] = fields["content"][:77] + "..."
    return {"op": name, **fields}


def _need_file(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what}: file not found", where=str(path)) from None
    except OSError as e:
        raise InputError(f"{what}: cannot read it: {e.strerror}", where=str(path)) from None


# ---- applying ------------------------------------------------------------------------------

def _hostname(h, rec: Recorder, osi: OSInfo, op: Hostname) -> None:
    old = None
    if h.is_file("/etc/hostname"):
        old = h.read_text("/etc/hostname").strip() or None
    net = "/etc/sysconfig/network"
    if h.is_file(net):
        text = h.read_text(net)
        old = old or shellvars.parse(text).get("HOSTNAME")
        # Guests without systemd take the name from here; systemd guests ignore it, so only
        # an existing line is kept in step.
        rec.edit(net, shellvars.set_var(text, "HOSTNAME", op.name, add=not osi.has_systemd),
                 f"HOSTNAME={op.name}")
    rec.write("/etc/hostname", op.name + "\n", detail=op.name)
    _ifcfg_hostnames(h, rec, op.name)
    if old and old != op.name and h.is_file("/etc/hosts"):
        names = {old: op.name}
        if "." in old and old.split(".", 1)[0] != op.name.split(".", 1)[0]:
            names[old.split(".", 1)[0]] = op.name.split(".", 1)[0]
        pattern = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in sorted(names, key=len,
                                                                                    reverse=True)) + r")(?![\w.-])")
        out = []
        for line in h.read_text("/etc/hosts").splitlines(keepends=True):
            body, hash_, comment = line.partition("#")
            new = pattern.sub(lambda m: names[m.group(1)], body)
            if new != body:
                # "1.2.3.4 old.example.com old" renamed to a short name must not list it twice.
                words, seen = [], set()
                for w in new.split():
                    if w not in seen:
                        seen.add(w)
                        words.append(w)
                new = " ".join(words) + ("\n" if body.endswith("\n") and not hash_ else "")
                new = new if not hash_ else new + " "
            out.append(new + hash_ + comment)
        rec.edit("/etc/hosts", "".join(out), f"{old} -> {op.name}")


def _ifcfg_hostnames(h, rec: Recorder, name: str) -> None:
    """Names an ifcfg file sends to DHCP follow the new hostname: a stale DHCP_HOSTNAME registers the template."""
    short = name.split(".", 1)[0]
    for path, *links in netconf.same_files(h, netconf.ifcfg_files(h)):
        text = h.read_text(path)
        values = shellvars.parse(text)
        new, changed = text, []
        for key in ("HOSTNAME", "DHCP_HOSTNAME"):
            current = values.get(key)
            if current is None:
                continue
            want = name if "." in current or key == "HOSTNAME" else short
            if current != want:
                new = shellvars.set_var(new, key, want)
                changed.append(f"{key} {current} -> {want}")
        if changed and rec.edit(path, new, ", ".join(changed)):
            for link in links:
                rec.note(link, "edited", f"hard link of {path}")


def _crypt(h, osi: OSInfo, password: str) -> tuple[str, str]:
    from passlib.hash import md5_crypt, sha512_crypt
    entry = catalog_entry(osi)
    if entry is not None and not entry.sha_crypt:
        return md5_crypt.hash(password), "md5-crypt"
    rounds = accounts.login_defs(h).get("SHA_CRYPT_MIN_ROUNDS", "")
    # What the guest's own passwd(1) would write: glibc's default of 5000 rounds unless login.defs says more.
    n = int(rounds) if rounds.isdigit() and int(rounds) >= 1000 else 5000
    return sha512_crypt.using(rounds=n).hash(password), "sha512-crypt"


def _root_password(h, rec: Recorder, osi: OSInfo, op: RootPassword) -> None:
    if op.hash is not None:
        hashed, scheme = op.hash, "given hash"
    else:
        if op.file is not None:
            raw = _need_file(op.file, "root-password").decode("utf-8", "replace")
            where = str(op.file)
        else:
            if op.env not in os.environ:
                raise InputError(f"root-password: environment variable {op.env} is not set")
            raw, where = os.environ[op.env], f"${op.env}"
        password = raw.split("\n", 1)[0].rstrip("\r")
        if not password:
            raise InputError("root-password: the password is empty", where=where)
        hashed, scheme = _crypt(h, osi, password)
    if not h.is_file("/etc/shadow"):
        raise InputError("root-password: the guest has no /etc/shadow", where=str(h.image))
    days = int(os.environ.get("SOURCE_DATE_EPOCH", time.time())) // 86400
    lines = h.read_text("/etc/shadow").splitlines(keepends=True)
    out, found = [], False
    for line in lines:
        f = line.rstrip("\n").split(":")
        if f[0] == "root" and len(f) >= 3:
            f[1], f[2] = hashed, str(days)
            line = ":".join(f) + "\n"
            found = True
        out.append(line)
    if not found:
        raise InputError("root-password: /etc/shadow has no root entry", where=str(h.image))
    rec.edit("/etc/shadow", "".join(out), f"root password set ({scheme})")


def _ssh_key(h, rec: Recorder, osi: OSInfo, op: SshKey) -> None:
    if op.key_file is not None:
        key = _need_file(op.key_file, "ssh-key").decode("utf-8", "replace").strip().splitlines()[0:1]
        key = key[0].strip() if key else ""
    else:
        key = op.key.strip()
    if "\n" in key or not re.match(r"^(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/=]+( \S.*)?$", key):
        raise InputError("ssh-key: not an OpenSSH public key", where=str(op.key_file or "ssh-key"))
    user = accounts.user(h, op.user)
    if user is None:
        raise InputError(f"ssh-key: the guest has no user {op.user!r}", where=str(h.image))
    sshdir = f"{user.home.rstrip('/')}/.ssh"
    auth = f"{sshdir}/authorized_keys"
    rec.mkdir_p(sshdir, 0o700)
    current = h.read_text(auth) if h.is_file(auth) else ""
    if key.split()[:2] not in [ln.split()[:2] for ln in current.splitlines()]:
        sep = "" if not current or current.endswith("\n") else "\n"
        rec.write(auth, current + sep + key + "\n", mode=0o600, detail=f"key for {op.user}")
    # sshd ignores keys that others can write to or that belong to someone else.
    for path, mode in ((sshdir, 0o700), (auth, 0o600)):
        if h.lexists(path):
            rec.chmod(path, mode)
            rec.chown(path, user.uid, user.gid)


def _upload(h, rec: Recorder, osi: OSInfo, op: Upload) -> None:
    data = _need_file(op.src, "upload")
    dst = op.dst
    if not dst.startswith("/"):
        raise InputError(f"upload: destination {dst!r} must be an absolute guest path")
    if dst.endswith("/") or h.is_dir(dst):
        dst = dst.rstrip("/") + "/" + Path(op.src).name
    if not h.is_dir(dst.rsplit("/", 1)[0] or "/"):
        raise InputError(f"upload: the guest has no directory {dst.rsplit('/', 1)[0]}", where=str(h.image))
    mode = Path(op.src).stat().st_mode & 0o777 if not h.is_file(dst) else None
    rec.write(dst, data, mode=mode, detail=f"from {op.src}")


def _write(h, rec: Recorder, osi: OSInfo, op: Write) -> None:
    if not op.path.startswith("/"):
        raise InputError(f"write: {op.path!r} must be an absolute guest path")
    parent = op.path.rsplit("/", 1)[0] or "/"
    if not h.is_dir(parent):
        raise InputError(f"write: the guest has no directory {parent}", where=str(h.image))
    rec.write(op.path, op.content, detail=f"{len(op.content.encode())} bytes")


def _edit(h, rec: Recorder, osi: OSInfo, op: Edit) -> None:
    if not h.is_file(op.path):
        raise InputError(f"edit: the guest has no file {op.path}", where=str(h.image),
                         hint="edit changes existing files; use write to create one")
    new, n = sedexpr.parse(op.expr).apply(h.read_text(op.path))
    if n:
        rec.edit(op.path, new, f"{op.expr} ({n} substitution{'s' if n != 1 else ''})")


def _firstboot(h, rec: Recorder, osi: OSInfo, op: Firstboot) -> None:
    firstboot.install(h, rec, osi, Path(op.script).name, _need_file(op.script, "firstboot"))


def _timezone(h, rec: Recorder, osi: OSInfo, op: Timezone) -> None:
    zonefile = f"/usr/share/zoneinfo/{op.zone}"
    if not h.is_file(zonefile):
        raise InputError(f"timezone: the guest has no {zonefile}", where=str(h.image),
                         hint="is tzdata installed in the guest? the name must match a zoneinfo file")
    if osi.has_systemd or h.is_symlink("/etc/localtime"):
        rec.symlink(f"../usr/share/zoneinfo/{op.zone}", "/etc/localtime")
    else:
        # RHEL 5/6 keep a copy (tzdata-update rewrites it from /etc/sysconfig/clock).
        if h.is_symlink("/etc/localtime"):
            rec.remove("/etc/localtime")
        rec.write("/etc/localtime", h.read(zonefile), detail=f"copy of {zonefile}")
    clock = "/etc/sysconfig/clock"
    if h.is_file(clock):
        text = h.read_text(clock)
        rec.edit(clock, shellvars.set_var(text, "ZONE", op.zone), f"ZONE={op.zone}")
    if h.is_file("/etc/timezone"):
        rec.write("/etc/timezone", op.zone + "\n", detail=op.zone)


def _relabel(h, rec: Recorder, osi: OSInfo, op: SelinuxRelabel) -> None:
    if op.enabled:
        rec.write("/.autorelabel", "", detail="SELinux relabels the guest at next boot")


_APPLY = {Hostname: _hostname, RootPassword: _root_password, SshKey: _ssh_key, Upload: _upload, Write: _write,
          Edit: _edit, Firstboot: _firstboot, Timezone: _timezone, SelinuxRelabel: _relabel}


def selinux_enforced(h) -> bool:
    if not h.is_file("/etc/selinux/config"):
        return False
    mode = shellvars.parse(h.read_text("/etc/selinux/config")).get("SELINUX", "disabled")
    return mode.lower() in ("enforcing", "permissive")


def customize(h, ops: Iterable, *, os_hint: str | None = None, dry_run: bool = False) -> dict:
    """Apply operations in order; report what each changed.

    Files this creates carry no SELinux label (rewritten files keep theirs),
    so on a guest with SELinux enabled a relabel at next boot is scheduled
    whenever a file was created, as virt-customize does.
    """
    ops = parse_ops(ops)
    osi = apply_hint(detect(h), os_hint)
    if not dry_run and ops:
        h._require_rw()
    report = {"dry_run": dry_run, "operations": []}
    created = False
    for op in ops:
        rec = Recorder(h, dry_run=dry_run)
        _APPLY[type(op)](h, rec, osi, op)
        created |= any(c.action in ("created", "linked", "mkdir") for c in rec.changes)
        report["operations"].append({**op_to_dict(op), "changes": rec.as_list(),
                                     "result": "nothing to do" if not rec.changes else
                                     ("would change" if dry_run else "changed")})
    if created and selinux_enforced(h) and not any(isinstance(o, SelinuxRelabel) for o in ops):
        rec = Recorder(h, dry_run=dry_run)
        _relabel(h, rec, osi, SelinuxRelabel())
        if rec.changes:
            report["operations"].append({"op": "selinux-relabel", "automatic": True, "changes": rec.as_list(),
                                         "result": "would change" if dry_run else "changed"})
    return report
