"""`golden matrix`: many profiles across several libvirt hosts, at most N builds at a time.

Each build runs as its own `golden build` process: builds own signal handlers
and libvirt connections, and one crashing must not take the others down.
Profiles go to hosts round-robin, in the order given: the same command line
sends each profile to the same host every time, so a rerun finds its cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class MatrixResult:
    profile: str
    connect: str
    status: str
    exit_code: int
    seconds: float
    image: str | None
    rebuilt: list[str]
    error: str


def _golden() -> list[str]:
    return [sys.executable, "-m", "builder"]


def run_matrix(profiles: list[str], uris: list[str], *, jobs: int, output_dir: Path | None = None,
               force: bool = False, on_done=None) -> list[MatrixResult]:
    def one(job: tuple[int, str]) -> MatrixResult:
        index, profile = job
        uri = uris[index % len(uris)]
        started = time.monotonic()
        argv = _golden() + ["build", profile, "--json", "--connect", uri]
        if output_dir is not None:
            argv += ["--output-dir", str(output_dir)]
        if force:
            argv.append("--force")
        proc = subprocess.run(argv, capture_output=True, text=True)
        result = _result(profile, uri, proc, time.monotonic() - started)
        if on_done:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, enumerate(profiles)))


def _result(profile: str, uri: str, proc: subprocess.CompletedProcess, seconds: float) -> MatrixResult:
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        data = {}
    errors = [line[len("error: "):] for line in proc.stderr.splitlines() if line.startswith("error: ")]
    status = data.get("status") or ("failed" if proc.returncode else "unknown")
    rebuilt = data.get("rebuilt") or [s["name"] for s in data.get("stages", []) if s.get("status") == "ran"]
    error = ""
    if proc.returncode:
        error = "; ".join(errors) or (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    return MatrixResult(profile=profile, connect=uri, status=status, exit_code=proc.returncode,
                        seconds=round(seconds, 1), image=data.get("image") if not proc.returncode else None,
                        rebuilt=rebuilt, error=error)


def exit_code(results: list[MatrixResult]) -> int:
    """0 when every build succeeded; otherwise the most serious code (install 4 > host 3 > input 2)."""
    codes = [r.exit_code for r in results if r.exit_code]
    return max(codes) if codes else 0


def to_json(results: list[MatrixResult]) -> list[dict]:
    return [asdict(r) for r in results]
