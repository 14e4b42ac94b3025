"""Planning: everything a build would write and run, computed without side effects.

`golden plan` prints it; `golden install` and `golden build` carry it out.
Host knowledge (accelerator, constant_tsc, MAC, resolved media) comes in as
explicit inputs so the same inputs always give the same plan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from builder import catalog, install_methods
from builder.catalog import OsEntry
from builder.layout import BuildLayout
from builder.profile import effective
from builder.profile.loader import LoadedProfile
from builder.render.kickstart import HostFacts, KickstartResult
from builder.render.kickstart import render as render_kickstart
from builder.virt.install_cmd import InstallTarget, build_argv, shell_line


@dataclass(frozen=True)
class Artifact:
    path: Path
    kind: str
    description: str
    sha256: str | None = None


@dataclass
class BuildPlan:
    profile: str
    source: Path
    os: OsEntry
    layout: BuildLayout
    artifacts: list[Artifact]
    virt_install: list[str]
    kickstart: KickstartResult | None
    image_steps: dict
    target: InstallTarget
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "profile": self.profile,
            "source": str(self.source),
            "os": {"id": self.os.id, "name": self.os.name, "pykickstart": self.os.pykickstart},
            "accelerator": self.target.virt_type,
            "connect": self.target.connect,
            "artifacts": [{"path": str(a.path), "kind": a.kind, "description": a.description,
                           **({"sha256": a.sha256} if a.sha256 else {})} for a in self.artifacts],
            "virt_install": self.virt_install,
            "virt_install_shell": shell_line(self.virt_install),
            "image_steps": self.image_steps,
            "notes": self.notes,
        }


def _media_description(loaded: LoadedProfile) -> str:
    media = loaded.profile.install.media
    return "golden's demo install media (cached)" if media == "demo" else str(media)


def make_plan(loaded: LoadedProfile, *, cwd: Path, host: HostFacts = HostFacts(),
              target: InstallTarget = InstallTarget()) -> BuildPlan:
    p = loaded.profile
    entry = catalog.get(p.os)
    layout = BuildLayout.for_profile(p, cwd)
    artifacts: list[Artifact] = []
    notes: list[str] = []
    ks = None
    method = install_methods.get(p.install.method)

    if not entry.is_windows and p.kickstart is not None:
        ks = render_kickstart(loaded, host)
        artifacts.append(Artifact(layout.kickstart, "kickstart",
                                  f"kickstart, validated by pykickstart {ks.version}",
                                  hashlib.sha256(ks.data).hexdigest()))
        artifacts += method.artifacts(entry, layout, _media_description(loaded))
    if entry.is_windows and p.windows is not None:
        from builder.windows import media as windows_media
        wplan = windows_media.plan(p, entry)
        artifacts.append(Artifact(layout.unattend_dir / wplan.answer_file, "answer-file",
                                  f"Windows {wplan.answer_file} (a copy of the one on the driver medium)"))
        if "drivers" in effective.floppies(p, entry):
            artifacts.append(Artifact(layout.driver_floppy, "floppy", "1.44 MB floppy (fda): " + wplan.describe()))
        if "drivers" in effective.cdroms(p, entry):
            artifacts.append(Artifact(layout.driver_iso, "iso", "driver CD: " + wplan.describe()))
    for i, path in enumerate(layout.disks):
        if method.imports_first_disk and i == 0:
            continue
        disk = p.disks[i]
        artifacts.append(Artifact(path, "disk", f"{effective.disk_size(entry, disk) >> 20} MiB {disk.format} "
                                  f"disk on {effective.disk_bus(p, entry, i, disk)}"))
    artifacts += [
        Artifact(layout.serial_log, "log", "serial console log of the install"),
        Artifact(layout.domain_xml, "xml", "libvirt domain XML of the installed guest (template for clones)"),
        Artifact(layout.image, "image", f"published golden image ({p.output.format})"),
        Artifact(layout.manifest, "manifest", "build manifest: profile hash, artifacts, tool versions, reports"),
        Artifact(layout.report, "report", "HTML build report"),
    ]
    if p.install.media == "demo":
        notes.append("install.media `demo` is golden's own demo media, not Red Hat Enterprise Linux")
    if p.hypervisor == "xen":
        notes.append("Xen profile: run it against a Xen libvirt host (--connect xen:///system)")
    if p.hostdevs:
        iommu = "iommu=on on the xen.gz line" if p.hypervisor == "xen" else "intel_iommu=on on the kernel line (Intel)"
        notes.append(f"PCI passthrough ({', '.join(d.pci for d in p.hostdevs)}): the host needs VT-d/AMD IOMMU in "
                     f"the BIOS and {iommu}, the node devices present (virsh nodedev-list), "
                     "`setsebool -P virt_use_sysfs 1`, and the guest offline; the clone template drops them")
    argv = build_argv(p, entry, layout, target)
    steps = {
        "customize": [step.model_dump(exclude_none=True, mode="json") for step in p.customize],
        "seal": {"skip": p.seal.skip, "only": p.seal.only},
    }
    for step in steps["customize"]:
        if "root_password" in step:
            step["root_password"] = "<secret>"
    return BuildPlan(profile=p.name, source=loaded.source, os=entry, layout=layout, artifacts=artifacts,
                     virt_install=argv, kickstart=ks, image_steps=steps, target=target, notes=notes)
