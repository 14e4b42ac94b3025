"""The gpg edge: detached ASCII-armored signatures and their verification.

The passphrase goes to gpg over a pipe (--passphrase-fd with loopback
pinentry), never in argv, the environment of a child or a log; without one,
gpg-agent answers as usual. Verification reads gpg's machine status lines
(--status-fd), not its human messages, which change with locale and version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import HostError, InputError
from builder.fsutil import atomic_path


def _gpg() -> str:
    found = shutil.which("gpg")
    if not found:
        raise HostError("gpg is not installed", hint="apt-get install gnupg")
    return found


def _base(homedir: Path | None) -> list[str]:
    argv = [_gpg(), "--batch", "--no-tty"]
    if homedir is not None:
        argv += ["--homedir", str(homedir)]
    return argv


# libgpg-error codes in a FAILURE status line that mean "no usable passphrase":
# bad passphrase, no pinentry, cancelled, no passphrase given.
_PASSPHRASE_ERRORS = {11, 85, 99, 177}
_NO_SECRET_KEY = 17


def _failure_code(status: list[str]) -> int | None:
    for line in status:
        words = line.split()
        if len(words) >= 4 and words[1] == "FAILURE" and words[3].isdigit():
            return int(words[3]) & 0xFFFF
    return None


def sign_detached(target: Path, out: Path, key: str | None, homedir: Path | None = None,
                  passphrase: str | None = None) -> Path:
    """Write an armored detached signature of `target` to `out` (atomically)."""
    with atomic_path(out) as tmp:
        argv = _base(homedir) + ["--yes", "--status-fd", "2", "--armor", "--detach-sign", "--output", str(tmp)]
        if key:
            argv += ["--local-user", key]
        read_fd = None
        if passphrase is not None:
            read_fd, write_fd = os.pipe()
            argv += ["--pinentry-mode", "loopback", "--passphrase-fd", str(read_fd)]
        argv.append(str(target))
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    pass_fds=(read_fd,) if read_fd is not None else ())
            if read_fd is not None:
                os.close(read_fd)
                read_fd = None
                with os.fdopen(write_fd, "w") as pipe:
                    try:
                        pipe.write(passphrase + "\n")
                    except BrokenPipeError:
                        pass
            try:
                _, err = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise HostError("gpg did not finish signing in 120 s (waiting for a pinentry?)",
                                hint="give --passphrase-file or --passphrase-env, or unlock the key "
                                     "in gpg-agent first") from None
        finally:
            if read_fd is not None:
                os.close(read_fd)
        if proc.returncode != 0:
            status = [line for line in err.splitlines() if line.startswith("[GNUPG:]")]
            if any(" INV_SGNR" in s or " NO_SECKEY" in s for s in status) or "No secret key" in err \
                    or _failure_code(status) == _NO_SECRET_KEY:
                raise InputError(f"no secret key {key or '(default)'} to sign with", where="--key",
                                 hint="list keys with `gpg --list-secret-keys`"
                                      + (f" --homedir {homedir}" if homedir else ""))
            if any(" BAD_PASSPHRASE" in s or " MISSING_PASSPHRASE" in s for s in status) \
                    or _failure_code(status) in _PASSPHRASE_ERRORS:
                raise InputError("the key's passphrase was refused or missing", where="--passphrase-file",
                                 hint="give the passphrase in a file (--passphrase-file) or an "
                                      "environment variable (--passphrase-env), or unlock the key in gpg-agent")
            message = " ".join(line for line in err.splitlines() if not line.startswith("[GNUPG:]"))
            raise HostError(f"gpg could not sign {target.name}: {message.strip() or proc.returncode}")
    return out


@dataclass
class Verdict:
    """What gpg said about one detached signature."""

    ok: bool
    status: str                  # GOODSIG, BADSIG, NO_PUBKEY, EXPKEYSIG, REVKEYSIG, ERRSIG, NOSIG
    key: str | None = None       # the signing key's fingerprint (VALIDSIG) or id
    user: str | None = None
    lines: list[str] = field(default_factory=list)

    def describe(self) -> str:
        who = f" by {self.user}" if self.user else ""
        key = f" (key {self.key})" if self.key else ""
        return {"GOODSIG": f"good signature{who}{key}",
                "BADSIG": f"BAD signature{who}{key}: the signed file changed after signing",
                "NO_PUBKEY": f"signed by a key not in the keyring{key}",
                "EXPKEYSIG": f"signed by an expired key{who}{key}",
                "REVKEYSIG": f"signed by a revoked key{who}{key}",
                "ERRSIG": f"the signature cannot be checked{key}",
                }.get(self.status, "no valid OpenPGP signature")


_PROBLEMS = ("BADSIG", "EXPKEYSIG", "REVKEYSIG", "NO_PUBKEY", "ERRSIG")


def parse_status(lines: list[str]) -> Verdict:
    """A Verdict from gpg's [GNUPG:] status lines: good only with GOODSIG and VALIDSIG, no problem."""
    found: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("[GNUPG:] "):
            words = line.split()[1:]
            if words:
                found.setdefault(words[0], words[1:])
    for problem in _PROBLEMS:
        if problem in found:
            args = found[problem]
            user = " ".join(args[1:]) if problem in ("BADSIG", "EXPKEYSIG", "REVKEYSIG") else None
            return Verdict(False, problem, key=args[0] if args else None, user=user or None, lines=lines)
    if "GOODSIG" in found and "VALIDSIG" in found:
        good = found["GOODSIG"]
        return Verdict(True, "GOODSIG", key=found["VALIDSIG"][0], user=" ".join(good[1:]) or None, lines=lines)
    return Verdict(False, "NOSIG", lines=lines)


def verify_detached(signature: Path, signed: Path, homedir: Path | None = None) -> Verdict:
    argv = _base(homedir) + ["--status-fd", "1", "--verify", str(signature), str(signed)]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    return parse_status(proc.stdout.splitlines())
