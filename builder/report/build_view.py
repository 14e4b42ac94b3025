"""The build itself on the page: status, header facts, stage timeline, artifacts, tools, failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from builder.report import evidence
from builder.report.fmt import Fact, basename, exact_bytes, seconds, short_hash, size, text, when
from builder.report.records import BuildRecord

_ACCELERATORS = {"kvm": "KVM (hardware virtualization)", "qemu": "TCG (software emulation, no KVM)",
                 "xen": "Xen"}
_EXIT_CODES = {2: "bad input", 3: "host problem", 4: "install failed or hung", 130: "interrupted",
               143: "stopped (SIGTERM)"}
_STAGE_LABELS = {"ran": "ran", "cached": "cached", "failed": "FAILED", "skipped": "skipped",
                 "pending": "not run", "running": "running"}


@dataclass(frozen=True)
class Status:
    label: str
    css: str
    note: str = ""


def status(record: BuildRecord) -> Status:
    s = record.status
    if s == "published":
        return Status("PUBLISHED", "published", "the golden image and its manifest were published")
    if s == "failed":
        return Status("FAILED", "failed", "nothing was published; a previous golden image is left as it was")
    if s == "up-to-date":
        return Status("UP TO DATE", "uptodate", "nothing changed since the last build; nothing was rebuilt")
    if s == "running":
        return Status("RUNNING", "running", "build.json was last written while the build was running: it is "
                                            "still running, or it was killed (run `golden build` again)")
    if s.startswith("stopped after"):
        return Status(s.upper(), "stopped", "the build was asked to stop early (--until)")
    return Status(s.upper() or "UNKNOWN", "unknown")


def header(record: BuildRecord) -> list[Fact]:
    osd = record.os or {}
    resolved = record.profile.resolved or {}
    bases = [basename(c) for c in record.profile.chain[1:]]
    facts = [Fact("Profile", text(record.profile.path, "?"), mono=True,
                  note="extends " + " \u2192 ".join(bases) if bases else ""),
             Fact("Profile sha256", text(record.profile.sha256), mono=True)]
    os_name = text(osd.get("name")) or text(osd.get("key")) or "?"
    os_note = " ".join(x for x in (text(osd.get("key") or osd.get("id")),
                                   text(resolved.get("arch")),
                                   "/".join(text(resolved.get(k)) for k in ("hypervisor", "virt")
                                            if resolved.get(k))) if x)
    facts.append(Fact("OS", os_name, note=os_note))
    accel = record.accelerator or ""
    facts.append(Fact("Accelerator", _ACCELERATORS.get(accel, accel or "?"), note=accel if accel else ""))
    facts.append(Fact("Connection", text(record.connect, "?"), mono=True))
    facts.append(Fact("Started", when(record.created)))
    if record.published:
        facts.append(Fact("Published", when(record.published)))
    img = record.image
    if img is not None and img.path:
        facts.append(Fact("Golden image", img.path, mono=True,
                          note=", ".join(x for x in (text(img.format), size(img.bytes),
                                                     img.virtual_size and f"virtual {size(img.virtual_size)}") if x)))
        if img.sha256:
            facts.append(Fact("Image sha256", img.sha256, mono=True))
    if record.domain_xml:
        facts.append(Fact("Domain XML", record.domain_xml, mono=True))
    if record.build_key:
        facts.append(Fact("Build key", record.build_key, mono=True,
                          note="hash of every stage's inputs"))
    facts.append(Fact("golden", text(record.golden_version, "?")))
    return [f for f in facts if f.value]


@dataclass(frozen=True)
class StageRow:
    name: str
    status: str
    label: str
    seconds: str
    left: str           # CSS percentages of the whole build
    width: str
    detail: str
    key: str


@dataclass(frozen=True)
class Timeline:
    rows: list[StageRow] = field(default_factory=list)
    total: str = ""
    cached: int = 0


def timeline(record: BuildRecord) -> Timeline:
    durations = [max(0.0, s.seconds or 0.0) for s in record.stages]
    total = sum(durations)
    rows, start = [], 0.0
    for stage, d in zip(record.stages, durations):
        left = 100.0 * start / total if total else 0.0
        width = 100.0 * d / total if total else 0.0
        start += d
        shown = stage.status in ("ran", "failed", "running") or d > 0
        rows.append(StageRow(stage.name, stage.status, _STAGE_LABELS.get(stage.status, stage.status),
                             seconds(d) if shown else "", f"{left:.2f}%", f"{width:.2f}%",
                             text(stage.detail), short_hash(stage.key)))
    return Timeline(rows, seconds(total), sum(1 for s in record.stages if s.status == "cached"))


@dataclass(frozen=True)
class ArtifactRow:
    kind: str
    name: str
    path: str
    size: str
    exact: str
    sha256: str


def artifacts(record: BuildRecord) -> list[ArtifactRow]:
    return [ArtifactRow(a.kind, basename(a.path), a.path, size(a.bytes), exact_bytes(a.bytes), a.sha256 or "")
            for a in record.artifacts]


def tools(record: BuildRecord) -> list[Fact]:
    return [Fact(name, text(version, "not found")) for name, version in record.tools.items()]


@dataclass(frozen=True)
class Failure:
    stage: str
    exit_code: str
    message: str
    hint: str
    screenshot: evidence.Screenshot | None
    serial: list[str] | None
    serial_source: str


def failure(record: BuildRecord, build_dir: Path) -> Failure | None:
    if record.status != "failed" and record.failure is None:
        return None
    f = record.failure
    code = f.exit_code if f is not None else None
    code_text = f"{code} ({_EXIT_CODES[code]})" if code in _EXIT_CODES else text(code)
    serial = evidence.serial_tail(build_dir)
    source = f"last lines of {build_dir / evidence.SERIAL_LOG}"
    if serial is None and f is not None and f.serial_tail:
        serial, source = evidence.clean_lines(f.serial_tail[-evidence.TAIL_LINES:]), "serial tail saved in build.json"
    return Failure(text(f.stage if f else None, "?"), code_text,
                   text(f.message if f else None, "the build record has no failure details"),
                   text(f.hint if f else None), evidence.screenshot(build_dir), serial, source)
