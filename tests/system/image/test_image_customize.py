"""Customize operations on real guest trees (loop backend)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from passlib.hash import sha512_crypt

import guestimages as gi
from builder.errors import InputError
from builder.image import (Firstboot, Hostname, RootPassword, SelinuxRelabel, SshKey, Timezone, Upload,
                           Write, customize, open_image)
from builder.image.firstboot import RUNNER_SH


def actions(report) -> list[tuple[str, str]]:
    return [(c["path"], c["action"]) for op in report["operations"] for c in op["changes"]]


def test_hostname_systemd_guest(image):
    with open_image(image("rhel7"), backend="loop") as g:
        report = customize(g, [Hostname("web1.example.com")])
        assert g.read_text("/etc/hostname") == "web1.example.com\n"
        assert "HOSTNAME=web1.example.com" in g.read_text("/etc/sysconfig/network")
        assert "192.168.122.10 web1.example.com web1\n" in g.read_text("/etc/hosts")
        assert g.read_text("/etc/hosts").startswith("127.0.0.1   localhost localhost.localdomain\n")
        assert ("/etc/hosts", "edited") in actions(report)
        # The template's short DHCP_HOSTNAME would register every clone under the old name.
        assert 'DHCP_HOSTNAME="web1"' in g.read_text("/etc/sysconfig/network-scripts/ifcfg-eth0")
        assert customize(g, [Hostname("web1.example.com")])["operations"][0]["result"] == "nothing to do"


def test_hostname_rhel6_guest_lives_in_sysconfig_network(image):
    with open_image(image("rhel6"), backend="loop") as g:
        customize(g, [Hostname("db1")])
        net = g.read_text("/etc/sysconfig/network")
        assert net == "NETWORKING=yes\nHOSTNAME=db1\nGATEWAY=192.168.122.1\n"
        eth0 = g.read_text("/etc/sysconfig/network-scripts/ifcfg-eth0")
        assert "HOSTNAME=db1\nDHCP_HOSTNAME=db1\n" in eth0 and "rhel6-golden" not in eth0
        assert g.read_text("/etc/sysconfig/networking/devices/ifcfg-eth0") == eth0   # still one hard-linked file
        assert "192.168.122.20 db1\n" in g.read_text("/etc/hosts")


def test_root_password_is_hashed_and_never_reported(image, tmp_path):
    pw = tmp_path / "root.pass"
    pw.write_text("s3cret-Pass\nignored second line\n")
    with open_image(image("rhel7"), backend="loop") as g:
        before = g.read_text("/etc/shadow").splitlines()
        report = customize(g, [RootPassword(file=pw)])
        after = g.read_text("/etc/shadow").splitlines()
        root = after[0].split(":")
        assert root[1].startswith("$6$") and sha512_crypt.verify("s3cret-Pass", root[1])
        assert root[2] == str(int(time.time()) // 86400)
        assert root[3:] == before[0].split(":")[3:] and after[1:] == before[1:]
        assert g.stat("/etc/shadow").perms == 0
        assert "s3cret" not in str(report) and root[1] not in str(report)
        customize(g, [RootPassword(hash="$6$salt$abcdefghijklmnop")])
        assert g.read_text("/etc/shadow").split(":")[1] == "$6$salt$abcdefghijklmnop"
    os.environ["GOLDEN_TEST_PW"] = "from-env"
    try:
        with open_image(image("rhel7", "-env"), backend="loop") as g:
            customize(g, [RootPassword(env="GOLDEN_TEST_PW")])
            assert sha512_crypt.verify("from-env", g.read_text("/etc/shadow").split(":")[1])
    finally:
        del os.environ["GOLDEN_TEST_PW"]


def test_ssh_key_for_root_and_for_a_user(image, tmp_path):
    pub = tmp_path / "k.pub"
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", "ops@example", "-f",
                    str(tmp_path / "k")], check=True)
    with open_image(image("rhel7"), backend="loop") as g:
        customize(g, [SshKey(key_file=pub)])
        keys = g.read_text("/root/.ssh/authorized_keys").splitlines()
        assert keys[0].endswith("old@host") and keys[1] == pub.read_text().strip()
        assert g.stat("/root/.ssh/authorized_keys").perms == 0o600
        assert customize(g, [SshKey(key_file=pub)])["operations"][0]["result"] == "nothing to do"
        customize(g, [SshKey(key=pub.read_text().strip(), user="alice")])
        st = g.stat("/home/alice/.ssh/authorized_keys")
        assert (st.uid, st.gid, st.perms) == (1000, 1000, 0o600)
        assert g.stat("/home/alice/.ssh").perms == 0o700
        with pytest.raises(InputError, match="no user 'nobody-here'"):
            customize(g, [SshKey(key_file=pub, user="nobody-here")])
        bad = tmp_path / "bad.pub"
        bad.write_text("not a key\n")
        with pytest.raises(InputError, match="not an OpenSSH public key"):
            customize(g, [SshKey(key_file=bad)])


def test_upload_write_edit(image, tmp_path):
    src = tmp_path / "tool.sh"
    src.write_text("#!/bin/sh\necho hi\n")
    src.chmod(0o750)
    with open_image(image("rhel7"), backend="loop") as g:
        report = customize(g, ["upload=%s:/usr/bin/" % src, f"upload={src}:/etc/renamed.sh",
                               "write=/etc/motd:built by golden\n", "edit=/etc/ssh/../hosts:s/local(host)/LOCAL\\1/g"])
        assert g.read_text("/usr/bin/tool.sh") == src.read_text() and g.stat("/usr/bin/tool.sh").perms == 0o750
        assert g.is_file("/etc/renamed.sh")
        assert g.read_text("/etc/motd") == "built by golden\n" and g.stat("/etc/motd").perms == 0o644
        assert g.read_text("/etc/hosts").startswith("127.0.0.1   LOCALhost LOCALhost.localdomain\n")
        assert report["operations"][3]["changes"][0]["detail"].endswith("(2 substitutions)")
        assert customize(g, ["edit=/etc/hosts:s/nomatch/x/"])["operations"][0]["result"] == "nothing to do"
        with pytest.raises(InputError, match="no file /etc/missing"):
            customize(g, ["edit=/etc/missing:s/a/b/"])
        with pytest.raises(InputError, match="file not found"):
            customize(g, [Upload(tmp_path / "absent", "/etc/")])
        with pytest.raises(InputError, match="no directory /no/such"):
            customize(g, [Write("/no/such/file", "x")])


def test_firstboot_systemd_unit(image, tmp_path):
    script = tmp_path / "setup.sh"
    script.write_text("#!/bin/sh\necho configured\n")
    with open_image(image("rhel7"), backend="loop") as g:
        customize(g, [Firstboot(script), Firstboot(script)])
        assert g.ls("/var/lib/golden-firstboot/scripts") == ["01-setup.sh", "02-setup.sh"]
        assert g.stat("/var/lib/golden-firstboot/scripts/01-setup.sh").perms == 0o755
        unit = g.read_text("/etc/systemd/system/golden-firstboot.service")
        assert "ExecStart=/usr/local/sbin/golden-firstboot" in unit and "WantedBy=multi-user.target" in unit
        link = "/etc/systemd/system/multi-user.target.wants/golden-firstboot.service"
        assert g.readlink(link) == "/etc/systemd/system/golden-firstboot.service"
        assert g.stat("/usr/local/sbin/golden-firstboot").perms == 0o755
        assert "golden" not in g.read_text("/etc/rc.d/rc.local")


def test_firstboot_rc_local_on_rhel6(image, tmp_path):
    script = tmp_path / "setup.sh"
    script.write_text("echo no shebang\n")
    with open_image(image("rhel6"), backend="loop") as g:
        customize(g, [Firstboot(script)])
        rc = g.read_text("/etc/rc.d/rc.local")
        assert rc.endswith("# golden first-boot scripts\n[ -x /usr/local/sbin/golden-firstboot ] && "
                           "/usr/local/sbin/golden-firstboot\n")
        assert not g.exists("/etc/systemd/system/golden-firstboot.service")
        customize(g, [Firstboot(script)])
        assert g.read_text("/etc/rc.d/rc.local").count("golden-firstboot ]") == 1


def test_firstboot_runner_runs_each_script_once(tmp_path):
    """The runner itself, under the host's /bin/sh, with its paths moved into a scratch folder."""
    base = tmp_path / "fb"
    (base / "scripts").mkdir(parents=True)
    runner = RUNNER_SH.replace("/var/lib/golden-firstboot", str(base)).replace(
        "/root/golden-firstboot.log", str(tmp_path / "log"))
    (base / "scripts" / "01-a").write_text("#!/bin/sh\necho A >> %s/out\n" % tmp_path)
    (base / "scripts" / "02-b").write_text("echo B >> %s/out\nexit 3\n" % tmp_path)
    for _ in range(2):
        subprocess.run(["/bin/sh", "-c", runner], check=True)
    assert (tmp_path / "out").read_text() == "A\nB\n"
    assert sorted(p.name for p in (base / "done").iterdir()) == ["01-a", "02-b"]
    log = (tmp_path / "log").read_text()
    assert "=== 01-a: exit 0" in log and "=== 02-b: exit 3" in log


def test_timezone(image):
    with open_image(image("rhel7"), backend="loop") as g:
        customize(g, [Timezone("Europe/Paris")])
        assert g.readlink("/etc/localtime") == "../usr/share/zoneinfo/Europe/Paris"
        with pytest.raises(InputError, match="no /usr/share/zoneinfo/Mars/Olympus"):
            customize(g, [Timezone("Mars/Olympus")])
    with open_image(image("rhel6"), backend="loop") as g:
        customize(g, [Timezone("Europe/Paris")])
        assert not g.is_symlink("/etc/localtime")
        assert g.read("/etc/localtime") == Path("/usr/share/zoneinfo/Europe/Paris").read_bytes()
        assert g.read_text("/etc/sysconfig/clock") == 'ZONE="Europe/Paris"\n'


def test_selinux_relabel_explicit_automatic_and_off(image):
    with open_image(image("rhel7"), backend="loop") as g:
        customize(g, [SelinuxRelabel()])
        assert g.is_file("/.autorelabel")
    with open_image(image("rhel7", "-2"), backend="loop") as g:
        report = customize(g, [Write("/etc/new.conf", "x\n")])
        assert report["operations"][-1]["op"] == "selinux-relabel" and report["operations"][-1]["automatic"]
        assert g.is_file("/.autorelabel")
    with open_image(image("rhel7", "-3"), backend="loop") as g:
        customize(g, [Write("/etc/new.conf", "x\n"), SelinuxRelabel(enabled=False)])
        assert not g.exists("/.autorelabel")
        customize(g, [Hostname("x")])        # only rewrites existing files: labels kept, no relabel
        assert not g.exists("/.autorelabel")


def test_dry_run_and_read_only(image, tmp_path):
    with open_image(image("rhel7"), backend="loop") as g:
        before = gi.snapshot(g)
        report = customize(g, [Hostname("dry"), "timezone=UTC", "write=/etc/x:y"], dry_run=True)
        assert gi.snapshot(g) == before
        assert {op["result"] for op in report["operations"]} == {"would change"}
    with open_image(image("rhel7", "-ro"), backend="loop", readonly=True) as g:
        with pytest.raises(InputError, match="read-only"):
            customize(g, [Hostname("x")])
        assert customize(g, [Hostname("x")], dry_run=True)["operations"][0]["result"] == "would change"
