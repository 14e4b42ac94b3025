"""Write small profiles for tests (a representative profile per catalog entry)."""

from __future__ import annotations

from pathlib import Path

import yaml

from builder import catalog

HASH = "$6$abcdefgh$abcdefghijklmnopqrstuv"


def representative(os_id: str, **overrides) -> dict:
    """A profile exercising most kickstart features that `os_id` supports."""
    entry = catalog.get(os_id)
    data = {
        "name": f"t-{os_id.replace('.', '-')}",
        "os": os_id,
        "arch": entry.arches[-1],
        "machine": {"memory": max(entry.min_memory, 1024)},
        "disks": [{"size": f"{max(entry.min_disk_gb, 4)}G"}],
        "install": {"method": "location", "media": "http://mirror.example.com/tree/"},
        "kickstart": {
            "root_password": {"hash": HASH},
            "timezone": "Europe/Paris",
            "network": {"bootproto": "static", "ip": "10.9.8.7", "netmask": "255.255.255.0",
                        "gateway": "10.9.8.1", "nameservers": ["10.9.8.1"], "hostname": "golden-test",
                        "ipv6": False},
            "firewall": {"services": ["ssh"], "ports": ["8080:tcp"]},
            "partitioning": {"scheme": "lvm"},
            "packages": ["@core" if entry.major >= 6 or entry.distro != "rhel" else "@base", "-kdump"],
            "services": {"enabled": ["sshd"], "disabled": ["kdump"]},
            "users": [{"name": "ops", "password": {"hash": HASH}, "groups": ["wheel"],
                       "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ops@example.com"]}],
            "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample root@example.com"],
            "bootloader": {"append": "quiet", "timeout": 5},
            "pre": "echo pre > /tmp/pre.log",
            "post": [{"script": "echo post > /root/post.log", "log": "/root/ks-post.log"},
                     {"script": "cp /tmp/pre.log /mnt/sysimage/root/", "nochroot": True}],
        },
    }
    if entry.kickstart.selinux:
        data["kickstart"]["selinux"] = "enforcing"
    if not entry.kickstart.lvm:
        data["kickstart"]["partitioning"] = {"scheme": "plain"}
    for key, value in overrides.items():
        data[key] = value
    return data


def write(tmp: Path, data: dict) -> Path:
    path = tmp / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
