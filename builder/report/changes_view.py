"""What seal and customize changed in the image, operation by operation.

Seal reports come from builder.image.seal.seal, customize reports from
builder.image.customize.customize; both list each operation's changes as
{path, action, detail}. An older manifest form of customize (a list of
{op, detail, changed: [paths]}) is read too.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.report.fmt import as_list, get, text

# Keys of a customize operation that are not its parameters.
_NOT_PARAMS = {"op", "changes", "changed", "result", "automatic", "detail"}


@dataclass(frozen=True)
class ChangeRow:
    action: str
    path: str
    detail: str


@dataclass(frozen=True)
class OperationView:
    name: str
    description: str
    result: str          # changed | nothing to do | would change
    params: str
    changes: list[ChangeRow]
    notes: list[str]
    automatic: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class ChangesView:
    operations: list[OperationView]
    os: str = ""
    dry_run: bool = False

    @property
    def changed_count(self) -> int:
        return sum(1 for o in self.operations if o.changed)

    @property
    def file_count(self) -> int:
        return sum(len(o.changes) for o in self.operations)


def _changes(op: dict) -> list[ChangeRow]:
    rows = [ChangeRow(text(c.get("action"), "changed"), text(c.get("path")), text(c.get("detail")))
            for c in as_list(op.get("changes")) if isinstance(c, dict)]
    rows += [ChangeRow("changed", text(p), "") for p in as_list(op.get("changed")) if isinstance(p, str)]
    return rows


def _result(op: dict, changes: list[ChangeRow]) -> str:
    return text(op.get("result")) or ("changed" if changes else "nothing to do")


def _seal_descriptions() -> dict[str, str]:
    try:
        from builder.image.seal import list_operations
    except ImportError:
        return {}
    return {op["name"]: op["description"] for op in list_operations()}


def seal_view(report) -> ChangesView | None:
    if not isinstance(report, dict):
        return None
    described = _seal_descriptions()
    ops = []
    for op in as_list(report.get("operations")):
        if not isinstance(op, dict):
            continue
        changes = _changes(op)
        name = text(op.get("name"), "?")
        ops.append(OperationView(name, described.get(name, ""), _result(op, changes), "", changes,
                                 [text(n) for n in as_list(op.get("notes"))]))
    osd = get(report, "os", default={})
    os_text = " ".join(text(get(osd, k)) for k in ("distro", "version") if get(osd, k))
    if get(osd, "systemd_version"):
        os_text += f", systemd {osd['systemd_version']}"
    elif get(osd, "init"):
        os_text += f", {osd['init']}"
    return ChangesView(ops, os_text, bool(report.get("dry_run")))


def _param(key: str, value) -> str:
    # customize already hides hashes; anything named like a secret stays hidden here too.
    if key == "hash" or "password" in key or "secret" in key:
        return f"{key}=<hidden>"
    shown = text(value)
    return f"{key}={shown[:77] + '...' if len(shown) > 80 else shown}"


def _params(op: dict) -> str:
    return ", ".join(_param(str(k), v) for k, v in op.items() if k not in _NOT_PARAMS)


def customize_view(report) -> ChangesView | None:
    if isinstance(report, dict):
        items, dry_run = as_list(report.get("operations")), bool(report.get("dry_run"))
    elif isinstance(report, list):
        items, dry_run = report, False
    else:
        return None
    ops = []
    for op in items:
        if not isinstance(op, dict):
            continue
        changes = _changes(op)
        ops.append(OperationView(text(op.get("op"), "?"), text(op.get("detail")), _result(op, changes),
                                 _params(op), changes, [], bool(op.get("automatic"))))
    return ChangesView(ops, "", dry_run)
