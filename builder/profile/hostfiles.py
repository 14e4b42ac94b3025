"""Host files a profile points at (secret files, kickstart templates): checked, never quoted.

Profiles get shared and copied; one that points `root_password: {file: ...}`
or `kickstart.template` at a host file must not turn golden into a way of
reading that file. So errors name the path and what is wrong with it, never a
byte of what it holds, and paths in the host's system trees are refused:
/etc holds the host's credentials (shadow, gshadow, SSH host keys, TLS
private keys), and /proc, /sys, /dev and /boot hold kernel state, devices and
boot files, none of which is ever a secret or template written for golden.
The check runs on the resolved path, so a symlink into those trees is
refused as well.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from builder.errors import InputError
from builder.profile.bounds import limits

SYSTEM_TREES = ("/etc", "/proc", "/sys", "/dev", "/boot")


def resolve(value: str, base_dir: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base_dir / path


def read_text(path: Path, what: str, max_bytes: int, hint: str | None = None) -> str:
    """The file's text, or an InputError that names `path` and says nothing of its content."""
    try:
        real = Path(os.path.realpath(path))
        st = os.stat(real)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist",
                         hint=hint or "create it or point the field at the right path") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror}") from None
    tree = next((t for t in SYSTEM_TREES if real == Path(t) or Path(t) in real.parents), None)
    if tree:
        raise InputError(f"{what} {path} is in the host's system files ({tree}); "
                         "golden does not read host credentials or kernel files as profile input",
                         hint="copy what golden should use into a file of its own, e.g. next to the profile")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {path} is not a regular file")
    if st.st_size > max_bytes:
        raise InputError(f"{what} {path} is {st.st_size} bytes; at most {max_bytes} are accepted")
    try:
        with open(real, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if len(raw) > max_bytes:
        raise InputError(f"{what} {path} is larger than {max_bytes} bytes")
    if b"\0" in raw:
        raise InputError(f"{what} {path} is binary (it holds a NUL byte); a text file is expected")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} {path} is not UTF-8 text") from None


def check_template(value: str, base_dir: Path) -> None:
    """A kickstart template: a small UTF-8 file that parses as Jinja."""
    import jinja2

    path = resolve(value, base_dir)
    text = read_text(path, "kickstart template", limits()["host_file_bytes"],
                     hint="point kickstart.template at a file that extends kickstart.ks.j2")
    try:
        jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        # Jinja quotes the tokens it trips on; those are the file's content.
        reason = re.sub(r"'[^']*'", "'…'", exc.message or "syntax error")[:120]
        raise InputError(f"kickstart template {path} line {exc.lineno}: {reason}") from None
