"""A KubeVirt containerDisk in an OCI registry: oci://HOST[:PORT]/REPO[:TAG].

The image is one uncompressed layer holding disk/NAME.qcow2, owned by 107:107
(the qemu user in KubeVirt's launcher) with mode 0440, as KubeVirt documents
for containerDisks. The push speaks the OCI distribution API directly: a
blob upload (POST then a monolithic PUT) per blob, then the manifest PUT.
Uncompressed, so the layer digest is also its diff_id and a registry serves
back exactly the bytes golden hashed. Loopback registries are spoken to over
plain HTTP; others over HTTPS unless the URI says oci+http://.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from builder.errors import HostError, InputError
from builder.fsutil import REPRODUCIBLE_EPOCH
from builder.ship.manifest import Manifest
from builder.ship.targets import PublishResult

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
QEMU_UID = 107
DISK_MODE = 0o440

_URI = re.compile(r"^oci(?:\+(?P<scheme>https?))?://(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d+))?"
                  r"/(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
                  r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$")
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}


@dataclass(frozen=True)
class Reference:
    base: str          # http(s)://host:port
    repo: str
    tag: str

    def __str__(self) -> str:
        return f"{self.base.split('://', 1)[1]}/{self.repo}:{self.tag}"


def parse(uri: str) -> Reference:
    match = _URI.match(uri)
    if not match:
        raise InputError(f"not an OCI reference: {uri!r}", where="--to",
                         hint="use oci://HOST:PORT/REPO:TAG, e.g. oci://127.0.0.1:5000/golden/rhel9:latest "
                              "(repository names are lower case)")
    host = match["host"]
    scheme = match["scheme"] or ("http" if host in _LOOPBACK or host.startswith("127.") else "https")
    port = f":{match['port']}" if match["port"] else ""
    return Reference(base=f"{scheme}://{host}{port}", repo=match["repo"], tag=match["tag"] or "latest")


def write_layer(image: Path, disk_name: str, out: Path) -> None:
    """The containerDisk layer: disk/ and disk/NAME, with fixed times and owners so it is reproducible."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        folder = tarfile.TarInfo("disk")
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o555, REPRODUCIBLE_EPOCH
        folder.uid = folder.gid = QEMU_UID
        tar.addfile(folder)
        info = tarfile.TarInfo(f"disk/{disk_name}")
        info.size, info.mode, info.mtime = image.stat().st_size, DISK_MODE, REPRODUCIBLE_EPOCH
        info.uid = info.gid = QEMU_UID
        with open(image, "rb") as f:
            tar.addfile(info, f)


def _digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def _descriptor(media_type: str, digest: str, size: int, **extra) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def config_blob(manifest: Manifest, layer_digest: str) -> bytes:
    created = manifest.data.get("published") or manifest.data.get("created")
    config = {"architecture": "amd64", "os": "linux", "created": created, "config": {},
              "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
              "history": [{"created": created, "created_by": f"golden publish {manifest.name}"}]}
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def image_manifest(manifest: Manifest, config: bytes, layer_digest: str, layer_size: int, disk: str) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
           "config": _descriptor(CONFIG_TYPE, f"sha256:{hashlib.sha256(config).hexdigest()}", len(config)),
           "layers": [_descriptor(LAYER_TYPE, layer_digest, layer_size,
                                  annotations={"org.opencontainers.image.title": disk})],
           "annotations": {"org.opencontainers.image.title": manifest.name,
                           "org.opencontainers.image.created": manifest.data.get("published") or "",
                           "io.golden.image.sha256": manifest.image["sha256"]}}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class _Registry:
    def __init__(self, ref: Reference):
        self.ref = ref

    def _request(self, method: str, url: str, data=None, headers: dict | None = None, ok=(200, 201, 202)):
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                body = response.read()
                return response.status, response.headers, body
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return exc.code, exc.headers, exc.read()
            detail = exc.read().decode(errors="replace")[:300]
            if exc.code in (401, 403):
                raise HostError(f"registry {self.ref.base} refused {method} {url}: {exc.code}",
                                hint="golden pushes without credentials; use a registry that allows "
                                     "anonymous pushes to this repository") from None
            raise HostError(f"registry {self.ref.base}: {method} {url} failed: {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise HostError(f"cannot reach registry {self.ref.base}: {reason}",
                            hint="check that the registry runs and the host and port are right") from None

    def url(self, tail: str) -> str:
        return f"{self.ref.base}/v2/{self.ref.repo}/{tail}"

    def has_blob(self, digest: str) -> bool:
        try:
            status, _, _ = self._request("HEAD", self.url(f"blobs/{digest}"), ok=(200, 404))
        except HostError:
            return False
        return status == 200

    def put_blob(self, digest: str, size: int, source) -> None:
        _, headers, _ = self._request("POST", self.url("blobs/uploads/"), data=b"")
        location = headers.get("Location")
        if not location:
            raise HostError(f"registry {self.ref.base} gave no upload location")
        location = urljoin(self.ref.base + "/", location)
        target = f"{location}{'&' if '?' in location else '?'}digest={digest}"
        self._request("PUT", target, data=source,
                      headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})

    def put_manifest(self, body: bytes) -> str:
        _, headers, _ = self._request("PUT", self.url(f"manifests/{self.ref.tag}"), data=body,
                                      headers={"Content-Type": MANIFEST_TYPE})
        return headers.get("Docker-Content-Digest") or f"sha256:{hashlib.sha256(body).hexdigest()}"


class OciTarget:
    name = "oci"

    def accepts(self, uri: str) -> bool:
        return uri.startswith(("oci://", "oci+http://", "oci+https://"))

    def publish(self, manifest: Manifest, uri: str, *, dry_run: bool = False) -> PublishResult:
        ref = parse(uri)
        # KubeVirt boots qcow2 or raw from a containerDisk; qcow2 is smaller on the wire.
        by_format = {i.format: i for i in manifest.images()}
        image = by_format.get("qcow2") or by_format.get("raw")
        if image is None:
            raise InputError("a containerDisk needs a qcow2 or raw image and the manifest has neither",
                             where=str(manifest.path), hint="add qcow2 to output.formats")
        if not image.path.exists():
            raise InputError(f"image {image.path} is missing", where=str(manifest.path))
        disk = f"{manifest.name}.{'qcow2' if image.format == 'qcow2' else 'img'}"
        result = PublishResult(target=self.name, uri=uri, location=str(ref), dry_run=dry_run)
        result.actions = [f"build a containerDisk layer with disk/{disk} (uid {QEMU_UID}, mode 0440) from "
                          f"{image.path}", f"push it to {ref.base}/v2/{ref.repo} as tag {ref.tag}"]
        if dry_run:
            return result
        registry = _Registry(ref)
        with tempfile.TemporaryDirectory(dir=manifest.directory, prefix=f".{manifest.name}.oci.") as scratch:
            layer = Path(scratch) / "layer.tar"
            write_layer(image.path, disk, layer)
            layer_digest, layer_size = _digest_file(layer), layer.stat().st_size
            config = config_blob(manifest, layer_digest)
            config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
            pushed = []
            if not registry.has_blob(layer_digest):
                with open(layer, "rb") as f:
                    registry.put_blob(layer_digest, layer_size, f)
                pushed.append(layer_digest)
            if not registry.has_blob(config_digest):
                registry.put_blob(config_digest, len(config), config)
                pushed.append(config_digest)
        body = image_manifest(manifest, config, layer_digest, layer_size, disk)
        manifest_digest = registry.put_manifest(body)
        result.published = [{"name": disk, "where": f"{ref}@{manifest_digest}", "sha256": image.sha256,
                             "bytes": image.path.stat().st_size}]
        result.details = {"reference": str(ref), "manifest_digest": manifest_digest,
                          "layer_digest": layer_digest, "layer_bytes": layer_size, "config_digest": config_digest,
                          "blobs_pushed": pushed,
                          "kubevirt": {"containerDisk": {"image": f"{ref.base.split('://', 1)[1]}/{ref.repo}"
                                                                  f"@{manifest_digest}"}}}
        return result


TARGET = OciTarget()
