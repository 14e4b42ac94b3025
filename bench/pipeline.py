"""Stage timings of a demo build, and how long a no-op rebuild takes.

Targets: a no-op rebuild (nothing changed) under 1 s. The comparison point users
have today is Packer, which has no stage cache: every `packer build` reinstalls.
Packer is not installable here (no internet), so the ratio printed is against
golden's own full build time, which is what a cache-less rebuild costs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(sys.executable).parent / "golden"


def golden(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run([str(GOLDEN), *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"golden {' '.join(args)} failed:\n{proc.stderr}")
    return elapsed, proc


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="golden-bench-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        work.chmod(0o755)                 # libvirt's qemu user must reach the disks
        name = f"bench-pipeline-{int(time.time())}"
        profile = work / f"{name}.yaml"
        profile.write_text(f"extends: demo\nname: {name}\noutput: {{dir: {work / 'images'}}}\n")
        golden("demo-media")
        full, proc = golden("build", str(profile), "--json")
        stages = json.loads(proc.stdout)["stages"]
        noop = statistics.median(golden("build", str(profile))[0] for _ in range(3))
        print(f"demo build, stage by stage ({name}):")
        for st in stages:
            print(f"  {st['name']:<10} {st['status']:<7} {st['seconds']:7.2f} s")
        print(f"full build (wall clock):      {full:7.2f} s")
        print(f"no-op rebuild (median of 3):  {noop:7.2f} s   target < 1 s: {'ok' if noop < 1 else 'MISSED'}")
        print(f"cache-less rebuild / no-op:   {full / noop:7.1f}x")


if __name__ == "__main__":
    main()
