"""Seal the demo golden image, stamp out clones, boot two of them and check who they say they are.

One module-scoped run does the expensive part: `golden seal` on a copy of the
session's demo install (published the way the pipeline publishes images:
gold.qcow2, gold.domain.xml and a gold.build/ directory), `golden clone`
three linked and one full clone, and `golden verify` on two linked clones
(two TCG boots, in parallel). The bad-input tests then try what users get
wrong; each must fail with a clear error and leave no disk and no domain.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from demo_build import undefine, unique_name
from tests.conftest import golden_bin

from builder.clone.records import sha256_sparse
from builder.image import open_image

pytestmark = pytest.mark.system

URI = "qemu:///system"


def domains(names) -> set[str]:
    """Which of `names` are defined on the system connection."""
    import libvirt
    conn = libvirt.open(URI)
    try:
        return {n for n in names if n in {d.name() for d in conn.listAllDomains(0)}}
    finally:
        conn.close()


def files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def run_clone(*args) -> list[dict]:
    run = golden_bin("clone", *args, "--json")
    assert run.code == 0, run.err
    return json.loads(run.out)


def qemu_img_info(path: Path) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], check=True,
                                     capture_output=True, text=True).stdout)


FIRSTBOOT = """#!/bin/sh
echo "golden-firstboot-ran on $(hostname)" >/dev/ttyS0
"""


@pytest.fixture(scope="module")
def fleet(demo_install, vm_dirs):
    work = vm_dirs("fleet")
    gold = work / "gold.qcow2"
    subprocess.run(["cp", "--sparse=always", str(demo_install.disk), str(gold)], check=True)
    shutil.copy(demo_install.domain_xml, work / "gold.domain.xml")
    (work / "gold.build").mkdir()
    prefix = unique_name("t-cl")
    names = [f"{prefix}-{n}" for n in range(1, 5)]
    out = {"work": work, "gold": gold, "clones": work / "clones", "prefix": prefix, "names": names}
    try:
        # The pipeline's order: customize (here a first-boot script every clone runs), then seal.
        (work / "hello.sh").write_text(FIRSTBOOT)
        custom = golden_bin("customize", gold, "--firstboot", work / "hello.sh", "--json")
        assert custom.code == 0, custom.err
        seal = golden_bin("seal", gold, "--json")
        assert seal.code == 0, seal.err
        out["seal"] = json.loads(seal.out)
        out["sha_sealed"] = sha256_sparse(gold)
        linked = golden_bin("clone", gold, "--name", f"{prefix}-{{n}}", "--count", "3", "--linked",
                            "--dir", out["clones"], "--json")
        assert linked.code == 0, linked.err
        out["linked"] = json.loads(linked.out)
        out["inside"] = {}
        for clone in out["linked"]:                    # before verify boots them
            with open_image(clone["disks"][0], readonly=True) as g:
                out["inside"][clone["name"]] = {
                    "hostname": g.read_text("/etc/hostname").strip(),
                    "ifcfg": g.read_text("/etc/sysconfig/network-scripts/ifcfg-eth0"),
                    "machine-id": g.read_text("/etc/machine-id").strip()}
        # The full clone as a person runs it: a table on stdout, progress on stderr.
        full = golden_bin("clone", gold, "--name", f"{prefix}-{{n}}", "--count", "1", "--first", "4", "--full",
                          "--dir", out["clones"], env={"COLUMNS": "250"})
        assert full.code == 0, full.err
        out["full"] = full
        verify = golden_bin("verify", names[0], names[1], "--json", timeout=900)
        out["verify"] = (verify.code, json.loads(verify.out or "[]"), verify.err)
        out["sha_after"] = sha256_sparse(gold)
        out["record"] = json.loads((work / "gold.build" / "clones.json").read_text())
        yield out
    finally:
        for name in names:
            undefine(name)


def test_seal_left_the_golden_image_without_identity(fleet):
    ops = {op["name"]: op for op in fleet["seal"]["operations"]}
    assert ops["machine-id"]["result"] == "changed" and ops["ssh-hostkeys"]["result"] == "changed"
    assert {c["path"] for c in ops["udev-persistent-net"]["changes"]} == {"/etc/udev/rules.d/70-persistent-net.rules"}
    with open_image(fleet["gold"], readonly=True) as g:
        assert g.read_text("/etc/machine-id").strip() == "uninitialized"
        assert g.glob("/etc/ssh/ssh_host_*") == []


def test_linked_clones_are_overlays_with_their_own_identity(fleet):
    linked = fleet["linked"]
    assert [c["name"] for c in linked] == fleet["names"][:3]
    assert domains(fleet["names"][:3]) == set(fleet["names"][:3])
    macs = [c["macs"][0] for c in linked]
    assert len(set(macs)) == 3 and all(m.startswith("52:54:00:") for m in macs)
    assert len({c["uuid"] for c in linked}) == 3
    for clone in linked:
        disk = Path(clone["disks"][0])
        info = qemu_img_info(disk)
        assert info["backing-filename"] == str(fleet["gold"].resolve())
        assert info["backing-filename-format"] == "qcow2"
        assert disk.stat().st_blocks * 512 < 16 << 20              # an overlay, not a copy
        inside = fleet["inside"][clone["name"]]
        assert inside["hostname"] == clone["name"]
        assert f"HWADDR={clone['macs'][0].upper()}" in inside["ifcfg"]      # as Anaconda writes it
        assert inside["machine-id"] == "uninitialized"


def test_full_clone_is_a_standalone_copy(fleet):
    name = fleet["names"][3]
    assert name in fleet["full"].out and "recorded in" in fleet["full"].out
    assert "set the identity of 1 clone(s)" in fleet["full"].err
    (clone,) = [c for c in fleet["record"]["clones"] if c["name"] == name]
    assert not clone["linked"]
    info = qemu_img_info(Path(clone["disk"]))
    assert "backing-filename" not in info and info["format"] == "qcow2"
    assert domains([clone["name"]]) == {clone["name"]}
    assert clone["macs"][0] not in {c["macs"][0] for c in fleet["linked"]}


def test_two_booted_clones_report_the_identity_golden_set(fleet):
    code, verdicts, err = fleet["verify"]
    assert code == 0, err + json.dumps(verdicts, indent=1)
    by_name = {c["name"]: c for c in fleet["linked"]}
    for v in verdicts:
        clone = by_name[v["name"]]
        assert v["ok"] and v["problems"] == []
        assert v["reported"]["hostname"] == clone["hostname"]
        assert v["reported"]["mac"] == clone["macs"][0]
        assert v["reported"]["uuid"] == clone["uuid"]
        assert len(v["reported"]["machine-id"]) == 32
        # The first-boot script queued in the golden image ran once in each clone, under its own name.
        serial = (fleet["clones"] / f"{v['name']}.serial.log").read_text(errors="replace")
        assert f"golden-firstboot-ran on {v['name']}" in serial
    for key in ("hostname", "mac", "machine-id", "uuid", "ssh-ed25519"):
        assert verdicts[0]["reported"][key] != verdicts[1]["reported"][key], key


def test_clones_json_lists_them_and_the_verdicts(fleet):
    record = fleet["record"]
    assert record["source"] == str(fleet["gold"]) and record["source_sha256"] == fleet["sha_sealed"]
    listed = {c["name"]: c for c in record["clones"]}
    assert set(listed) == set(fleet["names"])
    assert listed[fleet["names"][0]]["verified"]["ok"] is True
    assert listed[fleet["names"][1]]["verified"]["observed"]["hostname"] == fleet["names"][1]
    assert listed[fleet["names"][2]]["verified"] is None
    assert listed[fleet["names"][3]]["linked"] is False


def test_golden_image_unchanged_by_cloning_and_booting(fleet):
    assert fleet["sha_after"] == fleet["sha_sealed"]


# ---- what users get wrong --------------------------------------------------------------------

def refused(fleet, *args, codes=(2,), match: str) -> str:
    before = files(fleet["work"])
    run = golden_bin("clone", *args)
    assert run.code in codes, (run.code, run.err)
    assert match in run.err, run.err
    assert "Traceback" not in run.err
    assert files(fleet["work"]) == before, "a refused clone left files behind"
    return run.err


def test_missing_image(fleet):
    new = unique_name("t-cl-miss")
    refused(fleet, fleet["work"] / "nope.qcow2", "--name", f"{new}-{{n}}", match="image not found")
    assert domains([f"{new}-1"]) == set()


def test_name_pattern_that_collides(fleet):
    err = refused(fleet, fleet["gold"], "--name", f"{fleet['prefix']}-{{n}}", "--count", "2",
                  "--dir", fleet["clones"], match="taken")
    assert fleet["names"][0] in err


def test_more_clones_than_the_mac_space(fleet):
    new = unique_name("t-cl-mac")
    refused(fleet, fleet["gold"], "--name", f"{new}-{{n}}", "--count", str((1 << 24) + 1),
            match="more MAC addresses than")


def test_corrupt_qcow2(fleet):
    bad = fleet["work"] / "corrupt.qcow2"
    subprocess.run(["cp", "--sparse=always", str(fleet["gold"]), str(bad)], check=True)
    with open(bad, "r+b") as f:
        l1 = struct.unpack(">Q", f.read(48)[40:48])[0]
        f.seek(l1)
        f.write(struct.pack(">Q", (1 << 63) | (1 << 40) | 0x200))     # an L1 entry pointing past the end
    try:
        new = unique_name("t-cl-bad")
        refused(fleet, bad, "--name", f"{new}-{{n}}", "--dir", fleet["clones"], match="corrupt qcow2 image")
        assert domains([f"{new}-1"]) == set()
    finally:
        bad.unlink()


def test_disk_of_a_running_domain(fleet):
    """A paused domain holds its disk open for writing, exactly like a running one."""
    import libvirt
    busy = fleet["work"] / "busy.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(fleet["gold"]), str(busy)],
                   check=True)
    name = unique_name("t-cl-busy")
    xml = (fleet["work"] / "gold.domain.xml").read_text()
    from builder.clone.domainxml import CloneSpec, parse, rewrite
    spec = CloneSpec(name=name, uuid=__import__("uuid").uuid4().hex, macs=("52:54:00:7f:00:01",), disks=(busy,),
                     disk_formats=("qcow2",), hostname=name, serial_log=None, source="test")
    conn = libvirt.open(URI)
    dom = conn.defineXML(rewrite(parse(xml), spec))
    new = unique_name("t-cl-b")
    try:
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        refused(fleet, busy, "--name", f"{new}-{{n}}", "--dir", fleet["clones"], match=f"running domain '{name}'")
        refused(fleet, name, "--name", f"{new}-{{n}}", "--dir", fleet["clones"], match="is running")
        assert domains([f"{new}-1"]) == set()
        # Reading the golden image under the running overlay is fine: clones of it can still be made.
        ok = golden_bin("clone", fleet["gold"], "--name", f"{new}-{{n}}", "--dir", fleet["work"] / "more", "--json")
        assert ok.code == 0, ok.err
        assert domains([f"{new}-1"]) == {f"{new}-1"}
    finally:
        undefine(name)
        undefine(f"{new}-1")
        conn.close()
        busy.unlink()
        shutil.rmtree(fleet["work"] / "more", ignore_errors=True)
        from builder.clone import records
        records.remove_clones(fleet["work"] / "gold.build" / "clones.json", {f"{new}-1"})


def test_interrupted_batch_takes_back_everything(fleet):
    """Ctrl-C after two of three domains are defined: no domain, no disk, no record entry stays."""
    from builder.clone.batch import clone_batch
    new = unique_name("t-cl-int")
    seen = []

    def ctrl_c(message: str) -> None:
        seen.append(message)
        if message == f"defined {new}-2":
            raise KeyboardInterrupt

    before = files(fleet["work"])
    with pytest.raises(KeyboardInterrupt):
        clone_batch(fleet["gold"], f"{new}-{{n}}", 3, directory=fleet["clones"], on_event=ctrl_c)
    assert f"defined {new}-1" in seen and any(m.startswith("rolled back: 2 domain(s)") for m in seen)
    assert domains([f"{new}-{n}" for n in (1, 2, 3)]) == set()
    assert files(fleet["work"]) == before
    names = {c["name"] for c in json.loads((fleet["work"] / "gold.build" / "clones.json").read_text())["clones"]}
    assert not any(n.startswith(new) for n in names)


def test_replace_then_remove_the_batch(fleet):
    """What `make clones/NAME` does twice and `make clean` once: --replace, then --remove-batch."""
    new = unique_name("t-cl-rep")
    batch_dir = fleet["work"] / "batch"
    first = run_clone(fleet["gold"], "--name", f"{new}-{{n}}", "--count", "2", "--dir", batch_dir)
    again = golden_bin("clone", fleet["gold"], "--name", f"{new}-{{n}}", "--count", "2", "--dir", batch_dir)
    assert again.code == 2 and "taken" in again.err                    # without --replace: refused
    try:
        second = run_clone(fleet["gold"], "--name", f"{new}-{{n}}", "--count", "2", "--dir", batch_dir,
                           "--replace")
        assert [c["name"] for c in second] == [c["name"] for c in first]
        assert {c["uuid"] for c in second}.isdisjoint({c["uuid"] for c in first})
        listed = json.loads((batch_dir / "clones.json").read_text())["clones"]
        assert [c["uuid"] for c in listed] == [c["uuid"] for c in second]
        # --replace never removes what golden did not clone.
        other = unique_name("t-cl-other")
        import libvirt
        conn = libvirt.open(URI)
        conn.defineXML(f"<domain type='qemu'><name>{other}-1</name><memory>65536</memory>"
                       "<os><type>hvm</type></os></domain>")
        conn.close()
        try:
            refused(fleet, fleet["gold"], "--name", f"{other}-{{n}}", "--dir", batch_dir, "--replace",
                    match="golden did not clone it")
        finally:
            undefine(f"{other}-1")
        gone = golden_bin("clone", "--remove-batch", batch_dir)
        assert gone.code == 0, gone.err
        assert domains([c["name"] for c in second]) == set()
        assert not batch_dir.exists() or files(batch_dir) == []
        build = {c["name"] for c in json.loads((fleet["work"] / "gold.build" / "clones.json").read_text())["clones"]}
        assert not any(n.startswith(new) for n in build)
    finally:
        for c in first:
            undefine(c["name"])
