"""Profile rules specific to Windows guests: driver sets, product keys, media.

Each rule returns (field path, message, hint). Values Windows Setup would
reject are refused here, at validate time, rather than left for a setup
screen that waits for someone at the console.
"""

from __future__ import annotations

from pathlib import Path

from builder.profile import effective
from builder.profile.secrets import HashSecret, reveal
from builder.windows import manifest, values


def check(profile, entry) -> list[tuple[list, str, str | None]]:
    issues: list[tuple[list, str, str | None]] = []
    add = lambda path, msg, hint=None: issues.append((list(path), msg, hint))  # noqa: E731
    w = profile.windows
    facts = entry.windows
    _drivers(profile, entry, add)
    _media(profile, entry, add)
    _secrets(profile, entry, add)
    _answer_values(profile, entry, add)
    if facts.era == "sif" and effective.machine_type(profile) == "q35":
        add(["machine", "machine_type"], f"{entry.name} setup has no AHCI driver, so it cannot see the "
            "disks and CD of a q35 machine (SATA)", "use machine_type: pc")
    if w.image.index is not None and w.image.name is not None:
        add(["windows", "image"], "give the install image by index or by name, not both")
    if w.image.index is not None or w.image.name is not None:
        if facts.era == "sif":
            add(["windows", "image"], f"{entry.name} media have no install.wim images to choose from")
    return issues


def _drivers(profile, entry, add):
    w = profile.windows
    if w.drivers.media == "none" or profile.arch not in entry.arches:
        return
    known = manifest.load().sets
    for i, name in enumerate(w.drivers.sets):
        if name not in known:
            add(["windows", "drivers", "sets", i], f"unknown driver set {name!r}",
                f"known sets (drivers/virtio-win.yaml): {', '.join(known)}")
            continue
        reason = manifest.missing_reason(known[name], entry, profile.arch)
        if reason:
            add(["windows", "drivers", "sets", i], reason,
                "remove the set, or use drivers.media: none and install drivers after setup")
    dup = sorted({s for s in w.drivers.sets if w.drivers.sets.count(s) > 1})
    if dup:
        add(["windows", "drivers", "sets"], f"driver set(s) listed twice: {', '.join(dup)}")


def _media(profile, entry, add):
    w = profile.windows
    facts = entry.windows
    media = w.drivers.media
    if facts.era == "sif" and media == "iso":
        add(["windows", "drivers", "media"], f"{entry.name} text-mode setup reads winnt.sif and F6 "
            "storage drivers only from a floppy (seed 13.2)", "use media: floppy (or auto)")
    if effective.windows_answer_media(profile, entry) == "floppy" and profile.machine.firmware == "uefi" \
            and facts.era != "sif":       # XP/2003 on UEFI is refused as such
        add(["windows", "drivers", "media"], "UEFI guests get no floppy controller (q35, OVMF)",
            "use media: iso (or auto) for a driver CD")
    if facts.era == "sif" and profile.network.model == "virtio":
        add(["network", "model"], f"{entry.name} cannot use a virtio NIC during setup: netkvm is staged "
            "in C:\\Drivers by the first logon, after setup has installed its devices",
            "keep the default NIC for the install, then switch with `golden virtio DOMAIN`")


def _readable(secret):
    try:
        return reveal(secret, Path("/"))
    except (OSError, KeyError):
        return None      # reported by the generic secret rule


def _secrets(profile, entry, add):
    w = profile.windows
    facts = entry.windows
    for field, secret in (("admin_password", w.admin_password), ("product_key", w.product_key)):
        if isinstance(secret, HashSecret):
            add(["windows", field], "Windows answer files need the value itself, not a crypt hash",
                "give {file: PATH} or {env: VARIABLE}")
    if w.product_key is None:
        if facts.product_key_required:
            add(["windows", "product_key"], f"{entry.name} setup needs a product key in the answer file",
                "add product_key: {file: secrets/KEY-FILE}")
    elif not isinstance(w.product_key, HashSecret):
        key = _readable(w.product_key)
        if key is not None:
            problem = values.product_key_problem(key.strip(), facts)
            if problem:
                add(["windows", "product_key"], problem)
    if not isinstance(w.admin_password, HashSecret):
        password = _readable(w.admin_password)
        if password is not None:
            if any(ch in password for ch in "\r\n\0"):
                add(["windows", "admin_password"], "the password holds a line break or NUL")
            elif facts.era == "sif" and not (password.isascii() and password.isprintable()):
                add(["windows", "admin_password"], "winnt.sif (XP/2003) can carry only printable ASCII passwords")
            elif len(password) > 127:
                add(["windows", "admin_password"], "Windows passwords are at most 127 characters")


def _answer_values(profile, entry, add):
    w = profile.windows
    facts = entry.windows
    try:
        if facts.era == "sif":
            values.sif_time_zone(w.timezone)
        else:
            values.unattend_time_zone(w.timezone)
    except ValueError as exc:
        add(["windows", "timezone"], str(exc))
    if w.computer_type not in (None, "detect"):
        if facts.era != "sif":
            add(["windows", "computer_type"], f"{entry.name} picks its HAL itself; computer_type is for XP/2003")
        elif profile.arch != "i386":
            add(["windows", "computer_type"], "x64 Windows ships only ACPI HALs; computer_type is for 32-bit installs")
        elif w.computer_type not in values.HAL_NAMES:
            add(["windows", "computer_type"], f"{w.computer_type!r} is not a computer type of XP/2003 setup",
                "one of: " + "; ".join(values.HAL_NAMES) + "; or detect")
    if facts.era == "sif":
        # setupldr reads winnt.sif as plain ASCII.
        for name in ("full_name", "organization"):
            if not getattr(w, name).isascii():
                add(["windows", name], "winnt.sif (XP/2003) holds ASCII text only")
    for i, command in enumerate(w.first_logon_commands):
        if any(ch in command for ch in "\r\n\0") or not command.strip():
            add(["windows", "first_logon_commands", i], "a command is one non-empty line")
        elif facts.era == "sif" and not command.isascii():
            add(["windows", "first_logon_commands", i], "winnt.sif (XP/2003) holds ASCII text only")
