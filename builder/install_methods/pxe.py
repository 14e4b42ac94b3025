"""pxe: the guest network-boots from golden's TFTP tree, whose menu carries the kickstart."""

from __future__ import annotations

from builder.install_methods.base import InstallMethod


class Pxe(InstallMethod):
    name = "pxe"
    kickstart_on_media = True     # the TFTP tree's boot entries point at it
    network_tree = True

    def rules(self, p, entry):
        if p.network.mode not in ("bridge", "pxe"):
            return [(["network", "mode"], "PXE needs a bridged network or golden's PXE network, "
                     "not NAT (seed 7.3, HV-10)", "use network: {mode: bridge, source: br0} or mode: pxe")]
        return []

    def artifacts(self, entry, layout, media_description):
        from builder.plan import Artifact
        return [Artifact(layout.build_dir / "pxe", "pxe-tree",
                         "TFTP tree: pxelinux.0, kernel, initrd, pxelinux.cfg/01-<mac>, grub.cfg-01-<mac>")]

    def source_args(self, ctx):
        return ["--pxe"]


METHOD = Pxe()
