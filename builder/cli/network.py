"""Network commands: `golden pxe tree|serve|network`, `golden bridge plan|apply` and `golden net default`."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Optional

import typer

from builder.cli import app
from builder.cli.output import console, err_console, print_json
from builder.errors import InputError

pxe_app = typer.Typer(help="PXE installs: a TFTP tree per profile and machine, a DHCP/TFTP/kickstart server, "
                           "or a libvirt network that serves the tree.", no_args_is_help=True)
bridge_app = typer.Typer(help="Host bridges for PXE installs and shared physical devices (seed 7.3, 10.2).",
                         no_args_is_help=True)
app.add_typer(pxe_app, name="pxe")
app.add_typer(bridge_app, name="bridge")


# --------------------------------------------------------------------- pxe

@pxe_app.command("tree")
def pxe_tree_cmd(
    profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="The TFTP root to write (default: <output.dir>/<name>.build/pxe)."),
    mac: Optional[str] = typer.Option(None, "--mac", help="The guest NIC's MAC (default: network.mac)."),
    server: str = typer.Option("192.168.150.1", "--server",
                               help="Address the guest reaches `golden pxe serve`'s kickstart server at."),
    http_port: int = typer.Option(80, "--http-port", help="Port of the kickstart server."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="Installer kernel (default: from install.media)."),
    initrd: Optional[Path] = typer.Option(None, "--initrd", help="Installer initrd (default: from install.media)."),
    uefi: bool = typer.Option(True, "--uefi/--no-uefi", help="Also write grubnetx64.efi for UEFI guests."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Write a PXE tree: pxelinux and grub loaders, per-MAC configs, kernel, initrd and kickstart."""
    from builder.layout import BuildLayout
    from builder.net import bootfiles
    from builder.net.pxe import build_tree
    from builder.profile import load

    loaded = load(profile)
    if (kernel is None) != (initrd is None):
        raise InputError("--kernel and --initrd go together")
    boot = bootfiles.from_files(kernel, initrd) if kernel else None
    out = out or BuildLayout.for_profile(loaded.profile, Path.cwd()).build_dir / "pxe"
    tree = build_tree(loaded, out, mac=mac, server=server, http_port=http_port, boot=boot, efi=uefi)
    if as_json:
        print_json(tree.to_json())
        return
    console.print(f"PXE tree for [bold]{tree.profile}[/bold] and {tree.mac} in {tree.root}")
    for rel in tree.files:
        console.print(f"  {rel}")
    console.print(f"kernel and initrd from: {tree.boot_origin}")
    console.print(f"kernel arguments: {' '.join(tree.args)}")
    console.print(f"kickstart URL: {tree.ks_url}")
    for note in tree.notes:
        console.print(f"note: {note}")
    console.print(f"next: golden pxe serve {shlex.quote(str(tree.root))} --interface IF "
                  f"(the interface that has {server}), or `golden pxe network` for libvirt")


@pxe_app.command("serve")
def pxe_serve_cmd(
    tree: Path = typer.Argument(..., help="A tree made by `golden pxe tree`."),
    interface: str = typer.Option(..., "--interface", "-i", help="Serve on this interface only (e.g. a bridge)."),
    dhcp_range: Optional[str] = typer.Option(None, "--range", help="DHCP pool START,END "
                                             "(default: the upper half of the interface's subnet)."),
    http_port: int = typer.Option(80, "--http-port", help="Port of the kickstart server (as in the tree)."),
    address: Optional[str] = typer.Option(None, "--address",
                                          help="Serve from this address of the interface (default: its first)."),
    router: Optional[str] = typer.Option(None, "--router", help="Gateway to advertise (default: none)."),
    http_only: bool = typer.Option(False, "--http-only",
                                   help="Only the kickstart server (libvirt's network serves DHCP and TFTP)."),
    log_dhcp: bool = typer.Option(False, "--log-dhcp", help="Log every DHCP option dnsmasq sends."),
):
    """Run dnsmasq (DHCP with PXE options, TFTP) and the kickstart web server until Ctrl-C."""
    from builder.net import serve as srv
    from builder.net.pxe import check_port

    check_port(http_port)
    found = srv.interface_addresses(interface)
    addr = srv.pick_address(interface, address, found)
    if not http_only and interface == "lo":
        raise InputError("--interface lo: DHCP cannot be served on the loopback device",
                         "use the bridge or NIC the guests are on, or --http-only")
    pool = srv.parse_range(dhcp_range, addr) if dhcp_range else None
    if router:
        import ipaddress
        try:
            ipaddress.IPv4Address(router)
        except ValueError:
            raise InputError(f"--router {router!r} is not an IPv4 address") from None
    cfg = srv.ServeConfig(tree=tree.resolve(), interface=interface, address=addr, http_port=http_port,
                          dhcp=not http_only, range=pool, router=router, log_dhcp=log_dhcp)
    with srv.stop_on_signals() as stop:
        srv.serve(cfg, srv.line_logger(), stop)


@pxe_app.command("network")
def pxe_network_cmd(
    profile: str = typer.Argument(..., help="Profile path or shipped profile name."),
    tree: Path = typer.Option(..., "--tree", help="The PXE tree libvirt's TFTP server hands out."),
    name: Optional[str] = typer.Option(None, "--name",
                                       help="Network name (default: the profile's PXE network, golden-pxe)."),
    bridge: Optional[str] = typer.Option(None, "--bridge", help="Bridge device name (default: libvirt picks)."),
    subnet: str = typer.Option("192.168.150.1/24", "--subnet", help="The host's address on the network/prefix."),
    dhcp_range: Optional[str] = typer.Option(None, "--range", help="DHCP pool START,END."),
    uefi: bool = typer.Option(True, "--uefi/--no-uefi", help="Hand UEFI clients grubnetx64.efi."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the XML here (default: stdout)."),
):
    """Print (or write) an isolated libvirt network that serves the PXE tree by DHCP and TFTP."""
    from builder.fsutil import atomic_write
    from builder.net import netxml
    from builder.profile import effective, load

    loaded = load(profile)
    p = loaded.profile
    if name is None:
        name = effective.network_source(p) if p.network.mode == "pxe" else netxml.DEFAULT_PXE_NETWORK
    pool = tuple(x.strip() for x in dhcp_range.split(",")) if dhcp_range else None
    if pool is not None and len(pool) != 2:
        raise InputError(f"--range {dhcp_range!r} is not START,END")
    xml = netxml.pxe_network(tree, name=name, bridge=bridge, subnet=subnet, dhcp_range=pool, uefi=uefi)
    checked = shutil.which("virt-xml-validate") is not None
    if checked:
        netxml.validate(xml, "network")
    if output:
        atomic_write(output, xml)
        err_console.print(f"wrote {output}" + (" (virt-xml-validate: ok)" if checked else ""))
    else:
        typer.echo(xml.decode(), nl=False)
    if not checked:
        err_console.print("note: virt-xml-validate is missing (libvirt-clients); the XML was not checked")
    host = netxml.parse_subnet(subnet).ip
    where = bridge or f"the bridge `virsh net-info {name}` names"
    err_console.print(f"next: virsh net-define {output or 'FILE'} && virsh net-start {name}; then "
                      f"golden pxe serve {tree} --http-only --interface {where} for the kickstarts "
                      f"(build the tree with --server {host})")
    if p.network.mode != "pxe" or effective.network_source(p) != name:
        err_console.print(f"note: {p.name} uses network mode {p.network.mode} ({effective.network_source(p)}); "
                          f"guests PXE-boot from this network with network: {{mode: pxe, source: {name}}}")


# ------------------------------------------------------------------ bridge

def _bridge_plan(name: str, nic: str, root: Path, host_release: Optional[str], filter: str,
                 net_name: Optional[str], live: bool):
    from builder.net import bridge as br
    from builder.net import hostnet

    release = br.parse_release(host_release) if host_release else None
    hwaddr = None
    if root.resolve() == Path("/") or live:
        link = hostnet.link(nic) if nic and nic != "lo" else None
        hwaddr = link.mac if link and link.kind in (None, "veth") else None
    return br.make_plan(name, nic, root=root, release=release, filter=filter, net_name=net_name,
                        hwaddr=hwaddr, release_given=host_release is not None)


def _print_plan(plan, styles: list[str]) -> None:
    rel = f"RHEL {plan.release[0]}.{plan.release[1]}" if plan.release else "current"
    console.print(f"bridge [bold]{plan.name}[/bold] over {plan.nic} (host release: {rel})")
    for finding in plan.findings:
        console.print(f"[yellow]problem now[/yellow]: {finding}")
    if "rhel" in styles:
        console.print("\n[bold]RHEL 5/6 network-scripts[/bold] (--style rhel)")
        for change in plan.files:
            if change.old is None:
                console.print(f"--- {change.path} (new file)")
                typer.echo(change.new, nl=False)
            elif change.changed:
                typer.echo(change.diff(), nl=False)
            else:
                console.print(f"--- {change.path} (unchanged)")
        console.print("then:")
        for cmd in plan.rhel_commands:
            console.print(f"  # {shlex.join(cmd)}")
    if "nmcli" in styles:
        console.print("\n[bold]NetworkManager[/bold] (--style nmcli)")
        for cmd in plan.nmcli_commands:
            console.print(f"  # {shlex.join(cmd)}")
    if "libvirt" in styles:
        console.print("\n[bold]libvirt network[/bold] (--style libvirt)")
        typer.echo(plan.libvirt_xml.decode(), nl=False)
        for cmd in plan.libvirt_commands:
            console.print(f"  # {shlex.join(cmd)}")
    for note in plan.notes:
        console.print(f"note: {note}")


def _styles(style: str) -> list[str]:
    from builder.net.bridge import STYLES
    if style == "all":
        return list(STYLES)
    if style not in STYLES:
        raise InputError(f"--style {style!r}: use rhel, nmcli, libvirt or all")
    return [style]


@bridge_app.command("plan")
def bridge_plan_cmd(
    name: str = typer.Argument(..., help="Bridge name, e.g. br0 or installation."),
    nic: str = typer.Option(..., "--nic", help="The physical NIC that becomes the bridge's port."),
    style: str = typer.Option("all", "--style", help="rhel | nmcli | libvirt | all"),
    root: Path = typer.Option(Path("/"), "--root", help="Read existing files under this root."),
    host_release: Optional[str] = typer.Option(None, "--host-release",
                                               help="RHEL release of the host, e.g. 5.8 (default: from "
                                                    "ROOT/etc/redhat-release, else current)."),
    filter: str = typer.Option("sysctl", "--filter", help="sysctl (bridge-nf off) | iptables (physdev rule)."),
    net_name: Optional[str] = typer.Option(None, "--net-name", help="libvirt network name (default: NAME)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Show every change `bridge apply` would make, in each style; change nothing."""
    styles = _styles(style)
    plan = _bridge_plan(name, nic, root, host_release, filter, net_name, live=False)
    if as_json:
        print_json(plan.to_json())
        return
    _print_plan(plan, styles)


@bridge_app.command("apply")
def bridge_apply_cmd(
    name: str = typer.Argument(..., help="Bridge name, e.g. br0 or installation."),
    nic: str = typer.Option(..., "--nic", help="The physical NIC that becomes the bridge's port."),
    style: str = typer.Option("auto", "--style",
                              help="rhel | nmcli | libvirt | auto (rhel where network-scripts exist, else nmcli)."),
    root: Path = typer.Option(Path("/"), "--root", help="Write files under this root (stage changes) instead of /."),
    force: bool = typer.Option(False, "--force", help="Take the NIC even when it is the host's only uplink."),
    live: Optional[bool] = typer.Option(None, "--live/--no-live",
                                        help="Also build the bridge now with iproute2 (default: only when ROOT is /)."),
    host_release: Optional[str] = typer.Option(None, "--host-release", help="RHEL release of the host, e.g. 5.8."),
    filter: str = typer.Option("sysctl", "--filter", help="sysctl (bridge-nf off) | iptables (physdev rule)."),
    net_name: Optional[str] = typer.Option(None, "--net-name", help="libvirt network name (default: NAME)."),
):
    """Make the bridge: write the files (under --root) and, on the live system, build it now. Needs root."""
    from builder.net import bridge as br

    if live is None:
        live = root.resolve() == Path("/")
    if style == "auto":
        if (root / "etc/sysconfig/network-scripts").is_dir():
            style = "rhel"
        elif shutil.which("nmcli"):
            style = "nmcli"
        else:
            raise InputError("no network-scripts folder and no nmcli here: pick --style rhel, nmcli or libvirt")
    plan = _bridge_plan(name, nic, root, host_release, filter, net_name, live=live)
    for finding in plan.findings:
        console.print(f"fixing: {finding}")
    report = br.apply(plan, style=style, live=live, force=force)
    for path in report.backups:
        console.print(f"backup {path}")
    for path in report.written:
        console.print(f"wrote {path}")
    for cmd in report.ran:
        console.print(f"ran: {shlex.join(cmd)}")
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"bridge {plan.name} over {plan.nic}: applied ({style}{', live' if live else ''})")


# `golden net default`: libvirt's NAT network and IP forwarding (seed 10.1).
net_app = typer.Typer(help="libvirt virtual networks (seed 10.1).", no_args_is_help=True)
app.add_typer(net_app, name="net")


@net_app.command("default")
def net_default_cmd(
    root: Optional[Path] = typer.Option(None, "--root", help="Write the files into this tree instead of the host: "
                                        "ROOT/etc/libvirt/qemu/networks/default.xml, its autostart link, "
                                        "ROOT/etc/sysctl.conf."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    apply: bool = typer.Option(False, "--apply", help="Change this host: define, autostart and start the "
                               "network through libvirt and turn IP forwarding on. Needs root."),
    source: Path = typer.Option(Path("/usr/share/libvirt/networks/default.xml"), "--from",
                                help="The network XML to define (default: the one libvirt ships)."),
    connect: str = typer.Option("qemu:///system", "--connect", "-c", help="libvirt URI for --apply."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Define, autostart and start libvirt's NAT `default` network; net.ipv4.ip_forward = 1 in sysctl.conf."""
    from builder.net import natdefault as nat

    if root is not None and apply:
        raise InputError("--root and --apply: pick one (--root stages files, --apply changes this host)")
    if root is None and not dry_run and not apply:
        raise InputError("golden net default changes this host's routing (a NAT bridge and iptables rules)",
                         "look first with --dry-run, stage the files with --root DIR, or pass --apply")
    if root is not None and (root.exists() and not root.is_dir()):
        raise InputError(f"--root {root}: not a folder")
    plan = nat.make_plan(root if root is not None else Path("/"), source=source)
    from builder.net.netxml import validate
    if shutil.which("virt-xml-validate"):
        validate(plan.xml, "network")
    report = None
    if not dry_run:
        report = nat.write_tree(plan) if root is not None else nat.apply_live(plan, connect)
    if as_json:
        data = plan.to_json()
        data["dry_run"] = dry_run
        if report is not None:
            data["written"] = [str(p) for p in report.written]
            data["linked"] = [str(p) for p in report.linked]
            data["ran"] = report.ran
        print_json(data)
        return
    console.print(f"libvirt network [bold]default[/bold] from {plan.xml_source}")
    for change in plan.files:
        state = "new file" if change.old is None else ("changes" if change.changed else "unchanged")
        console.print(f"--- {change.path} ({state})")
        if change.changed:
            typer.echo(change.diff() if change.old is not None else change.new, nl=False)
    if plan.autostart_link:
        console.print(f"--- {plan.autostart_link} -> {nat.AUTOSTART_TARGET} (autostart link)")
    for note in plan.notes:
        console.print(f"note: {note}")
    if dry_run:
        console.print("on the host this is:")
        for cmd in plan.commands:
            console.print(f"  # {shlex.join(cmd)}")
        console.print("dry run: nothing changed")
        return
    for path in report.written:
        console.print(f"wrote {path}")
    for path in report.linked:
        console.print(f"linked {path}")
    for step in report.ran:
        console.print(f"ran: {step}")
    if root is not None:
        console.print(f"staged under {root}: nothing on this host changed")
