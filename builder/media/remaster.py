"""Turn a vendor RHEL-like install ISO into one that installs by itself.

The result boots the installer entry by default, after `timeout_s`, with the
caller's kickstart arguments, on every path firmware can take:

- BIOS: ISOLINUX reads isolinux/isolinux.cfg;
- UEFI from the CD: GRUB reads the ISO's EFI/BOOT/grub.cfg;
- UEFI from the same image as a disk: GRUB reads EFI/BOOT/grub.cfg inside
  images/efiboot.img, the FAT image the El Torito EFI entry points at.

/ks.cfg is added (or replaced). Nothing is extracted: the source is copied
by the kernel and the few changed sectors are written over the copy (see
isopatch), so the volume label (Anaconda finds its stage2 by it), both El
Torito entries, the boot-info table and every other file stay byte for
byte as they were. The same inputs give the same output bytes.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import GoldenError, InputError
from builder.fsutil import atomic_path
from builder.media import bootcfg, fat
from builder.media.isopatch import IsoVolume

ISOLINUX_CFG = "isolinux/isolinux.cfg"
GRUB_CFG = "EFI/BOOT/grub.cfg"
EFIBOOT_IMG = "images/efiboot.img"
KS_PATH = "ks.cfg"


@dataclass
class RemasterReport:
    src: Path
    out: Path | None              # None for a plan that wrote nothing
    label: str                    # the volume label, unchanged
    changed: list[str]            # ISO paths whose bytes differ from the source
    added: list[str]              # ISO paths that are new
    boot_lines: dict[str, str]    # config -> the installer entry's kernel line as it now reads
    entries: dict[str, str]       # config -> the label / menu entry now booted by default
    boot_images: list[str]        # El Torito entries kept, e.g. "bios isolinux/isolinux.bin"
    size: int                     # bytes of the result
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.src} -> {self.out or '(plan)'}: label {self.label!r}, {self.size:,} bytes"]
        lines += [f"  added   {p}" for p in self.added]
        lines += [f"  changed {p}" for p in self.changed if p not in self.added]
        lines += [f"  {cfg}: [{self.entries[cfg]}] {line}" for cfg, line in self.boot_lines.items()]
        lines += [f"  boot    {b}" for b in self.boot_images]
        lines += [f"  note    {n}" for n in self.notes]
        return "\n".join(lines)


def plan_remaster(src_iso: Path, ks: bytes, ks_args: list[str], *,
                  timeout_s: int = 1) -> RemasterReport:
    """What remaster() would change, without writing anything."""
    vol = IsoVolume(Path(src_iso))
    try:
        return _edit(vol, Path(src_iso), ks, ks_args, timeout_s)
    finally:
        vol.close()


def remaster(src_iso: Path, out_iso: Path, ks: bytes, ks_args: list[str], *,
             timeout_s: int = 1, verify: bool = True) -> RemasterReport:
    """Write the unattended copy of `src_iso` to `out_iso` atomically.

    With `verify`, the result is re-read by pycdlib (an independent reader)
    before it is renamed into place: label, El Torito entries, ks.cfg and
    the edited configurations must read back as intended.
    """
    src_iso, out_iso = Path(src_iso), Path(out_iso)
    if out_iso.exists() and src_iso.exists() and os.path.samefile(src_iso, out_iso):
        raise InputError("the remastered ISO would overwrite its source",
                         "write it to another path", where=str(out_iso))
    vol = IsoVolume(src_iso)
    try:
        report = _edit(vol, src_iso, ks, ks_args, timeout_s)
        with atomic_path(out_iso) as tmp:
            _copy_and_patch(src_iso, tmp, vol.overlay.changed(), report.size)
            if verify:
                _verify(tmp, vol, report, ks)
        report.out = out_iso
        return report
    finally:
        vol.close()


# ---------------------------------------------------------------- editing

def _edit(vol: IsoVolume, src: Path, ks: bytes, ks_args: list[str], timeout_s: int) -> RemasterReport:
    where = str(src)
    if not isinstance(ks, (bytes, bytearray)) or not ks:
        raise InputError("the kickstart is empty (or not bytes)", where="ks")
    ks_args = bootcfg.check_ks_args(ks_args)
    bootcfg.check_timeout(timeout_s)
    tree = vol.iso_tree
    images = vol.boot_images()
    bios = next((b for b in images if b.platform == 0), None)
    efi = next((b for b in images if b.platform == 0xEF), None)

    isolinux = vol.find(tree, ISOLINUX_CFG)
    if isolinux is None and bios is not None:
        # ISOLINUX looks for its config beside isolinux.bin.
        boot_path = vol.path_of_extent(tree, bios.lba)
        if boot_path and "/" in boot_path:
            isolinux = vol.find(tree, boot_path.rsplit("/", 1)[0] + "/isolinux.cfg")
    grub = vol.find(tree, GRUB_CFG)
    if isolinux is None and grub is None:
        raise InputError(f"no {ISOLINUX_CFG} and no {GRUB_CFG}: not a RHEL-like install ISO",
                         "point install.media at a RHEL/CentOS/Fedora installer ISO, or boot "
                         "the kickstart from side media (OEMDRV) instead", where=where)

    report = RemasterReport(src, None, vol.label, [], [], {}, {}, [], 0)
    for found, edit in ((isolinux, bootcfg.edit_isolinux), (grub, bootcfg.edit_grub)):
        if found is None:
            continue
        path = found.path
        text = vol.read_file(found).decode("utf-8", "surrogateescape")
        result = edit(text, ks_args, timeout_s, where=f"{where}: {path}")
        new = result.text.encode("utf-8", "surrogateescape")
        report.boot_lines[path] = result.line
        report.entries[path] = result.entry
        if new != text.encode("utf-8", "surrogateescape"):
            vol.replace(path, new)
            report.changed.append(path)
    if isolinux is None:
        report.notes.append(f"no {ISOLINUX_CFG}: BIOS boot menu not changed")
    if grub is None:
        legacy = vol.find(tree, "EFI/BOOT/BOOTX64.conf")
        report.notes.append(f"no {GRUB_CFG}: UEFI boot menu not changed"
                            + (" (EFI/BOOT/BOOTX64.conf is GRUB legacy, RHEL 6)" if legacy else ""))

    _edit_efiboot(vol, tree, efi, ks_args, timeout_s, report, where)

    existing = vol.find(tree, KS_PATH)
    if existing is not None:
        if vol.read_file(existing) != bytes(ks):
            vol.replace(KS_PATH, bytes(ks))
            report.changed.append(existing.path)
    else:
        vol.add("", KS_PATH, bytes(ks))
        report.added.append(KS_PATH)
        report.changed.append(KS_PATH)

    for b in images:
        kind = {0: "bios", 0xEF: "efi"}.get(b.platform, hex(b.platform))
        report.boot_images.append(f"{kind} {vol.path_of_extent(tree, b.lba) or f'sector {b.lba}'}")
    if report.changed and b"ISO MD5SUM = " in vol.application_use:
        report.notes.append("the media checksum implanted by implantisomd5 no longer matches; "
                            "the 'Test this media' entry (rd.live.check) would fail, and it is "
                            "no longer the default")
    report.changed.sort()
    report.size = vol.finish()
    return report


def _edit_efiboot(vol: IsoVolume, tree, efi, ks_args, timeout_s, report, where) -> None:
    image = vol.find(tree, EFIBOOT_IMG)
    if efi is not None and (image is None or image.record.extent != efi.lba):
        path = vol.path_of_extent(tree, efi.lba)
        image = vol.find(tree, path) if path else None
        if image is None:
            report.notes.append(f"the El Torito EFI image at sector {efi.lba} is not a file on "
                                "the ISO; its grub.cfg was not changed")
            return
    if image is None:
        if report.boot_lines and vol.find(tree, GRUB_CFG) is not None:
            report.notes.append(f"no {EFIBOOT_IMG}: only the ISO's {GRUB_CFG} was changed")
        return
    path = image.path
    old = vol.read_file(image)
    inner = f"{path}:{GRUB_CFG}"
    try:
        text = fat.read_file(old, GRUB_CFG).decode("utf-8", "surrogateescape")
    except InputError:
        report.notes.append(f"{path} holds no {GRUB_CFG}; UEFI disk boot menu not changed")
        return
    except Exception as e:     # not a FAT image pyfatfs can read
        report.notes.append(f"{path} is not a readable FAT image ({e}); not changed")
        return
    result = bootcfg.edit_grub(text, ks_args, timeout_s, where=f"{where}: {inner}")
    report.boot_lines[inner] = result.line
    report.entries[inner] = result.entry
    new_text = result.text.encode("utf-8", "surrogateescape")
    if new_text == text.encode("utf-8", "surrogateescape"):
        return
    new = fat.replace_file(old, GRUB_CFG, new_text, where=f"{where}: {path}")
    vol.replace(path, new)
    report.changed.append(path)


# ---------------------------------------------------------------- output

def _copy_and_patch(src: Path, dst: Path, patches: list[tuple[int, bytes]], size: int) -> None:
    """Copy in the kernel (copy_file_range: reflinks where the file system
    can), then write the changed sectors over the copy.

    `dst` exists and is empty (atomic_path made it). It is opened without
    O_TRUNC on purpose: ext4 treats truncate-then-rewrite as "replace a
    file" and starts writeback of every dirty page at close, which cost
    0.25 s for 700 MB here; cp does not truncate either.
    """
    fi = os.open(src, os.O_RDONLY)
    fo = os.open(dst, os.O_WRONLY)
    try:
        total = os.fstat(fi).st_size
        done = 0
        try:
            while done < total:
                n = os.copy_file_range(fi, fo, total - done, done, done)
                if n == 0:
                    break
                done += n
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            while done < total:
                chunk = os.pread(fi, min(8 << 20, total - done), done)
                if not chunk:
                    break
                done += os.pwrite(fo, chunk, done)
        for offset, data in patches:
            os.pwrite(fo, data, offset)
        if os.fstat(fo).st_size != size:
            os.ftruncate(fo, size)
    finally:
        os.close(fi)
        os.close(fo)


def _verify(path: Path, vol: IsoVolume, report: RemasterReport, ks: bytes) -> None:
    from builder.media.iso import IsoReader

    def fail(what: str) -> GoldenError:
        return GoldenError(f"the remastered ISO does not read back as intended: {what}",
                           "this is a bug in golden's ISO patching; please report it with "
                           "the source ISO's name", where=str(report.src))

    try:
        reader = IsoReader(path)
    except InputError as e:
        raise fail(f"pycdlib cannot open it ({e.message})") from None
    with reader:
        if reader.label() != report.label:
            raise fail(f"label {reader.label()!r} instead of {report.label!r}")
        if reader.read(KS_PATH) != bytes(ks):
            raise fail("ks.cfg differs from the kickstart given")
        entries = reader.boot_entries()
        want = sorted(b.lba for b in vol.boot_images())
        if sorted(e.lba for e in entries) != want:
            raise fail(f"El Torito entries at {sorted(e.lba for e in entries)} instead of {want}")
        for path_, line in report.boot_lines.items():
            if ":" in path_:
                continue
            if line not in reader.read(path_).decode("utf-8", "surrogateescape"):
                raise fail(f"{path_} does not hold the edited boot line")
