"""Hostile profiles through `golden validate` and `golden kickstart`: clean errors, no hangs, no leaks.

A seeded generator mutates the shipped profiles and the bad-profile corpus
(alias bombs, deep nesting, huge numbers and strings, bytes that are not
UTF-8, wrong types, out-of-range values, secret files and templates that are
binary, huge or host credential files). Each profile runs in-process with a
5 s alarm. A case built to be invalid must exit 2; any case may only exit 0
or 2, with a bounded error that never holds a byte of a file the profile
pointed at (those files carry a canary string).
"""

from __future__ import annotations

import copy
import os
import random
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

SEED = 20261206
CASES = 600
CANARY = "CANARY-7f3e9b1c-golden-fuzz"
TIMEOUT_S = 5
MAX_ERR_CHARS = 12000
SHIPPED = sorted(p for p in (REPO / "profiles").glob("*.yaml"))
BAD = sorted((REPO / "tests" / "bad_profiles").glob("*.yaml"))


@dataclass
class Case:
    name: str
    kind: str
    payload: bytes
    must_fail: bool


class Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise Hang()


# --- the generator ----------------------------------------------------------

def _dump(data) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, width=1 << 20).encode()


def _linux(data) -> bool:
    return isinstance(data.get("kickstart"), dict)


def _set(data: dict, path: tuple, value) -> dict:
    """A copy of data with path set; missing sections (and a first disk) are created."""
    out = copy.deepcopy(data)
    node = out
    for key, nxt in zip(path, path[1:]):
        if isinstance(key, int):
            while len(node) <= key:
                node.append({})
        elif isinstance(nxt, int):
            if not isinstance(node.get(key), list):
                node[key] = []
        elif not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    if isinstance(path[-1], int):
        while len(node) <= path[-1]:
            node.append({})
    node[path[-1]] = value
    return out


def _secret_path(data) -> tuple:
    return ("kickstart", "root_password") if _linux(data) else ("windows", "admin_password")


class Generator:
    def __init__(self, work: Path, seed: int):
        self.work = work
        self.rng = random.Random(seed)
        self.bases = [(p.stem, yaml.safe_load(p.read_text())) for p in SHIPPED]
        self.files = self._plant()

    def _plant(self) -> dict[str, str]:
        """Files a profile may point at, each holding the canary."""
        d = self.work / "planted"
        d.mkdir()
        files = {
            "binary": (b"\x00\x01\xff" + CANARY.encode() + b"\x00" * 64),
            "huge": (CANARY + "x" * 100_000 + "\n").encode(),
            "multiline": f"first-line\n{CANARY}\n".encode(),
            "latin1": ("p\xe4ss" + CANARY).encode("latin-1"),
            "template-syntax": ("{% extends 'kickstart.ks.j2' %}\n{% " + CANARY + " %}\n").encode(),
            "template-unclosed": ("{% block " + CANARY + "\n").encode(),
            "template-binary": b"\xff\xfe" + CANARY.encode("utf-16-le"),
            "notyaml.txt": f"root:{CANARY}:19000:0:99999:7:::\n".encode(),
            "empty": b"",
        }
        out = {}
        for name, content in files.items():
            (d / name).write_bytes(content)
            out[name] = str(d / name)
        (d / "folder").mkdir()
        out["folder"] = str(d / "folder")
        os.symlink("/etc/shadow", d / "shadow-link")
        out["shadow-link"] = str(d / "shadow-link")
        return out

    def cases(self, count: int) -> list[Case]:
        makers = [self.edge_value, self.alias_bomb, self.deep, self.huge_int, self.huge_string, self.bad_bytes, self.wrong_type,
                  self.out_of_range, self.bad_secret, self.bad_template, self.bad_extends, self.yaml_oddity,
                  self.huge_file, self.random_edit, self.random_edit, self.corpus_edit]
        out = [Case(f"shipped-{n}", "shipped", _dump(d), False) for n, d in self.bases]
        out += [Case(f"corpus-{p.stem}", "corpus", p.read_bytes(), True) for p in BAD]
        while len(out) < count:
            maker = makers[len(out) % len(makers)]
            out.append(maker(len(out)))
        return out

    def base(self):
        return self.rng.choice(self.bases)

    def _field(self, data, choices) -> tuple:
        return self.rng.choice([c for c in choices if c[0] != "kickstart" or _linux(data)])

    def alias_bomb(self, i) -> Case:
        name, data = self.base()
        width, levels = self.rng.randint(5, 12), self.rng.randint(6, 10)
        lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
        for level in range(1, levels):
            lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
        field = self.rng.choice(["description", "extra", "seal"])
        body = _dump({k: v for k, v in data.items()}).decode()
        text = "\n".join(lines) + f"\n{body}{field}_bomb: *a{levels - 1}\n"
        if self.rng.random() < 0.3:
            text = "r: &r [*r]\n" + body
        return Case(f"{i}-alias-bomb-{name}", "alias_bomb", text.encode(), True)

    def deep(self, i) -> Case:
        name, data = self.base()
        depth = self.rng.choice([40, 200, 1000, 5000, 20000])
        value = "[" * depth + "]" * depth if self.rng.random() < 0.5 else "{a: " * depth + "1" + "}" * depth
        field = self.rng.choice(["description", "name", "machine"])
        text = _dump({k: v for k, v in data.items() if k != field}).decode() + f"{field}: {value}\n"
        return Case(f"{i}-deep-{depth}-{name}", "deep", text.encode(), True)

    def huge_int(self, i) -> Case:
        name, data = self.base()
        digits = self.rng.choice([25, 100, 5000, 60000])
        number = str(self.rng.randint(1, 9)) + "".join(self.rng.choice("0123456789") for _ in range(digits - 1))
        path = self._field(data, [("machine", "memory"), ("machine", "vcpus"), ("disks", 0, "size"),
                                  ("install", "timeout"), ("kickstart", "bootloader", "timeout")])
        text = _dump(_set(data, path, 12345)).decode().replace("12345", number, 1)
        return Case(f"{i}-huge-int-{digits}-{name}", "huge_int", text.encode(), True)

    def huge_string(self, i) -> Case:
        name, data = self.base()
        size = self.rng.choice([1100, 5000, 100_000])
        value = "".join(self.rng.choice("Abc/_-9") for _ in range(size))
        path = self._field(data, [("kickstart", "timezone"), ("kickstart", "network", "hostname"), ("name",),
                                  ("kickstart", "lang"), ("kickstart", "keyboard"), ("install", "media"),
                                  ("os",), ("kickstart", "packages"), ("network", "source"),
                                  ("kickstart", "bootloader", "append")])
        value = [value] if path[-1] == "packages" else value
        if size > 65536 and self.rng.random() < 0.3:
            path = ("description",)
        return Case(f"{i}-huge-string-{size}-{'.'.join(map(str, path))}-{name}", "huge_string",
                    _dump(_set(data, path, value)), True)

    def bad_bytes(self, i) -> Case:
        name, data = self.base()
        raw = bytearray(_dump(data))
        at = self.rng.randrange(len(raw))
        junk = self.rng.choice([b"\xff", b"\xc3\x28", b"\x00", b"\xed\xa0\x80", b"\xfe\xff", bytes([0x80])])
        raw[at:at] = junk
        return Case(f"{i}-bad-bytes-{name}", "bad_bytes", bytes(raw), True)

    def wrong_type(self, i) -> Case:
        name, data = self.base()
        path = self._field(data, [("machine",), ("disks",), ("name",), ("machine", "memory"), ("kickstart",),
                                  ("install", "method"), ("kickstart", "packages"), ("network",),
                                  ("kickstart", "timezone"), ("machine", "vcpus"), ("disks", 0)])
        value = self.rng.choice([[1, 2], {"x": {"y": 1}}, 3.5e300, [[]]])
        return Case(f"{i}-wrong-type-{'.'.join(map(str, path))}-{name}", "wrong_type",
                    _dump(_set(data, path, value)), True)

    def out_of_range(self, i) -> Case:
        name, data = self.base()
        linux = _linux(data)
        options = [(("machine", "memory"), 2 ** 63), (("machine", "memory"), "9000T"), (("machine", "vcpus"), 10 ** 6),
                   (("disks", 0, "size"), 2 ** 63), (("disks", 0, "size"), "99999999T"), (("disks", 0, "size"), -5),
                   (("disks", 0, "size"), float("inf")), (("machine", "memory"), float("nan")),
                   (("install", "timeout"), 10 ** 12), (("install", "timeout"), "99999999h"),
                   (("machine", "vcpus"), 0), (("name",), "x" * 64)]
        if linux:
            options += [(("kickstart", "timezone"), "Not/AZone"), (("kickstart", "timezone"), "Mars/Olympus_Mons"),
                        (("kickstart", "timezone"), "a" * 100_000),
                        (("kickstart", "network", "hostname"), "a" * 64 + ".example"),
                        (("kickstart", "partitioning"), {"scheme": "custom", "parts": [{"mount": "/", "size": 2 ** 70}]})]
        else:
            options += [(("windows", "timezone"), 10 ** 30), (("windows", "computer_name"), "x" * 100)]
        path, value = self.rng.choice(options)
        return Case(f"{i}-range-{'.'.join(map(str, path))}-{name}", "out_of_range", _dump(_set(data, path, value)), True)

    def edge_value(self, i) -> Case:
        """Values at the edge of a range: accepted or refused, but cleanly."""
        name, data = self.base()
        options = [(("machine", "memory"), 4194304), (("machine", "memory"), "4T"), (("machine", "vcpus"), 255),
                   (("disks", 0, "size"), "64T"), (("disks", 0, "size"), "64M"), (("install", "timeout"), "168h"),
                   (("install", "inactivity"), 10), (("name",), "x" * 63), (("description",), "d" * 65536)]
        if _linux(data):
            options += [(("kickstart", "partitioning", "swap"), "64T"), (("kickstart", "timezone"), "Etc/GMT+12"),
                        (("kickstart", "packages"), [f"pkg{n}" for n in range(900)]),
                        (("kickstart", "post"), "echo " + "p" * 65000)]
        path, value = self.rng.choice(options)
        return Case(f"{i}-edge-{'.'.join(map(str, path))}-{name}", "edge", _dump(_set(data, path, value)), False)

    def bad_secret(self, i) -> Case:
        name, data = self.base()
        target = self.rng.choice(["binary", "huge", "multiline", "latin1", "empty", "folder", "shadow-link",
                                  "/etc/shadow", "/etc/passwd", "/proc/self/environ", "/dev/zero", "/sys/kernel/notes",
                                  "/etc/ssh/ssh_host_ed25519_key", "missing-file", "\0nul"])
        file = self.files.get(target, target)
        if target == "missing-file":
            file = str(self.work / "planted" / "no-such-file")
        path = _secret_path(data)
        ref = {"file": file}
        if self.rng.random() < 0.2:
            ref = self.rng.choice([{"env": "1x"}, {"env": "X" * 2000}, {"hash": "$6$" + "x" * 5000},
                                   {"env": "GOLDEN_FUZZ_SURELY_UNSET"}, {"file": file, "env": "HOME"}])
        if self.rng.random() < 0.3 and _linux(data):
            data = _set(data, ("kickstart", "users"), [{"name": "ops", "password": ref}])
        elif self.rng.random() < 0.2:
            data = _set(data, ("customize",), [{"root_password": ref}])
        else:
            data = _set(data, path, ref)
        return Case(f"{i}-secret-{target.strip('/').replace('/', '_')}-{name}", "bad_secret", _dump(data), True)

    def bad_template(self, i) -> Case:
        name, data = self.base()
        target = self.rng.choice(["template-syntax", "template-unclosed", "template-binary", "huge", "binary",
                                  "folder", "shadow-link", "/etc/shadow", "/etc/passwd", "/proc/self/status",
                                  "/dev/null", "missing-file"])
        file = self.files.get(target, str(self.work / "planted" / "none.j2") if target == "missing-file" else target)
        data = _set(data, ("kickstart", "template"), file)
        return Case(f"{i}-template-{target.strip('/').replace('/', '_')}-{name}", "bad_template", _dump(data), True)

    def bad_extends(self, i) -> Case:
        name, data = self.base()
        target = self.rng.choice([self.files["notyaml.txt"], self.files["binary"], self.files["huge"],
                                  "/etc/shadow", "/etc/passwd", self.files["shadow-link"], "x" * 5000,
                                  "no-such-base", self.files["folder"]])
        data = _set(data, ("extends",), target)
        return Case(f"{i}-extends-{name}", "bad_extends", _dump(data), True)

    def yaml_oddity(self, i) -> Case:
        name, data = self.base()
        body = _dump(data).decode()
        extra = self.rng.choice(["? [a, b]\n: c\n", "!!python/object:os.system {}\n", "x: !!binary AAAA\n",
                                 "x: !custom 1\n", "1: one\n", "x: *undefined\n", "&a x: 1\n? *a\n: 2\n",
                                 "x: 2026-12-06\n", "<<: {unknown_key: 1}\n", "x: [1, 2\n", "\t- tab\n"])
        return Case(f"{i}-yaml-{name}", "yaml_oddity", (body + extra).encode(), True)

    def huge_file(self, i) -> Case:
        name, data = self.base()
        body = _dump(data).decode() + "".join(f"# padding {n} {'=' * 80}\n" for n in range(3500))
        return Case(f"{i}-huge-file-{name}", "huge_file", body.encode(), True)

    def random_edit(self, i) -> Case:
        """No expectation beyond a clean outcome: drop, swap or garble values."""
        name, data = self.base()
        data = copy.deepcopy(data)
        for _ in range(self.rng.randint(1, 3)):
            section = self.rng.choice(list(data))
            op = self.rng.choice(["drop", "garble", "int", "dup"])
            value = data[section]
            if op == "drop":
                data.pop(section)
            elif op == "int":
                data[section] = self.rng.choice([0, -1, 2 ** 31, 2 ** 64, 1.5])
            elif op == "dup" and isinstance(value, dict) and value:
                key = self.rng.choice(list(value))
                value[key] = copy.deepcopy(self.rng.choice(list(value.values())))
            elif isinstance(value, str) and value:
                at = self.rng.randrange(len(value))
                data[section] = value[:at] + self.rng.choice(["%", ";", "\n", "'", "\u00e9", "${x}", "*"]) + value[at:]
        return Case(f"{i}-random-{name}", "random", _dump(data), False)

    def corpus_edit(self, i) -> Case:
        path = self.rng.choice(BAD)
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        at = self.rng.randrange(len(lines))
        lines[at] = lines[at] + self.rng.choice([b" # x", b"9", b"\xff", b": [", b" &x", b""])
        return Case(f"{i}-corpus-edit-{path.stem}", "corpus_edit", b"\n".join(lines), False)


# --- running ----------------------------------------------------------------

def _run(capsys, args) -> tuple[int | str, str]:
    from builder.cli import main

    capsys.readouterr()
    signal.alarm(TIMEOUT_S)
    try:
        main([str(a) for a in args])
        code: int | str = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Hang:
        code = "hang"
    except Exception as exc:   # noqa: BLE001 - a traceback is what this test counts
        code = f"traceback: {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        signal.alarm(0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _shadow_lines() -> list[str]:
    try:
        return [line for line in Path("/etc/shadow").read_text().splitlines() if len(line) > 12]
    except OSError:
        return []


@pytest.mark.timeout(120, method="thread")   # the 5 s per-case alarm owns SIGALRM
def test_fuzzed_profiles_fail_cleanly(tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    shutil.copytree(REPO / "profiles", work)
    shutil.copytree(REPO / "tests" / "bad_profiles", work / "bad")
    monkeypatch.chdir(work)
    # Building Typer's click tree costs more than loading a profile; it is the
    # same tree for every run, so build it once.
    import typer.main
    from builder import cli
    cli._register()
    click_tree = typer.main.get_command(cli.app)
    monkeypatch.setattr(typer.main, "get_command", lambda app: click_tree)
    cases = Generator(work, SEED).cases(CASES)
    shadow = _shadow_lines()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    counts = {"tracebacks": 0, "hangs": 0, "wrong_accepts": 0, "leaks": 0, "long_errors": 0, "other_codes": 0}
    problems: list[str] = []
    accepted = 0
    started = time.monotonic()
    try:
        for case in cases:
            where = (work / "bad" if case.kind in ("corpus", "corpus_edit") else work) / f"fuzz-{re.sub(r'[^A-Za-z0-9._-]', '_', case.name)[:80]}.yaml"
            where.write_bytes(case.payload)
            for command in ("validate", "kickstart"):
                code, output = _run(capsys, [command, where])
                label = f"{case.name} {command}"
                accepted += code == 0
                if isinstance(code, str) and code.startswith("traceback"):
                    counts["tracebacks"] += 1
                    problems.append(f"{label}: {code}")
                elif code == "hang":
                    counts["hangs"] += 1
                    problems.append(f"{label}: no answer in {TIMEOUT_S} s")
                elif code not in (0, 2):
                    counts["other_codes"] += 1
                    problems.append(f"{label}: exit {code}: {output[-300:]}")
                elif code == 0 and case.must_fail:
                    counts["wrong_accepts"] += 1
                    problems.append(f"{label}: accepted a profile built to be invalid")
                if CANARY in output or any(line in output for line in shadow):
                    counts["leaks"] += 1
                    problems.append(f"{label}: output holds the content of a file the profile points at")
                if code != 0 and len(output) > MAX_ERR_CHARS:
                    counts["long_errors"] += 1
                    problems.append(f"{label}: {len(output)} characters of error output")
            where.unlink()
    finally:
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - started
    summary = (f"fuzz: {len(cases)} profiles ({2 * len(cases)} runs, {accepted} accepted) in {elapsed:.1f} s, "
               + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
    print(summary)
    assert not problems, summary + "\n" + "\n".join(problems[:40])
    assert len(cases) >= 500
    assert accepted >= 30, "the shipped profiles and the edge values must still pass: " + summary
    assert elapsed < 60, summary
