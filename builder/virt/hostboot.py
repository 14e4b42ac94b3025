"""Which release a host runs and which entry its boot loader starts by default, read from its files.

The guide's hypervisor switch (seed 18, D9) is a grub default stanza: the
Xen kernel or the plain one. Doctor reports both facts; every reader takes a
root folder so a staged tree (or a test) can be read like the live host.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

UNKNOWN = "unknown"

GRUB2_CONFIGS = ("boot/grub2/grub.cfg", "boot/grub/grub.cfg")
GRUB2_ENVS = ("boot/grub2/grubenv", "boot/grub/grubenv")
LEGACY_CONFIGS = ("boot/grub/grub.conf", "boot/grub/menu.lst", "etc/grub.conf")
BLS_DIR = "boot/loader/entries"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def host_release(root: Path = Path("/")) -> str:
    """PRETTY_NAME from os-release, else the redhat-release line (RHEL 5/6 have no os-release)."""
    for rel in ("etc/os-release", "usr/lib/os-release"):
        text = _read(root / rel)
        if text is None:
            continue
        values = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                try:
                    words = shlex.split(value)
                except ValueError:
                    words = [value]
                values[key.strip()] = " ".join(words)
        name = values.get("PRETTY_NAME") or " ".join(v for v in (values.get("NAME"), values.get("VERSION")) if v)
        if name:
            return name
    for rel in ("etc/redhat-release", "etc/system-release"):
        text = _read(root / rel)
        if text and text.strip():
            return text.strip().splitlines()[0]
    return UNKNOWN


@dataclass(frozen=True)
class GrubDefault:
    loader: str           # grub2 | grub-legacy | unknown
    config: str | None    # the file read, relative to the root
    entry: str            # the title of the default entry, or "unknown"
    how: str              # what decided it, e.g. "set default=0", "saved_entry in grubenv"

    def describe(self) -> str:
        if self.loader == UNKNOWN:
            return "unknown (no grub configuration found)"
        return f"{self.entry} ({self.loader}, {self.config}: {self.how})"


def _grubenv(root: Path) -> dict[str, str]:
    for rel in GRUB2_ENVS:
        text = _read(root / rel)
        if text is not None:
            return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {}


_MENUENTRY = re.compile(r"""^\s*(menuentry|submenu)\s+(?:'([^']*)'|"([^"]*)"|(\S+))(.*)$""")
_ENTRY_ID = re.compile(r"""\$menuentry_id_option\s+'([^']*)'|--id[= ]'?([^'\s]+)""")


def _grub2_entries(text: str) -> list[tuple[str, str | None, list[tuple[str, str | None]]]]:
    """Top-level entries as (title, id, children); a submenu's children are its menuentries."""
    entries: list = []
    depth = 0
    current_submenu = None
    for line in text.splitlines():
        m = _MENUENTRY.match(line)
        if m:
            title = m.group(2) or m.group(3) or m.group(4) or ""
            ident = _ENTRY_ID.search(m.group(5) or "")
            ident = (ident.group(1) or ident.group(2)) if ident else None
            if depth == 0:
                entries.append((title, ident, []))
                if m.group(1) == "submenu":
                    current_submenu = entries[-1]
            elif current_submenu is not None and m.group(1) == "menuentry":
                current_submenu[2].append((title, ident))
        depth += line.count("{") - line.count("}")
        if depth <= 0:
            depth, current_submenu = 0, None
    return entries


def _pick(entries, wanted: str) -> str | None:
    """An entry by index, title or id; `A>B` walks into a submenu."""
    head, _, rest = wanted.partition(">")
    for i, (title, ident, children) in enumerate(entries):
        if head in (str(i), title, ident):
            if not rest:
                return title
            return _pick([(t, d, []) for t, d in children], rest)
    return None


def _bls_title(root: Path, ident: str) -> str | None:
    text = _read(root / BLS_DIR / f"{ident}.conf")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("title "):
            return line[len("title "):].strip()
    return ident


def _grub2(root: Path) -> GrubDefault | None:
    for rel in GRUB2_CONFIGS:
        text = _read(root / rel)
        if text is None:
            continue
        env = _grubenv(root)
        m = None
        for m in re.finditer(r"""^\s*set\s+default=["']?([^"'\s]*)["']?\s*$""", text, re.M):
            pass
        value = m.group(1) if m else "0"
        how = f"set default={value}" if m else "no default set: the first entry"
        if value in ("${saved_entry}", "saved", "${next_entry}") or "saved_entry" in value:
            value = env.get("saved_entry", "0")
            how = f"saved_entry={value} in grubenv"
        entries = _grub2_entries(text)
        title = _pick(entries, value)
        if title is None and (root / BLS_DIR).is_dir():
            title = _bls_title(root, value)
            if title is None and value.isdigit():
                blss = sorted((root / BLS_DIR).glob("*.conf"), reverse=True)   # grub's BLS order: newest first
                title = _bls_title(root, blss[int(value)].stem) if int(value) < len(blss) else None
            how += " (BLS entries)"
        return GrubDefault("grub2", rel, title or UNKNOWN, how)
    return None


def _legacy(root: Path) -> GrubDefault | None:
    for rel in LEGACY_CONFIGS:
        text = _read(root / rel)
        if text is None:
            continue
        titles = [line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else ""
                  for line in text.splitlines() if re.match(r"\s*title\s", line)]
        m = re.search(r"^\s*default\s*[= ]\s*(\S+)", text, re.M)
        value = m.group(1) if m else "0"
        how = f"default={value}" if m else "no default line: the first title"
        if value == "saved":
            saved = (_read(root / "boot/grub/default") or "0").split()
            value = saved[0] if saved else "0"
            how = f"default=saved ({value} in /boot/grub/default)"
        title = titles[int(value)] if value.isdigit() and int(value) < len(titles) else None
        return GrubDefault("grub-legacy", rel, title or UNKNOWN, how)
    return None


def grub_default(root: Path = Path("/")) -> GrubDefault:
    return _grub2(root) or _legacy(root) or GrubDefault(UNKNOWN, None, UNKNOWN, "")
