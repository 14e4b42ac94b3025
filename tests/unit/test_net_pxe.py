"""PXE trees: MACs, per-host configs in each OS's dialect, boot files from every kind of media."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from builder.errors import InputError
from builder.net import bootfiles, pxecfg
from builder.net.bootfiles import BootFiles, NotFound
from builder.net.mac import grub_name, parse_mac, pxelinux_name
from builder.net.pxe import build_tree, ks_url
from builder.profile import load

from profile_factory import representative, write

MAC = "52:54:00:12:34:56"
BOOT = BootFiles(b"KERNEL" * 10, b"INITRD" * 10, "test bytes")


def pxe_profile(tmp: Path, os_id: str, *, mac: str | None = MAC, media="http://mirror.example.com/tree/",
                **extra) -> Path:
    net = {"mode": "pxe"}
    if mac:
        net["mac"] = mac
    data = representative(os_id, network=net, install={"method": "pxe", "media": media}, **extra)
    return write(tmp, data)


# --------------------------------------------------------------- MACs

@pytest.mark.parametrize("given", ["52:54:00:12:34:56", "52-54-00-12-34-56", "52:54:00:12:34:56 ", "52:54:00:12:34:56".upper()])
def test_mac_forms(given):
    assert parse_mac(given) == MAC
    assert pxelinux_name(given) == "01-52-54-00-12-34-56"
    assert grub_name(given) == "grub.cfg-01-52-54-00-12-34-56"


@pytest.mark.parametrize("bad", ["52:54:00:12:34", "52:54:00:12:34:5g", "525400123456", "52:54-00:12:34:56",
                                 "52:54:00:12:34:56:78", "", "5254.0012.3456"])
def test_bad_mac_is_refused_by_value(bad):
    with pytest.raises(InputError) as exc:
        parse_mac(bad)
    assert repr(bad) in str(exc.value)


def test_multicast_mac_is_refused():
    with pytest.raises(InputError, match="multicast"):
        parse_mac("01:00:5e:00:00:01")


# --------------------------------------------------------------- configs

def host(**kw) -> pxecfg.HostBoot:
    base = dict(mac=MAC, profile="p", title="T", kernel="images/p/vmlinuz", initrd="images/p/initrd.img",
                args=("ks=http://10.0.0.1/ks/52-54-00-12-34-56.cfg", "console=ttyS0,115200"))
    base.update(kw)
    return pxecfg.HostBoot(**base)


def test_default_and_per_host_configs_differ():
    default, per_host = pxecfg.pxelinux_default(), pxecfg.pxelinux_host(host())
    assert "LOCALBOOT 0" in default and "KERNEL" not in default and "ks=" not in default
    assert "KERNEL images/p/vmlinuz" in per_host and "LOCALBOOT" not in per_host
    assert "APPEND initrd=images/p/initrd.img ks=http://10.0.0.1/ks/52-54-00-12-34-56.cfg" in per_host
    assert "IPAPPEND 2" in per_host
    assert "exit" in pxecfg.grub_default() and "linux " not in pxecfg.grub_default()
    g = pxecfg.grub_host(host())
    assert "linux /images/p/vmlinuz ks=http://10.0.0.1/ks/52-54-00-12-34-56.cfg console=ttyS0,115200 " \
           "BOOTIF=01-52-54-00-12-34-56" in g
    assert "initrd /images/p/initrd.img" in g


def test_ksdevice_only_for_old_anaconda():
    assert "ksdevice=bootif" in pxecfg.pxelinux_host(host(ksdevice=True))
    assert "ksdevice=bootif" not in pxecfg.pxelinux_host(host(ksdevice=False))
    assert "ksdevice=bootif" in pxecfg.grub_host(host(ksdevice=True))


def test_ks_url():
    assert ks_url("10.0.0.1", 80, MAC) == "http://10.0.0.1/ks/52-54-00-12-34-56.cfg"
    assert ks_url("10.0.0.1", 8080, MAC) == "http://10.0.0.1:8080/ks/52-54-00-12-34-56.cfg"


# --------------------------------------------------------------- trees

def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rhel5_tree_speaks_ks_and_method(tmp_path):
    loaded = load(pxe_profile(tmp_path, "rhel5.11"))
    tree = build_tree(loaded, tmp_path / "tree", server="10.1.2.3", boot=BOOT, efi=False)
    cfg = (tmp_path / "tree/pxelinux.cfg/01-52-54-00-12-34-56").read_text()
    append = next(line for line in cfg.splitlines() if line.strip().startswith("APPEND"))
    assert "ks=http://10.1.2.3/ks/52-54-00-12-34-56.cfg" in append
    assert "inst.ks" not in append
    assert "method=http://mirror.example.com/tree/" in append
    assert "ksdevice=bootif" in append and "console=ttyS0,115200" in append
    ks = (tmp_path / "tree/ks/52-54-00-12-34-56.cfg").read_text()
    assert "url --url=http://mirror.example.com/tree/" in ks
    assert (tmp_path / "tree/ks/52-54-00-12-34-56.cfg").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tree/images/t-rhel5-11/vmlinuz").read_bytes() == BOOT.kernel
    assert tree.ks_url == "http://10.1.2.3/ks/52-54-00-12-34-56.cfg"


def test_rhel9_tree_speaks_inst_ks(tmp_path):
    loaded = load(pxe_profile(tmp_path, "rhel9.6"))
    build_tree(loaded, tmp_path / "tree", server="10.1.2.3", http_port=8080, boot=BOOT, efi=False)
    cfg = (tmp_path / "tree/pxelinux.cfg/01-52-54-00-12-34-56").read_text()
    assert "inst.ks=http://10.1.2.3:8080/ks/52-54-00-12-34-56.cfg" in cfg
    assert "inst.repo=http://mirror.example.com/tree/" in cfg
    assert "ksdevice" not in cfg
    grub = (tmp_path / "tree/grub/grub.cfg-01-52-54-00-12-34-56").read_text()
    assert "inst.ks=http://10.1.2.3:8080/ks/52-54-00-12-34-56.cfg" in grub


def test_tree_is_deterministic_and_leaves_identical_files_alone(tmp_path):
    loaded = load(pxe_profile(tmp_path, "rhel9.6"))
    build_tree(loaded, tmp_path / "a", boot=BOOT)
    build_tree(loaded, tmp_path / "b", boot=BOOT)
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*") if p.is_file()}
    build_tree(loaded, tmp_path / "a", boot=BOOT)
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*") if p.is_file()}


def test_tree_layout_with_uefi(tmp_path):
    from builder.net import loaders
    if loaders.efi_unavailable_reason():
        pytest.skip(loaders.efi_unavailable_reason())
    loaded = load(pxe_profile(tmp_path, "rhel9.6"))
    tree = build_tree(loaded, tmp_path / "tree", boot=BOOT)
    assert tree.efi
    assert set(tree.files) == {
        "pxelinux.0", "ldlinux.c32", "pxelinux.cfg/default", "pxelinux.cfg/01-52-54-00-12-34-56",
        "grubnetx64.efi", "grub/grub.cfg", "grub/grub.cfg-01-52-54-00-12-34-56",
        "images/t-rhel9-6/vmlinuz", "images/t-rhel9-6/initrd.img", "ks/52-54-00-12-34-56.cfg"}
    assert (tmp_path / "tree/grubnetx64.efi").read_bytes()[:2] == b"MZ"
    assert b"(tftp)/grub" in (tmp_path / "tree/grubnetx64.efi").read_bytes()


def test_two_machines_share_a_tree(tmp_path):
    loaded = load(pxe_profile(tmp_path, "rhel9.6"))
    build_tree(loaded, tmp_path / "tree", boot=BOOT, efi=False)
    build_tree(loaded, tmp_path / "tree", mac="52:54:00:aa:bb:cc", boot=BOOT, efi=False)
    names = sorted(p.name for p in (tmp_path / "tree/pxelinux.cfg").iterdir())
    assert names == ["01-52-54-00-12-34-56", "01-52-54-00-aa-bb-cc", "default"]


def test_auto_mac_needs_mac(tmp_path, golden):
    path = pxe_profile(tmp_path, "rhel9.6", mac=None)
    with pytest.raises(InputError, match="network.mac is auto"):
        build_tree(load(path), tmp_path / "tree", boot=BOOT)
    result = golden("pxe", "tree", path, "--out", tmp_path / "tree", "--mac", "52:54:00:12:34")
    assert result.code == 2
    assert "'52:54:00:12:34' is not a MAC address" in result.err
    assert not (tmp_path / "tree").exists()


@pytest.mark.parametrize("server", ["10.0.0", "example.com", "::1"])
def test_bad_server(tmp_path, server):
    with pytest.raises(InputError, match="not an IPv4 address"):
        build_tree(load(pxe_profile(tmp_path, "rhel9.6")), tmp_path / "t", server=server, boot=BOOT)


def test_windows_and_pv_profiles_are_refused(tmp_path):
    data = yaml.safe_load(pxe_profile(tmp_path, "rhel5.11").read_text())
    data.update(name="pv", hypervisor="xen", virt="pv", network={"mode": "bridge", "source": "xenbr0",
                                                                 "mac": "00:16:3e:00:00:01"})
    data["install"] = {"method": "location", "media": "http://mirror.example.com/tree/"}
    path = tmp_path / "pv.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="para-virtualized"):
        build_tree(load(path), tmp_path / "t", boot=BOOT)


# --------------------------------------------------------------- boot files

TREEINFO = """[general]
family = Red Hat Enterprise Linux
[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
[images-xen]
kernel = images/xen/vmlinuz
initrd = images/xen/initrd.img
"""


def test_boot_files_from_a_tree_folder(tmp_path):
    (tmp_path / "images/pxeboot").mkdir(parents=True)
    (tmp_path / "images/pxeboot/vmlinuz").write_bytes(b"k")
    (tmp_path / "images/pxeboot/initrd.img").write_bytes(b"i")
    (tmp_path / ".treeinfo").write_text(TREEINFO)
    found = bootfiles.for_media(str(tmp_path), "x86_64", base_dir=Path("/"))
    assert found.kernel == tmp_path / "images/pxeboot/vmlinuz"


def test_tree_folder_without_kernel_names_what_is_missing(tmp_path):
    (tmp_path / "images/pxeboot").mkdir(parents=True)
    (tmp_path / "images/pxeboot/vmlinuz").write_bytes(b"k")
    with pytest.raises(InputError) as exc:
        bootfiles.for_media(str(tmp_path), "x86_64", base_dir=Path("/"))
    assert "missing images/pxeboot/initrd.img" in str(exc.value)
    assert "vmlinuz" not in str(exc.value).split("missing")[1]


def test_treeinfo_names_other_paths():
    assert bootfiles._candidates(TREEINFO.replace("pxeboot", "boot"), "x86_64")[0] == \
        ("images/boot/vmlinuz", "images/boot/initrd.img")
    assert bootfiles._candidates("not ini", "x86_64") == [(bootfiles.PXEBOOT_KERNEL, bootfiles.PXEBOOT_INITRD)]


def test_boot_files_from_an_http_tree_without_network():
    asked = []
    store = {"http://m/t/.treeinfo": TREEINFO.encode(), "http://m/t/images/pxeboot/vmlinuz": b"k",
             "http://m/t/images/pxeboot/initrd.img": b"i"}

    def fetch(url):
        asked.append(url)
        if url not in store:
            raise NotFound(url)
        return store[url]

    found = bootfiles.for_media("http://m/t", "x86_64", base_dir=Path("/"), fetch=fetch)
    assert (found.kernel, found.initrd) == (b"k", b"i")
    assert asked[0] == "http://m/t/.treeinfo"
    del store["http://m/t/images/pxeboot/initrd.img"]
    with pytest.raises(InputError, match="missing images/pxeboot/initrd.img"):
        bootfiles.for_media("http://m/t/", "x86_64", base_dir=Path("/"), fetch=fetch)


def test_nfs_tree_and_missing_media():
    with pytest.raises(InputError, match="NFS"):
        bootfiles.for_media("nfs://server/tree", "x86_64", base_dir=Path("/"))
    with pytest.raises(InputError, match="no such ISO or tree"):
        bootfiles.for_media("/nonexistent/rhel.iso", "x86_64", base_dir=Path("/"))


def test_cli_kernel_and_initrd_override(tmp_path, golden):
    path = pxe_profile(tmp_path, "rhel9.6")
    (tmp_path / "k").write_bytes(b"kernel")
    (tmp_path / "i").write_bytes(b"initrd")
    result = golden("pxe", "tree", path, "--out", tmp_path / "tree", "--kernel", tmp_path / "k",
                    "--initrd", tmp_path / "i", "--no-uefi", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["mac"] == MAC and data["uefi"] is False
    assert (tmp_path / "tree/images/t-rhel9-6/initrd.img").read_bytes() == b"initrd"
    assert golden("pxe", "tree", path, "--out", tmp_path / "t2", "--kernel", tmp_path / "k").code == 2


def test_cli_tree_folder_without_boot_files(tmp_path, golden):
    media = tmp_path / "rhel-tree"
    (media / "images").mkdir(parents=True)
    path = pxe_profile(tmp_path, "rhel9.6", media=str(media))
    result = golden("pxe", "tree", path, "--out", tmp_path / "tree")
    assert result.code == 2
    assert f"{media} has no installer kernel and initrd for PXE: missing images/pxeboot/vmlinuz, " \
           "images/pxeboot/initrd.img" in result.err
    assert not (tmp_path / "tree").exists()
