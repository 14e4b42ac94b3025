"""PXE and bridge artifacts read back by independent tools: virt-xml-validate, grub-script-check,
dnsmasq --test, a pxelinux config reader, and the demo ISO read in place."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from builder.errors import InputError
from builder.net import bootfiles, netxml
from builder.net.pxe import build_tree
from builder.net.serve import ServeConfig, dnsmasq_conf
from builder.profile import load

MAC = "52:54:00:12:34:56"
DEMO_PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def validate_file(path: Path, schema: str = "network") -> subprocess.CompletedProcess:
    return subprocess.run(["virt-xml-validate", str(path), schema], capture_output=True, text=True)


@pytest.fixture(scope="module")
def demo_tree(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pxe")
    (tmp / "demo-pxe.yaml").write_text(
        f"name: demo-pxe\nextends: {DEMO_PROFILE}\n"
        f"network: {{mode: pxe, model: e1000, mac: '{MAC}'}}\ninstall: {{method: pxe, media: demo}}\n")
    build_tree(load(tmp / "demo-pxe.yaml"), tmp / "tree", server="10.213.0.1")
    return tmp / "tree"


# ------------------------------------------------------------------ libvirt XML

def test_pxe_network_xml_validates(demo_tree, tmp_path):
    need("virt-xml-validate")
    xml = netxml.pxe_network(demo_tree, name="golden-pxe", bridge="virbr-pxe")
    (tmp_path / "net.xml").write_bytes(xml)
    proc = validate_file(tmp_path / "net.xml")
    assert proc.returncode == 0, proc.stderr
    netxml.validate(xml)
    root = etree.fromstring(xml)
    assert root.find("forward") is None                       # isolated
    assert root.find("ip/tftp").get("root") == str(demo_tree)
    assert root.find("ip/dhcp/bootp").get("file") == "pxelinux.0"
    assert root.find("ip").get("address") == "192.168.150.1"
    rng = root.find("ip/dhcp/range")
    assert (rng.get("start"), rng.get("end")) == ("192.168.150.128", "192.168.150.254")
    ns = {"d": netxml.DNSMASQ_NS}
    values = [o.get("value") for o in root.findall("d:options/d:option", ns)]
    assert "dhcp-boot=tag:efi-x86_64,grubnetx64.efi" in values


def test_pxe_network_options(demo_tree, tmp_path):
    need("virt-xml-validate")
    xml = netxml.pxe_network(demo_tree, name="lab", subnet="10.213.0.1/24", dhcp_range=("10.213.0.50", "10.213.0.60"),
                             uefi=False)
    netxml.validate(xml)
    root = etree.fromstring(xml)
    assert root.find("bridge").get("name") is None
    assert root.find("{%s}options" % netxml.DNSMASQ_NS) is None
    with pytest.raises(InputError, match="not a private"):
        netxml.pxe_network(demo_tree, subnet="8.8.8.1/24")
    with pytest.raises(InputError, match="not a PXE tree"):
        netxml.pxe_network(demo_tree / "ks")


def test_bridge_network_xml_validates(tmp_path):
    need("virt-xml-validate")
    xml = netxml.bridge_network("installation", "installation")
    netxml.validate(xml)
    (tmp_path / "b.xml").write_bytes(xml)
    assert validate_file(tmp_path / "b.xml").returncode == 0
    root = etree.fromstring(xml)
    assert root.find("forward").get("mode") == "bridge" and root.find("bridge").get("name") == "installation"


def test_validate_catches_bad_xml():
    need("virt-xml-validate")
    with pytest.raises(InputError, match="schema refuses"):
        netxml.validate(b"<network><name>x</name><forward mode='nonsense'/></network>")


def test_cli_writes_validated_xml(golden, demo_tree, tmp_path):
    need("virt-xml-validate")
    profile = demo_tree.parent / "demo-pxe.yaml"
    result = golden("pxe", "network", profile, "--tree", demo_tree, "-o", tmp_path / "n.xml")
    assert result.code == 0, result.err
    assert "virt-xml-validate: ok" in result.err
    assert etree.parse(str(tmp_path / "n.xml")).find("name").text == "golden-pxe"
    assert validate_file(tmp_path / "n.xml").returncode == 0


# ------------------------------------------------------------------ boot configs

def read_pxelinux(text: str) -> dict:
    """A small pxelinux config reader, written from the syslinux docs, independent of golden's writer."""
    out: dict = {"labels": {}, "global": {}}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "LABEL":
            current = out["labels"].setdefault(rest.strip(), {})
        elif current is not None and keyword in ("KERNEL", "LINUX", "APPEND", "IPAPPEND", "LOCALBOOT", "INITRD"):
            current[keyword] = rest.strip()
        else:
            out["global"].setdefault(keyword, []).append(rest.strip())
    return out


def test_pxelinux_configs_read_back(demo_tree):
    default = read_pxelinux((demo_tree / "pxelinux.cfg/default").read_text())
    host = read_pxelinux((demo_tree / "pxelinux.cfg/01-52-54-00-12-34-56").read_text())
    assert default["global"]["DEFAULT"] == ["local"] and default["labels"]["local"] == {"LOCALBOOT": "0"}
    assert host["global"]["DEFAULT"] == ["install"] and host["global"]["PROMPT"] == ["0"]
    entry = host["labels"]["install"]
    assert (demo_tree / entry["KERNEL"]).is_file()
    args = entry["APPEND"].split()
    initrd = next(a for a in args if a.startswith("initrd="))[len("initrd="):]
    assert (demo_tree / initrd).is_file()
    assert "inst.ks=http://10.213.0.1/ks/52-54-00-12-34-56.cfg" in args
    assert entry["IPAPPEND"] == "2"
    assert (demo_tree / "ks/52-54-00-12-34-56.cfg").is_file()


def test_grub_configs_pass_grub_script_check(demo_tree):
    need("grub-script-check")
    for name in ("grub.cfg", "grub.cfg-01-52-54-00-12-34-56"):
        proc = subprocess.run(["grub-script-check", str(demo_tree / "grub" / name)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr + proc.stdout


def test_dnsmasq_accepts_the_config(demo_tree, tmp_path):
    need("dnsmasq")
    cfg = ServeConfig(tree=demo_tree, interface="br0", address=ipaddress.IPv4Interface("10.213.0.1/24"),
                      router="10.213.0.254", log_dhcp=True)
    (tmp_path / "d.conf").write_text(dnsmasq_conf(cfg, tmp_path / "leases"))
    proc = subprocess.run(["dnsmasq", "--test", f"--conf-file={tmp_path / 'd.conf'}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------ media read in place

def test_kernel_and_initrd_from_the_demo_iso_read_in_place():
    from builder.demo import build_demo_media
    media = build_demo_media()
    found = bootfiles.for_media(str(media.iso), "x86_64", base_dir=Path("/"))
    assert found.kernel == media.kernel.read_bytes()
    assert found.initrd == media.initrd.read_bytes()
    assert "images/pxeboot/vmlinuz" in found.origin


def test_an_iso_without_pxeboot_is_refused(tmp_path):
    from builder.media.sidemedia import oemdrv_iso
    iso = oemdrv_iso(b"text\nreboot\n", tmp_path / "oemdrv.iso")
    with pytest.raises(InputError) as exc:
        bootfiles.for_media(str(iso), "x86_64", base_dir=Path("/"))
    assert "missing images/pxeboot/vmlinuz, images/pxeboot/initrd.img" in str(exc.value)
