"""Small raw disks that look like installed RHEL guests, built for real (as root).

Each disk is partitioned with sfdisk, its file systems made with mkfs on
`losetup --offset` devices and filled by mounting them, exactly the way an
administrator without kpartx would. LVM is created with `--driverloaded n`
(no device-mapper here) and the LV offsets are read back from LVM's own
report, so the fixture does not depend on the code under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024
HOST_ELF = "/bin/true"          # any real x86-64 ELF will do for arch detection
ZONES = ("UTC", "America/New_York", "Europe/Paris")

# Fixed identities, so tests can name them.
RHEL7 = {
    "root_uuid": "7e1d0c2a-0000-4000-8000-000000000705",
    "boot_uuid": "7e1d0c2a-0000-4000-8000-000000000701",
    "home_uuid": "7e1d0c2a-0000-4000-8000-000000000707",
    "swap_uuid": "7e1d0c2a-0000-4000-8000-000000000706",
    "machine_id": "0123456789abcdef0123456789abcdef",
    "hostname": "rhel7-golden.example.com",
    "mac": "52:54:00:12:34:56",
    "ifcfg_uuid": "5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03",
    "kernel": "3.10.0-1160.el7.x86_64",
}
RHEL6 = {
    "boot_uuid": "6e1d0c2a-0000-4000-8000-000000000601",
    "root_uuid": "6e1d0c2a-0000-4000-8000-000000000600",
    "swap_uuid": "6e1d0c2a-0000-4000-8000-0000000006ff",
    "dbus_id": "fedcba9876543210fedcba9876543210",
    "hostname": "rhel6-golden.example.com",
    "mac": "52:54:00:65:43:21",
    "mac2": "52:54:00:65:43:22",
    "ifcfg_uuid": "aaaabbbb-cccc-dddd-eeee-ffff00001111",
    "kernel": "2.6.32-754.el6.x86_64",
}
RHEL9 = {
    "boot_uuid": "9e1d0c2a-0000-4000-8000-000000000902",
    "root_uuid": "9e1d0c2a-0000-4000-8000-000000000903",
    "efi_uuid": "9E1D-0C2A",
    "machine_id": "99999999aaaabbbbccccddddeeeeffff",
    "hostname": "rhel9-golden",
    "mac": "52:54:00:99:00:01",
    "nm_uuid": "1c9d2a65-5a0c-4c83-a12e-9d2f6b1f0c01",
    "kernel": "5.14.0-427.13.1.el9_4.x86_64",
}
BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
LINUX_FS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"


def sh(*cmd, input=None):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, input=input)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr.strip()}")
    return r.stdout


@dataclass
class Tree:
    """Files to put in a guest, by guest path."""

    files: dict = field(default_factory=dict)

    def file(self, path, content, mode=0o644, uid=0, gid=0):
        data = content.encode() if isinstance(content, str) else content
        self.files[path] = ("file", data, mode, uid, gid)

    def dir(self, path, mode=0o755, uid=0, gid=0):
        self.files[path] = ("dir", None, mode, uid, gid)

    def link(self, path, target):
        self.files[path] = ("link", target, 0o777, 0, 0)

    def hardlink(self, path, other):
        self.files[path] = ("hardlink", other, 0, 0, 0)

    def write_into(self, stages: dict[str, Path]):
        """Write each path into the staging dir of the file system that holds it."""
        def stage_of(path):
            best = max((m for m in stages if m == "/" or path == m or path.startswith(m + "/")), key=len)
            rel = path[len(best):].lstrip("/") if best != "/" else path.lstrip("/")
            return stages[best] / rel
        for mountpoint in stages:
            if mountpoint != "/":
                parent = max((m for m in stages if m != mountpoint and (m == "/" or mountpoint.startswith(m + "/"))),
                             key=len)
                (stages[parent] / mountpoint[len(parent):].lstrip("/")).mkdir(parents=True, exist_ok=True)
        for path in sorted(self.files, key=lambda p: (self.files[p][0] == "hardlink", p)):
            kind, data, mode, uid, gid = self.files[path]
            dest = stage_of(path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if kind == "dir":
                dest.mkdir(exist_ok=True)
            elif kind == "file":
                dest.write_bytes(data)
            elif kind == "link":
                os.symlink(data, dest)
                continue
            elif kind == "hardlink":
                os.link(stage_of(data), dest)
                continue
            os.chown(dest, uid, gid)
            os.chmod(dest, mode)


def ssh_keys(tree: Tree, types=("rsa", "ecdsa", "ed25519")):
    with tempfile.TemporaryDirectory() as d:
        for t in types:
            key = Path(d) / f"ssh_host_{t}_key"
            extra = ["-b", "1024"] if t == "rsa" else []
            sh("ssh-keygen", "-q", "-N", "", "-t", t, *extra, "-C", "", "-f", key)
            tree.file(f"/etc/ssh/ssh_host_{t}_key", key.read_bytes(), 0o600)
            tree.file(f"/etc/ssh/ssh_host_{t}_key.pub", (Path(d) / f"ssh_host_{t}_key.pub").read_bytes())


def common_tree(t: Tree, *, uid_min: int, user: str, usrmerge: bool):
    if usrmerge:
        for d in ("bin", "sbin", "lib", "lib64"):
            t.link(f"/{d}", f"usr/{d}")
        bindir = "/usr/bin"
    else:
        bindir = "/bin"
    for d in ("/etc", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/root", "/var/log", "/var/lib",
              "/var/spool/mail", "/var/cache", "/home", "/boot", "/proc", "/sys", "/dev", "/run"):
        t.dir(d)
    t.dir("/tmp", 0o1777)
    t.dir("/var/tmp", 0o1777)
    t.dir("/root", 0o550)
    t.file(f"{bindir}/bash", Path(HOST_ELF).read_bytes(), 0o755)
    t.link(f"{bindir}/sh", "bash")
    for z in ZONES:
        t.file(f"/usr/share/zoneinfo/{z}", Path(f"/usr/share/zoneinfo/{z}").read_bytes())
    t.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nbin:x:1:1:bin:/bin:/sbin/nologin\n"
                          f"{user}:x:{uid_min}:{uid_min}::/home/{user}:/bin/bash\n"
                          "nfsnobody:x:65534:65534:Anonymous NFS User:/var/lib/nfs:/sbin/nologin\n")
    t.file("/etc/shadow", f"root:$6$old$oldhash:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n"
                          f"{user}:!!:19000:0:99999:7:::\nnfsnobody:!!:19000::::::\n", 0o000)
    t.file("/etc/group", f"root:x:0:\nbin:x:1:\nwheel:x:10:{user}\nmail:x:12:\n{user}:x:{uid_min}:\n"
                         "nfsnobody:x:65534:\n")
    t.file("/etc/gshadow", f"root:::\nwheel:::{user}\n{user}:!::\n", 0o000)
    for f in ("passwd-", "shadow-", "group-", "gshadow-"):
        t.file(f"/etc/{f}", "old copy\n", 0o600)
    t.file("/etc/login.defs", f"PASS_MAX_DAYS\t99999\nUID_MIN\t\t{uid_min}\nGID_MIN\t\t{uid_min}\n")
    t.file("/etc/hosts", "127.0.0.1   localhost localhost.localdomain\n")
    t.file("/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    t.file("/root/.bash_history", "ls\ncat /etc/shadow\n", 0o600)
    t.file("/root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld old@host\n", 0o600)
    t.dir("/root/.ssh", 0o700)
    t.dir(f"/home/{user}", 0o700, uid_min, uid_min)
    t.file(f"/home/{user}/.bash_history", "make\n", 0o600, uid_min, uid_min)
    t.file(f"/home/{user}/.bashrc", "# .bashrc\n", 0o644, uid_min, uid_min)
    t.dir(f"/home/{user}/.ssh", 0o700, uid_min, uid_min)
    t.file(f"/home/{user}/.ssh/id_rsa.pub", "ssh-rsa AAAA user\n", 0o644, uid_min, uid_min)
    t.file(f"/var/spool/mail/{user}", "From root\nSubject: hi\n\nhello\n", 0o660, uid_min, 12)
    t.link("/var/mail", "spool/mail")
    t.file("/tmp/junk.txt", "junk\n")
    t.dir("/tmp/.X11-unix", 0o1777)
    t.file("/var/tmp/leftover", "x\n")
    t.file("/var/tmp/systemd-private-abc/tmp/file", "y\n")
    t.file("/var/lib/yum/uuid", "3f2504e0-4f89-11d3-9a0c-0305e82c3301\n")
    t.file("/var/lib/rpm/Packages", b"\0" * 4096)
    t.file("/var/lib/rpm/__db.001", b"\0" * 1024)
    t.file("/var/lib/rpm/__db.002", b"\0" * 1024)
    t.file("/var/crash/127.0.0.1-2024-01-01-10:00:00/vmcore", "core\n")
    t.file("/var/cache/yum/x86_64/Server/base/packages/foo.rpm", "rpm\n")
    t.file("/etc/sysconfig/rhn/systemid", "<?xml version='1.0'?><params>ID-1000010000</params>\n", 0o600)
    t.file("/etc/sysconfig/rhn/up2date", "serverURL=https://xmlrpc.rhn.redhat.com/XMLRPC\n")
    t.file("/etc/pki/consumer/cert.pem", "CONSUMER CERT\n")
    t.file("/etc/pki/consumer/key.pem", "CONSUMER KEY\n", 0o600)
    t.file("/etc/pki/entitlement/1234.pem", "ENTITLEMENT\n")
    t.file("/etc/pki/product/69.pem", "PRODUCT CERT (shipped, must stay)\n")
    t.file("/var/lib/rhsm/facts/facts.json", "{}\n")
    t.file("/etc/yum.repos.d/redhat.repo", "[rhel]\n")
    t.file("/etc/sysconfig/iptables", "*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n", 0o600)
    t.file("/var/log/messages", "Jan  1 host kernel: boot\n", 0o600)
    t.file("/var/log/messages-20240107", "old\n", 0o600)
    t.file("/var/log/secure", "sshd accepted\n", 0o600)
    t.file("/var/log/secure.1.gz", b"\x1f\x8b old", 0o600)
    t.file("/var/log/cron", "cron ran\n", 0o600)
    t.file("/var/log/yum.log", "Installed: foo\n", 0o600)
    t.file("/var/log/audit/audit.log", "type=DAEMON_START\n", 0o600)
    t.dir("/var/log/audit", 0o700)
    t.file("/var/log/lastlog", b"\0" * 292, 0o644)
    t.file("/var/log/wtmp", b"\1" * 384, 0o664, 0, 22)
    t.file("/var/log/btmp", b"\2" * 384, 0o600, 0, 22)
    t.file("/var/log/anaconda/anaconda.log", "install log\n", 0o600)
    t.file("/root/anaconda-ks.cfg", "rootpw --iscrypted $6$secret\n", 0o600)
    t.file("/root/install.log", "Installing foo\n")
    t.file("/var/spool/abrt/ccpp-2024-01-01-10:00:00-1234/coredump", "core\n")
    t.file("/var/lib/random-seed", b"\x42" * 512, 0o600)


def rhel7_tree() -> Tree:
    v = RHEL7
    t = Tree()
    common_tree(t, uid_min=1000, user="alice", usrmerge=True)
    t.file("/etc/os-release", 'NAME="Red Hat Enterprise Linux Server"\nVERSION="7.9 (Maipo)"\nID="rhel"\n'
                              'ID_LIKE="fedora"\nVERSION_ID="7.9"\n'
                              'PRETTY_NAME="Red Hat Enterprise Linux Server 7.9 (Maipo)"\n')
    t.file("/etc/redhat-release", "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n")
    t.link("/etc/system-release", "redhat-release")
    t.file("/etc/fstab", "#\n# /etc/fstab\n#\n"
                         f"UUID={v['root_uuid']} /                       ext4    defaults        1 1\n"
                         "LABEL=boot              /boot                   ext4    defaults        1 2\n"
                         "/dev/vda7               /home                   ext4    defaults        1 2\n"
                         f"UUID={v['swap_uuid']} swap                    swap    defaults        0 0\n"
                         "tmpfs                   /dev/shm                tmpfs   defaults        0 0\n")
    t.file("/etc/hostname", v["hostname"] + "\n")
    t.file("/etc/hosts", "127.0.0.1   localhost localhost.localdomain\n"
                         "192.168.122.10   rhel7-golden.example.com rhel7-golden\n")
    t.file("/etc/sysconfig/network", f"NETWORKING=yes\nHOSTNAME={v['hostname']}\n")
    t.file("/etc/sysconfig/network-scripts/ifcfg-eth0",
           'TYPE="Ethernet"\nBOOTPROTO="dhcp"\nNAME="eth0"\n'
           f'UUID="{v["ifcfg_uuid"]}"\nDEVICE="eth0"\nONBOOT="yes"\nHWADDR="{v["mac"].upper()}"\n'
           'DHCP_HOSTNAME="rhel7-golden"\n')
    t.file("/etc/sysconfig/network-scripts/ifcfg-lo", "DEVICE=lo\nIPADDR=127.0.0.1\nONBOOT=yes\nNAME=loopback\n")
    t.file("/etc/machine-id", v["machine_id"] + "\n", 0o444)
    t.dir("/var/lib/dbus")
    t.link("/var/lib/dbus/machine-id", "/etc/machine-id")
    ssh_keys(t)
    t.file("/var/lib/NetworkManager/dhclient-5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03-eth0.lease",
           "lease { fixed-address 192.168.122.10; }\n")
    t.file("/var/lib/NetworkManager/NetworkManager.state", "[main]\nNetworkingEnabled=true\n")
    t.file("/var/lib/systemd/random-seed", b"\x17" * 512, 0o600)
    t.file(f"/var/log/journal/{v['machine_id']}/system.journal", b"LPKSHHRH" + b"\0" * 100, 0o640)
    t.link("/var/run", "../run")
    t.dir("/usr/lib/systemd/system")
    t.file("/usr/lib/systemd/systemd", Path(HOST_ELF).read_bytes(), 0o755)
    t.link("/usr/sbin/init", "../lib/systemd/systemd")
    t.dir("/etc/systemd/system/multi-user.target.wants")
    t.file("/etc/rc.d/rc.local", "#!/bin/bash\ntouch /var/lock/subsys/local\n", 0o644)
    t.link("/etc/rc.local", "rc.d/rc.local")
    t.link("/etc/localtime", "../usr/share/zoneinfo/America/New_York")
    k = v["kernel"]
    t.file(f"/boot/vmlinuz-{k}", b"MZ fake kernel " + k.encode(), 0o755)
    t.file(f"/boot/initramfs-{k}.img", b"fake initramfs", 0o600)
    t.file("/boot/vmlinuz-0-rescue-0123456789abcdef0123456789abcdef", b"MZ rescue", 0o755)
    t.file("/boot/grub2/grub.cfg", f"""
set default="${{saved_entry}}"
### BEGIN /etc/grub.d/10_linux ###
menuentry 'Red Hat Enterprise Linux Server ({k}) 7.9 (Maipo)' --class red --class gnu-linux --class gnu --class os --unrestricted $menuentry_id_option 'gnulinux-{k}-advanced-{v['root_uuid']}' {{
	load_video
	set root='hd0,msdos1'
	linux16 /vmlinuz-{k} root=UUID={v['root_uuid']} ro crashkernel=auto console=ttyS0,115200 LANG=en_US.UTF-8
	initrd16 /initramfs-{k}.img
}}
menuentry 'Red Hat Enterprise Linux Server (0-rescue-0123456789abcdef0123456789abcdef) 7.9 (Maipo)' --class red {{
	linux16 /vmlinuz-0-rescue-0123456789abcdef0123456789abcdef root=UUID={v['root_uuid']} ro
	initrd16 /initramfs-0-rescue-0123456789abcdef0123456789abcdef.img
}}
""")
    t.file("/boot/grub2/grubenv", f"# GRUB Environment Block\nsaved_entry=Red Hat Enterprise Linux Server ({k}) 7.9 (Maipo)\n"
           + "#" * 900 + "\n")
    t.file("/etc/default/grub", 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="crashkernel=auto console=ttyS0,115200"\n')
    return t


def rhel6_tree() -> Tree:
    v = RHEL6
    t = Tree()
    common_tree(t, uid_min=500, user="bob", usrmerge=False)
    for d in ("/sbin", "/lib", "/lib64"):
        t.dir(d)
    t.file("/etc/redhat-release", "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n")
    t.link("/etc/system-release", "redhat-release")
    t.file("/etc/fstab", "/dev/mapper/VolGroup00-LogVol00 /    ext4    defaults        1 1\n"
                         f"UUID={v['boot_uuid']} /boot ext4 defaults        1 2\n"
                         "/dev/mapper/VolGroup00-LogVol01 swap swap    defaults        0 0\n"
                         "tmpfs                   /dev/shm                tmpfs   defaults        0 0\n"
                         "devpts                  /dev/pts                devpts  gid=5,mode=620  0 0\n"
                         "proc                    /proc                   proc    defaults        0 0\n")
    t.file("/etc/sysconfig/network", f"NETWORKING=yes\nHOSTNAME={v['hostname']}\nGATEWAY=192.168.122.1\n")
    t.file("/etc/hosts", "127.0.0.1   localhost localhost.localdomain\n"
                         "::1         localhost6\n"
                         f"192.168.122.20   {v['hostname']} rhel6-golden\n")
    t.file("/etc/sysconfig/network-scripts/ifcfg-eth0",
           f"DEVICE=eth0\nHWADDR={v['mac'].upper()}\nTYPE=Ethernet\nUUID={v['ifcfg_uuid']}\nONBOOT=yes\n"
           "NM_CONTROLLED=no\nBOOTPROTO=static\nIPADDR=192.168.122.20\nNETMASK=255.255.255.0\n"
           "HOSTNAME=rhel6-golden\nDHCP_HOSTNAME=rhel6-golden\n")
    t.hardlink("/etc/sysconfig/networking/devices/ifcfg-eth0", "/etc/sysconfig/network-scripts/ifcfg-eth0")
    t.file("/etc/sysconfig/network-scripts/ifcfg-lo", "DEVICE=lo\nIPADDR=127.0.0.1\nONBOOT=yes\n")
    t.file("/etc/udev/rules.d/70-persistent-net.rules",
           "# This file was automatically generated by the /lib/udev/write_net_rules\n\n"
           f'SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{{address}}=="{v["mac"]}", '
           'ATTR{type}=="1", KERNEL=="eth*", NAME="eth0"\n\n'
           f'SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{{address}}=="{v["mac2"]}", '
           'ATTR{type}=="1", KERNEL=="eth*", NAME="eth1"\n')
    t.file("/etc/udev/rules.d/70-persistent-cd.rules", "# cd rules stay\n")
    t.file("/var/lib/dbus/machine-id", v["dbus_id"] + "\n")
    ssh_keys(t, ("rsa", "dsa"))
    t.file("/var/lib/dhclient/dhclient-eth0.leases", "lease { fixed-address 192.168.122.20; }\n")
    t.file("/var/run/utmp", b"\3" * 384, 0o664, 0, 22)
    t.file("/etc/blkid/blkid.tab", '<device DEVNO="0x0801">/dev/sda1</device>\n')
    t.file("/etc/blkid/blkid.tab.old", "old\n")
    t.file("/etc/sysconfig/hw-uuid", "11111111-2222-3333-4444-555555555555\n")
    t.file("/sbin/init", Path(HOST_ELF).read_bytes(), 0o755)
    t.file("/etc/init/rcS.conf", "start on startup\n")
    t.file("/etc/inittab", "id:3:initdefault:\n")
    t.file("/etc/rc.d/rc.local", "#!/bin/sh\ntouch /var/lock/subsys/local\n", 0o755)
    t.link("/etc/rc.local", "rc.d/rc.local")
    t.file("/etc/sysconfig/clock", 'ZONE="America/New_York"\n')
    t.file("/etc/localtime", Path("/usr/share/zoneinfo/America/New_York").read_bytes())
    k = v["kernel"]
    t.file(f"/boot/vmlinuz-{k}", b"fake kernel", 0o755)
    t.file(f"/boot/initramfs-{k}.img", b"fake initramfs", 0o600)
    t.file("/boot/grub/grub.conf", f"""# grub.conf generated by anaconda
default=0
timeout=5
splashimage=(hd0,0)/grub/splash.xpm.gz
hiddenmenu
title Red Hat Enterprise Linux Server ({k})
	root (hd0,0)
	kernel /vmlinuz-{k} ro root=/dev/mapper/VolGroup00-LogVol00 rd_LVM_LV=VolGroup00/LogVol00 rd_NO_LUKS console=ttyS0
	initrd /initramfs-{k}.img
""", 0o600)
    t.link("/boot/grub/menu.lst", "./grub.conf")
    t.link("/etc/grub.conf", "../boot/grub/grub.conf")
    t.dir("/var/run")
    return t


def rhel9_tree(efi: bool = False) -> Tree:
    v = RHEL9
    t = Tree()
    common_tree(t, uid_min=1000, user="carol", usrmerge=True)
    t.file("/etc/os-release", 'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\n'
                              'ID_LIKE="fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\n'
                              'PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n')
    t.file("/etc/redhat-release", "Red Hat Enterprise Linux release 9.4 (Plow)\n")
    fstab = (f"UUID={v['root_uuid']} /                       ext4    defaults        0 0\n"
             f"UUID={v['boot_uuid']} /boot                   ext4    defaults        1 2\n")
    if efi:
        fstab += f"UUID={v['efi_uuid']} /boot/efi vfat umask=0077,shortname=winnt 0 2\n"
        t.dir("/boot/efi", 0o700)
    t.file("/etc/fstab", fstab)
    t.file("/etc/hostname", v["hostname"] + "\n")
    t.file("/etc/machine-id", v["machine_id"] + "\n", 0o444)
    ssh_keys(t, ("ecdsa", "ed25519"))
    t.file("/etc/NetworkManager/system-connections/eth0.nmconnection",
           f"[connection]\nid=eth0\nuuid={v['nm_uuid']}\ntype=ethernet\ninterface-name=eth0\n\n"
           f"[ethernet]\nmac-address={v['mac'].upper()}\ncloned-mac-address=stable\n\n"
           "[ipv4]\nmethod=auto\n\n[ipv6]\naddr-gen-mode=eui64\nmethod=auto\n", 0o600)
    t.file("/var/lib/NetworkManager/internal-1c9d2a65-5a0c-4c83-a12e-9d2f6b1f0c01-eth0.lease",
           "ADDRESS=192.168.122.30\n")
    t.file("/var/lib/NetworkManager/secret_key", b"\x11" * 32, 0o600)
    t.file("/var/lib/NetworkManager/NetworkManager.state", "[main]\nNetworkingEnabled=true\n")
    t.file("/etc/lvm/devices/system.devices", "VERSION=1.1.2\nIDTYPE=sys_wwid IDNAME=naa.1 DEVNAME=/dev/sda2\n")
    t.file("/var/lib/dnf/repos/rhel-9-baseos-rpms-0123456789abcdef/countme", "5\n")
    t.file("/var/lib/dnf/history.sqlite", b"SQLite format 3\0")
    t.file("/var/cache/dnf/rhel-9-baseos-rpms-0123456789abcdef/packages/x.rpm", "rpm\n")
    t.file("/var/lib/systemd/random-seed", b"\x19" * 512, 0o600)
    t.file("/usr/lib64/systemd/libsystemd-shared-252.so", Path(HOST_ELF).read_bytes(), 0o755)
    t.file("/usr/lib/systemd/systemd", Path(HOST_ELF).read_bytes(), 0o755)
    t.link("/usr/sbin/init", "../lib/systemd/systemd")
    t.dir("/etc/systemd/system/multi-user.target.wants")
    t.link("/etc/localtime", "../usr/share/zoneinfo/UTC")
    k = v["kernel"]
    t.file(f"/boot/vmlinuz-{k}", b"fake kernel", 0o755)
    t.file(f"/boot/initramfs-{k}.img", b"fake initramfs", 0o600)
    t.file(f"/boot/loader/entries/{v['machine_id']}-{k}.conf",
           f"title Red Hat Enterprise Linux (5.14.0-427.13.1.el9_4.x86_64) 9.4 (Plow)\nversion {k}\n"
           f"linux /vmlinuz-{k}\ninitrd /initramfs-{k}.img $tuned_initrd\n"
           f"options root=UUID={v['root_uuid']} ro console=ttyS0,115200n8\ngrub_users $grub_users\n"
           "grub_arg --unrestricted\ngrub_class rhel\n")
    t.file("/boot/grub2/grub.cfg", "set default=\"${saved_entry}\"\ninsmod blscfg\nblscfg\n")
    t.file("/boot/grub2/grubenv", f"# GRUB Environment Block\nsaved_entry={v['machine_id']}-{k}\n"
           "boot_success=0\n" + "#" * 900 + "\n")
    return t


# ---- building disks ---------------------------------------------------------------

def _losetup(path, offset, size):
    return sh("losetup", "--find", "--show", "--offset", offset, "--sizelimit", size, path).strip()


def _fill(dev, stage: Path, fstype):
    mnt = Path(tempfile.mkdtemp(prefix="golden-fixture-mnt-"))
    try:
        sh("mount", "-t", fstype, dev, mnt)
        try:
            sh("cp", "-a", f"{stage}/.", f"{mnt}/")
        finally:
            sh("umount", mnt)
    finally:
        mnt.rmdir()


def _mkfs(path, offset, size, fstype, uuid, label, stage=None, features=""):
    dev = _losetup(path, offset, size)
    try:
        if fstype == "swap":
            sh("mkswap", "-U", uuid, "-L", label, dev)
        elif fstype == "vfat":
            sh("mkfs.vfat", "-i", uuid.replace("-", ""), "-n", label, dev)
        else:
            args = ["-q", "-t", fstype, "-U", uuid, "-L", label, "-E", "hash_seed=" + uuid]
            if features:
                args += ["-O", features]
            sh("mkfs", *args, dev)
        if stage is not None and fstype != "vfat":
            _fill(dev, stage, fstype)
    finally:
        sh("losetup", "--detach", dev)


def _sectors(path):
    data = json.loads(sh("sfdisk", "-J", path))["partitiontable"]
    return {int(p["node"][len(str(path)):]): (p["start"] * 512, p["size"] * 512) for p in data["partitions"]}


OLD_EXT4 = "^metadata_csum,^64bit,^metadata_csum_seed,^orphan_file"


def build_rhel7(path: Path) -> Path:
    """MBR with an extended partition: /boot, then / , swap and /home as logical partitions."""
    v = RHEL7
    Path(path).unlink(missing_ok=True)
    sh("truncate", "-s", f"{96 * MiB}", path)
    sh("sfdisk", "-q", path, input="label: dos\nlabel-id: 0x7e1d0c2a\n"
       "start=2048, size=32768, type=83, bootable\nstart=34816, type=5\n"
       "size=98304, type=83\nsize=16384, type=82\ntype=83\n")
    parts = _sectors(path)
    with tempfile.TemporaryDirectory(prefix="golden-fixture-") as d:
        stages = {"/": Path(d) / "root", "/boot": Path(d) / "boot", "/home": Path(d) / "home"}
        for s in stages.values():
            s.mkdir()
        rhel7_tree().write_into(stages)
        _mkfs(path, *parts[1], "ext4", v["boot_uuid"], "boot", stages["/boot"], OLD_EXT4)
        _mkfs(path, *parts[5], "ext4", v["root_uuid"], "root", stages["/"], OLD_EXT4)
        _mkfs(path, *parts[6], "swap", v["swap_uuid"], "swap")
        _mkfs(path, *parts[7], "ext4", v["home_uuid"], "home", stages["/home"], OLD_EXT4)
    return path


def _lvm_config(dev):
    return (f'devices{{filter=["a|^{dev}$|","r|.*|"] use_devicesfile=0 scan=["/dev"]}} '
            'backup{backup=0 archive=0} activation{udev_sync=0 udev_rules=0 monitoring=0}')


def build_rhel6(path: Path) -> Path:
    """MBR: /boot on sda1, and an LVM PV on sda2 with VolGroup00/LogVol00 (/) and LogVol01 (swap)."""
    v = RHEL6
    Path(path).unlink(missing_ok=True)
    sh("truncate", "-s", f"{96 * MiB}", path)
    sh("sfdisk", "-q", path, input="label: dos\nlabel-id: 0x6e1d0c2a\n"
       "start=2048, size=32768, type=83, bootable\nstart=34816, type=8e\n")
    parts = _sectors(path)
    pv = _losetup(path, *parts[2])
    try:
        cfg = _lvm_config(pv)
        lvm = ["--driverloaded", "n", "--config", cfg]
        sh("pvcreate", "-q", *lvm, pv)
        sh("vgcreate", "-q", *lvm, "-s", "4M", "VolGroup00", pv)
        sh("lvcreate", "-q", *lvm, "-an", "-Zn", "-L", "48M", "-n", "LogVol00", "VolGroup00")
        sh("lvcreate", "-q", *lvm, "-an", "-Zn", "-l", "100%FREE", "-n", "LogVol01", "VolGroup00")
        pe_start = int(json.loads(sh("pvs", *lvm, "--reportformat", "json", "--units", "b",
                                     "--nosuffix", "-o", "pe_start", pv))["report"][0]["pv"][0]["pe_start"])
        report = json.loads(sh("lvs", *lvm, "--reportformat", "json", "--units", "b", "--nosuffix",
                               "-o", "lv_name,lv_size,seg_pe_ranges", "VolGroup00"))["report"][0]["lv"]
    finally:
        sh("losetup", "--detach", pv)
    lv = {}
    for r in report:
        first_pe = int(r["seg_pe_ranges"].split(":")[1].split("-")[0])
        lv[r["lv_name"]] = (parts[2][0] + pe_start + first_pe * 4 * MiB, int(r["lv_size"]))
    with tempfile.TemporaryDirectory(prefix="golden-fixture-") as d:
        stages = {"/": Path(d) / "root", "/boot": Path(d) / "boot"}
        for s in stages.values():
            s.mkdir()
        rhel6_tree().write_into(stages)
        _mkfs(path, *parts[1], "ext4", v["boot_uuid"], "", stages["/boot"], OLD_EXT4)
        _mkfs(path, *lv["LogVol00"], "ext4", v["root_uuid"], "", stages["/"], OLD_EXT4)
        _mkfs(path, *lv["LogVol01"], "swap", v["swap_uuid"], "")
    return path


def build_rhel9(path: Path, efi: bool = False) -> Path:
    """GPT: BIOS boot partition, /boot, / (and a vfat ESP at /boot/efi when `efi`)."""
    v = RHEL9
    Path(path).unlink(missing_ok=True)
    sh("truncate", "-s", f"{80 * MiB}", path)
    script = ("label: gpt\nlabel-id: 9E1D0C2A-0000-4000-8000-000000000900\n"
              f"start=2048, size=2048, type={BIOS_BOOT}, name=biosboot\n"
              f"size=32768, type={LINUX_FS}, name=boot\n")
    script += f"size=98304, type={LINUX_FS}, name=root\n"
    if efi:
        script += f"type={ESP}, name=\"EFI System Partition\"\n"
    sh("sfdisk", "-q", path, input=script)
    parts = _sectors(path)
    with tempfile.TemporaryDirectory(prefix="golden-fixture-") as d:
        stages = {"/": Path(d) / "root", "/boot": Path(d) / "boot"}
        for s in stages.values():
            s.mkdir()
        rhel9_tree(efi).write_into(stages)
        _mkfs(path, *parts[2], "ext4", v["boot_uuid"], "boot", stages["/boot"])
        _mkfs(path, *parts[3], "ext4", v["root_uuid"], "root", stages["/"])
        if efi:
            _mkfs(path, *parts[4], "vfat", v["efi_uuid"], "ESP")
            sh("mmd", "-i", f"{path}@@{parts[4][0]}", "::/EFI", "::/EFI/redhat")
            with tempfile.NamedTemporaryFile("w", suffix=".cfg") as cfg:
                cfg.write("configfile (hd0,gpt2)/grub2/grub.cfg\n")
                cfg.flush()
                sh("mcopy", "-i", f"{path}@@{parts[4][0]}", cfg.name, "::/EFI/redhat/grub.cfg")
    return path


def copy_image(src: Path, dst: Path) -> Path:
    sh("cp", "--sparse=always", src, dst)
    return dst


def snapshot(guest, top="/") -> dict:
    """Every path under `top` with its type, mode, owner and content digest (or link target)."""
    import hashlib
    out = {}
    for p in guest.find(top):
        st = guest.lstat(p)
        if st.is_symlink:
            out[p] = ("link", guest.readlink(p))
        elif st.is_dir:
            out[p] = ("dir", st.perms, st.uid, st.gid)
        elif st.is_file:
            out[p] = ("file", st.perms, st.uid, st.gid, hashlib.sha256(guest.read(p)).hexdigest())
        else:
            out[p] = ("other", st.mode, st.uid, st.gid)
    return out


def leftovers(*paths: Path) -> list[str]:
    """Loop devices, mounts and qemu processes that still refer to `paths` or to a golden work dir."""
    names = [str(p) for p in paths]
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            target = backing.read_text().strip()
        except OSError:
            continue
        if any(target.startswith(n) for n in names) or "/golden-loop-" in target:
            found.append(f"loop {backing.parent.parent.name} -> {target}")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mnt = line.split()[4]
        if "/golden-loop-" in mnt or any(mnt.startswith(n) for n in names):
            found.append(f"mount {mnt}")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if re.search(r"qemu-(storage-daemon|nbd|system)", cmd) and any(n in cmd for n in names):
            found.append(f"process {proc.name}: {cmd[:120]}")
    return found


def golden_work_mounts() -> set[str]:
    return {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if "/golden-loop-" in line.split()[4]}
