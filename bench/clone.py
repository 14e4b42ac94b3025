"""How fast does golden stamp out N guests with a fresh identity, against virt-clone + virt-sysprep?

On a sealed copy of the demo golden image, side by side in one run:

* `golden clone --count N --linked`: N qcow2 overlays, hostname, MAC and
  identity set inside each (loop mounts, or one guestfs appliance for all N
  with --backend guestfs), N domains defined;
* what users do today for the same result: per clone, `virt-clone` (a full
  copy and a defined domain) then `virt-sysprep --hostname` (one appliance
  launch each);
* `golden clone --count 1`, so the cost of each extra clone shows.

Target: at least 10x faster at N=10, and golden's time grows by milliseconds,
not seconds, per extra clone. Every domain, disk and storage pool the bench
makes is removed at the end.

    .venv/bin/python bench/clone.py [--n 10] [--image DISK] [--baseline-n K] [--keep]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from demoimage import copy, demo_image, golden, guestfs_env, timed, undefine, unique_name, workdir
from lxml import etree

from builder.clone.domainxml import parse

URI = "qemu:///system"


def golden_clone(gold: Path, prefix: str, n: int, out: Path, backend: str, made: list[str]) -> float:
    names = [f"{prefix}-{i}" for i in range(1, n + 1)]
    made.extend(names)
    started = time.perf_counter()
    golden("clone", gold, "--name", f"{prefix}-{{n}}", "--count", n, "--linked", "--dir", out,
           "--backend", backend, "--json")
    return time.perf_counter() - started


def baseline(gold_xml: Path, prefix: str, n: int, out: Path, made: list[str]) -> float:
    env = guestfs_env()
    total = 0.0
    for i in range(1, n + 1):
        name = f"{prefix}-{i}"
        disk = out / f"{name}.qcow2"
        made.append(name)
        total += timed(["virt-clone", "--connect", URI, "--original-xml", gold_xml, "--name", name,
                        "--file", disk, "--check", "disk_size=off"])
        total += timed(["virt-sysprep", "-a", disk, "--hostname", name, "--quiet"], env=env)
        print(f"  virt-clone + virt-sysprep {name}: {total / i:.1f} s per clone so far", flush=True)
    return total


def drop_pools(work: Path) -> None:
    """virt-clone makes a storage pool for every folder it writes to: remove the bench's."""
    import libvirt
    conn = libvirt.open(URI)
    try:
        for pool in conn.listAllStoragePools(0):
            target = parse(pool.XMLDesc(0)).findtext("./target/path") or ""
            if target.startswith(str(work)):
                if pool.isActive():
                    pool.destroy()
                pool.undefine()
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10, help="clones per batch (default 10)")
    ap.add_argument("--image", help="an installed demo disk to use instead of running `golden install`")
    ap.add_argument("--baseline-n", type=int, help="run virt-clone + virt-sysprep for this many clones only "
                                                   "and scale to N (each takes about a minute under TCG)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    made: list[str] = []
    with workdir(args.keep) as work:
        try:
            src, xml = demo_image(work, args.image)
            if xml is None:
                raise SystemExit(f"no domain XML beside {src} (domain.xml or NAME.domain.xml): virt-clone needs one")
            gold = copy(src, work / "gold.qcow2")
            template = parse(xml.read_bytes())
            template.find("./devices/disk/source").set("file", str(gold))
            gold_xml = work / "gold.domain.xml"
            gold_xml.write_bytes(etree.tostring(template))
            golden("seal", gold)
            tag = unique_name("bench")
            out = work / "clones"
            out.mkdir()
            # Warm-up, untimed: the page cache, and golden's cache of the image's checksum (which a
            # published image has in its manifest).
            golden_clone(gold, f"{tag}-warm", 1, out, "auto", made)
            one = golden_clone(gold, f"{tag}-one", 1, out, "auto", made)
            loop = golden_clone(gold, f"{tag}-loop", args.n, out, "auto", made)
            gfs = golden_clone(gold, f"{tag}-gfs", args.n, out, "guestfs", made)
            k = min(args.baseline_n or args.n, args.n)
            base = baseline(gold_xml, f"{tag}-vc", k, out, made) * args.n / k
        finally:
            for name in made:
                undefine(name)
            drop_pools(work)
    per_clone = (loop - one) / max(1, args.n - 1)
    ratio = base / loop
    scaled = f" (measured on {k}, scaled to {args.n})" if k != args.n else ""
    print()
    print(f"golden clone, N=1 (loop mounts):             {one:8.2f} s")
    print(f"golden clone, N={args.n} (loop mounts):            {loop:8.2f} s")
    print(f"golden clone, N={args.n} (one guestfs appliance):  {gfs:8.2f} s")
    print(f"golden cost per extra clone:                  {per_clone * 1000:8.0f} ms  "
          f"(target: milliseconds, not seconds: {'met' if per_clone < 1 else 'MISSED'})")
    print(f"virt-clone + virt-sysprep, N={args.n}:             {base:8.2f} s{scaled}")
    print(f"ratio virt-clone+virt-sysprep / golden:       {ratio:8.1f}x  "
          f"(target >= 10x: {'met' if ratio >= 10 else 'MISSED'})")
    print(f"ratio virt-clone+virt-sysprep / golden (guestfs): {base / gfs:4.1f}x")


if __name__ == "__main__":
    main()
