"""Shared test helpers: run golden in-process or as the real binary."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(sys.executable).parent / "golden"


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def golden(capsys, monkeypatch):
    """Run `golden ARGS` in this process (fast); returns Run(code, out, err)."""
    def run(*args, cwd: Path | None = None, env: dict | None = None) -> Run:
        from builder.cli import main
        if cwd:
            monkeypatch.chdir(cwd)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)
    return run


def golden_bin(*args, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> Run:
    """Run the installed `golden` binary: real exit codes, real stderr."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([str(GOLDEN), *map(str, args)], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def snapshot(path: Path) -> dict:
    """Every file under path with size and mtime: proves a failed command wrote nothing."""
    out = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(path))] = (st.st_size, st.st_mtime_ns)
    return out


def pytest_addoption(parser):
    parser.addoption("--regenerate-output", action="store_true", default=False,
                     help="rewrite tests/data/expected/ from what golden generates now (review the diff)")
    parser.addoption("--shuffle-modules", metavar="SEED", default=None,
                     help="run the test modules in an order shuffled with SEED (tests within a module keep theirs)")


def pytest_report_header(config):
    seed = config.getoption("--shuffle-modules")
    if seed is not None:
        return f"test modules shuffled with seed {seed} (rerun this order: make test SEED={seed})"
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # Modules must not depend on which ran before them: shared state lives in session
    # fixtures (the demo install, the Debian guest), never in what an earlier module left.
    seed = config.getoption("--shuffle-modules")
    if seed is None:
        return
    import random
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(str(item.fspath), []).append(item)
    order = list(groups)
    random.Random(str(seed)).shuffle(order)
    items[:] = [item for module in order for item in groups[module]]
