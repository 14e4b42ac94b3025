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

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Tag, field_validator

from builder.errors import InputError
from builder.profile import hostfiles
from builder.profile.bounds import excerpt, limits
from builder.profile.fields import HostPath

_CRYPT = re.compile(r"\$(1|5|6|y|2[aby])\$[./A-Za-z0-9$=,]+")


class _Ref(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=limits()["string_chars"])


class FileSecret(_Ref):
    file: HostPath


class EnvSecret(_Ref):
    env: str

    @field_validator("env")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{excerpt(value)} is not an environment variable name")
        return value


class HashSecret(_Ref):
    hash: str

    @field_validator("hash")
    @classmethod
    def _crypt(cls, value: str) -> str:
        # The longest crypt(3) hash (SHA-512 with rounds=) is about 120 characters.
        if len(value) > 256 or not _CRYPT.fullmatch(value):
            raise ValueError("not a crypt(3) hash; expected something like $6$salt$... "
                             "(make one with `openssl passwd -6`)")
        return value


def _no_plaintext(value):
    if isinstance(value, (str, int, float)):
        raise ValueError("plaintext secrets are refused; give {file: PATH}, {env: VARIABLE} "
                         "or {hash: '$6$...'} so the value never sits in a profile")
    return value


def _kind(value):
    # The key the user wrote picks the reference type, so a bad `file:` gets one
    # error about the file, not one per type it failed to be.
    if isinstance(value, _Ref):
        return type(value).__name__
    if isinstance(value, dict):
        found = [name for key, name in _KINDS.items() if key in value]
        return found[0] if len(found) == 1 else None
    return None


_KINDS = {"file": "FileSecret", "env": "EnvSecret", "hash": "HashSecret"}

Secret = Annotated[
    Union[Annotated[FileSecret, Tag("FileSecret")], Annotated[EnvSecret, Tag("EnvSecret")],
          Annotated[HashSecret, Tag("HashSecret")]],
    Discriminator(_kind, custom_error_type="secret_reference",
                  custom_error_message="give exactly one of {file: PATH}, {env: VARIABLE} or {hash: '$6$...'}"),
    BeforeValidator(_no_plaintext)]


def describe(secret) -> dict:
    """What `golden show` prints: the reference, never the value."""
    if isinstance(secret, FileSecret):
        return {"file": secret.file}
    if isinstance(secret, EnvSecret):
        return {"env": secret.env}
    return {"hash": "<hidden>"}


def _read_file_secret(secret: FileSecret, base_dir: Path) -> str:
    """The one line a secret file holds (a trailing newline is not part of it).

    The contract: a small UTF-8 text file of one line, outside the host's
    system trees (see hostfiles), so neither a binary nor /etc/shadow can
    become a guest's password; errors never quote the file.
    """
    path = hostfiles.resolve(secret.file, base_dir)
    text = hostfiles.read_text(path, "secret file", limits()["secret_file_bytes"],
                               hint="create it (mode 0600) or point `file:` at the right path")
    value = text.rstrip("\r\n")
    if not value.strip():
        raise InputError(f"secret file {path} is empty")
    if "\n" in value or "\r" in value:
        raise InputError(f"secret file {path} has more than one line; a secret file holds one value on one line")
    return value


def check_available(secret, base_dir: Path, where: str) -> None:
    """Fail at load time, not mid-build, when a secret cannot be read."""
    if isinstance(secret, FileSecret):
        try:
            _read_file_secret(secret, base_dir)
        except InputError as exc:
            raise InputError(exc.message, where=where or None, hint=exc.hint) from None
    elif isinstance(secret, EnvSecret):
        if not os.environ.get(secret.env):
            raise InputError(f"environment variable {secret.env} is not set", where=where,
                             hint=f"export {secret.env}=... before running golden")


def reveal(secret, base_dir: Path) -> str:
    """The secret's value (or hash). Callers must never log or write it as is."""
    if isinstance(secret, FileSecret):
        return _read_file_secret(secret, base_dir)
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
