"""`golden diagnose DOMAIN` on a real qemu failure: libvirt's own log of a domain that did not start."""

from __future__ import annotations

import json
import os

import pytest

from demo_build import undefine, unique_name
from tests.conftest import golden_bin

pytestmark = pytest.mark.system


def test_diagnose_domain_reads_the_real_qemu_log_of_a_failed_start(libvirt_up, vm_dirs):
    import libvirt

    work = vm_dirs("diagnose")
    kernel = work / "vmlinuz"
    kernel.write_bytes(os.urandom(8192))          # not a kernel: qemu refuses it at start
    kernel.chmod(0o644)
    name = unique_name("t-diag")
    xml = (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
           f"<os><type arch='x86_64' machine='pc'>hvm</type><kernel>{kernel}</kernel></os><devices/></domain>")
    conn = libvirt.open("qemu:///system")
    try:
        dom = conn.defineXML(xml)
        with pytest.raises(libvirt.libvirtError):
            dom.create()
        run = golden_bin("diagnose", name, "--json", "--connect", "qemu:///system")
        assert run.code == 1, run.err + run.out
        data = json.loads(run.out)
        assert data["kind"] == "domain"
        assert [f["id"] for f in data["findings"]] == ["G6"]
        finding = data["findings"][0]
        assert finding["file"] == f"/var/log/libvirt/qemu/{name}.log" and finding["source"] == "qemu"
        assert "invalid kernel header" in finding["lines"][0]["text"]
        text = golden_bin("diagnose", name)
        assert text.code == 1 and "G6" in text.out and f"{name}.log:" in text.out
    finally:
        undefine(name)
        conn.close()


def test_diagnose_an_unknown_domain_exits_2(libvirt_up):
    run = golden_bin("diagnose", unique_name("t-diag-none"))
    assert run.code == 2 and "no such log file, folder or libvirt domain" in run.err
