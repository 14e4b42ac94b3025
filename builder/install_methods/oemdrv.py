"""oemdrv: the install ISO booted, the kickstart on a side CD labelled OEMDRV (RHEL 7+ finds it)."""

from __future__ import annotations

from builder.install_methods.base import InstallMethod, iso_not_url


class Oemdrv(InstallMethod):
    name = "oemdrv"
    kickstart_on_media = True
    media_file = "oemdrv_iso"
    ks_delivery = "oemdrv"

    def rules(self, p, entry):
        out = iso_not_url(self.name, p)
        if not entry.kickstart.oemdrv:
            out.append((["install", "method"],
                        f"Anaconda reads an OEMDRV side disk by itself only from RHEL 7; {entry.name} does not",
                        "use method: remaster, ksfloppy or location"))
        return out

    def cdroms(self, p):
        return ["media", "oemdrv"]

    def artifacts(self, entry, layout, media_description):
        from builder.plan import Artifact
        return [Artifact(layout.oemdrv_iso, "iso", "side CD labelled OEMDRV with ks.cfg")]

    def source_args(self, ctx):
        return ctx.boot_cd(ctx.media) + ctx.cd(ctx.layout.oemdrv_iso)

    def write_media(self, ks, media, entry, p, layout):
        from builder.media import sidemedia
        sidemedia.oemdrv_iso(ks, layout.oemdrv_iso)


METHOD = Oemdrv()
