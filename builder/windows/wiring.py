"""What `golden install` writes for a Windows profile before virt-install runs.

The answer file goes to the build directory's unattend/ (a record, mode
0600) and onto the medium Setup reads it from: the floppy for XP/2003 (with
txtsetup.oem and the F6 driver), the driver CD for later releases. The
paths are the layout's, which is what install_cmd attaches. Both hold the
product key (and winnt.sif the Administrator password), so they are 0600;
libvirt's DAC driver hands them to qemu while the guest runs.
"""

from __future__ import annotations

from builder.fsutil import atomic_write
from builder.layout import BuildLayout
from builder.media import fat, iso
from builder.profile.loader import LoadedProfile
from builder.windows import drivers, sysprep
from builder.windows.media import FLOPPY_LABEL, ISO_LABEL


def write_install_media(loaded: LoadedProfile, layout: BuildLayout) -> list:
    """Write the answer file and the driver medium; returns the paths written."""
    plan, files = drivers.build_files(loaded)
    written = []
    layout.unattend_dir.mkdir(parents=True, exist_ok=True)
    for name in (plan.answer_file, sysprep.INF_NAME):
        if name in files:
            record = layout.unattend_dir / name
            atomic_write(record, files[name], mode=0o600)
            written.append(record)
    layout.media_dir.mkdir(parents=True, exist_ok=True)
    if plan.medium == "floppy":
        written.append(fat.make_floppy(layout.driver_floppy, files, label=FLOPPY_LABEL))
        layout.driver_floppy.chmod(0o600)
    else:
        written.append(iso.write_iso(layout.driver_iso, files, ISO_LABEL, joliet=True, rock_ridge=True))
        layout.driver_iso.chmod(0o600)
    return written


def continue_setup(dom, first, run_again, event=lambda message: None):
    """Boot the guest once more after setup's first reboot; the outcome of the whole install.

    virt-install's install boot destroys the guest when it reboots, so the
    reboot that ends text mode (XP/2003) or Windows PE (2008+) looks like a
    finished install. The seed's answer for XP is "virsh start" after the
    file copy (8.3): the persistent definition restarts on reboot and keeps
    the install CD, so one start carries setup to the answer file's final
    `shutdown`. `run_again(seconds_left)` watches that second boot.
    """
    from builder.virt.watchdog import Outcome

    if not first.ok:
        return first
    event("Windows setup rebooted after copying files; starting the guest again for the rest of setup "
          "(seed 8.3)")
    dom.create()
    second = run_again(first.elapsed)
    return Outcome(second.status, second.reason, first.elapsed + second.elapsed, second.stage,
                   first.last_lines + second.last_lines)
