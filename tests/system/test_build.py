"""`golden build` for real: demo profile to published image, cache, failure, interruption.

One profile file is edited through the module, in order: build, no-op rebuild,
changed %post, hung %post (fails, previous image kept), killed builds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from demo_boot import overlay
from demo_build import unique_name
from tests.conftest import GOLDEN, golden_bin

pytestmark = pytest.mark.system

SECRET = (Path(__file__).resolve().parents[2] / "profiles" / "secrets" / "root.pass").read_text().strip()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def domains() -> set[str]:
    import libvirt
    conn = libvirt.open("qemu:///system")
    try:
        return {d.name() for d in conn.listAllDomains(0)}
    finally:
        conn.close()


def build_domains(name: str) -> set[str]:
    """The install domains of profile `name`: a build names them NAME-<6 hex digits>."""
    return {d for d in domains() if d == name or re.fullmatch(re.escape(name) + r"-[0-9a-f]{6}", d)}


class Subject:
    def __init__(self, work: Path):
        self.work = work
        self.name = unique_name("t-build")
        self.profile = work / f"{self.name}.yaml"
        self.images = work / "images"

    def write(self, post: str, customize=None, **install) -> None:
        data = {"extends": "demo", "name": self.name, "output": {"dir": str(self.images)},
                "kickstart": {"post": post}}
        if install:
            data["install"] = install
        if customize:
            data["customize"] = customize
        self.profile.write_text(yaml.safe_dump(data, sort_keys=False))

    def build(self, *args, timeout=1500):
        return golden_bin("build", self.profile, "--json", *args, timeout=timeout)

    @property
    def image(self) -> Path:
        return self.images / f"{self.name}.qcow2"

    @property
    def manifest(self) -> Path:
        return self.images / f"{self.name}.manifest.json"

    @property
    def build_dir(self) -> Path:
        return self.images / f"{self.name}.build"

    def published(self) -> tuple[str, str]:
        return sha(self.image), sha(self.manifest)

    def build_stages(self) -> dict[str, str]:
        """Build; return each stage's status (ran, cached, ...)."""
        run = self.build()
        assert run.code == 0, run.err
        return {st["name"]: st["status"] for st in json.loads(run.out)["stages"]}

    @contextlib.contextmanager
    def open_published(self):
        """The published image, read through an overlay so its checksum never moves."""
        from builder.image import open_image
        path = overlay(self.image, self.work / "check.qcow2")
        try:
            with open_image(path, readonly=True) as g:
                yield g
        finally:
            path.unlink()


GOOD_POST = "echo first > /root/which-post\n"
HUNG_POST = "echo about to hang\nsleep 100000\n"


@pytest.fixture(scope="module")
def subject(libvirt_up, vm_dirs):
    s = Subject(vm_dirs("build"))
    s.write(GOOD_POST)
    run = s.build()
    assert run.code == 0, run.err
    s.first = json.loads(run.out)
    s.good = s.profile.read_text()      # the profile the published image was built from
    return s


def test_build_publishes_image_manifest_template_and_report(subject):
    out = subject.first
    assert out["status"] == "published"
    assert [st["status"] for st in out["stages"]] == ["ran"] * 8
    manifest = json.loads(subject.manifest.read_text())
    assert manifest["status"] == "published"
    assert manifest["image"]["sha256"] == sha(subject.image)
    assert manifest["image"]["format"] == "qcow2"
    from builder.virt import accel
    assert manifest["accelerator"] == accel.probe().virt_type
    for tool in ("golden", "qemu", "libvirt", "libguestfs", "virt-install"):
        assert manifest["tools"][tool][0].isdigit(), (tool, manifest["tools"])
    assert all(st["seconds"] >= 0 for st in manifest["stages"])
    assert manifest["os"]["distro"] == "golden-demo"
    assert len(manifest["profile"]["sha256"]) == 64
    for art in manifest["artifacts"]:
        if art["sha256"] and Path(art["path"]).exists() and art["kind"] != "image":
            assert sha(Path(art["path"])) == art["sha256"], art["path"]
    assert manifest["inspect"]["hostname"] == "demo-golden"
    sealed = {op["name"]: op for op in manifest["seal"]["operations"]}
    assert sealed["machine-id"]["result"] == "changed"
    # The secret's value never reaches an artifact or the manifest.
    for path in [subject.manifest, *subject.build_dir.glob("*.json")]:
        assert SECRET not in path.read_text(), path
    template = Path(manifest["domain_xml"])
    assert str(subject.image) in template.read_text()
    check = subprocess.run(["virt-xml-validate", str(template), "domain"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert not build_domains(subject.name), "the build's scaffolding domain was left defined"
    report = subject.images / f"{subject.name}.report.html"
    assert report.exists() and subject.name in report.read_text()


def test_unchanged_profile_rebuilds_nothing(subject):
    before = subject.published()
    mtime = subject.image.stat().st_mtime_ns
    run = golden_bin("build", subject.profile)
    assert run.code == 0, run.err
    assert "up to date" in run.out and "nothing rebuilt" in run.out
    assert subject.published() == before
    assert subject.image.stat().st_mtime_ns == mtime


def test_clone_takes_its_name_pattern_from_the_profile(subject):
    clones = subject.work / "clones"
    run = golden_bin("clone", subject.image, "--count", "2", "--dir", clones, "--json")
    try:
        assert run.code == 0, run.err
        assert [c["name"] for c in json.loads(run.out)] == [f"{subject.name}-1", f"{subject.name}-2"]
    finally:
        golden_bin("clone", "--remove-batch", clones)
    assert not {f"{subject.name}-1", f"{subject.name}-2"} & domains()


def test_changed_post_reruns_from_the_kickstart_on(subject):
    subject.write("echo second > /root/which-post\n")
    assert subject.build_stages() == {"validate": "ran", "kickstart": "ran", "media": "cached", "install": "ran",
                      "inspect": "ran", "customize": "ran", "seal": "ran", "publish": "ran"}
    with subject.open_published() as g:
        assert g.read_text("/root/which-post").strip() == "second"


def test_changed_customize_reruns_only_the_image_stages(subject):
    subject.write("echo second > /root/which-post\n", customize=[{"hostname": "tmpl-host"}])
    assert subject.build_stages() == {"validate": "ran", "kickstart": "cached", "media": "cached", "install": "cached",
                      "inspect": "ran", "customize": "ran", "seal": "ran", "publish": "ran"}
    with subject.open_published() as g:
        # seal resets identity, but not the hostname the profile's customize: asked for
        assert g.read_text("/etc/hostname").strip() == "tmpl-host"
        assert "HOSTNAME=tmpl-host" in g.read_text("/etc/sysconfig/network")
    subject.good = subject.profile.read_text()


def test_hung_install_fails_and_keeps_the_previous_image(subject):
    before = subject.published()
    subject.write(HUNG_POST, inactivity="40s", timeout="6m")
    run = subject.build(timeout=900)
    assert run.code == 4, run.err
    assert "inactiv" in run.err or "hung" in run.err or "no progress" in run.err, run.err
    assert subject.published() == before
    record = json.loads((subject.build_dir / "build.json").read_text())
    assert record["status"] == "failed"
    assert record["failure"]["stage"] == "install" and record["failure"]["exit_code"] == 4
    assert any("about to hang" in line for line in record["failure"]["serial_tail"])
    shot = record["failure"]["screenshot"]
    assert shot and Path(shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not build_domains(subject.name)
    assert not list(subject.images.glob(f".{subject.name}.*.tmp"))


def _start_and_wait_for_install(subject) -> subprocess.Popen:
    proc = subprocess.Popen([str(GOLDEN), "build", str(subject.profile)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not build_domains(subject.name):
        assert proc.poll() is None, "the build ended before its install started"
        assert time.monotonic() < deadline, "the install never started"
        time.sleep(1)
    time.sleep(5)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_build_leaves_no_domain_and_the_previous_image(subject, sig):
    before = subject.published()
    subject.write(HUNG_POST, inactivity="5m", timeout="10m")
    proc = _start_and_wait_for_install(subject)
    os.kill(proc.pid, sig)
    code = proc.wait(timeout=120)
    assert code != 0
    assert subject.published() == before
    # Any next golden command, not only a build, removes the dead run's domain (and no orphaned
    # virt-install defines one after it looked).
    after = golden_bin("validate", subject.profile)
    assert after.code == 0, after.err
    assert not build_domains(subject.name), "the dead build's domain outlived the next golden command"
    # A rebuild of the same (changed) profile is not refused because of what the dead run left,
    # and reaps it before it starts (--until media: no second install needed to show that).
    again = golden_bin("build", subject.profile, "--until", "media")
    assert again.code == 0, again.err
    assert not build_domains(subject.name), "the dead build's domain is still defined"
    # The next golden command (here: a build of the previous, unchanged profile) leaves no domain behind.
    subject.profile.write_text(subject.good)
    run = golden_bin("build", subject.profile)
    assert run.code == 0, run.err
    assert "up to date" in run.out
    assert not build_domains(subject.name)
    assert subject.published() == before
    assert not list(subject.images.glob(f".{subject.name}.*.tmp"))


def test_sigkill_inside_virt_install_leaves_no_domain_even_later(subject):
    """Killed while virt-install defines the domain: virt-install dies with golden (no late define),
    and the next golden command removes whatever libvirtd had already defined."""
    from leftovers import alive, children

    subject.write(HUNG_POST, inactivity="5m", timeout="10m")
    proc = subprocess.Popen([str(GOLDEN), "build", str(subject.profile)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (installers := children(proc.pid, "virt-install")):
            assert proc.poll() is None, f"the build ended ({proc.returncode}) before virt-install ran"
            assert time.monotonic() < deadline, "virt-install never started"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
        time.sleep(1)
        assert [p for p in installers if alive(p)] == []
        after = golden_bin("validate", subject.profile)
        assert after.code == 0, after.err
        time.sleep(5)                   # long enough for an orphaned virt-install to have defined it
        assert not build_domains(subject.name)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        subject.profile.write_text(subject.good)


def test_sigkill_mid_publish_leaves_the_previous_image_and_nothing_running(subject):
    """Killed while qemu-img writes the published files: the orphaned qemu-img and the temp files and
    scratch folders in the output folder are removed by the next golden command, whatever it is."""
    from leftovers import alive, mentioning

    before = subject.published()
    data = yaml.safe_load(subject.good)
    data["output"].update(compress="zstd", formats=["vmdk", "vhdx", "ova"])
    subject.profile.write_text(yaml.safe_dump(data, sort_keys=False))
    temps = f"{subject.images}/.{subject.name}"
    proc = subprocess.Popen([str(GOLDEN), "build", str(subject.profile)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while not (writers := [p for p in mentioning(temps) if p != proc.pid]):
            assert proc.poll() is None, f"the build ended ({proc.returncode}) before it published"
            assert time.monotonic() < deadline, "the publish never started"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
        assert subject.published() == before
        # The next command (not a build of this profile) stops the orphaned writer and removes its files.
        after = golden_bin("validate", subject.profile)
        assert after.code == 0, after.err
        assert [p for p in writers if alive(p)] == [] and mentioning(temps) == []
        # The build lock stays: it is the folder's, not the run's.
        assert sorted(p.name for p in subject.images.glob(f".{subject.name}.*") if p.suffix != ".lock") == []
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        subject.profile.write_text(subject.good)
    run = golden_bin("build", subject.profile)
    assert run.code == 0, run.err
    assert "up to date" in run.out and subject.published() == before
