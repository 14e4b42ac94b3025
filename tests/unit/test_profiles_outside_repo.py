"""`golden profiles` where no shipped profiles can be found says so instead of printing an empty table."""

from __future__ import annotations


def test_missing_profiles_dir_is_a_clear_error(golden, tmp_path):
    r = golden("profiles", cwd=tmp_path, env={"GOLDEN_HOME": str(tmp_path / "nowhere")})
    assert r.code == 3
    assert "no shipped profiles found" in r.err and str(tmp_path / "nowhere" / "profiles") in r.err
    assert "GOLDEN_HOME" in r.err
    assert "┏" not in r.out and r.out.strip() == ""


def test_empty_profiles_dir(golden, tmp_path):
    (tmp_path / "profiles").mkdir()
    r = golden("profiles", "--json", cwd=tmp_path, env={"GOLDEN_HOME": str(tmp_path)})
    assert r.code == 3 and "has no *.yaml files" in r.err


def test_from_another_folder_the_shipped_profiles_are_listed(golden, tmp_path, monkeypatch):
    monkeypatch.delenv("GOLDEN_HOME", raising=False)
    r = golden("profiles", cwd=tmp_path)
    assert r.code == 0, r.err
    assert "rhel5-fv-kvm" in r.out and "demo" in r.out
