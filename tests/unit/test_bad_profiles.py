"""The bad-profile corpus: every file must fail cleanly, naming file and field."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import golden_bin, snapshot

CORPUS = Path(__file__).resolve().parent.parent / "bad_profiles"
CASES = sorted(CORPUS.glob("*.yaml"))


def _expectations(path: Path) -> tuple[str, str]:
    text = path.read_text()
    field = re.search(r"^# expect-field: ?(.*)$", text, re.M).group(1).strip()
    message = re.search(r"^# expect-message: ?(.*)$", text, re.M).group(1).strip()
    return field, message


def test_corpus_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_profile_fails_cleanly(path, golden, tmp_path, monkeypatch):
    monkeypatch.delenv("GOLDEN_TEST_SURELY_UNSET", raising=False)
    work = tmp_path / "work"
    shutil.copytree(CORPUS, work)
    before = snapshot(tmp_path)
    result = golden("validate", work / path.name, cwd=tmp_path)
    field, message = _expectations(path)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    first = result.err.splitlines()[0]
    assert first.startswith("error: "), result.err
    # the file that holds the bad value is named (for extends cycles, one of the cycle)
    assert re.search(r"work/[\w.-]+\.yaml", result.err), result.err
    if field:
        assert f" {field}: " in result.err or f" {field} " in result.err or result.err.count(field), result.err
    if message:
        assert message in result.err, result.err
    assert snapshot(tmp_path) == before, "a failed validate must not write anything"


def test_errors_carry_line_numbers(golden, tmp_path):
    result = golden("validate", CORPUS / "unknown-nested-key.yaml", cwd=tmp_path)
    assert re.search(r"unknown-nested-key\.yaml:\d+: machine\.memroy: unknown key 'memroy'", result.err), result.err
    assert "hint: did you mean 'memory'?" in result.err


def test_value_from_base_profile_is_blamed_on_the_base(golden, tmp_path):
    (tmp_path / "base.yaml").write_text("machine: {memory: 32}\n")
    (tmp_path / "child.yaml").write_text(
        "name: child\nextends: base\nos: demo\ninstall: {method: location, media: demo}\n"
        "kickstart:\n  root_password: {hash: '$6$abcdefgh$abcdefghijklmnopqrstuv'}\n")
    result = golden("validate", tmp_path / "child.yaml", cwd=tmp_path)
    assert result.code == 2
    assert "base.yaml:1: machine.memory" in result.err, result.err


def test_real_binary_exit_code_and_no_traceback(tmp_path):
    result = golden_bin("validate", CORPUS / "pv-on-kvm.yaml", cwd=tmp_path)
    assert result.code == 2
    assert "Traceback" not in result.err
    assert result.err.startswith("error: ")
    assert "virt: para-virtualization exists only on Xen" in result.err


def test_debug_shows_traceback(tmp_path):
    result = golden_bin("--debug", "validate", CORPUS / "unknown-os.yaml", cwd=tmp_path)
    assert result.code == 2
    assert "Traceback" in result.err


def test_unknown_profile_name_suggests(golden, tmp_path):
    result = golden("validate", "rhel5-fv-kvmm", cwd=tmp_path)
    assert result.code == 2
    assert "profile 'rhel5-fv-kvmm' not found" in result.err
    assert "did you mean rhel5-fv-kvm" in result.err
