"""Open guest images: pick a backend, check nobody uses them, always clean up.

`auto` uses the loop backend (host kernel mounts, about a second) when the
process is root and every file system the guest needs is one the host kernel
mounts; anything else goes to one guestfs appliance shared by the batch.
A guest spread over several disks (a list of paths) is one guest of the
appliance, its disks drives in the order given.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence, Union

from builder.errors import HostError, InputError
from builder.image import inuse
from builder.image.container import check_container
from builder.image.diskfile import DiskFile, describe
from builder.image.guest import Guest, no_os_error
from builder.image.guestfs_backend import open_session
from builder.image.host import sigterm_as_interrupt
from builder.image.luks import LuksKey
from builder.image.loop import LoopLayoutUnsupported, LoopUnsupported, open_loop

log = logging.getLogger("golden.image")

BACKENDS = ("auto", "loop", "guestfs")
# The guest-neutral names /dev/sda.. /dev/sdz.
MAX_GUEST_DISKS = 26

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def open_images(paths: Iterable[PathLike | Sequence[PathLike]], *, backend: str = "auto", readonly: bool = False,
                connect_uri: str | None = None, check_in_use: bool = True,
                protect_backing: bool = False, keys: tuple[LuksKey, ...] = ()) -> Iterator[list[Guest]]:
    """Open several guests at once; yields one guest handle per item, in order.

    An item is an image path, or a list of paths: one guest whose disks they
    are, first disk first (its /dev/sda, then /dev/sdb, ...), so fstab
    entries on any of them are mounted. Single-disk images the loop backend
    can take are loop-mounted; all others share one guestfs appliance.
    `protect_backing` refuses a read-write open of an image that is the
    backing file of existing overlays. `keys` (luks.parse_keys) open the LUKS
    containers they name; only the guestfs backend can.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}", hint="use one of: " + ", ".join(BACKENDS))
    groups: list[list[DiskFile]] = []
    for item in paths:
        many = isinstance(item, (list, tuple))
        group = [describe(p) for p in (item if many else [item])]
        if not group:
            raise InputError("a guest needs at least one disk")
        if len(group) > MAX_GUEST_DISKS:
            raise InputError(f"a guest of {len(group)} disks; golden opens at most {MAX_GUEST_DISKS} per guest",
                             where=str(group[0].path))
        groups.append(group)
    disks: list[DiskFile] = [d for g in groups for d in g]
    seen: dict[tuple[int, int], Path] = {}
    for d in disks:
        st = os.stat(d.path)
        if (st.st_dev, st.st_ino) in seen:
            raise InputError("the same image is named twice in one batch", where=str(d.path))
        seen[(st.st_dev, st.st_ino)] = d.path
    for d in disks:
        below = [seen[k] for k in ((os.stat(p).st_dev, os.stat(p).st_ino) for p in d.backing_chain
                                   if os.path.exists(p)) if k in seen]
        if below and not readonly:
            raise InputError(f"the batch also opens {below[0]}, a backing file of this image",
                             where=str(d.path), hint="writing a base under an open overlay corrupts it; "
                                                     "open them in separate batches")
    if not readonly:
        for d in disks:
            if not os.access(d.path, os.W_OK):
                raise InputError("the image is not writable", where=str(d.path),
                                 hint="fix its permissions, or open it read-only")
    # A damaged file is refused before any backend reads it, and before anything is locked or mounted.
    containers = [check_container(d) for d in disks]
    warnings = inuse.check_many(disks, readonly=readonly, connect_uri=connect_uri,
                                protect_backing=protect_backing) if check_in_use else [[] for _ in disks]
    for d, ws, cs in zip(disks, warnings, containers):
        ws.extend(cs)
        for w in ws:
            log.warning("%s: %s", d.path, w)

    with sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        guests: list[Guest | None] = [None] * len(groups)
        rest = []
        if keys and backend == "loop":
            raise InputError("the loop backend cannot open LUKS containers, so --key needs the guestfs backend",
                             where="--key", hint="use `--backend guestfs` (or `--backend auto`)")
        for i, group in enumerate(groups):
            if len(group) > 1 and backend == "loop":
                raise InputError(f"the loop backend opens a guest of one disk; this one has {len(group)}",
                                 where=str(group[0].path), hint="use `--backend guestfs` (or `--backend auto`)")
            # A key means a LUKS container to open: only the appliance can. So does a guest on several disks.
            if backend == "guestfs" or keys or len(group) > 1:
                rest.append(i)
                continue
            d = group[0]
            try:
                guest = stack.enter_context(open_loop(d, readonly))
            except LoopUnsupported as e:
                if backend == "loop":
                    # The image's layout is the user's to route (exit 2); a host without a tool is not.
                    cls = InputError if isinstance(e, LoopLayoutUnsupported) else HostError
                    raise cls(f"the loop backend cannot open this image: {e}", where=str(d.path),
                              hint="use `--backend guestfs` (or `--backend auto`)") from None
                log.info("%s: using guestfs: %s", d.path, e)
                rest.append(i)
                continue
            if guest.root_device is None:
                raise no_os_error(guest.image)
            guests[i] = guest
        if rest:
            session = open_session([groups[i] for i in rest], [readonly] * len(rest), keys)
            stack.callback(session.close)
            for i, guest in zip(rest, session.guests):
                guests[i] = guest
        per_disk = iter(warnings)
        for guest, group in zip(guests, groups):
            for _ in group:
                guest.warnings.extend(next(per_disk))
        yield guests  # type: ignore[misc]


@contextlib.contextmanager
def open_image(path: PathLike | Sequence[PathLike], *, backend: str = "auto", readonly: bool = False,
               connect_uri: str | None = None, check_in_use: bool = True,
               protect_backing: bool = False, keys: tuple[LuksKey, ...] = ()) -> Iterator[Guest]:
    """Open one guest (an image, or a list of its disks); yields its handle. See open_images."""
    with open_images([path], backend=backend, readonly=readonly, connect_uri=connect_uri,
                     check_in_use=check_in_use, protect_backing=protect_backing, keys=keys) as guests:
        yield guests[0]
