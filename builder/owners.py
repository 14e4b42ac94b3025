"""Who made what: every host resource golden creates is recorded with its owner, and dead owners' things are reaped.

A golden run killed with SIGKILL runs no cleanup: its domains, mounts, loop
devices, qemu-storage-daemon and dnsmasq processes and files stay behind and
make the next run fail. So each resource gets a small JSON record in the
state folder *before* it is created (kind, identifier, owner pid and that
process's start time, boot id, host name, libvirt URI), and the record is
released right after the resource is gone. `reap()` undoes, in a safe order,
what every dead owner of this host left, and drops those records.

    rec = owners.register("file", path)          # before creating it
    ...                                          # create it; rec.update(device=...) for what creation reveals
    owners.release(rec)                          # once it is gone, or handed over to the user

An owner is dead when no process has its pid, or the process with that pid
started at another time (a reused pid), or the machine booted since.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

log = logging.getLogger("golden.owners")

KINDS = ("domain", "mount", "loop", "process", "file", "volume", "pool")
# Undo order: what runs on a thing goes before the thing (a domain before its disk,
# a mount before its loop device, the loop device before the exporter under it).
_RANK = {"domain": 0, "mount": 1, "loop": 2, "process": 3, "file": 4, "volume": 4, "pool": 5}
LOCK_WAIT = 30.0


def state_dir() -> Path:
    """Where the records live: GOLDEN_STATE_DIR/owners, else /var/lib/golden/owners (root) or the XDG state folder."""
    env = os.environ.get("GOLDEN_STATE_DIR")
    if env:
        return Path(env) / "owners"
    if os.geteuid() == 0:
        return Path("/var/lib/golden/owners")
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "golden" / "owners"


def proc_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the rest follows the last ')'.
    rest = stat[stat.rfind(")") + 2:].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def die_with_parent() -> None:
    """subprocess preexec_fn: the kernel SIGKILLs the child when golden dies, so a killed run's
    virt-install cannot go on to define and start a domain after the reaper has looked."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass
class Record:
    kind: str
    ident: str
    pid: int
    start: int | None
    boot: str
    host: str
    uri: str | None = None
    data: dict = field(default_factory=dict)
    created: float = 0.0
    file: Path | None = None

    def to_json(self) -> dict:
        return {"kind": self.kind, "ident": self.ident, "pid": self.pid, "start": self.start, "boot": self.boot,
                "host": self.host, "uri": self.uri, "data": self.data, "created": self.created}

    def update(self, **data) -> None:
        """Add what only creation revealed (a loop device's name, a process id)."""
        self.data.update(data)
        if self.file is not None:
            _write(self.file, self.to_json())

    def owner_alive(self) -> bool:
        if self.boot and self.boot != boot_id():
            return False
        start = proc_start(self.pid)
        return start is not None and (self.start is None or start == self.start)

    def describe(self) -> str:
        return f"{self.kind} {self.ident}"


@dataclass(frozen=True)
class Reaped:
    kind: str
    ident: str
    pid: int

    def message(self) -> str:
        return f"removed {self.kind} {self.ident} left by an interrupted golden run (pid {self.pid})"


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True) + "\n")
    os.replace(tmp, path)


def register(kind: str, ident: str | os.PathLike, *, uri: str | None = None, **data) -> Record:
    """Record that this process is about to create a resource; call before creating it."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    pid = os.getpid()
    rec = Record(kind, str(ident), pid, proc_start(pid), boot_id(), socket.gethostname(), uri, dict(data),
                 time.time())
    rec.file = folder / f"{kind}.{pid}.{uuid.uuid4().hex[:16]}.json"
    _write(rec.file, rec.to_json())
    return rec


def release(rec: Record | None) -> None:
    """The resource is gone (or is the user's now): forget it."""
    if rec is not None and rec.file is not None:
        with contextlib.suppress(FileNotFoundError):
            rec.file.unlink()
        rec.file = None


def _read(path: Path) -> Record | None:
    try:
        raw = json.loads(path.read_text())
        rec = Record(raw["kind"], raw["ident"], int(raw["pid"]), raw.get("start"), raw.get("boot", ""),
                     raw.get("host", ""), raw.get("uri"), raw.get("data") or {}, raw.get("created", 0.0))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("unreadable owner record %s: %s", path, exc)
        return None
    rec.file = path
    return rec


def records() -> list[Record]:
    folder = state_dir()
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    out = []
    for name in sorted(names):
        if name.startswith(".") or not name.endswith(".json"):
            continue
        rec = _read(folder / name)
        if rec is not None:
            out.append(rec)
    return out


def _drop_stale_temps(folder: Path) -> None:
    """Half-written records of writers that died mid-write (.NAME.PID.tmp)."""
    for name in os.listdir(folder):
        if name.startswith(".") and name.endswith(".tmp"):
            with contextlib.suppress(ValueError, IndexError):
                pid = int(name.rsplit(".", 2)[-2])
                if proc_start(pid) is None:
                    with contextlib.suppress(OSError):
                        (folder / name).unlink()


@contextlib.contextmanager
def _reap_lock(folder: Path):
    """One reaper at a time; a second one waits, so it does not start work over half-reaped leftovers."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another golden process has been reaping {folder} for {LOCK_WAIT:.0f} s")
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def _order(rec: Record) -> tuple:
    # Deepest paths first inside a kind: a mount inside a mount, a file inside a folder.
    return (_RANK[rec.kind], -rec.ident.count("/"), rec.ident)


def reap(on_event: Callable[[str], None] | None = None) -> list[Reaped]:
    """Undo what dead golden processes of this host left; returns what was removed.

    A resource that cannot be undone now (libvirtd unreachable, a mount still busy)
    keeps its record for the next run. Records of live owners are never touched.
    """
    folder = state_dir()
    try:
        if not any(n.endswith(".json") and not n.startswith(".") for n in os.listdir(folder)):
            return []
    except FileNotFoundError:
        return []
    from builder import undo
    host = socket.gethostname()
    done: list[Reaped] = []
    with _reap_lock(folder), contextlib.ExitStack() as stack:
        stack.callback(undo.close_connections)
        _drop_stale_temps(folder)
        dead = [r for r in records() if r.host == host and not r.owner_alive()]
        live_claims = [r for r in records() if r.host == host and r.owner_alive()]
        for rec in sorted(dead, key=_order):
            try:
                gone, acted = undo.undo(rec, live_claims)
            except Exception as exc:        # one stuck resource must not stop the others, nor the command
                log.warning("could not remove %s of dead golden pid %d: %s", rec.describe(), rec.pid, exc)
                continue
            if not gone:
                continue
            release(rec)
            if acted:
                item = Reaped(rec.kind, rec.ident, rec.pid)
                done.append(item)
                if on_event:
                    on_event(item.message())
    return done
