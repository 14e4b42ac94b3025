"""The stages of a demo install on this machine, and the same install by plain virt-install.

    .venv/bin/python bench/install.py [--runs N] [--connect URI]

Stages, in seconds (median of --runs):

  media build      the demo install media built from scratch into a temp folder
                   (what the first `golden install demo` on a machine pays), and
                   the cached look-up every later install pays
  prepare          golden's preflight, plan, kickstart and inputs
  define + start   virt-install defining and starting the domain
  install          the installer running until the guest powers itself off
                   (golden's watchdog, 1 s polls)
  first boot       an overlay of the installed disk booted to its
                   `golden-identity` line on the serial console

Side by side, in the same run and alternating with golden: plain
`virt-install ... --wait -1` with the very argv golden would use (from its
plan, for a profile of another name), which waits for the same power-off.
The ratio golden / virt-install covers define + start + install; golden adds
its preflight and watchdog, virt-install has no hang detection at all.

Needs root, libvirtd and qemu (TCG here). Every domain, disk and storage
pool it makes is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from xml.etree import ElementTree as ET

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "system"))     # the boot helper lives with the system tests

import yaml  # noqa: E402

from builder.cli.render import plan_for  # noqa: E402
from builder.demo.media import build_demo_media, build_into  # noqa: E402
from builder.profile import load  # noqa: E402
from builder.virt import services  # noqa: E402
from builder.virt.install import install  # noqa: E402
from demo_boot import boot_identity, overlay  # noqa: E402
from demo_build import undefine  # noqa: E402


def profile(work: Path, name: str) -> Path:
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"extends": "demo", "name": name, "output": {"dir": str(work)}}))
    return path


def drop_pools_under(conn, work: Path, before: set[str]) -> None:
    """virt-install defines an autostarted pool for each folder it puts a disk in."""
    for pool in conn.listAllStoragePools(0):
        if pool.name() in before:
            continue
        path = ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") or ""
        if path and (Path(path) == work or work in Path(path).parents):
            if pool.isActive():
                pool.destroy()
            pool.undefine()


def media_build(work: Path) -> float:
    target = work / "media"
    target.mkdir()
    t = time.perf_counter()
    build_into(target)
    return time.perf_counter() - t


def golden_install(work: Path, name: str, uri: str) -> dict[str, float]:
    marks: dict[str, float] = {}

    def on_event(message: str) -> None:
        if message.startswith("defining"):
            marks.setdefault("define", time.perf_counter())

    def on_progress(snapshot) -> None:
        marks.setdefault("running", time.perf_counter())

    start = time.perf_counter()
    result = install(load(str(profile(work, name))), connect=uri, on_event=on_event, on_progress=on_progress)
    end = time.perf_counter()
    running = marks.get("running", end - result.elapsed)
    boot_work = work / f"{name}.boot"
    boot_work.mkdir()
    ov = overlay(Path(result.disks[0]), boot_work / "boot.qcow2")
    boot = boot_identity(Path(result.domain_xml).read_text(), ov, name=f"{name}-boot", serial=boot_work / "boot.log",
                         uri=uri)
    if not boot.identity:
        raise SystemExit(f"{name}: no identity line at first boot:\n" + "\n".join(boot.lines[-10:]))
    return {"prepare": marks["define"] - start, "define + start": running - marks["define"],
            "install": end - running, "first boot": boot.seconds, "golden total": end - start}


def virt_install(work: Path, name: str, uri: str) -> float:
    plan = plan_for(load(str(profile(work, name))), connect=uri)
    plan.layout.build_dir.mkdir(parents=True)
    plan.layout.kickstart.write_bytes(plan.kickstart.data)
    argv = plan.virt_install + ["--wait", "-1"]
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1800)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1, help="installs per contender (each ~20-60 s under TCG)")
    ap.add_argument("--connect", default="qemu:///system")
    opts = ap.parse_args()

    import libvirt
    libvirt.registerErrorHandler(lambda *_: None, None)
    services.ensure_running()
    work = Path(tempfile.mkdtemp(prefix="golden-bench-install-", dir="/var/tmp"))
    work.chmod(0o711)                  # libvirt's qemu user must reach the disks
    conn = libvirt.open(opts.connect)
    pools = {p.name() for p in conn.listAllStoragePools(0)}
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:4]}"
    names: list[str] = []
    try:
        cold = media_build(work)
        build_demo_media()             # the cache every install uses; untimed if it is already there
        t = time.perf_counter()
        build_demo_media()
        cached = time.perf_counter() - t
        golden_runs, plain_runs = [], []
        for i in range(opts.runs):
            names.append(f"bench-golden-{tag}-{i}")
            golden_runs.append(golden_install(work, names[-1], opts.connect))
            names.append(f"bench-virtinst-{tag}-{i}")
            plain_runs.append(virt_install(work, names[-1], opts.connect))
    finally:
        for name in names:
            undefine(name, conn.getURI())
        drop_pools_under(conn, work, pools)
        conn.close()
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(r[k] for r in golden_runs) for k in golden_runs[0]}
    plain = statistics.median(plain_runs)
    golden_install_s = med["define + start"] + med["install"]
    from builder.virt import accel
    print(f"demo install, {accel.probe().accel.upper()}, {os.cpu_count()} cores, "
          f"median of {opts.runs} run(s) (seconds):")
    print(f"  media build (cold)                {cold:7.2f}")
    print(f"  media look-up (cached)            {cached:7.3f}")
    print(f"  golden: prepare                   {med['prepare']:7.2f}")
    print(f"  golden: define + start            {med['define + start']:7.2f}")
    print(f"  golden: install to power-off      {med['install']:7.2f}")
    print(f"  golden: first boot to identity    {med['first boot']:7.2f}")
    print(f"  golden install, whole command     {med['golden total']:7.2f}")
    print(f"  plain virt-install --wait -1      {plain:7.2f}   runs: {', '.join(f'{x:.1f}' for x in plain_runs)}")
    print(f"ratio golden (define + install) / virt-install: {golden_install_s / plain:.2f}x"
          f"   (whole golden command / virt-install: {med['golden total'] / plain:.2f}x)")
    print("fairness: same argv (golden's plan), same cached media, same machine, runs alternate; "
          "virt-install polls the domain state itself (--wait), golden's watchdog polls once a second "
          "and also watches the console and disk writes.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
