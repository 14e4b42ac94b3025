"""The demo golden image the image benches run on: given with --image, or built with `golden install`.

Built images live in a work directory under /var/tmp (libvirt's qemu user can
enter it); the install's domain is undefined once its disk and XML are copied.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.system.demo_build import derived_profile, undefine, unique_name  # noqa: E402

GOLDEN = Path(sys.executable).parent / "golden"


def golden(*args, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(GOLDEN), *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"golden {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@contextlib.contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="golden-bench-", dir="/var/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        if not keep:
            shutil.rmtree(d, ignore_errors=True)


def demo_image(work: Path, image: str | None) -> tuple[Path, Path | None]:
    """(disk, domain XML) of an installed demo guest, copied into `work`; built when not given."""
    if image:
        src = Path(image).resolve()
        xml = next((p for p in (src.parent / "domain.xml", src.with_suffix(".domain.xml")) if p.is_file()), None)
        return src, xml
    from builder.virt import services
    services.ensure_running()
    name = unique_name("bench-demo")
    build = work / "install"
    profile = derived_profile(build, name)
    print(f"building the demo golden image with `golden install` ({name}) ...", flush=True)
    started = time.monotonic()
    try:
        result = json.loads(golden("install", profile, "--json").stdout)
    finally:
        undefine(name)
    print(f"  installed in {time.monotonic() - started:.0f} s", flush=True)
    return Path(result["disks"][0]), Path(result["domain_xml"])


def timed(cmd: list, env: dict | None = None) -> float:
    """Seconds `cmd` takes; `golden` means this checkout's golden. Stops the bench if it fails."""
    cmd = [str(GOLDEN) if c == "golden" else str(c) for c in cmd]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - started


def copy(src: Path, dst: Path) -> Path:
    subprocess.run(["cp", "--sparse=always", str(src), str(dst)], check=True)
    return dst


def guestfs_env() -> dict:
    from builder.virt import accel
    return {**os.environ, **accel.guestfs_settings()}
