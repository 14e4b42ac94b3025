"""What an install method is: the hooks each call site asks of it.

A method module holds everything that differs between methods; the call
sites (rules, side media, plan, virt-install argv, inputs, keys, remote
staging) ask the registry instead of testing the method's name. Nothing
here imports libvirt, so the plan stays pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from builder.catalog import OsEntry
    from builder.layout import BuildLayout
    from builder.profile.schema import Profile

# (field path, message, hint) as builder/profile/rules.py records an Issue.
Problem = tuple[list, str, "str | None"]


class SourceArgs(Protocol):
    """The virt-install pieces a method assembles its install source from (builder/virt/install_cmd.py)."""
    profile: Profile
    entry: OsEntry
    layout: BuildLayout
    media: object                 # resolved install media: a path or URL

    def installer_args(self, delivery: str) -> list[str]: ...
    def tree(self, args: list[str], inject: bool = True) -> list[str]: ...
    def boot_cd(self, path) -> list[str]: ...
    def cd(self, path) -> list[str]: ...
    def floppy(self, path) -> list[str]: ...


class InstallMethod:
    """Defaults fit a method that boots something and needs no side medium."""
    name: str = ""
    needs_media = True            # install.media is required
    needs_kickstart = True        # a Linux profile needs a kickstart: section
    kickstart_on_media = False    # its install media carry the kickstart: remade when it changes
    network_tree = False          # the installer itself reads a URL media as its tree (kickstart `url`)
    tree_boot = False             # virt-install boots the kernel and initrd of the media (--location)
    installs_pv = False           # can install a Xen para-virtualized guest (from a network tree)
    installs_windows = False      # can run Windows setup from its ISO
    imports_first_disk = False    # disks[0] is an existing image, not a disk to create
    media_file: str | None = None  # BuildLayout attribute of the side medium it writes (its remote role)
    ks_delivery: str | None = None  # how the installer finds the kickstart (render/bootargs.py ks_arg)

    def rules(self, p: Profile, entry: OsEntry) -> list[Problem]:
        """Problems of this method with a Linux profile that has media and is not PV or Windows."""
        return []

    def cdroms(self, p: Profile) -> list[str]:
        """What the CD drives hold for this method (before any Windows driver CD)."""
        return []

    def floppies(self, p: Profile) -> list[str]:
        return []

    def artifacts(self, entry: OsEntry, layout: BuildLayout, media_description: str) -> list:
        """The plan's artifacts besides the kickstart (builder.plan.Artifact)."""
        return []

    def source_args(self, ctx: SourceArgs) -> list[str]:
        """The virt-install arguments that start the install of a Linux guest."""
        raise NotImplementedError(self.name)

    def write_media(self, ks: bytes, media: str | None, entry: OsEntry, p: Profile, layout: BuildLayout) -> None:
        """Write the side medium that carries the kickstart, if the method has one."""

    def __repr__(self) -> str:
        return f"<install method {self.name}>"


def local_media_cd(p: Profile) -> list[str]:
    # virt-install attaches a local --location ISO as a CD.
    media = p.install.media or ""
    return ["media"] if media and "://" not in media else []


def iso_not_url(name: str, p: Profile) -> list[Problem]:
    if p.install.media_is_url:
        return [(["install", "media"], f"method {name} boots an ISO; {p.install.media!r} is a URL",
                 "use method: location for a network install tree")]
    return []
