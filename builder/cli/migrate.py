"""`golden migrate [check] DOMAIN --to URI`: the guide's live-migration pre-flight, then virsh migrate --live."""

from __future__ import annotations

import subprocess
from typing import List, Optional

import typer

from builder.cli import app
from builder.cli.output import checks_table, console, print_json
from builder.errors import EXIT_HOST, HostError, InputError


@app.command("migrate")
def migrate_cmd(
    words: List[str] = typer.Argument(..., metavar="[check] DOMAIN",
                                      help="The guest; `check DOMAIN` runs the pre-flight only."),
    to: str = typer.Option(..., "--to", help="Target libvirt URI, e.g. qemu+ssh://host2/system."),
    connect: Optional[str] = typer.Option(None, "--connect", "-c",
                                          help="Source libvirt URI (default: $LIBVIRT_DEFAULT_URI or qemu:///system)."),
    migrate_uri: Optional[str] = typer.Option(None, "--migrate-uri",
                                              help="Where qemu sends the memory, e.g. tcp://10.0.0.2 "
                                                   "(virsh --migrateuri; default: the target's hostname)."),
    keep_source: bool = typer.Option(False, "--keep-source",
                                     help="Keep the guest defined (shut off) on the source host."),
    unsafe: bool = typer.Option(False, "--unsafe",
                                help="The disks are shared though libvirt cannot tell (not NFS/GFS2/Ceph...): "
                                     "migrate anyway (virsh --unsafe)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Run the checks and print the virsh command only."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Check that a running guest can live-migrate to another host (same hypervisor, networks, shared storage,
    CPU, no passthrough), then move it with `virsh migrate --live`. Exit 3 when a check fails."""
    from builder.virt import connection, migration
    from builder.virt.hostfacts import default_connect_uri

    if len(words) == 2 and words[0] == "check":
        check_only, name = True, words[1]
    elif len(words) == 1:
        check_only, name = False, words[0]
    else:
        raise InputError(f"expected DOMAIN or `check DOMAIN`, got {' '.join(words)!r}", where="arguments")
    src_uri = connect or default_connect_uri()
    if src_uri == to:
        raise InputError(f"--to {to} is the source connection itself", where="--to",
                         hint="give the target host's URI, e.g. qemu+ssh://host2/system")
    with connection.connection(src_uri) as conn_src:
        dom = connection.lookup_domain(conn_src, name)
        if dom is None:               # before the target is reached: a typo should not wait on a remote host
            raise InputError(f"no domain named {name!r} on {src_uri}", where="DOMAIN",
                             hint=f"`virsh -c {src_uri} list --all` shows the guests there")
        with connection.connection(to) as conn_dst:
            found = migration.run(conn_src, src_uri, conn_dst, to, dom, unsafe=unsafe)
    failed = [c for c in found if c.verdict == "fail"]
    argv = migration.virsh_argv(src_uri, to, name, migrate_uri, keep_source, unsafe)
    result = {"domain": name, "from": src_uri, "to": to, "checks": [c.to_json() for c in found],
              "ok": not failed, "command": argv, "migrated": False}
    if not failed and not check_only and not dry_run:
        _migrate(argv, name, to)
        result["migrated"] = True
    if as_json:
        print_json(result)
    else:
        console.print(checks_table(f"golden migrate check: {name} from {src_uri} to {to}", found))
        if failed:
            console.print(f"[red]{len(failed)} check(s) failed[/red]: not migrating")
        elif check_only or dry_run:
            console.print("would run: " + subprocess.list2cmdline(argv))
        else:
            console.print(f"migrated {name} to {to}")
    if failed:
        raise typer.Exit(EXIT_HOST)


def _migrate(argv: list[str], name: str, to: str) -> None:
    from builder.virt import connection

    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise HostError(f"virsh migrate failed: {lines[-1] if lines else f'exit {proc.returncode}'}",
                        hint=f"`golden diagnose {name} --connect {to}` reads the target's logs")
    with connection.connection(to) as conn:
        dom = connection.lookup_domain(conn, name)
        if dom is None or not dom.isActive():
            raise HostError(f"virsh migrate exited 0 but {name} is not running on {to}")
