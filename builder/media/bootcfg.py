"""Edits of installer boot menus: make the install entry boot by itself.

Pure text in, text out, for ISOLINUX's isolinux.cfg and GRUB 2's grub.cfg as
RHEL 5-9 ship them. The entry chosen is the one that installs: the menu's
default if it does, else (RHEL 7-9 default to "check", which first tests
the media) the entry that boots the same kernel without `rd.live.check`,
rescue or memtest. Only that entry's kernel line, the default and the
timeout change; everything else stays as it was, comments included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from builder.errors import InputError

# Arguments go into a syslinux `append` line and a GRUB script line: no
# whitespace, and none of GRUB's quoting, expansion or separator characters.
_ARG_RE = re.compile(r"^[A-Za-z0-9._:/=,@%+~\-?!\[\]^]+$")
_NOT_INSTALL = ("rd.live.check", "inst.rescue", "rescue", "memtest")


@dataclass(frozen=True)
class BootEdit:
    text: str      # the edited configuration
    entry: str     # the label name (isolinux) or menu entry title (GRUB) chosen
    line: str      # that entry's kernel-argument line as it now reads


def check_ks_args(ks_args: Iterable[str]) -> list[str]:
    """The arguments, or an InputError naming the first one that cannot go on a kernel line."""
    args = list(ks_args)
    if not args:
        raise InputError("no kickstart boot arguments given",
                         'pass e.g. ["inst.ks=cdrom:/ks.cfg"]', where="ks_args")
    for i, arg in enumerate(args):
        if not isinstance(arg, str) or not _ARG_RE.match(arg):
            raise InputError(
                f"ks_args[{i}] = {arg!r} cannot go on a kernel command line",
                "one argument per item, no spaces, newlines, quotes, $ ; { } \\ | & < > #",
                where="ks_args")
    return args


def check_timeout(timeout_s: int) -> int:
    if not isinstance(timeout_s, int) or isinstance(timeout_s, bool) or not 1 <= timeout_s <= 3600:
        # ISOLINUX reads 0 as "wait forever", so 1 s is the shortest unattended wait.
        raise InputError(f"boot menu timeout {timeout_s!r} must be 1-3600 seconds",
                         where="timeout_s")
    return timeout_s


def _is_ks(token: str) -> bool:
    return token in ("ks", "inst.ks") or token.startswith(("ks=", "inst.ks="))


def _merge_args(tokens: list[str], ks_args: list[str]) -> list[str]:
    # Dropping copies of the new arguments too makes a second edit a no-op.
    return [t for t in tokens if not _is_ks(t) and t not in ks_args] + ks_args


def _installs(args: str, kernel: str) -> bool:
    words = args.split() + [kernel]
    return not any(w == bad or w.startswith(bad + "=") or (bad == "memtest" and "memtest" in w)
                   for w in words for bad in _NOT_INSTALL)


# ---------------------------------------------------------------- isolinux

@dataclass
class _Label:
    name: str
    line: int                  # index of the `label` line
    end: int                   # index after the block's last line
    depth: int                 # 0 at top level, >0 inside `menu begin`
    kernel: int | None = None  # index of the kernel/linux line
    append: int | None = None  # index of the append line
    menu_default: bool = False


def _words(line: str) -> list[str]:
    return line.split()


def _parse_isolinux(lines: list[str]) -> list[_Label]:
    labels: list[_Label] = []
    current: _Label | None = None
    depth = 0
    in_text = False
    for i, raw in enumerate(lines):
        w = [x.lower() for x in _words(raw)]
        if in_text:
            if w[:1] == ["endtext"]:
                in_text = False
            continue
        if not w or w[0].startswith("#"):
            continue
        if w[:2] == ["text", "help"]:
            in_text = True
            continue
        ends_block = w[0] == "label" or (w[0] == "menu" and w[1:2] in (["begin"], ["end"], ["separator"]))
        if ends_block and current is not None:
            current.end = i
            current = None
        if w[0] == "label" and len(w) > 1:
            current = _Label(_words(raw)[1], i, len(lines), depth)
            labels.append(current)
        elif w[:2] == ["menu", "begin"]:
            depth += 1
        elif w[:2] == ["menu", "end"]:
            depth = max(0, depth - 1)
        elif current is not None:
            if w[0] in ("kernel", "linux") and len(w) > 1:
                current.kernel = i
            elif w[0] == "append":
                current.append = i
            elif w[:2] == ["menu", "default"]:
                current.menu_default = True
    return labels


def _global(lines: list[str], keyword: str) -> list[int]:
    return [i for i, raw in enumerate(lines)
            if _words(raw)[:1] and _words(raw)[0].lower() == keyword]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def edit_isolinux(text: str, ks_args: list[str], timeout_s: int, *,
                  where: str = "isolinux/isolinux.cfg") -> BootEdit:
    ks_args = check_ks_args(ks_args)
    timeout_s = check_timeout(timeout_s)
    lines = text.splitlines()
    labels = _parse_isolinux(lines)

    def kernel_of(lab: _Label) -> str:
        return _words(lines[lab.kernel])[1] if lab.kernel is not None else ""

    def args_of(lab: _Label) -> str:
        return " ".join(_words(lines[lab.append])[1:]) if lab.append is not None else ""

    candidates = [lab for lab in labels
                  if lab.depth == 0 and lab.kernel is not None
                  and not kernel_of(lab).lower().endswith(".c32")
                  and _installs(args_of(lab), kernel_of(lab))]
    if not candidates:
        raise InputError("no menu label boots the installer kernel (a `label` with `kernel` "
                         "and without rd.live.check or rescue)",
                         "is this an installer ISO? Its isolinux.cfg is not the RHEL kind",
                         where=where)
    default_name = None
    for i in _global(lines, "default"):
        w = _words(lines[i])
        if len(w) > 1:
            default_name = w[1]
    marked = [lab for lab in labels if lab.menu_default]
    by_name = {lab.name.lower(): lab for lab in labels}
    default = marked[-1] if marked else by_name.get((default_name or "").lower())
    chosen = (default if default in candidates
              else by_name.get("linux") if by_name.get("linux") in candidates
              else candidates[0])

    # The kernel line: existing kickstart arguments out, ours in.
    if chosen.append is not None:
        old = lines[chosen.append]
        w = _words(old)
        lines[chosen.append] = f"{_indent(old)}{w[0]} {' '.join(_merge_args(w[1:], ks_args))}"
    else:
        lines.insert(chosen.kernel + 1, f"{_indent(lines[chosen.kernel])}append {' '.join(ks_args)}")
        chosen = next(lab for lab in _parse_isolinux(lines) if lab.line == chosen.line)
    new_line = lines[chosen.append].strip()

    uses_menu = any(_words(raw)[:1] and _words(raw)[0].lower() in ("menu", "ui") for raw in lines) or \
        (default_name or "").lower().endswith(".c32")
    out: list[str] = []
    for i, raw in enumerate(lines):
        w = [x.lower() for x in _words(raw)]
        if w[:2] == ["menu", "default"] and not chosen.line < i < chosen.end:
            continue                           # competing defaults go
        if w[:1] == ["default"] and len(w) > 1 and not w[1].endswith(".c32"):
            raw = f"{_indent(raw)}{_words(raw)[0]} {chosen.name}"
        elif w[:1] == ["ontimeout"]:
            raw = f"{_indent(raw)}{_words(raw)[0]} {chosen.name}"
        elif w[:1] == ["timeout"]:
            raw = f"{_indent(raw)}{_words(raw)[0]} {timeout_s * 10}"
        out.append(raw)
        if i == chosen.line and uses_menu and not chosen.menu_default:
            body = lines[chosen.kernel] if chosen.kernel is not None else "  "
            out.append(f"{_indent(body) or '  '}menu default")
    if not _global(lines, "timeout"):
        out.insert(_first_directive(out), f"timeout {timeout_s * 10}")
    if not uses_menu and not any(_words(raw)[:1] and _words(raw)[0].lower() == "default"
                                 for raw in out):
        out.insert(_first_directive(out), f"default {chosen.name}")
    return BootEdit(_join(out, text), chosen.name, new_line)


def _join(lines: list[str], original: str) -> str:
    eol = "\r\n" if "\r\n" in original else "\n"
    return eol.join(lines) + eol


def _first_directive(lines: list[str]) -> int:
    for i, raw in enumerate(lines):
        if raw.strip() and not raw.lstrip().startswith("#"):
            return i
    return len(lines)


# ---------------------------------------------------------------- GRUB 2

_MENU_RE = re.compile(r"""^\s*(menuentry|submenu)\s+(?:(['"])(.*?)\2|(\S+))""")
_SET_RE = re.compile(r"""^(\s*)set\s+(default|timeout)\s*=""")
_LINUX_RE = re.compile(r"^\s*(linux|linuxefi|linux16)\s+\S")


@dataclass
class _Entry:
    title: str
    index: int
    kind: str
    linux: int | None = None


def _parse_grub(lines: list[str]) -> tuple[list[_Entry], dict[str, list[int]]]:
    entries: list[_Entry] = []
    sets: dict[str, list[int]] = {"default": [], "timeout": []}
    depth = 0
    current: _Entry | None = None
    for i, raw in enumerate(lines):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        m = _MENU_RE.match(raw)
        if depth == 0:
            if m:
                current = _Entry(m.group(3) if m.group(3) is not None else m.group(4),
                                 len(entries), m.group(1))
                entries.append(current)
            else:
                sm = _SET_RE.match(raw)
                if sm:
                    sets[sm.group(2)].append(i)
        elif depth == 1 and current is not None and current.kind == "menuentry" and _LINUX_RE.match(raw):
            current.linux = i
        depth += s.count("{") - s.count("}") if not s.startswith(("'", '"')) else 0
        depth = max(depth, 0)
        if depth == 0:
            current = None
    return entries, sets


def edit_grub(text: str, ks_args: list[str], timeout_s: int, *,
              where: str = "EFI/BOOT/grub.cfg") -> BootEdit:
    ks_args = check_ks_args(ks_args)
    timeout_s = check_timeout(timeout_s)
    lines = text.splitlines()
    entries, sets = _parse_grub(lines)

    def split_linux(e: _Entry) -> list[str]:
        return _words(lines[e.linux])

    candidates = [e for e in entries
                  if e.kind == "menuentry" and e.linux is not None
                  and _installs(" ".join(split_linux(e)[2:]), split_linux(e)[1])]
    if not candidates:
        raise InputError("no top-level menuentry boots the installer kernel (a `linux` or "
                         "`linuxefi` line without rd.live.check or rescue)",
                         "is this an installer ISO? Its grub.cfg is not the RHEL kind",
                         where=where)
    default = None
    for i in sets["default"]:
        value = lines[i].split("=", 1)[1].strip().strip("'\"")
        if value.isdigit():
            default = next((e for e in entries if e.index == int(value)), None)
        else:
            default = next((e for e in entries if e.title == value), None)
    chosen = default if default in candidates else candidates[0]

    w = split_linux(chosen)
    raw = lines[chosen.linux]
    lines[chosen.linux] = f"{_indent(raw)}{w[0]} {w[1]} {' '.join(_merge_args(w[2:], ks_args))}"
    new_line = lines[chosen.linux].strip()

    for i in sets["default"]:
        lines[i] = f'{_indent(lines[i])}set default="{chosen.index}"'
    for i in sets["timeout"]:
        lines[i] = f"{_indent(lines[i])}set timeout={timeout_s}"
    missing = []
    if not sets["default"]:
        missing.append(f'set default="{chosen.index}"')
    if not sets["timeout"]:
        missing.append(f"set timeout={timeout_s}")
    if missing:
        first_entry = next(i for i, raw in enumerate(lines) if _MENU_RE.match(raw))
        lines[first_entry:first_entry] = missing
    return BootEdit(_join(lines, text), chosen.title, new_line)
