"""Plaintext secrets never reach an artifact, `golden show`, or a plan."""

from __future__ import annotations

import json

import pytest

from builder.profile import load, shipped_profiles
from builder.render.kickstart import render
from tests.unit.profile_factory import representative, write

SECRET = "Plaintext-Secret-42!"


@pytest.fixture
def secret_profile(tmp_path, monkeypatch):
    (tmp_path / "root.pass").write_text(SECRET + "\n")
    monkeypatch.setenv("GOLDEN_T_USERPW", SECRET + "-user")
    data = representative("rhel9.6")
    data["kickstart"]["root_password"] = {"file": "root.pass"}
    data["kickstart"]["users"][0]["password"] = {"env": "GOLDEN_T_USERPW"}
    data["customize"] = [{"root_password": {"file": "root.pass"}}]
    return write(tmp_path, data)


def test_kickstart_has_hashes_not_secrets(secret_profile):
    text = render(load(secret_profile)).text
    assert SECRET not in text
    assert "rootpw --iscrypted $6$" in text
    from passlib.hash import sha512_crypt
    rootpw = text.split("rootpw --iscrypted ", 1)[1].split()[0]
    assert sha512_crypt.verify(SECRET, rootpw)


def test_show_and_plan_hide_secrets(secret_profile, golden, tmp_path):
    for args in (["show", secret_profile], ["show", "--json", secret_profile], ["plan", "--json", secret_profile],
                 ["kickstart", secret_profile]):
        result = golden(*args, cwd=tmp_path)
        assert result.code == 0, result.err
        assert SECRET not in result.out + result.err
    shown = json.loads(golden("show", "--json", secret_profile, cwd=tmp_path).out)
    assert shown["kickstart"]["root_password"] == {"file": str(tmp_path / "root.pass")}
    assert shown["kickstart"]["users"][0]["password"] == {"env": "GOLDEN_T_USERPW"}


def test_hash_secret_is_shown_hidden(golden, tmp_path):
    path = write(tmp_path, representative("rhel9.6"))
    shown = json.loads(golden("show", "--json", path, cwd=tmp_path).out)
    assert shown["kickstart"]["root_password"] == {"hash": "<hidden>"}


def test_salt_is_stable_per_profile_and_differs_between_profiles(tmp_path):
    (tmp_path / "pw").write_text(SECRET)
    hashes = []
    for name in ("one", "two"):
        data = representative("rhel9.6", name=name)
        data["kickstart"]["root_password"] = {"file": "pw"}
        path = write(tmp_path, data)
        first = render(load(path)).text
        assert first == render(load(path)).text
        hashes.append(first.split("rootpw --iscrypted ", 1)[1].split()[0])
    assert hashes[0] != hashes[1]


@pytest.mark.parametrize("name", list(shipped_profiles()))
def test_shipped_profiles_show_no_plaintext(name, golden, tmp_path):
    loaded = load(name)
    secret_file = loaded.base_dir / "secrets" / "root.pass"
    plaintext = secret_file.read_text().strip() if secret_file.exists() else None
    result = golden("show", name, cwd=tmp_path)
    assert result.code == 0
    if plaintext:
        assert plaintext not in result.out
        if loaded.profile.kickstart:
            assert plaintext not in render(loaded).text
