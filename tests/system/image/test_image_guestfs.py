"""The guestfs backend, and the claim that both backends do the same thing.

Two copies of each test disk get the same inspect, customize and seal, one
copy per backend; the reports and every file (type, mode, owner, content or
link target) must come out the same. All guestfs work shares two appliance
launches (about 30 s each under TCG): one read-write batch, one read-only.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from passlib.hash import sha512_crypt

import guestimages as gi
from builder.errors import InputError
from builder.fsutil import sha256_file
from builder.image import customize, inspect_image, list_operations, open_image, open_images, seal

pytestmark = pytest.mark.system

TWINS = ("rhel7", "rhel6", "rhel9", "rhel6-overlay")
# Compaction (swap-reset, free-space) runs on the guestfs backend only, by design: not a twin.
SEAL_ALL = [o["name"] for o in list_operations() if o["name"] not in ("fs-uuids", "swap-reset", "free-space")]


def _inputs(d):
    (d / "root.pass").write_text("Tw1ns-Pass\n")
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", "ops@example", "-f", str(d / "k")],
                   check=True)
    (d / "setup.sh").write_text("#!/bin/sh\necho first boot\n")
    return ["hostname=web1.example.com", f"root-password=file:{d / 'root.pass'}",
            f"ssh-inject=root:file:{d / 'k.pub'}", f"upload={d / 'setup.sh'}:/usr/bin/",
            "write=/etc/motd:built by golden\n",
            "edit=/etc/hosts:s/localhost/LOCALHOST/g", f"firstboot={d / 'setup.sh'}", "timezone=Europe/Paris",
            "selinux-relabel"]


def _work(g, ops) -> dict:
    return {"inspect": inspect_image(g), "customize": customize(g, ops),
            "dry": seal(g, only=SEAL_ALL, dry_run=True), "seal": seal(g, only=SEAL_ALL),
            "after": inspect_image(g)}


def _copy(base_images, d, name, tag):
    if name == "rhel6-overlay":
        base = gi.copy_image(base_images["rhel6"], d / f"rhel6-base-{tag}.raw")
        overlay = d / f"rhel6-overlay-{tag}.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(overlay)],
                       check=True)
        return overlay
    return gi.copy_image(base_images[name], d / f"{name}-{tag}.raw")


@pytest.fixture(scope="module")
def twins(base_images, tmp_path_factory):
    d = tmp_path_factory.mktemp("twins")
    ops = _inputs(d)
    paths = {(n, b): _copy(base_images, d, n, b) for n in TWINS for b in ("loop", "guestfs")}
    fsuuid = gi.copy_image(base_images["rhel7"], d / "fsuuid-guestfs.raw")
    base_sums = {p: sha256_file(p) for p in d.glob("rhel6-base-*.raw")}
    results, timings = {}, {}
    for n in TWINS:
        with open_image(paths[(n, "loop")], backend="loop") as g:
            results[(n, "loop")] = _work(g, ops)
    start = time.monotonic()
    with open_images([paths[(n, "guestfs")] for n in TWINS] + [fsuuid], backend="guestfs") as guests:
        timings["launch"] = time.monotonic() - start
        assert {g.backend for g in guests} == {"guestfs"}
        for n, g in zip(TWINS, guests):
            t = time.monotonic()
            results[(n, "guestfs")] = _work(g, ops)
            timings[n] = time.monotonic() - t
        fs_guest = guests[-1]
        old = {f.device: f.uuid for f in fs_guest.filesystems()}
        fs_report = seal(fs_guest, only=["fs-uuids"])
        fs_after = {"uuids": {f.device: f.uuid for f in fs_guest.filesystems()},
                    "fstab": fs_guest.read_text("/etc/fstab"), "home": fs_guest.is_file("/home/alice/.bashrc")}
    timings["total"] = time.monotonic() - start
    print("guestfs batch timings (s):", {k: round(v, 1) for k, v in timings.items()})
    return {"paths": paths, "results": results, "fsuuid": (fsuuid, old, fs_report, fs_after),
            "base_sums": base_sums, "dir": d}


@pytest.mark.parametrize("name", TWINS)
def test_same_reports_on_both_backends(twins, name):
    loop, gfs = twins["results"][(name, "loop")], twins["results"][(name, "guestfs")]

    def same(report, sealed=False):
        # Each twin is its own file: the disks' paths differ, what is on them must not.
        if isinstance(report, dict) and "disks" in report:
            out = {**report, "disks": [{k: v for k, v in d.items() if k != "path"} for d in report["disks"]]}
            if sealed:          # after lvm-uuids, each side has its own new PV/VG UUIDs
                lvm = report["lvm"]
                out["lvm"] = {**lvm, "vgs": [{**v, "uuid": None} for v in lvm["vgs"]],
                              "pvs": [{**p, "uuid": None} for p in lvm["pvs"]]}
            return out
        # lvm-uuids draws new random PV/VG UUIDs on each side: compare what it changed from.
        if isinstance(report, dict) and "operations" in report:
            ops = [{**op, "changes": [{**c, "detail": str(c.get("detail", "")).split(" -> ")[0]}
                                      for c in op["changes"]]} if op.get("name") == "lvm-uuids" else op
                   for op in report["operations"]]
            return {**report, "operations": ops}
        return report
    for step in ("inspect", "customize", "dry", "seal", "after"):
        sealed = step == "after"
        assert same(loop[step], sealed) == same(gfs[step], sealed), f"{name}: {step} differs between the backends"
    assert gfs["after"]["findings"] == []


@pytest.mark.parametrize("name", TWINS)
def test_same_files_on_both_backends(twins, name):
    trees = {}
    for backend in ("loop", "guestfs"):
        with open_image(twins["paths"][(name, backend)], backend="loop", readonly=True) as g:
            tree = gi.snapshot(g)
            shadow = g.read_text("/etc/shadow").splitlines()
        root_hash = shadow[0].split(":")[1]
        assert sha512_crypt.verify("Tw1ns-Pass", root_hash)     # salts differ; both hash the password
        tree["/etc/shadow"] = "\n".join([shadow[0].replace(root_hash, "<hash>")] + shadow[1:])
        trees[backend] = tree
    a, b = trees["loop"], trees["guestfs"]
    differ = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
    assert differ == [], f"{name}: files differ between the backends: {differ[:10]}"


def test_overlay_writes_left_the_base_alone(twins):
    for path, before in twins["base_sums"].items():
        assert sha256_file(path) == before


def test_fs_uuids_on_guestfs(twins):
    image, old, report, after = twins["fsuuid"]
    assert set(after["uuids"]) == set(old) and all(after["uuids"][d] != old[d] for d in old)
    assert f"UUID={after['uuids']['/dev/sda5']} /" in after["fstab"] and after["home"]
    assert {c["path"] for c in report["operations"][0]["changes"] if c["action"] == "edited"} == \
        {"/etc/fstab", "/boot/grub2/grub.cfg"}
    with open_image(image, backend="loop", readonly=True) as g:
        assert {f.device: f.uuid for f in g.filesystems()} == after["uuids"]


def test_appliance_and_exports_are_gone(twins):
    assert gi.leftovers(twins["dir"]) == []


@pytest.fixture(scope="module")
def read_only_batch(base_images, tmp_path_factory):
    """auto on a mixed batch: the vfat ESP sends one image to guestfs, the other stays on loop."""
    d = tmp_path_factory.mktemp("ro")
    efi = gi.copy_image(base_images["efi"], d / "efi.raw")
    rhel9 = gi.copy_image(base_images["rhel9"], d / "rhel9.raw")
    sums = {p: sha256_file(p) for p in (efi, rhel9)}
    with open_images([efi, rhel9], backend="auto", readonly=True) as (ge, g9):
        out = {"backends": (ge.backend, g9.backend), "efi": inspect_image(ge), "rhel9": inspect_image(g9),
               "efi_files": ge.find("/boot/efi")}
        for g in (ge, g9):
            with pytest.raises(InputError, match="read-only"):
                g.write("/etc/motd", "x")
            with pytest.raises(InputError, match="read-only"):
                seal(g)
        out["dry"] = seal(ge, dry_run=True)
    out["sums_after"] = {p: sha256_file(p) for p in (efi, rhel9)}
    out["sums"] = sums
    out["dir"] = d
    return out


def test_auto_sends_unmountable_file_systems_to_guestfs(read_only_batch):
    r = read_only_batch
    assert r["backends"] == ("guestfs", "loop")
    assert ("/boot/efi", "/dev/sda4", "vfat") in [(m["mountpoint"], m["device"], m["fstype"])
                                                  for m in r["efi"]["mountpoints"]]
    assert r["efi_files"] == ["/boot/efi/EFI", "/boot/efi/EFI/redhat", "/boot/efi/EFI/redhat/grub.cfg"]
    esp = next(f for f in r["efi"]["filesystems"] if f["fstype"] == "vfat")
    assert (esp["uuid"], esp["label"]) == (gi.RHEL9["efi_uuid"], "ESP")
    # Same OS tree on both: the reports agree apart from the disk layout (and the SSH keys,
    # generated for each disk).
    for report in (r["efi"], r["rhel9"]):
        for key in report["identity"]["ssh_host_keys"]:
            key["fingerprint"] = "<per disk>"
    for key in ("os", "hostname", "kernels", "network", "identity", "findings"):
        assert r["efi"][key] == r["rhel9"][key], key
    assert any(op["result"] == "would change" for op in r["dry"]["operations"])


def test_read_only_opens_leave_checksums_unchanged(read_only_batch):
    assert read_only_batch["sums_after"] == read_only_batch["sums"]
    assert gi.leftovers(read_only_batch["dir"]) == []
