"""Bad images become clear InputErrors before any backend touches them (no root needed)."""

from __future__ import annotations

import subprocess

import pytest

from builder.errors import InputError
from builder.image import open_image
from builder.image.diskfile import backing_chain, describe, qcow2_backing
from builder.image.inuse import find_overlays


def qemu_img(*args):
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


def test_missing_image(tmp_path):
    with pytest.raises(InputError, match="image not found") as e:
        with open_image(tmp_path / "nope.qcow2"):
            pass
    assert e.value.where == str(tmp_path / "nope.qcow2") and e.value.exit_code == 2


def test_directory_and_tiny_file(tmp_path):
    with pytest.raises(InputError, match="not a regular file"):
        describe(tmp_path)
    tiny = tmp_path / "tiny.raw"
    tiny.write_bytes(b"x" * 100)
    with pytest.raises(InputError, match="too small"):
        describe(tiny)


def test_unknown_backend(tmp_path):
    with pytest.raises(InputError, match="unknown backend"):
        with open_image(tmp_path / "x", backend="kpartx"):
            pass


def test_raw_and_qcow2_chain(tmp_path):
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * (1 << 20))
    mid = tmp_path / "mid.qcow2"
    top = tmp_path / "sub" / "top.qcow2"
    top.parent.mkdir()
    qemu_img("create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, mid)
    qemu_img("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "../mid.qcow2", top)
    d = describe(top)
    assert d.format == "qcow2" and d.virtual_size == 1 << 20
    assert d.backing_chain == (mid, base)
    assert qcow2_backing(top) == ("../mid.qcow2", "qcow2")
    assert backing_chain(mid) == [base]
    assert describe(base).format == "raw"
    assert set(find_overlays(base, dirs=[tmp_path / "sub"])) == {mid, top}
    assert find_overlays(top) == []


def test_corrupt_qcow2_header(tmp_path):
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(b"QFI\xfb" + b"\xff" * 4092)
    with pytest.raises(InputError, match="not a usable qcow2 image") as e:
        describe(bad)
    assert e.value.where == str(bad)


def test_truncated_qcow2(tmp_path):
    img = tmp_path / "t.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", img, "64M")
    data = img.read_bytes()
    img.write_bytes(data[:4096])
    with pytest.raises(InputError, match="not a usable qcow2"):
        describe(img)


def test_qcow2_with_missing_backing_file(tmp_path):
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * (1 << 20))
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, top)
    base.unlink()
    with pytest.raises(InputError, match="not a usable qcow2 image") as e:
        describe(top)
    assert "backing file" in e.value.hint
