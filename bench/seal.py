"""How fast does golden seal and customize an image, against virt-sysprep + virt-customize?

On copies of the same installed demo image, in one run:

* `golden customize IMAGE --hostname web-1 --seal --backend guestfs`: the
  default seal operations and a customize step in one appliance launch;
* `virt-sysprep -a IMAGE` then `virt-customize -a IMAGE --hostname web-1`:
  the same work as users do it today, two appliance launches;
* the same golden command with the loop backend on a raw copy, and on the
  qcow2 itself (exported through qemu-storage-daemon): no appliance at all.

Targets: at least 2x faster than virt-sysprep + virt-customize (one launch
instead of two), and under 2 s with the loop backend.

    .venv/bin/python bench/seal.py [--image DISK] [--keep]
"""

from __future__ import annotations

import argparse
import subprocess

from demoimage import copy, demo_image, guestfs_env, timed, workdir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", help="an installed demo disk to use instead of running `golden install`")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    with workdir(args.keep) as work:
        src, _xml = demo_image(work, args.image)
        images = {k: copy(src, work / f"{k}.qcow2") for k in ("golden", "virt", "loop-qcow2")}
        raw = work / "loop.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(src), str(raw)], check=True)
        env = guestfs_env()
        step = ["--hostname", "web-1", "--seal"]
        times = {
            "golden": timed(["golden", "customize", images["golden"], *step, "--backend", "guestfs"], env),
            "sysprep": timed(["virt-sysprep", "-a", images["virt"], "--quiet"], env),
        }
        times["customize"] = timed(["virt-customize", "-a", images["virt"], "--hostname", "web-1", "--no-network",
                                    "--quiet"], env)
        times["loop-raw"] = timed(["golden", "customize", raw, *step, "--backend", "loop"], env)
        times["loop-qcow2"] = timed(["golden", "customize", images["loop-qcow2"], *step, "--backend", "loop"], env)
    base = times["sysprep"] + times["customize"]
    ratio = base / times["golden"]
    print()
    print(f"golden customize --seal (one guestfs launch):   {times['golden']:7.2f} s")
    print(f"virt-sysprep:                                   {times['sysprep']:7.2f} s")
    print(f"virt-customize --hostname:                      {times['customize']:7.2f} s")
    print(f"virt-sysprep + virt-customize:                  {base:7.2f} s")
    print(f"ratio virt-sysprep+virt-customize / golden:     {ratio:7.1f}x  "
          f"(target >= 2x: {'met' if ratio >= 2 else 'MISSED'})")
    print(f"golden, loop backend on a raw copy:             {times['loop-raw']:7.2f} s  "
          f"(target < 2 s: {'met' if times['loop-raw'] < 2 else 'MISSED'})")
    print(f"golden, loop backend on the qcow2 (FUSE view):  {times['loop-qcow2']:7.2f} s")


if __name__ == "__main__":
    main()
