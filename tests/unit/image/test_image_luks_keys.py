"""--key SELECTOR: virt-tools' forms, key files under the secret-file rules, and no passphrase in any message."""

from __future__ import annotations

import pytest

from builder.errors import InputError
from builder.image.luks import keys_for, parse_key, parse_keys
from tests.conftest import golden_bin

UUID = "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"


def test_key_forms():
    k = parse_key("/dev/sda2:key:pa:ss word")          # the passphrase is everything after key:
    assert (k.selector, k.source, k.secret) == ("/dev/sda2", "key", "pa:ss word")
    assert parse_key(f"{UUID}:key:x").selector == UUID.lower()
    assert parse_key("all:key:x").selector == "all"


def test_key_file_is_its_first_line(tmp_path):
    f = tmp_path / "pass"
    f.write_text("from a file\n")
    k = parse_key(f"/dev/sda2:file:{f}")
    assert (k.secret, k.source) == ("from a file", f"file:{f}")


@pytest.mark.parametrize("value, said", [
    ("/dev/sda2", "a key selector is"),
    ("/dev/sda2:pass:x", "a key selector is"),
    (":key:x", "a key selector is"),
    ("sda2:key:x", "is not all, a device like /dev/sda2 or a LUKS UUID"),
    ("/dev/sda2:key:", "gives no passphrase"),
    ("all:file:", "gives no file name"),
])
def test_bad_selectors_are_refused(value, said):
    with pytest.raises(InputError) as e:
        parse_key(value)
    assert e.value.where == "--key" and said in e.value.message and e.value.exit_code == 2


def test_key_file_rules(tmp_path):
    big = tmp_path / "big"
    big.write_text("x" * 100_000)
    for path, said in ((tmp_path / "missing", "does not exist"), (tmp_path, "not a regular file"),
                       (big, "at most"), ("/etc/shadow", "system files")):
        with pytest.raises(InputError) as e:
            parse_key(f"all:file:{path}")
        assert e.value.where == "--key" and said in e.value.message, e.value.message
    two = tmp_path / "two"
    two.write_text("first secret\nsecond secret\n")
    with pytest.raises(InputError) as e:
        parse_key(f"all:file:{two}")
    assert "more than one line" in e.value.message and "first secret" not in str(e.value)   # never quoted


def test_passphrase_is_not_in_the_repr():
    assert "hunter2" not in repr(parse_key("/dev/sda2:key:hunter2"))
    assert "hunter2" not in repr(parse_keys(["all:key:hunter2"]))


def test_keys_for_prefers_the_named_container():
    keys = parse_keys(["all:key:a", "/dev/sda3:key:b", f"{UUID}:key:c", "/dev/sda2:key:d"])
    assert [k.secret for k in keys_for(keys, "/dev/sda2", UUID)] == ["c", "d", "a"]
    assert [k.secret for k in keys_for(keys, "/dev/sda5", "")] == ["a"]
    assert keys_for(parse_keys(["/dev/sda3:key:b"]), "/dev/sda2", UUID) == []


def test_cli_refuses_a_bad_selector_before_opening_anything(tmp_path):
    disk = tmp_path / "none.raw"
    for cmd in (["inspect"], ["seal"], ["customize", "--hostname", "h"]):
        run = golden_bin(*cmd, disk, "--key", "/dev/sda2:secret-word:hunter2")
        assert run.code == 2, (cmd, run.err)
        assert "--key" in run.err and "hunter2" not in run.err + run.out, run.err


def test_cli_key_with_the_loop_backend_is_refused(tmp_path):
    disk = tmp_path / "d.raw"
    disk.write_bytes(b"\0" * 1024 * 1024)
    run = golden_bin("inspect", disk, "--backend", "loop", "--key", "all:key:hunter2")
    assert run.code == 2 and "--backend guestfs" in run.err and "hunter2" not in run.err + run.out, run.err
