"""Installer kernel arguments: the install tree in each release's dialect.

Anaconda reads an NFS tree as `nfs:HOST:/PATH` in every release (RHEL 5
`method=`, RHEL 6 `repo=`, RHEL 7+ `inst.repo=`); profiles write it as a URL.
"""

from __future__ import annotations

import pytest

from builder import catalog
from builder.errors import InputError
from builder.net.bootfiles import BootFiles
from builder.net.pxe import build_tree
from builder.profile import load
from builder.render import bootargs

from profile_factory import representative, write

NFS = "nfs://nfs.example.com/exports/rhel/os"


@pytest.mark.parametrize("os_id,expect", [
    ("rhel3.9", "method=nfs:nfs.example.com:/exports/rhel/os"),
    ("rhel4.9", "method=nfs:nfs.example.com:/exports/rhel/os"),
    ("rhel5.11", "method=nfs:nfs.example.com:/exports/rhel/os"),
    ("rhel6.10", "repo=nfs:nfs.example.com:/exports/rhel/os"),
    ("rhel7.9", "inst.repo=nfs:nfs.example.com:/exports/rhel/os"),
    ("rhel9.6", "inst.repo=nfs:nfs.example.com:/exports/rhel/os"),
])
def test_nfs_tree_is_written_host_colon_path(os_id, expect):
    assert bootargs.repo_arg(catalog.get(os_id), NFS) == [expect]


@pytest.mark.parametrize("url", ["http://mirror.example.com/tree/", "https://m.example.com/t",
                                 "ftp://f.example.com/t/"])
def test_http_and_ftp_trees_stay_urls(url):
    assert bootargs.repo_arg(catalog.get("rhel5.11"), url) == [f"method={url}"]
    assert bootargs.repo_arg(catalog.get("rhel9.6"), url) == [f"inst.repo={url}"]


def test_nfs_tree_without_a_path_is_refused():
    with pytest.raises(InputError) as exc:
        bootargs.repo_arg(catalog.get("rhel5.11"), "nfs://nfs.example.com")
    assert "nfs://SERVER/PATH" in exc.value.hint


def test_rhel5_pxe_config_points_the_loader_at_the_nfs_tree(tmp_path):
    data = representative("rhel5.11", network={"mode": "pxe", "mac": "52:54:00:12:34:56"},
                          install={"method": "pxe", "media": NFS})
    loaded = load(write(tmp_path, data))
    build_tree(loaded, tmp_path / "tree", server="10.1.2.3", boot=BootFiles(b"K" * 64, b"I" * 64, "test"),
               efi=False)
    cfg = (tmp_path / "tree/pxelinux.cfg/01-52-54-00-12-34-56").read_text()
    append = next(line for line in cfg.splitlines() if line.strip().startswith("APPEND")).split()
    assert "method=nfs:nfs.example.com:/exports/rhel/os" in append
    assert not [a for a in append if "nfs://" in a]
    ks = (tmp_path / "tree/ks/52-54-00-12-34-56.cfg").read_text()
    assert "nfs --server=nfs.example.com --dir=/exports/rhel/os" in ks
