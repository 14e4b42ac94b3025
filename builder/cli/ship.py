"""Shipping commands: sbom, sign, check, publish."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from builder.cli import app
from builder.cli.output import console, err_console, print_json
from builder.errors import EXIT_INPUT, InputError


def _passphrase(file: Optional[Path], env: Optional[str]) -> Optional[str]:
    # Read the same way profile secrets are, so the value is never echoed or logged.
    from builder.profile.secrets import EnvSecret, FileSecret, check_available, reveal

    if file and env:
        raise InputError("give --passphrase-file or --passphrase-env, not both", where="--passphrase-file")
    if not file and not env:
        return None
    secret = FileSecret(file=str(file)) if file else EnvSecret(env=env)
    where = "--passphrase-file" if file else "--passphrase-env"
    check_available(secret, Path.cwd(), where)
    return reveal(secret, Path.cwd())


@app.command("sbom")
def sbom_cmd(
    manifest: Path = typer.Argument(..., help="The build's NAME.manifest.json."),
    as_json: bool = typer.Option(False, "--json", help="Print where the SBOM was written, as JSON."),
):
    """Write an SPDX 2.3 SBOM (NAME.spdx.json) beside the image: the image and its inspected packages."""
    from builder.ship import manifest as mf, sbom

    loaded = mf.load(manifest)
    path = sbom.write(loaded)
    count = len((loaded.data.get("inspect") or {}).get("packages") or [])
    if as_json:
        print_json({"sbom": str(path), "packages": count})
    else:
        console.print(f"sbom: {path} ({count} package(s))")


@app.command("sign")
def sign_cmd(
    manifest: Path = typer.Argument(..., help="The build's NAME.manifest.json."),
    key: Optional[str] = typer.Option(None, "--key", metavar="KEYID", help="Sign with this key (default: gpg's)."),
    homedir: Optional[Path] = typer.Option(None, "--homedir", metavar="DIR", help="gpg home (default: GNUPGHOME)."),
    passphrase_file: Optional[Path] = typer.Option(None, "--passphrase-file", metavar="FILE",
                                                   help="A one-line file holding the key's passphrase."),
    passphrase_env: Optional[str] = typer.Option(None, "--passphrase-env", metavar="VARIABLE",
                                                 help="An environment variable holding the key's passphrase."),
    as_json: bool = typer.Option(False, "--json", help="Print the files written, as JSON."),
):
    """Write NAME.SHA256SUMS over every shipped file and a detached armored signature NAME.SHA256SUMS.asc.

    Without a passphrase option gpg-agent is asked as usual; the passphrase is
    never taken on the command line.
    """
    from builder.ship import manifest as mf
    from builder.ship.sign import sign_manifest

    signature = sign_manifest(manifest, key, homedir, _passphrase(passphrase_file, passphrase_env))
    sums = mf.load(manifest).sums_path()
    if as_json:
        print_json({"sums": str(sums), "signature": str(signature)})
    else:
        console.print(f"checksums: {sums}\nsignature: {signature}")


@app.command("check")
def check_cmd(
    target: Path = typer.Argument(..., metavar="IMAGE|MANIFEST", help="An image, or its NAME.manifest.json."),
    homedir: Optional[Path] = typer.Option(None, "--homedir", metavar="DIR", help="gpg home (default: GNUPGHOME)."),
    as_json: bool = typer.Option(False, "--json", help="Print every check, as JSON."),
):
    """Verify the signature, every checksum, and that the image still matches its manifest.

    Exits 0 when everything holds, 2 naming each failure.
    """
    from builder.ship.check import check

    report = check(target, homedir)
    if as_json:
        print_json(report.as_dict())
    else:
        for line in report.passed:
            console.print(f"ok: {line}")
        for line in report.failures:
            err_console.print(f"FAILED: {line}")
    if not report.ok:
        if not as_json:
            err_console.print(f"error: {report.manifest}: {len(report.failures)} check(s) failed")
        raise typer.Exit(EXIT_INPUT)


@app.command("publish")
def publish_cmd(
    manifest: Path = typer.Argument(..., help="The build's NAME.manifest.json."),
    to: str = typer.Option(..., "--to", metavar="URI",
                           help="oci://HOST:PORT/REPO:TAG, libvirt+qemu:///system/POOL, file:///DIR or a path."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be published; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Publish a built image (and its template XML, SBOM, checksums, signature) to a target."""
    from builder.ship import manifest as mf
    from builder.ship.targets import publish

    result = publish(mf.load(manifest), to, dry_run=dry_run)
    if as_json:
        print_json(result.as_dict())
        return
    prefix = "would " if dry_run else ""
    for action in result.actions:
        console.print(f"{prefix}{action}")
    if not dry_run:
        console.print(f"published to {result.target}: {result.location}")
