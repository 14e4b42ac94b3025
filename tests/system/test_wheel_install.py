"""A wheel built from the tree installs into a fresh venv and works with no checkout around."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a wheel build reads; copied so the build leaves nothing in the shared tree.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "builder", "profiles", "kickstarts", "drivers")

pytestmark = pytest.mark.system


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, f"{cmd}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    wheels = tmp_path_factory.mktemp("wheels")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--disable-pip-version-check", "-q", "-w", str(wheels), str(src)])
    (wheel,) = wheels.glob("golden-*.whl")
    venv = tmp_path_factory.mktemp("venv")
    _run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)])
    # Dependencies come from this venv's site-packages (no network); only golden is new.
    site = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    pth = next(venv.glob("lib/python3*/site-packages")) / "golden-test-deps.pth"
    pth.write_text(f"{site}\n")
    _run([str(venv / "bin/pip"), "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", "-q", str(wheel)])
    shutil.rmtree(src)
    return venv


def _golden(venv, cwd, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("GOLDEN_HOME", "PYTHONPATH")}
    return subprocess.run([str(venv / "bin/golden"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_installed_golden_is_the_wheel_not_the_checkout(installed, tmp_path):
    r = subprocess.run([str(installed / "bin/python"), "-c",
                        "import builder, builder.paths as p; print(builder.__file__); print(p.profiles_dir())"],
                       cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    module, profiles = r.stdout.split()
    assert module.startswith(str(installed)) and profiles.startswith(str(installed))


def test_profile_table_lists_shipped_profiles(installed, tmp_path):
    r = _golden(installed, tmp_path, "profiles")
    assert r.returncode == 0, r.stderr
    for name in ("demo", "rhel5-fv-kvm", "rhel9-fv-kvm-uefi", "win2k19-kvm-uefi"):
        assert name in r.stdout


def test_kickstart_renders_from_an_empty_folder(installed, tmp_path):
    r = _golden(installed, tmp_path, "kickstart", "rhel7-fv-kvm")
    assert r.returncode == 0, r.stderr
    assert "%packages" in r.stdout and "rootpw" in r.stdout
    assert list(tmp_path.iterdir()) == []


def test_shell_completion_script_is_offered(installed, tmp_path):
    r = _golden(installed, tmp_path, "--show-completion", "bash")
    assert r.returncode == 0, r.stderr
    assert "complete" in r.stdout and "golden" in r.stdout
