"""Read the records a report is made of: build.json (required) and clones.json (optional).

The envelope of build.json is checked with types, so a damaged record is an
InputError naming the file and the field. The inspect, customize and seal
reports inside it are kept as plain data: they come from the image layer,
grow new keys over time, and the page shows what it finds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from builder.errors import InputError

BUILD_JSON = "build.json"
CLONES_JSON = "clones.json"
MANIFEST_VERSION = 1
_REBUILD = "build.json is written by `golden build`; run the build again rather than editing the file"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class StageRecord(_Lenient):
    name: str
    status: str = "pending"
    seconds: float | None = None
    # Shown as text only: any JSON value is accepted.
    started: Any = None
    key: Any = None
    detail: Any = None


class ArtifactRecord(_Lenient):
    kind: str = "?"
    path: str
    sha256: str | None = None
    bytes: int | None = None


class ImageRecord(_Lenient):
    path: str | None = None
    format: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    virtual_size: int | None = None


class ProfileRecord(_Lenient):
    path: str | None = None
    sha256: str | None = None
    chain: list[str] = []
    resolved: dict | None = None


class FailureRecord(_Lenient):
    stage: str | None = None
    exit_code: int | None = None
    message: str | None = None
    hint: str | None = None
    screenshot: str | None = None
    serial_log: str | None = None
    serial_tail: list[str] = []


class BuildRecord(_Lenient):
    golden_manifest: int
    name: str
    status: str
    created: str | None = None
    published: str | None = None
    golden_version: str | None = None
    build_key: str | None = None
    profile: ProfileRecord = ProfileRecord()
    os: dict | None = None
    connect: str | None = None
    accelerator: str | None = None
    tools: dict[str, Any] = {}
    stages: list[StageRecord] = []
    artifacts: list[ArtifactRecord] = []
    image: ImageRecord | None = None
    domain_xml: str | None = None
    inspect: dict | None = None
    customize: dict | list | None = None
    seal: dict | None = None
    failure: FailureRecord | None = None


_JSON_TYPES = {list: "list", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _field(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no {what} here", where=str(path),
                         hint="pass a build directory (DIR/NAME.build) that `golden build` wrote") from None
    except IsADirectoryError:
        raise InputError(f"{what} is a directory", where=str(path)) from None
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text", where=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", where=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                         where=str(path), hint="was the build killed while writing it? run `golden build` again"
                         ) from None


def load_build(build_dir: Path) -> BuildRecord:
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise InputError("not a build directory" if build_dir.exists() else "no such build directory",
                         where=str(build_dir), hint="pass DIR/NAME.build, the folder that holds build.json")
    path = build_dir / BUILD_JSON
    data = _read_json(path, "build record")
    if not isinstance(data, dict):
        raise InputError(f"build record is a JSON {_JSON_TYPES.get(type(data), 'value')}, not an object",
                         where=str(path), hint=_REBUILD)
    version = data.get("golden_manifest")
    if isinstance(version, int) and not isinstance(version, bool) and version > MANIFEST_VERSION:
        raise InputError(f"build record format {version} is newer than this golden reads ({MANIFEST_VERSION})",
                         where=str(path), hint="render it with the golden that built it")
    try:
        return BuildRecord.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(f"{_field(err['loc'])}: {err['msg'].lower()}{more}", where=str(path),
                         hint=_REBUILD) from None


class ClonesRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    source: str | None = None
    source_sha256: str | None = None
    clones: list[dict] = []


def load_clones(build_dir: Path) -> tuple[ClonesRecord | None, str | None]:
    """(record, None), (None, None) when there are no clones, or (None, why) when it cannot be read.

    A damaged clones.json must not stop the report of the build itself
    (`golden build` renders one after every build), so it is a note on the page.
    """
    path = Path(build_dir) / CLONES_JSON
    if not path.exists():
        return None, None
    try:
        data = _read_json(path, "clone record")
        return ClonesRecord.model_validate(data), None
    except InputError as exc:
        return None, exc.message
    except ValidationError as exc:
        err = exc.errors()[0]
        return None, f"clone record: {_field(err['loc'])}: {err['msg'].lower()}"
