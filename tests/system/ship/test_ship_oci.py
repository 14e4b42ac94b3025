"""A containerDisk pushed to Debian's docker-registry on loopback and pulled back by digest."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request

import pytest

from tests.ship_fixtures import make_build

pytestmark = pytest.mark.system


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(tmp_path):
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is missing: run scripts/bootstrap.sh"
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
                      f"{tmp_path / 'storage'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    log = open(tmp_path / "registry.log", "wb")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/v2/", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "registry.log").read_text()
                time.sleep(0.1)
        else:
            pytest.fail("docker-registry did not answer on " + base)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _get(url: str, accept: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def test_containerdisk_round_trip_is_byte_identical(tmp_path, golden, registry):
    manifest = make_build(tmp_path / "out")
    image = tmp_path / "out" / "rhel7-golden.qcow2"
    uri = f"oci://{registry.split('://')[1]}/golden/rhel7:1.0"
    run = golden("publish", manifest, "--to", uri, "--json")
    assert run.code == 0, run.err
    details = json.loads(run.out)["details"]
    oci_manifest = json.loads(_get(f"{registry}/v2/golden/rhel7/manifests/1.0",
                                   "application/vnd.oci.image.manifest.v1+json"))
    assert oci_manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    [layer] = oci_manifest["layers"]
    assert layer["digest"] == details["layer_digest"]
    blob = _get(f"{registry}/v2/golden/rhel7/blobs/{layer['digest']}")
    assert f"sha256:{hashlib.sha256(blob).hexdigest()}" == layer["digest"] and len(blob) == layer["size"]
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["disk", "disk/rhel7-golden.qcow2"]
        disk = members["disk/rhel7-golden.qcow2"]
        assert (disk.uid, disk.gid, disk.mode) == (107, 107, 0o440)
        assert tar.extractfile(disk).read() == image.read_bytes()
    config = json.loads(_get(f"{registry}/v2/golden/rhel7/blobs/{oci_manifest['config']['digest']}"))
    assert config["rootfs"]["diff_ids"] == [layer["digest"]]
    # Pushing the same build again sends no blob twice and gives the same manifest digest.
    again = golden("publish", manifest, "--to", uri, "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["details"]["blobs_pushed"] == []
    assert json.loads(again.out)["details"]["manifest_digest"] == details["manifest_digest"]


def test_an_independent_client_pulls_the_containerdisk(tmp_path, golden, registry):
    """skopeo (containers/image) reads the pushed manifest and copies the image into an OCI layout."""
    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo is missing: run scripts/bootstrap.sh"
    manifest = make_build(tmp_path / "out")
    host = registry.split("://")[1]
    run = golden("publish", manifest, "--to", f"oci://{host}/golden/rhel7:2", "--json")
    assert run.code == 0, run.err
    layer = json.loads(run.out)["details"]["layer_digest"]
    layout = tmp_path / "layout"
    subprocess.run([skopeo, "--insecure-policy", "copy", "--src-tls-verify=false",
                    f"docker://{host}/golden/rhel7:2", f"oci:{layout}:pulled"],
                   check=True, capture_output=True, timeout=300)
    # skopeo may recompress the layer on its way into the layout: find it through the layout's manifest.
    index = json.loads((layout / "index.json").read_text())
    pulled_manifest = json.loads((layout / "blobs" / "sha256" /
                                  index["manifests"][0]["digest"].split(":", 1)[1]).read_text())
    [pulled_layer] = pulled_manifest["layers"]
    blob = layout / "blobs" / "sha256" / pulled_layer["digest"].split(":", 1)[1]
    with tarfile.open(blob, "r:*") as tar:
        pulled = tar.extractfile("disk/rhel7-golden.qcow2").read()
    assert pulled == (tmp_path / "out" / "rhel7-golden.qcow2").read_bytes()
    info = json.loads(subprocess.run([skopeo, "--insecure-policy", "inspect", "--tls-verify=false",
                                      f"docker://{host}/golden/rhel7:2"], check=True, capture_output=True,
                                     text=True, timeout=120).stdout)
    assert info["Layers"] == [layer] and info["Os"] == "linux" and info["Architecture"] == "amd64"


def test_unreachable_registry_is_a_host_error(tmp_path, golden):
    manifest = make_build(tmp_path / "out")
    run = golden("publish", manifest, "--to", f"oci://127.0.0.1:{_free_port()}/golden/x:1")
    assert run.code == 3 and "cannot reach registry http://127.0.0.1:" in run.err
