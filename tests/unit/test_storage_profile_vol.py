"""Profile disks from a pool volume (`disks: [{vol: POOL/VOL, perms: sh}]`) -> virt-install --disk vol=."""

from __future__ import annotations

import uuid

import libvirt
import pytest

from builder import catalog
from builder.errors import GoldenError, InputError
from builder.layout import BuildLayout
from builder.profile import load
from builder.virt.install import _check_pool_volumes
from builder.virt.install_cmd import InstallTarget, build_argv
from tests.unit.profile_factory import representative, write


def _loaded(tmp_path, disks):
    return load(write(tmp_path, representative("rhel9.6", disks=disks)))


def test_shared_volume_reaches_virt_install_argv(tmp_path):
    # Guide scenario 21: an iSCSI pool's LUNs as the guest's disks, the second shareable.
    loaded = _loaded(tmp_path, [{"vol": "kvmguest/10.0.0.1"}, {"vol": "kvmguest/10.0.0.2", "perms": "sh"}])
    entry = catalog.get(loaded.profile.os)
    argv = build_argv(loaded.profile, entry, BuildLayout.for_profile(loaded.profile, tmp_path),
                      InstallTarget(virt_type="qemu"))
    disks = [argv[i + 1] for i, a in enumerate(argv) if a == "--disk"]
    vol = [d for d in disks if d.startswith("vol=")]
    assert vol == ["vol=kvmguest/10.0.0.1,bus=virtio,target.dev=vda",
                   "vol=kvmguest/10.0.0.2,perms=sh,bus=virtio,target.dev=vdb"], disks
    assert not any("size=" in d for d in vol)


@pytest.mark.parametrize("disk, words", [
    ({"vol": "no-slash"}, "POOL/VOL"),
    ({"vol": "p/v", "size": "4G"}, "drop path and size"),
    ({"size": "4G", "perms": "sh"}, "perms applies only"),
    ({"vol": "p/v", "perms": "wx"}, "perms"),
])
def test_bad_vol_disks_name_the_field(tmp_path, disk, words):
    with pytest.raises(GoldenError) as exc:
        _loaded(tmp_path, [{"size": "12G"}, disk])
    assert exc.value.exit_code == 2
    text = str(exc.value) + " ".join(getattr(exc.value, "lines", lambda: [])())
    assert words in text and "disks" in text


def test_preflight_needs_the_pool_and_volume(tmp_path):
    conn = libvirt.open("test:///default")
    try:
        pool = f"p-{uuid.uuid4().hex[:6]}"
        missing = _loaded(tmp_path, [{"size": "12G"}, {"vol": f"{pool}/v.img", "perms": "sh"}]).profile
        with pytest.raises(InputError, match="does not exist") as exc:
            _check_pool_volumes(missing, conn)
        assert exc.value.where == "disks[1].vol"
        novol = _loaded(tmp_path, [{"size": "12G"}, {"vol": "default-pool/absent.img"}]).profile
        with pytest.raises(InputError, match="no volume"):
            _check_pool_volumes(novol, conn)
        conn.storagePoolLookupByName("default-pool").createXML(
            "<volume><name>shared.img</name><capacity>1048576</capacity></volume>", 0)
        ok = _loaded(tmp_path, [{"size": "12G"}, {"vol": "default-pool/shared.img", "perms": "sh"}]).profile
        _check_pool_volumes(ok, conn)
        ro_root = _loaded(tmp_path, [{"vol": "default-pool/shared.img", "perms": "ro"}]).profile
        with pytest.raises(InputError, match="install target"):
            _check_pool_volumes(ro_root, conn)
    finally:
        conn.close()
