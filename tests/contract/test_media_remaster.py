"""Remastered ISOs, checked by readers golden does not contain: xorriso
(osirrox extraction, El Torito report), isoinfo, mtools and fsck.fat."""

from __future__ import annotations

import hashlib
import struct
import subprocess

import pytest

from builder.errors import InputError
from builder.media import bootcfg, fat
from builder.media.iso import write_iso
from builder.media.remaster import plan_remaster, remaster

from media_isos import (DATA, RHEL5_LABEL, RHEL8_LABEL, el_torito, extract, make_efiboot,
                        make_rhel5_iso, make_rhel8_iso, master, rhel8_tree, run)

KS = b"# kickstart\ntext\nreboot\n"
ARGS = [f"inst.ks=hd:LABEL={RHEL8_LABEL}:/ks.cfg"]
EDITED = {"isolinux/isolinux.cfg", "EFI/BOOT/grub.cfg", "images/efiboot.img"}


@pytest.fixture(scope="module", params=["pycdlib", "xorriso", "genisoimage"])
def remastered(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"remaster-{request.param}")
    src = make_rhel8_iso(tmp, request.param)
    out = tmp / "out.iso"
    report = remaster(src, out, KS, ARGS, timeout_s=1)
    return src, out, report, extract(src, tmp / "a"), extract(out, tmp / "b"), tmp


def _strip_trans(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if not k.endswith("TRANS.TBL")}


def test_only_ks_and_boot_files_differ(remastered):
    src, out, report, before, after, _ = remastered
    before, after = _strip_trans(before), _strip_trans(after)
    assert set(after) == set(before) | {"ks.cfg"}
    assert after["ks.cfg"] == KS
    differing = {p for p in before if before[p] != after[p]}
    assert differing == EDITED
    assert sorted(report.changed) == sorted(EDITED | {"ks.cfg"})
    assert report.added == ["ks.cfg"]


def test_boot_configs_boot_the_installer_with_the_kickstart(remastered):
    _, _, report, before, after, _ = remastered
    iso_cfg = after["isolinux/isolinux.cfg"].decode()
    assert bootcfg.edit_isolinux(before["isolinux/isolinux.cfg"].decode(), ARGS, 1).text == iso_cfg
    assert "timeout 10\n" in iso_cfg
    assert iso_cfg.count("menu default") == 1
    linux_block = iso_cfg.split("label linux", 1)[1].split("label check", 1)[0]
    assert "menu default" in linux_block and ARGS[0] in linux_block
    assert "rd.live.check" not in linux_block
    grub = after["EFI/BOOT/grub.cfg"].decode()
    assert 'set default="0"' in grub and "set timeout=1\n" in grub
    first = grub.split("menuentry", 2)[1]
    assert f"linuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL={RHEL8_LABEL} quiet {ARGS[0]}" in first
    assert grub.count("inst.ks=") == 1
    assert report.entries["isolinux/isolinux.cfg"] == "linux"
    assert report.boot_lines["EFI/BOOT/grub.cfg"].endswith(ARGS[0])


def test_efiboot_img_only_grub_cfg_changed(remastered):
    _, _, report, before, after, tmp = remastered
    a, b = tmp / "efi-a.img", tmp / "efi-b.img"
    a.write_bytes(before["images/efiboot.img"])
    b.write_bytes(after["images/efiboot.img"])
    assert a.stat().st_size == b.stat().st_size
    listing = [run("mdir", "-i", str(img), "-/", "-a", "::").stdout for img in (a, b)]
    # Same entries, sizes and dates except grub.cfg's size line.
    diff = [(x, y) for x, y in zip(*(lst.splitlines() for lst in listing)) if x != y]
    assert all("grub" in x.lower() or "bytes" in x for x, _ in diff), diff
    assert run("mtype", "-i", str(a), "::EFI/BOOT/BOOTX64.EFI", text=False).stdout == \
        run("mtype", "-i", str(b), "::EFI/BOOT/BOOTX64.EFI", text=False).stdout
    inner = run("mtype", "-i", str(b), "::EFI/BOOT/grub.cfg").stdout
    assert inner == after["EFI/BOOT/grub.cfg"].decode()
    assert report.boot_lines["images/efiboot.img:EFI/BOOT/grub.cfg"].endswith(ARGS[0])
    run("fsck.fat", "-n", str(b))


def test_el_torito_label_and_readers(remastered):
    src, out, _, _, _, _ = remastered
    report = el_torito(out)
    assert report == el_torito(src)
    assert any("BIOS" in line and "boot img" in line for line in report)
    assert any("UEFI" in line and "boot img" in line for line in report)
    assert "El Torito img path :   1  /isolinux/isolinux.bin" in report
    assert "El Torito img path :   2  /images/efiboot.img" in report
    info = run("isoinfo", "-d", "-i", str(out)).stdout
    assert f"Volume id: {RHEL8_LABEL}" in info
    assert "Eltorito validation header" in info
    assert "ks.cfg" in run("isoinfo", "-R", "-l", "-i", str(out)).stdout
    assert run("isoinfo", "-J", "-x", "/ks.cfg", "-i", str(out), text=False).stdout == KS
    assert run("isoinfo", "-x", "/KS.CFG;1", "-i", str(out), text=False).stdout == KS


def test_boot_info_table_still_valid(remastered):
    _, out, _, _, after, _ = remastered
    data = out.read_bytes()
    bin_ = after["isolinux/isolinux.bin"]
    pvd, file_lba, length, csum = struct.unpack_from("<IIII", bin_, 8)
    assert pvd == 16 and length == len(bin_)
    assert data[file_lba * 2048: file_lba * 2048 + length] == bin_
    words = struct.unpack_from(f"<{(length - 64) // 4}I", bin_, 64)
    assert csum == sum(words) & 0xFFFFFFFF


def test_remastering_twice_gives_the_same_bytes(remastered):
    src, out, _, _, _, tmp = remastered
    again = tmp / "again.iso"
    remaster(src, again, KS, ARGS, timeout_s=1)
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(out.read_bytes()).digest()


def test_remastering_the_result_replaces_ks_and_args(remastered, tmp_path):
    _, out, _, _, _, _ = remastered
    second = tmp_path / "second.iso"
    report = remaster(out, second, b"new kickstart\n", ["inst.ks=cdrom:/ks.cfg"], timeout_s=5)
    files = _strip_trans(extract(second, tmp_path / "x"))
    assert files["ks.cfg"] == b"new kickstart\n"
    assert report.added == []
    iso_cfg = files["isolinux/isolinux.cfg"].decode()
    assert "inst.ks=cdrom:/ks.cfg" in iso_cfg and ARGS[0] not in iso_cfg
    assert "timeout 50\n" in iso_cfg
    assert files["EFI/BOOT/grub.cfg"].decode().count("inst.ks=") == 1


def test_rhel5_isolinux_only(tmp_path):
    src = make_rhel5_iso(tmp_path, "genisoimage")
    out = tmp_path / "out.iso"
    report = remaster(src, out, KS, ["ks=cdrom:/ks.cfg"], timeout_s=2)
    before, after = _strip_trans(extract(src, tmp_path / "a")), _strip_trans(extract(out, tmp_path / "b"))
    assert set(after) == set(before) | {"ks.cfg"}
    assert {p for p in before if before[p] != after[p]} == {"isolinux/isolinux.cfg"}
    cfg = after["isolinux/isolinux.cfg"].decode()
    assert "default linux\n" in cfg and "timeout 20\n" in cfg
    assert "  append initrd=initrd.img ks=cdrom:/ks.cfg\n" in cfg
    assert "  append ks initrd=initrd.img\n" in cfg        # the other "ks" label is left alone
    assert report.label == RHEL5_LABEL
    assert f"Volume id: {RHEL5_LABEL}" in run("isoinfo", "-d", "-i", str(out)).stdout
    assert any("no EFI/BOOT/grub.cfg" in n for n in report.notes)
    assert len(el_torito(out)) == len(el_torito(src))


def test_non_rhel_iso_is_refused(tmp_path):
    src = write_iso(tmp_path / "plain.iso", {"README": b"hello\n"}, "DATA")
    with pytest.raises(InputError) as e:
        remaster(src, tmp_path / "out.iso", KS, ARGS)
    assert "no isolinux/isolinux.cfg and no EFI/BOOT/grub.cfg: not a RHEL-like install ISO" in str(e.value)
    assert str(src) in str(e.value)
    assert not (tmp_path / "out.iso").exists()


def test_udf_bridge_iso_is_refused(tmp_path):
    import io

    import pycdlib
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident="WIN", udf="2.60")
    cfg = b"label linux\n  kernel vmlinuz\n"
    iso.add_directory("/ISOLINUX", udf_path="/isolinux")
    iso.add_fp(io.BytesIO(cfg), len(cfg), "/ISOLINUX/ISOLINUX.CFG;1", udf_path="/isolinux/isolinux.cfg")
    iso.write(str(tmp_path / "udf.iso"))
    iso.close()
    with pytest.raises(InputError, match="UDF"):
        remaster(tmp_path / "udf.iso", tmp_path / "out.iso", KS, ARGS)


def test_not_an_iso_is_refused(tmp_path):
    bogus = tmp_path / "x.iso"
    bogus.write_bytes(b"\0" * 40000)
    with pytest.raises(InputError, match="not an ISO 9660 image"):
        remaster(bogus, tmp_path / "out.iso", KS, ARGS)


@pytest.mark.parametrize("bad", [["inst.ks=cdrom:/ks.cfg extra"], ["a\nb"], [""], [],
                                 ["inst.ks=$x"], ['a"b']])
def test_bad_ks_args_are_refused_and_nothing_is_written(tmp_path, bad):
    src = make_rhel5_iso(tmp_path, "pycdlib")
    out = tmp_path / "out.iso"
    out.write_bytes(b"previous")
    with pytest.raises(InputError):
        remaster(src, out, KS, bad)
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_implanted_checksum_is_reported(tmp_path):
    src = make_rhel8_iso(tmp_path, "xorriso")
    with open(src, "r+b") as f:          # what implantisomd5 leaves in the PVD
        f.seek(16 * 2048 + 883)
        f.write(b"ISO MD5SUM = 0123456789abcdef0123456789abcdef;SKIPSECTORS = 15;")
    report = plan_remaster(src, KS, ARGS)
    assert any("implantisomd5" in n for n in report.notes)


def test_plan_writes_nothing(tmp_path):
    src = make_rhel8_iso(tmp_path, "xorriso")
    before = src.read_bytes()
    report = plan_remaster(src, KS, ARGS)
    assert report.out is None and sorted(report.changed) == sorted(EDITED | {"ks.cfg"})
    assert src.read_bytes() == before


def test_full_root_directory_and_grown_config_are_relocated(tmp_path):
    """A root directory with no room for ks.cfg moves to the end of the image,
    and an isolinux.cfg that outgrows its sector is re-pointed; every pointer
    (descriptors, ".", "..", path tables, Joliet) must follow."""
    tree = tmp_path / "tree"
    files = rhel8_tree(tree)
    # Fill the root directory's sector(s) to the brim with long names.
    for i in range(40):
        p = tree / f"filler-file-with-a-long-name-{i:03d}.txt"
        p.write_bytes(b"x")
        files[p.name] = p
    cfg = tree / "isolinux" / "isolinux.cfg"
    text = cfg.read_text()
    cfg.write_text(text + "#" * (4096 - len(text) - 2) + "\n")     # ends one byte short of 2 sectors
    src = master(tree, files, tmp_path / "src.iso", RHEL8_LABEL, "xorriso")
    out = tmp_path / "out.iso"
    for attempt in range(40):      # grow the filler until ks.cfg no longer fits the root
        report = plan_remaster(src, KS, ARGS)
        root_before = _root_extent(src)
        remaster(src, out, KS, ARGS)
        if _root_extent(out) != root_before:
            break
        p = tree / f"more-filler-with-a-long-name-{attempt:03d}.txt"
        p.write_bytes(b"y")
        files[p.name] = p
        master(tree, files, src, RHEL8_LABEL, "xorriso")
    else:
        pytest.fail("could not make the root directory overflow")
    assert report.size > src.stat().st_size
    before, after = extract(src, tmp_path / "a"), extract(out, tmp_path / "b")
    assert set(after) == set(before) | {"ks.cfg"}
    assert {p for p in before if before[p] != after[p]} == EDITED
    # Path tables agree with the moved root (isoinfo -p prints them; pycdlib
    # checked them when remaster() verified its output).
    path_table = run("isoinfo", "-p", "-i", str(out)).stdout
    assert f"   1:    1 {_root_extent(out):x} \n" in path_table        # isoinfo prints hex
    joliet = run("isoinfo", "-J", "-l", "-i", str(out)).stdout
    assert "ks.cfg" in joliet and "filler-file-with-a-long-name-039.txt" in joliet
    assert el_torito(out) == el_torito(src)
    assert _extent_of(out, "isolinux/isolinux.cfg") > _extent_of(src, "isolinux/isolinux.cfg")


def _extent_of(iso, path: str) -> int:
    from builder.media.isopatch import IsoVolume
    vol = IsoVolume(iso)
    try:
        return vol.find(vol.iso_tree, path).record.extent
    finally:
        vol.close()


def _root_extent(iso) -> int:
    with open(iso, "rb") as f:
        f.seek(16 * 2048 + 156 + 2)
        return struct.unpack("<I", f.read(4))[0]


def test_efiboot_made_with_fat16_is_edited(tmp_path):
    tree = tmp_path / "tree"
    files = rhel8_tree(tree)
    make_efiboot(tree / "images" / "efiboot.img", (DATA / "grub-rhel9.cfg").read_bytes(),
                 fat_bits=16, kib=9000)
    (tree / "EFI" / "BOOT" / "grub.cfg").write_bytes((DATA / "grub-rhel9.cfg").read_bytes())
    src = master(tree, files, tmp_path / "src.iso", RHEL8_LABEL, "xorriso")
    out = tmp_path / "out.iso"
    report = remaster(src, out, KS, ARGS)
    after = extract(out, tmp_path / "b")
    inner = fat.read_file(after["images/efiboot.img"], "EFI/BOOT/grub.cfg").decode()
    assert inner == after["EFI/BOOT/grub.cfg"].decode()
    assert "\tlinux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=RHEL-9-6-0-BaseOS-x86_64 quiet " \
           f"{ARGS[0]}\n" in inner
    assert report.entries["images/efiboot.img:EFI/BOOT/grub.cfg"] == "Install Red Hat Enterprise Linux 9.6"
    img = tmp_path / "e.img"
    img.write_bytes(after["images/efiboot.img"])
    subprocess.run(["fsck.fat", "-n", str(img)], check=True, capture_output=True)
