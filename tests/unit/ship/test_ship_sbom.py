"""The SPDX SBOM, read back by spdx-tools (an independent SPDX 2.3 parser and validator)."""

from __future__ import annotations

import json

import pytest

from tests.ship_fixtures import PACKAGES, make_build


REQUIRED_DOCUMENT = {"spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace", "creationInfo"}
REQUIRED_PACKAGE = {"name", "SPDXID", "downloadLocation"}


def _validate(path):
    # SPDX 2.3 clauses 6.1-6.9 and 7.1-7.2, 7.7: what every document and package must carry.
    data = json.loads(path.read_text())
    assert REQUIRED_DOCUMENT <= set(data) and data["dataLicense"] == "CC0-1.0"
    assert data["SPDXID"] == "SPDXRef-DOCUMENT" and data["creationInfo"]["creators"]
    assert all(REQUIRED_PACKAGE <= set(p) for p in data["packages"])
    try:
        from spdx_tools.spdx.parser.parse_anything import parse_file
    except ModuleNotFoundError:
        pytest.fail("spdx-tools is not installed; it belongs in pyproject's test extra (spdx-tools>=0.8,<0.9)")
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    doc = parse_file(str(path))
    return doc, validate_full_spdx_document(doc)


def test_sbom_lists_image_and_packages_with_purls_and_validates(tmp_path, golden):
    manifest = make_build(tmp_path, packages=PACKAGES)
    run = golden("sbom", manifest, "--json")
    assert run.code == 0, run.err
    path = tmp_path / "rhel7-golden.spdx.json"
    assert json.loads(run.out) == {"sbom": str(path), "packages": 3}
    doc, problems = _validate(path)
    assert problems == []
    assert doc.creation_info.spdx_version == "SPDX-2.3"
    image_sha = json.loads(manifest.read_text())["image"]["sha256"]
    main = next(p for p in doc.packages if p.name == "rhel7-golden")
    assert [c.value for c in main.checksums] == [image_sha]
    purls = {p.name: p.external_references[0].locator for p in doc.packages if p.external_references}
    assert purls == {"bash": "pkg:rpm/rhel/bash@4.2.46-34.el7?arch=x86_64",
                     "kernel": "pkg:rpm/rhel/kernel@3.10.0-1160.el7?arch=x86_64",
                     "python-libs": "pkg:rpm/rhel/python-libs@2.7.5-90.el7?arch=x86_64"}
    contains = {r.related_spdx_element_id for r in doc.relationships if r.relationship_type.name == "CONTAINS"}
    assert len(contains) == 3


def test_sbom_without_inventory_is_the_image_alone_and_reproducible(tmp_path, golden):
    manifest = make_build(tmp_path)
    assert golden("sbom", manifest).code == 0
    path = tmp_path / "rhel7-golden.spdx.json"
    first = path.read_bytes()
    doc, problems = _validate(path)
    assert problems == [] and [p.name for p in doc.packages] == ["rhel7-golden"]
    assert golden("sbom", manifest).code == 0
    assert path.read_bytes() == first


def test_sbom_of_an_unfinished_build_is_refused(tmp_path, golden):
    manifest = make_build(tmp_path)
    data = json.loads(manifest.read_text())
    data["status"] = "failed"
    manifest.write_text(json.dumps(data))
    run = golden("sbom", manifest)
    assert run.code == 2
    assert f"{manifest}: status:" in run.err
    assert not (tmp_path / "rhel7-golden.spdx.json").exists()


def test_debian_packages_get_deb_purls_and_unknown_ones_none(tmp_path):
    from builder.ship import manifest as mf, sbom

    path = make_build(tmp_path, packages=[{"name": "libc6", "version": "2.36", "release": "9+deb12u4",
                                           "arch": "amd64"}])
    data = json.loads(path.read_text())
    data["inspect"]["os"] = {"distro": "debian", "package_format": "deb"}
    path.write_text(json.dumps(data))
    doc = sbom.document(mf.load(path))
    assert doc["packages"][1]["externalRefs"][0]["referenceLocator"] == \
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"
    data["inspect"]["os"] = {"distro": "golden-demo", "package_format": None}
    data["os"]["id"] = "demo"
    path.write_text(json.dumps(data))
    assert "externalRefs" not in sbom.document(mf.load(path))["packages"][1]
