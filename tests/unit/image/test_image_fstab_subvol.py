"""fstab entries that name btrfs subvolumes or MD arrays: which mounts golden plans for them."""

from __future__ import annotations

import pytest

from builder.image.fstab import mount_plan, parse_fstab, resolve_spec, subvolume
from builder.image.model import Filesystem, Mount

UUID = "5d1e7c3a-0b7e-4c55-9d0c-3a9f8e2b1c44"
BTRFS = [Filesystem("/dev/sda1", "btrfs", "", UUID, 2 << 30), Filesystem("/dev/sda2", "swap", "", "s-1", 1 << 20)]


@pytest.mark.parametrize("options, want", [
    ("defaults,subvol=@", "subvol=@"),
    ("subvol=/@home,compress=zstd", "subvol=@home"),
    ("subvolid=256", "subvolid=256"),
    ("subvolid=257,subvol=@var", "subvol=@var"),     # the path names it; the kernel checks they agree
    ("subvol=/", "subvol=/"),
    ("defaults,noatime", ""),
    ("subvol=,subvolid=x", ""),
])
def test_subvolume_option(options, want):
    assert subvolume(options) == want


def test_each_subvolume_of_one_btrfs_is_its_own_mount():
    fstab = parse_fstab(f"UUID={UUID} / btrfs defaults,subvol=@ 0 0\n"
                        f"UUID={UUID} /home btrfs defaults,subvol=/@home 0 0\n"
                        f"UUID={UUID} /var/log btrfs subvolid=258 0 0\n"
                        f"UUID={UUID} /home btrfs subvol=@home 0 0\n"     # the same mount twice
                        "UUID=s-1 none swap sw 0 0\n")
    mounts, notes = mount_plan(fstab, BTRFS, [], "/dev/sda1", "subvol=@")
    assert mounts == [Mount("/", "/dev/sda1", "btrfs", "subvol=@"),
                      Mount("/home", "/dev/sda1", "btrfs", "subvol=@home"),
                      Mount("/var/log", "/dev/sda1", "btrfs", "subvolid=258")]
    assert notes == []


def test_subvol_option_is_ignored_on_other_file_systems():
    fs = [Filesystem("/dev/sda1", "ext4", "", "e-1", 1 << 30), Filesystem("/dev/sda2", "ext4", "", "e-2", 1 << 30)]
    mounts, _ = mount_plan(parse_fstab("UUID=e-2 /srv ext4 subvol=@srv 0 2\n"), fs, [], "/dev/sda1")
    assert mounts[1] == Mount("/srv", "/dev/sda2", "ext4", "")
    assert mounts[1].to_dict()["subvol"] == ""


def test_md_array_names_resolve_when_the_array_is_on_this_disk():
    fs = [Filesystem("/dev/md127", "ext4", "", "r-1", 1 << 30)]
    assert resolve_spec("/dev/md127", fs, []) == "/dev/md127"
    assert resolve_spec("/dev/md0", fs, []) is None          # another array: not guessed
    assert resolve_spec("UUID=r-1", fs, []) == "/dev/md127"


def test_no_os_error_names_the_layers_it_could_not_open(tmp_path):
    from builder.image.guest import no_os_error
    e = no_os_error(tmp_path / "vm.raw", ["LUKS container /dev/sda2 (no key given)"])
    assert e.exit_code == 2
    assert str(e) == f"{tmp_path / 'vm.raw'}: no Linux root file system found; could not open " \
                     "LUKS container /dev/sda2 (no key given)"


# ---- crypttab names ------------------------------------------------------------------------

from builder.image.fstab import crypttab_names  # noqa: E402
from builder.image.model import Partition  # noqa: E402

LUKS_UUID = "9c1f3a2e-4d5b-4e6f-8a7b-1c2d3e4f5a6b"
PARTS = [Partition("/dev/sda1", 1, 0, 1, "primary", "0x83", ""), Partition("/dev/sda2", 2, 1, 1, "primary", "0x83", ""),
         Partition("/dev/sdb1", 1, 0, 1, "primary", "0x83", "")]
OPENED = {"/dev/sda2": (LUKS_UUID, "/dev/mapper/luks0-sda2"), "/dev/sdb1": ("", "/dev/mapper/luks0-sdb1")}
INSIDE = [Filesystem("/dev/mapper/luks0-sda2", "ext4", "", "r-1", 1),
          Filesystem("/dev/mapper/luks0-sdb1", "xfs", "", "h-1", 1), Filesystem("/dev/sda1", "ext4", "", "b-1", 1)]


def test_crypttab_names_map_to_the_opened_containers():
    text = (f"# <target> <source> <key> <options>\nroot_crypt UUID={LUKS_UUID.upper()} none luks,discard\n"
            "home_crypt /dev/vdb1 /etc/keys/home.key luks\nswap_crypt /dev/sda3 /dev/urandom swap\n\n")
    names = crypttab_names(text, OPENED, INSIDE, PARTS)
    # An unopened container (sda3) gets no name: its fstab entry stays unresolved.
    assert names == {"/dev/mapper/root_crypt": "/dev/mapper/luks0-sda2",
                     "/dev/mapper/home_crypt": "/dev/mapper/luks0-sdb1"}
    assert resolve_spec("/dev/mapper/home_crypt", INSIDE, PARTS, names) == "/dev/mapper/luks0-sdb1"
    assert resolve_spec("/dev/mapper/swap_crypt", INSIDE, PARTS, names) is None
    plan, _ = mount_plan(parse_fstab("/dev/mapper/root_crypt / ext4 defaults 0 1\n"
                                     "/dev/mapper/home_crypt /home xfs defaults 0 2\n"
                                     "UUID=b-1 /boot ext4 defaults 0 2\n"),
                         INSIDE, PARTS, "/dev/mapper/luks0-sda2", mapper_names=names)
    assert [(m.mountpoint, m.device) for m in plan] == [("/", "/dev/mapper/luks0-sda2"), ("/boot", "/dev/sda1"),
                                                        ("/home", "/dev/mapper/luks0-sdb1")]
