"""Pure parsers and editors of the image layer: fstab, KEY=value files, sed edits, boot loaders."""

from __future__ import annotations

import pytest

from builder.errors import InputError
from builder.image import bootloader, guestpath, sedexpr, shellvars
from builder.image.fstab import mount_plan, parse_fstab, resolve_spec
from builder.image.lvm import LvmError, _map_linear, dashed, parse_config
from builder.image.model import Filesystem, LogicalVolume, Partition
from builder.image.netconf import persistent_net_rules
from builder.image.seal import unpin_keyfile

FS = [
    Filesystem("/dev/sda1", "ext4", "boot", "1111-aa", 100),
    Filesystem("/dev/sda5", "ext4", "", "2222-BB", 100),
    Filesystem("/dev/sda6", "swap", "", "3333", 100),
    Filesystem("/dev/VolGroup00/LogVol00", "ext3", "/", "4444", 100),
    Filesystem("/dev/my-vg/lv-home", "ext4", "", "5555", 100),
    Filesystem("/dev/sdb1", "xfs", "", "6666", 100),          # the guest's second disk
]
PARTS = [Partition("/dev/sda1", 1, 0, 100, "gpt", "X", "ABCD-1", name="boot")]


@pytest.mark.parametrize("spec,device", [
    ("UUID=2222-bb", "/dev/sda5"),
    ('UUID="1111-aa"', "/dev/sda1"),
    ("LABEL=boot", "/dev/sda1"),
    ("LABEL=/", "/dev/VolGroup00/LogVol00"),          # RHEL 3-5 style
    ("/dev/disk/by-uuid/2222-BB", "/dev/sda5"),
    ("/dev/disk/by-label/boot", "/dev/sda1"),
    ("PARTUUID=abcd-1", "/dev/sda1"),
    ("PARTLABEL=boot", "/dev/sda1"),
    ("/dev/mapper/VolGroup00-LogVol00", "/dev/VolGroup00/LogVol00"),
    ("/dev/mapper/my--vg-lv--home", "/dev/my-vg/lv-home"),
    ("/dev/VolGroup00/LogVol00", "/dev/VolGroup00/LogVol00"),
    ("/dev/vda5", "/dev/sda5"), ("/dev/hda1", "/dev/sda1"), ("/dev/xvda1", "/dev/sda1"),
    # The n-th disk by any bus's name is the guest's n-th disk, our /dev/sd<n>.
    ("/dev/sdb1", "/dev/sdb1"), ("/dev/vdb1", "/dev/sdb1"), ("/dev/xvdb1", "/dev/sdb1"),
    ("/dev/cciss/c0d1p1", "/dev/sdb1"), ("/dev/hdb1", "/dev/sdb1"),
    ("/dev/vdc1", None),                              # a third disk the guest was not given
    ("UUID=nope", None), ("tmpfs", None),
])
def test_resolve_spec(spec, device):
    assert resolve_spec(spec, FS, PARTS) == device


def test_fstab_parse_and_mount_plan_orders_parents_first():
    text = ("# comment\n\nUUID=2222-BB / ext4 defaults 1 1\n"
            "/dev/mapper/my--vg-lv--home /home/user/data ext4 defaults 1 2\n"
            "LABEL=boot /boot ext4 defaults 1 2\n"
            "UUID=3333 swap swap defaults 0 0\n"
            "tmpfs /dev/shm tmpfs defaults 0 0\n"
            "UUID=9999 /srv ext4 defaults 0 0\n"
            "LABEL=/ /mnt/other ext3 noauto 0 0\n"
            "/srv/a /srv/b none bind 0 0\n"
            "/dev/sda6\\040x /odd\\040name ext4 defaults\n")
    entries = parse_fstab(text)
    assert entries[0].spec == "UUID=2222-BB" and entries[0].passno == 1
    assert entries[-1].spec == "/dev/sda6 x" and entries[-1].mountpoint == "/odd name"
    mounts, notes = mount_plan(entries, FS, PARTS, "/dev/sda5")
    assert [(m.mountpoint, m.device) for m in mounts] == [
        ("/", "/dev/sda5"), ("/boot", "/dev/sda1"), ("/home/user/data", "/dev/my-vg/lv-home")]
    assert any("UUID=9999 for /srv" in n for n in notes)


def test_shellvars_parse_and_edit_keep_the_rest():
    text = '# comment\nDEVICE=eth0\nHWADDR="52:54:00:AA:BB:CC"\nNAME=\'System eth0\'\nUUID=x # trailing\n'
    assert shellvars.parse(text) == {"DEVICE": "eth0", "HWADDR": "52:54:00:AA:BB:CC", "NAME": "System eth0",
                                     "UUID": "x"}
    new, removed = shellvars.remove_vars(text, {"HWADDR", "UUID"})
    assert removed == ["HWADDR", "UUID"]
    assert new == "# comment\nDEVICE=eth0\nNAME='System eth0'\n"
    assert shellvars.set_var(text, "HWADDR", "11:22:33:44:55:66").splitlines()[2] == 'HWADDR="11:22:33:44:55:66"'
    assert shellvars.set_var("A=1\nA=2\n", "A", "3") == "A=3\n"
    assert shellvars.set_var("A=1", "B", "two words") == 'A=1\nB="two words"\n'
    assert shellvars.set_var("A=1\n", "B", "x", add=False) == "A=1\n"


@pytest.mark.parametrize("expr,text,out,count", [
    ("s/a/b/", "aaa\naa\n", "baa\nba\n", 2),
    ("s/a/b/g", "aaa\n", "bbb\n", 3),
    ("s/A/b/gi", "aA\n", "bb\n", 2),
    ("s|/usr|/opt|", "/usr/bin\n", "/opt/bin\n", 1),
    (r"s/(\w+)=(\w+)/\2=\1 [&]/", "k=v\n", "v=k [k=v]\n", 1),
    (r"s/x/\&/", "x\n", "&\n", 1),
    ("s/^#PermitRootLogin.*/PermitRootLogin no/", "#PermitRootLogin yes\n", "PermitRootLogin no\n", 1),
    (r"s/a\/b/c/", "a/b\n", "c\n", 1),
    ("s/$/!/", "x\ny", "x!\ny!", 2),
])
def test_sed_substitutions(expr, text, out, count):
    assert sedexpr.parse(expr).apply(text) == (out, count)


@pytest.mark.parametrize("expr", ["y/a/b/", "s/a/b", "s/a/b/x", "s/(/b/", "sa", "s a b "])
def test_bad_sed_expressions_are_input_errors(expr):
    with pytest.raises(InputError):
        sedexpr.parse(expr)


def test_grub_legacy():
    cfg = bootloader.parse_grub_legacy(
        "default=1\ntimeout=5\ntitle A\n\troot (hd0,0)\n\tkernel /vmlinuz-a ro root=/dev/sda2 quiet\n"
        "\tinitrd /initrd-a.img\ntitle B\n\tkernel /vmlinuz-b ro\n")
    assert cfg["default"] == 1 and [e["title"] for e in cfg["entries"]] == ["A", "B"]
    assert cfg["entries"][0]["args"] == "ro root=/dev/sda2 quiet"
    assert bootloader.default_entry(cfg)["kernel"] == "/vmlinuz-b"


def test_grub2_and_bls():
    text = ("set default=\"${saved_entry}\"\nmenuentry 'Linux A' --class x $menuentry_id_option 'id-a' {\n"
            "  if true; then\n    echo\n  fi\n  linux16 /vmlinuz-a root=UUID=1 ro\n  initrd16 /initramfs-a.img\n}\n"
            "menuentry \"Linux B\" {\n  linux /vmlinuz-b ro\n}\nblscfg\n")
    cfg = bootloader.parse_grub2(text, {"saved_entry": "Linux B"})
    assert [e["title"] for e in cfg["entries"]] == ["Linux A", "Linux B"]
    assert cfg["entries"][0]["id"] == "id-a" and cfg["entries"][0]["args"] == "root=UUID=1 ro"
    assert cfg["blscfg"] and bootloader.default_entry(cfg)["kernel"] == "/vmlinuz-b"
    bls = bootloader.parse_bls("title T\nversion 5.14\nlinux /vmlinuz-5.14\ninitrd /initramfs-5.14.img $tuned\n"
                               "options $kernelopts console=ttyS0\n", {"kernelopts": "root=/dev/x ro"})
    assert bls["args"] == "root=/dev/x ro console=ttyS0" and bls["initrd"] == "/initramfs-5.14.img"


def test_extlinux():
    cfg = bootloader.parse_extlinux("DEFAULT golden\nLABEL rescue\n  KERNEL /vmlinuz\nLABEL golden\n"
                                    "  MENU LABEL Golden demo\n  LINUX /boot/vmlinuz\n"
                                    "  APPEND initrd=/boot/initrd.img console=ttyS0 root=LABEL=root\n")
    e = bootloader.default_entry(cfg)
    assert e["title"] == "Golden demo" and e["initrd"] == "/boot/initrd.img"
    assert "console=ttyS0" in e["args"]


def test_persistent_net_rules():
    rules = persistent_net_rules('# x\nSUBSYSTEM=="net", ATTR{address}=="52:54:00:AA:bb:cc", NAME="eth0"\n')
    assert rules == [{"mac": "52:54:00:aa:bb:cc", "name": "eth0"}]


def test_unpin_keyfile_keeps_everything_but_the_pins():
    text = ("[connection]\nid=eth0\nuuid=1c9d2a65\ntype=ethernet\n\n[ethernet]\nmac-address=52:54:00:99:00:01\n"
            "cloned-mac-address=stable\n\n[ipv4]\nmethod=auto\n")
    new, removed = unpin_keyfile(text)
    assert removed == ["connection.uuid", "ethernet.mac-address"]
    assert new == ("[connection]\nid=eth0\ntype=ethernet\n\n[ethernet]\ncloned-mac-address=stable\n\n"
                   "[ipv4]\nmethod=auto\n")
    assert unpin_keyfile("[ethernet]\ncloned-mac-address=52:54:00:00:00:01\n")[1] == ["ethernet.cloned-mac-address"]


def test_guest_path_resolution_stays_inside_the_guest():
    links = {"/bin": "usr/bin", "/etc/localtime": "/usr/share/zoneinfo/UTC", "/a": "../../../../b",
             "/loop": "/loop", "/usr/bin/sh": "bash"}

    def resolve(p, follow=True):
        return guestpath.resolve(p, is_link=lambda q: q in links, readlink=links.__getitem__, follow_last=follow)

    assert resolve("/bin/sh") == "/usr/bin/bash"
    assert resolve("/bin/sh", follow=False) == "/usr/bin/sh"
    assert resolve("/etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert resolve("/a/c") == "/b/c"                # ".." never climbs above the guest root
    assert resolve("/x/../../etc") == "/etc"
    with pytest.raises(OSError):
        resolve("/loop")


def test_lvm_config_and_linear_mapping():
    cfg = parse_config('vg {\nid = "abc"\nseqno = 3\nstatus = ["READ", "WRITE"]\n# c\n'
                       'pv0 {\n id = "x"\n pe_start = 2048\n}\nname = "a \\"q\\" b"\n}\ncontents = "Text"\n')
    assert cfg["vg"]["status"] == ["READ", "WRITE"] and cfg["vg"]["pv0"]["pe_start"] == 2048
    assert cfg["vg"]["name"] == 'a "q" b'
    with pytest.raises(LvmError):
        parse_config("vg {\nid = \"x\"\n")
    assert dashed("lwjyt4dIs0y8qbyqa6abzzLyre5PHM1W") == "lwjyt4-dIs0-y8qb-yqa6-abzz-Lyre-5PHM1W"
    lv = LogicalVolume("lv", "vg", "/dev/vg/lv", "u", 0)
    pvs = {"pv0": ("/dev/sda2", 1000)}
    seg = {"start_extent": 0, "extent_count": 2, "type": "striped", "stripe_count": 1, "stripes": ["pv0", 3]}
    assert _map_linear(lv, [seg], pvs, 10).offset == 1030
    seg2 = dict(seg, start_extent=2, stripes=["pv0", 5])
    assert _map_linear(lv, [seg, seg2], pvs, 10).offset == 1030     # contiguous on disk
    seg3 = dict(seg, start_extent=2, stripes=["pv0", 9])
    assert _map_linear(lv, [seg, seg3], pvs, 10).offset is None
    assert "not linear" in _map_linear(lv, [dict(seg, stripe_count=2)], pvs, 10).reason
    assert "not on this disk" in _map_linear(lv, [dict(seg, stripes=["pv1", 0])], pvs, 10).reason


@pytest.mark.parametrize("raw, value", [('"a b"', "a b"), ('"a b"  # why', "a b"), ("'x y' # z", "x y"),
                                        ("plain # c", "plain"), ('"say \\"hi\\""', 'say "hi"'), ('""', "")])
def test_values_read_as_the_shell_reads_them(raw, value):
    # One reader for ifcfg files, /etc/sysconfig and os-release (builder/net/ifcfg.py uses it too).
    assert shellvars.unquote(raw) == value
    from builder.net.ifcfg import Ifcfg
    assert Ifcfg.parse(f"KEY={raw}\n").get("KEY") == value
