"""Network namespaces for tests: everything a PXE test sends stays inside one the test made.

A namespace starts with nothing but a loopback device; tests add bridges,
taps and veth pairs inside it (or between two of their own namespaces) and
never a link to the host's namespace, so no packet can leave.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc


def ip(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh("ip", "-n", ns, *args, check=check)


def ip_json(ns: str, *args: str) -> list:
    return json.loads(ip(ns, "-j", *args).stdout or "[]")


def pids(ns: str) -> list[int]:
    out = sh("ip", "netns", "pids", ns, check=False).stdout
    return [int(p) for p in out.split()]


@contextlib.contextmanager
def namespace(prefix: str = "golden-pxe-") -> Iterator[str]:
    """A fresh namespace with lo up; on exit, the processes the test started in it end and it goes."""
    name = prefix + secrets.token_hex(3)
    sh("ip", "netns", "add", name)
    try:
        ip(name, "link", "set", "lo", "up")
        yield name
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = pids(name)
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while pids(name) and time.monotonic() < deadline:
                time.sleep(0.1)
        sh("ip", "netns", "del", name, check=False)


def assert_sealed(ns: str) -> None:
    """No route out and no link into another namespace but the ones tests pair up themselves."""
    routes = ip_json(ns, "route", "show", "default")
    assert routes == [], f"{ns} has a default route: {routes}"


class Background:
    """A command run in a namespace with its output in a file; stop() sends SIGTERM and returns the status."""

    def __init__(self, ns: str, argv: list[str], log: Path):
        self.log_path = log
        self._log = open(log, "wb")
        # `ip netns exec` execs the command, so this pid is the command's own.
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"exited ({self.proc.returncode}) before {needle!r}:\n{self.text}")
            time.sleep(0.1)
        raise AssertionError(f"no {needle!r} within {timeout} s:\n{self.text}")

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"did not stop on SIGTERM:\n{self.text}")
        finally:
            self._log.close()
