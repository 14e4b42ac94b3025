"""The profile commands as a user runs them."""

from __future__ import annotations

import json
import os
import stat

from builder.profile import shipped_profiles


def test_profiles_lists_every_shipped_profile(golden):
    result = golden("profiles", "--json")
    assert result.code == 0
    rows = json.loads(result.out)
    assert {r["name"] for r in rows} == set(shipped_profiles())
    assert all(r["valid"] for r in rows), [r for r in rows if not r["valid"]]


def test_show_includes_inherited_and_default_values(golden):
    result = golden("show", "--json", "rhel5-fv-kvm")
    data = json.loads(result.out)
    assert data["kickstart"]["timezone"] == "America/New_York"      # from base/rhel.yaml
    assert data["disks"][0]["target"] == "vda"
    assert data["network"]["source"] == "default"
    human = golden("show", "rhel5-fv-kvm").out
    assert "base/rhel.yaml" in human


def test_kickstart_to_file_is_private_and_atomic(golden, tmp_path):
    out = tmp_path / "ks" / "demo.ks"
    result = golden("kickstart", "demo", "-o", out)
    assert result.code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert out.read_text().startswith("# Kickstart for Golden Demo Linux")
    assert [p.name for p in out.parent.iterdir()] == ["demo.ks"]


def test_plan_json_lists_artifacts_and_argv(golden, tmp_path):
    result = golden("plan", "--json", "rhel5-pv-xen", cwd=tmp_path)
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    kinds = {a["kind"] for a in plan["artifacts"]}
    assert {"kickstart", "disk", "image", "manifest", "report"} <= kinds
    argv = plan["virt_install"]
    assert argv[0] == "virt-install"
    assert "--paravirt" in argv and "--virt-type" in argv and argv[argv.index("--virt-type") + 1] == "xen"
    assert argv[argv.index("--location") + 1].startswith("ftp://")
    extra = argv[argv.index("--extra-args") + 1]
    assert "ks=file:/ks.cfg" in extra and "method=ftp://" in extra
    assert not list(tmp_path.iterdir()), "plan must not write anything"


def test_plan_uses_dialect_boot_args(golden, tmp_path):
    plan = json.loads(golden("plan", "--json", "rhel7-fv-kvm", cwd=tmp_path).out)
    extra = plan["virt_install"][plan["virt_install"].index("--extra-args") + 1]
    assert extra.startswith("inst.ks=file:/ks.cfg")
    plan = json.loads(golden("plan", "--json", "rhel8-fv-kvm", cwd=tmp_path).out)
    assert plan["virt_install"].count("--cdrom") == 1
    assert any("oemdrv.iso,device=cdrom" in a for a in plan["virt_install"])


def test_validate_several_profiles(golden):
    result = golden("validate", *shipped_profiles())
    assert result.code == 0, result.err
    assert result.out.count("ok: ") == len(shipped_profiles())


def test_os_catalog_listing(golden):
    data = json.loads(golden("os", "--json").out)
    for os_id in ("rhel3.9", "rhel4.8", "rhel5.4", "rhel5.11", "rhel6.10", "rhel7.9", "rhel8.10", "rhel9.6", "fedora42"):
        assert os_id in data
    assert data["rhel5.4"]["virt"]["kvm"] and data["rhel5.3"]["virt"]["virtio"]
    assert not data["rhel5.0"]["virt"]["virtio"]
