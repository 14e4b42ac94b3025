"""`golden doctor` checks the XML validators golden relies on: xmllint and virt-xml-validate.

virt-xml-validate is a shell script that runs xmllint; with one of the two
missing no libvirt XML can be checked, and doctor must say which package to add.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builder.virt import doctor

pytestmark = pytest.mark.skipif(not (shutil.which("xmllint") and shutil.which("virt-xml-validate")),
                                reason="needs xmllint and virt-xml-validate on the host (scripts/bootstrap.sh)")


def _path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding the shell basics and only the named XML tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "mktemp", "rm", "cat", "basename", "sed", "grep", "head", "tr", *tools):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def by_name(checks):
    return {c.name: c for c in checks}


def test_both_present_and_working():
    checks = by_name(doctor.xml_checks())
    assert checks["xmllint"].verdict == "ok"
    assert checks["virt-xml-validate"].verdict == "ok"
    assert "validates domain XML" in checks["virt-xml-validate"].detail


def test_missing_xmllint_is_reported_with_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path, "virt-xml-validate"))
    checks = by_name(doctor.xml_checks())
    assert checks["xmllint"].verdict == "warn" and "libxml2-utils" in checks["xmllint"].fix
    # The script is there but cannot work without xmllint: doctor runs it and says so.
    assert checks["virt-xml-validate"].verdict == "warn"
    assert "cannot validate" in checks["virt-xml-validate"].detail


def test_missing_virt_xml_validate_is_reported_with_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path, "xmllint"))
    checks = by_name(doctor.xml_checks())
    assert checks["xmllint"].verdict == "ok"
    assert checks["virt-xml-validate"].verdict == "warn"
    assert checks["virt-xml-validate"].fix == "apt-get install libvirt-clients"


def test_doctor_json_lists_the_xml_checks(golden):
    run = golden("doctor", "--json")
    checks = {c["name"]: c["verdict"] for c in json.loads(run.out)["checks"]}
    assert checks["xmllint"] == "ok" and checks["virt-xml-validate"] == "ok", run.err
