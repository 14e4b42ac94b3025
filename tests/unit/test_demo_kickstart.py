"""The demo installer's kickstart reading, run on this host with busybox sh.

`installer.sh --check KS` runs the same lexer (ks-parse.awk) and directive
checks (ks.sh) as the installer in the guest, without touching any disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from builder.demo.initramfs import FILES

BUSYBOX = shutil.which("busybox")
pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="busybox is not installed")

GOOD = """\
# a RHEL 8 style kickstart
text
cdrom
lang en_US.UTF-8
keyboard --vckeymap=us --xlayouts='us'
timezone America/New_York --isUtc
rootpw --plaintext s3cret
user --name=alice --password=$6$x$y --iscrypted --groups=wheel --uid=1500
sshkey --username=alice "ssh-ed25519 AAAAC3Nza alice@example"
network --bootproto=static --device=eth0 --ip=192.0.2.10 --netmask=255.255.255.0 \\
        --gateway=192.0.2.1 --nameserver=192.0.2.53 --hostname=web01 --activate --noipv6
firewall --enabled --service=ssh
selinux --enforcing
services --enabled=sshd --disabled=kdump
authselect select sssd
firstboot --disable
eula --agreed
skipx
zerombr
clearpart --all --initlabel --drives=vda
ignoredisk --only-use=vda
part /boot --fstype="ext4" --size=512 --ondisk=vda --asprimary
part swap --recommended
part / --fstype ext4 --size 1024 --grow --maxsize=4096 --label=root
part /home --size=100
bootloader --location=mbr --boot-drive=vda --append="crashkernel=auto console=ttyS0,115200" --timeout=3
reboot --eject

%packages --ignoremissing
@^minimal-environment
@core
openssh-server
-iwl*firmware
%end

%pre --interpreter=/bin/sh --log=/tmp/pre.log
echo pre
%end

%post --nochroot --log=/mnt/sysimage/root/nochroot.log
cp /tmp/ks.cfg $ANA_INSTALL_PATH/root/
%end

%post --interpreter=/bin/bash --erroronfail
echo "done" > /root/marker
%end
"""

RHEL5 = """\
install
cdrom
key --skip
text
lang en_US.UTF-8
keyboard us
network --device eth0 --bootproto dhcp
rootpw --iscrypted $1$abc$def
firewall --enabled --port=22:tcp
authconfig --enableshadow --enablemd5
selinux --enforcing
timezone --utc America/New_York
bootloader --location=mbr --driveorder=hda --append="rhgb quiet"
clearpart --all --initlabel
part /boot --fstype ext3 --size=100
part swap --size=512
part / --fstype ext3 --size=1 --grow
halt
%packages
@base
@core
%post
echo rhel5 style: no %end
"""


def check(tmp_path: Path, text: str) -> tuple[int, str]:
    ks = tmp_path / "ks.cfg"
    ks.write_text(text)
    env = dict(os.environ, GOLDEN_LIB=str(FILES))
    res = subprocess.run([BUSYBOX, "sh", str(FILES / "installer.sh"), "--check", str(ks)],
                         capture_output=True, text=True, env=env, timeout=60)
    return res.returncode, (res.stdout + res.stderr).strip()


@pytest.mark.parametrize("text", [GOOD, RHEL5], ids=["rhel8-style", "rhel5-style"])
def test_supported_kickstarts_pass(tmp_path, text):
    rc, out = check(tmp_path, text)
    assert (rc, out) == (0, "golden-installer: kickstart ok")


@pytest.mark.parametrize("line, reason", [
    ("raid / --level=1 --device=md0 raid.01 raid.02", "unsupported kickstart directive 'raid' at line 3"),
    ("volgroup vg0 pv.01", "unsupported kickstart directive 'volgroup' at line 3"),
    ("logvol / --vgname=vg0 --size=100 --name=root", "unsupported kickstart directive 'logvol' at line 3"),
    ("part pv.01 --size=100", "unsupported partition 'pv.01' at line 3"),
    ("part /boot/efi --fstype=efi --size=200", "unsupported partition '/boot/efi' at line 3"),
    ("part /data --fstype=xfs --size=100", "file system type 'xfs' is not supported"),
    ("part /data --size=100 --encrypted", "unsupported option '--encrypted' for 'part' at line 3"),
    ("part /data", "partition '/data' needs --size or --grow at line 3"),
    ("part / --size=10", "mount point / given twice (again at line 3)"),
    ("autopart --type=lvm", "autopart cannot be combined with part (line 3)"),
    ("bootloader --location=mbr --password=x", "bootloader passwords are not supported"),
    ("network --bootproto=static --ip=1.2.3.4", "needs --ip and --netmask at line 3"),
    ("timezone", "'timezone' needs 1 to 1 arguments, got 0 at line 3"),
    ("zfcp --devnum=1", "unsupported kickstart directive 'zfcp' at line 3"),
    ("rootpw 'unterminated", "unterminated quote at line 3"),
    ("%include /nonexistent/part.ks", "%include file /nonexistent/part.ks not found at line 3"),
    ("%addon com_redhat_kdump --enable\n%end", "unsupported kickstart section '%addon' at line 3"),
    ("%packages\n@core\nemacs\n%end", "package 'emacs' at line 5 is not provided by the demo media"),
    ("%post --interpreter=/usr/bin/python3\nprint(1)\n%end", "--interpreter=/usr/bin/python3 is not available"),
])
def test_what_the_demo_cannot_honour_fails_naming_it(tmp_path, line, reason):
    text = f"text\npart / --size=100 --grow\n{line}\npoweroff\n"
    rc, out = check(tmp_path, text)
    assert rc == 1
    assert out.startswith("golden-installer: FAILED: ")
    assert reason in out


def test_autopart_alone_is_fine(tmp_path):
    assert check(tmp_path, "autopart --type=plain\nrootpw --lock\n")[0] == 0


def test_include_written_by_a_file(tmp_path):
    inc = tmp_path / "part.ks"
    inc.write_text("\n# comment\nraid / --level=1\n")
    rc, out = check(tmp_path, f"text\n%include {inc}\n")
    assert rc == 1 and f"unsupported kickstart directive 'raid' at line 3 of {inc}" in out


def lex(tmp_path: Path, text: str, mode: str = "all") -> list[str]:
    ks = tmp_path / "lex.cfg"
    ks.write_text(text)
    res = subprocess.run([BUSYBOX, "awk", "-v", f"ks={ks}", "-v", f"mode={mode}", "-v", f"dir={tmp_path}",
                          "-f", str(FILES / "ks-parse.awk")], capture_output=True, text=True, check=True)
    return res.stdout.splitlines()


def test_lexer_quotes_words_for_the_shell(tmp_path):
    out = lex(tmp_path, 'bootloader --append="console=ttyS0 it\'s" \\\n  --timeout=1 # trailing comment\n'
                        "  # a comment line\n\nsshkey --username=root 'ssh-ed25519 AAAA $HOME `x`'\n")
    assert out == [
        "ks_cmd '1' 'bootloader' '--append=console=ttyS0 it'\"'\"'s' '--timeout=1'",
        "ks_cmd '5' 'sshkey' '--username=root' 'ssh-ed25519 AAAA $HOME `x`'",
    ]


def test_lexer_sections_with_and_without_end(tmp_path):
    text = "%pre\necho one\n%end\n%post --nochroot\nline \\\n  two\n%packages\n@core\n%post\nlast\n"
    out = lex(tmp_path, text)
    assert out == [
        f"ks_section '1' 'pre' '{tmp_path}/section-1'",
        f"ks_section '4' 'post' '{tmp_path}/section-2' '--nochroot'",
        f"ks_section '7' 'packages' '{tmp_path}/section-3'",
        "ks_pkg '8' '@core'",
        f"ks_section '9' 'post' '{tmp_path}/section-4'",
    ]
    assert (tmp_path / "section-2").read_text() == "line \\\n  two\n"  # scripts stay verbatim
    assert (tmp_path / "section-4").read_text() == "last\n"
    assert lex(tmp_path, text, mode="pre") == [f"ks_section '1' 'pre' '{tmp_path}/section-1'"]
