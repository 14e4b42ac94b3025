"""FAT images golden writes or edits, read back by mtools and fsck.fat."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.errors import InputError
from builder.media import fat

from media_isos import run

DRIVER_FILES = {
    "txtsetup.oem": b"[Disks]\nd1 = \"Red Hat VirtIO\",\\viostor.sys,\\\n",
    "amd64/w2k3/viostor.sys": bytes(range(256)) * 200,
    "amd64/w2k3/viostor.inf": b"; inf\r\n" * 50,
    "i386/w2k3/viostor.sys": bytes(reversed(range(256))) * 150,
    "Autounattend.xml": b"<?xml version=\"1.0\"?><unattend/>\n",
    "$WinPEDriver$/amd64/viostor.cat": b"cat" * 10,
    "empty.txt": b"",
}


@pytest.fixture
def floppy(tmp_path) -> Path:
    return fat.make_floppy(tmp_path / "drivers.img", DRIVER_FILES, label="VIRTIO")


def test_geometry_and_fsck(floppy):
    assert floppy.stat().st_size == 1_474_560
    info = run("minfo", "-i", str(floppy), "::").stdout
    for expected in ("sector size: 512 bytes", "cluster size: 1 sectors", "fats: 2",
                     "max available root directory slots: 224", "small size: 2880 sectors",
                     "media descriptor byte: 0xf0", "sectors per track: 18", "heads: 2",
                     "sectors per fat: 9"):
        assert expected in info, expected
    out = run("fsck.fat", "-n", str(floppy)).stdout
    assert "Leaving filesystem unchanged" not in out or "error" not in out.lower()
    data = floppy.read_bytes()
    assert data[512:515] == b"\xf0\xff\xff" and data[512 + 9 * 512: 512 + 9 * 512 + 3] == b"\xf0\xff\xff"


def test_mtools_reads_every_file(floppy):
    for path, content in DRIVER_FILES.items():
        assert run("mtype", "-i", str(floppy), f"::{path}", text=False).stdout == content, path
    listing = run("mdir", "-i", str(floppy), "-/", "::").stdout
    assert "TXTSETUP OEM" in listing and "VIOSTOR  SYS" in listing
    assert "Autounattend.xml" in listing and "$WinPEDriver$" in listing
    assert "Volume in drive : is VIRTIO" in listing
    # Fixed time stamps on every entry, "." and ".." included.
    stamps = [line for line in listing.splitlines() if "<DIR>" in line or line[:8].strip().isupper()]
    assert stamps and all("2020-01-01   0:00" in line for line in stamps if line[:1] != " ")


def test_short_names_are_upper_case_and_sorted(floppy):
    listing = run("mdir", "-i", str(floppy), "-b", "-/", "::").stdout.splitlines()
    assert "::/TXTSETUP.OEM" in listing and "::/AMD64/W2K3/VIOSTOR.SYS" in listing
    root = run("mdir", "-i", str(floppy), "::").stdout
    names = [line.split()[0] for line in root.splitlines()[3:] if line[:1].isalpha() and "files" not in line]
    short = [n for n in names if n not in ("$WINPEDR", "AUTOUNAT")]
    assert short == sorted(short)


def test_same_input_same_bytes(tmp_path):
    a = fat.make_floppy(tmp_path / "a.img", DRIVER_FILES, label="VIRTIO").read_bytes()
    b = fat.make_floppy(tmp_path / "b.img", dict(reversed(DRIVER_FILES.items())), label="VIRTIO").read_bytes()
    assert a == b
    c = fat.make_floppy(tmp_path / "c.img", {**DRIVER_FILES, "empty.txt": b"x"}, label="VIRTIO").read_bytes()
    assert c[39:43] != a[39:43]            # the serial follows the content


def test_overflow_lists_every_file_and_the_capacity(tmp_path):
    files = {"big1.bin": b"\1" * 800_000, "big2.bin": b"\2" * 700_000, "ks.cfg": b"k"}
    with pytest.raises(InputError) as e:
        fat.make_floppy(tmp_path / "x.img", files)
    msg = str(e.value)
    assert "BIG1.BIN: 800,000 bytes" in msg and "BIG2.BIN: 700,000 bytes" in msg
    assert "KS.CFG: 1 bytes" in msg
    assert f"{fat.FLOPPY_CAPACITY:,}" in msg
    assert not (tmp_path / "x.img").exists()


def test_exactly_full_floppy_fits(tmp_path):
    img = fat.make_floppy(tmp_path / "full.img", {"fill.bin": b"\xaa" * fat.FLOPPY_CAPACITY})
    assert img.stat().st_size == fat.FLOPPY_SIZE
    assert run("mtype", "-i", str(img), "::fill.bin", text=False).stdout == b"\xaa" * fat.FLOPPY_CAPACITY
    subprocess.run(["fsck.fat", "-n", str(img)], check=True, capture_output=True)
    with pytest.raises(InputError):
        fat.make_floppy(tmp_path / "over.img", {"fill.bin": b"\xaa" * (fat.FLOPPY_CAPACITY + 1)})


def test_root_entry_limit(tmp_path):
    files = {f"F{i:03d}.TXT": b"" for i in range(225)}
    with pytest.raises(InputError, match="224 entries"):
        fat.make_floppy(tmp_path / "x.img", files)
    files.popitem()
    img = fat.make_floppy(tmp_path / "ok.img", files)
    subprocess.run(["fsck.fat", "-n", str(img)], check=True, capture_output=True)
    assert len(fat.list_files(img)) == 224


@pytest.mark.parametrize("name", ["a:b.txt", "what?.txt", "tab\tname", "trailing.", "x/../y", "x//y"])
def test_names_fat_cannot_hold_are_refused(tmp_path, name):
    with pytest.raises(InputError, match="file name"):
        fat.make_floppy(tmp_path / "x.img", {name: b"x"})


def test_case_duplicates_and_file_folder_clashes_are_refused(tmp_path):
    with pytest.raises(InputError, match="name the same file"):
        fat.make_floppy(tmp_path / "x.img", {"ks.cfg": b"a", "KS.CFG": b"b"})
    with pytest.raises(InputError, match="folder"):
        fat.make_floppy(tmp_path / "x.img", {"drv": b"a", "drv/x.sys": b"b"})


def test_bad_label_is_refused(tmp_path):
    with pytest.raises(InputError, match="label"):
        fat.make_floppy(tmp_path / "x.img", {"a": b"a"}, label="lowercase")
    with pytest.raises(InputError, match="label"):
        fat.make_floppy(tmp_path / "x.img", {"a": b"a"}, label="TWELVE_CHARS")


# ---------------------------------------------------------------- existing images

def _mkfs(path: Path, bits: int, kib: int) -> Path:
    run("mkfs.fat", "-F", str(bits), "-n", "ANACONDA", "-C", str(path), str(kib))
    run("mmd", "-i", str(path), "::EFI", "::EFI/BOOT")
    src = path.with_suffix(".src")
    src.write_bytes(b"set timeout=60\n" * 200)      # three 1 KiB clusters or so
    run("mcopy", "-i", str(path), str(src), "::EFI/BOOT/grub.cfg")
    src.write_bytes(b"MZ" * 5000)
    run("mcopy", "-i", str(path), str(src), "::EFI/BOOT/BOOTX64.EFI")
    return path


@pytest.mark.parametrize("bits,kib", [(12, 2880), (16, 9000), (32, 40000)])
@pytest.mark.parametrize("size", [0, 10, 3000, 20_000])
def test_replace_file_in_mkfs_fat_images(tmp_path, bits, kib, size):
    img = _mkfs(tmp_path / "efiboot.img", bits, kib)
    before = img.read_bytes()
    listing_before = run("mdir", "-i", str(img), "::EFI/BOOT").stdout
    new = bytes((i * 7) % 251 for i in range(size))
    fat.replace_file_in_image(img, "efi/boot/GRUB.CFG", new)     # any case finds it
    after = img.read_bytes()
    assert len(after) == len(before)
    assert run("mtype", "-i", str(img), "::EFI/BOOT/grub.cfg", text=False).stdout == new
    assert run("mtype", "-i", str(img), "::EFI/BOOT/BOOTX64.EFI", text=False).stdout == b"MZ" * 5000
    subprocess.run(["fsck.fat", "-n", str(img)], check=True, capture_output=True)
    listing = run("mdir", "-i", str(img), "::EFI/BOOT").stdout
    # Still a lower-case short name (case flags kept), same date; only the size moved.
    grub_line = next(line for line in listing.splitlines() if line.startswith("grub"))
    old_line = next(line for line in listing_before.splitlines() if line.startswith("grub"))
    assert grub_line.split()[:2] == old_line.split()[:2] and grub_line.split()[3:] == old_line.split()[3:]
    assert fat.read_file(img, "EFI/BOOT/grub.cfg") == new


def test_replace_file_that_does_not_fit(tmp_path):
    img = _mkfs(tmp_path / "e.img", 12, 200)
    with pytest.raises(InputError, match="do not fit"):
        fat.replace_file_in_image(img, "EFI/BOOT/grub.cfg", b"x" * 300_000)
    with pytest.raises(InputError, match="not found"):
        fat.replace_file_in_image(img, "EFI/BOOT/nope.cfg", b"x")


def test_list_files(tmp_path, floppy):
    files = fat.list_files(floppy)
    assert files["TXTSETUP.OEM"] == len(DRIVER_FILES["txtsetup.oem"])
    assert files["$WinPEDriver$/AMD64/VIOSTOR.CAT"] == 30
    assert files["Autounattend.xml"] == len(DRIVER_FILES["Autounattend.xml"])
