"""A Windows profile's answer files, rendered and checked.

`render(loaded)` reads the profile's secrets, writes winnt.sif (XP/2003) or
autounattend.xml (2008 and later) and reads the bytes back with an
independent parser (INI / XML) before anyone uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder import catalog
from builder.errors import InputError
from builder.profile.loader import LoadedProfile
from builder.profile.secrets import reveal
from builder.windows import autounattend, media, sysprep, winnt


@dataclass(frozen=True)
class AnswerFiles:
    """The rendered answer file(s) of one profile; bytes are reproducible."""
    era: str                                     # sif | unattend
    files: dict[str, bytes]                      # name -> bytes (the answer file first; sysprep.inf for XP/2003)
    layout: media.MediaPlan
    checked: tuple[tuple[str, str], ...] = field(default=())

    @property
    def name(self) -> str:
        return self.layout.answer_file

    @property
    def data(self) -> bytes:
        return self.files[self.name]

    def checks(self) -> list[tuple[str, str]]:
        """(file, what was checked) pairs, for `golden validate`."""
        return list(self.checked)


def _secret(loaded: LoadedProfile, secret, field_name: str) -> str:
    try:
        return reveal(secret, loaded.base_dir).strip("\r\n")
    except (OSError, KeyError) as exc:
        raise InputError(f"cannot read the secret: {exc}", where=f"windows.{field_name}") from exc


def render(loaded: LoadedProfile, medium: str | None = None) -> AnswerFiles:
    """The profile's answer file; `medium` (floppy | iso) overrides where drivers will be."""
    p = loaded.profile
    entry = catalog.get(p.os)
    w = p.windows
    if not entry.is_windows or w is None:
        raise InputError(f"{p.name} is not a Windows profile", hint="use `golden kickstart` for Linux guests")
    layout = media.plan(p, entry, medium)
    password = _secret(loaded, w.admin_password, "admin_password")
    key = _secret(loaded, w.product_key, "product_key").strip() if w.product_key else None
    if entry.windows.era == "sif":
        data = winnt.render(p, entry, layout, winnt.SifInputs(password, key))
        check = winnt.check
    else:
        data = autounattend.render(p, entry, layout, autounattend.UnattendInputs(password, key))
        check = autounattend.check
    files = {layout.answer_file: data}
    try:
        checked = [(layout.answer_file, "; ".join(check(data, p, entry, layout)))]
        if entry.windows.era == "sif" and w.generalize:
            # XP/2003 sysprep reads its own answer file; it travels on the same floppy.
            files[sysprep.INF_NAME] = sysprep.render_inf(p, entry, layout)
            checked.append((sysprep.INF_NAME, "; ".join(sysprep.check_inf(files[sysprep.INF_NAME], layout))))
    except ValueError as exc:
        # A generator bug, not bad input: say so plainly.
        raise AssertionError(f"{layout.answer_file} failed its own check: {exc}") from exc
    return AnswerFiles(era=entry.windows.era, files=files, layout=layout, checked=tuple(checked))
