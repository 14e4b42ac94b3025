"""`golden matrix` across two libvirt daemons: this host's and one that sees none of its paths."""

from __future__ import annotations

import json

import pytest
import yaml

from demo_build import unique_name
from second_libvirtd import SecondLibvirtd, default_hidden
from tests.conftest import golden_bin

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def second(libvirt_up, tmp_path_factory, vm_dirs):
    work = vm_dirs("matrix")
    daemon = SecondLibvirtd(tmp_path_factory.mktemp("second-libvirtd-matrix"),
                            hide=default_hidden([tmp_path_factory.getbasetemp(), work]))
    daemon.start()
    daemon.work = work
    yield daemon
    daemon.stop()


def test_matrix_builds_across_two_hosts_and_summarises(second):
    work = second.work
    names = [unique_name("t-mx") for _ in range(2)]
    profiles = []
    for name in names:
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"extends": "demo", "name": name}))
        profiles.append(path)
    images = work / "images"
    run = golden_bin("matrix", *profiles, "--connect", "qemu:///system", "--connect", second.uri, "-j", "2",
                     "--output-dir", images, "--json", timeout=2400)
    assert run.code == 0, run.err + run.out
    results = json.loads(run.out)
    assert [r["status"] for r in results] == ["published", "published"]
    assert {r["connect"] for r in results} == {"qemu:///system", second.uri}
    for r, name in zip(results, names):
        manifest = json.loads((images / f"{name}.manifest.json").read_text())
        assert manifest["connect"] == r["connect"]
        assert manifest["inspect"]["hostname"] == "demo-golden"
    # The remote host keeps nothing of the builds: no domain, no disk or log volume.
    assert not set(names) & second.domain_names()
    leftovers = [v for vols in second.volumes().values() for v in vols if any(n in v for n in names)]
    assert leftovers == []
    # The summary table names each build, its host and where the image went.
    table = golden_bin("matrix", *profiles, "--connect", "qemu:///system", "--connect", second.uri,
                       "-j", "2", "--output-dir", images, env={"COLUMNS": "200"})
    assert table.code == 0, table.err
    assert "up-to-date" in table.out and all(n in table.out for n in names)
