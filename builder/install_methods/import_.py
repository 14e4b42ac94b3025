"""import: no installer; disks[0] is an existing image that virt-install boots (--import)."""

from __future__ import annotations

from builder.install_methods.base import InstallMethod


class Import(InstallMethod):
    name = "import"
    needs_media = False
    needs_kickstart = False
    imports_first_disk = True

    def rules(self, p, entry):
        if not p.disks[0].path:
            return [(["disks", 0, "path"], "install method import needs an existing disk image here", None)]
        return []

    def source_args(self, ctx):
        return ["--import"]


METHOD = Import()
