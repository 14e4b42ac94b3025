"""`golden plan demo` names the demo ISO it will install from, and builds nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builder import paths


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty golden cache, but with this boot's accelerator answer (no qemu probe)."""
    real = paths.cache_dir()
    cache = tmp_path / "cache"
    cache.mkdir()
    if (real / "accel.json").is_file():
        shutil.copy(real / "accel.json", cache / "accel.json")
    monkeypatch.setenv("GOLDEN_CACHE", str(cache))
    return cache


def _plan(golden, cwd: Path, *args) -> dict:
    run = golden("plan", "--json", *args, "demo", cwd=cwd)
    assert run.code == 0, run.err
    return json.loads(run.out)


def _opt(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_plan_names_the_iso_the_first_install_will_build(golden, cache, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    plan = _plan(golden, work)
    location = Path(_opt(plan["virt_install"], "--location"))
    assert location.name == "golden-demo.iso"
    assert location.parent.parent == cache / "demo-media"
    assert any(str(location) in n and "does not exist yet" in n for n in plan["notes"]), plan["notes"]
    assert not (cache / "demo-media").exists(), "plan must not build the demo media"
    assert not list(work.iterdir()), "plan must not write anything"


def test_plan_reports_cached_media(golden, cache, tmp_path):
    from builder.demo.media import cached_iso

    iso, cached = cached_iso()
    assert not cached
    # What a finished build leaves in the cache folder (contents do not matter to plan).
    for name in ("golden-demo.iso", "vmlinuz", "initrd.img"):
        (iso.parent).mkdir(parents=True, exist_ok=True)
        (iso.parent / name).write_bytes(b"x")
    (iso.parent / "media.json").write_text(json.dumps({"sha256": "0" * 64}))
    plan = _plan(golden, tmp_path)
    assert _opt(plan["virt_install"], "--location") == str(iso)
    assert f"demo media: {iso} (cached)" in plan["notes"]


def test_remaster_plan_copies_the_resolved_iso(golden, cache, tmp_path):
    profile = tmp_path / "cd.yaml"
    profile.write_text("extends: demo\nname: cd\ninstall: {method: remaster}\n")
    run = golden("plan", "--json", str(profile), cwd=tmp_path)
    assert run.code == 0, run.err
    plan = json.loads(run.out)
    cdrom = _opt(plan["virt_install"], "--cdrom")
    assert cdrom.endswith("cd.build/media/install-with-ks.iso")
    assert any(n.startswith("demo media: ") and str(cache) in n for n in plan["notes"])
