"""Installer kernel arguments in each release's dialect.

RHEL 3-6 Anaconda reads `ks=`, `method=`/`repo=`; RHEL 7+ reads `inst.ks=`,
`inst.repo=`. Where the kickstart comes from decides the value: a file in the
initrd, the CD, a floppy, an HTTP server, or nothing (OEMDRV is found by label).
"""

from __future__ import annotations

from builder.catalog import OsEntry
from builder.errors import InputError

KS_NAME = "ks.cfg"


def ks_arg(entry: OsEntry, delivery: str, *, url: str | None = None) -> list[str]:
    """`delivery` is file (initrd-injected), cdrom, floppy, http or oemdrv."""
    name = entry.boot.ks_arg
    if delivery == "file":
        return [f"{name}=file:/{KS_NAME}"]
    if delivery == "cdrom":
        return [f"{name}=cdrom:/{KS_NAME}"]
    if delivery == "floppy":
        return [f"{name}=hd:fd0:/{KS_NAME}"]
    if delivery == "http":
        if not url:
            raise InputError("an HTTP kickstart needs its URL")
        return [f"{name}={url}"]
    if delivery == "oemdrv":
        return []           # Anaconda (RHEL 7+) finds a volume labelled OEMDRV by itself
    raise InputError(f"unknown kickstart delivery {delivery!r}")


def repo_value(url: str) -> str:
    """An install tree URL as Anaconda reads it on the kernel command line.

    http and ftp trees are given as URLs, but every release spells an NFS tree
    `nfs:HOST:/PATH` (RHEL 5 `method=nfs:HOST:/PATH`, RHEL 6 `repo=`, RHEL 7+
    `inst.repo=`); `nfs://HOST/PATH` is not understood by any of them.
    """
    if url.startswith("nfs://"):
        host, slash, path = url[len("nfs://"):].partition("/")
        if not host or not slash:
            raise InputError(f"NFS install tree {url!r} needs a server and a path",
                             hint="write it as nfs://SERVER/PATH")
        return f"nfs:{host}:/{path}"
    return url


def repo_arg(entry: OsEntry, url: str | None) -> list[str]:
    if not url or not entry.boot.repo_arg:
        return []
    return [f"{entry.boot.repo_arg}={repo_value(url)}"]


def installer_console(entry: OsEntry, virt: str) -> list[str]:
    return [entry.boot.pv_console] if virt == "pv" else [entry.boot.serial_console]


def installer_args(entry: OsEntry, *, delivery: str, virt: str = "fv", repo_url: str | None = None,
                   ks_url: str | None = None, extra: str = "") -> list[str]:
    args = ks_arg(entry, delivery, url=ks_url) + repo_arg(entry, repo_url) + installer_console(entry, virt)
    for token in extra.split():
        if token not in args:
            args.append(token)
    return args
