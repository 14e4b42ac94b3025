"""location: virt-install boots the tree's kernel and initrd and injects the kickstart."""

from __future__ import annotations

from builder.install_methods.base import InstallMethod, local_media_cd


class Location(InstallMethod):
    name = "location"
    network_tree = True
    tree_boot = True
    installs_pv = True
    ks_delivery = "file"

    def cdroms(self, p):
        return local_media_cd(p)

    def source_args(self, ctx):
        return ctx.tree(ctx.installer_args(self.ks_delivery))


METHOD = Location()
