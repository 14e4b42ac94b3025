"""Extra published formats, each converted from the sealed image beside the main one.

qcow2/raw/vhdx are plain qemu-img conversions, vmdk is streamOptimized, and
ova is a tar of an OVF descriptor, the disks as streamOptimized vmdk and a
SHA256 manifest (the .ovf first, as OVF 1.x requires of an OVA).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

from builder import catalog
from builder.errors import GoldenError
from builder.fsutil import sha256_file
from builder.pipeline import publish as pub
from builder.render import ovf

QEMU = {"qcow2": "qcow2", "raw": "raw", "vmdk": "vmdk", "vhdx": "vhdx"}


def target(directory: Path, name: str, fmt: str) -> Path:
    return directory / f"{name}.{fmt}"


def _entry(path: Path, fmt: str, kind: str = "format") -> dict:
    return {"format": fmt, "path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "kind": kind}


def ovf_system(profile) -> ovf.OvfSystem:
    try:
        entry = catalog.get(profile.os)
        os_type = entry.cim_os_type.get(profile.arch, 1)
        os_name = entry.name
    except GoldenError:                    # an OS the catalog does not know still gets an OVA
        os_type, os_name = 1, profile.os
    return ovf.OvfSystem(name=profile.name, description=profile.description, os_type=os_type, os_name=os_name,
                         is_64bit=profile.arch == "x86_64", memory_mib=int(profile.machine.memory),
                         vcpus=profile.machine.vcpus,
                         nic_model=None if profile.network.mode == "none" else (profile.network.model or "virtio"),
                         firmware=profile.machine.firmware)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def write_ova(profile, sources: list[Path], out: Path, scratch: Path) -> None:
    vmdks, disks = [], []
    for i, src in enumerate(sources):
        vmdk = scratch / f"{profile.name}-disk{i + 1}.vmdk"
        pub.convert(src, vmdk, "vmdk")
        virtual, _ = pub.virtual_and_allocated(vmdk)
        bus = profile.disks[i].bus if i < len(profile.disks) else None
        vmdks.append(vmdk)
        disks.append(ovf.OvfDisk(href=vmdk.name, file_bytes=vmdk.stat().st_size, capacity=virtual or 0,
                                 bus=bus or "virtio"))
    descriptor = ovf.descriptor(ovf_system(profile), disks)
    ovf_name = f"{profile.name}.ovf"
    lines = [f"SHA256({ovf_name})= {hashlib.sha256(descriptor).hexdigest()}"]
    lines += [f"SHA256({v.name})= {sha256_file(v)}" for v in vmdks]
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        _add_bytes(tar, ovf_name, descriptor)
        for v in vmdks:
            info = tar.gettarinfo(str(v), arcname=v.name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(v, "rb") as f:
                tar.addfile(info, f)
        _add_bytes(tar, f"{profile.name}.mf", ("\n".join(lines) + "\n").encode())


def publish_formats(profile, sources: list[Path], directory: Path, publication, main: dict) -> list[dict]:
    """Stage every output.formats file; the main image stands for its own format."""
    out = []
    compress = profile.output.compress
    for fmt in dict.fromkeys(profile.output.formats):
        if fmt == profile.output.format:
            out.append({**{k: main[k] for k in ("path", "sha256", "bytes")}, "format": fmt, "kind": "image"})
            continue
        final = target(directory, profile.name, fmt)
        tmp = publication.stage(final)
        if fmt == "ova":
            with pub.scratch_dir(directory, f".{profile.name}.ova.") as scratch:
                write_ova(profile, sources, tmp, scratch)
        else:
            pub.convert(sources[0], tmp, QEMU[fmt], compress)
        os.chmod(tmp, 0o644)
        entry = _entry(tmp, fmt)
        entry["path"] = str(final)
        out.append(entry)
    return out
