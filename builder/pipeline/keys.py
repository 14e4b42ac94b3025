"""Stage keys: what each stage's output depends on, hashed and chained.

Big inputs (vendor ISOs, disks) count by path, size and mtime; secret files by
size and mtime only, so no key is derived from a password's content. The
kickstart counts by its rendered bytes, which already carry the password hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from builder import catalog, install_methods
from builder.layout import BuildLayout
from builder.pipeline.record import key_of
from builder.pipeline.tools import file_fingerprint, tool_versions
from builder.plan import BuildPlan, make_plan
from builder.profile.dump import resolved_dump
from builder.profile.loader import LoadedProfile
from builder.virt.hostfacts import default_connect_uri, host_facts
from builder.virt.install_cmd import InstallTarget


@dataclass
class StageKeys:
    connect: str
    accelerator: str
    tools: dict
    profile_sha256: str
    plan: BuildPlan
    validate: str
    kickstart: str
    media: str
    install: str
    inspect: str
    customize: str
    seal: str
    publish: str
    depends: dict


def _accelerator(loaded: LoadedProfile, uri: str) -> str:
    from builder.virt import accel, connection
    # A remote target is keyed by its URI: computing keys never contacts another host.
    remote = None if connection.is_local(uri) else (lambda: f"remote:{uri}")
    return accel.domain_type(loaded.profile.hypervisor, remote)


def _media_identity(loaded: LoadedProfile):
    p = loaded.profile
    media = p.install.media
    if media is None or p.install.media_is_url:
        return media
    if media == "demo":
        from builder.demo.media import cache_key, inputs
        return ["demo", cache_key(inputs())]
    return file_fingerprint(Path(media))


def _secret_files(value) -> list:
    """Fingerprints (never contents) of every {file: ...} secret or upload under value."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "file" and isinstance(v, str):
                found.append(file_fingerprint(Path(v)))
            else:
                found += _secret_files(v)
    elif isinstance(value, list):
        for v in value:
            found += _secret_files(v)
    return found


def _customize_inputs(loaded: LoadedProfile) -> list:
    out = []
    for step in loaded.profile.customize:
        data = step.model_dump(mode="json", exclude_none=True)
        files = _secret_files(data)
        for field in ("upload", "firstboot"):
            if field in data:
                src = data[field].partition(":")[0] if field == "upload" else data[field]
                path = Path(src)
                files.append(hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None)
        out.append([data, files])
    return out


def compute_keys(loaded: LoadedProfile, layout: BuildLayout, connect: str | None, cwd: Path) -> StageKeys:
    p = loaded.profile
    entry = catalog.get(p.os)
    uri = connect or default_connect_uri()
    accelerator = _accelerator(loaded, uri)
    tools = tool_versions()
    resolved = resolved_dump(loaded)
    profile_sha = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()
    virt_type = accelerator if accelerator in ("kvm", "qemu", "xen") else "kvm"
    plan = make_plan(loaded, cwd=cwd, host=host_facts(uri), target=InstallTarget(connect=uri, virt_type=virt_type))
    entry_json = entry.model_dump(mode="json")
    validate = key_of("validate", profile_sha)
    ks_sha = hashlib.sha256(plan.kickstart.data).hexdigest() if plan.kickstart else None
    kickstart = key_of("kickstart", ks_sha, entry_json)
    windows = resolved.get("windows")
    # Media that carry the kickstart are remade when it changes.
    ks_in_media = install_methods.get(p.install.method).kickstart_on_media
    media = key_of("media", p.install.method, _media_identity(loaded),
                   kickstart if ks_in_media else None,
                   windows, _secret_files(p.model_dump(mode="json").get("windows")),
                   tools["golden"])
    install_inputs = {k: resolved.get(k) for k in ("name", "os", "arch", "hypervisor", "machine", "disks",
                                                   "network", "install", "virt")}
    install = key_of("install", kickstart, media, install_inputs, entry_json,
                     {k: tools[k] for k in ("qemu", "libvirt", "virt-install")}, accelerator, uri)
    inspect = key_of("inspect", install, tools["golden"], tools["libguestfs"])
    customize = key_of("customize", inspect, _customize_inputs(loaded))
    # Compaction runs in the seal stage only for a compressed publish; old keys stay valid without it.
    seal = key_of("seal", customize, resolved.get("seal"), *(["compact"] if p.output.compress != "none" else []))
    # Compression and extra formats join the key only when set, so older keys stay valid.
    extras = [p.output.compress, p.output.formats] if p.output.compress != "none" or p.output.formats else []
    publish = key_of("publish", seal, p.output.format, str(layout.image), *extras)
    return StageKeys(connect=uri, accelerator=accelerator, tools=tools, profile_sha256=profile_sha, plan=plan,
                     validate=validate, kickstart=kickstart, media=media, install=install, inspect=inspect,
                     customize=customize, seal=seal, publish=publish,
                     depends={"kickstart": [], "install": ["kickstart", "media"], "inspect": ["install"],
                              "customize": ["inspect"], "seal": ["customize"], "publish": ["seal"],
                              "media": ["kickstart"] if ks_in_media else []})
