"""Every seal operation on a disk that holds what it resets (loop backend).

Each case checks the thing is gone or reset, that nothing outside the paths
the operation owns changed, that the report lists exactly what changed, and
that a second run has nothing to do.
"""

from __future__ import annotations

import pytest

import guestimages as gi
from builder.image import inspect_image, list_operations, open_image, seal

R7, R6, R9 = gi.RHEL7, gi.RHEL6, gi.RHEL9


def diff(before: dict, after: dict) -> set[str]:
    return {p for p in set(before) | set(after) if before.get(p) != after.get(p)}


def check_machine_id_rhel7(g):
    assert g.read("/etc/machine-id") == b"" and g.stat("/etc/machine-id").perms == 0o444
    assert g.is_symlink("/var/lib/dbus/machine-id")


def check_machine_id_rhel9(g):
    assert g.read("/etc/machine-id") == b"uninitialized\n" and g.stat("/etc/machine-id").perms == 0o444


def check_machine_id_rhel6(g):
    assert not g.lexists("/var/lib/dbus/machine-id") and not g.lexists("/etc/machine-id")
    assert g.is_dir("/var/lib/dbus")


def check_hostkeys(g):
    assert g.glob("/etc/ssh/ssh_host_*") == [] and g.is_dir("/etc/ssh")


def check_persistent_net(g):
    assert not g.exists("/etc/udev/rules.d/70-persistent-net.rules")
    assert g.exists("/etc/udev/rules.d/70-persistent-cd.rules")


def check_hwaddr_rhel7(g):
    text = g.read_text("/etc/sysconfig/network-scripts/ifcfg-eth0")
    assert "HWADDR" not in text and "UUID" not in text
    assert text == ('TYPE="Ethernet"\nBOOTPROTO="dhcp"\nNAME="eth0"\nDEVICE="eth0"\nONBOOT="yes"\n'
                    'DHCP_HOSTNAME="rhel7-golden"\n')


def check_hwaddr_rhel6(g):
    a = "/etc/sysconfig/network-scripts/ifcfg-eth0"
    b = "/etc/sysconfig/networking/devices/ifcfg-eth0"
    assert "HWADDR" not in g.read_text(a) and "UUID" not in g.read_text(a)
    assert g.read_text(a) == g.read_text(b) and g.stat(a).nlink == 2
    assert "IPADDR=192.168.122.20" in g.read_text(a)


def check_hostname_rhel7(g):
    assert "DHCP_HOSTNAME" not in g.read_text("/etc/sysconfig/network-scripts/ifcfg-eth0")
    assert g.read_text("/etc/sysconfig/network") == "NETWORKING=yes\nHOSTNAME=localhost.localdomain\n"


def check_hostname_rhel6(g):
    ifcfg = g.read_text("/etc/sysconfig/network-scripts/ifcfg-eth0")
    assert "HOSTNAME" not in ifcfg and "HWADDR" in ifcfg
    assert g.read_text("/etc/sysconfig/network") == ("NETWORKING=yes\nHOSTNAME=localhost.localdomain\n"
                                                     "GATEWAY=192.168.122.1\n")


def check_nmconn(g):
    text = g.read_text("/etc/NetworkManager/system-connections/eth0.nmconnection")
    assert "uuid=" not in text and "mac-address=52" not in text
    assert "cloned-mac-address=stable" in text and "interface-name=eth0" in text
    assert g.stat("/etc/NetworkManager/system-connections/eth0.nmconnection").perms == 0o600
    assert not g.exists("/var/lib/NetworkManager/secret_key")


def check_dhcp(g):
    assert g.glob("/var/lib/NetworkManager/*.lease") == [] and g.glob("/var/lib/dhclient/*") == []
    if g.is_dir("/var/lib/NetworkManager"):
        assert g.exists("/var/lib/NetworkManager/NetworkManager.state")


def check_logfiles(g):
    assert g.stat("/var/log/messages").size == 0 and g.stat("/var/log/messages").perms == 0o600
    assert g.stat("/var/log/audit/audit.log").size == 0 and g.stat("/var/log/audit").perms == 0o700
    for gone in ("/var/log/messages-20240107", "/var/log/secure.1.gz", "/root/anaconda-ks.cfg",
                 "/root/install.log", "/var/log/anaconda/anaconda.log"):
        assert not g.lexists(gone), gone
    assert g.is_dir("/var/log/journal") and g.ls("/var/log/journal") == []
    assert g.is_dir("/var/log/anaconda")
    assert g.stat("/var/log/wtmp").size == 384            # the utmp operation owns it


def check_history(g):
    assert not g.exists("/root/.bash_history") and not g.exists("/home/alice/.bash_history")
    assert g.exists("/home/alice/.bashrc")


def check_tmp(g):
    assert g.ls("/tmp") == [] and g.ls("/var/tmp") == []
    assert g.stat("/tmp").perms == 0o1777 and g.stat("/var/tmp").perms == 0o1777


def check_rhn(g):
    assert not g.exists("/etc/sysconfig/rhn/systemid") and g.exists("/etc/sysconfig/rhn/up2date")


def check_rhsm(g):
    assert g.ls("/etc/pki/consumer") == [] and g.ls("/etc/pki/entitlement") == []
    assert g.ls("/var/lib/rhsm/facts") == [] and not g.exists("/etc/yum.repos.d/redhat.repo")
    assert g.exists("/etc/pki/product/69.pem")


def check_yum_uuid(g):
    assert not g.exists("/var/lib/yum/uuid")
    assert g.glob("/var/lib/dnf/repos/*/countme") == []
    if g.is_dir("/var/lib/dnf"):
        assert g.exists("/var/lib/dnf/history.sqlite")


def check_random_seed(g):
    assert not g.exists("/var/lib/random-seed") and not g.exists("/var/lib/systemd/random-seed")


def check_pm_cache(g):
    assert g.ls("/var/cache/yum") == []
    if g.is_dir("/var/cache/dnf"):
        assert g.ls("/var/cache/dnf") == []


def check_rpmdb(g):
    assert g.glob("/var/lib/rpm/__db.*") == [] and g.exists("/var/lib/rpm/Packages")


def check_crash(g):
    assert g.ls("/var/crash") == []


def check_mail(g):
    st = g.stat("/var/spool/mail/alice")
    assert (st.size, st.perms, st.uid, st.gid) == (0, 0o660, 1000, 12)


def check_utmp(g):
    assert not g.lexists("/var/run/utmp")
    st = g.stat("/var/log/wtmp")
    assert (st.size, st.perms, st.gid) == (0, 0o664, 22)
    assert g.stat("/var/log/btmp").size == 0 and g.stat("/var/log/btmp").perms == 0o600


def check_passwd_backups(g):
    assert g.glob("/etc/*-") == [] and g.exists("/etc/passwd") and g.exists("/etc/shadow")


def check_lvm_devices(g):
    assert not g.exists("/etc/lvm/devices/system.devices") and g.is_dir("/etc/lvm/devices")


def check_blkid(g):
    assert g.ls("/etc/blkid") == []


def check_smolt(g):
    assert not g.exists("/etc/sysconfig/hw-uuid")


def check_abrt(g):
    assert g.ls("/var/spool/abrt") == []


def check_ssh_userdir(g):
    assert not g.exists("/root/.ssh") and not g.exists("/home/alice/.ssh")


def check_user_account(g):
    assert "alice" not in g.read_text("/etc/passwd") and "alice" not in g.read_text("/etc/shadow")
    assert "alice" not in g.read_text("/etc/group") and "alice" not in g.read_text("/etc/gshadow")
    assert "wheel:x:10:\n" in g.read_text("/etc/group")
    assert "nfsnobody" in g.read_text("/etc/passwd") and g.read_text("/etc/passwd").startswith("root:")
    assert not g.exists("/home/alice") and not g.exists("/var/spool/mail/alice")
    assert g.stat("/etc/shadow").perms == 0


def check_firewall(g):
    assert not g.exists("/etc/sysconfig/iptables")


# (operation, image, owned paths: prefixes a change may touch, check)
CASES = [
    ("machine-id", "rhel7", ["/etc/machine-id"], check_machine_id_rhel7),
    ("machine-id", "rhel9", ["/etc/machine-id"], check_machine_id_rhel9),
    ("machine-id", "rhel6", ["/var/lib/dbus/machine-id"], check_machine_id_rhel6),
    ("ssh-hostkeys", "rhel7", ["/etc/ssh/ssh_host_"], check_hostkeys),
    ("udev-persistent-net", "rhel6", ["/etc/udev/rules.d/70-persistent-net.rules"], check_persistent_net),
    ("net-hwaddr", "rhel7", ["/etc/sysconfig/network-scripts/ifcfg-eth0"], check_hwaddr_rhel7),
    ("net-hwaddr", "rhel6", ["/etc/sysconfig/network-scripts/ifcfg-eth0",
                             "/etc/sysconfig/networking/devices/ifcfg-eth0"], check_hwaddr_rhel6),
    ("net-hostname", "rhel7", ["/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/sysconfig/network"],
     check_hostname_rhel7),
    ("net-hostname", "rhel6", ["/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/sysconfig/network",
                               "/etc/sysconfig/networking/devices/ifcfg-eth0"], check_hostname_rhel6),
    ("net-nmconn", "rhel9", ["/etc/NetworkManager/system-connections/eth0.nmconnection",
                             "/var/lib/NetworkManager/secret_key"], check_nmconn),
    ("dhcp-client-state", "rhel7", ["/var/lib/NetworkManager/dhclient-"], check_dhcp),
    ("dhcp-client-state", "rhel6", ["/var/lib/dhclient/"], check_dhcp),
    ("dhcp-client-state", "rhel9", ["/var/lib/NetworkManager/internal-"], check_dhcp),
    ("logfiles", "rhel7", ["/var/log/", "/root/anaconda-ks.cfg", "/root/install.log"], check_logfiles),
    ("bash-history", "rhel7", ["/root/.bash_history", "/home/alice/.bash_history"], check_history),
    ("tmp-files", "rhel7", ["/tmp/", "/var/tmp/"], check_tmp),
    ("rhn-systemid", "rhel6", ["/etc/sysconfig/rhn/systemid"], check_rhn),
    ("rh-subscription-manager", "rhel7", ["/etc/pki/consumer/", "/etc/pki/entitlement/", "/var/lib/rhsm/facts/",
                                          "/etc/yum.repos.d/redhat.repo"], check_rhsm),
    ("yum-uuid", "rhel7", ["/var/lib/yum/uuid"], check_yum_uuid),
    ("yum-uuid", "rhel9", ["/var/lib/yum/uuid", "/var/lib/dnf/repos/"], check_yum_uuid),
    ("random-seed", "rhel7", ["/var/lib/random-seed", "/var/lib/systemd/random-seed"], check_random_seed),
    ("package-manager-cache", "rhel7", ["/var/cache/yum/"], check_pm_cache),
    ("package-manager-cache", "rhel9", ["/var/cache/yum/", "/var/cache/dnf/"], check_pm_cache),
    ("rpm-db", "rhel6", ["/var/lib/rpm/__db."], check_rpmdb),
    ("crash-data", "rhel7", ["/var/crash/"], check_crash),
    ("mail-spool", "rhel7", ["/var/spool/mail/alice"], check_mail),
    ("utmp", "rhel6", ["/var/run/utmp", "/var/log/wtmp", "/var/log/btmp"], check_utmp),
    ("passwd-backups", "rhel7", ["/etc/passwd-", "/etc/shadow-", "/etc/group-", "/etc/gshadow-"],
     check_passwd_backups),
    ("lvm-system-devices", "rhel9", ["/etc/lvm/devices/system.devices"], check_lvm_devices),
    ("blkid-tab", "rhel6", ["/etc/blkid/blkid.tab"], check_blkid),
    ("smolt-uuid", "rhel6", ["/etc/sysconfig/hw-uuid"], check_smolt),
    ("abrt-data", "rhel7", ["/var/spool/abrt/"], check_abrt),
    ("ssh-userdir", "rhel7", ["/root/.ssh", "/home/alice/.ssh"], check_ssh_userdir),
    ("user-account", "rhel7", ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/home/alice",
                               "/var/spool/mail/alice"], check_user_account),
    ("firewall-rules", "rhel7", ["/etc/sysconfig/iptables"], check_firewall),
]


def test_every_operation_has_a_case():
    # fs-uuids has its own tests here; lvm-uuids in test_image_lvm_uuids.py (it changes no file);
    # the compaction operations in tests/system/test_seal_compaction.py.
    assert {name for name, *_ in CASES} | {"fs-uuids", "lvm-uuids", "swap-reset", "free-space"} == \
        {o["name"] for o in list_operations()}


@pytest.mark.parametrize("name,img,owned,check", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_operation(image, name, img, owned, check):
    with open_image(image(img), backend="loop") as g:
        before = gi.snapshot(g)
        dry = seal(g, only=[name], dry_run=True)
        assert gi.snapshot(g) == before, "a dry run changed the image"
        report = seal(g, only=[name])
        after = gi.snapshot(g)
        op = report["operations"][0]
        assert op["name"] == name and op["result"] == "changed"
        assert dry["operations"][0]["changes"] == op["changes"]
        changed = diff(before, after)
        assert changed, "nothing changed"
        stray = {p for p in changed if not any(p == o or p.startswith(o) for o in owned)}
        assert not stray, f"{name} changed paths it does not own: {sorted(stray)}"
        reported = {c["path"] for c in op["changes"]}
        for p in changed:
            assert p in reported or any(p.startswith(r.rstrip("/") + "/") for r in reported), \
                f"{p} changed but the report does not say so"
        check(g)
        assert seal(g, only=[name])["operations"][0]["result"] == "nothing to do"
    # ...and the sealed image still opens and mounts the same way.
    with open_image(g.image, backend="loop", readonly=True) as g2:
        assert [m.mountpoint for m in g2.mountpoints()] == [m.mountpoint for m in g.mountpoints()]
        check(g2)


def test_fs_uuids(image):
    with open_image(image("rhel7"), backend="loop") as g:
        old = {f.device: f.uuid for f in g.filesystems()}
        report = seal(g, only=["fs-uuids"])
        new = {f.device: f.uuid for f in g.filesystems()}
        assert set(new) == set(old) and all(new[d] != old[d] for d in old)
        fstab = g.read_text("/etc/fstab")
        assert f"UUID={new['/dev/sda5']} /" in fstab and f"UUID={new['/dev/sda6']} swap" in fstab
        assert "LABEL=boot" in fstab and old["/dev/sda5"] not in fstab
        assert f"root=UUID={new['/dev/sda5']}" in g.read_text("/boot/grub2/grub.cfg")
        edited = {c["path"] for c in report["operations"][0]["changes"] if c["action"] == "edited"}
        assert edited == {"/etc/fstab", "/boot/grub2/grub.cfg"}
        assert g.is_file("/home/alice/.bashrc")      # remounted after the change
    with open_image(g.image, backend="loop", readonly=True) as g2:
        assert {f.device: f.uuid for f in g2.filesystems()} == new
        assert [m.device for m in g2.mountpoints()] == ["/dev/sda5", "/dev/sda1", "/dev/sda7"]


@pytest.mark.parametrize("hint,state", [("golden-demo", "uninitialized"), ("rhel9.4", "uninitialized"),
                                        ("rhel6.10", "missing"), ("rhel7.9", "empty")])
def test_machine_id_follows_the_os_hint(image, hint, state):
    with open_image(image("rhel7"), backend="loop") as g:
        report = seal(g, only=["machine-id"], os_hint=hint)
        assert inspect_image(g)["identity"]["machine_id"]["state"] == state
        assert report["operations"][0]["notes"]


@pytest.mark.parametrize("img", ["rhel7", "rhel6", "rhel9"])
def test_default_seal_leaves_no_findings(image, img):
    with open_image(image(img), backend="loop") as g:
        assert inspect_image(g)["findings"]
        seal(g)
        report = inspect_image(g)
        assert report["findings"] == []
        assert report["hostname"] in ("localhost.localdomain", gi.RHEL7["hostname"], gi.RHEL9["hostname"])
        second = seal(g)
        # lvm-uuids draws new UUIDs on every run (rhel6 is on LVM): nothing tells a fresh one from a cloned one.
        assert {op["result"] for op in second["operations"] if op["name"] != "lvm-uuids"} == {"nothing to do"}
        assert [op["result"] for op in second["operations"] if op["name"] == "lvm-uuids"] == \
            ["changed" if img == "rhel6" else "nothing to do"]
