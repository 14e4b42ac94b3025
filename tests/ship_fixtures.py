"""A published build to ship (real qcow2, manifest as golden writes it) and a throwaway gpg home."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.report_records import base_record

PACKAGES = [
    {"name": "bash", "version": "4.2.46", "release": "34.el7", "arch": "x86_64"},
    {"name": "kernel", "version": "3.10.0", "release": "1160.el7", "arch": "x86_64"},
    {"name": "python-libs", "version": "2.7.5", "release": "90.el7", "arch": "x86_64"},
]


def make_build(out: Path, name: str = "rhel7-golden", packages: list | None = None,
               raw_format: bool = False) -> Path:
    """OUT/NAME.qcow2 (a real 16 MiB qcow2 with some data), NAME.domain.xml and NAME.manifest.json."""
    out.mkdir(parents=True, exist_ok=True)
    image = out / f"{name}.qcow2"
    raw = out / f".{name}.raw"
    raw.write_bytes(b"golden" * 4096 + bytes(range(256)) * 64)
    with open(raw, "r+b") as f:
        f.truncate(16 << 20)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(image)], check=True)
    raw.unlink()
    domain = out / f"{name}.domain.xml"
    domain.write_text(f"<domain type='kvm'>\n  <name>{name}</name>\n  <memory unit='KiB'>524288</memory>\n"
                      f"  <os><type arch='x86_64'>hvm</type></os>\n  <devices>\n"
                      f"    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                      f"<source file='{image}'/><target dev='vda' bus='virtio'/></disk>\n"
                      f"  </devices>\n</domain>\n")
    record = base_record(name, out / f"{name}.build", "published")
    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    record["image"] = {"path": str(image), "format": "qcow2", "sha256": sha, "bytes": image.stat().st_size,
                       "virtual_size": 16 << 20}
    record["artifacts"] = [{"kind": "image", "path": str(image), "sha256": sha, "bytes": image.stat().st_size}]
    record["domain_xml"] = str(domain)
    record["published"] = "2026-11-25T23:47:00Z"
    record["inspect"] = {"os": {"type": "linux", "distro": "rhel", "family": "rhel", "version": "7.9",
                                "name": "Red Hat Enterprise Linux Server", "package_format": "rpm"}}
    if packages is not None:
        record["inspect"]["packages"] = packages
    if raw_format:
        # An output.formats copy, recorded the way the build's formats step does.
        raw = out / f"{name}.raw"
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
        main = {"path": str(image), "sha256": sha, "bytes": image.stat().st_size, "format": "qcow2",
                "kind": "image"}
        record["formats"] = [main, {"path": str(raw), "sha256": hashlib.sha256(raw.read_bytes()).hexdigest(),
                                    "bytes": raw.stat().st_size, "format": "raw", "kind": "format"}]
    manifest = out / f"{name}.manifest.json"
    manifest.write_text(json.dumps(record, indent=2) + "\n")
    return manifest


class GpgHome:
    """A GNUPGHOME with one signing key; short path because gpg-agent's socket path is limited."""

    def __init__(self, passphrase: str = ""):
        self.path = Path(tempfile.mkdtemp(prefix="gg", dir="/tmp"))
        self.path.chmod(0o700)
        self.passphrase = passphrase
        self.uid = "Golden Test <golden-test@example.invalid>"
        self.gpg("--passphrase", passphrase, "--pinentry-mode", "loopback",
                 "--quick-gen-key", self.uid, "ed25519", "sign", "1d")
        listing = self.gpg("--with-colons", "--list-secret-keys").stdout
        self.fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))

    def gpg(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["gpg", "--batch", "--homedir", str(self.path), *args],
                              capture_output=True, text=True, check=check)

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.path), "--kill", "all"], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)
