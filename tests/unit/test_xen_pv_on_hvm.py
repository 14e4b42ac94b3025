"""PV-on-HVM (seed ch. 12): where kmod-xenpv comes from, the RHEL 3 kernel gate and module copy,
no emulated NIC in the domain, and `noapic` for a RHEL 5.1 dom0."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from builder import catalog
from builder.errors import InputError
from builder.layout import BuildLayout
from builder.profile import load
from builder.render.kickstart import render
from builder.virt.install_cmd import InstallTarget, build_argv
from builder.virt.watchdog import FAILURE_PATTERNS
from tests.unit.profile_factory import representative, write

ISO = {"method": "ksfloppy", "media": "/srv/rhel.iso"}


def pv_profile(os_id, *, ks=None, **overrides):
    entry = catalog.get(os_id)
    settings = {"hypervisor": "xen", "arch": "i386", "network": {"mode": "bridge", "source": "xenbr0"},
                "disks": [{"size": "6G", "bus": "ide"}], "install": ISO, **overrides}
    data = representative(os_id, **settings)
    data["kickstart"]["xen_pv_drivers"] = True
    if not entry.kickstart.selinux:
        data["kickstart"].pop("selinux", None)
    if entry.kickstart.firewall_style == "flags":
        data["kickstart"]["firewall"] = {"services": ["ssh"]}
    data["kickstart"].update(ks or {})
    return data


def issues_of(tmp_path, data) -> str:
    with pytest.raises(InputError) as exc:
        load(write(tmp_path, data))
    issues = exc.value.details.get("issues", [])
    return "\n".join(str(i) for i in issues) + "\n" + str(exc.value) + "\n" + (exc.value.hint or "")


def ks_text(tmp_path, data) -> str:
    return render(load(write(tmp_path, data))).text


# ------------------------------------------------------------ where kmod-xenpv comes from

def test_kmod_without_a_source_is_refused(tmp_path):
    text = issues_of(tmp_path, pv_profile("rhel5.1"))
    assert "kickstart.xen_pv_repo" in text and "kmod-xenpv" in text


def test_kmod_from_a_named_repo(tmp_path):
    data = pv_profile("rhel5.1", ks={"xen_pv_repo": "xenpv",
                                     "repos": [{"name": "xenpv", "baseurl": "http://mirror.example.com/xenpv/"}]})
    text = ks_text(tmp_path, data)
    assert re.search(r"^repo --name=xenpv --baseurl=http://mirror\.example\.com/xenpv/$", text, re.M)
    assert "\nkmod-xenpv\n" in text.split("%packages", 1)[1]


def test_repo_name_must_be_one_of_the_repos(tmp_path):
    text = issues_of(tmp_path, pv_profile("rhel5.1", ks={"xen_pv_repo": "elsewhere"}))
    assert "'elsewhere' is not one of kickstart.repos" in text


@pytest.mark.parametrize("os_id", ["rhel3.9", "rhel4.6"])
def test_rhel3_and_4_have_no_repo_command(tmp_path, os_id):
    text = issues_of(tmp_path, pv_profile(os_id, ks={"xen_pv_repo": "xenpv"}))
    assert "no repo command" in text and "xen_pv_repo: install" in text


def test_install_tree_that_carries_it(tmp_path):
    text = ks_text(tmp_path, pv_profile("rhel4.6", ks={"xen_pv_repo": "install"}))
    packages = text.split("%packages", 1)[1]
    for name in ("kmod-xenpv", "modversions", "module-init-tools"):
        assert f"\n{name}\n" in packages


def test_builtin_drivers_need_no_repo(tmp_path):
    text = issues_of(tmp_path, pv_profile("rhel5.11", ks={"xen_pv_repo": "install"}))
    assert "in its own kernel" in text
    assert "kmod-xenpv" not in ks_text(tmp_path, pv_profile("rhel5.11")).split("%packages", 1)[1]


# ------------------------------------------------------------ the NIC: no type=ioemu

def argv_for(tmp_path, data):
    loaded = load(write(tmp_path, data))
    entry = catalog.get(loaded.profile.os)
    return build_argv(loaded.profile, entry, BuildLayout.for_profile(loaded.profile, tmp_path),
                      InstallTarget(virt_type="xen"))


def test_domain_gets_the_pv_nic_not_rtl8139(tmp_path):
    argv = argv_for(tmp_path, pv_profile("rhel5.11"))
    nets = [argv[i + 1] for i, a in enumerate(argv) if a == "--network"]
    assert nets == ["bridge=xenbr0,model=netfront"]
    data = pv_profile("rhel5.11")
    data["kickstart"]["xen_pv_drivers"] = False
    argv = argv_for(tmp_path, data)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--network"] == ["bridge=xenbr0,model=rtl8139"]


def test_an_explicit_emulated_nic_is_refused(tmp_path):
    text = issues_of(tmp_path, pv_profile("rhel5.11", network={"mode": "bridge", "source": "xenbr0",
                                                               "model": "rtl8139"}))
    assert "network.model" in text and "type=ioemu" in text


def test_kmod_release_cannot_install_over_the_network_without_an_emulated_nic(tmp_path):
    data = pv_profile("rhel5.1", ks={"xen_pv_repo": "install"},
                      install={"method": "location", "media": "http://mirror.example.com/tree/"})
    assert "no Xen PV NIC driver" in issues_of(tmp_path, data)


def test_shipped_profile_uses_the_pv_nic():
    loaded = load("rhel5-fv-xen-pvdrivers")
    assert loaded.profile.network.model is None


# ------------------------------------------------------------ dom0 release and noapic

def _bootloader(text):
    return re.search(r"^bootloader .*$", text, re.M).group(0)


def test_noapic_only_for_a_5_1_dom0(tmp_path):
    assert "noapic" in _bootloader(ks_text(tmp_path, pv_profile("rhel5.11", ks={"xen_dom0_release": "5.1"})))
    assert "noapic" not in _bootloader(ks_text(tmp_path, pv_profile("rhel5.11", ks={"xen_dom0_release": "5.2"})))
    assert "noapic" not in _bootloader(ks_text(tmp_path, pv_profile("rhel5.11")))


def test_dom0_release_checks(tmp_path):
    assert "RHEL 5.1 or later Xen host" in issues_of(tmp_path, pv_profile("rhel5.11", ks={"xen_dom0_release": "5.0"}))
    assert "xen_dom0_release" in issues_of(tmp_path, pv_profile("rhel5.11", ks={"xen_dom0_release": "five"}))
    data = representative("rhel5.11")
    data["kickstart"]["xen_dom0_release"] = "5.1"
    assert "this profile is for KVM" in issues_of(tmp_path, data)


# ------------------------------------------------------------ RHEL 3: kernel gate and module copy

def _rhel3_text(tmp_path):
    return ks_text(tmp_path, pv_profile("rhel3.9", ks={"xen_pv_repo": "install"}))


def test_rhel3_post_fails_the_build_on_an_old_kernel(tmp_path):
    text = _rhel3_text(tmp_path)
    line = next(l for l in text.splitlines() if "golden-installer: FAILED" in l)
    message = re.search(r'echo "(.*)" >', line).group(1).replace("${newest:-none}", "50.EL")
    assert any(rx.search(message) for rx, _ in FAILURE_PATTERNS), message
    assert "2.4.21-60.EL" in message
    assert "-lt 60 ]" in text


def _boot_script(text):
    return text.split("<<'GOLDEN_XENPV'\n", 1)[1].split("\nGOLDEN_XENPV\n", 1)[0]


@pytest.mark.parametrize("kernel, loads", [("2.4.21-50.EL", False), ("2.4.21-52.ELsmp", False),
                                           ("2.4.21-60.EL", True), ("2.4.21-63.ELhugemem", True)])
def test_rhel3_boot_script_gates_on_the_running_kernel(tmp_path, kernel, loads):
    script = tmp_path / "golden-xenpv"
    script.write_text(_boot_script(_rhel3_text(tmp_path)))
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "uname").write_text(f"#!/bin/sh\necho {kernel}\n")
    (stubs / "uname").chmod(0o755)
    # The script writes its refusal to /dev/console; point it at a file.
    text = script.read_text().replace("/dev/console", str(tmp_path / "console"))
    assert "cp -R \"$src\"/. \"$dest\"/ && depmod -ae" in text          # seed 12.3.2's module copy
    assert "/lib/modules/*EL$variant/extra/xenpv" in text
    script.write_text(text)
    proc = subprocess.run(["sh", str(script)], env={**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}"},
                          capture_output=True, text=True, timeout=30)
    console = (tmp_path / "console").read_text() if (tmp_path / "console").exists() else ""
    if loads:
        assert proc.returncode == 0 and console == ""
    else:
        assert proc.returncode == 1
        assert f"kernel {kernel} is older than 2.4.21-60.EL" in console
