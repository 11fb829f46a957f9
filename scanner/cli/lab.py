"""``poolscan lab up|down|status``: the network-namespace lab (root) or the loopback fallback.

    poolscan lab up --hosts 8 [--pools default|all|NAME,NAME] [--name psl] [--subnet 10.77.0.0/24]
    poolscan lab status [--json]
    poolscan lab down

See :mod:`scanner.lab.netns` for the topology. Without root ``lab up`` says so and points at the loopback
lab (``python -m scanner.lab.serve --host 127.0.0.1``) and the connect sweep; it exits 0 without making
anything.
"""

from __future__ import annotations

import json

import click

from scanner.cli import cli


@cli.group()
def lab() -> None:
    """The lab: emulated pools in network namespaces (root) or on loopback."""


@lab.command("up")
@click.option("--hosts", type=click.IntRange(1, 200), default=8, show_default=True, help="Target addresses.")
@click.option("--pools", default=None, help="Personas for the emulators: default | all | NAME,NAME...")
@click.option("--name", default="psl", show_default=True, help="Lab name (namespaces NAME-scan, NAME-tgt).")
@click.option("--subnet", default="10.77.0.0/24", show_default=True, help="Private IPv4 subnet of the lab.")
@click.option("--no-serve", is_flag=True, help="Do not start the pool emulators.")
@click.option("--json", "as_json", is_flag=True, help="Print the lab's state as one JSON object.")
def lab_up_cmd(hosts: int, pools: str | None, name: str, subnet: str, no_serve: bool, as_json: bool) -> None:
    """Build the namespaces, the veth pair, the addresses; start emulators and the keepalive."""
    from scanner.lab import netns

    if not netns.is_root():
        click.echo("poolscan: not root: the network-namespace lab needs root; using the loopback lab instead: "
                   "python -m scanner.lab.serve --host 127.0.0.1 (sweep it with --engine connect "
                   "--allow-reserved)", err=True)
        return
    st = netns.lab_up(hosts=hosts, pools=pools, name=name, subnet=subnet, serve=not no_serve)
    if as_json:
        click.echo(json.dumps(st))
        return
    click.echo(f"lab {name} up: scanner {st['scan_ns']} {st['scan_ip']} ({st['scan_if']}), targets "
               f"{st['tgt_ns']} {st['hosts'][0]}..{st['hosts'][-1]}, canary {st['canary_ip']}, no default route")
    if st.get("manifest"):
        click.echo(f"emulators: manifest {st['manifest']}")
    for w in st.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    click.echo(f"sweep it: poolscan sweep --targets {st['subnet']} --allow-reserved --engine masscan "
               f"--netns {st['scan_ns']} --rate 1000")


@lab.command("down")
@click.option("--name", default="psl", show_default=True)
def lab_down_cmd(name: str) -> None:
    """Remove exactly what 'lab up' made (processes by pid, namespaces, state)."""
    from scanner.lab import netns

    done = netns.lab_down(name)
    if not done:
        click.echo(f"lab {name} is not up")
    for line in done:
        click.echo(line)


@lab.command("status")
@click.option("--name", default="psl", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the lab's state as one JSON object.")
def lab_status_cmd(name: str, as_json: bool) -> None:
    """Show the lab: namespaces, addresses, routes, processes."""
    from scanner.lab import netns

    st = netns.lab_status(name)
    if as_json:
        click.echo(json.dumps(st))
        return
    if not st.get("up"):
        click.echo(f"lab {name}: down" + (" (state file present but namespaces missing)" if "scan_ns" in st else ""))
        return
    click.echo(f"lab {name}: up; scanner {st['scan_ns']} {st['scan_ip']}; targets {st['tgt_ns']} "
               f"{len(st['hosts'])} hosts {st['hosts'][0]}..{st['hosts'][-1]}; canary {st['canary_ip']}")
    click.echo("routes in scanner namespace: " + ("; ".join(st["routes"]) or "none"))
    for p in st["processes"]:
        click.echo(f"  {p.get('role')}: pid {p['pid']} {'alive' if p['alive'] else 'DEAD'}")
    if st.get("endpoints") is not None:
        click.echo(f"emulated endpoints: {st['endpoints']} (manifest {st['manifest']})")
