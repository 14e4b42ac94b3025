"""How the reaper undoes each kind of resource a dead golden process left (see builder/owners.py).

Each function returns (gone, acted): gone when the resource no longer exists
(so its record can go), acted when this call removed it. Every check errs on
the side of leaving a thing alone: a loop device now backed by another file,
a pid now running another program, a domain name now on another UUID.

What a record's `data` holds, by kind:
  domain   ident name; uri; data uuid
  mount    ident the mount point
  loop     ident the backing file; data offset, sizelimit, device (once attached)
  process  ident a string unique to its command line (a path in golden's temp folder);
           data exe (program name), pid and start (once spawned), mountpoint (its FUSE export), group
  file     ident the path; data empty_only (a folder golden made: removed only when empty)
  volume   ident the volume's path; uri; data pool, name
  pool     ident the pool name; uri; data uuid
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

log = logging.getLogger("golden.owners")

CONNECT_TIMEOUT = 5.0
STOP_WAIT = 10.0


def undo(rec, live: list) -> tuple[bool, bool]:
    return _UNDO[rec.kind](rec, live)


# ---- libvirt --------------------------------------------------------------------------------

_conns: dict[str, object] = {}


def _connect(uri: str | None):
    """A connection to the record's URI, or None when libvirtd does not answer in time."""
    if not uri:
        return None
    if uri in _conns:
        return _conns[uri]
    box: dict = {}

    def opener():
        try:
            import libvirt
            libvirt.registerErrorHandler(lambda *_: None, None)
            box["conn"] = libvirt.open(uri)
        except Exception as exc:
            box["error"] = exc

    t = threading.Thread(target=opener, name="golden-reap-connect", daemon=True)
    t.start()
    t.join(CONNECT_TIMEOUT)
    conn = box.get("conn")
    if conn is None:
        log.info("reaper: libvirt at %s not reachable (%s); records kept", uri, box.get("error", "timeout"))
    _conns[uri] = conn
    return conn


def close_connections() -> None:
    for conn in _conns.values():
        with contextlib.suppress(Exception):
            conn.close()
    _conns.clear()


def _domain(rec, live):
    import libvirt
    conn = _connect(rec.uri)
    if conn is None:
        return False, False
    want = rec.data.get("uuid")
    try:
        dom = conn.lookupByUUIDString(want) if want else conn.lookupByName(rec.ident)
    except libvirt.libvirtError:
        return True, False              # never defined, or already gone
    if dom.name() != rec.ident:
        return True, False              # that UUID is someone else's domain now
    with contextlib.suppress(libvirt.libvirtError):
        if dom.isActive():
            dom.destroy()
    try:
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    except libvirt.libvirtError:
        dom.undefine()                  # drivers without NVRAM or managed save refuse those flags
    return True, True


def _volume(rec, live):
    import libvirt
    conn = _connect(rec.uri)
    if conn is None:
        return False, False
    try:
        if rec.data.get("pool") and rec.data.get("name"):
            vol = conn.storagePoolLookupByName(rec.data["pool"]).storageVolLookupByName(rec.data["name"])
        else:
            vol = conn.storageVolLookupByPath(rec.ident)
    except libvirt.libvirtError:
        return True, False
    vol.delete(0)
    return True, True


def _pool(rec, live):
    import libvirt
    conn = _connect(rec.uri)
    if conn is None:
        return False, False
    try:
        pool = conn.storagePoolLookupByName(rec.ident)
    except libvirt.libvirtError:
        return True, False
    if rec.data.get("uuid") and pool.UUIDString() != rec.data["uuid"]:
        return True, False
    with contextlib.suppress(libvirt.libvirtError):
        if pool.isActive():
            pool.destroy()
    with contextlib.suppress(libvirt.libvirtError):
        pool.undefine()
    return True, True


# ---- mounts, loop devices, processes ---------------------------------------------------------------

def _mounted(path: str) -> bool:
    from builder.image.host import mounted_paths
    return path in mounted_paths()


def _run(cmd: list[str]) -> bool:
    from builder.image.host import tool
    exe = tool(cmd[0])
    if exe is None:
        return False
    return subprocess.run([exe, *cmd[1:]], capture_output=True, timeout=60).returncode == 0


def _mount(rec, live):
    target = rec.ident
    if not _mounted(target):
        return True, False
    if not _run(["umount", target]):
        _run(["umount", "-l", target])
    return not _mounted(target), True


def _loop_backing(dev: str) -> tuple[str, int] | None:
    sysdir = Path("/sys/block") / Path(dev).name / "loop"
    try:
        backing = (sysdir / "backing_file").read_text().strip()
        offset = int((sysdir / "offset").read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    return backing.removesuffix(" (deleted)"), offset


def _loop(rec, live):
    backing, offset = rec.ident, int(rec.data.get("offset", 0))
    claimed = {r.data.get("device") for r in live if r.kind == "loop"}
    if rec.data.get("device"):
        candidates = [rec.data["device"]]
    else:
        # Killed between losetup and the record update: find it by what it maps.
        candidates = sorted(f"/dev/{p.name}" for p in Path("/sys/block").glob("loop*"))
    acted = False
    for dev in candidates:
        if dev in claimed or _loop_backing(dev) != (backing, offset):
            continue
        _run(["losetup", "--detach", dev])
        acted = True
        if _loop_backing(dev) == (backing, offset):
            return False, True
    return True, acted


def _same_process(pid: int, start, marker: str, exe: str | None) -> bool:
    from builder.owners import proc_cmdline, proc_start
    if start is not None and proc_start(pid) != start:
        return False
    argv = proc_cmdline(pid)
    if not argv or not any(marker in a for a in argv):
        return False
    return exe is None or os.path.basename(argv[0]) == exe


def _find_processes(marker: str, exe: str | None) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and _same_process(int(entry), None, marker, exe):
            out.append(int(entry))
    return out


def _stop(pid: int, group: bool) -> None:
    from builder.owners import proc_start
    start = proc_start(pid)
    for sig, wait in ((signal.SIGTERM, STOP_WAIT), (signal.SIGKILL, STOP_WAIT)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig) if group else os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            now = proc_start(pid)
            if now is None or now != start or _zombie(pid):
                return
            time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2:].startswith("Z")


def _process(rec, live):
    marker, exe = rec.ident, rec.data.get("exe")
    pid = rec.data.get("pid")
    if pid is not None:
        pids = [pid] if _same_process(int(pid), rec.data.get("start"), marker, exe) else []
    else:
        pids = _find_processes(marker, exe)
    for p in pids:
        _stop(int(p), bool(rec.data.get("group")))
    mountpoint = rec.data.get("mountpoint")
    if mountpoint and _mounted(mountpoint):
        # The exporter died without unmounting its FUSE export.
        if not _run(["fusermount3", "-u", "-z", mountpoint]):
            _run(["umount", "-l", mountpoint])
        pids = pids or [0]
    return True, bool(pids)


# ---- files --------------------------------------------------------------------------------------

def _file(rec, live):
    path = Path(rec.ident)
    if not os.path.lexists(path):
        return True, False
    if path.is_dir() and not path.is_symlink():
        from builder.image.host import mounted_paths
        if any(m == str(path) or m.startswith(f"{path}/") for m in mounted_paths()):
            return False, False         # never delete through a mount
        if rec.data.get("empty_only"):
            with contextlib.suppress(OSError):
                path.rmdir()
            return True, not path.exists()
        shutil.rmtree(path)
        return True, True
    path.unlink()
    return True, True


_UNDO = {"domain": _domain, "volume": _volume, "pool": _pool, "mount": _mount, "loop": _loop,
         "process": _process, "file": _file}
