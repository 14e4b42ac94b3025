"""`golden doctor`: the guide's host checks (seed 33.6, 18, D9) with a verdict and a fix each."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from builder.virt import access, accel, hostboot, services
from builder.virt.hostfacts import cpu_flags


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str       # ok | warn | fail | info
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def _which(*names: str) -> dict[str, str | None]:
    return {n: shutil.which(n) for n in names}


def cpu_checks() -> list[Check]:
    flags = cpu_flags()
    out = []
    virt = "vmx" if "vmx" in flags else "svm" if "svm" in flags else None
    out.append(Check("cpu virtualization", "ok" if virt else "warn",
                     f"{virt} ({'Intel VT' if virt == 'vmx' else 'AMD-V'})" if virt
                     else "no vmx/svm flag: only TCG (and Xen PV) guests are possible",
                     "" if virt else "enable Intel VT / AMD-V in the BIOS (seed 36.12), or accept TCG speed"))
    out.append(Check("pae", "ok" if "pae" in flags else "warn", "present" if "pae" in flags else "missing",
                     "" if "pae" in flags else "Xen PV guests need PAE (seed HV-5)"))
    out.append(Check("64-bit (lm)", "ok" if "lm" in flags else "warn", "present" if "lm" in flags else "missing"))
    tsc = "constant_tsc" in flags
    out.append(Check("constant_tsc", "ok" if tsc else "info",
                     "present: KVM guests need no clock arguments" if tsc
                     else "missing: golden adds the chapter 17 clock arguments to KVM guests",
                     "" if tsc else "run ntpd on host and guests (seed ch. 17)"))
    return out


def kvm_checks(probe_result: accel.AccelResult) -> list[Check]:
    out = []
    exists = os.path.exists("/dev/kvm")
    modules = [m for m in ("kvm", "kvm_intel", "kvm_amd") if Path(f"/sys/module/{m}").exists()]
    out.append(Check("/dev/kvm", "ok" if exists else "warn", "present" if exists else "missing",
                     "" if exists else "load kvm_intel or kvm_amd (`modprobe kvm_intel`)"))
    out.append(Check("kvm modules", "ok" if modules else "info", ", ".join(modules) or "none loaded"))
    out.append(Check("KVM usable", "ok" if probe_result.kvm_usable else "warn",
                     f"{probe_result.reason} -> golden uses {probe_result.accel.upper()}"
                     + ("" if probe_result.kvm_usable else " (virt-install --virt-type qemu, libguestfs force_tcg)"),
                     "" if probe_result.kvm_usable else
                     "TCG works but is slow; fix KVM (nested virtualization, host kernel) for speed"))
    return out


def service_checks() -> list[Check]:
    out = []
    for daemon in services.DAEMONS:
        running = daemon.running()
        fix = "" if running else ("golden doctor --start-services" if not services.has_init_system()
                                  else f"systemctl start {daemon.name}")
        out.append(Check(daemon.name, "ok" if running else "fail", "running" if running else "not running", fix))
    return out


def tool_checks() -> list[Check]:
    out = []
    required = {"qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils", "virt-install": "virtinst",
                "virsh": "libvirt-clients"}
    optional = {"qemu-storage-daemon": "qemu-system-common", "xorriso": "xorriso", "mdir": "mtools",
                "dnsmasq": "dnsmasq-base", "losetup": "mount"}
    for tool, package in required.items():
        path = shutil.which(tool)
        out.append(Check(tool, "ok" if path else "fail", path or "missing",
                         "" if path else f"apt-get install {package} (or ./scripts/bootstrap.sh)"))
    for tool, package in optional.items():
        path = shutil.which(tool)
        out.append(Check(tool, "ok" if path else "warn", path or "missing", "" if path else f"apt-get install {package}"))
    try:
        import guestfs  # noqa: F401
        out.append(Check("libguestfs", "ok", "python3-guestfs importable"))
    except ImportError:
        out.append(Check("libguestfs", "fail", "python binding missing",
                         "apt-get install python3-guestfs libguestfs-tools; build the venv with --system-site-packages"))
    for firmware, use in (("/usr/share/OVMF/OVMF_CODE_4M.fd", "UEFI guests"),
                          ("/usr/lib/PXELINUX/pxelinux.0", "PXE trees")):
        present = os.path.exists(firmware)
        out.append(Check(Path(firmware).name, "ok" if present else "warn",
                         f"{firmware} ({use})" if present else f"missing: needed for {use}"))
    return out


# The smallest domain libvirt's schema accepts: proves the schema files are there too.
_PROBE_DOMAIN = ("<domain type='qemu'><name>golden-doctor</name><memory>65536</memory>"
                 "<os><type>hvm</type></os></domain>\n")


def xml_checks() -> list[Check]:
    """virt-xml-validate is a shell script around xmllint: it works only when both are there."""
    xmllint, validate = shutil.which("xmllint"), shutil.which("virt-xml-validate")
    out = [Check("xmllint", "ok" if xmllint else "warn", xmllint or "missing: libvirt XML goes unchecked",
                 "" if xmllint else "apt-get install libxml2-utils")]
    if validate is None:
        out.append(Check("virt-xml-validate", "warn", "missing: libvirt XML goes unchecked",
                         "apt-get install libvirt-clients"))
        return out
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(_PROBE_DOMAIN)
        f.flush()
        try:
            proc = subprocess.run([validate, f.name, "domain"], capture_output=True, text=True, timeout=30)
            why = (proc.stderr or proc.stdout).strip()
            works = proc.returncode == 0
        except (OSError, subprocess.SubprocessError) as exc:
            works, why = False, str(exc)
    if works:
        out.append(Check("virt-xml-validate", "ok", f"{validate}: validates domain XML"))
    else:
        out.append(Check("virt-xml-validate", "warn", f"{validate} cannot validate a minimal domain: "
                         f"{why.splitlines()[-1] if why else 'no output'}",
                         "apt-get install libxml2-utils libvirt-clients (xmllint and libvirt's schemas)"))
    return out


def storage_checks(image_dir: Path) -> list[Check]:
    out = []
    exists = image_dir.is_dir()
    writable = exists and os.access(image_dir, os.W_OK)
    blocked = access.unreachable_dir(image_dir / "x")
    verdict = "ok" if writable and blocked is None else "warn"
    detail = f"{image_dir}: " + ("writable" if writable else "missing or not writable")
    if blocked is not None:
        detail += f"; libvirt's qemu user cannot enter {blocked}"
    out.append(Check("image directory", verdict, detail,
                     "" if verdict == "ok" else f"mkdir -p {image_dir} and make it reachable (chmod o+x on its parents)"))
    selinux = Path("/sys/fs/selinux/enforce")
    if selinux.exists():
        enforcing = selinux.read_text().strip() == "1"
        label = _selinux_label(image_dir)
        good = label is not None and ("virt_image_t" in label or "xen_image_t" in label)
        out.append(Check("selinux label", "ok" if good or not enforcing else "fail",
                         f"{'enforcing' if enforcing else 'permissive'}; {image_dir} is {label or 'unlabelled'}",
                         "" if good else f'semanage fcontext -a -t virt_image_t "{image_dir}(/.*)?" && '
                                         f"restorecon -R {image_dir} (seed 19.2)"))
    else:
        out.append(Check("selinux", "info", "SELinux not enabled: no image labels needed"))
    loops = sorted(Path("/dev").glob("loop[0-9]*"))
    control = Path("/dev/loop-control").exists()
    out.append(Check("loop devices", "ok" if control or loops else "warn",
                     f"{len(loops)} present, loop-control {'yes' if control else 'no'}",
                     "" if control else "modprobe loop max_loop=64 (seed 5.3)"))
    dm = Path("/dev/mapper/control").exists() and shutil.which("dmsetup") is not None and \
        subprocess.run(["dmsetup", "version"], capture_output=True).returncode == 0
    out.append(Check("device-mapper (kpartx)", "ok" if dm else "info",
                     "kpartx -a works" if dm else "no device-mapper: golden maps partitions with losetup --offset instead"))
    fuse = Path("/dev/fuse").exists()
    out.append(Check("fuse", "ok" if fuse else "info", "qcow2 images open without an appliance" if fuse
                     else "no /dev/fuse: qcow2 images go through libguestfs"))
    return out


def xen_checks() -> list[Check]:
    if Path("/proc/xen").exists():
        return [Check("hypervisor", "info", "running under Xen (dom0 kernel)")]
    return [Check("hypervisor", "info", f"{os.uname().release}: not a Xen dom0; Xen profiles need --connect to a Xen host")]


def host_checks(root: Path = Path("/")) -> list[Check]:
    """The host's release and the boot entry grub starts (the hypervisor switch, seed 18)."""
    release = hostboot.host_release(root)
    grub = hostboot.grub_default(root)
    return [Check("host release", "info", release),
            Check("grub default entry", "info", grub.describe())]


def default_network_check(uri: str = "qemu:///system") -> Check:
    """Report libvirt's `default` NAT network; never start it (that is the user's call)."""
    from builder.virt.connection import open_connection
    try:
        conn = open_connection(uri, readonly=True)
    except Exception as exc:                     # noqa: BLE001 - a daemon that is down is reported above
        return Check("default network", "info", f"not checked: {getattr(exc, 'message', exc)}")
    try:
        import libvirt
        try:
            net = conn.networkLookupByName("default")
        except libvirt.libvirtError:
            return Check("default network", "info", "not defined: profiles with network mode nat and source "
                         "default cannot start", "define a NAT network, or use network: {mode: bridge} or user")
        active, autostart = bool(net.isActive()), bool(net.autostart())
        bridge = net.bridgeName() if active else None
        if active:
            return Check("default network", "ok", f"active (bridge {bridge})"
                         + ("" if autostart else "; not autostarted: it is gone after a host reboot"),
                         "" if autostart else "virsh net-autostart default")
        return Check("default network", "warn", "defined but inactive: NAT guests (network mode nat, source "
                     "default) cannot start; golden does not start it for you",
                     "virsh net-start default" + ("" if autostart else " && virsh net-autostart default"))
    finally:
        conn.close()


def _selinux_label(path: Path) -> str | None:
    try:
        return os.getxattr(path, "security.selinux").decode().strip("\0")
    except OSError:
        return None


def run(image_dir: Path, start_services: bool = False) -> list[Check]:
    started = services.ensure_running() if start_services else []
    checks = host_checks() + cpu_checks() + kvm_checks(accel.probe()) + xen_checks() + service_checks()
    if started:
        checks.append(Check("started", "info", ", ".join(started)))
    checks.append(default_network_check())
    checks += tool_checks() + xml_checks() + storage_checks(image_dir)
    return checks
