"""How long does `golden plan` take for every shipped profile, validation included?

Target: under 2 s for all shipped profiles together on a 2-core machine. The
comparison point users have today is running ksvalidator once per kickstart,
which this prints beside golden's time, measured in the same run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from builder.cli.render import plan_for  # noqa: E402
from builder.profile import load, shipped_profiles  # noqa: E402


def golden_plans() -> tuple[float, list]:
    started = time.perf_counter()
    plans = [plan_for(load(str(path)), cwd=REPO) for path in shipped_profiles().values()]
    return time.perf_counter() - started, plans


def ksvalidator_runs(plans) -> float:
    ksvalidator = Path(sys.executable).parent / "ksvalidator"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for plan in plans:
            if plan.kickstart is None:
                continue
            ks = Path(tmp) / f"{plan.profile}.ks"
            ks.write_text(plan.kickstart.text)
            subprocess.run([str(ksvalidator), "-v", plan.kickstart.version, str(ks)], check=True,
                           capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    golden_plans()                       # warm imports and the accelerator cache
    runs = [golden_plans() for _ in range(3)]
    golden_s = statistics.median(r[0] for r in runs)
    plans = runs[0][1]
    ks_s = ksvalidator_runs(plans)
    print(f"profiles planned:             {len(plans)}")
    print(f"golden plan (all, validated): {golden_s:.3f} s  (target < 2 s: {'met' if golden_s < 2 else 'MISSED'})")
    print(f"ksvalidator once per profile: {ks_s:.3f} s")
    print(f"ratio ksvalidator / golden:   {ks_s / golden_s:.1f}x")


if __name__ == "__main__":
    main()
