"""`golden clone` of a Windows image: refused unless sysprep generalized it.

Clones of a Windows install that was not generalized share its SID and
computer name, which breaks domain joins. golden reads the image state
offline (builder/image/windows_inspect.py) before any clone disk is made.
Writing each clone's own specialize/OOBE answers is not implemented yet,
so a generalized image is refused too, with that said plainly.
"""

from __future__ import annotations

from builder.errors import InputError
from builder.image import windows_inspect


def refuse_windows(disk) -> None:
    """Raise for a Windows system disk; return quietly for anything else (milliseconds for non-NTFS disks)."""
    if not windows_inspect.holds_ntfs(disk.path):
        return
    report = windows_inspect.inspect_image(disk.path)
    if report is not None:
        raise refusal(report, str(disk.path))


def refusal(report: dict, where: str) -> InputError:
    """Why a Windows image with this inspect report cannot be cloned."""
    w, name = report["windows"], report["os"]["pretty_name"]
    if not w["generalized"]:
        return InputError(
            f"{name} is not generalized (image state: {w['image_state']}, read from {w['image_state_source']}); "
            f"its clones would share one SID and the computer name {report['hostname'] or '?'}",
            where=where,
            hint="rebuild it with windows.generalize: true (the default), or run "
                 "`sysprep /generalize /oobe /shutdown` in the guest (XP/2003: `sysprep -reseal -mini -quiet`) "
                 "and clone the powered-off disk")
    return InputError(
        f"{name} is generalized ({w['image_state']}), but golden clone does not yet write each Windows "
        "clone's own answer file (computer name) into its disk",
        where=where,
        hint="copy the disk and let each copy's first boot run Windows' own specialize pass, "
             "or use `golden inspect` to check the image state")
