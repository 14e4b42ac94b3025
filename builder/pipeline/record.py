"""What a build writes about itself: build.json (the manifest in progress) and the stage cache.

build.json is rewritten atomically at every stage change, so a report can be made
of a build that failed or was killed. stages.json remembers, per stage, the key
its outputs were made from and fingerprints of those outputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from builder.fsutil import atomic_write, sha256_file

STAGES = ("validate", "kickstart", "media", "install", "inspect", "customize", "seal", "publish")
_SMALL = 16 << 20


def utcnow() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(*parts) -> str:
    """A stage key: sha256 of canonical JSON of its inputs."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def fingerprint(path: Path) -> list | None:
    """sha256 for small files; size and mtime for disks (hashing them would cost seconds)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_size <= _SMALL:
        return ["sha256", sha256_file(path)]
    return ["stat", st.st_size, st.st_mtime_ns]


@dataclass
class Stage:
    name: str
    status: str = "pending"          # pending, ran, cached, failed, skipped
    seconds: float = 0.0
    started: str | None = None
    key: str | None = None
    detail: str = ""


@dataclass
class BuildRecord:
    path: Path
    data: dict
    stages: list[Stage] = field(default_factory=lambda: [Stage(n) for n in STAGES])
    on_change: object = None

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def save(self) -> None:
        self.data["stages"] = [asdict(s) for s in self.stages]
        atomic_write(self.path, json.dumps(self.data, indent=2, default=str) + "\n")

    @contextlib.contextmanager
    def running(self, name: str, key: str | None = None):
        stage = self.stage(name)
        stage.key, stage.started, stage.status = key, utcnow(), "running"
        self.save()
        if self.on_change:
            self.on_change(stage)
        start = stage.t0 = time.monotonic()
        try:
            yield stage
        except BaseException:
            stage.status = "failed"
            raise
        else:
            stage.status = "ran"
        finally:
            stage.seconds = round(time.monotonic() - start, 2)
            self.save()
            if self.on_change:
                self.on_change(stage)

    def mark(self, name: str, status: str, key: str | None = None, detail: str = "") -> None:
        stage = self.stage(name)
        stage.status, stage.key, stage.detail = status, key, detail or stage.detail
        self.save()
        if self.on_change:
            self.on_change(stage)


class StageCache:
    """stages.json: for each stage, the key and output fingerprints of its last good run."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries = json.loads(path.read_text()).get("stages", {})
        except (OSError, ValueError):
            self.entries = {}

    def fresh(self, name: str, key: str) -> bool:
        entry = self.entries.get(name)
        if not entry or entry.get("key") != key:
            return False
        return all(fingerprint(Path(p)) == fp for p, fp in entry.get("outputs", {}).items())

    def result(self, name: str):
        return (self.entries.get(name) or {}).get("result")

    def remember(self, name: str, key: str, outputs: list[Path], result=None) -> None:
        self.entries[name] = {"key": key, "outputs": {str(p): fingerprint(p) for p in outputs},
                              "result": result}
        self._save()

    def forget(self, names) -> None:
        for name in names:
            self.entries.pop(name, None)
        self._save()

    def _save(self) -> None:
        atomic_write(self.path, json.dumps({"stages": self.entries}, indent=2) + "\n")
