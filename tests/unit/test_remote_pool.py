"""golden's pool on a remote host and its volume bookkeeping, on libvirt's test driver.

Each `test:///FILE` connection is a private, in-memory host; the streams
themselves are tested against a real second daemon in
tests/system/test_remote_transport.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from builder.errors import HostError
from builder.virt import connection, remote, volume_io


def host(tmp_path: Path, pools: str = "") -> object:
    node = tmp_path / "node.xml"
    node.write_text(f"<node>{pools}</node>")
    return connection.open_connection(f"test://{node}")


DEFAULT = "<pool type='dir'><name>default</name><target><path>/data/images</path></target></pool>"


def test_pool_goes_beside_the_hosts_own_images(tmp_path):
    conn = host(tmp_path, DEFAULT)
    said = []
    pool = remote.golden_pool(conn, "qemu+ssh://h/system", said.append)
    assert (pool.name, pool.path) == ("golden", "/data/images/golden")
    obj = conn.storagePoolLookupByName("golden")
    assert obj.isActive() and obj.autostart() and obj.isPersistent()
    assert said == [f"defined storage pool golden at /data/images/golden on {conn.getHostname()}"]
    again = remote.golden_pool(conn, "qemu+ssh://h/system", said.append)
    assert again.path == pool.path and len(said) == 1, "an existing pool is used as it is"


def test_pool_on_a_system_host_without_a_default_pool(tmp_path):
    pool = remote.golden_pool(host(tmp_path), "qemu+ssh://h/system")
    assert pool.path == "/var/lib/libvirt/images/golden"


def test_a_session_host_without_pools_is_told_what_to_do(tmp_path):
    with pytest.raises(HostError) as err:
        remote.golden_pool(host(tmp_path), "qemu+ssh://h/session")
    assert "no `default` storage pool" in err.value.message and "pool-define-as golden dir" in err.value.hint


def test_a_pool_named_by_the_environment(tmp_path, monkeypatch):
    conn = host(tmp_path, "<pool type='dir'><name>fast</name><target><path>/nvme/vm</path></target></pool>")
    monkeypatch.setenv(remote.POOL_ENV, "fast")
    assert remote.golden_pool(conn, "qemu+ssh://h/system").path == "/nvme/vm"


def test_uploads_of_dead_golden_runs_on_this_host_are_reaped(tmp_path):
    conn = host(tmp_path, DEFAULT)
    pool = remote.golden_pool(conn, "qemu+ssh://h/system")
    dead = _dead_pid()
    names = {
        "dead": remote.transient_name("web", "media", pid=dead),
        "alive": remote.transient_name("web", "oemdrv"),
        "elsewhere": f"web.media.golden-{dead}-another-host",
        "owned": "web-disk0.qcow2",
    }
    for name in names.values():
        remote.create_volume(pool, name, 4096)
    assert remote.reap_transient(pool) == [names["dead"]]
    left = {v.name() for v in pool.obj.listAllVolumes(0)}
    assert left == {names["alive"], names["elsewhere"], names["owned"]}


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_sparse_reader_sends_data_and_skips_holes(tmp_path):
    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.write(b"a" * 4096)
        f.seek(1 << 20)
        f.write(b"b" * 4096)
        f.truncate(2 << 20)
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = volume_io._SparseReader(fd, path.stat().st_size, None)
        sections = []
        while True:
            in_data, length = reader.section(None, None)
            if in_data and length == 0:
                break
            sections.append((in_data, length))
            if in_data:
                assert reader.read(None, length, None) == (b"a" if reader.pos <= 4096 else b"b") * length
            else:
                reader.skip(None, length, None)
        assert reader.pos == 2 << 20 and reader.sent == 8192
        assert [s for s in sections if s[0]] == [(True, 4096), (True, 4096)]
        assert sum(length for _, length in sections) == 2 << 20
    finally:
        os.close(fd)
