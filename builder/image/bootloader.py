"""Boot loader configurations: GRUB legacy, GRUB 2 (menu entries and BLS), extlinux.

Each parser takes the file text and returns plain dicts, so inspect can list
what the guest boots by default and with which kernel arguments.
"""

from __future__ import annotations

import re
import shlex

GRUB_LEGACY = ("/boot/grub/grub.conf", "/boot/grub/menu.lst", "/boot/efi/EFI/redhat/grub.conf")
GRUB2 = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg", "/boot/efi/EFI/redhat/grub.cfg",
         "/boot/efi/EFI/centos/grub.cfg", "/boot/efi/EFI/fedora/grub.cfg")
GRUBENV = ("/boot/grub2/grubenv", "/boot/grub/grubenv", "/boot/efi/EFI/redhat/grubenv")
EXTLINUX = ("/boot/extlinux/extlinux.conf", "/boot/extlinux.conf", "/extlinux.conf",
            "/boot/syslinux/syslinux.cfg", "/boot/syslinux/extlinux.conf")
BLS_DIR = "/boot/loader/entries"


def _entry(title, kernel, initrd, args, **extra) -> dict:
    return {"title": title, "kernel": kernel, "initrd": initrd, "args": args, **extra}


def parse_grub_legacy(text: str) -> dict:
    default: str | int = 0
    entries: list[dict] = []
    cur = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = re.split(r"[\s=]+", line, maxsplit=1)
        key, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        if key == "default" and cur is None:
            default = int(rest) if rest.strip().isdigit() else rest.strip()
        elif key == "title":
            cur = _entry(rest.strip(), None, None, "")
            entries.append(cur)
        elif cur is not None and key in ("kernel", "initrd"):
            words = rest.split(None, 1)
            if key == "kernel":
                cur["kernel"] = words[0] if words else None
                cur["args"] = words[1] if len(words) > 1 else ""
            else:
                cur["initrd"] = words[0] if words else None
    return {"default": default, "entries": entries}


def parse_grubenv(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out[k] = v
    return out


def parse_grub2(text: str, env: dict[str, str]) -> dict:
    entries: list[dict] = []
    default: str | int = 0
    m = re.search(r'^\s*set default="?([^"\n]*)"?', text, re.M)
    if m:
        default = m.group(1)
        if default.strip() == "${saved_entry}":
            default = env.get("saved_entry", "0")
        default = int(default) if str(default).isdigit() else default
    cur = None
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("menuentry ") and cur is None:
            try:
                words = shlex.split(line.rstrip("{").strip())
            except ValueError:
                words = line.split()
            title = words[1] if len(words) > 1 else ""
            ident = None
            if "$menuentry_id_option" in line:
                ident = words[words.index("$menuentry_id_option") + 1] if "$menuentry_id_option" in words \
                    else None
            cur = _entry(title, None, None, "", id=ident)
            depth = line.count("{") - line.count("}")
            continue
        if cur is not None:
            depth += line.count("{") - line.count("}")
            words = line.split(None, 2)
            if words and words[0] in ("linux", "linux16", "linuxefi", "kernel") and len(words) > 1:
                cur["kernel"] = words[1]
                cur["args"] = words[2] if len(words) > 2 else ""
            elif words and words[0] in ("initrd", "initrd16", "initrdefi") and len(words) > 1:
                cur["initrd"] = words[1]
            if depth <= 0:
                entries.append(cur)
                cur = None
    return {"default": default, "entries": entries, "blscfg": bool(re.search(r"^\s*blscfg\b", text, re.M))}


def parse_bls(text: str, env: dict[str, str]) -> dict:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, _, v = line.partition(" ")
        out[k] = v.strip()
    args = out.get("options", "")
    # RHEL 8 keeps the arguments in grubenv's kernelopts and refers to them.
    args = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), m.group(0)), args)
    initrd = out.get("initrd", "").split()
    return _entry(out.get("title", ""), out.get("linux"), initrd[0] if initrd else None, args,
                  version=out.get("version"))


def parse_extlinux(text: str) -> dict:
    default = None
    entries: list[dict] = []
    cur = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        key, rest = parts[0].lower(), (parts[1].strip() if len(parts) > 1 else "")
        if key == "default":
            default = rest
        elif key == "label":
            cur = _entry(rest, None, None, "", label=rest)
            entries.append(cur)
        elif cur is not None and key in ("kernel", "linux"):
            cur["kernel"] = rest
        elif cur is not None and key == "initrd":
            cur["initrd"] = rest
        elif cur is not None and key == "append":
            m = re.search(r"(?:^|\s)initrd=(\S+)", rest)
            if m and cur["initrd"] is None:
                cur["initrd"] = m.group(1)
            cur["args"] = rest
        elif cur is not None and key == "menu" and rest.lower().startswith("label "):
            cur["title"] = rest[6:].strip()
    return {"default": default, "entries": entries}


def default_entry(config: dict) -> dict | None:
    entries, default = config["entries"], config["default"]
    if not entries:
        return None
    if isinstance(default, int):
        return entries[default] if 0 <= default < len(entries) else None
    for e in entries:
        if default in (e.get("title"), e.get("id"), e.get("label"), e.get("bls_id")):
            return e
    return None


def inspect_bootloaders(h) -> list[dict]:
    """Every boot loader configuration found, each with its entries and default entry."""
    found = []
    seen: set[str] = set()
    env = {}
    for path in GRUBENV:
        if h.is_file(path):
            env = parse_grubenv(h.read_text(path))
            break

    def add(kind, path, cfg):
        real = h.resolve(path)
        if real in seen:
            return
        seen.add(real)
        found.append({"type": kind, "config": path, "default": cfg["default"],
                      "default_entry": default_entry(cfg), "entries": cfg["entries"]})

    for path in GRUB2:
        if h.is_file(path):
            cfg = parse_grub2(h.read_text(path), env)
            if cfg.pop("blscfg") and h.is_dir(BLS_DIR):
                bls = []
                for f in h.glob(f"{BLS_DIR}/*.conf"):
                    e = parse_bls(h.read_text(f), env)
                    e["bls_id"] = f.rsplit("/", 1)[1][:-len(".conf")]
                    bls.append(e)
                # grub's blscfg lists the newest version first.
                bls.sort(key=lambda e: _version_key(e.get("version") or ""), reverse=True)
                cfg["entries"] = bls + cfg["entries"]
            add("grub2", path, cfg)
    for path in GRUB_LEGACY:
        if h.is_file(path):
            add("grub", path, parse_grub_legacy(h.read_text(path)))
    for path in EXTLINUX:
        if h.is_file(path):
            add("extlinux", path, parse_extlinux(h.read_text(path)))
    return found


def _version_key(v: str):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-_]", v)]
