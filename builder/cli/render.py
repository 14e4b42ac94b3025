"""Glue between loaded profiles and renderers, shared by several commands."""

from __future__ import annotations

from pathlib import Path

from builder import catalog
from builder.plan import BuildPlan, make_plan
from builder.profile.loader import LoadedProfile
from builder.virt import accel
from builder.virt.hostfacts import default_connect_uri, host_facts, resolve_osinfo
from builder.virt.install_cmd import InstallTarget


def render_answer_files(loaded: LoadedProfile) -> list[str]:
    """Render (and so validate) what the profile generates; return what was checked."""
    entry = catalog.get(loaded.profile.os)
    if entry.is_windows:
        from builder.windows import unattend
        result = unattend.render(loaded)
        return [f"{name} ({check})" for name, check in result.checks()]
    if loaded.profile.kickstart is None:
        return ["profile (no kickstart: import)"]
    from builder.render.kickstart import render
    ks = render(loaded, host_facts())
    return [f"kickstart (pykickstart {ks.version})"]


def install_target(loaded: LoadedProfile, connect: str | None = None, mac: str | None = None,
                   media: str | None = None) -> InstallTarget:
    p = loaded.profile
    entry = catalog.get(p.os)
    uri = connect or default_connect_uri()
    if p.hypervisor == "xen":
        virt_type = "xen"
    else:
        virt_type = accel.probe().virt_type
    return InstallTarget(connect=uri, virt_type=virt_type, osinfo=resolve_osinfo(entry), mac=mac, media=media)


def plan_for(loaded: LoadedProfile, connect: str | None = None, cwd: Path | None = None) -> BuildPlan:
    return make_plan(loaded, cwd=cwd or Path.cwd(), host=host_facts(), target=install_target(loaded, connect))
