"""Secrets in profiles: references, never values.

A profile names where a secret comes from ({file: ...}, {env: ...}) or gives an
existing crypt hash ({hash: ...}). Plaintext never sits in a profile, and the
value is only read when an artifact is rendered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import Annotated, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from builder.errors import InputError

_CRYPT = re.compile(r"\$(1|5|6|y|2[aby])\$[./A-Za-z0-9$=,]+")


class _Ref(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSecret(_Ref):
    file: str


class EnvSecret(_Ref):
    env: str

    @field_validator("env")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class HashSecret(_Ref):
    hash: str

    @field_validator("hash")
    @classmethod
    def _crypt(cls, value: str) -> str:
        if not _CRYPT.fullmatch(value):
            raise ValueError("not a crypt(3) hash; expected something like $6$salt$... "
                             "(make one with `openssl passwd -6`)")
        return value


def _no_plaintext(value):
    if isinstance(value, (str, int, float)):
        raise ValueError("plaintext secrets are refused; give {file: PATH}, {env: VARIABLE} "
                         "or {hash: '$6$...'} so the value never sits in a profile")
    return value


Secret = Annotated[Union[FileSecret, EnvSecret, HashSecret], BeforeValidator(_no_plaintext)]


def describe(secret) -> dict:
    """What `golden show` prints: the reference, never the value."""
    if isinstance(secret, FileSecret):
        return {"file": secret.file}
    if isinstance(secret, EnvSecret):
        return {"env": secret.env}
    return {"hash": "<hidden>"}


def check_available(secret, base_dir: Path, where: str) -> None:
    """Fail at load time, not mid-build, when a secret cannot be read."""
    if isinstance(secret, FileSecret):
        path = (base_dir / secret.file) if not os.path.isabs(secret.file) else Path(secret.file)
        if not path.is_file():
            raise InputError(f"secret file {path} does not exist", where=where,
                             hint="create it (mode 0600) or point `file:` at the right path")
        if not os.access(path, os.R_OK):
            raise InputError(f"secret file {path} is not readable", where=where)
        if not path.read_text(errors="replace").strip():
            raise InputError(f"secret file {path} is empty", where=where)
    elif isinstance(secret, EnvSecret):
        if not os.environ.get(secret.env):
            raise InputError(f"environment variable {secret.env} is not set", where=where,
                             hint=f"export {secret.env}=... before running golden")


def reveal(secret, base_dir: Path) -> str:
    """The secret's value (or hash). Callers must never log or write it as is."""
    if isinstance(secret, FileSecret):
        path = (base_dir / secret.file) if not os.path.isabs(secret.file) else Path(secret.file)
        return path.read_text().rstrip("\r\n")
    if isinstance(secret, EnvSecret):
        return os.environ[secret.env]
    return secret.hash


def crypt_password(secret, base_dir: Path, *, scheme: str, salt_context: str) -> str:
    """A crypt(3) hash for /etc/shadow or `rootpw --iscrypted`.

    The salt is derived from the password and `salt_context` (profile and
    field), so the same profile renders the same bytes every time: builds stay
    reproducible and cacheable, while two profiles never share a salt.
    """
    if isinstance(secret, HashSecret):
        return secret.hash
    from passlib.hash import md5_crypt, sha512_crypt

    password = reveal(secret, base_dir)
    digest = hmac.new(password.encode(), f"golden:{salt_context}".encode(), hashlib.sha256).digest()
    salt = base64.b64encode(digest, altchars=b"./").decode()
    if scheme == "md5":
        return md5_crypt.using(salt=salt[:8]).hash(password)
    # rounds=5000 is glibc's (and Anaconda's) default, so the hash carries no
    # rounds= field and every glibc since SHA-crypt support reads it.
    return sha512_crypt.using(salt=salt[:16], rounds=5000).hash(password)
