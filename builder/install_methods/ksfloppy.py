"""ksfloppy: the tree's kernel and initrd booted, the kickstart on a floppy (ks=hd:fd0:/ks.cfg)."""

from __future__ import annotations

from builder.install_methods.base import InstallMethod, local_media_cd


class KsFloppy(InstallMethod):
    name = "ksfloppy"
    kickstart_on_media = True
    tree_boot = True
    media_file = "ks_floppy"
    ks_delivery = "floppy"

    def cdroms(self, p):
        return local_media_cd(p)

    def floppies(self, p):
        return ["kickstart"]

    def artifacts(self, entry, layout, media_description):
        from builder.plan import Artifact
        return [Artifact(layout.ks_floppy, "floppy", "1.44 MB floppy with ks.cfg (ks=hd:fd0:/ks.cfg)")]

    def source_args(self, ctx):
        args = ctx.installer_args(self.ks_delivery)
        return ctx.tree(args, inject=False) + ctx.floppy(ctx.layout.ks_floppy)

    def write_media(self, ks, media, entry, p, layout):
        from builder.media import sidemedia
        sidemedia.ks_floppy(ks, layout.ks_floppy)


METHOD = KsFloppy()
