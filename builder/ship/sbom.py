"""An SPDX 2.3 JSON SBOM from a manifest: the image, and the packages inspected inside it.

SPDX rather than CycloneDX because an independent reader that validates it
(spdx-tools) is installable from PyPI and runs offline, and SPDX 2.3 is the
format distribution tooling (osbuild, Syft) already emits for disk images.
The bytes depend only on the manifest (timestamps and namespace come from it),
so rebuilding the SBOM for the same build gives the same file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

from builder import __version__
from builder.fsutil import atomic_write
from builder.ship.manifest import Manifest

NAMESPACE_BASE = "https://spdx.org/spdxdocs/golden"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def _spdx_id(*parts: str) -> str:
    return "SPDXRef-" + "-".join(_ID_UNSAFE.sub("-", p).strip("-") or "x" for p in parts)


def _purl_part(value: str) -> str:
    # Only unreserved characters stay literal: a '+' in a Debian or RPM version
    # would read as a space to URL decoders, so it becomes %2B as purl tools write it.
    return quote(value, safe=".-_~")


_RPM_DISTROS = ("rhel", "redhat", "centos", "fedora", "rocky", "almalinux", "oraclelinux", "scientificlinux")
_DEB_DISTROS = ("debian", "ubuntu")


def package_format(data: dict) -> str | None:
    """rpm or deb: what inspection found, else what the distro (or the catalog's OS id) implies."""
    os_facts = (data.get("inspect") or {}).get("os") or {}
    fmt = os_facts.get("package_format")
    if fmt in ("rpm", "deb"):
        return fmt
    names = [str(os_facts.get("distro") or "").lower(), str((data.get("os") or {}).get("id") or "").lower()]
    if any(n.startswith(_RPM_DISTROS) for n in names if n):
        return "rpm"
    if any(n.startswith(_DEB_DISTROS) for n in names if n):
        return "deb"
    return None


def purl(pkg: dict, fmt: str, distro: str | None) -> str:
    """A package URL per the purl spec's rpm and deb types."""
    version = pkg.get("version") or ""
    if pkg.get("release"):
        version = f"{version}-{pkg['release']}"
    namespace = f"{_purl_part(distro)}/" if distro else ""
    out = f"pkg:{fmt}/{namespace}{_purl_part(pkg['name'])}"
    if version:
        out += f"@{_purl_part(version)}"
    qualifiers = []
    if pkg.get("arch"):
        qualifiers.append(f"arch={_purl_part(pkg['arch'])}")
    if pkg.get("epoch") not in (None, "", 0, "0"):
        qualifiers.append(f"epoch={_purl_part(str(pkg['epoch']))}")
    return out + ("?" + "&".join(qualifiers) if qualifiers else "")


def document(manifest: Manifest) -> dict:
    data = manifest.data
    image = manifest.image
    name = manifest.name
    created = data.get("published") or data.get("created") or "1970-01-01T00:00:00Z"
    image_id = _spdx_id("Image", name)
    os_facts = (data.get("inspect") or {}).get("os") or {}
    main = {
        "name": name,
        "SPDXID": image_id,
        "versionInfo": created,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "packageFileName": Path(image["path"]).name,
        "checksums": [{"algorithm": "SHA256", "checksumValue": image["sha256"]}],
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "supplier": "NOASSERTION",
    }
    if os_facts.get("pretty_name") or os_facts.get("name"):
        main["description"] = f"golden image of {os_facts.get('pretty_name') or os_facts.get('name')}"
    packages = [main]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": image_id}]
    fmt = package_format(data)
    distro = os_facts.get("distro") or None
    inventory = (data.get("inspect") or {}).get("packages") or []
    for index, pkg in enumerate(sorted(inventory, key=lambda p: (p.get("name", ""), p.get("arch") or ""))):
        version = pkg.get("version") or ""
        if pkg.get("release"):
            version = f"{version}-{pkg['release']}"
        entry = {
            "name": pkg["name"],
            "SPDXID": _spdx_id("Package", str(index), pkg["name"]),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        }
        if version:
            entry["versionInfo"] = version
        if fmt:
            entry["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                      "referenceLocator": purl(pkg, fmt, distro)}]
        packages.append(entry)
        relationships.append({"spdxElementId": image_id, "relationshipType": "CONTAINS",
                              "relatedSpdxElement": entry["SPDXID"]})
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{name}-sbom",
        "documentNamespace": f"{NAMESPACE_BASE}/{quote(name, safe='')}-{image['sha256']}",
        "creationInfo": {"created": created, "creators": [f"Tool: golden-{__version__}"]},
        "documentDescribes": [image_id],
        "packages": packages,
        "relationships": relationships,
    }


def write(manifest: Manifest) -> Path:
    """Write NAME.spdx.json beside the manifest; returns its path."""
    text = json.dumps(document(manifest), indent=2, sort_keys=True) + "\n"
    return atomic_write(manifest.sbom_path(), text)
