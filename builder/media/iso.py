"""Reading and writing ISO 9660 images with pycdlib.

Reading resolves a path the way a person means it: by its Rock Ridge name,
then its Joliet name, then its ISO 9660 name, and if none matches exactly,
case-insensitively with ISO 9660 ";1" versions ignored.

Writing is reproducible: files and folders are added in sorted order, every
date pycdlib would take from the clock (records, Rock Ridge TF entries,
volume descriptors) is pinned to REPRODUCIBLE_EPOCH in UTC, and the result
is renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from builder.errors import InputError
from builder.fsutil import REPRODUCIBLE_EPOCH, atomic_path

_PLATFORMS = {0: "bios", 1: "ppc", 2: "mac", 0xEF: "efi"}
_MEDIA = {0: "noemul", 1: "floppy1.2", 2: "floppy1.44", 3: "floppy2.88", 4: "hdemul"}


@dataclass(frozen=True)
class BootEntry:
    """One El Torito boot entry: what firmware loads when it boots the disc."""

    platform: str          # "bios", "efi", "ppc" or "mac"
    path: str | None       # the file whose data the entry points at, if any
    lba: int               # first 2048-byte sector of the boot image
    sectors: int           # load size in 512-byte sectors (0: firmware decides)
    emulation: str         # "noemul" for isolinux.bin and efiboot.img


# ---------------------------------------------------------------- reading

def _strip_version(name: str) -> str:
    name = name.split(";", 1)[0]
    return name[:-1] if name.endswith(".") else name


class IsoReader:
    """An ISO opened read-only; use as a context manager."""

    def __init__(self, path: Path):
        import pycdlib
        self.path = Path(path)
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(self.path))
        except FileNotFoundError:
            raise InputError(f"{self.path}: no such ISO file", where=str(self.path)) from None
        except pycdlib.pycdlibexception.PyCdlibException as e:
            raise InputError(f"not a readable ISO 9660 image ({e})",
                             "check that the file is an ISO and not truncated",
                             where=str(self.path)) from None
        # What pycdlib raises for a path that is not there (or not a folder).
        self._missing = (pycdlib.pycdlibexception.PyCdlibInvalidInput,
                         pycdlib.pycdlibexception.PyCdlibException, UnicodeError)
        if self._iso.has_rock_ridge():
            self._kind = "rr_path"
        elif self._iso.has_joliet():
            self._kind = "joliet_path"
        else:
            self._kind = "iso_path"

    def __enter__(self) -> IsoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._iso.close()

    @property
    def pycdlib(self):
        """The underlying pycdlib object, for callers that need more."""
        return self._iso

    # names ----------------------------------------------------------------

    def _name(self, rec, kind: str) -> str:
        if kind == "rr_path" and rec.rock_ridge is not None:
            return rec.rock_ridge.name().decode("utf-8", "replace")
        ident = rec.file_identifier()
        if kind == "joliet_path":
            return ident.decode("utf-16_be", "replace")
        return _strip_version(ident.decode("ascii", "replace"))

    def _children(self, kind: str, path: str):
        for rec in self._iso.list_children(**{kind: path}):
            if rec is None or rec.is_dot() or rec.is_dotdot():
                continue
            yield self._name(rec, kind), rec

    def _resolve(self, path: str) -> tuple[str, str] | None:
        """(keyword, exact path) under which pycdlib finds `path`, or None."""
        parts = [p for p in path.strip("/").split("/") if p]
        kinds = [self._kind] + [k for k in ("joliet_path", "iso_path")
                                if k != self._kind and (k != "joliet_path" or self._iso.has_joliet())]
        missing = self._missing
        for kind in kinds:
            exact = "/" + "/".join(parts)
            if kind == "iso_path":
                exact = "/" + "/".join(p.upper() for p in parts)
                with contextlib.suppress(*missing):
                    rec = self._iso.get_record(iso_path=exact + ";1")
                    if rec.is_file():
                        return kind, exact + ";1"
            with contextlib.suppress(*missing):
                self._iso.get_record(**{kind: exact})
                return kind, exact
        # Case-insensitive walk, in the richest namespace the ISO has.
        kind = self._kind
        current = ""
        for part in parts:
            want = _strip_version(part).casefold()
            try:
                match = next((n for n, _ in self._children(kind, current or "/")
                              if _strip_version(n).casefold() == want), None)
            except missing:
                return None
            if match is None:
                return None
            current += "/" + (match if kind != "iso_path" else self._raw_iso_name(current, match))
        return kind, current or "/"

    def _raw_iso_name(self, parent: str, stripped: str) -> str:
        for rec in self._iso.list_children(iso_path=parent or "/"):
            if rec is None or rec.is_dot() or rec.is_dotdot():
                continue
            raw = rec.file_identifier().decode("ascii", "replace")
            if _strip_version(raw) == stripped:
                return raw
        return stripped

    def record(self, path: str):
        found = self._resolve(path)
        if found is None:
            raise InputError(f"{path} not found on the ISO",
                             "list the ISO with `xorriso -indev ISO -find`", where=str(self.path))
        return self._iso.get_record(**{found[0]: found[1]})

    # queries ---------------------------------------------------------------

    def exists(self, path: str) -> bool:
        return self._resolve(path) is not None

    def read(self, path: str) -> bytes:
        found = self._resolve(path)
        if found is None:
            raise InputError(f"{path} not found on the ISO",
                             "list the ISO with `xorriso -indev ISO -find`", where=str(self.path))
        rec = self._iso.get_record(**{found[0]: found[1]})
        if rec.is_dir():
            raise InputError(f"{path} is a folder on the ISO, not a file", where=str(self.path))
        out = io.BytesIO()
        self._iso.get_file_from_iso_fp(out, **{found[0]: found[1]})
        return out.getvalue()

    def files(self) -> dict[str, int]:
        """Every file with its size, by Rock Ridge, else Joliet, else ISO 9660 name."""
        out: dict[str, int] = {}
        stack = [""]
        while stack:
            d = stack.pop()
            for name, rec in self._children(self._kind, d or "/"):
                p = f"{d}/{name}"
                if rec.is_dir():
                    stack.append(p)
                elif not (rec.rock_ridge is not None and rec.rock_ridge.is_symlink()):
                    out[p.lstrip("/")] = rec.get_data_length()
        return dict(sorted(out.items()))

    def label(self) -> str:
        return self._iso.pvd.volume_identifier.decode("ascii", "replace").rstrip(" \0")

    def boot_entries(self) -> list[BootEntry]:
        cat = self._iso.eltorito_boot_catalog
        if cat is None:
            return []
        by_extent: dict[int, str] = {}
        stack = [""]
        while stack:
            d = stack.pop()
            for name, rec in self._children(self._kind, d or "/"):
                p = f"{d}/{name}"
                if rec.is_dir():
                    stack.append(p)
                else:
                    by_extent.setdefault(rec.extent_location(), p.lstrip("/"))
        entries = [(cat.validation_entry.platform_id, cat.initial_entry)]
        for sec in cat.sections:
            entries += [(sec.platform_id, e) for e in sec.section_entries]
        out = []
        for platform, e in entries:
            lba = e.get_rba()
            out.append(BootEntry(_PLATFORMS.get(platform, hex(platform)), by_extent.get(lba), lba,
                                 e.sector_count, _MEDIA.get(e.boot_media_type, str(e.boot_media_type))))
        return out


def read_file(iso: Path, path: str) -> bytes:
    with IsoReader(iso) as r:
        return r.read(path)


def list_files(iso: Path) -> dict[str, int]:
    with IsoReader(iso) as r:
        return r.files()


def volume_label(iso: Path) -> str:
    with IsoReader(iso) as r:
        return r.label()


def boot_entries(iso: Path) -> list[BootEntry]:
    with IsoReader(iso) as r:
        return r.boot_entries()


# ---------------------------------------------------------------- writing

_D_CHARS = re.compile(r"[^A-Z0-9_]")
_LABEL_RE = re.compile(r"^[\x21-\x7e]([\x20-\x7e]{0,31})$")


def _iso9660_names(names: list[str], is_dir: dict[str, bool]) -> dict[str, str]:
    """ISO 9660 level-3 identifiers for the entries of one folder, unique within it.

    Rock Ridge and Joliet keep the real names; these only serve readers that
    see plain ISO 9660 (ISOLINUX, DOS, some firmware).
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        upper = name.upper()
        if is_dir[name]:
            base, ext = _D_CHARS.sub("_", upper)[:31], ""
        else:
            stem, dot, ext = upper.rpartition(".")
            if not dot:
                stem, ext = upper, ""
            base, ext = _D_CHARS.sub("_", stem), _D_CHARS.sub("_", ext)[:8]
            base = base[: 30 - len(ext)] or "_"
        cand, n = (base, ext), 0
        while _join(cand) in used:
            n += 1
            suffix = f"_{n}"
            cand = (base[: (31 if is_dir[name] else 30 - len(ext)) - len(suffix)] + suffix, ext)
        used.add(_join(cand))
        out[name] = _join(cand) if is_dir[name] else f"{_join(cand)};1"
    return out


def _catalog_args(boot_catalog: str | None, bios_boot: str | None, iso_path: dict[str, str],
                  joliet: bool, rock_ridge: bool) -> dict:
    if boot_catalog is None:
        parent = bios_boot.strip("/").rpartition("/")[0] if bios_boot else ""
        boot_catalog = f"{parent}/boot.cat"
    parent, _, name = boot_catalog.strip("/").rpartition("/")
    if parent not in iso_path:
        raise InputError(f"boot catalog folder {parent!r} holds no files on the ISO", where="iso")
    stem, dot, ext = name.upper().rpartition(".")
    ident = (f"{_D_CHARS.sub('_', stem)}.{_D_CHARS.sub('_', ext)}" if dot
             else _D_CHARS.sub("_", name.upper()))
    return {"bootcatfile": f"{iso_path[parent]}/{ident};1",
            "rr_bootcatname": name if rock_ridge else None,
            "joliet_bootcatfile": f"/{boot_catalog.strip('/')}" if joliet else None}


def _join(parts: tuple[str, str]) -> str:
    return f"{parts[0]}.{parts[1]}" if parts[1] else parts[0]


def _check_label(label: str) -> None:
    if not _LABEL_RE.match(label) or label != label.rstrip():
        raise InputError(f"ISO volume label {label!r} is not usable",
                         "use 1-32 printable ASCII characters, no trailing space "
                         "(installers find their media by this label)", where="iso")


def write_iso(out: Path, files: Mapping[str, bytes | Path], label: str, *,
              joliet: bool = True, rock_ridge: bool = True,
              bios_boot: str | None = None, efi_boot: str | None = None,
              boot_catalog: str | None = None) -> Path:
    """Write an ISO holding `files` ({"dir/name": bytes or a local Path}) atomically.

    bios_boot names a no-emulation boot file that gets a boot-info table
    (isolinux/isolinux.bin); efi_boot a FAT image for UEFI (images/efiboot.img).
    The same inputs always give the same bytes.
    """
    import pycdlib
    _check_label(label)
    norm: dict[str, bytes | Path] = {}
    for path, data in files.items():
        parts = [p for p in str(path).split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise InputError(f"ISO path {path!r} is not a plain relative path", where="iso")
        key = "/".join(parts)
        if key in norm:
            raise InputError(f"ISO path {path!r} is given twice", where="iso")
        if isinstance(data, (str, Path)):
            data = Path(data)
            if not data.is_file():
                raise InputError(f"{data}: no such file (for {path} on the ISO)", where="iso")
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"{path!r}: ISO content must be bytes or a Path", where="iso")
        norm[key] = data
    for boot in (bios_boot, efi_boot):
        if boot is not None and boot.strip("/") not in norm:
            raise InputError(f"boot file {boot!r} is not among the ISO's files", where="iso")

    # Folder tree: every parent of every file, files and folders per parent.
    children: dict[str, dict[str, bool]] = {"": {}}
    for key in sorted(norm):
        parts = key.split("/")
        for i in range(len(parts)):
            parent, name = "/".join(parts[:i]), parts[i]
            leaf = i == len(parts) - 1
            kind = children.setdefault(parent, {})
            if name in kind and kind[name] != (not leaf):
                raise InputError(f"{key!r}: {'/'.join(parts[:i + 1])!r} is both a file and a folder",
                                 where="iso")
            kind[name] = not leaf
            if not leaf:
                children.setdefault("/".join(parts[: i + 1]), {})
    iso_path: dict[str, str] = {"": ""}
    for parent in sorted(children, key=lambda p: (p.count("/"), p)):
        if parent and parent not in iso_path:
            continue
        mapping = _iso9660_names(sorted(children[parent]), children[parent])
        for name, ident in mapping.items():
            iso_path[f"{parent}/{name}".lstrip("/")] = f"{iso_path[parent]}/{ident}"

    iso = pycdlib.PyCdlib()
    # Joliet's volume label holds 16 UCS-2 characters and pycdlib gives both
    # descriptors the same one, so the PVD gets the full label afterwards
    # (installers look at the PVD's).
    iso.new(interchange_level=3, vol_ident=label[:16], sys_ident="LINUX",
            app_ident_str="GOLDEN", joliet=3 if joliet else None,
            rock_ridge="1.09" if rock_ridge else None)
    iso.pvd.volume_identifier = label.encode("ascii").ljust(32)
    opened: list = []
    try:
        for key in sorted(iso_path, key=lambda p: (p.count("/"), p)):
            if not key:
                continue
            name = key.rsplit("/", 1)[-1]
            kw = {"iso_path": iso_path[key]}
            if rock_ridge:
                kw["rr_name"] = name
            if joliet:
                kw["joliet_path"] = "/" + key
            if key in norm:
                data = norm[key]
                if isinstance(data, Path):
                    fp = open(data, "rb")
                    opened.append(fp)
                    length = data.stat().st_size
                else:
                    fp = io.BytesIO(bytes(data))
                    length = len(data)
                try:
                    iso.add_fp(fp, length, **kw)
                except pycdlib.pycdlibexception.PyCdlibInvalidInput as e:
                    raise InputError(f"{key}: cannot be stored on the ISO ({e})", where="iso") from None
            else:
                try:
                    iso.add_directory(**kw)
                except pycdlib.pycdlibexception.PyCdlibInvalidInput as e:
                    raise InputError(f"{key}/: cannot be stored on the ISO ({e})", where="iso") from None
        if bios_boot or efi_boot:
            first = True
            cat_kw = _catalog_args(boot_catalog, bios_boot, iso_path, joliet, rock_ridge)
            if bios_boot:
                iso.add_eltorito(iso_path[bios_boot.strip("/")], boot_load_size=4,
                                 boot_info_table=True, **cat_kw)
                first = False
            if efi_boot:
                iso.add_eltorito(iso_path[efi_boot.strip("/")], efi=True, platform_id=0xEF,
                                 **(cat_kw if first else {}))
        _pin_record_dates(iso)
        with atomic_path(Path(out)) as tmp:
            with open(tmp, "wb") as f:
                iso.write_fp(f)
            _pin_volume_dates(tmp)
    finally:
        iso.close()
        for fp in opened:
            fp.close()
    return Path(out)


# ---------------------------------------------------------------- date pinning

def _dr_date_bytes() -> bytes:
    t = datetime.datetime.fromtimestamp(REPRODUCIBLE_EPOCH, datetime.timezone.utc)
    return struct.pack("=BBBBBBb", t.year - 1900, t.month, t.day, t.hour, t.minute, t.second, 0)


def _vd_date_bytes() -> bytes:
    t = datetime.datetime.fromtimestamp(REPRODUCIBLE_EPOCH, datetime.timezone.utc)
    return t.strftime("%Y%m%d%H%M%S").encode() + b"00" + b"\x00"


def _pinned(kind):
    from pycdlib import dates
    d = kind()
    d.parse(_dr_date_bytes() if kind is dates.DirectoryRecordDate else _vd_date_bytes())
    return d


def _walk_records(iso) -> Iterator:
    roots = [iso.pvd.root_directory_record()]
    if iso.joliet_vd is not None:
        roots.append(iso.joliet_vd.root_directory_record())
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        rec = stack.pop()
        if id(rec) in seen:
            continue
        seen.add(id(rec))
        yield rec
        for child in getattr(rec, "children", []):
            if child is not None:
                stack.append(child)


def _pin_record_dates(iso) -> None:
    """Replace every clock-derived date in pycdlib's records before writing.

    pycdlib stamps records with time.time() in local time, so both the
    moment and the machine's time zone would leak into the bytes.
    """
    from pycdlib import dates
    for rec in _walk_records(iso):
        rec.date = _pinned(dates.DirectoryRecordDate)
        rr = getattr(rec, "rock_ridge", None)
        if rr is None:
            continue
        for entries in (rr.dr_entries, rr.ce_entries):
            tf = entries.tf_record if entries is not None else None
            if tf is None:
                continue
            for field in ("creation_time", "access_time", "modification_time",
                          "attribute_change_time", "backup_time", "expiration_time",
                          "effective_time"):
                old = getattr(tf, field)
                if old is not None:
                    setattr(tf, field, _pinned(type(old)))


def _pin_volume_dates(path: Path) -> None:
    """Pin the creation/modification/effective dates of every volume descriptor.

    pycdlib computes the modification date while it writes, so this has to
    happen on the written bytes. Expiration stays "not specified".
    """
    stamp = _vd_date_bytes()
    with open(path, "r+b") as f:
        sector = 16
        while True:
            f.seek(sector * 2048)
            vd = f.read(2048)
            if len(vd) < 7 or vd[1:6] != b"CD001" or vd[0] == 255:
                break
            if vd[0] in (1, 2):
                for off in (813, 830, 864):
                    f.seek(sector * 2048 + off)
                    f.write(stamp)
            sector += 1
