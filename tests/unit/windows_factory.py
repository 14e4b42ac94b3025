"""Small Windows profiles for tests, with their secrets beside them."""

from __future__ import annotations

from pathlib import Path

import yaml

from builder import catalog

PASSWORD = "S3cret-Admin!pw"
KEYS = {
    # XP/2003: made up, XP alphabet; later: Microsoft's published KMS client keys.
    "sif": "BCDFG-HJKMP-QRTVW-XY234-6789B",
    "win2k8": "TM24T-X9RMF-VWXK6-X8JC9-BFGM2",
    "win2k8r2": "YC6KT-GKW9T-YTKYR-T4X34-R7VHC",
    "win7": "FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4",
    "win10": "W269N-WFGWX-YVC9B-4J6C9-T83GX",
    "win2k16": "WC2BQ-8NRM3-FDDYY-2BFGV-KHKQY",
    "win2k19": "N69G4-B89J2-4G8F4-WWYCC-J464C",
    "win2k22": "VDYBN-27WPP-V4HQT-9VMD4-VMK7H",
}


def key_for(os_id: str) -> str:
    entry = catalog.get(os_id)
    return KEYS["sif"] if entry.windows.era == "sif" else KEYS[os_id]


def profile(tmp: Path, os_id: str, arch: str | None = None, *, key: str | None = None,
            password: str = PASSWORD, **overrides) -> Path:
    """Write a profile for os_id (and its secret files) under tmp; returns its path."""
    entry = catalog.get(os_id)
    arch = arch or ("i386" if "i386" in entry.arches and entry.windows.era == "sif" else entry.arches[-1])
    secrets = tmp / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "admin.pass").write_text(password + "\n")
    (secrets / "product.key").write_text((key or key_for(os_id)) + "\n")
    name = f"t-{os_id}-{arch}".replace("_", "-")
    data = {
        "name": name,
        "os": os_id,
        "arch": arch,
        "machine": {"memory": max(entry.min_memory, 512)},
        "disks": [{"size": f"{entry.min_disk_gb}G"}],
        "install": {"method": "cdrom", "media": f"/srv/iso/{os_id}-{arch}.iso"},
        "windows": {
            "admin_password": {"file": "secrets/admin.pass"},
            "product_key": {"file": "secrets/product.key"},
            "computer_name": f"T-{os_id.upper()}"[:15],
            "timezone": 110,
            "full_name": "Golden Tester",
            "organization": "Example Org",
        },
    }
    if entry.windows.era == "sif" and entry.windows.virtio_win_arch.get(arch) is None:
        data["windows"]["drivers"] = {"media": "none"}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def every_release() -> list[tuple[str, str]]:
    """(os id, arch) for every Windows catalog entry and arch."""
    out = []
    for os_id, entry in catalog.entries().items():
        if entry.is_windows:
            out += [(os_id, arch) for arch in entry.arches]
    return out
