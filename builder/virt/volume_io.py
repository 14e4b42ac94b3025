"""Bytes in and out of libvirt storage volumes: sparse streams, with progress.

The remote daemon reads and writes the volume; this side streams a local
file. Where both ends support it (libvirt 3.4 and later) the stream is
sparse: holes are sent as their length, not as zeros, and the receiving file
gets them back as holes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable

from builder.errors import HostError
from builder.fsutil import atomic_path

Progress = Callable[[int, int], None]          # bytes done, bytes in total


class _SparseReader:
    """Feeds libvirt's sparse send loop from a local file, hole by hole."""

    def __init__(self, fd: int, size: int, progress: Progress | None):
        self.fd, self.size, self.pos, self.sent = fd, size, 0, 0
        self.progress = progress

    def section(self, _stream, _opaque):
        if self.pos >= self.size:
            return [True, 0]
        try:
            data_at = os.lseek(self.fd, self.pos, os.SEEK_DATA)
        except OSError:                         # ENXIO: only a hole up to the end
            data_at = self.size
        if data_at > self.pos:
            return [False, min(data_at, self.size) - self.pos]
        hole_at = os.lseek(self.fd, self.pos, os.SEEK_HOLE)
        return [True, min(hole_at, self.size) - self.pos]

    def skip(self, _stream, length: int, _opaque) -> int:
        self.pos += length
        return 0

    def read(self, _stream, nbytes: int, _opaque) -> bytes:
        chunk = os.pread(self.fd, nbytes, self.pos)
        self.pos += len(chunk)
        self.sent += len(chunk)
        if self.progress:
            self.progress(self.pos, self.size)
        return chunk


class _SparseWriter:
    def __init__(self, fd: int, total: int, progress: Progress | None):
        self.fd, self.total, self.pos, self.received = fd, total, 0, 0
        self.progress = progress

    def write(self, _stream, data: bytes, _opaque) -> int:
        view = memoryview(data)
        while view:
            done = os.pwrite(self.fd, view, self.pos)
            self.pos += done
            view = view[done:]
        self.received += len(data)
        if self.progress:
            self.progress(self.pos, self.total)
        return len(data)

    def hole(self, _stream, length: int, _opaque) -> int:
        self.pos += length
        return 0


def _unsupported(exc) -> bool:
    import libvirt

    return exc.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG,
                                    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED)


def upload(conn, vol, src: Path, progress: Progress | None = None) -> int:
    """Write local file `src` into volume `vol`; returns the bytes that crossed the wire."""
    import libvirt

    size = Path(src).stat().st_size
    fd = os.open(src, os.O_RDONLY)
    try:
        stream = conn.newStream(0)
        try:
            try:
                vol.upload(stream, 0, size, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
                sparse = True
            except libvirt.libvirtError as exc:
                if not _unsupported(exc):
                    raise
                stream = conn.newStream(0)
                vol.upload(stream, 0, size, 0)
                sparse = False
            reader = _SparseReader(fd, size, progress)
            if sparse:
                stream.sparseSendAll(reader.read, reader.section, reader.skip, None)
            else:
                stream.sendAll(lambda s, n, o: reader.read(s, n, o), None)
            stream.finish()
        except BaseException:
            with contextlib.suppress(Exception):
                stream.abort()
            raise
    except libvirt.libvirtError as exc:
        raise HostError(f"uploading {src} to volume {vol.name()} failed: {exc}") from exc
    finally:
        os.close(fd)
    return reader.sent


def download(conn, vol, dest: Path, progress: Progress | None = None) -> int:
    """Copy volume `vol` into local file `dest` (atomically, holes kept); returns bytes received."""
    import libvirt

    try:                                  # the file's length there (a qcow2's capacity is its virtual size)
        total = vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2]
    except libvirt.libvirtError:
        total = vol.info()[2]
    with atomic_path(dest, mode=0o644) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            stream = conn.newStream(0)
            writer = _SparseWriter(fd, total, progress)
            try:
                try:
                    vol.download(stream, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
                    sparse = True
                except libvirt.libvirtError as exc:
                    if not _unsupported(exc):
                        raise
                    stream = conn.newStream(0)
                    vol.download(stream, 0, 0, 0)
                    sparse = False
                if sparse:
                    stream.sparseRecvAll(writer.write, writer.hole, None)
                else:
                    stream.recvAll(writer.write, None)
                stream.finish()
            except BaseException:
                with contextlib.suppress(Exception):
                    stream.abort()
                raise
            os.ftruncate(fd, writer.pos)           # a trailing hole has no bytes to write
        except libvirt.libvirtError as exc:
            raise HostError(f"downloading volume {vol.name()} to {dest} failed: {exc}") from exc
        finally:
            os.close(fd)
    return writer.received


def read_from(conn, vol, offset: int) -> bytes:
    """The bytes of `vol` from `offset` to its current end (a growing log, say)."""
    size = vol.info()[1]
    if size <= offset:
        return b""
    stream = conn.newStream(0)
    chunks = []
    try:
        vol.download(stream, offset, size - offset, 0)
        stream.recvAll(lambda s, data, o: chunks.append(data) or len(data), None)
        stream.finish()
    except BaseException:
        with contextlib.suppress(Exception):
            stream.abort()
        raise
    return b"".join(chunks)
