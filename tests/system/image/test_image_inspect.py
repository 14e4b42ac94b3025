"""inspect_image on the three test guests (loop backend)."""

from __future__ import annotations

import json
import subprocess

import guestimages as gi
from builder.image import inspect_image, open_image

KEYS = ["os", "hostname", "hostname_source", "disk", "disks", "root", "partitions", "filesystems", "lvm", "fstab",
        "mountpoints", "kernels", "bootloaders", "packages", "packages_source", "packages_note", "network",
        "identity", "findings", "notes"]


def ssh_keygen_fingerprint(pub: bytes, tmp_path) -> str:
    f = tmp_path / "k.pub"
    f.write_bytes(pub)
    return subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(f)], capture_output=True, text=True,
                          check=True).stdout.split()[1]


def test_rhel7(image, tmp_path):
    with open_image(image("rhel7"), backend="loop", readonly=True) as g:
        r = inspect_image(g)
        pub = g.read("/etc/ssh/ssh_host_ed25519_key.pub")
    assert list(r) == KEYS
    json.dumps(r)
    osr = r["os"]
    assert (osr["distro"], osr["family"], osr["version"], osr["major"], osr["minor"]) == ("rhel", "rhel", "7.9", 7, 9)
    assert (osr["arch"], osr["init"], osr["systemd_version"], osr["package_format"]) == ("x86_64", "systemd", 219, "rpm")
    assert (r["hostname"], r["hostname_source"]) == (gi.RHEL7["hostname"], "/etc/hostname")
    assert r["disk"] == {"format": "raw", "virtual_size": 96 << 20} and r["root"] == "/dev/sda5"
    assert [(d["device"], d["format"], d["virtual_size"]) for d in r["disks"]] == [("/dev/sda", "raw", 96 << 20)]
    assert [p["kind"] for p in r["partitions"]] == ["primary", "extended", "logical", "logical", "logical"]
    assert {f["device"]: f["label"] for f in r["filesystems"]} == {"/dev/sda1": "boot", "/dev/sda5": "root",
                                                                 "/dev/sda6": "swap", "/dev/sda7": "home"}
    assert {e["mountpoint"]: e["device"] for e in r["fstab"]} == {
        "/": "/dev/sda5", "/boot": "/dev/sda1", "/home": "/dev/sda7", "swap": "/dev/sda6", "/dev/shm": None}
    assert [m["mountpoint"] for m in r["mountpoints"]] == ["/", "/boot", "/home"]
    k = gi.RHEL7["kernel"]
    assert {x["version"]: x["initrd"] for x in r["kernels"]}[k] == f"/boot/initramfs-{k}.img"
    boot = r["bootloaders"][0]
    assert boot["type"] == "grub2" and boot["default_entry"]["kernel"] == f"/vmlinuz-{k}"
    assert "console=ttyS0,115200" in boot["default_entry"]["args"] and len(boot["entries"]) == 2
    eth0 = next(c for c in r["network"]["ifcfg"] if c["device"] == "eth0")
    assert (eth0["hwaddr"], eth0["uuid"], eth0["bootproto"]) == (gi.RHEL7["mac"].upper(), gi.RHEL7["ifcfg_uuid"], "dhcp")
    ident = r["identity"]
    assert ident["machine_id"] == {"path": "/etc/machine-id", "state": "set", "value": gi.RHEL7["machine_id"]}
    assert ident["dbus_machine_id"]["state"] == "symlink"
    fps = {k["path"]: k["fingerprint"] for k in ident["ssh_host_keys"]}
    assert fps["/etc/ssh/ssh_host_ed25519_key"] == ssh_keygen_fingerprint(pub, tmp_path)
    assert len(fps) == 3
    for f in ("machine-id set in /etc/machine-id", "ssh host keys present (3)", "HWADDR pinned in ifcfg-eth0",
              "UUID pinned in ifcfg-eth0", "DHCP_HOSTNAME set in ifcfg-eth0"):
        assert f in r["findings"]


def test_rhel6_with_lvm_and_redhat_release(image):
    with open_image(image("rhel6"), backend="loop", readonly=True) as g:
        r = inspect_image(g)
    osr = r["os"]
    assert (osr["distro"], osr["version"], osr["init"], osr["systemd_version"], osr["release_file"]) == \
        ("rhel", "6.10", "upstart", None, "/etc/redhat-release")
    assert osr["name"] == "Red Hat Enterprise Linux Server"
    assert (r["hostname"], r["hostname_source"]) == (gi.RHEL6["hostname"], "/etc/sysconfig/network")
    assert r["root"] == "/dev/VolGroup00/LogVol00"
    assert [v["name"] for v in r["lvm"]["vgs"]] == ["VolGroup00"]
    assert [lv["path"] for lv in r["lvm"]["lvs"]] == ["/dev/VolGroup00/LogVol00", "/dev/VolGroup00/LogVol01"]
    assert r["lvm"]["pvs"][0]["device"] == "/dev/sda2"
    boot = r["bootloaders"][0]
    assert (boot["type"], boot["config"], boot["default"]) == ("grub", "/boot/grub/grub.conf", 0)
    assert "rd_LVM_LV=VolGroup00/LogVol00" in boot["default_entry"]["args"]
    assert len(r["bootloaders"]) == 1                    # menu.lst is a link to grub.conf
    assert r["identity"]["machine_id"]["state"] == "missing"
    assert r["identity"]["dbus_machine_id"] == {"path": "/var/lib/dbus/machine-id", "state": "set",
                                                "value": gi.RHEL6["dbus_id"]}
    assert r["identity"]["persistent_net_macs"] == [gi.RHEL6["mac"], gi.RHEL6["mac2"]]
    assert {k["type"] for k in r["identity"]["ssh_host_keys"]} == {"ssh-rsa", "ssh-dss"}
    assert "persistent-net rules pin MACs (52:54:00:65:43:21, 52:54:00:65:43:22)" in r["findings"]
    assert r["findings"].count("HWADDR pinned in ifcfg-eth0") == 1
    assert r["network"]["sysconfig_network"]["GATEWAY"] == "192.168.122.1"


def test_rhel9_gpt_bls_and_keyfiles(image):
    with open_image(image("rhel9"), backend="loop", readonly=True) as g:
        r = inspect_image(g)
    assert (r["os"]["version"], r["os"]["systemd_version"]) == ("9.4", 252)
    assert [(p["number"], p["name"]) for p in r["partitions"]] == [(1, "biosboot"), (2, "boot"), (3, "root")]
    assert r["partitions"][0]["type"] == gi.BIOS_BOOT
    boot = r["bootloaders"][0]
    k = gi.RHEL9["kernel"]
    assert boot["default"] == f"{gi.RHEL9['machine_id']}-{k}"
    assert boot["default_entry"]["kernel"] == f"/vmlinuz-{k}"
    assert boot["default_entry"]["initrd"] == f"/initramfs-{k}.img"
    assert boot["default_entry"]["args"].startswith(f"root=UUID={gi.RHEL9['root_uuid']} ro")
    kf = r["network"]["keyfiles"][0]
    assert (kf["id"], kf["uuid"], kf["mac_address"], kf["ipv4_method"]) == \
        ("eth0", gi.RHEL9["nm_uuid"], gi.RHEL9["mac"].upper(), "auto")
    assert "mac-address pinned in NetworkManager keyfile eth0.nmconnection" in r["findings"]
    assert "LVM system.devices pins disk ids (/etc/lvm/devices/system.devices)" in r["findings"]
