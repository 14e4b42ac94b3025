"""A second libvirt daemon on this machine that sees none of golden's local paths.

It stands in for a remote hypervisor host. libvirtd and its own virtlogd run
in a private mount namespace where:

- /etc/libvirt is a fresh copy of the host's *.conf files (no domains,
  networks, pools or hooks), and /run/libvirt, /var/cache/libvirt are empty
  tmpfs, so its state never mixes with the main daemon's;
- /var/lib/libvirt is its own directory (the "remote disk"), laid out like a
  freshly installed host (images/, boot/);
- every directory golden uses locally (the caller's work dirs, golden's cache,
  the checkout) is covered by an empty tmpfs, so an accidental local-path
  shortcut fails there instead of silently working.

It listens on TCP on 127.0.0.1 only, without auth, and is reached as
`qemu+tcp://127.0.0.1:PORT/system`: a URI with a host part, which both golden
and virt-install treat as remote.

Use it as a context manager (`with SecondLibvirtd(base) as remote: remote.uri`)
or `python tests/system/second_libvirtd.py DIR` to poke at it by hand.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

# Host config files the daemons read from /etc/libvirt; everything else (domains,
# networks, pools, secrets, hooks) stays behind.
_CONFIG_FILES = ("libvirt.conf", "qemu.conf", "virtlogd.conf", "virtlockd.conf", "qemu-lockd.conf")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_hidden(extra=()) -> list[Path]:
    """Where golden keeps things locally (plus `extra`): the daemon must see none of it."""
    from builder import paths

    wanted = {Path(p).resolve() for p in (Path("/tmp"), Path("/work"), paths.cache_dir(), paths.home(), *extra)}
    out: list[Path] = []
    for path in sorted(wanted):           # a tmpfs over a parent already hides its children
        if path.is_dir() and not any(parent in out for parent in path.parents):
            out.append(path)
    return out


class SecondLibvirtd:
    def __init__(self, base: Path, hide: list[Path] | None = None, port: int | None = None):
        self.base = Path(base)
        self.hide = [Path(p) for p in (hide if hide is not None else default_hidden())]
        self.port = port or _free_port()
        self.proc: subprocess.Popen | None = None
        # Its own host UUID: otherwise both daemons report this machine's SMBIOS one, and libvirt
        # refuses a migration between them as one "to the same host".
        self.host_uuid = str(uuid.uuid4())

    # --- paths on this side ------------------------------------------------

    @property
    def uri(self) -> str:
        return f"qemu+tcp://127.0.0.1:{self.port}/system"

    @property
    def storage_root(self) -> Path:
        """The daemon's /var/lib/libvirt, as this side sees it (for tests that inspect it)."""
        return self.base / "var-lib-libvirt"

    @property
    def log_dir(self) -> Path:
        return self.base / "log"

    @property
    def config_dir(self) -> Path:
        return self.base / "etc-libvirt"

    # --- start and stop ----------------------------------------------------

    def _prepare(self) -> None:
        for sub in ("qemu/networks/autostart", "storage/autostart", "secrets", "nwfilter"):
            (self.config_dir / sub).mkdir(parents=True, exist_ok=True)
        for name in _CONFIG_FILES:
            src = Path("/etc/libvirt") / name
            if src.is_file():
                shutil.copy2(src, self.config_dir / name)
        (self.config_dir / "libvirtd.conf").write_text(
            'listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "127.0.0.1"\n'
            f'tcp_port = "{self.port}"\nauth_tcp = "none"\n'
            'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n'
            f'host_uuid = "{self.host_uuid}"\n')
        for sub in ("images", "boot", "qemu"):
            (self.storage_root / sub).mkdir(parents=True, exist_ok=True)
        self.storage_root.chmod(0o755)
        for sub in ("images", "boot"):
            (self.storage_root / sub).chmod(0o711)
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def _script(self) -> str:
        q = shlex.quote
        lines = ["set -e",
                 f"mount --bind {q(str(self.config_dir))} /etc/libvirt",
                 f"mount --bind {q(str(self.storage_root))} /var/lib/libvirt",
                 f"mount --bind {q(str(self.log_dir))} /var/log/libvirt",
                 "mkdir -p /var/cache/libvirt /run/libvirt",
                 "mount -t tmpfs -o mode=755 second-libvirtd-run /run/libvirt",
                 "mount -t tmpfs -o mode=711 second-libvirtd-cache /var/cache/libvirt"]
        # Hidden last: the bind mounts above keep their sources reachable.
        for path in self.hide:
            lines.append(f"mount -t tmpfs -o mode=755,size=1m second-libvirtd-hide {q(str(path))}")
        # Pid files default to /run itself, shared with the main daemons.
        lines += ["virtlogd --pid-file /run/libvirt/second-virtlogd.pid &",
                  "exec libvirtd --listen --pid-file /run/libvirt/second-libvirtd.pid"]
        return "\n".join(lines)

    def start(self, timeout: float = 60.0) -> "SecondLibvirtd":
        self._prepare()
        stderr = open(self.log_dir / "namespace.err", "wb")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", self._script()],
            stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, start_new_session=True)
        stderr.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"second libvirtd exited ({self.proc.returncode}): {self._errors()}")
            if self._answers():
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"second libvirtd did not answer on {self.uri} within {timeout:.0f} s: {self._errors()}")

    def _errors(self) -> str:
        out = []
        for name in ("namespace.err", "libvirtd.log"):
            path = self.log_dir / name
            if path.exists():
                out += path.read_text(errors="replace").strip().splitlines()[-5:]
        return " | ".join(out)

    def _answers(self) -> bool:
        import libvirt

        libvirt.registerErrorHandler(lambda *_: None, None)
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError:
            return False
        conn.close()
        return True

    def connect(self):
        import libvirt

        return libvirt.open(self.uri)

    def volumes(self) -> dict[str, set[str]]:
        """Every volume of every active pool, by pool name (refreshed first)."""
        conn = self.connect()
        try:
            out = {}
            for pool in conn.listAllStoragePools(0):
                if pool.isActive():
                    pool.refresh(0)
                    out[pool.name()] = {v.name() for v in pool.listAllVolumes(0)}
            return out
        finally:
            conn.close()

    def domain_names(self) -> set[str]:
        conn = self.connect()
        try:
            return {d.name() for d in conn.listAllDomains(0)}
        finally:
            conn.close()

    def remove_domain(self, name: str) -> None:
        """Destroy and undefine one domain, with the volumes in the `golden` pool named after it."""
        import libvirt

        conn = self.connect()
        try:
            with contextlib.suppress(libvirt.libvirtError):
                dom = conn.lookupByName(name)
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            with contextlib.suppress(libvirt.libvirtError):
                for vol in conn.storagePoolLookupByName("golden").listAllVolumes(0):
                    if vol.name().startswith(name):
                        vol.delete(0)
        finally:
            conn.close()

    def _virtlogd_pid(self) -> int | None:
        if self.proc is None:
            return None
        # The pid file is inside the namespace's /run; /proc/PID/root shows its view.
        with contextlib.suppress(OSError, ValueError):
            return int(Path(f"/proc/{self.proc.pid}/root/run/libvirt/second-virtlogd.pid").read_text())
        return None

    def wipe(self) -> None:
        """Destroy and undefine every domain and delete every volume and pool this daemon has."""
        import libvirt

        conn = self.connect()
        try:
            for dom in conn.listAllDomains(0):
                with contextlib.suppress(libvirt.libvirtError):
                    if dom.isActive():
                        dom.destroy()
                with contextlib.suppress(libvirt.libvirtError):
                    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            for pool in conn.listAllStoragePools(0):
                with contextlib.suppress(libvirt.libvirtError):
                    if pool.isActive():
                        pool.refresh(0)
                        for vol in pool.listAllVolumes(0):
                            with contextlib.suppress(libvirt.libvirtError):
                                vol.delete(0)
                        pool.destroy()
                with contextlib.suppress(libvirt.libvirtError):
                    pool.undefine()
        finally:
            conn.close()

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.wipe()
        logd = self._virtlogd_pid()
        for pid in (self.proc.pid, logd):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if logd:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and Path(f"/proc/{logd}").exists():
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.kill(logd, signal.SIGKILL)
        self.proc = None

    def __enter__(self) -> "SecondLibvirtd":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    base = Path(sys.argv[1] if len(sys.argv) > 1 else "/var/tmp/second-libvirtd")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))    # stop (and wipe) it on kill too
    with SecondLibvirtd(base) as daemon:
        print(daemon.uri, flush=True)
        print(f"storage root on this side: {daemon.storage_root}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
