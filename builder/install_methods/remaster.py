"""remaster: a copy of the install ISO whose boot entries carry the ks argument and ks.cfg."""

from __future__ import annotations

from builder.install_methods.base import InstallMethod, iso_not_url


class Remaster(InstallMethod):
    name = "remaster"
    kickstart_on_media = True
    media_file = "remastered_iso"
    ks_delivery = "cdrom"

    def rules(self, p, entry):
        return iso_not_url(self.name, p)

    def cdroms(self, p):
        return ["media"]

    def boot_args(self, entry, virt: str) -> list[str]:
        """What the remastered ISO's boot entries add: where the kickstart is, and the console."""
        from builder.render import bootargs
        return bootargs.ks_arg(entry, self.ks_delivery) + bootargs.installer_console(entry, virt)

    def artifacts(self, entry, layout, media_description):
        from builder.plan import Artifact
        from builder.render import bootargs
        args = " ".join(bootargs.ks_arg(entry, self.ks_delivery))
        return [Artifact(layout.remastered_iso, "iso",
                         f"copy of {media_description} with ks.cfg and `{args}` "
                         "in isolinux.cfg, EFI/BOOT/grub.cfg and images/efiboot.img")]

    def source_args(self, ctx):
        return ctx.boot_cd(ctx.layout.remastered_iso)

    def write_media(self, ks, media, entry, p, layout):
        from pathlib import Path

        from builder.media.remaster import remaster
        remaster(Path(media), layout.remastered_iso, ks, self.boot_args(entry, p.virt))


METHOD = Remaster()
