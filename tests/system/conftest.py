"""System-test fixtures shared across modules: one real demo install per session."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo_build import derived_profile, undefine, unique_name
from tests.conftest import golden_bin


@dataclass
class DemoInstall:
    name: str
    profile: Path
    build_dir: Path
    disk: Path
    domain_xml: Path
    serial_log: Path
    result: dict


@pytest.fixture(scope="session")
def libvirt_up():
    from builder.virt import services
    services.ensure_running()


@pytest.fixture(scope="session")
def vm_dirs():
    """mktemp(name) -> a fresh directory libvirt's qemu user can enter, removed after the session.

    pytest's own temp root is 0700 and every pytest start resets it, so files handed to
    qemu:///system live under /var/tmp instead.
    """
    root = Path(tempfile.mkdtemp(prefix="golden-tests-", dir="/var/tmp"))
    root.chmod(0o755)

    def mktemp(name: str) -> Path:
        d = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
        d.chmod(0o755)
        return d

    yield mktemp
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_install(libvirt_up, vm_dirs) -> DemoInstall:
    """`golden install` of the demo profile under libvirt (TCG here), once per session.

    --keep-domain: the installed domain stays defined (shut off) until the session
    ends, so tests can use it as a clone source; treat its disk as read-only or copy it first.
    """
    work = vm_dirs("demo-golden")
    name = unique_name("t-demo")
    profile = derived_profile(work, name)
    run = golden_bin("install", profile, "--json", "--keep-domain", timeout=1500)
    assert run.code == 0, f"demo install failed ({run.code}):\n{run.err}\n{run.out}"
    result = json.loads(run.out)
    build = work / f"{name}.build"
    yield DemoInstall(name=name, profile=profile, build_dir=build, disk=Path(result["disks"][0]),
                      domain_xml=Path(result["domain_xml"]), serial_log=Path(result["serial_log"]),
                      result=result)
    undefine(name)


def pytest_collection_modifyitems(config, items):
    # Everything under tests/system needs real daemons, qemu or root: `make test-fast` skips it all.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.system)
