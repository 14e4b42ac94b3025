"""golden publish to a directory: the files, the checksum list, and an index of every image there."""

from __future__ import annotations

import json
import subprocess
from html.parser import HTMLParser

from tests.ship_fixtures import GpgHome, make_build


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs)["href"])


def test_publish_copies_signed_build_and_indexes_every_image(tmp_path, golden):
    home = GpgHome()
    try:
        first = make_build(tmp_path / "b1", name="rhel7-golden")
        second = make_build(tmp_path / "b2", name="rhel9-golden")
        assert golden("sign", first, "--homedir", home.path).code == 0
        dest = tmp_path / "site"
        run = golden("publish", first, "--to", f"file://{dest}", "--json")
        assert run.code == 0, run.err
        assert json.loads(run.out)["target"] == "directory"
        assert golden("publish", second, "--to", dest).code == 0
        # A published copy stands on its own: sha256sum, gpg and golden check all hold there.
        assert subprocess.run(["sha256sum", "-c", "rhel7-golden.SHA256SUMS"], cwd=dest,
                              capture_output=True).returncode == 0
        run = golden("check", dest / "rhel7-golden.qcow2", "--homedir", home.path)
        assert run.code == 0, run.err
    finally:
        home.close()
    index = json.loads((dest / "index.json").read_text())
    assert [i["name"] for i in index["images"]] == ["rhel7-golden", "rhel9-golden"]
    one = index["images"][0]
    assert one["sha256"] == json.loads(first.read_text())["image"]["sha256"]
    assert one["signed"] is True and index["images"][1]["signed"] is False
    assert one["formats"][0]["format"] == "qcow2" and one["version"] == "2026-11-25T23:47:00Z"
    parser = _Links()
    parser.feed((dest / "index.html").read_text())
    assert "rhel7-golden.qcow2" in parser.links and "rhel9-golden.qcow2" in parser.links
    assert all((dest / link).exists() for link in parser.links)
    # Publishing the same image again replaces its entry, it does not add one.
    assert golden("publish", first, "--to", dest).code == 0
    assert len(json.loads((dest / "index.json").read_text())["images"]) == 2


def test_dry_run_writes_nothing_and_says_what_it_would_do(tmp_path, golden):
    manifest = make_build(tmp_path / "b")
    dest = tmp_path / "site"
    run = golden("publish", manifest, "--to", dest, "--dry-run")
    assert run.code == 0, run.err
    assert f"would copy {tmp_path / 'b' / 'rhel7-golden.qcow2'} to {dest / 'rhel7-golden.qcow2'}" in run.out
    assert not dest.exists()


def test_unknown_target_and_broken_index_are_input_errors(tmp_path, golden):
    manifest = make_build(tmp_path / "b")
    run = golden("publish", manifest, "--to", "s3://bucket/x")
    assert run.code == 2 and "--to: no publish target accepts 's3://bucket/x'" in run.err
    dest = tmp_path / "site"
    dest.mkdir()
    (dest / "index.json").write_text("[1, 2")
    run = golden("publish", manifest, "--to", dest)
    assert run.code == 2 and f"{dest / 'index.json'}: not a golden index" in run.err
    assert not (dest / "rhel7-golden.qcow2").exists()


def test_a_changed_image_is_not_published(tmp_path, golden):
    manifest = make_build(tmp_path / "b")
    image = tmp_path / "b" / "rhel7-golden.qcow2"
    with open(image, "r+b") as f:
        f.seek(5000)
        f.write(b"\xff")
    dest = tmp_path / "site"
    run = golden("publish", manifest, "--to", dest)
    assert run.code == 2
    assert "rhel7-golden.qcow2 does not match the manifest's sha256" in run.err
    assert not dest.exists()


def test_concurrent_publishes_into_one_directory_keep_every_entry(tmp_path):
    from tests.conftest import GOLDEN

    manifests = [make_build(tmp_path / f"b{i}", name=f"img{i}") for i in range(4)]
    dest = tmp_path / "site"
    procs = [subprocess.Popen([str(GOLDEN), "publish", str(m), "--to", str(dest)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for m in manifests]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    index = json.loads((dest / "index.json").read_text())
    assert [i["name"] for i in index["images"]] == ["img0", "img1", "img2", "img3"]
