"""The same operations give the same result on both backends, on the real demo golden image.

One copy of the session's demo install stays qcow2 and goes through one
guestfs appliance launch; another is converted to raw and goes through the
loop backend. Both get the same inspect, customize and seal; the reports
and every file (type, mode, owner, content or link target) must agree.
"""

from __future__ import annotations

import subprocess

import pytest
from passlib.context import CryptContext

import guestimages as gi
from builder.image import customize, inspect_image, open_image, seal

pytestmark = pytest.mark.system


def _ops(d):
    (d / "root.pass").write_text("Same-On-Both\n")
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", "ops@example", "-f", str(d / "k")],
                   check=True)
    (d / "hello.sh").write_text("#!/bin/sh\necho hello\n")
    return ["hostname=web-1.example.com", f"root-password=file:{d / 'root.pass'}", f"ssh-key={d / 'k.pub'}",
            f"upload={d / 'hello.sh'}:/usr/local/bin/", "write=/etc/motd:golden twin\n",
            "edit=/etc/hosts:s/localhost/LOCALHOST/", f"firstboot={d / 'hello.sh'}", "selinux-relabel"]


def _work(g, ops) -> dict:
    out = {"inspect": inspect_image(g), "customize": customize(g, ops), "seal": seal(g), "after": inspect_image(g)}
    for key in ("inspect", "after"):
        out[key].pop("disk")                 # qcow2 on one side, raw on the other
        out[key].pop("disks")
    return out


def _tree(path):
    with open_image(path, backend="loop", readonly=True) as g:
        tree = gi.snapshot(g)
        shadow = g.read_text("/etc/shadow").splitlines()
    root_hash = shadow[0].split(":")[1]
    assert CryptContext(schemes=["sha512_crypt", "md5_crypt"]).verify("Same-On-Both", root_hash)
    tree["/etc/shadow"] = "\n".join([shadow[0].replace(root_hash, "<salted hash>")] + shadow[1:])
    return tree


@pytest.fixture(scope="module")
def twins(demo_install, tmp_path_factory):
    d = tmp_path_factory.mktemp("demo-twins")
    ops = _ops(d)
    qcow = d / "demo.qcow2"
    raw = d / "demo.raw"
    subprocess.run(["cp", "--sparse=always", str(demo_install.disk), str(qcow)], check=True)
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(qcow), str(raw)], check=True)
    with open_image(qcow, backend="guestfs") as g:
        assert g.backend == "guestfs"
        gfs = _work(g, ops)
    with open_image(raw, backend="loop") as g:
        assert g.backend == "loop"
        loop = _work(g, ops)
    return {"guestfs": gfs, "loop": loop, "trees": {"guestfs": _tree(qcow), "loop": _tree(raw)}, "dir": d}


@pytest.mark.parametrize("step", ["inspect", "customize", "seal", "after"])
def test_same_reports(twins, step):
    assert twins["loop"][step] == twins["guestfs"][step]


def test_same_files(twins):
    a, b = twins["trees"]["loop"], twins["trees"]["guestfs"]
    differ = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
    assert differ == [], f"files differ between the backends: {differ[:10]}"


def test_the_work_was_real(twins):
    loop = twins["loop"]
    assert loop["inspect"]["os"]["distro"] == "golden-demo" and loop["inspect"]["findings"]
    assert all(op["result"] == "changed" for op in loop["customize"]["operations"])
    assert loop["after"]["findings"] == [] and loop["after"]["hostname"] == "web-1.example.com"
    assert gi.leftovers(twins["dir"]) == []
