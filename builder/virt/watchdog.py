"""Watch an install: done when the guest powers off, hung when it goes quiet.

Signals, combined (Oz watches only the disk, virt-install only the power
state): the domain state, bytes written to its disks (libvirt block stats),
new serial console output, known failure lines on the console, and the
overall timeout. A guest that has written nothing and printed nothing for
`inactivity` seconds is hung.

"Written nothing" allows for a trickle: a stuck installer's kernel still
commits its journal and zeroes ext4 inode tables in the background (tens of
KiB every half minute), which would otherwise postpone the verdict for
minutes. An installer at work writes MiB per second.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

# Console lines that mean the installer gave up, whatever it does next.
FAILURE_PATTERNS = [
    (re.compile(r"golden-installer: FAILED: (.*)"), "installer failed: {0}"),
    (re.compile(r"An unknown error has occurred"), "Anaconda hit an unknown error"),
    (re.compile(r"(?:The following (?:error|problem) (?:was found|occurred).*kickstart.*)"),
     "Anaconda rejected the kickstart: {0}"),
    (re.compile(r"kickstart file is missing required information"), "the kickstart is missing required information"),
    (re.compile(r"Kernel panic - not syncing: (.*)"), "kernel panic: {0}"),
]

# Console lines that tell a person where the install is.
STAGE_PATTERNS = [
    (re.compile(r"golden-installer: stage=(\S+)"), "{0}"),
    (re.compile(r"golden-installer: ks-source=(\S+)"), "kickstart from {0}"),
    (re.compile(r"Linux version \d"), "kernel booting"),
    (re.compile(r"Starting installer|Starting automated install|anaconda .* started"), "installer starting"),
    (re.compile(r"Running pre-installation scripts"), "pre-install scripts"),
    (re.compile(r"Installing software|Installing (\S+) \(\d+/\d+\)"), "installing packages"),
    (re.compile(r"Installing boot ?loader"), "installing bootloader"),
    (re.compile(r"Running post-installation scripts|Performing post-installation setup"), "post-install scripts"),
    (re.compile(r"reboot: Power down|Power down\.|System halted"), "powering off"),
]


# Disk writes count as activity only when at least WRITE_FLOOR bytes were
# written within the last WRITE_WINDOW seconds (about 8 KiB/s).
WRITE_WINDOW = 30.0
WRITE_FLOOR = 256 << 10


class WriteActivity:
    """Is the guest writing for real? Fed the disks' cumulative written bytes."""

    def __init__(self, window: float = WRITE_WINDOW, floor: int = WRITE_FLOOR):
        self.window = window
        self.floor = floor
        self.total = 0
        self.recent: deque[tuple[float, int]] = deque()

    def update(self, now: float, written: int) -> bool:
        delta = max(0, written - self.total)
        self.total = max(self.total, written)
        self.recent.append((now, delta))
        while self.recent and self.recent[0][0] <= now - self.window:
            self.recent.popleft()
        return delta > 0 and sum(d for _, d in self.recent) >= self.floor


@dataclass
class Snapshot:
    elapsed: float
    stage: str
    disk_bytes_written: int
    serial_bytes: int
    idle_for: float
    last_line: str


@dataclass
class Outcome:
    status: str            # completed | failed | hung | timeout | interrupted
    reason: str
    elapsed: float
    stage: str
    last_lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "completed"


class SerialTail:
    """Reads a growing log file from where it left off."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = ""
        self.lines: list[str] = []

    def read(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        text = self.partial + data.decode("utf-8", "replace")
        parts = re.split(r"\r?\n|\r", text)
        self.partial = parts.pop()
        clean = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", p).strip() for p in parts]
        new = [p for p in clean if p]
        self.lines = (self.lines + new)[-200:]
        return new

    def tail(self, count: int = 20) -> list[str]:
        return self.lines[-count:] + ([self.partial.strip()] if self.partial.strip() else [])


class Watchdog:
    def __init__(self, dom, serial_log: Path, *, timeout: float, inactivity: float, disk_targets: list[str],
                 clock=time.monotonic, sync=None):
        self.dom = dom
        self.serial = SerialTail(serial_log)
        # For a remote host: brings serial_log up to date with the log there before each read.
        self.sync = sync or (lambda: None)
        self.timeout = timeout
        self.inactivity = inactivity
        self.disk_targets = disk_targets
        self.clock = clock
        self.started = clock()
        self.last_activity = self.started
        self.writes = WriteActivity()
        self.stage = "starting"
        self.failure: str | None = None

    def _disk_bytes(self) -> int:
        total = 0
        for target in self.disk_targets:
            try:
                total += self.dom.blockStats(target)[3]
            except Exception:        # the domain may be shutting down
                pass
        return total

    def _scan(self, lines: list[str]) -> None:
        for line in lines:
            for rx, label in STAGE_PATTERNS:
                m = rx.search(line)
                if m:
                    self.stage = label.format(*(m.groups() or (m.group(0),)))
            if self.failure is None:
                for rx, label in FAILURE_PATTERNS:
                    m = rx.search(line)
                    if m:
                        self.failure = label.format(*(m.groups() or (m.group(0),)))

    def _shut_off(self) -> bool:
        import libvirt
        try:
            state, _ = self.dom.state(0)
        except libvirt.libvirtError:
            return True          # a transient domain vanishes when it powers off
        return state in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_CRASHED)

    def poll(self) -> Snapshot | Outcome:
        now = self.clock()
        self.sync()
        new_lines = self.serial.read()
        self._scan(new_lines)
        writing = self.writes.update(now, self._disk_bytes())
        if new_lines or writing:
            self.last_activity = now
        elapsed = now - self.started
        if self._shut_off():
            self.sync()
            self._scan(self.serial.read())
            if self.failure:
                return Outcome("failed", self.failure, elapsed, self.stage, self.serial.tail())
            return Outcome("completed", "the guest powered off", elapsed, self.stage, self.serial.tail())
        if self.failure:
            return Outcome("failed", self.failure, elapsed, self.stage, self.serial.tail())
        idle = now - self.last_activity
        if idle >= self.inactivity:
            return Outcome("hung", f"no console output and no disk writes (beyond a trickle) for {idle:.0f} s "
                           f"(inactivity limit {self.inactivity:.0f} s)", elapsed, self.stage, self.serial.tail())
        if elapsed >= self.timeout:
            return Outcome("timeout", f"still running after {elapsed:.0f} s (timeout {self.timeout:.0f} s)",
                           elapsed, self.stage, self.serial.tail())
        last = self.serial.tail(1)
        return Snapshot(elapsed, self.stage, self.writes.total, self.serial.offset, idle, last[-1] if last else "")

    def run(self, on_progress=None, interval: float = 1.0) -> Outcome:
        while True:
            result = self.poll()
            if isinstance(result, Outcome):
                return result
            if on_progress:
                on_progress(result)
            time.sleep(interval)
