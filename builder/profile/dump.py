"""The profile as a build sees it, safe to print or store: secrets are described, never shown."""

from __future__ import annotations

from builder import catalog
from builder.profile import effective
from builder.profile.loader import LoadedProfile
from builder.profile.secrets import describe


def resolved_dump(loaded: LoadedProfile) -> dict:
    """The profile as a build sees it: inherited values, catalog defaults, secrets hidden."""
    p = loaded.profile
    entry = catalog.get(p.os)
    data = p.model_dump(mode="json", exclude_none=False)
    targets = effective.disk_targets(p, entry)
    for i, disk in enumerate(p.disks):
        d = data["disks"][i]
        d["bus"] = effective.disk_bus(p, entry, i, disk)
        d["target"] = targets[i]
        d["size"] = f"{effective.disk_size(entry, disk) >> 20}M"
    data["network"]["model"] = effective.nic_model(p, entry)
    data["network"]["source"] = effective.network_source(p)
    data["machine"]["clock"]["offset"] = effective.clock_offset(p, entry)
    data["machine"]["machine_type"] = effective.machine_type(p)
    if p.kickstart:
        data["kickstart"]["root_password"] = describe(p.kickstart.root_password)
        for i, user in enumerate(p.kickstart.users):
            if user.password:
                data["kickstart"]["users"][i]["password"] = describe(user.password)
        data["kickstart"]["password_hash"] = p.kickstart.password_hash or entry.kickstart.password_hash
    if p.windows:
        data["windows"]["admin_password"] = describe(p.windows.admin_password)
        if p.windows.product_key:
            data["windows"]["product_key"] = describe(p.windows.product_key)
    for i, step in enumerate(p.customize):
        if step.root_password:
            data["customize"][i]["root_password"] = describe(step.root_password)
    data["customize"] = [{k: v for k, v in s.items() if v is not None} for s in data["customize"]]
    data["install"]["timeout"] = f"{p.install.timeout}s"
    data["install"]["inactivity"] = f"{p.install.inactivity}s"
    return data
