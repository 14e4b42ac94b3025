"""The image and clone commands' argument handling, on libvirt's test driver (no image is opened)."""

from __future__ import annotations

import json


def test_verify_refuses_unknown_and_running_domains(golden):
    run = golden("verify", "ghost", "--connect", "test:///default")
    assert run.code == 2 and "no domain named 'ghost'" in run.err
    run = golden("verify", "test", "--connect", "test:///default")
    assert run.code == 2 and "test is running" in run.err and "virsh shutdown test" in run.err


def test_clone_needs_a_source_and_a_pattern(golden, tmp_path):
    run = golden("clone")
    assert run.code == 2 and "give SOURCE and --name" in run.err
    run = golden("clone", "--remove-batch", tmp_path)
    assert run.code == 2 and "not a golden clone directory" in run.err
    run = golden("clone", tmp_path / "x.qcow2", "--name", "a-{n}", "--remove-batch", tmp_path)
    assert run.code == 2 and "takes no SOURCE" in run.err


def test_seal_list_and_missing_image(golden):
    run = golden("seal", "--list", "--json")
    ops = json.loads(run.out)
    assert run.code == 0 and {"machine-id", "ssh-hostkeys", "net-hwaddr", "fs-uuids"} <= {o["name"] for o in ops}
    run = golden("seal")
    assert run.code == 2 and "give an IMAGE" in run.err


def test_customize_needs_an_operation(golden, tmp_path):
    run = golden("customize", tmp_path / "x.qcow2")
    assert run.code == 2 and "nothing to do" in run.err
    run = golden("customize", tmp_path / "x.qcow2", "--edit", "/etc/hosts:y/a/b/")
    assert run.code == 2 and "Traceback" not in run.err
