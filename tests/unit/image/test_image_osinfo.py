"""OS facts, the machine-id policy, SSH fingerprints and the operation data types."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.errors import InputError
import importlib
from builder.image.identity import fingerprint, machine_id_policy
from builder.image.osinfo import OSInfo, apply_hint, elf_arch, parse_redhat_release
from builder.image.seal import OPERATIONS, list_operations, select

# The package re-exports the customize() function under the module's name.
cz = importlib.import_module("builder.image.customize")


@pytest.mark.parametrize("text,distro,version,major,minor", [
    ("Red Hat Enterprise Linux Server release 6.10 (Santiago)", "rhel", "6.10", 6, 10),
    ("Red Hat Enterprise Linux Server release 5.11 (Tikanga)", "rhel", "5.11", 5, 11),
    ("Red Hat Enterprise Linux AS release 4 (Nahant Update 9)", "rhel", "4.9", 4, 9),
    ("Red Hat Enterprise Linux ES release 3 (Taroon Update 9)", "rhel", "3.9", 3, 9),
    ("CentOS release 6.10 (Final)", "centos", "6.10", 6, 10),
    ("CentOS Linux release 7.9.2009 (Core)", "centos", "7.9.2009", 7, 9),
    ("Fedora release 14 (Laughlin)", "fedora", "14", 14, None),
    ("Enterprise Linux Enterprise Linux Server release 5.8 (Carthage)", "ol", "5.8", 5, 8),
    ("Red Hat Linux release 9 (Shrike)", "rhl", "9", 9, None),
])
def test_redhat_release(text, distro, version, major, minor):
    r = parse_redhat_release(text + "\n")
    assert (r["distro"], r["version"], r["major"], r["minor"]) == (distro, version, major, minor)


def test_elf_arch_of_a_host_binary_and_of_synthetic_headers():
    assert elf_arch(Path("/bin/true").read_bytes()[:64]) == "x86_64"
    i386 = b"\x7fELF\x01\x01\x01" + b"\0" * 11 + (3).to_bytes(2, "little") + b"\0" * 40
    assert elf_arch(i386) == "i386"
    ppc64le = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + (21).to_bytes(2, "little") + b"\0" * 40
    assert elf_arch(ppc64le) == "ppc64le"
    s390x = b"\x7fELF\x02\x02\x01" + b"\0" * 11 + (22).to_bytes(2, "big") + b"\0" * 40
    assert elf_arch(s390x) == "s390x"
    assert elf_arch(b"#!/bin/sh\n" + b"\0" * 30) is None


@pytest.mark.parametrize("osi,action", [
    (OSInfo(distro="rhel", init="systemd", systemd_version=252), "uninitialized"),
    (OSInfo(distro="fedora", init="systemd", systemd_version=247), "uninitialized"),
    (OSInfo(distro="rhel", init="systemd", systemd_version=239), "empty"),
    (OSInfo(distro="rhel", init="systemd", systemd_version=219), "empty"),
    (OSInfo(distro="rhel", init="systemd", systemd_version=None), "empty"),
    (OSInfo(distro="rhel", init="upstart"), "remove"),
    (OSInfo(distro="rhel", init="sysvinit"), "remove"),
    (OSInfo(distro="golden-demo", init="busybox"), "uninitialized"),
])
def test_machine_id_policy(osi, action):
    assert machine_id_policy(osi).action == action


@pytest.mark.parametrize("hint,init,systemd", [
    ("rhel6.10", "upstart", None), ("rhel5.11", "sysvinit", None), ("rhel7.9", "systemd", 219),
    ("rhel8.10", "systemd", 239), ("rhel9.6", "systemd", 252), ("fedora42", "systemd", 257),
    ("centos7", "systemd", 219),
])
def test_os_hint(hint, init, systemd):
    osi = apply_hint(OSInfo(distro="unknown", init="unknown"), hint)
    assert (osi.init, osi.systemd_version) == (init, systemd)
    assert apply_hint(OSInfo(), "golden-demo").distro == "golden-demo"


def test_fingerprint_matches_ssh_keygen(tmp_path):
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(key)], check=True)
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"], capture_output=True,
                         text=True, check=True).stdout.split()
    assert fingerprint(Path(f"{key}.pub").read_text()) == ("ssh-ed25519", out[1])
    assert fingerprint("garbage") is None


def test_seal_registry_and_selection():
    ops = {o["name"]: o for o in list_operations()}
    for name in ("machine-id", "ssh-hostkeys", "udev-persistent-net", "net-hwaddr", "net-hostname", "net-nmconn",
                 "dhcp-client-state", "logfiles", "bash-history", "tmp-files", "rhn-systemid",
                 "rh-subscription-manager", "yum-uuid", "random-seed", "package-manager-cache", "rpm-db",
                 "crash-data", "mail-spool", "utmp", "passwd-backups", "lvm-system-devices", "blkid-tab",
                 "smolt-uuid", "abrt-data"):
        assert ops[name]["default"], name
    for name in ("ssh-userdir", "user-account", "firewall-rules", "fs-uuids"):
        assert not ops[name]["default"], name
    assert all(o["description"] and "\n" not in o["description"] for o in ops.values())
    assert "fs-uuids" not in select() and "machine-id" in select()
    assert select(only=["fs-uuids", "machine-id"]) == ["machine-id", "fs-uuids"]   # registry order
    assert "logfiles" not in select(skip=["logfiles"])
    with pytest.raises(InputError, match="unknown seal operation") as e:
        select(skip=["logfile"])
    assert "did you mean 'logfiles'" in e.value.hint
    assert list(OPERATIONS) == [o["name"] for o in list_operations()]


def test_customize_ops_from_cli_strings_and_profile_entries(tmp_path):
    ops = cz.parse_ops([
        "hostname=web1.example.com", "root-password=file:/run/pw", "root-password=env:PW",
        "ssh-inject=alice:file:/k.pub", "ssh-inject=root:string:ssh-ed25519 AAAA a@b", "upload=/a/b:/etc/",
        "write=/etc/motd:hello: world", "edit=/etc/x:s/a:b/c/g", "firstboot=/s.sh", "timezone=UTC",
        "selinux-relabel",
        {"hostname": "web2"}, {"root_password": {"file": "secrets/root.pass"}},
        {"root_password": {"hash": "$6$salt$abc"}}, {"ssh_key": "ssh-ed25519 AAAAC3 ops@example.com"},
        {"selinux_relabel": False}, ("timezone", "Europe/Paris"),
    ])
    assert ops[0] == cz.Hostname("web1.example.com")
    assert ops[1] == cz.RootPassword(file=Path("/run/pw")) and ops[2] == cz.RootPassword(env="PW")
    assert ops[3] == cz.SshKey(key_file=Path("/k.pub"), user="alice")
    assert ops[4] == cz.SshKey(key="ssh-ed25519 AAAA a@b", user="root")
    assert ops[5] == cz.Upload(Path("/a/b"), "/etc/")
    assert ops[6] == cz.Write("/etc/motd", "hello: world")
    assert ops[7] == cz.Edit("/etc/x", "s/a:b/c/g")
    assert ops[10] == cz.SelinuxRelabel() and ops[15] == cz.SelinuxRelabel(False)
    assert cz.op_to_dict(ops[13])["hash"] == "<hidden>"
    assert "secret" not in str(cz.op_to_dict(ops[1]))


@pytest.mark.parametrize("bad", [
    "hostname=bad_name!", "hostname=" + "a" * 64, "timezone=../../etc/passwd", "edit=/etc/x:s/a/b",
    "upload=nocolon", "frobnicate=1", "hostname=", {"hostname": "a", "timezone": "UTC"},
    {"root_password": {"hash": "plaintext"}}, {"root_password": {"file": "a", "env": "B"}},
])
def test_bad_customize_ops_are_input_errors(bad):
    with pytest.raises(InputError):
        cz.parse_ops([bad])
