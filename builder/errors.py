"""The one exception type golden raises for people, and its exit codes.

Exit codes are part of the CLI contract: 2 bad input, 3 a host problem
(libvirtd down, qemu missing, no permission), 4 an install that failed or hung.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INPUT = 2
EXIT_HOST = 3
EXIT_INSTALL = 4


class GoldenError(Exception):
    """An error meant for a person: what went wrong, where, and what to do."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, hint: str | None = None, *, where: str | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where
        self.details = details or {}

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InputError(GoldenError):
    """Bad input: a profile, a path or an argument the user can fix."""

    exit_code = EXIT_INPUT


class HostError(GoldenError):
    """The host cannot do what was asked: a daemon is down, a tool is missing."""

    exit_code = EXIT_HOST


class InstallError(GoldenError):
    """An install (or boot) that failed, hung or timed out."""

    exit_code = EXIT_INSTALL
