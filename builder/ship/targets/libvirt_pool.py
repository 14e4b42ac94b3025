"""A libvirt storage pool on any host golden can connect to: libvirt+CONNECT-URI/POOL.

For example libvirt+qemu:///system/golden or libvirt+qemu+ssh://host/system/images:
strip `libvirt+`, and the last path segment is the pool. Each image becomes a
volume of its file name (replacing an older one), streamed with the sparse
upload golden already uses for remote installs, and the domain XML template
goes beside it with its disk sources pointing at those volumes, so
`virsh define` on that host gives a ready template.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from lxml import etree

from builder.errors import HostError, InputError
from builder.fsutil import sha256_file
from builder.ship.manifest import Manifest
from builder.ship.targets import PublishResult
from builder.virt import remote
from builder.virt.connection import connection

PREFIX = "libvirt+"


def parse(uri: str) -> tuple[str, str]:
    """(connect URI, pool name) from libvirt+CONNECT/POOL."""
    # Split by hand: urlunsplit would turn qemu:///system into qemu:/system.
    base, sep, query = uri[len(PREFIX):].partition("?")
    connect, _, pool = base.rstrip("/").rpartition("/")
    scheme, _, rest = connect.partition("://")
    if not scheme or not rest.strip("/") or not pool:
        raise InputError(f"not a libvirt pool URI: {uri!r}", where="--to",
                         hint="use libvirt+CONNECT-URI/POOL, e.g. libvirt+qemu:///system/golden or "
                              "libvirt+qemu+ssh://host/system/golden")
    return connect + sep + query, pool


def template_for_pool(xml: str, volume_paths: dict[str, str]) -> str:
    """The template with every disk whose file is a shipped image pointed at that image's volume."""
    root = etree.fromstring(xml.encode())
    for source in root.iterfind("./devices/disk/source"):
        name = Path(source.get("file") or "").name
        if name in volume_paths:
            source.set("file", volume_paths[name])
    return etree.tostring(root, pretty_print=True).decode()


def _find_pool(conn, connect: str, name: str) -> remote.Pool:
    import libvirt

    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        raise InputError(f"there is no storage pool {name!r} on {connect}", where="--to",
                         hint=f"define one: virsh -c {connect} pool-define-as {name} dir --target DIR && "
                              f"virsh -c {connect} pool-build {name} && virsh -c {connect} pool-start {name}") \
            from None
    if not pool.isActive():
        raise HostError(f"storage pool {name} on {connect} is not running",
                        hint=f"virsh -c {connect} pool-start {name}")
    with contextlib.suppress(libvirt.libvirtError):
        pool.refresh(0)
    path = etree.fromstring(pool.XMLDesc(0).encode()).findtext("./target/path") or ""
    return remote.Pool(name=name, path=path, obj=pool)


def _put(conn, pool: remote.Pool, name: str, source: Path):
    remote.delete_volume(pool, name)        # a new version replaces the volume of the same name
    vol = remote.create_volume(pool, name, source.stat().st_size, fmt="raw")
    remote.upload(conn, vol, source)
    return vol


class LibvirtPoolTarget:
    name = "libvirt-pool"

    def accepts(self, uri: str) -> bool:
        return uri.startswith(PREFIX)

    def publish(self, manifest: Manifest, uri: str, *, dry_run: bool = False) -> PublishResult:
        connect, pool_name = parse(uri)
        images = manifest.images()
        for item in images:
            if not item.path.exists():
                raise InputError(f"image {item.path} is missing", where=str(manifest.path))
        xml_path = manifest.local(manifest.data["domain_xml"]) if manifest.data.get("domain_xml") else None
        result = PublishResult(target=self.name, uri=uri, location=f"{connect} pool {pool_name}", dry_run=dry_run)
        result.actions = [f"upload {i.path} as volume {i.path.name} in pool {pool_name} on {connect}"
                          for i in images]
        if xml_path:
            result.actions.append(f"upload the domain XML template as volume {xml_path.name}")
        if dry_run:
            return result
        with connection(connect) as conn:
            pool = _find_pool(conn, connect, pool_name)
            paths = {}
            for item in images:
                vol = _put(conn, pool, item.path.name, item.path)
                paths[item.path.name] = vol.path()
                result.published.append({"name": item.path.name, "where": vol.path(),
                                         "sha256": item.sha256 or sha256_file(item.path),
                                         "bytes": item.path.stat().st_size})
            if xml_path:
                with tempfile.TemporaryDirectory(prefix=".golden-xml.") as scratch:
                    local = Path(scratch) / xml_path.name
                    local.write_text(template_for_pool(xml_path.read_text(), paths))
                    vol = _put(conn, pool, xml_path.name, local)
                    result.published.append({"name": xml_path.name, "where": vol.path(),
                                             "sha256": sha256_file(local), "bytes": local.stat().st_size})
            import libvirt
            with contextlib.suppress(libvirt.libvirtError):
                pool.obj.refresh(0)
        result.details = {"connect": connect, "pool": pool_name, "pool_path": pool.path}
        return result


TARGET = LibvirtPoolTarget()
