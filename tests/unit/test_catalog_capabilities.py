"""OS capabilities are catalog fields: a new entry changes what golden allows without code.

Fake entries are added to a copy of builder/data, so each test shows the behaviour
following the field and not an OS name or major version.
"""

from __future__ import annotations

import shutil
import textwrap

import pytest

from builder import catalog, paths
from builder.errors import InputError
from builder.image import accounts
from builder.image.customize import _crypt
from builder.image.identity import machine_id_policy
from builder.image.osinfo import OSInfo, apply_hint, systemd_for_release
from builder.profile import load
from builder.render.kickstart import HostFacts, context
from tests.unit.profile_factory import representative, write
from tests.unit.test_xen_pv_on_hvm import pv_profile
from tests.unit.treeguest import tree

# A release golden does not ship, RHEL 9-like unless a test says otherwise.
FAKE = """
fake1.0:
  inherit: _linux
  name: Fake Linux 1.0
  distro: fakeos
  major: 1
  minor: 0
  pykickstart: RHEL9
  osinfo: [generic]
  arches: [x86_64]
"""


@pytest.fixture
def with_catalog(tmp_path, monkeypatch):
    """Install extra catalog yaml (appended to catalog.yaml) for the test's duration."""
    data = tmp_path / "data"
    shutil.copytree(paths.data_dir(), data)

    def install(extra: str, base: str = FAKE) -> None:
        with (data / "catalog.yaml").open("a") as f:
            f.write(textwrap.dedent(base) + extra)
        catalog._load.cache_clear()

    monkeypatch.setattr(paths, "data_dir", lambda: data)
    catalog._load.cache_clear()
    yield install
    catalog._load.cache_clear()


def _refusal(tmp_path, os_id, **over) -> str:
    with pytest.raises(InputError) as exc:
        load(write(tmp_path, representative(os_id, **over)))
    return str(exc.value) + "\n".join(getattr(exc.value, "lines", lambda: [])())


def test_new_fields_default_when_an_entry_does_not_set_them(with_catalog):
    with_catalog("")
    e = catalog.get("fake1.0")
    assert (e.kickstart.lvm, e.kickstart.fixed_nic, e.kickstart.oemdrv, e.kickstart.repo_command) == \
        (True, None, True, True)
    assert e.kickstart.filesystems == catalog.FILESYSTEMS
    assert (e.uefi, e.first_uid, e.sha_crypt, e.init, e.systemd) == (True, 1000, True, "systemd", None)
    assert (e.virt.pv_pci_passthrough, e.virt.pv_console_getty, e.virt.xen_pv_blacklist,
            e.virt.xen_pv_manual_load) == (False, False, False, False)


def test_shipped_entries_carry_the_facts_the_code_used_to_hard_code():
    demo = catalog.get("demo")
    assert (demo.kickstart.lvm, demo.kickstart.fixed_nic, demo.machine_id) == (False, "eth0", "uninitialized")
    assert [catalog.get(i).first_uid for i in ("rhel3.9", "rhel6.10", "rhel7.9")] == [500, 500, 1000]
    assert [catalog.get(i).uefi for i in ("rhel5.11", "rhel6.10", "rhel7.0", "winxp", "win2k8")] == \
        [False, False, True, False, True]
    assert "btrfs" not in catalog.get("rhel9.6").kickstart.filesystems
    assert "xfs" not in catalog.get("rhel6.10").kickstart.filesystems
    assert "ext4" not in catalog.get("rhel4.9").kickstart.filesystems
    assert "btrfs" in catalog.get("fedora42").kickstart.filesystems


@pytest.mark.parametrize("extra,field", [
    ("  kickstart: {lvm: sometimes}\n", "lvm"),
    ("  kickstart: {filesystems: [ext4, zfs]}\n", "filesystems"),
    ("  uefi: maybe\n", "uefi"),
    ("  first_uid: lots\n", "first_uid"),
    ("  init: sysvinit\n  systemd: 252\n", "systemd"),
    ("  stage2_arg: inst.stage2\n", "stage2_arg"),          # removed: never read
])
def test_a_malformed_value_is_refused_naming_entry_and_field(with_catalog, extra, field):
    with_catalog(extra)
    with pytest.raises(InputError) as exc:
        catalog.entries()
    assert "fake1.0" in str(exc.value) and field in str(exc.value)


def test_lvm_false_refuses_an_lvm_profile(with_catalog, tmp_path):
    with_catalog("  kickstart: {lvm: false}\n")
    ks = representative("fake1.0")["kickstart"]
    text = _refusal(tmp_path, "fake1.0", kickstart={**ks, "partitioning": {"scheme": "lvm"}})
    assert "kickstart.partitioning.scheme" in text and "lvm: false" in text
    with_catalog("", base=FAKE.replace("fake1.0", "fake2.0"))
    load(write(tmp_path, representative("fake2.0")))


def test_fixed_nic_refuses_another_device(with_catalog, tmp_path):
    with_catalog("  kickstart: {fixed_nic: ens3}\n")
    ks = representative("fake1.0")["kickstart"]
    text = _refusal(tmp_path, "fake1.0", kickstart={**ks, "network": {**ks["network"], "device": "eth0"}})
    assert "kickstart.network.device" in text and "ens3 only" in text and "fixed_nic" in text
    load(write(tmp_path, representative("fake1.0", kickstart={**ks, "network": {**ks["network"], "device": "ens3"}})))


def test_filesystems_decide_the_fstypes_offered(with_catalog, tmp_path):
    with_catalog("  kickstart: {filesystems: [ext4, swap]}\n")
    ks = representative("fake1.0")["kickstart"]
    parts = {"scheme": "custom", "parts": [{"mount": "/", "size": 1, "grow": True, "fstype": "xfs"}]}
    text = _refusal(tmp_path, "fake1.0", kickstart={**ks, "partitioning": parts})
    assert "parts[0].fstype" in text and "does not install to xfs" in text


def test_oemdrv_false_refuses_the_oemdrv_method(with_catalog, tmp_path):
    with_catalog("  kickstart: {oemdrv: false}\n")
    text = _refusal(tmp_path, "fake1.0", install={"method": "oemdrv", "media": "/srv/fake.iso"})
    assert "install.method" in text and "OEMDRV" in text


def test_uefi_false_refuses_uefi_firmware(with_catalog, tmp_path):
    with_catalog("  uefi: false\n")
    text = _refusal(tmp_path, "fake1.0", machine={"memory": 1024, "firmware": "uefi"})
    assert "machine.firmware" in text and "does not install on UEFI" in text


def test_xen_post_install_steps_follow_the_virt_fields(tmp_path):
    loaded = load(write(tmp_path, pv_profile("rhel5.11", network={"mode": "bridge", "source": "xenbr0",
                                                                  "model": "netfront"})))
    entry = catalog.get("rhel5.11")
    assert context(loaded, entry, HostFacts())["xenpv"]["blacklist"] is True
    off = entry.model_copy(update={"virt": entry.virt.model_copy(update={"xen_pv_blacklist": False,
                                                                         "xen_pv_manual_load": True})})
    xenpv = context(loaded, off, HostFacts())["xenpv"]
    assert (xenpv["blacklist"], xenpv["manual_load"]) == (False, True)


def test_an_os_hint_takes_init_and_systemd_from_the_entry(with_catalog):
    with_catalog("  init: upstart\n")
    osi = apply_hint(OSInfo(init="systemd", systemd_version=257), "fake1.0")
    assert (osi.distro, osi.major, osi.init, osi.systemd_version) == ("fakeos", 1, "upstart", None)
    with_catalog("  systemd: 301\n", base=FAKE.replace("fake1.0", "fake2.0").replace("major: 1", "major: 2"))
    assert systemd_for_release("fakeos", "fakeos", 2) == 301
    assert apply_hint(OSInfo(), "fakeos2").systemd_version == 301


def test_machine_id_policy_follows_the_catalog(with_catalog):
    with_catalog("  init: sysvinit\n  machine_id: empty\n")
    policy = machine_id_policy(OSInfo(distro="fakeos", major=1, minor=0, init="sysvinit"))
    assert policy.action == "empty" and "machine_id" in policy.reason
    # an OS golden does not catalog keeps the detected policy: no systemd, remove the file
    assert machine_id_policy(OSInfo(distro="otheros", major=1, init="sysvinit")).action == "remove"


def test_first_uid_and_sha_crypt_come_from_the_entry(with_catalog, tmp_path):
    with_catalog("  first_uid: 700\n  sha_crypt: false\n")
    g = tree(tmp_path / "root", {"/etc/login.defs": "# no UID_MIN here\n"})
    osi = OSInfo(distro="fakeos", major=1, minor=3)          # an unlisted minor takes its major's entry
    assert accounts.uid_min(g, osi) == 700
    assert _crypt(g, osi, "pw")[1] == "md5-crypt"
    # a RHEL rebuild shares RHEL's entries
    assert accounts.uid_min(g, OSInfo(distro="centos", family="rhel", major=6, minor=5)) == 500
    assert accounts.uid_min(g, OSInfo(distro="centos", family="rhel", major=7, minor=5)) == 1000
    assert _crypt(g, OSInfo(distro="centos", major=5, minor=5), "pw")[1] == "sha512-crypt"


def test_the_ovf_os_type_is_the_entrys_cim_os_type(with_catalog):
    from types import SimpleNamespace

    from builder.pipeline import formats
    with_catalog("  cim_os_type: {x86_64: 101}\n")
    base = dict(name="t", description="", machine=SimpleNamespace(memory=512, vcpus=1, firmware="bios"),
                network=SimpleNamespace(mode="none", model=None))
    assert formats.ovf_system(SimpleNamespace(os="fake1.0", arch="x86_64", **base)).os_type == 101
    assert formats.ovf_system(SimpleNamespace(os="fedora42", arch="x86_64", **base)).os_type == 36   # LINUX
    assert formats.ovf_system(SimpleNamespace(os="win10", arch="x86_64", **base)).os_type == 1       # Other
