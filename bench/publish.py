"""How small and how fast is golden's compressed publish, against virt-sparsify --compress?

On the real-distro fixture (the Debian 12 LVM guest the system tests build
with mmdebstrap and cache under /var/tmp/golden-test-cache), in one run:

* golden's publish for each `output.compress` (zstd, zlib, none): for a
  compressed publish, the seal compaction (free-space, swap-reset) on a qcow2
  overlay of the disk, then golden's own `qemu-img convert` command line;
  `none` compacts nothing, as a build does, and only converts;
* `virt-sparsify --compress --convert qcow2` on a copy of the same disk,
  what users do today to ship a compact qcow2.

Compaction is measured twice, because a build does not pay for it the way a
separate tool does: as its own `golden seal --only` step (an appliance
launch of its own, like virt-sparsify's), and as what it adds to a build's
seal launch (a default seal against the default seal plus compaction). Both
are done once and shared by zstd and zlib, whose compaction is the same work.

Goal: size within 5% of virt-sparsify's, in at most a fifth of its time.
The bench prints how far off each is; it does not fail on a missed goal.

    .venv/bin/python bench/publish.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from demoimage import copy, golden, guestfs_env, timed, workdir

from builder.pipeline import publish as pub
from builder.pipeline.build import COMPACTION     # the operations a compressed build adds to its seal
from tests.system.debian_guest import build as debian_guest

COMPRESSIONS = ("zstd", "zlib", "none")
SIZE_GOAL, TIME_GOAL = 1.05, 0.2
W = 46      # width of the table's first column


def overlay(base: Path, path: Path) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(path)],
                   check=True)
    return path


def seal_seconds(image: Path, only: list[str] | None, env: dict) -> float:
    return timed(["golden", "seal", image, "--backend", "guestfs", *(["--only", ",".join(only)] if only else [])],
                 env)


def default_seal_ops() -> list[str]:
    ops = json.loads(golden("seal", "--list", "--json").stdout)
    return [o["name"] for o in ops if o["default"]]


def mib(n: int) -> str:
    return f"{n / (1 << 20):8.1f} MiB"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    guest = debian_guest()          # cached; built on first use (minutes)
    print(f"fixture: {guest.disk} ({guest.packages} packages)", flush=True)
    env = guestfs_env()
    with workdir(args.keep) as work:
        base = copy(guest.disk, work / "disk.raw")
        defaults = default_seal_ops()
        # Compaction as a step of its own, then what it adds to a build's one seal launch.
        compacted = overlay(base, work / "compacted.qcow2")
        standalone = seal_seconds(compacted, list(COMPACTION), env)
        plain_seal = seal_seconds(overlay(base, work / "seal-default.qcow2"), None, env)
        full_seal = seal_seconds(overlay(base, work / "seal-compact.qcow2"), defaults + list(COMPACTION), env)
        in_build = max(0.0, full_seal - plain_seal)
        rows = {}
        for c in COMPRESSIONS:
            out = work / f"golden-{c}.qcow2"
            source = compacted if c != "none" else overlay(base, work / "uncompacted.qcow2")
            rows[c] = (timed(pub.convert_argv(source, out, "qcow2", c)), out.stat().st_size)
        sparse_in = copy(guest.disk, work / "sparsify-in.raw")
        sparse_out = work / "sparsify.qcow2"
        sparsify = timed(["virt-sparsify", "--quiet", "--compress", "--format", guest.format,
                          "--convert", "qcow2", sparse_in, sparse_out],
                         env)
        sparse_size = sparse_out.stat().st_size
    print()
    print(f"disk: virtual size {mib(guest_virtual(guest.disk)).strip()}")
    print(f"compaction as its own seal launch: {standalone:.1f} s; added to a build's seal launch: {in_build:.1f} s "
          f"(default seal {plain_seal:.1f} s, with compaction {full_seal:.1f} s)")
    print()
    print(f"{'publish':<{W}}{'size':>12}{'convert':>10}{'total':>10}{'size/vs':>9}{'time/vs':>9}")
    print(f"{'virt-sparsify --compress':<{W}}{mib(sparse_size):>12}{'':>10}{sparsify:9.1f}s{1:9.3f}{1:9.3f}")
    for c in COMPRESSIONS:
        convert, size = rows[c]
        costs = [("own seal launch", standalone), ("in the build's seal", in_build)] if c != "none" else [("", 0.0)]
        for how, compact in costs:
            total = compact + convert
            label = f"golden {c}" + (f", compaction {how}" if how else "")
            print(f"{label:<{W}}{mib(size):>12}{convert:9.1f}s{total:9.1f}s{size / sparse_size:9.3f}"
                  f"{total / sparsify:9.3f}")
    print()
    print(f"goal: size within 5% of virt-sparsify (size/vs <= {SIZE_GOAL}), "
          f"at most a fifth of its time (time/vs <= {TIME_GOAL})")
    for c in ("zstd", "zlib"):
        convert, size = rows[c]
        print(f"  golden {c}: size {verdict(size / sparse_size <= SIZE_GOAL)}; time with compaction in its own "
              f"launch {verdict((standalone + convert) / sparsify <= TIME_GOAL)}, in the build's seal launch "
              f"{verdict((in_build + convert) / sparsify <= TIME_GOAL)}")


def guest_virtual(disk: Path) -> int:
    virtual, _ = pub.virtual_and_allocated(disk)
    return virtual or 0


if __name__ == "__main__":
    main()
