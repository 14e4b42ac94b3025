"""Inspect: what is in a guest image, as a JSON-ready dict with a stable key order.

Besides the OS facts virt-inspector reports, it lists the guest's identity
state and the "not golden yet" findings: every per-machine item a default
seal would still reset.
"""

from __future__ import annotations

from builder.image import bootloader, netconf, packages, shellvars
from builder.image.fstab import parse_fstab, resolve_spec
from builder.image.identity import DBUS_MACHINE_ID, MACHINE_ID, machine_id_state, ssh_host_keys
from builder.image.osinfo import apply_hint, detect


def _hostname(h) -> tuple[str | None, str | None]:
    if h.is_file("/etc/hostname"):
        name = h.read_text("/etc/hostname").strip()
        if name:
            return name, "/etc/hostname"
    if h.is_file("/etc/sysconfig/network"):
        name = shellvars.parse(h.read_text("/etc/sysconfig/network")).get("HOSTNAME")
        if name:
            return name, "/etc/sysconfig/network"
    return None, None


def _kernels(h) -> list[dict]:
    out = []
    for path in h.glob("/boot/vmlinuz-*"):
        version = path[len("/boot/vmlinuz-"):]
        initrd = next((p for p in (f"/boot/initramfs-{version}.img", f"/boot/initrd-{version}.img",
                                   f"/boot/initrd.img-{version}") if h.is_file(p)), None)
        out.append({"path": path, "version": version, "initrd": initrd, "size": h.stat(path).size})
    return out


def _fstab(h) -> list[dict]:
    if not h.is_file("/etc/fstab"):
        return []
    out = []
    for e in parse_fstab(h.read_text("/etc/fstab")):
        out.append({**e.to_dict(), "device": resolve_spec(e.spec, h.filesystems(), h.partitions(),
                                                          h.layout.mapper_names)})
    return out


def _network(h) -> dict:
    ifcfg = [netconf.read_ifcfg(h, p) for p in netconf.ifcfg_files(h)]
    keyfiles = [netconf.read_keyfile(h, p) for p in netconf.keyfiles(h)]
    rules = netconf.persistent_net_rules(h.read_text(netconf.PERSISTENT_NET)) \
        if h.is_file(netconf.PERSISTENT_NET) else []
    sysconfig = shellvars.parse(h.read_text("/etc/sysconfig/network")) \
        if h.is_file("/etc/sysconfig/network") else {}
    return {"sysconfig_network": {k: sysconfig[k] for k in sorted(sysconfig)}, "ifcfg": ifcfg,
            "keyfiles": keyfiles, "persistent_net_rules": rules}


def _findings(h, identity: dict, network: dict) -> list[str]:
    f = []
    mid = identity["machine_id"]
    if mid["state"] in ("set", "invalid"):
        f.append(f"machine-id set in {MACHINE_ID}")
    dbus = identity["dbus_machine_id"]
    if dbus["state"] in ("set", "invalid"):
        f.append(f"machine-id copy in {DBUS_MACHINE_ID}")
    if identity["ssh_host_keys"]:
        f.append(f"ssh host keys present ({len(identity['ssh_host_keys'])})")
    for c in network["ifcfg"]:
        name = c["path"].rsplit("/", 1)[1]
        for key in ("hwaddr", "uuid", "hostname", "dhcp_hostname"):
            if c[key]:
                f.append(f"{key.upper()} pinned in {name}" if key in ("hwaddr", "uuid")
                         else f"{key.upper()} set in {name}")
    host = network["sysconfig_network"].get("HOSTNAME")
    if host and host != "localhost.localdomain":
        f.append(f"HOSTNAME={host} in /etc/sysconfig/network")
    for k in network["keyfiles"]:
        name = k["path"].rsplit("/", 1)[1]
        if k["uuid"]:
            f.append(f"uuid pinned in NetworkManager keyfile {name}")
        if k["mac_address"]:
            f.append(f"mac-address pinned in NetworkManager keyfile {name}")
    if network["persistent_net_rules"]:
        macs = ", ".join(r["mac"] for r in network["persistent_net_rules"])
        f.append(f"persistent-net rules pin MACs ({macs})")
    leftovers = (("/var/lib/random-seed", "random seed saved"), ("/var/lib/systemd/random-seed", "random seed saved"),
                 ("/var/lib/yum/uuid", "yum uuid present"), ("/etc/sysconfig/rhn/systemid", "RHN systemid present"),
                 ("/etc/pki/consumer/cert.pem", "subscription-manager consumer certificate present"),
                 ("/etc/lvm/devices/system.devices", "LVM system.devices pins disk ids"),
                 ("/var/lib/NetworkManager/secret_key", "NetworkManager secret_key present"))
    for path, text in leftovers:
        if h.lexists(path):
            f.append(f"{text} ({path})")
    leases = [p for pattern in ("/var/lib/dhclient/*", "/var/lib/dhcp/dhclient*", "/var/lib/NetworkManager/*.lease")
              for p in h.glob(pattern) if h.is_file(p)]
    if leases:
        f.append(f"DHCP leases present ({len(leases)})")
    # RHEL 5/6 hard-link the same ifcfg file under two folders.
    return list(dict.fromkeys(f))


def inspect_image(h, *, os_hint: str | None = None) -> dict:
    """Everything worth knowing about an open guest; JSON-ready, keys in a fixed order."""
    osi = apply_hint(detect(h), os_hint)
    hostname, source = _hostname(h)
    network = _network(h)
    identity = {
        "machine_id": machine_id_state(h, MACHINE_ID),
        "dbus_machine_id": machine_id_state(h, DBUS_MACHINE_ID),
        "ssh_host_keys": ssh_host_keys(h),
        "persistent_net_macs": [r["mac"] for r in network["persistent_net_rules"]],
    }
    inventory = packages.inventory(h)
    return {
        "os": osi.to_dict(),
        "hostname": hostname,
        "hostname_source": source,
        "disk": {"format": h.disk.format, "virtual_size": h.disk.virtual_size},
        # The guest's disks in order: the first is /dev/sda in partitions and file systems, the next /dev/sdb.
        "disks": [{"path": str(d.path), "device": f"/dev/sd{chr(ord('a') + i)}", "format": d.format,
                   "virtual_size": d.virtual_size} for i, d in enumerate(getattr(h, "disks", (h.disk,)))],
        "root": h.root_device,
        "partitions": [p.to_dict() for p in h.partitions()],
        "filesystems": [f.to_dict() for f in h.filesystems()],
        "lvm": h.lvm().to_dict(),
        "fstab": _fstab(h),
        "mountpoints": [m.to_dict() for m in h.mountpoints()],
        "kernels": _kernels(h),
        "bootloaders": bootloader.inspect_bootloaders(h),
        "packages": inventory["packages"],
        "packages_source": inventory["format"],
        "packages_note": inventory["note"],
        "network": network,
        "identity": identity,
        "findings": _findings(h, identity, network),
        "notes": list(h.layout.notes),
    }
