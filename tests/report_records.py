"""Build directories for report tests: build.json, clones.json, screenshot.png and serial.log as golden writes them.

The inspect, customize and seal parts are made by the real image layer
(`inspect_image`, `customize`, `seal`) on a small RHEL 7-like file tree: the
loop backend's guest handle is pointed at a plain directory, which is what
its file primitives work on once the guest is mounted, so no disk, mount or
appliance is needed and the reports have exactly the structure a build records.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path

from tests.pngimage import write_png

GUEST = {
    "hostname": "rhel7-golden.example.com",
    "mac": "52:54:00:12:34:56",
    "ip": "192.0.2.10",
    "machine_id": "0123456789abcdef0123456789abcdef",
    "ifcfg_uuid": "5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03",
    "kernel": "3.10.0-1160.el7.x86_64",
    "root_uuid": "7e1d0c2a-0000-4000-8000-000000000705",
    "boot_uuid": "7e1d0c2a-0000-4000-8000-000000000701",
    "swap_uuid": "7e1d0c2a-0000-4000-8000-000000000706",
}
MiB = 1 << 20
# Colours of the failure screenshot, chosen so nothing else on the page has them.
MAGENTA, CYAN = (255, 0, 255), (0, 255, 255)


def _pubkey(kind: str, seed: bytes) -> str:
    blob = kind.encode() + hashlib.sha256(seed).digest()
    return f"{kind} {base64.b64encode(blob).decode()} root@rhel7-golden\n"


def guest_tree(root: Path) -> None:
    g = GUEST
    files = {
        "/etc/os-release": 'NAME="Red Hat Enterprise Linux Server"\nVERSION="7.9 (Maipo)"\nID="rhel"\n'
                           'ID_LIKE="fedora"\nVERSION_ID="7.9"\n'
                           'PRETTY_NAME="Red Hat Enterprise Linux Server 7.9 (Maipo)"\n',
        "/etc/redhat-release": "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n",
        "/etc/fstab": f"UUID={g['root_uuid']} / ext4 defaults 1 1\nUUID={g['boot_uuid']} /boot ext4 defaults 1 2\n"
                      f"UUID={g['swap_uuid']} swap swap defaults 0 0\n",
        "/etc/hostname": g["hostname"] + "\n",
        "/etc/hosts": "127.0.0.1 localhost\n192.0.2.10 rhel7-golden.example.com rhel7-golden\n",
        "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
        "/etc/shadow": "root:$6$saltsalt$notarealhash:19000:0:99999:7:::\n",
        "/etc/group": "root:x:0:\n",
        "/etc/machine-id": g["machine_id"] + "\n",
        "/etc/sysconfig/network": f"NETWORKING=yes\nHOSTNAME={g['hostname']}\n",
        "/etc/sysconfig/network-scripts/ifcfg-eth0":
            f'DEVICE=eth0\nTYPE=Ethernet\nBOOTPROTO=none\nONBOOT=yes\nHWADDR={g["mac"].upper()}\n'
            f'IPADDR={g["ip"]}\nPREFIX=24\nGATEWAY=192.0.2.1\nUUID={g["ifcfg_uuid"]}\n',
        "/etc/udev/rules.d/70-persistent-net.rules":
            f'SUBSYSTEM=="net", ACTION=="add", ATTR{{address}}=="{g["mac"]}", NAME="eth0"\n',
        "/etc/ssh/ssh_host_ed25519_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n",
        "/etc/ssh/ssh_host_ed25519_key.pub": _pubkey("ssh-ed25519", b"ed25519"),
        "/etc/ssh/ssh_host_rsa_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n",
        "/etc/ssh/ssh_host_rsa_key.pub": _pubkey("ssh-rsa", b"rsa"),
        f"/boot/vmlinuz-{g['kernel']}": "MZ kernel",
        f"/boot/initramfs-{g['kernel']}.img": "initramfs",
        "/var/log/messages": "Nov 25 installed\n",
        "/var/lib/random-seed": "seed",
        "/root/anaconda-ks.cfg": "rootpw --iscrypted $6$saltsalt$notarealhash\n",
        "/root/.bash_history": "ls\n",
    }
    for path, content in files.items():
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(content)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "bin").mkdir(exist_ok=True)
    # Architecture detection reads an ELF header; any x86-64 binary will do.
    (root / "bin/bash").write_bytes(Path("/bin/true").read_bytes())


def image_reports(work: Path, customize_ops: list | None = None) -> dict:
    """{"inspect": ..., "customize": ..., "seal": ...} from the real image layer on a directory guest."""
    from builder.image import customize, inspect_image, seal
    from builder.image.diskfile import DiskFile
    from builder.image.loop import LoopGuest
    from builder.image.model import Filesystem, Layout, Mount, Partition

    g = GUEST
    guest_tree(work / "root")
    disk = DiskFile(work / "disk0.qcow2", "qcow2", 2048 * MiB, ())
    h = LoopGuest(disk, readonly=False, view=str(disk.path), workdir=work)
    h.layout = Layout(
        partitions=[Partition("/dev/sda1", 1, MiB, 256 * MiB, "primary", "0x83", "7e1d0c2a-01", bootable=True),
                    Partition("/dev/sda2", 2, 257 * MiB, 128 * MiB, "primary", "0x82", "7e1d0c2a-02"),
                    Partition("/dev/sda3", 3, 385 * MiB, 1663 * MiB, "primary", "0x83", "7e1d0c2a-03")],
        filesystems=[Filesystem("/dev/sda1", "ext4", "boot", g["boot_uuid"], 256 * MiB),
                     Filesystem("/dev/sda2", "swap", "", g["swap_uuid"], 128 * MiB),
                     Filesystem("/dev/sda3", "ext4", "root", g["root_uuid"], 1663 * MiB)],
        mounts=[Mount("/", "/dev/sda3", "ext4"), Mount("/boot", "/dev/sda1", "ext4")],
        root="/dev/sda3")
    ops = customize_ops if customize_ops is not None else [
        {"hostname": "web-golden"}, {"write": {"path": "/etc/motd", "content": "built by golden\n"}}]
    return {"inspect": inspect_image(h, os_hint="rhel7.9"),
            "customize": customize(h, ops, os_hint="rhel7.9"),
            "seal": seal(h, os_hint="rhel7.9")}


def _stages(statuses: dict[str, tuple[str, float, str]]) -> list[dict]:
    names = ("validate", "kickstart", "media", "install", "inspect", "customize", "seal", "publish")
    out = []
    for name in names:
        status, seconds, detail = statuses.get(name, ("pending", 0.0, ""))
        out.append({"name": name, "status": status, "seconds": seconds,
                    "started": "2026-11-25T23:40:00Z" if status != "pending" else None,
                    "key": hashlib.sha256(name.encode()).hexdigest(), "detail": detail})
    return out


def artifact(kind: str, path: Path) -> dict:
    data = path.read_bytes()
    return {"kind": kind, "path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def base_record(name: str, build_dir: Path, status: str) -> dict:
    return {
        "golden_manifest": 1,
        "name": name,
        "status": status,
        "created": "2026-11-25T23:40:00Z",
        "golden_version": "0.1.0",
        "profile": {"path": f"/srv/profiles/{name}.yaml",
                    "chain": [f"/srv/profiles/{name}.yaml", "/srv/profiles/base/rhel.yaml"],
                    "sha256": "ab" * 32,
                    "resolved": {"name": name, "os": "rhel7.9", "arch": "x86_64", "hypervisor": "kvm", "virt": "fv",
                                 "kickstart": {"root_password": "<secret: file secrets/root.pass>"}}},
        "os": {"key": "rhel7.9", "id": "rhel7.9", "name": "Red Hat Enterprise Linux 7.9", "family": "linux"},
        "connect": "qemu:///system",
        "accelerator": "qemu",
        "tools": {"golden": "0.1.0", "qemu": "7.2.22", "libvirt": "9.0.0", "libguestfs": "1.48.6",
                  "virt-install": "4.1.0"},
        "stages": [],
        "artifacts": [],
        "image": None,
        "domain_xml": None,
        "inspect": None,
        "customize": None,
        "seal": None,
        "failure": None,
    }


def write_common_files(build_dir: Path) -> None:
    """What a build directory holds besides the records; the report must not show their content."""
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "ks.cfg").write_text("rootpw --iscrypted $6$KICKSTARTSECRETHASH\n%post\necho hi\n%end\n")
    (build_dir / "domain.xml").write_text("<domain type='qemu'><name>x</name></domain>\n")
    (build_dir / "serial.log").write_text("".join(f"boot line {i}\n" for i in range(100)))


def published_build(build_dir: Path, reports: dict, name: str = "rhel7-golden") -> dict:
    """A published build's directory; returns its record."""
    write_common_files(build_dir)
    image = build_dir.parent / f"{name}.qcow2"
    image.write_bytes(b"QFI\xfb" + b"\0" * 4092)
    record = base_record(name, build_dir, "published")
    record["stages"] = _stages({
        "validate": ("ran", 0.02, ""), "kickstart": ("ran", 0.05, "validated by pykickstart RHEL7"),
        "media": ("cached", 0.0, "install media /var/cache/golden/rhel.iso"),
        "install": ("ran", 300.0, "296 s under qemu, MAC 52:54:00:12:34:56"),
        "inspect": ("ran", 30.0, "rhel, 7.9, hostname rhel7-golden.example.com"),
        "customize": ("ran", 10.0, "2 operation(s)"), "seal": ("ran", 20.0, "7 operation(s) changed something"),
        "publish": ("ran", 40.0, f"{name}.qcow2")})
    record["artifacts"] = [artifact("kickstart", build_dir / "ks.cfg"),
                           artifact("domain-xml", build_dir / "domain.xml"),
                           artifact("serial-log", build_dir / "serial.log"),
                           {"kind": "disk", "path": str(build_dir / "disk0.qcow2"), "sha256": None,
                            "bytes": 2148073472},
                           {**artifact("image", image), "bytes": 33226752}]
    record["image"] = {"path": str(image), "format": "qcow2", "sha256": record["artifacts"][-1]["sha256"],
                       "bytes": 33226752, "virtual_size": 2147483648}
    record["domain_xml"] = str(build_dir.parent / f"{name}.domain.xml")
    record["published"] = "2026-11-25T23:47:00Z"
    record.update(copy.deepcopy(reports))
    write_record(build_dir, record)
    return record


def clones_record(image_sha256: str, source: str) -> dict:
    return {"source": source, "source_sha256": image_sha256, "clones": [
        {"name": "web-1", "uuid": "11111111-2222-4333-8444-555555555501", "macs": ["52:54:00:aa:00:01"],
         "hostname": "web-1", "disk": "/srv/clones/web-1.qcow2", "linked": True, "created": "2026-11-25T23:50:00Z",
         "verified": {"ok": True, "checked": "2026-11-25T23:52:00Z",
                      "observed": {"hostname": "web-1", "mac": "52:54:00:aa:00:01",
                                   "machine-id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
                                   "uuid": "11111111-2222-4333-8444-555555555501"}, "problems": []}},
        {"name": "web-2", "uuid": "11111111-2222-4333-8444-555555555502", "macs": ["52:54:00:aa:00:02"],
         "hostname": "web-2", "disk": "/srv/clones/web-2.qcow2", "linked": False, "created": "2026-11-25T23:50:00Z",
         "verified": {"ok": False, "checked": "2026-11-25T23:52:00Z",
                      "observed": {"hostname": "rhel7-golden", "mac": "52:54:00:aa:00:02",
                                   "machine-id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
                                   "uuid": "11111111-2222-4333-8444-555555555502"},
                      "problems": ["hostname 'rhel7-golden', expected 'web-2'",
                                   "machine-id aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1 is shared with web-1"]}},
        {"name": "web-3", "uuid": "11111111-2222-4333-8444-555555555503", "macs": ["52:54:00:aa:00:03"],
         "hostname": "web-3", "disk": "/srv/clones/web-3.qcow2", "linked": True, "created": "2026-11-25T23:50:00Z",
         "verified": None},
    ]}


def screenshot_png(width: int = 320, height: int = 200) -> bytes:
    """A console-like screenshot: magenta left half, cyan right half, a black band at the bottom."""
    def pixel(x, y):
        if y >= height - 20:
            return (0, 0, 0)
        return MAGENTA if x < width // 2 else CYAN
    return write_png(width, height, pixel)


HOSTILE_SERIAL = [
    "golden-installer: stage=post",
    "<script>alert(1)</script>",
    "\x1b[1;31mred text\x1b[0m & <b>not bold</b>",
    "progress 10%\rprogress 99%",
]


def failed_build(build_dir: Path, name: str = "rhel7-broken", serial_lines: int = 100,
                 screenshot: bytes | None = None) -> dict:
    """A build that failed in the install, with a console screenshot and a serial log ending in markup."""
    write_common_files(build_dir)
    lines = [f"[ {i:5d}.000000] boot line {i}" for i in range(serial_lines)] + HOSTILE_SERIAL
    (build_dir / "serial.log").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    (build_dir / "screenshot.png").write_bytes(screenshot if screenshot is not None else screenshot_png())
    record = base_record(name, build_dir, "failed")
    record["stages"] = _stages({
        "validate": ("ran", 0.02, ""), "kickstart": ("ran", 0.05, "validated by pykickstart RHEL7"),
        "media": ("ran", 8.5, ""), "install": ("failed", 600.0, "")})
    record["artifacts"] = [artifact("kickstart", build_dir / "ks.cfg"),
                           artifact("serial-log", build_dir / "serial.log"),
                           artifact("screenshot", build_dir / "screenshot.png")]
    record["failure"] = {"stage": "install", "exit_code": 4,
                         "message": "the install hung: no serial output and no disk writes for 10m",
                         "hint": "look at the screenshot and the serial log; raise install.inactivity if the "
                                 "installer is just slow",
                         "screenshot": str(build_dir / "screenshot.png"),
                         "serial_log": str(build_dir / "serial.log"),
                         "serial_tail": lines[-40:]}
    write_record(build_dir, record)
    return record


def write_record(build_dir: Path, record: dict) -> None:
    (build_dir / "build.json").write_text(json.dumps(record, indent=2) + "\n")
