"""The owner registry: a SIGKILLed owner's resources are reaped, a live owner's are not."""

import os
import signal
import subprocess
import sys

from builder import owners


def _child(tmp_path, target):
    code = ("import sys, time; from builder import owners; "
            "owners.register('file', sys.argv[1]); open(sys.argv[1], 'w').write('x'); "
            "print('ready', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "GOLDEN_STATE_DIR": str(tmp_path / "state")})
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_killed_owner_file_is_reaped(tmp_path, monkeypatch):
    monkeypatch.setenv("GOLDEN_STATE_DIR", str(tmp_path / "state"))
    target = tmp_path / "leftover.qcow2"
    proc = _child(tmp_path, target)
    assert owners.reap() == []                 # owner alive: untouched
    assert target.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = owners.reap()
    assert [(r.kind, r.ident, r.pid) for r in done] == [("file", str(target), proc.pid)]
    assert not target.exists()
    assert owners.records() == []


def test_reused_pid_is_caught_by_start_time(tmp_path, monkeypatch):
    monkeypatch.setenv("GOLDEN_STATE_DIR", str(tmp_path / "state"))
    target = tmp_path / "f"
    target.write_text("x")
    rec = owners.register("file", target)
    rec.start = (rec.start or 0) + 1           # this pid now "started at another time"
    rec.update()
    assert len(owners.reap()) == 1 and not target.exists()
