"""Image and clone commands: inspect, customize, seal, clone, verify."""

from __future__ import annotations

import json

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from builder.cli import app
from builder.cli.output import console, err_console, print_json
from builder.errors import EXIT_INSTALL, InputError

_CONNECT_HELP = "libvirt URI (default: $LIBVIRT_DEFAULT_URI or qemu:///system)."
_BACKEND_HELP = "auto (loop mounts when possible, else one guestfs appliance), loop or guestfs."
# Spelled with (key|file): rich would turn the colon-wrapped word "key" into an emoji.
_KEY_HELP = ("Open a LUKS container: DEVICE:(key|file):PASSPHRASE|FILENAME, DEVICE being the guest's /dev/sda2, "
             "its LUKS UUID or all (guestfs backend). Repeatable.")


def _key_option():
    return typer.Option([], "--key", metavar="SELECTOR", help=_KEY_HELP)


def _add_option():
    return typer.Option([], "--add", "-a", metavar="DISK",
                        help="Another disk of the same guest, in the domain's order (its /dev/sdb, /dev/sdc, ...); "
                             "repeatable. A DOMAIN brings all its disks itself.")


def _keys(values: List[str]):
    """Parsed before the image is opened, so a bad selector or key file costs no appliance launch."""
    from builder.image.luks import parse_keys
    return parse_keys(values)


def _size(n: int | None) -> str:
    if not n:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _events(quiet: bool):
    return None if quiet else (lambda message: err_console.print(f"[dim]{message}[/dim]"))


def _guest_disks(target: Optional[str], add: List[str], connect: Optional[str]) -> list[Path]:
    """The disks of one guest: TARGET (an image, or every writable disk of a domain) and the `--add` images."""
    if target is None:
        if not add:
            raise InputError("give an IMAGE, a DOMAIN or `-a DISK`", hint="see `golden inspect --help`")
        return [Path(a) for a in add]
    disks = _image_paths(target, connect)
    if add and not (Path(target).exists() or "/" in target):
        raise InputError("a domain brings all its disks; --add is for image files", where="--add",
                         hint=f"drop --add, or name the images: -a {disks[0]} -a ...")
    return disks + [Path(a) for a in add]


def _image_paths(target: str, connect: Optional[str]) -> list[Path]:
    """An image file, or the writable file-backed disks of the libvirt domain named TARGET, in its order."""
    path = Path(target)
    if path.exists() or "/" in target:
        return [path]
    import libvirt

    from builder.clone.domainxml import parse, writable_disks
    from builder.virt.connection import connection, lookup_domain
    from builder.virt.hostfacts import default_connect_uri
    uri = connect or default_connect_uri()
    with connection(uri, readonly=True) as conn:
        dom = lookup_domain(conn, target)
        if dom is None:
            raise InputError("no such image file or libvirt domain", where=target,
                             hint=f"give a path, or a domain from `virsh -c {uri} list --all`")
        disks = writable_disks(parse(dom.XMLDesc(0 if dom.isActive() else libvirt.VIR_DOMAIN_XML_INACTIVE)))
    if not disks:
        raise InputError("the domain has no file-backed disk", where=target)
    return [Path(d.find("source").get("file")) for d in disks]


def _changes_cell(changes: list[dict], limit: int = 4) -> str:
    lines = [f"{c['action']} {c['path']}" + (f" ({c['detail']})" if c.get("detail") else "") for c in changes[:limit]]
    if len(changes) > limit:
        lines.append(f"... {len(changes) - limit} more")
    return "\n".join(lines)


# ---- inspect --------------------------------------------------------------------------------

def _table(title: str, columns: list[str], rows: list[list]) -> Table | None:
    if not rows:
        return None
    table = Table(title=title, title_justify="left", show_lines=False)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[str(c) if c not in (None, "") else "-" for c in row])
    return table


def _print_inspect(report: dict, image: Path, backend: str) -> None:
    osr = report["os"]
    console.print(f"[bold]{image}[/bold] ({report['disk']['format']}, {_size(report['disk']['virtual_size'])}, "
                  f"read with the {backend} backend)")
    for d in report.get("disks", [])[1:]:
        console.print(f"  and {d['path']} as {d['device']} ({d['format']}, {_size(d['virtual_size'])})")
    console.print(f"  os:        {osr['pretty_name'] or osr['name'] or osr['distro']} "
                  f"[dim](distro {osr['distro']}, version {osr['version'] or '?'}, family {osr['family']}, "
                  f"{osr['arch']}, init {osr['init']})[/dim]")
    console.print(f"  hostname:  {report['hostname'] or '-'}"
                  + (f" [dim](from {report['hostname_source']})[/dim]" if report["hostname_source"] else ""))
    console.print(f"  root:      {report['root']}")
    if report.get("packages_source") or report.get("packages_note"):
        console.print(f"  packages:  {len(report['packages'])} ({report['packages_source']})"
                      + (f" [yellow]{escape(report['packages_note'])}[/yellow]" if report["packages_note"] else ""),
                      highlight=False)
    tables = [
        _table("partitions", ["device", "start", "size", "type", "uuid", "boot"],
               [[p["device"], p["start"], _size(p["size"]), p["type"], p["uuid"], "*" if p["bootable"] else ""]
                for p in report["partitions"]]),
        _table("file systems", ["device", "type", "label", "uuid", "size", "mounted at"],
               [[f["device"], f["fstype"], f["label"], f["uuid"], _size(f["size"]),
                 # Every btrfs subvolume mounted from the device, each with its subvol= option.
                 ", ".join(m["mountpoint"] + (f" ({m['subvol']})" if m.get("subvol") else "")
                           for m in report["mountpoints"] if m["device"] == f["device"])]
                for f in report["filesystems"]]),
        _table("LVM volume groups", ["vg", "uuid", "size", "pvs"],
               [[v["name"], v["uuid"], _size(v["size"]), ", ".join(v["pvs"])] for v in report["lvm"]["vgs"]]),
        _table("LVM logical volumes", ["lv", "vg", "size", "uuid"],
               [[lv["path"], lv["vg"], _size(lv["size"]), lv["uuid"]] for lv in report["lvm"]["lvs"]]),
        _table("kernels", ["version", "initrd", "size"],
               [[k["version"], k["initrd"], _size(k["size"])] for k in report["kernels"]]),
        _table("boot loaders", ["type", "config", "default entry", "arguments"],
               [[b.get("type"), b.get("config"), (b.get("default_entry") or {}).get("title"),
                 (b.get("default_entry") or {}).get("args")] for b in report["bootloaders"]]),
        _table("network configuration", ["file", "device", "bootproto", "HWADDR", "IPADDR", "UUID"],
               [[c["path"], c["device"], c["bootproto"], c["hwaddr"], c["ipaddr"], c["uuid"]]
                for c in report["network"]["ifcfg"]]
               + [[k["path"], k["interface_name"], k["ipv4_method"], k["mac_address"], "", k["uuid"]]
                  for k in report["network"]["keyfiles"]]),
    ]
    for table in tables:
        if table is not None:
            console.print(table)
    ident = report["identity"]
    idt = Table(title="identity", title_justify="left", show_header=False)
    idt.add_column("item")
    idt.add_column("state")
    for key in ("machine_id", "dbus_machine_id"):
        m = ident[key]
        idt.add_row(m["path"], m["state"] + (f" {m['value']}" if m["value"] else ""))
    for k in ident["ssh_host_keys"]:
        idt.add_row(k["path"], f"{k['type'] or '?'} {k['fingerprint'] or ''}")
    rules = report["network"]["persistent_net_rules"]
    idt.add_row("persistent-net rules", ", ".join(f"{r['mac']} -> {r['name']}" for r in rules) or "none")
    console.print(idt)
    if report["findings"]:
        console.print("[yellow]not golden yet[/yellow] (a default `golden seal` resets these):")
        for f in report["findings"]:
            console.print(f"  - {f}")
    else:
        console.print("[green]sealed:[/green] no per-machine identity found")
    for note in report["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")


@app.command("inspect")
def inspect_cmd(
    target: Optional[str] = typer.Argument(None, metavar="IMAGE|DOMAIN", help="Image file, or a libvirt "
                                                                               "domain's name."),
    add: List[str] = _add_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    backend: str = typer.Option("auto", "--backend", help=_BACKEND_HELP),
    key: List[str] = _key_option(),
    connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT_HELP),
):
    """Show what an image holds: OS, disks, boot, network and the identity a seal would reset."""
    from builder.image import inspect_image, open_image, windows_inspect
    from builder.image.container import check_container

    keys = _keys(key)
    disks = _guest_disks(target, add, connect)
    image = disks[0]
    check_container(image)          # the Windows reader below does not go through open_image
    # Windows: read offline with ntfs-3g and hivex (builder/image/windows_inspect.py).
    windows = windows_inspect.inspect_image(image) if not keys and windows_inspect.holds_ntfs(image) else None
    if windows is None:
        # No NTFS on the disk: no appliance is spent looking for Windows after a failed Linux look.
        with open_image(disks, backend=backend, readonly=True, connect_uri=connect, keys=keys) as g:
            report = inspect_image(g)
            used = g.backend
    else:
        report, used = windows, "guestfs"
    if as_json:
        print_json({"image": str(image), "backend": used, **report})
        return
    if windows is not None:
        console.print(f"[bold]{image}[/bold] ({report['disk']['format']}, {_size(report['disk']['virtual_size'])}, "
                      f"Windows, read with the guestfs backend)")
        console.print("\n".join(windows_inspect.summary_lines(report)), highlight=False, markup=False)
        for f in report["findings"]:
            console.print(f"[yellow]not golden yet:[/yellow] {f}")
        return
    _print_inspect(report, image, used)


# ---- customize ------------------------------------------------------------------------------

@app.command("customize")
def customize_cmd(
    target: Optional[str] = typer.Argument(None, metavar="IMAGE|DOMAIN", help="Image file, or a shut-off "
                                                                               "domain's name."),
    add: List[str] = _add_option(),
    hostname: Optional[str] = typer.Option(None, "--hostname", help="Set the hostname."),
    timezone: Optional[str] = typer.Option(None, "--timezone", help="Set the time zone (e.g. Europe/Paris)."),
    root_password_file: Optional[Path] = typer.Option(None, "--root-password-file",
                                                      help="File whose first line is the new root password."),
    ssh_key: List[str] = typer.Option([], "--ssh-key", help="Authorize a key: the key, a .pub file, or "
                                                            "USER:file:PATH / USER:string:KEY. Repeatable."),
    upload: List[str] = typer.Option([], "--upload", metavar="SRC:DST", help="Copy a host file in. Repeatable."),
    write: List[str] = typer.Option([], "--write", metavar="PATH:CONTENT", help="Write a file. Repeatable."),
    edit: List[str] = typer.Option([], "--edit", metavar="PATH:s/a/b/", help="Edit a file with s/// (sed "
                                                                              "syntax). Repeatable."),
    firstboot: List[Path] = typer.Option([], "--firstboot", metavar="SCRIPT",
                                         help="Run a script once at first boot (rc.local or a systemd unit). "
                                              "Repeatable."),
    selinux_relabel: bool = typer.Option(False, "--selinux-relabel", help="Relabel SELinux at next boot."),
    then_seal: bool = typer.Option(False, "--seal", help="Then run the default seal operations (but "
                                                         "net-hostname with --hostname) in the same launch."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would change; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    backend: str = typer.Option("auto", "--backend", help=_BACKEND_HELP),
    key: List[str] = _key_option(),
    connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT_HELP),
):
    """Change files in an image, all in one appliance launch (or none, with loop mounts).

    Operations run in this order: hostname, timezone, root password, SSH keys,
    uploads, writes, edits, first-boot scripts, SELinux relabel (and with
    --seal, the default seal operations last).
    """
    from builder.image import customize, open_image, seal
    from builder.image.customize import parse_op

    ops = []
    if hostname:
        ops.append(parse_op("hostname", hostname))
    if timezone:
        ops.append(parse_op("timezone", timezone))
    if root_password_file:
        ops.append(parse_op("root-password", f"file:{root_password_file}"))
    ops += [parse_op("ssh-key", k) for k in ssh_key]
    ops += [parse_op("upload", u) for u in upload]
    ops += [parse_op("write", w) for w in write]
    ops += [parse_op("edit", e) for e in edit]
    ops += [parse_op("firstboot", str(f)) for f in firstboot]
    if selinux_relabel:
        ops.append(parse_op("selinux-relabel", True))
    if not ops:
        raise InputError("nothing to do: give at least one operation", hint="see `golden customize --help`")
    keys = _keys(key)
    disks = _guest_disks(target, add, connect)
    image = disks[0]
    with open_image(disks, backend=backend, readonly=dry_run, connect_uri=connect, protect_backing=True,
                    keys=keys) as g:
        # A dry run first: an operation that cannot apply (a missing file, an unknown user)
        # is refused before any other has changed the image.
        report = customize(g, ops, dry_run=True)
        if not dry_run:
            report = customize(g, ops)
        # net-hostname would reset the HOSTNAME this call just set.
        sealed = seal(g, skip=["net-hostname"] if hostname else [], dry_run=dry_run) if then_seal else None
        used = g.backend
    if as_json:
        print_json({"image": str(image), "backend": used, **report, **({"seal": sealed} if sealed else {})})
        return
    table = Table(title=f"customize {image} ({used} backend{', dry run' if dry_run else ''})", title_justify="left")
    for col in ("operation", "result", "changes"):
        table.add_column(col)
    for op in report["operations"]:
        what = op["op"] + ("" if not op.get("automatic") else " (automatic)")
        table.add_row(what, op["result"], _changes_cell(op["changes"]) or "-")
    console.print(table)
    if sealed:
        _print_seal(sealed, image, used, dry_run)


# ---- seal ------------------------------------------------------------------------------------

def _names(values: List[str]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


@app.command("seal")
def seal_cmd(
    target: Optional[str] = typer.Argument(None, metavar="IMAGE|DOMAIN", help="Image file, or a shut-off "
                                                                               "domain's name."),
    add: List[str] = _add_option(),
    list_ops: bool = typer.Option(False, "--list", help="List the seal operations and exit."),
    only: List[str] = typer.Option([], "--only", metavar="OP,...", help="Run only these operations "
                                                                        "(also ones off by default)."),
    skip: List[str] = typer.Option([], "--skip", metavar="OP,...", help="Do not run these operations."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would change; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    backend: str = typer.Option("auto", "--backend", help=_BACKEND_HELP),
    key: List[str] = _key_option(),
    connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT_HELP),
):
    """Reset what makes an installed guest one particular machine, reporting what each operation changed."""
    from builder.image import list_operations, open_image, seal
    from builder.image.seal import select

    if list_ops:
        ops = list_operations()
        if as_json:
            print_json(ops)
            return
        table = Table(title="seal operations", title_justify="left")
        for col in ("operation", "default", "what it does"):
            table.add_column(col)
        for op in ops:
            table.add_row(op["name"], "on" if op["default"] else "[dim]off[/dim]", op["description"])
        console.print(table)
        return
    if target is None and not add:
        raise InputError("give an IMAGE to seal (or --list)", hint="`golden seal --list` shows the operations")
    only_names = _names(only) or None
    select(only_names, _names(skip))             # unknown names are refused before the image is opened
    keys = _keys(key)
    disks = _guest_disks(target, add, connect)
    image = disks[0]
    with open_image(disks, backend=backend, readonly=dry_run, connect_uri=connect, protect_backing=True,
                    keys=keys) as g:
        report = seal(g, only=only_names, skip=_names(skip), dry_run=dry_run)
        used = g.backend
    if as_json:
        print_json({"image": str(image), "backend": used, **report})
        return
    _print_seal(report, image, used, dry_run)


def _print_seal(report: dict, image: Path, used: str, dry_run: bool) -> None:
    table = Table(title=f"seal {image} ({used} backend{', dry run' if dry_run else ''})", title_justify="left")
    for col in ("operation", "result", "changes"):
        table.add_column(col)
    for op in report["operations"]:
        cell = _changes_cell(op["changes"])
        if op["notes"]:
            cell = "\n".join(filter(None, [cell, *(f"[dim]{n}[/dim]" for n in op["notes"])]))
        style = "" if op["result"] == "nothing to do" else "bold"
        table.add_row(op["name"], f"[{style}]{op['result']}[/]" if style else op["result"], cell or "-")
    console.print(table)
    changed = sum(1 for op in report["operations"] if op["changes"])
    console.print(f"{changed} of {len(report['operations'])} operations "
                  f"{'would change' if dry_run else 'changed'} something")


# ---- clone and verify --------------------------------------------------------------------------

@app.command("clone")
def clone_cmd(
    source: Optional[str] = typer.Argument(None, metavar="SOURCE",
                                           help="A sealed image file, a shut-off domain's name, or a Xen guest "
                                                "config file."),
    name: Optional[str] = typer.Option(None, "--name", "-n", metavar="PATTERN",
                                       help="Clone names with {n} for the number, e.g. 'web-{n}' or "
                                            "'db-{n:02d}'; each name is also the clone's hostname (default: "
                                            "the profile's clone.name from the image's manifest)."),
    count: int = typer.Option(1, "--count", "-N", help="How many clones."),
    linked: bool = typer.Option(True, "--linked/--full", help="qcow2 overlays on the source (default) or "
                                                              "full copies."),
    start: bool = typer.Option(False, "--start", help="Start the clones once they are defined."),
    connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT_HELP),
    directory: Optional[Path] = typer.Option(None, "--dir", help="Where the clone disks go (default: beside "
                                                                 "the source image)."),
    first: int = typer.Option(1, "--first", help="The number of the first clone."),
    hwaddr: Optional[str] = typer.Option(None, "--hwaddr", help="set: ifcfg-ethN pins the clone's new MAC; "
                                                                "remove: no HWADDR line (default: the profile's "
                                                                "clone.hwaddr, else set)."),
    bridge: Optional[str] = typer.Option(None, "--bridge", help="Xen configs: the host bridge for every vif."),
    replace: bool = typer.Option(False, "--replace", help="Remove earlier golden clones of the same names "
                                                          "(shut off) and their disks first."),
    remove_batch_dir: Optional[Path] = typer.Option(None, "--remove-batch", metavar="DIR",
                                                    help="Instead: undefine the clones DIR/clones.json lists and "
                                                         "delete their disks."),
    backend: str = typer.Option("auto", "--backend", help=_BACKEND_HELP),
    key: List[str] = _key_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the clones as JSON."),
):
    """Stamp out clones with a new name, UUID, MACs, hostname and machine identity each."""
    from builder.clone.batch import clone_batch, remove_batch

    if remove_batch_dir is not None:
        if source or name:
            raise InputError("--remove-batch takes no SOURCE or --name", hint="golden clone --remove-batch DIR")
        removed = remove_batch(remove_batch_dir, connect=connect, on_event=_events(as_json))
        if as_json:
            print_json({"removed": removed})
        else:
            console.print(f"removed {len(removed)} clone(s) of {remove_batch_dir}" +
                          (": " + ", ".join(removed) if removed else ""))
        return
    defaults = _profile_clone_defaults(source) if source else {}
    name = name or defaults.get("name")
    hwaddr = hwaddr or defaults.get("hwaddr") or "set"
    if source is None or name is None:
        raise InputError("give SOURCE and --name PATTERN", hint="golden clone images/demo.qcow2 --name 'web-{n}' "
                                                                 "--count 3")
    made = clone_batch(source, name, count, linked=linked, start=start, connect=connect, directory=directory,
                       hwaddr=hwaddr, first=first, backend=backend, bridge=bridge, replace=replace,
                       on_event=_events(as_json), keys=_keys(key))
    if as_json:
        print_json([r.to_json() for r in made])
        return
    table = Table(title=f"{len(made)} {'linked' if linked else 'full'} clone(s) of {source}", title_justify="left")
    for col in ("name", "uuid", "mac", "disk", "state"):
        table.add_column(col)
    for r in made:
        state = "running" if r.started else ("config " + r.config if r.config else "defined")
        table.add_row(r.name, r.uuid, ", ".join(r.macs) or "-", "\n".join(r.disks), state)
    console.print(table)
    if made:
        console.print("recorded in " + " and ".join(dict.fromkeys(filter(None, (made[0].batch, made[0].record)))))


def _profile_clone_defaults(source: str) -> dict:
    """The `clone:` section of the profile an image was built from, read from its manifest."""
    manifest = Path(source).with_suffix(".manifest.json")
    try:
        data = json.loads(manifest.read_text())
        clone = dict(data["profile"]["resolved"].get("clone") or {})
        if clone.get("name"):
            clone["name"] = clone["name"].replace("{name}", data["name"])
        return clone
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


@app.command("verify")
def verify_cmd(
    clones: List[str] = typer.Argument(..., metavar="CLONE...", help="Clone domains to boot and check."),
    connect: Optional[str] = typer.Option(None, "--connect", "-c", help=_CONNECT_HELP),
    timeout: float = typer.Option(300, "--timeout", help="Seconds each clone has to print its identity line."),
    parallel: int = typer.Option(2, "--parallel", help="How many clones boot at once."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
):
    """Boot each clone, read its identity from the serial console, check it is what golden set and unique."""
    from builder.clone.verify import verify

    verdicts = verify(clones, connect=connect, timeout=timeout, parallel=parallel, on_event=_events(as_json))
    failed = [v for v in verdicts if not v.ok]
    if as_json:
        print_json([v.to_json() for v in verdicts])
    else:
        table = Table(title="clone identities", title_justify="left")
        for col in ("clone", "verdict", "hostname", "mac", "machine-id", "uuid", "problems"):
            table.add_column(col)
        for v in verdicts:
            r = v.reported
            table.add_row(v.name, "[green]ok[/green]" if v.ok else "[red]FAILED[/red]", r.get("hostname", "-"),
                          r.get("mac", "-"), r.get("machine-id", "-"), r.get("uuid", "-"),
                          "\n".join(v.problems) or "-")
        console.print(table)
    if failed:
        raise typer.Exit(EXIT_INSTALL)
