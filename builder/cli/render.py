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
    virt_type = accel.domain_type(p.hypervisor)
    return InstallTarget(connect=uri, virt_type=virt_type, osinfo=resolve_osinfo(entry), mac=mac, media=media)


def demo_media_for_plan() -> tuple[str | None, str]:
    """The demo ISO a plan names, and a note saying whether it exists yet.

    `golden plan` must not build it (seconds of work, files in the cache):
    it names the cache path the first install will fill.
    """
    from builder.demo.media import cached_iso
    from builder.errors import HostError

    try:
        iso, cached = cached_iso()
    except HostError as exc:
        return None, f"demo media cannot be built on this host: {exc.message}"
    if cached:
        return str(iso), f"demo media: {iso} (cached)"
    return str(iso), (f"demo media: {iso} does not exist yet; `golden install` builds it first "
                      "(or run `golden demo-media`)")


def plan_for(loaded: LoadedProfile, connect: str | None = None, cwd: Path | None = None) -> BuildPlan:
    media, note = None, None
    if loaded.profile.install.media == "demo":
        media, note = demo_media_for_plan()
    plan = make_plan(loaded, cwd=cwd or Path.cwd(), host=host_facts(connect),
                     target=install_target(loaded, connect, media=media))
    if note:
        plan.notes.insert(0, note)
    return plan
