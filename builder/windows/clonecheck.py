"""`golden clone` of a Windows image: refused unless sysprep generalized it.

Clones of a Windows install that was not generalized share its SID and
computer name, which breaks domain joins. golden reads the image state
offline (builder/image/windows_inspect.py) before any clone disk is made;
a generalized image is cloned, each clone with its own computer name
(builder/windows/cloneanswer.py).
"""

from __future__ import annotations

from builder.errors import InputError
from builder.image import windows_inspect


def refuse_windows(disk) -> dict | None:
    """The Windows inspect report of a generalized system disk; None for anything else; raises when not generalized.

    Milliseconds for disks without NTFS.
    """
    if not windows_inspect.holds_ntfs(disk.path):
        return None
    report = windows_inspect.inspect_image(disk.path)
    if report is not None and not report["windows"]["generalized"]:
        raise refusal(report, str(disk.path))
    return report


def refusal(report: dict, where: str) -> InputError:
    """Why a Windows image that sysprep did not generalize cannot be cloned."""
    w, name = report["windows"], report["os"]["pretty_name"]
    return InputError(
        f"{name} is not generalized (image state: {w['image_state']}, read from {w['image_state_source']}); "
        f"its clones would share one SID and the computer name {report['hostname'] or '?'}",
        where=where,
        hint="rebuild it with windows.generalize: true (the default), or run "
             "`sysprep /generalize /oobe /shutdown` in the guest (XP/2003: `sysprep -reseal -mini -quiet`) "
             "and clone the powered-off disk")
