"""cdrom: the install ISO booted as it is; for Linux nothing tells Anaconda where a kickstart is."""

from __future__ import annotations

from builder.install_methods.base import InstallMethod


class Cdrom(InstallMethod):
    name = "cdrom"
    installs_windows = True

    def rules(self, p, entry):
        # virt-install --cdrom takes no kernel arguments, so nothing tells Anaconda where the kickstart is.
        return [(["install", "method"],
                 f"method cdrom boots {entry.name}'s installer with no kickstart argument and "
                 "no side media: it would wait at the boot prompt until the watchdog kills it",
                 "use method: remaster (the ISO's boot entries carry the ks argument), ksfloppy (RHEL 3-6, "
                 "ks=hd:fd0), oemdrv (RHEL 7+, an OEMDRV side CD) or location (the kickstart injected)")]

    def cdroms(self, p):
        return ["media"]

    def source_args(self, ctx):
        return ctx.boot_cd(ctx.media)


METHOD = Cdrom()
