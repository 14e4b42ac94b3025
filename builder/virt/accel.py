"""Does KVM really work here? Probe it, never assume it.

/dev/kvm can exist while qemu hangs or asserts with it (nested setups, odd
hosts). The probe boots a 512-byte boot sector that writes to qemu's
isa-debug-exit port: qemu exits with a known status only if the guest CPU
really ran. The answer is cached per boot (keyed by the kernel's boot_id).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from builder import paths

# mov al, 1 ; out 0xf4, al ; cli ; hlt ; jmp $-2   -> qemu exits with (1 << 1) | 1 = 3
_BOOT_CODE = bytes([0xB0, 0x01, 0xE6, 0xF4, 0xFA, 0xF4, 0xEB, 0xFD])
_EXPECTED_STATUS = 3
_PROBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class AccelResult:
    accel: str                 # "kvm" or "tcg"
    kvm_usable: bool
    reason: str
    boot_id: str
    probe_seconds: float

    @property
    def virt_type(self) -> str:
        """libvirt domain type / virt-install --virt-type for a KVM/QEMU host."""
        return "kvm" if self.kvm_usable else "qemu"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _qemu() -> str | None:
    return shutil.which("qemu-system-x86_64")


def _kernel() -> Path | None:
    """A Linux kernel to boot for the thorough check (the host's, as bootstrap installs one)."""
    for candidate in sorted(Path("/boot").glob("vmlinuz-*"), reverse=True):
        if os.access(candidate, os.R_OK):
            return candidate
    return None


def _run_probe(qemu: str, accel: str) -> tuple[bool, str]:
    """Two guests: a boot sector (seconds), then a real kernel up to its panic.

    The CPU model matters: hosts exist where `-cpu host` asserts on an MSR
    write and a plain kernel boot hangs with KVM, while a trivial guest on
    the default CPU model runs fine.
    """
    cpu = "host" if accel == "kvm" else "max"
    base = [qemu, "-accel", accel, "-cpu", cpu, "-machine", "pc", "-m", "256", "-display", "none",
            "-nodefaults", "-no-user-config", "-monitor", "none", "-no-reboot"]
    with tempfile.TemporaryDirectory(prefix="golden-accel-") as tmp:
        image = Path(tmp) / "boot.img"
        sector = bytearray(512)
        sector[: len(_BOOT_CODE)] = _BOOT_CODE
        sector[510:512] = b"\x55\xaa"
        image.write_bytes(bytes(sector) + bytes(512 * 7))
        ok, why = _attempt(base + ["-serial", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                                   "-drive", f"file={image},format=raw,if=floppy", "-boot", "a"],
                           accel, lambda rc, out: rc == _EXPECTED_STATUS, "a 512-byte guest")
        if not ok:
            return ok, why
        kernel = _kernel()
        if kernel is None:
            return ok, why
        return _attempt(base + ["-serial", "stdio", "-kernel", str(kernel),
                                "-append", "console=ttyS0 panic=-1 rdinit=/golden-no-init init=/golden-no-init"],
                        accel, lambda rc, out: "Kernel panic" in out, f"a Linux kernel ({kernel.name})")


def _attempt(cmd: list[str], accel: str, good, what: str) -> tuple[bool, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=_PROBE_TIMEOUT, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        return False, f"qemu -accel {accel} did not finish {what} within {_PROBE_TIMEOUT:.0f} s"
    if good(proc.returncode, proc.stdout):
        return True, f"qemu -accel {accel} ran {what}"
    err = [line for line in (proc.stderr or "").strip().splitlines() if line.strip()]
    return False, f"qemu -accel {accel} failed on {what} (exit {proc.returncode}): {err[-1] if err else 'no message'}"


def probe(force: bool = False) -> AccelResult:
    """Probe (or read the per-boot cache). GOLDEN_ACCEL=kvm|tcg overrides for testing."""
    override = os.environ.get("GOLDEN_ACCEL")
    boot_id = _boot_id()
    if override in ("kvm", "tcg"):
        return AccelResult(override, override == "kvm", "GOLDEN_ACCEL is set", boot_id, 0.0)
    cache = paths.cache_dir() / "accel.json"
    if not force and cache.exists():
        try:
            data = json.loads(cache.read_text())
            if data.get("boot_id") == boot_id:
                return AccelResult(**data)
        except (ValueError, TypeError):
            pass
    started = time.monotonic()
    qemu = _qemu()
    if qemu is None:
        result = AccelResult("tcg", False, "qemu-system-x86_64 is not installed", boot_id, 0.0)
    elif not os.path.exists("/dev/kvm"):
        result = AccelResult("tcg", False, "/dev/kvm does not exist", boot_id, 0.0)
    elif not os.access("/dev/kvm", os.R_OK | os.W_OK):
        result = AccelResult("tcg", False, "/dev/kvm is not accessible to this user", boot_id, 0.0)
    else:
        ok, reason = _run_probe(qemu, "kvm")
        result = AccelResult("kvm" if ok else "tcg", ok, reason, boot_id,
                             round(time.monotonic() - started, 2))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(result)))
        os.replace(tmp, cache)
    except OSError:
        pass
    return result


def domain_type(hypervisor: str, target_probe: Callable[[], str] | None = None) -> str:
    """The libvirt domain type an install uses, decided here only: `xen` for a Xen profile, else what
    the target's KVM probe says (`kvm` or `qemu`). `target_probe` answers for a remote host."""
    if hypervisor == "xen":
        return "xen"
    return target_probe() if target_probe is not None else probe().virt_type


def probe_tcg() -> tuple[bool, str]:
    """The same test guest under TCG: proves the probe itself works on this host."""
    qemu = _qemu()
    if qemu is None:
        return False, "qemu-system-x86_64 is not installed"
    return _run_probe(qemu, "tcg")


def guestfs_settings(result: AccelResult | None = None) -> dict[str, str]:
    """Environment for libguestfs: direct backend, TCG unless KVM really works."""
    env = {}
    if os.environ.get("LIBGUESTFS_BACKEND"):
        env["LIBGUESTFS_BACKEND"] = os.environ["LIBGUESTFS_BACKEND"]
    else:
        env["LIBGUESTFS_BACKEND"] = "direct"
    if os.environ.get("LIBGUESTFS_BACKEND_SETTINGS"):
        env["LIBGUESTFS_BACKEND_SETTINGS"] = os.environ["LIBGUESTFS_BACKEND_SETTINGS"]
    else:
        result = result or probe()
        env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_kvm" if result.kvm_usable else "force_tcg"
    return env
