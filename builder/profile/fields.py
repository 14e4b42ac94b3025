"""Value types for profile fields that end up inside generated files.

A kickstart is a line-oriented file read by a shell-like parser, and %post is
run by a shell: a value with a newline, a `%` section opener or a shell
metacharacter can change what the installer does. Such values are refused,
never escaped into something else.
"""

from __future__ import annotations

import functools
import math
import re
import zoneinfo
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from builder.profile.bounds import excerpt, limits, ranges

_SHELL_META = set(";&|`$<>\\\"'(){}*?![]#~")


def _no_control(value: str) -> str:
    if any(ch in value for ch in "\n\r\t\0"):
        raise ValueError("must be a single line (no newline, tab or NUL)")
    return value


def _word(kind: str, pattern: str, example: str):
    rx = re.compile(pattern)

    def check(value: str) -> str:
        _no_control(value)
        if value.lstrip().startswith("%"):
            raise ValueError(f"{kind} must not start with '%' (a kickstart section opener)")
        if not rx.fullmatch(value):
            bad = sorted({ch for ch in value if ch in _SHELL_META or ch.isspace()})
            detail = f" (contains {' '.join(repr(c) for c in bad)})" if bad else ""
            raise ValueError(f"{excerpt(value)} is not a valid {kind}{detail}; e.g. {example}")
        return value

    return check


def _hostname(value: str) -> str:
    _no_control(value)
    if len(value) > 253:
        raise ValueError("hostname longer than 253 characters")
    label = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
    parts = value.split(".")
    if not value or not all(label.fullmatch(p) for p in parts):
        raise ValueError(f"{excerpt(value)} is not a valid hostname (letters, digits, '-' and '.'; "
                         "each label 1-63 characters, not starting or ending with '-')")
    return value


def _kernel_args(value: str) -> str:
    _no_control(value)
    for token in value.split():
        if token.startswith("%"):
            raise ValueError(f"kernel argument {excerpt(token)} starts with '%'")
        bad = sorted({ch for ch in token if ch in _SHELL_META - {"~"}})
        if bad:
            raise ValueError(f"kernel argument {excerpt(token)} contains {' '.join(repr(c) for c in bad)}")
    return " ".join(value.split())


def _script(value: str) -> str:
    if "\0" in value:
        raise ValueError("script contains a NUL byte")
    for number, line in enumerate(value.splitlines(), 1):
        if line.lstrip().startswith("%"):
            raise ValueError(f"script line {number} starts with '%' ({line.strip()[:20]!r}), "
                             "which would open or close a kickstart section")
    return value


def _abs_path(value: str) -> str:
    _word("absolute path", r"/[A-Za-z0-9._+@=,:/-]*", "/etc/motd")(value)
    if "/../" in value + "/" or value.endswith("/.."):
        raise ValueError(f"path {excerpt(value)} must not contain '..'")
    return value


def _host_path(value: str) -> str:
    # A path golden stats or opens: NUL or an over-long name would surface as
    # a ValueError or ENAMETOOLONG from the OS instead of a profile error.
    _no_control(value)
    if len(value) > 4095 or any(len(part) > 255 for part in value.split("/")):
        raise ValueError("path longer than the system allows (4095 characters, 255 per name)")
    return value


def _strip(value):
    return value.strip() if isinstance(value, str) else value


Hostname = Annotated[str, BeforeValidator(_strip), AfterValidator(_hostname)]
UserName = Annotated[str, AfterValidator(_word("user name", r"[a-z_][a-z0-9_-]{0,31}", "ops"))]
GroupName = Annotated[str, AfterValidator(_word("group name", r"[a-z_][a-z0-9_-]{0,31}", "wheel"))]
PackageName = Annotated[str, AfterValidator(_word(
    "package or group name", r"-?(@\^?)?[A-Za-z0-9][A-Za-z0-9._+:-]*", "@base, openssh-server, -kdump"))]
ServiceName = Annotated[str, AfterValidator(_word("service name", r"[A-Za-z0-9][A-Za-z0-9._@:-]*", "sshd"))]
DeviceName = Annotated[str, AfterValidator(_word("device name", r"[A-Za-z0-9][A-Za-z0-9._:-]*", "eth0"))]
LangCode = Annotated[str, AfterValidator(_word("language code", r"[A-Za-z]{2,3}(_[A-Za-z]{2})?(\.[A-Za-z0-9-]+)?(@[A-Za-z]+)?", "en_US.UTF-8"))]
KeyboardLayout = Annotated[str, AfterValidator(_word("keyboard layout", r"[A-Za-z0-9][A-Za-z0-9_-]*", "us"))]
TimeZone = Annotated[str, AfterValidator(lambda v: _time_zone(v))]
KernelArgs = Annotated[str, AfterValidator(_kernel_args)]
Script = Annotated[str, Field(max_length=limits()["text_chars"]), AfterValidator(_script)]
AbsPath = Annotated[str, AfterValidator(_abs_path)]
HostPath = Annotated[str, AfterValidator(_host_path)]
FsType = Annotated[str, AfterValidator(_word("file system type", r"(ext2|ext3|ext4|xfs|btrfs|swap|vfat|efi|biosboot)", "ext4"))]
Ipv4 = Annotated[str, AfterValidator(_word("IPv4 address", r"((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)", "10.0.0.5"))]
Url = Annotated[str, AfterValidator(_word("URL", r"(https?|ftp|nfs)://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+", "http://mirror.example.com/rhel5/os/"))]
SshKey = Annotated[str, AfterValidator(_word(
    "SSH public key", r"(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [A-Za-z0-9._@+-]+)?",
    "ssh-ed25519 AAAAC3Nz... ops@example.com"))]


_TZ_SYNTAX = _word("time zone", r"[A-Za-z0-9_+-]{1,64}(/[A-Za-z0-9_+-]{1,64}){0,3}", "America/New_York")


@functools.lru_cache(maxsize=1)
def _tz_database() -> frozenset[str]:
    # The host's tz database (/usr/share/zoneinfo, or the tzdata package):
    # the guest's installer knows the same Olson names.
    try:
        return frozenset(zoneinfo.available_timezones())
    except OSError:
        return frozenset()


def _time_zone(value: str) -> str:
    _TZ_SYNTAX(value)
    known = _tz_database()
    # With no tz database on the host, the syntax check is all golden can do.
    if known and value not in known:
        close = [z for z in known if z.casefold() == value.casefold()]
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"{excerpt(value)} is not a valid time zone in the tz database{hint}; "
                         "e.g. America/New_York, Europe/Berlin or UTC")
    return value


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?", re.IGNORECASE)
_UNITS = {"": 1 << 20, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value) -> int:
    """'6G', '512M', '1.5GiB' or a bare number of MiB -> bytes."""
    if isinstance(value, bool):
        raise ValueError("size must be a number or a string like 6G")
    if isinstance(value, (int, float)):
        return _bounded_size(value * (1 << 20), value)
    m = _SIZE.fullmatch(str(value).strip()[:64])
    if not m:
        raise ValueError(f"{excerpt(value)} is not a size; use e.g. 6G, 512M or 2048 (MiB)")
    unit = (m.group(2) or "").upper()[:1]
    return _bounded_size(float(m.group(1)) * _UNITS[unit], value)


def _bounded_size(size: float, value) -> int:
    # Sizes past any disk (or inf, nan) are refused here, before int() or a
    # later shift turns them into an overflow.
    cap = ranges()["disk_bytes"]
    if not math.isfinite(size) or not -cap <= size <= cap:
        raise ValueError(f"{excerpt(value)} is past the largest size golden accepts "
                         f"({cap >> 40} TiB)")
    return int(size)


_DURATION = re.compile(r"(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?")


def parse_duration(value) -> int:
    """'90m', '1h30m', '45s' or a bare number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("duration must be a number of seconds or a string like 90m")
    cap = ranges()["timeout_seconds"]
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not -cap <= value <= cap:
            raise ValueError(f"{excerpt(value)} seconds is longer than a week")
        return int(value)
    text = str(value).strip()[:64]
    m = _DURATION.fullmatch(text)
    if not text or not m or not any(m.groups()) or any(len(g or "") > 8 for g in m.groups()):
        raise ValueError(f"{excerpt(value)} is not a duration; use e.g. 90m, 1h30m or 600s")
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total > cap:
        raise ValueError(f"{excerpt(value)} is longer than a week")
    return total


SizeBytes = Annotated[int, BeforeValidator(parse_size)]
Seconds = Annotated[int, BeforeValidator(parse_duration)]

MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def check_mac(value: str) -> str:
    value = value.strip().lower()
    if value == "auto":
        return value
    if not MAC_RE.fullmatch(value):
        raise ValueError(f"{excerpt(value)} is not a MAC address; use six hex pairs like 52:54:00:12:34:56, or auto")
    if int(value[:2], 16) & 1:
        raise ValueError(f"{value} is a multicast address; a NIC needs a unicast MAC (first octet even)")
    return value


Mac = Annotated[str, AfterValidator(check_mac)]
