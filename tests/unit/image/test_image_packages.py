"""Package inventory read offline: dpkg status, RPM SQLite and Berkeley DB databases."""

from __future__ import annotations

import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest

from builder.image import packages
from tests.unit.treeguest import TreeGuest, tree

DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: openssh-server
Status: install ok installed
Architecture: amd64
Version: 1:9.2p1-2+deb12u2
Conffiles:
 /etc/ssh/moduli 1234
 /etc/default/ssh 5678

Package: old-removed
Status: deinstall ok config-files
Architecture: all
Version: 1.0-1

Package: half
Status: install reinstreq half-installed
Architecture: all
Version: 2.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a
"""


def test_dpkg_status_lists_only_installed_packages_with_split_versions(tmp_path):
    inv = packages.inventory(tree(tmp_path, {packages.DPKG_STATUS: DPKG_STATUS}))
    assert inv["format"] == "dpkg" and inv["note"] is None
    assert inv["packages"] == [
        {"name": "libc6", "version": "2.36", "release": "9+deb12u4", "epoch": 0, "arch": "amd64"},
        {"name": "openssh-server", "version": "9.2p1", "release": "2+deb12u2", "epoch": 1, "arch": "amd64"},
        {"name": "tzdata", "version": "2024a", "release": "", "epoch": 0, "arch": "all"},
    ]


@pytest.mark.parametrize("text,split", [
    ("1.2.3-4ubuntu0.1", (0, "1.2.3", "4ubuntu0.1")),
    ("2:8.2.3995-1ubuntu2.15", (2, "8.2.3995", "1ubuntu2.15")),
    ("1.0-beta-3", (0, "1.0-beta", "3")),
    ("20230311", (0, "20230311", "")),
])
def test_debian_version_split(text, split):
    assert packages.split_deb_version(text) == split


def rpm_header(tags: dict[int, str | int]) -> bytes:
    """A header blob as rpmdb stores it: count, data size, 16-byte index entries, then the data store."""
    # An unrelated tag (SUMMARY, i18n string) first in the store, as real headers have many.
    index, store = struct.pack(">iiii", 1004, 9, 0, 1), b"A summary\0"
    for tag, value in tags.items():
        if isinstance(value, int):
            store += b"\0" * (-len(store) % 4)  # INT32 data is 4-byte aligned
            index += struct.pack(">iiii", tag, 4, len(store), 1)
            store += struct.pack(">i", value)
        else:
            index += struct.pack(">iiii", tag, 6, len(store), 1)
            store += value.encode() + b"\0"
    return struct.pack(">II", len(tags) + 1, len(store)) + index + store


BASH = {1000: "bash", 1001: "5.1.8", 1002: "9.el9", 1022: "x86_64"}
OPENSSL = {1000: "openssl-libs", 1001: "3.0.7", 1002: "27.el9", 1003: 1, 1022: "x86_64"}
PUBKEY = {1000: "gpg-pubkey", 1001: "fd431d51", 1002: "4ae0493b"}


def test_rpm_header_parse_reads_strings_and_the_int32_epoch():
    assert packages.parse_rpm_header(rpm_header(OPENSSL)) == {
        "name": "openssl-libs", "version": "3.0.7", "release": "27.el9", "epoch": 1, "arch": "x86_64"}
    with pytest.raises(packages.PackageDbError, match="claims"):
        packages.parse_rpm_header(rpm_header(BASH)[:-5])


def test_rpm_sqlite_database_is_read_from_the_guest(tmp_path):
    db = tmp_path / "build.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    for tags in (PUBKEY, OPENSSL, BASH):
        con.execute("INSERT INTO Packages (blob) VALUES (?)", (rpm_header(tags),))
    con.commit()
    con.close()
    g = tree(tmp_path / "root", {packages.RPM_SQLITE: db.read_bytes()})
    inv = packages.inventory(g)
    assert inv["format"] == "rpm" and inv["note"] is None
    assert [(p["name"], p["version"], p["release"], p["epoch"]) for p in inv["packages"]] == [
        ("bash", "5.1.8", "9.el9", 0), ("gpg-pubkey", "fd431d51", "4ae0493b", 0),
        ("openssl-libs", "3.0.7", "27.el9", 1)]


def test_a_corrupt_rpm_database_is_a_note_not_a_crash(tmp_path):
    g = tree(tmp_path, {packages.RPM_SQLITE: b"this is not sqlite" * 100})
    inv = packages.inventory(g)
    assert inv["packages"] == [] and packages.RPM_SQLITE in inv["note"]


def bdb_hash(tmp_path: Path, recs: dict[int, bytes], lorder: int) -> bytes:
    """A Berkeley DB hash file made by db_load (db-util), as rpm writes its Packages database."""
    text = f"VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\ndb_lorder={lorder}\nHEADER=END\n"
    # RPM's keys are 4-byte native-endian record numbers; record 0 is its instance counter.
    text += "".join(f" {struct.pack('<I', k).hex()}\n {v.hex()}\n" for k, v in recs.items()) + "DATA=END\n"
    db = tmp_path / f"Packages.{lorder}"
    subprocess.run(["db_load", str(db)], input=text, text=True, check=True)
    return db.read_bytes()


@pytest.mark.parametrize("lorder", [1234, 4321])  # x86 guests, and s390x/ppc64 ones
def test_rpm_berkeley_db_hash_pages_are_read(tmp_path, lorder):
    big = {1000: "kernel-firmware", 1001: "20230808", 1002: "1.el7", 1022: "noarch", 1016: "x" * 20000}
    many = {i: rpm_header({1000: f"pkg{i:03d}", 1001: "1.0", 1002: f"{i}.el7", 1022: "x86_64"})
            for i in range(3, 303)}
    recs = {0: struct.pack("<I", 303), 1: rpm_header(BASH), 2: rpm_header(big), **many}
    g = tree(tmp_path / "root", {packages.RPM_BDB: bdb_hash(tmp_path, recs, lorder)})
    inv = packages.inventory(g)
    assert inv["note"] is None and len(inv["packages"]) == 302
    names = [p["name"] for p in inv["packages"]]
    assert names[:3] == ["bash", "kernel-firmware", "pkg003"] and names[-1] == "pkg302"
    assert {p["release"] for p in inv["packages"] if p["name"] == "pkg150"} == {"150.el7"}


def test_a_file_that_is_no_berkeley_db_is_named_as_unread(tmp_path):
    inv = packages.inventory(tree(tmp_path, {packages.RPM_BDB: b"\0" * 4096}))
    assert inv["packages"] == [] and "not a Berkeley DB hash file" in inv["note"]


def test_an_rpm_tree_without_a_database_says_so(tmp_path):
    (tmp_path / "var/lib/rpm").mkdir(parents=True)
    inv = packages.inventory(TreeGuest(tmp_path))
    assert inv["format"] == "rpm" and "no Packages or rpmdb.sqlite" in inv["note"]


def test_rpm_sqlite_transactions_still_in_the_wal_file_are_read(tmp_path):
    db = tmp_path / "live" / "rpmdb.sqlite"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    con.execute("INSERT INTO Packages (blob) VALUES (?)", (rpm_header(BASH),))
    con.commit()
    # Copied while rpm still holds it open: the rows are in rpmdb.sqlite-wal only.
    files = {packages.RPM_SQLITE: db.read_bytes(), packages.RPM_SQLITE + "-wal": Path(f"{db}-wal").read_bytes()}
    con.close()
    inv = packages.inventory(tree(tmp_path / "root", files))
    assert inv["note"] is None and [p["name"] for p in inv["packages"]] == ["bash"]
