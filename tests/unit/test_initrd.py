"""builder.media.initrd: deterministic newc archives and appending files to an initrd."""

from __future__ import annotations

import gzip
import shutil
import stat
import subprocess

import pytest

from builder.errors import InputError
from builder.fsutil import REPRODUCIBLE_EPOCH
from builder.media.initrd import (
    append_files, chardev_entry, dir_entry, file_entry, gzip_bytes, newc_archive, parse_newc,
    read_initrd, symlink_entry,
)


@pytest.fixture
def base_initrd(tmp_path):
    archive = newc_archive([
        file_entry("init", b"#!/bin/sh\necho hi\n", 0o755),
        symlink_entry("bin", "usr/bin"),
        chardev_entry("dev/console", 5, 1),
        dir_entry("tmp", 0o1777),
        file_entry("etc/motd", b"old\n"),
    ])
    path = tmp_path / "initrd.img"
    path.write_bytes(gzip_bytes(archive))
    return path


def test_append_files_round_trip(base_initrd, tmp_path):
    out = append_files(base_initrd, {"ks.cfg": b"text\n", "/etc/motd": b"new\n"}, tmp_path / "out.img")
    raw = out.read_bytes()
    assert raw.startswith(base_initrd.read_bytes())  # the original is untouched, only extended
    members = read_initrd(out)
    assert members["ks.cfg"].data == b"text\n"
    assert members["etc/motd"].data == b"new\n"  # later archive wins, as in the kernel
    assert members["init"].data.startswith(b"#!/bin/sh")
    assert members["dev/console"].rdev == (5, 1)
    ks = members["ks.cfg"]
    assert ks.kind == "file" and stat.S_IMODE(ks.mode) == 0o644


@pytest.mark.skipif(not shutil.which("cpio"), reason="GNU cpio not installed")
def test_appended_archive_is_read_by_gnu_cpio(base_initrd, tmp_path):
    out = append_files(base_initrd, {"ks.cfg": b"text\n", "sub/dir/file": b"x"}, tmp_path / "out.img")
    appended = out.read_bytes()[base_initrd.stat().st_size:]
    plain = gzip.decompress(appended)
    listing = subprocess.run(["cpio", "-itv"], input=plain, capture_output=True, check=True).stdout.decode()
    names = [line.split()[-1] for line in listing.splitlines()]
    assert names == ["ks.cfg", "sub", "sub/dir", "sub/dir/file"]
    assert all(" root     root " in line for line in listing.splitlines())
    dest = tmp_path / "x"
    dest.mkdir()
    subprocess.run(["cpio", "-id", "--quiet"], input=plain, cwd=dest, check=True)
    assert (dest / "ks.cfg").read_bytes() == b"text\n"
    assert (dest / "sub/dir/file").read_bytes() == b"x"


def test_append_is_deterministic(base_initrd, tmp_path):
    a = append_files(base_initrd, {"b.cfg": b"2", "a.cfg": b"1"}, tmp_path / "a.img").read_bytes()
    b = append_files(base_initrd, {"a.cfg": b"1", "b.cfg": b"2"}, tmp_path / "b.img").read_bytes()
    assert a == b
    members = parse_newc(gzip.decompress(a[base_initrd.stat().st_size:]))
    assert [m.path for m in members] == ["a.cfg", "b.cfg"]
    tail = a[base_initrd.stat().st_size:]
    assert tail[4:8] == b"\0\0\0\0"  # gzip header without a timestamp, like gzip -n


def test_newc_header_fields_are_fixed():
    data = newc_archive([file_entry("x", b"abc", 0o600)])
    head = data[6:110]
    fields = [int(head[i * 8:(i + 1) * 8], 16) for i in range(13)]
    ino, mode, uid, gid, nlink, mtime, size = fields[:7]
    assert (ino, mode, uid, gid, nlink, mtime, size) == (1, 0o100600, 0, 0, 1, REPRODUCIBLE_EPOCH, 3)
    assert data.rstrip(b"\0").endswith(b"TRAILER!!!")
    assert len(data) % 4 == 0


def test_parents_are_added_and_sorted_first():
    names = [e.path for e in parse_newc(newc_archive([file_entry("a/b/c", b""), file_entry("a-b", b"")]))]
    assert names == ["a", "a-b", "a/b", "a/b/c"]


@pytest.mark.parametrize("bad", ["", "/", "../etc/passwd", "a/../b", "a//b", "./x"])
def test_bad_member_paths_are_refused(bad):
    with pytest.raises(InputError):
        file_entry(bad, b"")


def test_conflicting_members_are_refused():
    with pytest.raises(InputError):
        newc_archive([file_entry("x", b"1"), file_entry("x", b"2")])


def test_append_needs_an_initrd_and_files(tmp_path, base_initrd):
    with pytest.raises(InputError):
        append_files(tmp_path / "missing.img", {"ks.cfg": b""}, tmp_path / "out.img")
    with pytest.raises(InputError):
        append_files(base_initrd, {}, tmp_path / "out.img")
    assert not (tmp_path / "out.img").exists()


def test_read_initrd_handles_plain_and_padded_segments(tmp_path):
    first = newc_archive([file_entry("a", b"1")])
    second = gzip_bytes(newc_archive([file_entry("b", b"2")]))
    members = read_initrd(first + b"\0" * 512 + second)
    assert members["a"].data == b"1" and members["b"].data == b"2"
