"""PXE installs booted for real under qemu (TCG): the demo installer reports its kernel command
line and where it got its kickstart on the serial console.

Every packet stays inside qemu's user-mode network or inside network
namespaces these tests create (no link to the host's namespace, no route
out). Each boot takes about half a minute, so there are few of them:
- BIOS through qemu's built-in TFTP (slirp), kickstart from `golden pxe serve --http-only`;
- BIOS for real: dnsmasq and the ks server from `golden pxe serve` on a bridge in a namespace;
- UEFI (OVMF, grub) through slirp, which proves the grub per-host config.
The per-MAC config must win over the default in each.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from lxml import etree

import demo_qemu as q
from tests.conftest import GOLDEN, golden_bin
from netns import Background, assert_sealed, ip, ip_json, namespace

pytestmark = [pytest.mark.system,
              pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")]

MAC = "52:54:00:12:34:56"
DASHED = MAC.replace(":", "-")
DEMO_PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"
PROBE = Path(__file__).resolve().parent / "dhcpprobe.py"
UNTIL = re.compile(r"golden-installer: (ks-source=|FAILED)|golden-pxe: no per-host config")
BOOT_TIMEOUT = 240


def rom(name: str) -> Path:
    for d in (Path("/usr/share/qemu"), Path("/usr/lib/ipxe/qemu")):
        if (d / name).is_file():
            return d / name
    pytest.skip(f"no iPXE option ROM {name} (package ipxe-qemu)")


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pxe-profile") / "demo-pxe.yaml"
    path.write_text(f"name: demo-pxe\nextends: {DEMO_PROFILE}\n"
                    f"network: {{mode: pxe, model: e1000, mac: '{MAC}'}}\n"
                    "install: {method: pxe, media: demo}\n")
    return path


@pytest.fixture
def tree_dir():
    # dnsmasq reads the TFTP tree after dropping root: pytest's 0700 tmp folders are closed to it.
    d = Path(tempfile.mkdtemp(prefix="golden-pxe-tree-", dir="/tmp"))
    d.chmod(0o755)
    yield d / "tree"
    shutil.rmtree(d, ignore_errors=True)


def make_tree(profile: Path, out: Path, server: str, port: int = 80) -> None:
    result = golden_bin("pxe", "tree", profile, "--out", out, "--server", server, "--http-port", port)
    assert result.code == 0, result.err
    assert (out / "pxelinux.cfg/default").read_text() != (out / f"pxelinux.cfg/01-{DASHED}").read_text()


def serve(ns: str, tree: Path, log: Path, *args: str) -> Background:
    return Background(ns, [str(GOLDEN), "pxe", "serve", str(tree), *args], log)


def check_boot(run: q.Run, ks_url: str) -> None:
    assert "golden-pxe: no per-host config" not in run.serial, "the default config won over the per-MAC one"
    assert run.failed() is None or run.value("ks-source"), run.serial[-3000:]
    cmdline = run.value("cmdline")
    assert cmdline, run.serial[-3000:]
    assert f"inst.ks={ks_url}" in cmdline.split()
    assert f"BOOTIF=01-{DASHED}" in cmdline.split()
    assert run.value("ks-source") == ks_url


def test_bios_pxe_through_slirp_tftp(profile, tree_dir, tmp_path):
    tree = tree_dir
    make_tree(profile, tree, "10.0.2.100")
    with namespace() as ns:
        # The guest's 10.0.2.100:80 is forwarded by qemu to the ks server on the namespace's loopback.
        web = serve(ns, tree, tmp_path / "serve.log", "--http-only", "--interface", "lo", "--http-port", "8080")
        web.wait_for("golden-pxe: serving")
        args = ["ip", "netns", "exec", ns] + q.base_args(tmp_path / "serial.log", memory=512) + [
            "-boot", "n",
            "-netdev", f"user,id=n0,restrict=on,tftp={tree},bootfile=pxelinux.0,"
                       "guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:8080",
            "-device", f"e1000,netdev=n0,mac={MAC},romfile={rom('pxe-e1000.rom')}"]
        run = q.run(args, tmp_path / "serial.log", timeout=BOOT_TIMEOUT, until=UNTIL)
        assert web.stop() == 0, web.text
    print(f"slirp BIOS PXE boot to ks-source: {run.seconds:.1f} s")
    # pxelinux.cfg/default boots no kernel at all, so a kernel with the per-MAC arguments proves the
    # per-MAC file won (pxelinux's SAY text reaches only the screen, not the serial port).
    assert "Loading images/demo-pxe/vmlinuz" in run.serial
    check_boot(run, f"http://10.0.2.100/ks/{DASHED}.cfg")
    assert f"golden-ks-http: served ks/{DASHED}.cfg" in web.text
    assert "golden-pxe: stopped" in web.text


def test_bios_pxe_with_dnsmasq_in_a_namespace(profile, tree_dir, tmp_path):
    tree = tree_dir
    make_tree(profile, tree, "10.213.0.1")
    with namespace() as ns:
        ip(ns, "link", "add", "br0", "type", "bridge")
        ip(ns, "addr", "add", "10.213.0.1/24", "dev", "br0")
        ip(ns, "link", "set", "br0", "up")
        ip(ns, "tuntap", "add", "dev", "tap0", "mode", "tap")
        ip(ns, "link", "set", "tap0", "master", "br0")
        ip(ns, "link", "set", "tap0", "up")
        assert_sealed(ns)
        assert {link["ifname"] for link in ip_json(ns, "link", "show")} == {"lo", "br0", "tap0"}
        server = serve(ns, tree, tmp_path / "serve.log", "--interface", "br0", "--range", "10.213.0.100,10.213.0.150")
        server.wait_for("golden-pxe: serving")
        dnsmasq_pid = int(re.search(r"dnsmasq pid (\d+)", server.text).group(1))
        args = ["ip", "netns", "exec", ns] + q.base_args(tmp_path / "serial.log", memory=512) + [
            "-boot", "n",
            "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
            "-device", f"e1000,netdev=n0,mac={MAC},romfile={rom('pxe-e1000.rom')}"]
        run = q.run(args, tmp_path / "serial.log", timeout=BOOT_TIMEOUT, until=UNTIL)
        assert server.stop() == 0, server.text
        assert not Path(f"/proc/{dnsmasq_pid}").exists(), "dnsmasq outlived `golden pxe serve`"
        assert_sealed(ns)
    print(f"namespace BIOS PXE boot to ks-source: {run.seconds:.1f} s")
    check_boot(run, f"http://10.213.0.1/ks/{DASHED}.cfg")
    log = server.text
    assert re.search(rf"DHCPACK\(br0\) 10\.213\.0\.1\d\d {MAC}", log), log
    assert f"sent {tree}/pxelinux.0 to 10.213.0.1" in log
    assert f"sent {tree}/pxelinux.cfg/01-{DASHED} to 10.213.0.1" in log
    assert f"sent {tree}/pxelinux.cfg/default" not in log
    assert f"sent {tree}/images/demo-pxe/initrd.img" in log
    assert re.search(rf"golden-ks-http: 10\.213\.0\.1\d\d \"GET /ks/{DASHED}\.cfg HTTP/1\.[01]\" 200", log), log
    assert "golden-pxe: stopped" in log


def test_uefi_pxe_through_slirp_picks_the_grub_per_host_config(profile, tree_dir, tmp_path):
    if not q.OVMF_CODE.is_file():
        pytest.skip("no OVMF")
    tree = tree_dir
    make_tree(profile, tree, "10.0.2.100")
    if not (tree / "grubnetx64.efi").is_file():
        pytest.skip("no grub EFI image on this host")
    with namespace() as ns:
        web = serve(ns, tree, tmp_path / "serve.log", "--http-only", "--interface", "lo", "--http-port", "8080")
        web.wait_for("golden-pxe: serving")
        # OVMF drives virtio-net itself: no option ROM.
        args = ["ip", "netns", "exec", ns] + q.base_args(tmp_path / "serial.log", memory=768,
                                                         uefi_vars=tmp_path / "vars.fd") + [
            "-netdev", f"user,id=n0,restrict=on,tftp={tree},bootfile=grubnetx64.efi,"
                       "guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:8080",
            "-device", f"virtio-net-pci,netdev=n0,mac={MAC},romfile="]
        run = q.run(args, tmp_path / "serial.log", timeout=BOOT_TIMEOUT, until=UNTIL)
        assert web.stop() == 0, web.text
    print(f"slirp UEFI PXE boot to ks-source: {run.seconds:.1f} s")
    assert f"golden-pxe: per-host config grub.cfg-01-{DASHED}: installing demo-pxe" in run.serial, run.serial[-3000:]
    check_boot(run, f"http://10.0.2.100/ks/{DASHED}.cfg")
    assert f"golden-ks-http: served ks/{DASHED}.cfg" in web.text


# ---------------------------------------------------------------- DHCP without a guest

def two_namespaces():
    """A server namespace and a client namespace joined by one veth pair, nothing else."""
    stack = __import__("contextlib").ExitStack()
    server = stack.enter_context(namespace("golden-pxe-s-"))
    client = stack.enter_context(namespace("golden-pxe-c-"))
    ip(server, "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", client)
    ip(server, "addr", "add", "10.214.0.1/24", "dev", "vs")
    ip(server, "link", "set", "vs", "up")
    ip(client, "link", "set", "vc", "up")
    return stack, server, client


def probe(client: str, mac: str, arch: int) -> tuple[str, str, str]:
    proc = subprocess.run(["ip", "netns", "exec", client, sys.executable, str(PROBE), "vc", mac, str(arch)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    yiaddr, siaddr, file = proc.stdout.split()
    return yiaddr, siaddr, file


def test_dhcp_boot_file_follows_client_arch(profile, tree_dir, tmp_path):
    tree = tree_dir
    workdirs = set(Path("/tmp").glob("golden-pxe-serve-*"))
    make_tree(profile, tree, "10.214.0.1")
    stack, server_ns, client_ns = two_namespaces()
    with stack:
        server = serve(server_ns, tree, tmp_path / "serve.log", "--interface", "vs", "--http-port", "8080")
        server.wait_for("golden-pxe: serving")
        bios = probe(client_ns, "52:54:00:00:00:01", 0)
        efi = probe(client_ns, "52:54:00:00:00:02", 7)
        efi64 = probe(client_ns, "52:54:00:00:00:03", 9)
        # A second server on the same interface cannot bind DHCP: exit 3 with dnsmasq's reason.
        second = serve(server_ns, tree, tmp_path / "second.log", "--interface", "vs", "--http-port", "8081")
        assert second.wait(30) == 3, second.text
        assert server.stop() == 0
        for ns in (server_ns, client_ns):
            assert_sealed(ns)
    assert bios[1:] == ("10.214.0.1", "pxelinux.0")
    assert efi[1:] == efi64[1:] == ("10.214.0.1", "grubnetx64.efi")
    assert bios[0].startswith("10.214.0.")
    assert re.search(r"error: dnsmasq \(pid \d+\) already serves DHCP \(UDP 67\) on vs", second.text), second.text
    assert "golden-pxe: stopped" in second.text
    assert set(Path("/tmp").glob("golden-pxe-serve-*")) == workdirs, "a temporary folder was left behind"


def test_libvirt_network_dnsmasq_options_win_for_uefi(profile, tree_dir, tmp_path):
    """The libvirt XML puts grubnetx64.efi in <dnsmasq:options> after libvirt's own <bootp>
    line; run dnsmasq with the lines libvirt makes of it and check UEFI clients get grub."""
    from builder.net import netxml
    tree = tree_dir
    make_tree(profile, tree, "10.214.0.1")
    root = etree.fromstring(netxml.pxe_network(tree, subnet="10.214.0.1/24"))
    rng, bootp = root.find("ip/dhcp/range"), root.find("ip/dhcp/bootp")
    options = [o.get("value") for o in root.iter(f"{{{netxml.DNSMASQ_NS}}}option")]
    conf = ["port=0", "interface=vs", "bind-interfaces", f"dhcp-leasefile={tmp_path / 'leases'}",
            f"dhcp-range={rng.get('start')},{rng.get('end')}", f"dhcp-boot={bootp.get('file')}", *options]
    (tmp_path / "libvirt-like.conf").write_text("\n".join(conf) + "\n")
    stack, server_ns, client_ns = two_namespaces()
    with stack:
        dnsmasq = Background(server_ns, ["dnsmasq", "--keep-in-foreground", f"--conf-file={tmp_path / 'libvirt-like.conf'}",
                                         "--log-facility=-", "--pid-file="], tmp_path / "dnsmasq.log")
        dnsmasq.wait_for("sockets bound exclusively")
        assert probe(client_ns, "52:54:00:00:00:01", 0)[2] == "pxelinux.0"
        assert probe(client_ns, "52:54:00:00:00:02", 7)[2] == "grubnetx64.efi"
        dnsmasq.stop()


# ---------------------------------------------------------------- bridges, live

def test_bridge_apply_in_a_namespace(tmp_path):
    stage = tmp_path / "root"
    scripts = stage / "etc/sysconfig/network-scripts"
    scripts.mkdir(parents=True)
    (scripts / "ifcfg-eth0").write_text("DEVICE=eth0\nBOOTPROTO=static\nIPADDR=10.215.0.2\nPREFIX=24\nONBOOT=yes\n")
    with namespace("golden-br-") as ns:
        # eth0 is this namespace's "NIC"; its peer stays in the same namespace.
        ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "wire0")
        ip(ns, "link", "set", "wire0", "up")
        ip(ns, "addr", "add", "10.215.0.2/24", "dev", "eth0")
        ip(ns, "link", "set", "eth0", "up")
        ip(ns, "route", "add", "default", "via", "10.215.0.1", "dev", "eth0")
        nic_mac = ip_json(ns, "link", "show", "dev", "eth0")[0]["address"]
        cmd = ["ip", "netns", "exec", ns, str(GOLDEN), "bridge", "apply", "installation", "--nic", "eth0",
               "--root", str(stage), "--live", "--style", "rhel"]
        refused = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "eth0 carries this host's only default route" in refused.stderr
        assert not (scripts / "ifcfg-installation").exists()
        assert ip_json(ns, "link", "show", "dev", "eth0")[0].get("master") is None

        done = subprocess.run(cmd + ["--force"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        bridge = ip_json(ns, "-d", "link", "show", "dev", "installation")[0]
        assert bridge["linkinfo"]["info_kind"] == "bridge"
        assert bridge["address"] == nic_mac
        assert ip_json(ns, "link", "show", "dev", "eth0")[0]["master"] == "installation"
        addrs = [a["local"] for a in ip_json(ns, "-4", "addr", "show", "dev", "installation")[0]["addr_info"]]
        assert addrs == ["10.215.0.2"]
        assert [a for e in ip_json(ns, "-4", "addr", "show", "dev", "eth0") for a in e["addr_info"]] == []
        assert [r["dev"] for r in ip_json(ns, "route", "show", "default")] == ["installation"]

        again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stdout + again.stderr     # eth0 is no longer the uplink
    text = (scripts / "ifcfg-installation").read_text()
    # eth0 was configured statically, so the bridge takes over its address, not DHCP
    assert ("DEVICE=installation\nTYPE=Bridge\nBOOTPROTO=static\nIPADDR=10.215.0.2\nPREFIX=24\n"
            "ONBOOT=yes\nDELAY=0\nNM_CONTROLLED=no\n") in text
    port = (scripts / "ifcfg-eth0").read_text()
    assert "BRIDGE=installation" in port and "IPADDR" not in port and "BOOTPROTO" not in port
    assert f"HWADDR={nic_mac.upper()}" in port
    assert (scripts / "ifcfg-eth0.golden.bak").is_file()
