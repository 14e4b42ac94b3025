"""Every generated artifact of every shipped profile, compared byte for byte with tests/data/expected/.

The way virt-manager's tests/data/cli/compare works: a change to a template, the
catalog or the argv builder shows up as a diff of these files in review.
`pytest tests/contract/test_expected_output.py --regenerate-output` rewrites them.

The host is pinned (a KVM host with a constant TSC, fixed MAC, media path and
output folder) so the files say what golden generates, not what this machine is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder import catalog
from builder.plan import make_plan
from builder.profile import load
from builder.render.kickstart import HostFacts
from builder.virt.install_cmd import InstallTarget, shell_line

from tests.conftest import REPO

EXPECTED = REPO / "tests" / "data" / "expected"
PROFILES = sorted(p.stem for p in (REPO / "profiles").glob("*.yaml"))
BUILD_ROOT = Path("/srv/golden")
MAC = "52:54:00:12:34:56"


def _target(loaded) -> InstallTarget:
    p = loaded.profile
    media = p.install.media
    if media and not p.install.media_is_url:
        media = f"/srv/media/{Path(media).name if media != 'demo' else 'golden-demo.iso'}"
    return InstallTarget(connect="qemu:///system", virt_type="xen" if p.hypervisor == "xen" else "kvm",
                         mac=MAC if p.network.mode != "none" else None, media=media)


def generated(name: str) -> dict[str, bytes]:
    """File name -> content, for every artifact golden renders for profile `name` without a host."""
    loaded = load(name)
    entry = catalog.get(loaded.profile.os)
    plan = make_plan(loaded, cwd=BUILD_ROOT, host=HostFacts(constant_tsc=True), target=_target(loaded))
    files = {"virt-install.argv": ("\n".join(plan.virt_install) + "\n").encode(),
             "virt-install.sh": (shell_line(plan.virt_install) + "\n").encode(),
             "artifacts.txt": "".join(f"{a.kind}\t{a.path}\t{a.description}\n" for a in plan.artifacts).encode()}
    if plan.kickstart is not None:
        files["ks.cfg"] = plan.kickstart.data
    if loaded.profile.hypervisor != "xen":
        files["clone-domain.xml"] = _clone_domain(loaded, entry, plan)
    if entry.is_windows:
        from builder.windows import unattend
        result = unattend.render(loaded)
        for fname, data in getattr(result, "files", {result.name: result.data}).items():
            files[fname] = data
    return files


def _clone_domain(loaded, entry, plan) -> bytes:
    """The domain a full clone of the published image gets when no domain XML travels with the image.

    golden generates it from the inspected OS (builder/clone/template.py) and rewrites it for the
    clone; Windows is not inspected, and a Xen host is refused, so Xen profiles have no such file.
    """
    from builder.clone import template
    from builder.clone.domainxml import CloneSpec, rewrite
    from builder.image.osinfo import OSInfo

    p = loaded.profile
    osi = None if entry.is_windows else OSInfo(distro=entry.distro, family="rhel", major=entry.major,
                                               minor=entry.minor, arch=p.arch)
    root = template.generate(plan.layout.image, p.output.format, virt_type="kvm", osi=osi)
    clones = Path("/srv/clones")
    spec = CloneSpec(name=f"{p.name}-1", uuid="0e6a4c4c-8f4e-4bde-9a3e-35f0a7b0c001", macs=(MAC,),
                     disks=(clones / f"{p.name}-1.{p.output.format}",), disk_formats=(p.output.format,),
                     hostname=f"{p.name}-1", serial_log=clones / f"{p.name}-1.serial.log",
                     source=str(plan.layout.image), record=plan.layout.build_dir / "clones.json",
                     batch=clones / "clones.json")
    xml = rewrite(root, spec)
    return (xml if xml.endswith("\n") else xml + "\n").encode()


def pytest_generate_tests(metafunc):
    if "profile_name" in metafunc.fixturenames:
        metafunc.parametrize("profile_name", PROFILES)


def test_generated_artifacts_match_the_expected_files(profile_name, request):
    regenerate = request.config.getoption("--regenerate-output")
    folder = EXPECTED / profile_name
    files = generated(profile_name)
    if regenerate:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            if stale.name not in files:
                stale.unlink()
        for fname, data in files.items():
            (folder / fname).write_bytes(data)
    assert folder.is_dir(), f"no expected files for {profile_name}: run with --regenerate-output"
    kept = sorted(f.name for f in folder.iterdir())
    assert kept == sorted(files), f"{profile_name}: expected {kept}, generated {sorted(files)}"
    for fname, data in files.items():
        want = (folder / fname).read_bytes()
        if want != data:
            import difflib
            diff = "".join(difflib.unified_diff(want.decode(errors="replace").splitlines(True),
                                                data.decode(errors="replace").splitlines(True),
                                                f"expected/{profile_name}/{fname}", "generated", n=2))
            pytest.fail(f"{profile_name}/{fname} differs from the expected file "
                        f"(--regenerate-output if intended):\n{diff[:6000]}")


def test_every_shipped_profile_has_expected_files_and_nothing_else():
    assert sorted(d.name for d in EXPECTED.iterdir() if d.is_dir()) == PROFILES


def test_a_template_change_shows_up_as_a_diff(monkeypatch):
    """The comparison really looks at the rendered bytes: a changed kickstart template is caught."""
    from builder.render import kickstart

    original = kickstart.render

    def patched(*args, **kwargs):
        result = original(*args, **kwargs)
        return type(result)(**{**result.__dict__, "text": result.text.replace("%packages", "%packages --nobase", 1)})

    monkeypatch.setattr("builder.plan.render_kickstart", patched)
    files = generated("rhel7-fv-kvm")
    assert files["ks.cfg"] != (EXPECTED / "rhel7-fv-kvm" / "ks.cfg").read_bytes()
