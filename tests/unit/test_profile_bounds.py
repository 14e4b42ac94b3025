"""Profile loading is bounded: big, deep, aliased or binary input fails fast with a short, clean error."""

from __future__ import annotations

import os
import time

import pytest
import yaml

from tests.unit.profile_factory import representative, write

CANARY = "CANARY-bounds-5d1e"


def _profile(tmp_path, **changes) -> dict:
    data = representative("rhel9.6")
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
        node[int(last) if last.isdigit() else last] = value
    return data


def _validate(golden, tmp_path, path):
    started = time.monotonic()
    result = golden("validate", path, cwd=tmp_path)
    assert time.monotonic() - started < 5, "validate took too long"
    assert "Traceback" not in result.err
    return result


def test_837_byte_alias_bomb_is_refused_before_it_expands(golden, tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    text = "\n".join(lines) + "\nname: bomb\nos: rhel9.6\n"
    assert len(text) < 900
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    result = _validate(golden, tmp_path, path)
    assert result.code == 2
    assert "bomb.yaml:1: aliases expand to more than 10000 values" in result.err, result.err


def test_recursive_alias_is_refused(golden, tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("name: loop\nos: rhel9.6\nseal: &s {skip: [*s]}\n")
    result = _validate(golden, tmp_path, path)
    assert result.code == 2 and "aliases expand" in result.err, result.err


def test_small_aliases_still_work(golden, tmp_path):
    data = _profile(tmp_path)
    text = yaml.safe_dump(data, sort_keys=False)
    text = text.replace("timezone: Europe/Paris", "timezone: &tz Europe/Paris", 1) + "customize:\n- timezone: *tz\n"
    assert "&tz" in text
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    result = _validate(golden, tmp_path, path)
    assert result.code == 0, result.err


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_deep_nesting_names_file_and_line(golden, tmp_path, opener, closer):
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nos: rhel9.6\ndescription: " + opener * 10000 + "1" * (opener == "{a: ")
                    + closer * 10000 + "\n")
    result = _validate(golden, tmp_path, path)
    assert result.code == 2
    assert "deep.yaml:3: nested deeper than 32 levels" in result.err, result.err


def test_5000_digit_integer(golden, tmp_path):
    path = write(tmp_path, _profile(tmp_path, **{"machine.memory": 1234}))
    path.write_text(path.read_text().replace("1234", "9" * 5000))
    result = _validate(golden, tmp_path, path)
    assert result.code == 2
    assert "a number of 5000 digits is past any field's range" in result.err
    assert len(result.err) < 500


def test_file_too_large(golden, tmp_path):
    path = write(tmp_path, _profile(tmp_path))
    with open(path, "a") as handle:
        handle.write("# padding\n" * 30000)
    result = _validate(golden, tmp_path, path)
    assert result.code == 2 and "larger than 256 KiB" in result.err, result.err


@pytest.mark.parametrize("junk,message", [(b"\xff\xfe", "not UTF-8 text"), (b"\x00", "holds a NUL byte")])
def test_binary_profile(golden, tmp_path, junk, message):
    path = write(tmp_path, _profile(tmp_path))
    raw = path.read_bytes()
    path.write_bytes(raw[:40] + junk + raw[40:])
    result = _validate(golden, tmp_path, path)
    assert result.code == 2
    line = raw[:40].count(b"\n") + 1
    assert f"{path.name}:{line}: {message}" in result.err, result.err


@pytest.mark.parametrize("field,value,message", [
    ("kickstart.timezone", "x" * 100_000, "longer than the 65536"),
    ("kickstart.timezone", "Mars/Olympus_Mons", "not a valid time zone in the tz database"),
    ("kickstart.timezone", "europe/paris", "did you mean Europe/Paris?"),
    ("disks.0.size", 2 ** 63, "past the largest size golden accepts"),
    ("disks.0.size", "100000T", "past the largest size golden accepts"),
    ("machine.memory", 2 ** 40, "less than or equal to 4194304"),
    ("machine.vcpus", 100000, "less than or equal to 255"),
    ("install.timeout", "9999h", "longer than a week"),
    ("kickstart.network.hostname", "h" * 2000, "at most 1024 characters"),
    ("kickstart.partitioning", {"scheme": "custom", "parts": [{"mount": "/", "size": 2 ** 40}]}, "less than or equal"),
])
def test_field_ranges(golden, tmp_path, field, value, message):
    result = _validate(golden, tmp_path, write(tmp_path, _profile(tmp_path, **{field: value})))
    assert result.code == 2
    assert message in result.err, result.err
    assert len(result.err) < 1000, "an error quotes a short excerpt, not the value"


def test_long_bad_value_is_quoted_as_an_excerpt(golden, tmp_path):
    result = _validate(golden, tmp_path, write(tmp_path, _profile(tmp_path, **{"kickstart.keyboard": "k;" * 400})))
    assert result.code == 2
    assert "…(800 chars)" in result.err, result.err
    assert "k;" * 30 not in result.err


def test_real_time_zones_pass(golden, tmp_path):
    for zone in ("UTC", "America/New_York", "Asia/Kolkata", "America/Argentina/Buenos_Aires"):
        result = _validate(golden, tmp_path, write(tmp_path, _profile(tmp_path, **{"kickstart.timezone": zone})))
        assert result.code == 0, result.err


# --- files a profile points at -------------------------------------------------

@pytest.mark.parametrize("content,message", [
    (b"\x00\x01" + CANARY.encode(), "is binary"),
    (CANARY.encode() * 1000, "at most 4096 are accepted"),
    (f"one\n{CANARY}\n".encode(), "more than one line"),
    (("p\xe4ss" + CANARY).encode("latin-1"), "not UTF-8 text"),
])
def test_secret_file_must_be_one_short_text_line(golden, tmp_path, content, message):
    (tmp_path / "pw").write_bytes(content)
    path = write(tmp_path, _profile(tmp_path, **{"kickstart.root_password": {"file": "pw"}}))
    for command in ("validate", "kickstart"):
        result = golden(command, path, cwd=tmp_path)
        assert result.code == 2, result.err
        assert message in result.err and "kickstart.root_password" in result.err, result.err
        assert CANARY not in result.out + result.err


def test_secret_file_with_trailing_newline_is_fine(golden, tmp_path):
    (tmp_path / "pw").write_text("s3cret-value\n")
    path = write(tmp_path, _profile(tmp_path, **{"kickstart.root_password": {"file": "pw"}}))
    result = golden("kickstart", path, cwd=tmp_path)
    assert result.code == 0, result.err
    assert "rootpw --iscrypted $6$" in result.out and "s3cret-value" not in result.out


@pytest.mark.parametrize("target", ["/etc/shadow", "/etc/passwd", "/proc/self/environ", "/dev/zero", "link"])
def test_secret_file_in_system_trees_is_refused(golden, tmp_path, target):
    if target == "link":
        os.symlink("/etc/passwd", tmp_path / "innocent.pass")
        target = str(tmp_path / "innocent.pass")
    path = write(tmp_path, _profile(tmp_path, **{"kickstart.root_password": {"file": target}}))
    result = golden("kickstart", path, cwd=tmp_path)
    assert result.code == 2, result.out
    assert "is in the host's system files" in result.err, result.err
    assert "root:" not in result.out + result.err


@pytest.mark.parametrize("target", ["/etc/shadow", "/dev/null"])
def test_template_in_system_trees_is_refused_without_quoting_it(golden, tmp_path, target):
    path = write(tmp_path, _profile(tmp_path, **{"kickstart.template": target}))
    result = golden("kickstart", path, cwd=tmp_path)
    assert result.code == 2
    assert "kickstart.template: kickstart template" in result.err and "system files" in result.err, result.err
    assert "root:" not in result.err


def test_template_syntax_error_gives_line_not_content(golden, tmp_path):
    (tmp_path / "my.ks.j2").write_text("{% extends 'kickstart.ks.j2' %}\n{% " + CANARY + " %}\n")
    path = write(tmp_path, _profile(tmp_path, **{"kickstart.template": "my.ks.j2"}))
    result = golden("validate", path, cwd=tmp_path)
    assert result.code == 2
    assert "my.ks.j2 line 2:" in result.err, result.err
    assert CANARY not in result.err


def test_valid_template_still_renders(golden, tmp_path):
    (tmp_path / "my.ks.j2").write_text("{% extends 'kickstart.ks.j2' %}\n{# " + CANARY + " #}\n")
    path = write(tmp_path, _profile(tmp_path, **{"kickstart.template": "my.ks.j2"}))
    result = golden("kickstart", path, cwd=tmp_path)
    assert result.code == 0, result.err
    assert "rootpw" in result.out and CANARY not in result.out


def test_extends_must_be_a_profile_file(golden, tmp_path):
    (tmp_path / "notes.txt").write_text(f"root:{CANARY}:1:2\n")
    for target in ("notes.txt", "/etc/shadow"):
        path = write(tmp_path, {**_profile(tmp_path), "extends": target})
        result = golden("validate", path, cwd=tmp_path)
        assert result.code == 2
        assert "is not a profile (a .yaml file)" in result.err, result.err
        assert CANARY not in result.err and "root:" not in result.err


def test_many_problems_are_capped(golden, tmp_path):
    result = _validate(golden, tmp_path, write(tmp_path, _profile(
        tmp_path, **{"kickstart.packages": [f"bad;pkg{i}" for i in range(300)]})))
    assert result.code == 2
    assert "... and 280 more problems" in result.err, result.err
    assert len(result.err.splitlines()) < 30


def test_child_secret_reference_replaces_the_base_one(golden, tmp_path):
    (tmp_path / "root.pass").write_text("from-a-file\n")
    base = _profile(tmp_path, **{"kickstart.root_password": {"file": "root.pass"}})
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    child = tmp_path / "child.yaml"
    child.write_text("name: child\nextends: base\nkickstart: {root_password: {env: GOLDEN_T_BOUNDS_PW}}\n")
    result = golden("validate", child, cwd=tmp_path, env={"GOLDEN_T_BOUNDS_PW": "from-env"})
    assert result.code == 0, result.err
    result = golden("validate", child, cwd=tmp_path, env={"GOLDEN_T_BOUNDS_PW": ""})
    assert result.code == 2 and "GOLDEN_T_BOUNDS_PW is not set" in result.err, result.err


def test_bad_secret_reference_gives_one_error(golden, tmp_path):
    path = write(tmp_path, _profile(tmp_path, **{"kickstart.root_password": {"env": "1x"}}))
    result = golden("validate", path, cwd=tmp_path)
    assert result.code == 2
    assert result.err.count("error:") == 1, result.err
    assert "kickstart.root_password.env: '1x' is not an environment variable name" in result.err
