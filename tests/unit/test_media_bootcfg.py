"""Boot menu edits on isolinux.cfg / grub.cfg as RHEL 5-9 ship them."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from builder.errors import InputError
from builder.media.bootcfg import check_ks_args, edit_grub, edit_isolinux

DATA = Path(__file__).resolve().parent.parent / "data" / "media"
KS = ["inst.ks=hd:LABEL=OEMDRV:/ks.cfg"]


def changed(old: str, new: str) -> list[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=0, lineterm="")
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_rhel8_isolinux_picks_linux_over_check():
    text = (DATA / "isolinux-rhel8.cfg").read_text()
    edit = edit_isolinux(text, KS, 1)
    assert edit.entry == "linux"
    assert edit.line == ("append initrd=initrd.img inst.stage2=hd:LABEL=RHEL-8-10-0-BaseOS-x86_64 "
                         f"quiet {KS[0]}")
    assert changed(text, edit.text) == [
        "-timeout 600", "+timeout 10", "+  menu default",
        "-  append initrd=initrd.img inst.stage2=hd:LABEL=RHEL-8-10-0-BaseOS-x86_64 quiet",
        f"+  {edit.line}", "-  menu default"]
    lines = edit.text.splitlines()
    assert lines[lines.index("label linux") + 1] == "  menu default"
    assert "default vesamenu.c32" in lines


def test_rhel6_isolinux_keeps_its_menu_default_in_place():
    text = (DATA / "isolinux-rhel6.cfg").read_text()
    edit = edit_isolinux(text, ["ks=cdrom:/ks.cfg"], 3)
    assert edit.entry == "linux"
    assert changed(text, edit.text) == ["-timeout 600", "+timeout 30",
                                        "-  append initrd=initrd.img",
                                        "+  append initrd=initrd.img ks=cdrom:/ks.cfg"]


def test_rhel5_isolinux_without_menu():
    text = (DATA / "isolinux-rhel5.cfg").read_text()
    edit = edit_isolinux(text, ["ks=cdrom:/ks.cfg"], 1)
    assert edit.entry == "linux"
    assert "menu default" not in edit.text
    assert changed(text, edit.text) == ["-timeout 600", "+timeout 10",
                                        "-  append initrd=initrd.img",
                                        "+  append initrd=initrd.img ks=cdrom:/ks.cfg"]


@pytest.mark.parametrize("name,keyword", [("grub-rhel8.cfg", "linuxefi"), ("grub-rhel9.cfg", "linux")])
def test_grub_picks_install_entry_and_sets_default_and_timeout(name, keyword):
    text = (DATA / name).read_text()
    edit = edit_grub(text, KS, 1)
    assert edit.entry.startswith("Install Red Hat Enterprise Linux")
    assert edit.line.startswith(f"{keyword} /images/pxeboot/vmlinuz ") and edit.line.endswith(KS[0])
    diff = changed(text, edit.text)
    assert diff[:4] == ['-set default="1"', '+set default="0"', "-set timeout=60", "+set timeout=1"]
    assert len(diff) == 6 and diff[-1] == f"+\t{edit.line}"


def test_edits_are_idempotent_and_replace_old_kickstart_args():
    for name, edit in (("isolinux-rhel8.cfg", edit_isolinux), ("grub-rhel8.cfg", edit_grub)):
        text = (DATA / name).read_text()
        once = edit(text, KS, 1).text
        assert edit(once, KS, 1).text == once
        other = edit(once, ["inst.ks=cdrom:/ks.cfg", "inst.text"], 2)
        assert KS[0] not in other.text and other.line.endswith("inst.ks=cdrom:/ks.cfg inst.text")


def test_bare_ks_and_inst_ks_are_removed():
    text = "default linux\nlabel linux\n  kernel vmlinuz\n  append ks inst.ks initrd=initrd.img ks=nfs:x:/y\n"
    assert edit_isolinux(text, KS, 1).line == f"append initrd=initrd.img {KS[0]}"


def test_missing_directives_are_added():
    text = "label linux\n  kernel vmlinuz\n"
    edit = edit_isolinux(text, KS, 2)
    assert edit.text.splitlines() == ["default linux", "timeout 20", "label linux", "  kernel vmlinuz",
                                      f"  append {KS[0]}"]
    grub = "menuentry 'Install' {\n\tlinux /vmlinuz quiet\n}\n"
    g = edit_grub(grub, KS, 5)
    assert g.text.splitlines()[:2] == ['set default="0"', "set timeout=5"]


def test_grub_default_by_title_and_crlf_kept():
    text = ("set default='Test this media'\r\nset timeout=60\r\n"
            "menuentry 'Test this media' {\r\n linux /v rd.live.check\r\n}\r\n"
            "menuentry \"Install\" {\r\n linux /v quiet\r\n}\r\n")
    edit = edit_grub(text, KS, 1)
    assert edit.entry == "Install" and 'set default="1"\r\n' in edit.text
    assert "\n" not in edit.text.replace("\r\n", "")


def test_configs_without_an_install_entry_are_refused():
    with pytest.raises(InputError, match="no menu label boots the installer"):
        edit_isolinux("default local\nlabel local\n  localboot 0xffff\n", KS, 1)
    with pytest.raises(InputError, match="no top-level menuentry"):
        edit_grub("menuentry 'Rescue' {\n linux /v inst.rescue\n}\n", KS, 1)


@pytest.mark.parametrize("args", [[], ["two words"], ["new\nline"], ["tab\t"], ["$var"], ["a;b"],
                                  ["{x}"], ["'q'"], [1]])
def test_bad_arguments(args):
    with pytest.raises(InputError, match="ks_args|kickstart boot arguments"):
        check_ks_args(args)


@pytest.mark.parametrize("timeout", [0, -1, 3601, 1.5, True])
def test_bad_timeouts(timeout):
    with pytest.raises(InputError, match="timeout"):
        edit_grub((DATA / "grub-rhel8.cfg").read_text(), KS, timeout)
