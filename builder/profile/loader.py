"""Load a profile: YAML, `extends:` inheritance, validation, readable errors.

Every error names the file that holds the offending value, its line, and the
field path (`profiles/x.yaml:12: disks[0].size: ...`), so a user can fix a
child or a base profile without guessing which one is wrong.
"""

from __future__ import annotations

import difflib
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from builder import catalog, paths
from builder.errors import InputError
from builder.profile import bounds
from builder.profile.schema import Profile

PathKey = tuple  # a field path: ("disks", 0, "size")


@dataclass
class Issue:
    path: PathKey
    message: str
    hint: str | None = None
    file: Path | None = None
    line: int | None = None

    def render(self) -> str:
        where = ""
        if self.file:
            where = f"{display_path(self.file)}:{self.line}: " if self.line else f"{display_path(self.file)}: "
        field_ = format_path(self.path)
        field_ = field_ if len(field_) <= 120 else field_[:120] + "…"
        # A last guard: whatever a check quoted, one issue stays a few lines long.
        message = self.message if len(self.message) <= 500 else self.message[:500] + "…"
        return f"{where}{field_ + ': ' if field_ else ''}{message}"


class ProfileError(InputError):
    """One or more problems in a profile, each with file, line and field."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        first = issues[0]
        hint = next((i.hint for i in issues if i.hint), None)
        super().__init__(first.render(), hint=hint)

    def lines(self) -> list[str]:
        shown = [i.render() for i in self.issues[:_SHOWN_ISSUES]]
        if len(self.issues) > _SHOWN_ISSUES:
            shown.append(f"... and {len(self.issues) - _SHOWN_ISSUES} more problems")
        return shown


_SHOWN_ISSUES = 20      # a profile with a thousand bad values still gets a readable error


@dataclass
class LoadedProfile:
    profile: Profile
    source: Path
    chain: list[Path]                      # the file, then each base it extends
    origins: dict = field(default_factory=dict)   # field path -> (file, line)

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def origin(self, path: PathKey) -> tuple[Path | None, int | None]:
        return _lookup(self.origins, path)


def display_path(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# --- finding files ---------------------------------------------------------

def shipped_profiles() -> dict[str, Path]:
    return {p.stem: p for p in sorted(paths.profiles_dir().glob("*.yaml"))}


def resolve_ref(ref: str, relative_to: Path | None = None) -> Path:
    """A PROFILE argument is a path or the name of a shipped profile."""
    candidates = []
    as_path = Path(ref)
    if relative_to is not None and not as_path.is_absolute():
        candidates += [relative_to / ref, relative_to / f"{ref}.yaml"]
    candidates += [as_path, Path(f"{ref}.yaml") if not ref.endswith((".yaml", ".yml")) else as_path]
    if "/" not in ref and not ref.endswith((".yaml", ".yml")):
        candidates.append(paths.profiles_dir() / f"{ref}.yaml")
    for candidate in candidates:
        try:
            if candidate.is_file():
                return candidate.resolve()
        except (OSError, ValueError):    # a name too long for the OS, or a NUL in it
            continue
    names = list(shipped_profiles())
    close = difflib.get_close_matches(ref, names, n=3, cutoff=0.5) if len(ref) < 256 else []
    hint = (f"did you mean {' or '.join(close)}?" if close
            else "give a path to a .yaml file or a shipped profile name (see `golden profiles`)")
    raise InputError(f"profile {bounds.excerpt(ref)} not found", hint=hint)


# --- YAML with line numbers -----------------------------------------------

class _UniqueKeyLoader(bounds.BoundedComposer, yaml.SafeLoader):
    pass


def _no_duplicates(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, typing.Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a name, not a list or mapping", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {bounds.excerpt(key)} (first at line {seen[key]})", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", bounds.BoundedComposer.construct_yaml_int)


def _lines(node, prefix=()) -> dict:
    out = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            out[prefix + (key,)] = key_node.start_mark.line + 1
            out.update(_lines(value_node, prefix + (key,)))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out.update(_lines(item, prefix + (index,)))
    return out


def _read_text(path: Path) -> str:
    cap = bounds.limits()["file_bytes"]
    try:
        with open(path, "rb") as handle:
            raw = handle.read(cap + 1)
    except OSError as exc:
        raise InputError(f"cannot read profile: {exc.strerror}", where=display_path(path)) from exc
    if len(raw) > cap:
        raise ProfileError([Issue((), f"the file is larger than {cap // 1024} KiB; a profile is a short YAML file",
                                  file=path)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ProfileError([Issue((), f"not UTF-8 text (byte {exc.start}); a profile is a UTF-8 YAML file",
                                  file=path, line=line)]) from None
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise ProfileError([Issue((), "holds a NUL byte; a profile is a text file", file=path, line=line)])
    return text


def _read_yaml(path: Path) -> tuple[dict, dict]:
    text = _read_text(path)
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        bounds.check_expansion(node)
        data = loader.construct_document(node) if node is not None else None
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or "nested too deeply"
        hint = None if isinstance(exc, bounds.LimitError) else "check indentation and quoting near that line"
        message = problem if isinstance(exc, bounds.LimitError) else f"malformed YAML: {bounds.shorten(problem, 160)}"
        raise ProfileError([Issue((), message, file=path,
                                  line=mark.line + 1 if mark else None, hint=hint)]) from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProfileError([Issue((), "a profile must be a YAML mapping of keys to values", file=path, line=1)])
    if not all(isinstance(k, str) for k in data):
        raise ProfileError([Issue((), "a profile's keys are names (strings)", file=path, line=1)])
    return data, (_lines(node) if node is not None else {})


# --- merging ----------------------------------------------------------------

# Fields holding host paths: made absolute against the file that wrote them,
# so a base profile's relative paths keep working from any child.
_PATH_FIELDS = {
    ("install", "media"), ("kickstart", "template"), ("windows", "drivers", "source"),
}
_SECRET_FIELDS = {("kickstart", "root_password"), ("windows", "admin_password"), ("windows", "product_key")}


def _absolutize(data: dict, base: Path) -> dict:
    def fix(value):
        # A NUL would make resolve() raise; the field's validator refuses it with a proper error.
        if isinstance(value, str) and value and not os.path.isabs(value) and "://" not in value \
                and value != "demo" and "\0" not in value:
            return str((base / value).resolve())
        return value

    def walk(node, path):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                sub = path + (key,)
                if sub in _PATH_FIELDS:
                    value = fix(value)
                elif (sub in _SECRET_FIELDS or _is_user_password(sub) or sub[-1:] == ("root_password",)) \
                        and isinstance(value, dict) and "file" in value:
                    value = {**value, "file": fix(value["file"])}
                elif len(sub) == 3 and sub[0] == "customize" and sub[2] in ("firstboot", "upload") \
                        and isinstance(value, str):
                    src, sep, dst = value.partition(":") if sub[2] == "upload" else (value, "", "")
                    value = fix(src) + sep + dst
                elif sub == ("disks",) and isinstance(value, list):
                    value = [{**d, "path": fix(d["path"])} if isinstance(d, dict) and d.get("path") else d
                             for d in value]
                out[key] = walk(value, sub) if not isinstance(value, str) else value
            return out
        if isinstance(node, list):
            return [walk(item, path + (i,)) for i, item in enumerate(node)]
        return node

    return walk(data, ())


def _is_user_password(path: PathKey) -> bool:
    return len(path) == 4 and path[0] == "kickstart" and path[1] == "users" and path[3] == "password"


def _merge(base: dict, over: dict, base_origin: dict, over_origin: dict, prefix=()) -> tuple[dict, dict]:
    out = dict(base)
    origins = {k: v for k, v in base_origin.items()}
    for key, value in over.items():
        sub = prefix + (key,)
        # A secret reference is one value: a child's {env: X} replaces a base's {file: Y}.
        is_secret = sub in _SECRET_FIELDS or sub[-1:] == ("root_password",) or _is_user_password(sub)
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not is_secret:
            out[key], origins = _merge(out[key], value, origins, over_origin, sub)
        else:
            out[key] = value
            for k in [k for k in origins if k[:len(sub)] == sub]:
                del origins[k]
            origins.update({k: v for k, v in over_origin.items() if k[:len(sub)] == sub})
    origins.update({k: v for k, v in over_origin.items() if k == prefix})
    return out, origins


def _load_raw(path: Path, stack: tuple[Path, ...]) -> tuple[dict, dict, list[Path]]:
    if path in stack:
        cycle = " -> ".join(display_path(p) for p in stack + (path,))
        raise ProfileError([Issue(("extends",), f"extends cycle: {cycle}", file=stack[-1],
                                  hint="remove one of the extends: lines")])
    data, lines = _read_yaml(path)
    origin = {k: (path, line) for k, line in lines.items()}
    data = _absolutize(data, path.parent)
    parent_ref = data.get("extends")
    if parent_ref is None:
        return data, origin, [path]
    if not isinstance(parent_ref, str) or not parent_ref or len(parent_ref) > 4095 or "\0" in parent_ref:
        raise ProfileError([Issue(("extends",), "extends must name one profile", file=path,
                                  line=lines.get(("extends",)))])
    try:
        parent_path = resolve_ref(parent_ref, relative_to=path.parent)
    except InputError as exc:
        raise ProfileError([Issue(("extends",), exc.message, hint=exc.hint, file=path,
                                  line=lines.get(("extends",)))]) from exc
    if parent_path.suffix not in (".yaml", ".yml"):
        # Only profiles are read as bases: any other file (a credential, a
        # binary) must not be parsed and quoted back in a YAML error.
        raise ProfileError([Issue(("extends",), f"{display_path(parent_path)} is not a profile (a .yaml file)",
                                  file=path, line=lines.get(("extends",)),
                                  hint="extends names a shipped profile or a .yaml profile file")])
    base, base_origin, chain = _load_raw(parent_path, stack + (path,))
    base.pop("name", None)          # a name is never inherited
    base.pop("description", None)
    merged, origins = _merge(base, data, base_origin, origin)
    return merged, origins, [path] + chain


def _lookup(origins: dict, path: PathKey):
    for cut in range(len(path), -1, -1):
        hit = origins.get(tuple(path[:cut]))
        if hit:
            return hit
    return (None, None)


# --- validation errors -------------------------------------------------------

def _model_at(path: PathKey):
    """The pydantic model class that owns the last key of `path`, if any."""
    model: type[BaseModel] | None = Profile
    for part in path[:-1]:
        if model is None or isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = _first_model(info.annotation)
    return model


def _nested_names(model, prefix: str = "", depth: int = 0) -> dict[str, str]:
    """Field names below `model` (two levels), mapped to their dotted paths."""
    out: dict[str, str] = {}
    if depth > 2:
        return out
    for name, info in model.model_fields.items():
        sub = _first_model(info.annotation)
        if sub is not None:
            for leaf, path in _nested_names(sub, f"{prefix}{name}.", depth + 1).items():
                out.setdefault(leaf, path)
        elif depth:
            out.setdefault(name, f"{prefix}{name}")
    return out


def _first_model(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _friendly(err: dict) -> tuple[str, str | None]:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        key = loc[-1]
        model = _model_at(loc)
        valid = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(str(key)[:100], valid, n=1, cutoff=0.6)
        if close:
            return f"unknown key {bounds.excerpt(key)}", f"did you mean {close[0]!r}?"
        elsewhere = _nested_names(model) if model else {}
        close = difflib.get_close_matches(str(key)[:100], list(elsewhere), n=1, cutoff=0.75)
        hint = (f"did you mean {elsewhere[close[0]]!r}? (it belongs under {elsewhere[close[0]].rsplit('.', 1)[0]})"
                if close else (f"valid keys here: {', '.join(valid)}" if valid else None))
        return f"unknown key {bounds.excerpt(key)}", hint
    if kind == "missing":
        return "is required", None
    if kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        return f"{bounds.excerpt(err['input'])} is not allowed; expected {expected}", None
    message = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        message = f"{message} (got {type(err['input']).__name__} {bounds.excerpt(err['input'])})" \
            if not isinstance(err.get("input"), (dict, list)) else message
    return message, None


def _clean_loc(loc: tuple) -> PathKey:
    # pydantic inserts union member / validator names into locations.
    return tuple(p for p in loc if not (isinstance(p, str) and (
        p.startswith(("function-", "constrained-")) or p in _UNION_TAGS)))


_UNION_TAGS = {"FileSecret", "EnvSecret", "HashSecret", "int", "str", "float", "bool", "list", "dict"}


def validation_issues(exc: ValidationError, origins: dict, source: Path) -> list[Issue]:
    issues = []
    seen = set()
    for err in exc.errors():
        path = _clean_loc(err["loc"])
        message, hint = _friendly(err)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        file, line = _lookup(origins, path)
        issues.append(Issue(path, message, hint, file or source, line))
    return issues


# --- the entry point ---------------------------------------------------------

def load(ref: str | Path) -> LoadedProfile:
    path = resolve_ref(str(ref))
    raw, origins, chain = _load_raw(path, ())
    raw.pop("extends", None)
    try:
        profile = Profile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(validation_issues(exc, origins, path)) from None
    if _original_extends(path):
        profile = profile.model_copy(update={"extends": _original_extends(path)})
    loaded = LoadedProfile(profile=profile, source=path, chain=chain, origins=origins)
    from builder.profile import rules

    issues = rules.check(loaded) + _host_file_issues(loaded)
    if issues:
        for issue in issues:
            if issue.file is None:
                issue.file, issue.line = loaded.origin(issue.path)
                issue.file = issue.file or loaded.source
        raise ProfileError(issues)
    return loaded


def _host_file_issues(loaded: LoadedProfile) -> list[Issue]:
    from builder.profile import hostfiles

    ks = loaded.profile.kickstart
    if not (ks and ks.template):
        return []
    try:
        hostfiles.check_template(ks.template, loaded.base_dir)
    except InputError as exc:
        return [Issue(("kickstart", "template"), exc.message, exc.hint)]
    return []


def _original_extends(path: Path):
    data, _ = _read_yaml(path)
    return data.get("extends")


def load_many(refs) -> list[LoadedProfile]:
    return [load(r) for r in refs]


def os_entry(loaded: LoadedProfile) -> catalog.OsEntry:
    return catalog.get(loaded.profile.os)
