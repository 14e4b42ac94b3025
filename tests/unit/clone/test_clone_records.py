"""clones.json: merged by clone, updated by verify; the source checksum reads holes without reading them."""

from __future__ import annotations

import hashlib
import json
import os

from builder.clone import records
from builder.clone.verify import Verdict, _shared, parse_identity


def test_sparse_checksum_is_the_files_checksum(tmp_path):
    f = tmp_path / "sparse.img"
    with open(f, "wb") as out:
        out.write(b"head" * 1000)
        out.seek(5 << 20)
        out.write(b"middle")
        out.truncate(9 << 20)                  # ends in a hole
    assert os.stat(f).st_blocks * 512 < f.stat().st_size
    assert records.sha256_sparse(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert records.sha256_sparse(empty) == hashlib.sha256(b"").hexdigest()


def test_checksum_cache_follows_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GOLDEN_CACHE", str(tmp_path / "cache"))
    image = tmp_path / "gold.qcow2"
    image.write_bytes(b"one" * 1000)
    first = records.source_sha256(image)
    assert first == hashlib.sha256(b"one" * 1000).hexdigest()
    cached = json.loads((tmp_path / "cache" / "image-sha256.json").read_text())
    assert cached[str(image)]["sha256"] == first
    image.write_bytes(b"three" * 1000)               # changed: computed again
    assert records.source_sha256(image) == hashlib.sha256(b"three" * 1000).hexdigest()


def test_manifest_checksum_is_used_when_current(tmp_path, monkeypatch):
    monkeypatch.setenv("GOLDEN_CACHE", str(tmp_path / "cache"))
    image = tmp_path / "demo.qcow2"
    image.write_bytes(b"x" * 4096)
    manifest = tmp_path / "demo.manifest.json"
    manifest.write_text(json.dumps({"image": {"path": str(image), "sha256": "from-the-manifest"}}))
    assert records.source_sha256(image) == "from-the-manifest"
    os.utime(image, ns=(manifest.stat().st_mtime_ns + 10**9,) * 2)   # the image changed since
    assert records.source_sha256(image) == hashlib.sha256(b"x" * 4096).hexdigest()


def entry(name, **kw):
    return {"name": name, "uuid": "u-" + name, "macs": ["52:54:00:00:00:01"], "hostname": name,
            "disk": f"/c/{name}.qcow2", "linked": True, "created": "2026-01-01T00:00:00Z", "verified": None, **kw}


def test_merge_replace_verify_remove(tmp_path):
    path = tmp_path / "demo.build" / "clones.json"
    path.parent.mkdir()
    image = tmp_path / "demo.qcow2"
    image.write_bytes(b"image")
    os.utime(image, ns=(10**9, 10**9))
    records.merge_clones(path, image, "abc", [entry("web-1"), entry("web-2")])
    records.merge_clones(path, image, "abc", [entry("web-2", uuid="new"), entry("web-3")])
    data = json.loads(path.read_text())
    assert data["source"] == str(image) and data["source_sha256"] == "abc"
    assert [(c["name"], c["uuid"]) for c in data["clones"]] == [("web-1", "u-web-1"), ("web-2", "new"),
                                                                ("web-3", "u-web-3")]
    verified = {"ok": True, "checked": "t", "observed": {"hostname": "web-3"}, "problems": []}
    assert records.set_verified(path, "web-3", verified)
    assert not records.set_verified(path, "ghost", verified)
    assert json.loads(path.read_text())["clones"][2]["verified"] == verified
    records.remove_clones(path, {"web-1", "web-3"})
    assert [c["name"] for c in json.loads(path.read_text())["clones"]] == ["web-2"]


def test_identity_line_and_shared_values():
    line = "golden-identity hostname=web-1 mac=52:54:00:0a:0b:0c machine-id=00ab uuid=U1 nic=eth0 ssh-ed25519=none"
    got = parse_identity("[  9.1] " + line)
    assert got["hostname"] == "web-1" and got["nic"] == "eth0" and parse_identity("no line") == {}
    a = Verdict("web-1", True, reported={"hostname": "web-1", "machine-id": "m1", "ssh-ed25519": "none"})
    b = Verdict("web-2", True, reported={"hostname": "web-2", "machine-id": "m1", "ssh-ed25519": "none"})
    _shared([a, b])
    assert a.ok and not b.ok and b.problems == ["machine-id m1 is shared with web-1"]
    assert b.record_entry()["observed"] == {"hostname": "web-2", "mac": None, "machine-id": "m1", "uuid": None}
