"""Known failure signatures matched in log files: xend, hotplug, qemu, libvirt, console logs.

The signatures are data (builder/data/diagnose-signatures.yaml); this module loads them, tells
what kind of log a file is, reads it line by line (the last `max_bytes` of a huge file, text
only) and reports each signature that matched with its lines, cause and fix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from builder.errors import InputError

SIGNATURES_FILE = Path(__file__).parent / "data" / "diagnose-signatures.yaml"
SEVERITIES = ("error", "warning", "advice", "harmless")
COUNTED = ("error", "warning")            # severities that make `golden diagnose` exit 1
SOURCE_KINDS = ("xend", "hotplug", "qemu", "libvirt", "console", "command")
ORIGINS = ("guide", "observed", "golden")

DEFAULT_MAX_BYTES = 32 << 20
MAX_LINE = 64 << 10                       # longer lines are read in pieces
MAX_HITS = 20                             # matched lines kept per finding; the rest are counted
MAX_FILES = 500                           # files read from one folder
MAX_DEPTH = 4
COUNT_PREFIX_LIMIT = 1 << 30              # beyond this, line numbers count from where reading began

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>78cDEHM]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Signature:
    id: str
    title: str
    origin: str
    severity: str
    sources: tuple[str, ...]
    cause: str
    fix: str
    any: tuple[re.Pattern, ...] = ()
    all: tuple[re.Pattern, ...] = ()
    within: int = 0
    supersedes: tuple[str, ...] = ()
    guide: dict | None = None

    @property
    def patterns(self) -> tuple[re.Pattern, ...]:
        return self.any + self.all


@dataclass
class Hit:
    line: int
    text: str


@dataclass
class Finding:
    signature: Signature
    path: Path
    source: str
    hits: list[Hit] = field(default_factory=list)
    more: int = 0                          # matched lines beyond MAX_HITS

    def to_json(self) -> dict:
        s = self.signature
        return {"id": s.id, "title": s.title, "severity": s.severity, "origin": s.origin,
                "file": str(self.path), "source": self.source,
                "lines": [{"line": h.line, "text": h.text} for h in self.hits], "more_lines": self.more,
                "cause": s.cause, "fix": s.fix, "guide": s.guide}


@dataclass
class FileRead:
    path: Path
    source: str
    size: int
    bytes_read: int
    lines: int
    from_byte: int = 0
    first_line: int | None = 1             # line number of the first line read; None if not counted

    def to_json(self) -> dict:
        return {"file": str(self.path), "source": self.source, "size": self.size,
                "bytes_read": self.bytes_read, "lines": self.lines, "from_byte": self.from_byte,
                "first_line": self.first_line}


@dataclass
class Report:
    target: str
    kind: str                               # file | folder | domain
    read: list[FileRead] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def counted(self) -> list[Finding]:
        return [f for f in self.findings if f.signature.severity in COUNTED]

    def to_json(self) -> dict:
        return {"target": self.target, "kind": self.kind,
                "status": "problems-found" if self.counted else "no-known-problem",
                "findings": [f.to_json() for f in self.findings],
                "read": [r.to_json() for r in self.read], "skipped": self.skipped}


# ---- the signatures file ------------------------------------------------------------------------

def load_signatures(path: Path = SIGNATURES_FILE) -> list[Signature]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the signatures: {exc}", where=str(path)) from exc
    entries = (data or {}).get("signatures")
    if not isinstance(entries, list) or not entries:
        raise InputError("no `signatures:` list", where=str(path))
    seen: set[str] = set()
    out = [_signature(entry, i, path, seen) for i, entry in enumerate(entries)]
    known = {s.id for s in out}
    for i, s in enumerate(out):
        unknown = [x for x in s.supersedes if x not in known]
        if unknown:
            raise InputError(f"supersedes unknown ids {unknown}", where=f"{path}: signatures[{i}].supersedes")
    return out


def not_in_logs(path: Path = SIGNATURES_FILE) -> list[dict]:
    """The guide's cases that print nothing a log holds, as the data file lists them."""
    return list((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("not_in_logs") or [])


def _signature(entry, i: int, path: Path, seen: set[str]) -> Signature:
    where = f"{path}: signatures[{i}]"
    if not isinstance(entry, dict):
        raise InputError("each signature is a mapping", where=where)
    for key in ("id", "title", "origin", "severity", "sources", "cause", "fix", "match"):
        if not entry.get(key):
            raise InputError(f"`{key}` is missing", where=f"{where}.{key}")
    sid = str(entry["id"])
    if sid in seen:
        raise InputError(f"duplicate id {sid}", where=f"{where}.id")
    seen.add(sid)
    if entry["origin"] not in ORIGINS:
        raise InputError(f"origin must be one of {', '.join(ORIGINS)}", where=f"{where}.origin")
    if entry["severity"] not in SEVERITIES:
        raise InputError(f"severity must be one of {', '.join(SEVERITIES)}", where=f"{where}.severity")
    sources = tuple(entry["sources"])
    bad = [s for s in sources if s not in SOURCE_KINDS]
    if bad:
        raise InputError(f"unknown source kinds {bad}; known: {', '.join(SOURCE_KINDS)}", where=f"{where}.sources")
    match = entry["match"]
    any_, all_ = match.get("any") or [], match.get("all") or []
    if bool(any_) == bool(all_):
        raise InputError("match needs exactly one of `any:` or `all:`", where=f"{where}.match")
    if all_ and (len(all_) < 2 or not isinstance(match.get("within"), int) or match["within"] < 1):
        raise InputError("`all:` needs two or more regexes and `within:` lines (a positive number)",
                         where=f"{where}.match")

    def compiled(patterns, key):
        out = []
        for j, p in enumerate(patterns):
            try:
                out.append(re.compile(p, re.IGNORECASE))
            except re.error as exc:
                raise InputError(f"bad regex: {exc}", where=f"{where}.match.{key}[{j}]") from exc
        return tuple(out)

    return Signature(id=sid, title=entry["title"], origin=entry["origin"], severity=entry["severity"],
                     sources=sources, cause=entry["cause"].strip(), fix=entry["fix"].strip(),
                     any=compiled(any_, "any"), all=compiled(all_, "all"), within=int(match.get("within") or 0),
                     supersedes=tuple(entry.get("supersedes") or ()), guide=entry.get("guide"))


# ---- what a file is -----------------------------------------------------------------------------

def source_kind(path: Path, head: bytes = b"") -> str:
    """The kind of log a file is, from its name, folder and first bytes; "other" when unknown."""
    name = path.name.lower()
    parts = [p.lower() for p in path.parts[:-1]]
    if name.startswith(("xend.log", "xend-debug.log")):
        return "xend"
    if name.startswith("xen-hotplug"):
        return "hotplug"
    if name.startswith("qemu-dm") or head.startswith(b"20") and b"starting up libvirt version" in head[:200]:
        return "qemu"
    if "qemu" in parts[-1:] and "libvirt" in parts:
        return "qemu"
    if name.startswith(("libvirtd", "virtqemud", "virt-install", "virt-manager", "virsh")):
        return "libvirt"
    if (name.startswith(("serial", "console", "messages", "ttywatch")) or "console" in parts[-1:]
            or "ttywatch" in parts[-1:]):
        return "console"
    return "other"


def looks_binary(head: bytes) -> bool:
    """Disk images, ISOs, core dumps: not worth reading as lines. Serial logs carry a few stray bytes."""
    if not head:
        return False
    if head.startswith((b"QFI\xfb", b"\x7fELF", b"\x1f\x8b", b"\xfd7zXZ", b"BZh", b"\x28\xb5\x2f\xfd")):
        return True
    odd = sum(1 for b in head if b < 9 or 13 < b < 32 and b != 27)
    return odd > len(head) // 10


def is_log_name(path: Path) -> bool:
    name = path.name.lower()
    if re.search(r"\.log(\.\d+)?$", name) or name in ("messages", "dmesg") or re.match(r"messages(\.\d+)?$", name):
        return True
    return path.parent.name.lower() in ("console", "ttywatch") and "." not in name.strip(".")


def _clean(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").rstrip("\r\n")
    if "\r" in text:                       # a console redraw: what shows is what came last
        text = text.rsplit("\r", 1)[-1] or text.replace("\r", "")
    return _CONTROL.sub("", _ESCAPES.sub("", text)).rstrip()


# ---- matching -----------------------------------------------------------------------------------

class _Matcher:
    """One file's pass: every applicable signature, with a combined regex to skip most lines fast."""

    def __init__(self, signatures: list[Signature], kind: str, path: Path):
        self.sigs = [s for s in signatures if kind == "other" or kind in s.sources]
        self.kind, self.path = kind, path
        # A regex runs only on lines holding its literal keyword: substring tests are far cheaper
        # than case-insensitive regexes, and almost every line of a log matches nothing.
        self.keywords = [(keyword(p.pattern), s) for s in self.sigs for p in s.patterns]
        self.always = any(k is None for k, _ in self.keywords)
        self.found: dict[str, Finding] = {}
        self.last: dict[str, dict[int, Hit]] = {s.id: {} for s in self.sigs if s.all}

    def feed(self, number: int, text: str) -> None:
        lowered = text.lower()
        if not self.always and not any(k in lowered for k, _ in self.keywords):
            return
        shown = text if len(text) <= 400 else text[:400] + "..."
        for s in self.sigs:
            if s.any:
                if any(p.search(text) for p in s.any):
                    f = self.found.setdefault(s.id, Finding(s, self.path, self.kind))
                    if len(f.hits) < MAX_HITS:
                        f.hits.append(Hit(number, shown))
                    else:
                        f.more += 1
            elif s.id not in self.found:
                last = self.last[s.id]
                for j, p in enumerate(s.all):
                    if p.search(text):
                        last[j] = Hit(number, shown)
                if len(last) == len(s.all) and number - min(h.line for h in last.values()) <= s.within:
                    hits = sorted({h.line: h for h in last.values()}.values(), key=lambda h: h.line)
                    self.found[s.id] = Finding(s, self.path, self.kind, hits)

    def findings(self) -> list[Finding]:
        return sorted(self.found.values(), key=lambda f: f.hits[0].line)


def keyword(pattern: str) -> str | None:
    """The longest literal run (lower case) any match of the regex must contain, or None."""
    best, run, depth, i = "", "", 0, 0
    quantifiers = "?*{"

    def flush():
        nonlocal best, run
        if len(run.strip()) > len(best.strip()):
            best = run
        run = ""

    while i < len(pattern):
        c = pattern[i]
        nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
        if c == "\\" and nxt:
            literal = not nxt.isalnum()
            i += 2
            after = pattern[i] if i < len(pattern) else ""
            if depth == 0 and literal and after not in quantifiers:
                run += nxt
                if after == "+":
                    flush()
            else:
                flush()
            continue
        if c == "|" and depth == 0:
            return None
        if c in "([":
            flush()
            if c == "[":
                i = pattern.index("]", i + 2) if "]" in pattern[i + 2:] else len(pattern)
            else:
                depth += 1
        elif c == ")":
            depth -= 1
        elif c in ".^$+*?{}" or depth:
            flush()
        elif nxt and nxt in quantifiers:
            flush()
        else:
            run += c
            if nxt == "+":
                flush()
        i += 1
    flush()
    best = best.lower()
    return best if len(best.strip()) >= 4 else None


def scan_file(path: Path, signatures: list[Signature], *, max_bytes: int = DEFAULT_MAX_BYTES,
              kind: str | None = None) -> tuple[FileRead, list[Finding]]:
    """Read one text log (its last max_bytes when larger) and match every applicable signature."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8192)
        kind = kind or source_kind(path, head)
        start, first_line = 0, 1
        if size > max_bytes:
            start = size - max_bytes
            f.seek(start - 1)
            if f.read(1) != b"\n":        # begin at the next whole line
                f.readline(MAX_LINE)
            start = f.tell()
            first_line = _line_number_at(f, start)
        f.seek(start)
        matcher = _Matcher(signatures, kind, path)
        number, count, partial = (first_line or 1), 0, False
        for raw in iter(lambda: f.readline(MAX_LINE), b""):
            if not partial:
                count += 1
            matcher.feed(number, _clean(raw))
            partial = not raw.endswith(b"\n")
            if not partial:
                number += 1
        read = FileRead(path, kind, size, size - start, count, start, first_line)
    return read, matcher.findings()


def _line_number_at(f, offset: int) -> int | None:
    """The line number that starts at `offset`, or None when counting would read too much."""
    if offset > COUNT_PREFIX_LIMIT:
        return None
    f.seek(0)
    newlines, left = 0, offset
    while left > 0:
        chunk = f.read(min(1 << 20, left))
        if not chunk:
            break
        newlines += chunk.count(b"\n")
        left -= len(chunk)
    return newlines + 1


def drop_superseded(findings: list[Finding]) -> list[Finding]:
    explained = {x for f in findings for x in f.signature.supersedes}
    return [f for f in findings if f.signature.id not in explained]


# ---- files and folders --------------------------------------------------------------------------

def log_files(folder: Path) -> tuple[list[Path], list[dict]]:
    """The log files under a folder (a build folder, /var/log/xen, a copy of /var/log), sorted."""
    found: list[Path] = []
    skipped: list[dict] = []
    base_depth = len(folder.parts)
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if len(Path(root, d).parts) - base_depth <= MAX_DEPTH)
        for name in sorted(files):
            p = Path(root, name)
            if p.suffix.lower() in (".gz", ".xz", ".bz2", ".zst") and is_log_name(p.with_suffix("")):
                skipped.append({"file": str(p), "reason": "compressed; unpack it to include it"})
            elif is_log_name(p) and not p.is_symlink():
                found.append(p)
    if len(found) > MAX_FILES:
        skipped.append({"file": str(folder), "reason": f"only the first {MAX_FILES} of {len(found)} log files read"})
        found = found[:MAX_FILES]
    return found, skipped


def diagnose_files(target: str, kind: str, files: list[Path], *, skipped: list[dict] | None = None,
                   max_bytes: int = DEFAULT_MAX_BYTES, signatures: list[Signature] | None = None,
                   strict: bool = False) -> Report:
    """Scan files into one report. strict: a binary or unreadable file is an error, not a skip."""
    signatures = signatures if signatures is not None else load_signatures()
    report = Report(target=target, kind=kind, skipped=list(skipped or []))
    findings: list[Finding] = []
    for path in files:
        try:
            with open(path, "rb") as f:
                head = f.read(8192)
        except FileNotFoundError:
            report.skipped.append({"file": str(path), "reason": "does not exist"})
            continue
        except OSError as exc:
            if strict:
                raise InputError(f"cannot read it: {exc.strerror}", where=str(path)) from exc
            report.skipped.append({"file": str(path), "reason": f"cannot read it: {exc.strerror}"})
            continue
        if looks_binary(head):
            if strict:
                raise InputError("this is a binary file, not a log", where=str(path),
                                 hint="give a log file (xend.log, qemu or libvirt logs, a serial log) or a folder")
            report.skipped.append({"file": str(path), "reason": "binary"})
            continue
        read, found = scan_file(path, signatures, max_bytes=max_bytes)
        report.read.append(read)
        findings.extend(found)
    report.findings = drop_superseded(findings)
    return report


def diagnose_path(target: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Report:
    if target.is_dir():
        files, skipped = log_files(target)
        return diagnose_files(str(target), "folder", files, skipped=skipped, max_bytes=max_bytes)
    if not target.exists():
        raise InputError("no such file or folder", where=str(target))
    if not target.is_file():
        raise InputError("not a regular file or a folder", where=str(target))
    return diagnose_files(str(target), "file", [target], max_bytes=max_bytes, strict=True)
