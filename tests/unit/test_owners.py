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


def test_any_command_reaps_a_killed_runs_file_first(tmp_path, golden):
    target = tmp_path / "clone-03.qcow2"
    proc = _child(tmp_path, target)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = golden("validate", "profiles/demo.yaml", env={"GOLDEN_STATE_DIR": str(tmp_path / "state")})
    assert result.code == 0, result.err
    assert f"removed file {target} left by an interrupted golden run (pid {proc.pid})" in result.err
    assert not target.exists()
    again = golden("validate", "profiles/demo.yaml", env={"GOLDEN_STATE_DIR": str(tmp_path / "state")})
    assert "removed" not in again.err              # records dropped: reported once


def test_a_broken_registry_never_fails_the_command(tmp_path, golden):
    state = tmp_path / "state"
    state.mkdir()
    (state / "owners").write_text("not a folder")  # reaping fails; the command must not
    result = golden("validate", "profiles/demo.yaml", env={"GOLDEN_STATE_DIR": str(state)})
    assert result.code == 0, result.err
