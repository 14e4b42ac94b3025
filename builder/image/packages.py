"""Installed packages of a Linux guest, read offline from its package database.

Only files are read (through the guest handle, so both backends agree); no
guest code runs, so any architecture and any RPM version can be inspected:
- dpkg: /var/lib/dpkg/status, the paragraphs dpkg marks "install ok installed";
- RPM 4.16+ (RHEL 9, Fedora 33+; RHEL 8 keeps BDB): /var/lib/rpm/rpmdb.sqlite,
  whose Packages table holds each package's header blob, parsed here;
- RPM with Berkeley DB (RHEL 3-8): /var/lib/rpm/Packages, a hash database
  whose values are the same header blobs; its pages are read here too.

Every package is {name, version, release, epoch, arch}; epoch is 0 when the
package has none (virt-inspector's convention). Windows reports use the same
`packages` key for installed programs, with name and version as here.
"""

from __future__ import annotations

import sqlite3
import struct
import tempfile
from pathlib import Path

DPKG_STATUS = "/var/lib/dpkg/status"
RPM_SQLITE = "/var/lib/rpm/rpmdb.sqlite"
RPM_BDB = "/var/lib/rpm/Packages"
# RHEL 9 moved the database; /var/lib/rpm is usually a symlink to it.
RPM_SQLITE_USR = "/usr/lib/sysimage/rpm/rpmdb.sqlite"
RPM_BDB_USR = "/usr/lib/sysimage/rpm/Packages"

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH = 1000, 1001, 1002, 1003, 1022
_TYPE_INT32, _TYPE_STRING, _TYPE_I18NSTRING = 4, 6, 9
# An RPM header is far below this; a larger count means the blob is not one.
_MAX_INDEX = 0x10000


class PackageDbError(ValueError):
    """A package database that cannot be read as one."""


# ---- dpkg --------------------------------------------------------------------------

def split_deb_version(text: str) -> tuple[int, str, str]:
    """'1:2.36-9+deb12u4' -> (1, '2.36', '9+deb12u4'); revision after the last '-'."""
    epoch, sep, rest = text.partition(":")
    if not sep or not epoch.isdigit():
        epoch, rest = "0", text
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return int(epoch), upstream, revision


def _paragraphs(text: str):
    fields: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
        elif line[0] in " \t":
            if last:
                fields[last] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip().lower()
            fields[last] = value.strip()
    if fields:
        yield fields


def parse_dpkg_status(text: str) -> list[dict]:
    out = []
    for p in _paragraphs(text):
        # The third word is the state; "config-files" and "half-installed" are not installed.
        if p.get("status", "").split()[-1:] != ["installed"] or "package" not in p:
            continue
        epoch, version, release = split_deb_version(p.get("version", ""))
        out.append({"name": p["package"], "version": version, "release": release, "epoch": epoch,
                    "arch": p.get("architecture", "")})
    return out


# ---- RPM headers -------------------------------------------------------------------

def parse_rpm_header(blob: bytes) -> dict:
    """The name/version/release/epoch/arch of one header blob as rpmdb stores it (no magic, no lead)."""
    if len(blob) < 8:
        raise PackageDbError("RPM header shorter than its 8-byte preamble")
    count, size = struct.unpack_from(">II", blob, 0)
    store = 8 + 16 * count
    if count > _MAX_INDEX or store + size > len(blob):
        raise PackageDbError(f"RPM header claims {count} entries and {size} data bytes in {len(blob)} bytes")
    tags = {}
    for i in range(count):
        tag, typ, offset, n = struct.unpack_from(">iiii", blob, 8 + 16 * i)
        if tag not in (TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH):
            continue
        if not 0 <= offset < size:
            raise PackageDbError(f"RPM header tag {tag} points outside its data ({offset})")
        at = store + offset
        if typ in (_TYPE_STRING, _TYPE_I18NSTRING):
            end = blob.find(b"\0", at, store + size)
            tags[tag] = blob[at:end if end >= 0 else store + size].decode("utf-8", "replace")
        elif typ == _TYPE_INT32 and n >= 1 and at + 4 <= store + size:
            tags[tag] = struct.unpack_from(">i", blob, at)[0]
    if TAG_NAME not in tags:
        raise PackageDbError("RPM header has no NAME tag")
    return {"name": tags[TAG_NAME], "version": tags.get(TAG_VERSION, ""), "release": tags.get(TAG_RELEASE, ""),
            "epoch": tags.get(TAG_EPOCH, 0), "arch": tags.get(TAG_ARCH, "")}


def read_rpm_sqlite(path: Path) -> list[dict]:
    """Packages from an rpmdb.sqlite file on the host, opened read-only."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise PackageDbError(f"not an RPM SQLite database: {e}") from None
    # gpg-pubkey entries (imported signing keys) stay: `rpm -qa` counts them too.
    return [parse_rpm_header(bytes(r[0])) for r in rows]


_HASH_MAGIC = 0x061561
_P_HASH_UNSORTED, _P_OVERFLOW, _P_HASH = 2, 7, 13
_H_KEYDATA, _H_OFFPAGE = 1, 3
_PAGE_HEADER = 26


def bdb_hash_values(data: bytes) -> list[bytes]:
    """The values of a Berkeley DB hash file (format versions 7-9: DB 4.x-5.x, RHEL 3-8), read page by page.

    A page holds key/value items from its end downward, indexed by 16-bit offsets
    after its 26-byte header; a value too big for the page is a chain of overflow pages.
    Every hash page is read in file order, so no bucket arithmetic is needed.
    """
    if len(data) < 512:
        raise PackageDbError("too short for a Berkeley DB file")
    for order in "<>":
        magic, version, pagesize = struct.unpack_from(order + "III", data, 12)
        if magic == _HASH_MAGIC:
            break
    else:
        raise PackageDbError("not a Berkeley DB hash file (bad magic)")
    if version not in (7, 8, 9):
        raise PackageDbError(f"Berkeley DB hash version {version} (golden reads 7-9)")
    if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1) or len(data) % pagesize:
        raise PackageDbError(f"Berkeley DB page size {pagesize} does not fit the file's {len(data)} bytes")
    if data[24] != 0:  # encrypt_alg: RPM never encrypts its database
        raise PackageDbError("encrypted Berkeley DB")
    pages = len(data) // pagesize

    def header(pgno: int):
        if not 0 < pgno < pages:
            raise PackageDbError(f"page {pgno} outside the file")
        base = pgno * pagesize
        next_pgno, entries, hf_offset = struct.unpack_from(order + "IHH", data, base + 16)
        return base, next_pgno, entries, hf_offset, data[base + 25]

    def overflow(pgno: int, total: int) -> bytes:
        out, seen = bytearray(), set()
        while pgno and len(out) < total:
            if pgno in seen:
                raise PackageDbError(f"overflow chain loops at page {pgno}")
            seen.add(pgno)
            base, next_pgno, _, length, ptype = header(pgno)
            if ptype != _P_OVERFLOW or length > pagesize - _PAGE_HEADER:
                raise PackageDbError(f"page {pgno} is not an overflow page")
            out += data[base + _PAGE_HEADER:base + _PAGE_HEADER + length]
            pgno = next_pgno
        if len(out) != total:
            raise PackageDbError(f"overflow chain holds {len(out)} of {total} bytes")
        return bytes(out)

    values = []
    for pgno in range(1, pages):
        base, _, entries, _, ptype = header(pgno)
        if ptype not in (_P_HASH, _P_HASH_UNSORTED) or entries > (pagesize - _PAGE_HEADER) // 2:
            continue
        offsets = struct.unpack_from(order + f"{entries}H", data, base + _PAGE_HEADER)
        for i in range(1, entries, 2):          # items alternate key, value
            start, end = offsets[i], offsets[i - 1]
            if not _PAGE_HEADER <= start < end <= pagesize:
                raise PackageDbError(f"page {pgno} item {i} has a bad offset")
            item = data[base + start:base + end]
            if item[0] == _H_KEYDATA:
                values.append(item[1:])
            elif item[0] == _H_OFFPAGE and len(item) >= 12:
                first, total = struct.unpack_from(order + "II", item, 4)
                values.append(overflow(first, total))
            else:
                raise PackageDbError(f"page {pgno} item {i} has type {item[0]} (duplicates are not RPM's)")
    return values


def read_rpm_bdb(path: Path) -> list[dict]:
    """Packages from a Berkeley DB Packages file on the host."""
    out = []
    for value in bdb_hash_values(path.read_bytes()):
        # Record 0 of RPM's hash db is its 4-byte "next instance" counter, not a header.
        if len(value) <= 8:
            continue
        out.append(parse_rpm_header(value))
    return out


# ---- the guest ---------------------------------------------------------------------

def _via_host_copy(h, guest_path: str, reader) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="golden-rpmdb-") as tmp:
        local = Path(tmp) / Path(guest_path).name
        h.download(guest_path, local)
        # rpm keeps SQLite in WAL mode: the last transactions may live only in the -wal file.
        if h.is_file(guest_path + "-wal"):
            h.download(guest_path + "-wal", Path(f"{local}-wal"))
        return reader(local)


def inventory(h) -> dict:
    """{format, packages (sorted by name), note}: format is dpkg | rpm | None; note says what was not read."""
    found = []
    if h.is_file(DPKG_STATUS):
        found.append(("dpkg", parse_dpkg_status(h.read_text(DPKG_STATUS)), None))
    for path, reader in ((RPM_SQLITE, read_rpm_sqlite), (RPM_SQLITE_USR, read_rpm_sqlite),
                         (RPM_BDB, read_rpm_bdb), (RPM_BDB_USR, read_rpm_bdb)):
        if h.is_file(path):
            try:
                found.append(("rpm", _via_host_copy(h, path, reader), None))
            except PackageDbError as e:
                found.append(("rpm", [], f"{path}: {e}"))
            break
    if not found:
        note = "/var/lib/rpm holds no Packages or rpmdb.sqlite" if h.is_dir("/var/lib/rpm") else None
        return {"format": "rpm" if note else None, "packages": [], "note": note}
    # A guest with both (debootstrap on an RPM host, alien) is listed by its larger database.
    fmt, pkgs, note = max(found, key=lambda f: len(f[1]))
    pkgs = sorted(pkgs, key=lambda p: (p["name"], p["arch"], p["epoch"], p["version"], p["release"]))
    return {"format": fmt, "packages": pkgs, "note": note}
