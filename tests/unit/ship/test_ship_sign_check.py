"""golden sign / golden check with a real gpg key in a throwaway home and a real qcow2."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.ship_fixtures import GpgHome, make_build


@pytest.fixture
def gpghome():
    home = GpgHome()
    yield home
    home.close()


def _flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_signature_is_accepted_by_gpg_and_lists_every_shipped_file(tmp_path, golden, gpghome):
    manifest = make_build(tmp_path)
    run = golden("sign", manifest, "--key", gpghome.fingerprint, "--homedir", gpghome.path, "--json")
    assert run.code == 0, run.err
    sums = tmp_path / "rhel7-golden.SHA256SUMS"
    asc = tmp_path / "rhel7-golden.SHA256SUMS.asc"
    assert json.loads(run.out) == {"sums": str(sums), "signature": str(asc)}
    assert asc.read_text().startswith("-----BEGIN PGP SIGNATURE-----")
    verify = gpghome.gpg("--verify", str(asc), str(sums), check=False)
    assert verify.returncode == 0, verify.stderr
    assert "Good signature" in verify.stderr
    names = sorted(line.split("  ", 1)[1] for line in sums.read_text().splitlines())
    assert names == ["rhel7-golden.domain.xml", "rhel7-golden.manifest.json", "rhel7-golden.qcow2",
                     "rhel7-golden.spdx.json"]
    # sha256sum itself agrees with every line.
    assert subprocess.run(["sha256sum", "-c", sums.name], cwd=tmp_path, capture_output=True).returncode == 0
    run = golden("check", tmp_path / "rhel7-golden.qcow2", "--homedir", gpghome.path)
    assert run.code == 0, run.err
    assert "good signature" in run.out


def test_flipped_byte_in_the_image_is_named_with_both_checksums(tmp_path, golden, gpghome):
    manifest = make_build(tmp_path)
    assert golden("sign", manifest, "--homedir", gpghome.path).code == 0
    image = tmp_path / "rhel7-golden.qcow2"
    expected = json.loads(manifest.read_text())["image"]["sha256"]
    _flip_byte(image, image.stat().st_size - 100)
    actual = subprocess.run(["sha256sum", str(image)], capture_output=True, text=True).stdout.split()[0]
    run = golden("check", image, "--homedir", gpghome.path)
    assert run.code == 2
    assert f"FAILED: rhel7-golden.qcow2: sha256 {actual}, the manifest says {expected}" in run.err
    assert f"FAILED: rhel7-golden.qcow2: sha256 {actual}, rhel7-golden.SHA256SUMS says {expected}" in run.err
    # The signature itself still holds: only the image changed.
    assert "ok: rhel7-golden.SHA256SUMS.asc: good signature" in run.out


def test_tampered_checksum_list_is_a_bad_signature(tmp_path, golden, gpghome):
    manifest = make_build(tmp_path)
    assert golden("sign", manifest, "--homedir", gpghome.path).code == 0
    sums = tmp_path / "rhel7-golden.SHA256SUMS"
    sums.write_text(sums.read_text().replace("rhel7-golden.domain.xml", "rhel7-golden.domain.xml "))
    run = golden("check", manifest, "--homedir", gpghome.path, "--json")
    assert run.code == 2
    failures = json.loads(run.out)["failures"]
    assert any(f.startswith("rhel7-golden.SHA256SUMS.asc: BAD signature") for f in failures), failures


def test_unknown_signer_and_unsigned_image_fail(tmp_path, golden, gpghome):
    manifest = make_build(tmp_path)
    run = golden("check", manifest, "--homedir", gpghome.path)
    assert run.code == 2 and "not signed" in run.err
    assert golden("sign", manifest, "--homedir", gpghome.path).code == 0
    other = GpgHome()
    try:
        run = golden("check", manifest, "--homedir", other.path)
    finally:
        other.close()
    assert run.code == 2
    assert "signed by a key not in the keyring" in run.err


def test_image_that_is_now_raw_fails_the_format_check(tmp_path, golden, gpghome):
    manifest = make_build(tmp_path)
    image = tmp_path / "rhel7-golden.qcow2"
    raw = tmp_path / "x.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
    data = json.loads(manifest.read_text())
    raw.replace(image)
    data["image"]["sha256"] = subprocess.run(["sha256sum", str(image)], capture_output=True,
                                             text=True).stdout.split()[0]
    data["image"]["bytes"] = image.stat().st_size
    manifest.write_text(json.dumps(data))
    run = golden("check", manifest, "--homedir", gpghome.path)
    assert run.code == 2
    assert "rhel7-golden.qcow2: qemu-img reads it as raw, the manifest says qcow2" in run.err


def test_passphrase_comes_from_a_file_and_never_reaches_output(tmp_path, golden):
    home = GpgHome(passphrase="correct horse battery")
    try:
        manifest = make_build(tmp_path / "out")
        secret = tmp_path / "gpg.pass"
        secret.write_text("correct horse battery\n")
        secret.chmod(0o600)
        run = golden("sign", manifest, "--homedir", home.path, "--passphrase-file", secret)
        assert run.code == 0, run.err
        assert "correct horse" not in run.out + run.err
        asc = tmp_path / "out" / "rhel7-golden.SHA256SUMS.asc"
        assert home.gpg("--verify", str(asc), str(tmp_path / "out" / "rhel7-golden.SHA256SUMS"),
                        check=False).returncode == 0
        secret.write_text("wrong\n")
        # gpg-agent caches a good passphrase; a fresh agent must ask again.
        subprocess.run(["gpgconf", "--homedir", str(home.path), "--kill", "gpg-agent"], check=True)
        run = golden("sign", manifest, "--homedir", home.path, "--passphrase-file", secret)
        assert run.code == 2
        assert "passphrase" in run.err and "wrong" not in run.err
    finally:
        home.close()


def test_signing_refuses_an_image_that_changed_since_the_build(tmp_path, golden, gpghome):
    manifest = make_build(tmp_path)
    _flip_byte(tmp_path / "rhel7-golden.qcow2", 70000)
    run = golden("sign", manifest, "--homedir", gpghome.path)
    assert run.code == 2
    assert "rhel7-golden.qcow2 does not match the manifest's sha256" in run.err
    assert not (tmp_path / "rhel7-golden.SHA256SUMS.asc").exists()


def test_unknown_key_is_an_input_error(tmp_path, golden, gpghome):
    manifest = make_build(tmp_path)
    run = golden("sign", manifest, "--key", "nobody@example.invalid", "--homedir", gpghome.path)
    assert run.code == 2
    assert "--key: no secret key nobody@example.invalid" in run.err
    assert not (tmp_path / "rhel7-golden.SHA256SUMS.asc").exists()


def test_check_finds_the_manifest_of_a_name_with_dots(tmp_path, golden, gpghome):
    manifest = make_build(tmp_path, name="rhel7.9-golden")
    assert golden("sign", manifest, "--homedir", gpghome.path).code == 0
    run = golden("check", tmp_path / "rhel7.9-golden.qcow2", "--homedir", gpghome.path, "--json")
    assert run.code == 0, run.out
    assert json.loads(run.out)["manifest"] == str(manifest)
    run = golden("check", tmp_path / "nothing.qcow2", "--homedir", gpghome.path)
    assert run.code == 2 and "nothing.qcow2: no such image or manifest" in run.err


def test_every_format_is_signed_and_a_changed_one_is_named(tmp_path, golden, gpghome):
    manifest = make_build(tmp_path, raw_format=True)
    assert golden("sign", manifest, "--homedir", gpghome.path).code == 0
    assert "rhel7-golden.raw" in (tmp_path / "rhel7-golden.SHA256SUMS").read_text()
    assert golden("check", manifest, "--homedir", gpghome.path).code == 0
    _flip_byte(tmp_path / "rhel7-golden.raw", 10)
    run = golden("check", manifest, "--homedir", gpghome.path)
    assert run.code == 2
    failed = [line for line in run.err.splitlines() if line.startswith("FAILED:")]
    assert failed and all("rhel7-golden.raw: sha256" in line for line in failed), run.err


def test_signature_by_a_key_that_has_since_expired(tmp_path, golden, gpghome):
    import time

    manifest = make_build(tmp_path)
    assert golden("sign", manifest, "--homedir", gpghome.path).code == 0
    gpghome.gpg("--quick-set-expire", gpghome.fingerprint, "seconds=1")
    time.sleep(2)
    run = golden("check", manifest, "--homedir", gpghome.path)
    assert run.code == 2
    assert "signed by an expired key" in run.err


def test_installed_command_exits_2_on_a_tampered_image(tmp_path, gpghome):
    from tests.conftest import golden_bin

    manifest = make_build(tmp_path)
    assert golden_bin("sign", manifest, "--homedir", gpghome.path, timeout=120).code == 0
    _flip_byte(tmp_path / "rhel7-golden.qcow2", 1000)
    run = golden_bin("check", tmp_path / "rhel7-golden.qcow2", "--homedir", gpghome.path, timeout=120)
    assert run.code == 2
    assert "FAILED: rhel7-golden.qcow2: sha256" in run.err and "Traceback" not in run.err
