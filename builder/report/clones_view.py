"""The clones made from this build's image (clones.json) and what `golden verify` saw in them."""

from __future__ import annotations

from dataclasses import dataclass

from builder.report.fmt import as_list, text, when
from builder.report.records import ClonesRecord


@dataclass(frozen=True)
class Observed:
    key: str
    value: str
    expected: str
    matches: bool | None      # None: nothing to compare with


@dataclass(frozen=True)
class CloneRow:
    name: str
    hostname: str
    uuid: str
    macs: str
    disk: str
    linked: str
    created: str
    state: str                # verified | failed | unverified
    verdict: str
    checked: str
    observed: list[Observed]
    problems: list[str]


@dataclass(frozen=True)
class ClonesView:
    source: str
    source_sha256: str
    source_note: str
    rows: list[CloneRow]
    problem: str = ""

    @property
    def verified(self) -> int:
        return sum(1 for r in self.rows if r.state == "verified")

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.state == "failed")

    @property
    def unverified(self) -> int:
        return sum(1 for r in self.rows if r.state == "unverified")


def _observed(clone: dict, seen: dict) -> list[Observed]:
    macs = [m.lower() for m in as_list(clone.get("macs")) if isinstance(m, str)]
    out = []
    for key in ("hostname", "mac", "machine-id", "uuid"):
        value = seen.get(key)
        if value is None:
            continue
        value = text(value)
        if key == "hostname":
            expected = text(clone.get("hostname"))
            matches = value == expected if expected else None
        elif key == "mac":
            expected = text(macs[0]) if macs else ""
            matches = value.lower() in macs if macs else None
        elif key == "uuid":
            expected = text(clone.get("uuid"))
            matches = value.lower() == expected.lower() if expected else None
        else:
            expected, matches = "a new id", None
        out.append(Observed(key, value, expected, matches))
    return out


def _row(clone: dict) -> CloneRow:
    v = clone.get("verified")
    if isinstance(v, dict):
        ok = v.get("ok") is True
        state = "verified" if ok else "failed"
        verdict = "verified" if ok else "verification FAILED"
        checked = when(v.get("checked"))
        observed = _observed(clone, v.get("observed") if isinstance(v.get("observed"), dict) else {})
        problems = [text(p) for p in as_list(v.get("problems"))]
    else:
        state, verdict, checked, observed, problems = "unverified", "not verified", "", [], []
    linked = clone.get("linked")
    return CloneRow(text(clone.get("name"), "?"), text(clone.get("hostname")), text(clone.get("uuid")),
                    text([m for m in as_list(clone.get("macs")) if isinstance(m, str)]), text(clone.get("disk")),
                    "linked overlay" if linked is True else ("full copy" if linked is False else ""),
                    when(clone.get("created")), state, verdict, checked, observed, problems)


def clones_view(record: ClonesRecord | None, problem: str | None, image_sha256: str | None) -> ClonesView | None:
    if record is None:
        return ClonesView("", "", "", [], problem) if problem else None
    note = ""
    if record.source_sha256 and image_sha256:
        note = ("made from this build's image" if record.source_sha256 == image_sha256 else
                "made from a different image than this build published (its sha256 differs)")
    rows = [_row(c) for c in record.clones if isinstance(c, dict)]
    return ClonesView(text(record.source), text(record.source_sha256), note, rows)

