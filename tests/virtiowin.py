"""A small fake virtio-win tree with the real folder names and file kinds.

Folders follow virtio-win's per-driver layout (viostor/2k3/x86, NetKVM/w7/
amd64, ...) or, with flat=True, the older one (WNET/X86, WIN7/AMD64). Files
are tiny but look like what they stand for: INF text with the driver's PCI
ids, PE-headed .sys/.dll, DER-headed .cat, MSF-headed .pdb - the .pdb files
are large on purpose, so media that copied them would overflow a floppy.
Each file names its set, OS and arch, so a test can tell where it came from.

The ISO variant is mastered by genisoimage (-J -R), not by golden.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((REPO / "drivers" / "virtio-win.yaml").read_text())
FLAT_ARCH = {"x86": "X86", "amd64": "AMD64"}
PDB_SIZE = 300_000


def marker(set_name: str, os_folder: str, arch: str, name: str) -> bytes:
    return f"golden-fake {set_name} {os_folder} {arch} {name}".encode()


def _inf(set_name: str, data: dict, os_folder: str, arch: str) -> bytes:
    decoration = "NTamd64" if arch == "amd64" else "NTx86"
    ids = "\r\n".join(f'%{set_name}.DeviceDesc% = {set_name}_Inst, {hwid}'
                      for hwid in data.get("hardware_ids", []))
    text = (f"; {marker(set_name, os_folder, arch, data['files'][0]).decode()}\r\n"
            "[Version]\r\n"
            'Signature = "$WINDOWS NT$"\r\n'
            f"Class = {'SCSIAdapter' if data['kind'] == 'storage' else 'Net' if data['kind'] == 'network' else 'System'}\r\n"
            "Provider = %RHEL%\r\n"
            f"CatalogFile = {set_name}.cat\r\n"
            "DriverVer = 01/01/2020,100.0.0.1\r\n\r\n"
            f"[Manufacturer]\r\n%RHEL% = RHEL,{decoration}\r\n\r\n"
            f"[RHEL.{decoration}]\r\n{ids}\r\n\r\n"
            f"[Strings]\r\nRHEL = \"Red Hat, Inc.\"\r\n{set_name}.DeviceDesc = \"{data['description']}\"\r\n")
    return text.encode("ascii")


def _binary(kind: str, mark: bytes, size: int = 0) -> bytes:
    head = {"pe": b"MZ\x90\x00" + b"\x00" * 56 + b"PE\x00\x00",
            "cat": b"\x30\x82\x10\x00\x06\x09*\x86H\x86\xf7\r\x01\x07\x02",
            "pdb": b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00",
            "msi": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"}[kind]
    body = head + b"\x00" * 16 + mark
    return body + b"\x00" * max(0, size - len(body))


def _file(set_name: str, data: dict, os_folder: str, arch: str, name: str) -> bytes:
    mark = marker(set_name, os_folder, arch, name)
    lower = name.lower()
    if lower.endswith(".inf"):
        return _inf(set_name, data, os_folder, arch)
    if lower.endswith(".cat"):
        return _binary("cat", mark)
    if lower.endswith(".pdb"):
        return _binary("pdb", mark, PDB_SIZE)
    return _binary("pe", mark, 4096)


def build_tree(root: Path, *, flat: bool = False, skip: set[str] = frozenset()) -> Path:
    """Write the fake tree under root; `skip` holds 'set/os/arch' folders to leave out."""
    root.mkdir(parents=True, exist_ok=True)
    for set_name, data in MANIFEST["sets"].items():
        for os_folder, arches in data["oses"].items():
            for arch in arches:
                if f"{set_name}/{os_folder}/{arch}" in skip:
                    continue
                if flat:
                    folder = root / MANIFEST["flat_os_folders"][os_folder].upper() / FLAT_ARCH[arch]
                else:
                    folder = root / data["folder"] / os_folder / arch
                folder.mkdir(parents=True, exist_ok=True)
                stem = data["files"][0].rsplit(".", 1)[0]
                names = list(data["files"]) + list(data.get("optional", [])) + [f"{stem}.pdb"]
                for name in names:
                    path = folder / name
                    if not path.exists():     # flat folders share co-installers
                        path.write_bytes(_file(set_name, data, os_folder, arch, name))
    # What else sits at the top of a real virtio-win ISO.
    (root / "virtio-win-gt-x64.msi").write_bytes(_binary("msi", b"x64", 8192))
    (root / "virtio-win-gt-x86.msi").write_bytes(_binary("msi", b"x86", 8192))
    (root / "guest-agent").mkdir(exist_ok=True)
    (root / "guest-agent" / "qemu-ga-x86_64.msi").write_bytes(_binary("msi", b"qemu-ga", 4096))
    (root / "virtio-win_license.txt").write_text("fake virtio-win tree for golden's tests\n")
    return root


def build_iso(tree: Path, out: Path, label: str = "virtio-win-0.1.240") -> Path:
    subprocess.run(["genisoimage", "-quiet", "-J", "-R", "-V", label, "-o", str(out), str(tree)],
                   check=True, capture_output=True)
    return out
