"""masscan for real, inside the project's own network namespaces (root; CI runs as root).

Every packet stays on the veth pair between ``<lab>-scan`` and ``<lab>-tgt``; neither has a default
route (checked by the lab and again by the masscan runner before every start). The lab is torn down in
the fixture's ``finally`` even when a test fails.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.errors import UsageError
from scanner.lab import netns
from scanner.sweep import SweepReport, sweep
from scanner.sweep.masscan import MasscanError, UnsafeNamespace
from scanner.targets import load_exclusions, parse_targets

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="builds network namespaces and runs masscan: needs root "
                                                 "(CI runs as root)"),
]

ROOT = Path(__file__).resolve().parents[2]
NAME = f"pslt{os.getpid() % 100000}"
SUBNET = "10.77.224.0/20"  # hosts .224.10-25; room for sweeps of up to 4,096 addresses
PORTS = [3333, 3334, 4444, 5555, 7777, 8008, 8888, 9999, 14433, 14444]


@pytest.fixture(scope="module")
def lab():
    if shutil.which("masscan") is None:
        pytest.fail("masscan is not installed: apt-get install -y masscan libpcap0.8")
    st = netns.lab_up(hosts=16, name=NAME, subnet=SUBNET, serve=False)
    h = st["hosts"]
    # sparse open ports, as in a real sweep: 8 of 160 probes
    st["open"] = sorted([(h[0], 3333), (h[0], 14444), (h[3], 4444), (h[5], 8008), (h[7], 9999), (h[11], 3334),
                         (h[12], 5555), (h[15], 7777)])
    listener = None
    try:
        listener = netns.spawn_listener(st["tgt_ns"], st["open"])
        yield st
    finally:
        if listener is not None:
            listener.terminate()
            listener.wait(10)
        netns.lab_down(NAME)


def sweep_list(targets, ports, **kw):
    async def go():
        return [(o.ip, o.port) async for o in sweep(targets, ports, engine="masscan", **kw)]
    return asyncio.run(go())


def all_hosts(st):
    return parse_targets(st["hosts"], allow_reserved=True)


def test_lab_topology(lab):
    present = netns.namespaces()
    assert lab["scan_ns"] in present and lab["tgt_ns"] in present
    routes = subprocess.run(["ip", "-n", lab["scan_ns"], "route", "show", "table", "all"], capture_output=True,
                            text=True).stdout
    assert "default" not in routes and " via " not in routes
    links = json.loads(subprocess.run(["ip", "-n", lab["scan_ns"], "-j", "link"], capture_output=True,
                                      text=True).stdout)
    assert sorted(x["ifname"] for x in links) == sorted(["lo", lab["scan_if"]])
    # nothing of the lab in the root namespace
    assert subprocess.run(["ip", "link", "show", lab["scan_if"]], capture_output=True).returncode != 0
    assert subprocess.run(["ip", "link", "show", lab["tgt_if"]], capture_output=True).returncode != 0
    st = netns.lab_status(NAME)
    assert st["up"] and [p["role"] for p in st["processes"] if p["alive"]] == ["keepalive"]


@pytest.mark.parametrize("rate,spec", [
    (100, None),                 # the 16 hosts: 160 probes, 1.6 s of sending
    (1000, "10.77.224.0/24"),    # 2,560 probes, 2.6 s
    (10000, "10.77.224.0/21"),   # 20,480 probes, 2.0 s
])
def test_masscan_finds_every_open_port_and_nothing_else(lab, rate, spec):
    rep = SweepReport()
    t0 = time.monotonic()
    targets = parse_targets(spec, allow_reserved=True) if spec else all_hosts(lab)
    got = sweep_list(targets, PORTS, rate=rate, netns=lab["scan_ns"], report=rep)
    elapsed = time.monotonic() - t0
    assert sorted(got) == lab["open"]  # every open port found, no closed port reported, no duplicate yielded
    assert rep.canary_seen is True and rep.canary.startswith(lab["canary_ip"] + ":")
    assert isinstance(rep.seed, int) and rep.seed > 0
    cmd = rep.argv[0]
    assert cmd[:4] == ["ip", "netns", "exec", lab["scan_ns"]]
    assert cmd[cmd.index("--seed") + 1] == str(rep.seed) and cmd[cmd.index("--rate") + 1] == str(rate)
    assert "--excludefile" in cmd and cmd[cmd.index("--adapter") + 1] == lab["scan_if"]
    assert elapsed < 30, elapsed
    assert rep.warnings == []  # no rate cap: these sweeps are big enough to send at the asked rate


def test_small_sweep_is_slowed_to_be_burst_safe(lab):
    """160 probes asked at 10,000/s would all leave in masscan's first burst (answers lost, see MIN_SEND_S);
    the runner lowers the rate so sending lasts >= 2 s, and every open port is found."""
    rep = SweepReport()
    got = sweep_list(all_hosts(lab), PORTS, rate=10000, netns=lab["scan_ns"], report=rep, wait=1)
    assert sorted(got) == lab["open"]
    cmd = rep.argv[0]
    assert cmd[cmd.index("--rate") + 1] == "100"
    assert rep.warnings and rep.warnings[0].startswith("rate lowered to 100/s for a sweep of 170 probes")


def test_excluded_host_is_never_handed_to_masscan(lab):
    excluded = lab["hosts"][5]  # it has an open port (8008)
    targets = parse_targets(f"{lab['hosts'][0]}-{lab['hosts'][-1]}", allow_reserved=True, extra_excludes=[excluded])
    rep = SweepReport()
    seen_exclude_file: list[bool] = []

    async def go():
        out = []
        async for o in sweep(targets, PORTS, engine="masscan", rate=1000, netns=lab["scan_ns"], report=rep):
            if not seen_exclude_file:  # the temporary exclude file exists while masscan runs
                cmd = rep.argv[-1]
                path = cmd[cmd.index("--excludefile") + 1]
                seen_exclude_file.append(load_exclusions(builtin_file=path).contains(excluded))
            out.append((o.ip, o.port))
        return out

    got = asyncio.run(go())
    assert sorted(got) == [p for p in lab["open"] if p[0] != excluded]
    assert seen_exclude_file == [True]
    x = int(ipaddress.ip_address(excluded))
    for cmd in rep.argv:
        for tok in cmd:
            if tok[:1].isdigit() and "." in tok and "/" not in tok[:0]:
                try:
                    if "-" in tok:
                        a, b = tok.split("-")
                        lo, hi = int(ipaddress.ip_address(a)), int(ipaddress.ip_address(b))
                    else:
                        net = ipaddress.ip_network(tok, strict=False)
                        lo, hi = int(net.network_address), int(net.broadcast_address)
                except ValueError:
                    continue
                assert not lo <= x <= hi, f"{excluded} handed to masscan in {tok}"


def test_duplicates_from_extra_passes_are_removed(lab):
    rep = SweepReport()
    got = sweep_list(all_hosts(lab), PORTS, rate=1000, netns=lab["scan_ns"], report=rep, passes=2, wait=1)
    assert sorted(got) == lab["open"] and len(got) == len(set(got))
    assert rep.passes == 2 and rep.duplicates >= len(lab["open"]) - 2  # the second pass re-finds (almost) all


def test_c38_no_adapter_is_one_clear_error(lab):
    """Provoked for real: inside a namespace without a default route masscan cannot pick an interface."""
    with pytest.raises(MasscanError) as e:
        sweep_list(all_hosts(lab), [3333], rate=100, netns=lab["scan_ns"], auto_adapter=False, canary=None)
    assert str(e.value).startswith("masscan could not determine the default interface")
    assert "--adapter" in str(e.value)


def test_c36_router_not_found_is_one_clear_error(lab):
    """Provoked for real: --adapter but no router: masscan ARPs for 0.0.0.0 for ever; the watchdog stops it."""
    t0 = time.monotonic()
    with pytest.raises(MasscanError) as e:
        sweep_list(all_hosts(lab), [3333], rate=100, netns=lab["scan_ns"], auto_adapter=False,
                   adapter=lab["scan_if"], canary=None, arp_timeout=2.0)
    assert str(e.value).startswith("masscan could not find the router MAC")
    assert time.monotonic() - t0 < 15
    assert _masscan_left(lab) == []


def test_c36_soft_failure_wrong_router_mac_is_caught_by_the_canary(lab):
    """C36's soft failure: a wrong --router-mac gives found=0 and exit 0; only the canary can tell."""
    rep = SweepReport()
    with pytest.raises(MasscanError) as e:
        sweep_list(all_hosts(lab), PORTS, rate=1000, netns=lab["scan_ns"], router_mac="02-00-00-00-00-01",
                   report=rep, wait=1)
    assert "canary" in str(e.value) and "was not seen" in str(e.value) and "unknown, not empty" in str(e.value)
    assert rep.passes == 2  # one extra pass was tried before giving up


def test_watchdog_stops_a_run_past_its_time_limit(lab):
    t0 = time.monotonic()
    with pytest.raises(MasscanError, match="hard time limit"):
        # --wait 20 makes masscan linger; a margin of -33 s leaves a hard limit of about 1.7 s
        sweep_list(all_hosts(lab), PORTS, rate=1000, netns=lab["scan_ns"], wait=20, timeout_margin=-33,
                   canary=None)
    assert time.monotonic() - t0 < 10
    assert _masscan_left(lab) == []


def _masscan_left(lab) -> list[str]:
    pids = subprocess.run(["ip", "netns", "pids", lab["scan_ns"]], capture_output=True, text=True).stdout.split()
    names = []
    for pid in pids:
        try:
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            pass
    return [n for n in names if n == "masscan"]


def test_refuses_a_namespace_with_a_default_route(lab):
    """Safety: the runner checks the route table before starting masscan; masscan is never started."""
    subprocess.run(["ip", "-n", lab["scan_ns"], "route", "add", "default", "via", lab["hosts"][0]], check=True)
    rep = SweepReport()
    try:
        with pytest.raises(UnsafeNamespace, match="default route"):
            sweep_list(all_hosts(lab), [3333], rate=100, netns=lab["scan_ns"], report=rep)
    finally:
        subprocess.run(["ip", "-n", lab["scan_ns"], "route", "del", "default"], check=True)
    assert rep.argv == []


def test_refuses_a_namespace_with_a_foreign_interface(lab):
    # a second veth pair with both ends inside the scanner namespace (the kernel here has no dummy module)
    subprocess.run(["ip", "-n", lab["scan_ns"], "link", "add", "pslx-a", "type", "veth", "peer", "name", "pslx-b"],
                   check=True)
    rep = SweepReport()
    try:
        with pytest.raises(UnsafeNamespace, match="pslx-a"):
            sweep_list(all_hosts(lab), [3333], rate=100, netns=lab["scan_ns"], report=rep)
    finally:
        subprocess.run(["ip", "-n", lab["scan_ns"], "link", "del", "pslx-a"], check=True)
    assert rep.argv == []


def test_refuses_targets_outside_the_lab_subnet(lab):
    t = parse_targets("10.77.241.10", allow_reserved=True)  # private, allowed, but not the lab's subnet
    with pytest.raises(UnsafeNamespace, match="outside the namespace's subnets"):
        sweep_list(t, [3333], rate=100, netns=lab["scan_ns"])


def test_connect_sweep_refuses_lab_addresses_outside_the_lab_namespace(lab):
    """From the root namespace 10.77.224.x would follow the default route to the real network, so the connect
    engine refuses lab addresses anywhere but in the lab's scanner namespace. Checked from a namespace of its
    own with nothing but a down `lo` (so even a broken check could not send a packet anywhere)."""
    iso = f"{NAME}-iso"
    subprocess.run(["ip", "netns", "add", iso], check=True)
    try:
        r = subprocess.run(["ip", "netns", "exec", iso, sys.executable, "-m", "scanner", "sweep", "--targets",
                            f"{lab['hosts'][0]}-{lab['hosts'][-1]}", "--allow-reserved", "--ports", "3333",
                            "--rate", "100", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                           env={**os.environ, "POOLSCAN_NO_INTERNET": "1"})
    finally:
        subprocess.run(["ip", "netns", "del", iso], check=True)
    assert r.returncode == 2 and r.stdout == ""
    assert f"inside lab {NAME}'s subnet" in r.stderr and f"ip netns exec {lab['scan_ns']}" in r.stderr
    # and the check itself, in this (root) namespace, without any socket
    with pytest.raises(UsageError, match="would go to the real network"):
        netns.check_socket_scope(all_hosts(lab).ranges)
    netns.check_socket_scope(parse_targets("127.0.0.1", allow_reserved=True).ranges)  # loopback is fine


def test_connect_sweep_inside_the_lab_namespace(lab):
    r = subprocess.run(["ip", "netns", "exec", lab["scan_ns"], sys.executable, "-m", "scanner", "sweep",
                        "--targets", f"{lab['hosts'][0]}-{lab['hosts'][-1]}", "--allow-reserved",
                        "--ports", ",".join(map(str, PORTS)), "--rate", "2000", "--timeout", "0.5", "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={**os.environ, "POOLSCAN_NO_INTERNET": "1"})
    assert r.returncode == 0, r.stderr
    got = sorted((d["ip"], d["port"]) for d in map(json.loads, r.stdout.splitlines()))
    assert got == lab["open"]


def test_masscan_inside_the_lab_namespace_needs_no_netns_flag(lab):
    """`ip netns exec <lab>-scan poolscan sweep --engine masscan` (how the demo runs the whole pipeline there)
    finds the lab by the namespace it runs in."""
    r = subprocess.run(["ip", "netns", "exec", lab["scan_ns"], sys.executable, "-m", "scanner", "sweep",
                        "--targets", f"{lab['hosts'][0]}-{lab['hosts'][-1]}", "--allow-reserved",
                        "--ports", ",".join(map(str, PORTS)), "--engine", "masscan", "--rate", "1000",
                        "--wait", "1", "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={**os.environ, "POOLSCAN_NO_INTERNET": "1"})
    assert r.returncode == 0, r.stderr
    got = sorted((d["ip"], d["port"]) for d in map(json.loads, r.stdout.splitlines()))
    assert got == lab["open"]
    summary = json.loads(r.stderr.strip().splitlines()[-1])
    assert summary["namespace"] == lab["scan_ns"] and summary["canary_seen"] is True


def test_production_mode_is_never_started_by_tests():
    with pytest.raises(UsageError, match="POOLSCAN_NO_INTERNET"):
        sweep_list(parse_targets("1.1.1.1"), [3333], rate=100, production=True)


@pytest.mark.skipif(not netns._serve_available(), reason="scanner.lab.serve (the emulators) is not installed")
def test_lab_with_emulated_pools_every_manifest_port_found():
    """`lab up` with the emulators: masscan finds exactly the manifest's listeners (plus closed ports: none)."""
    name = f"psls{os.getpid() % 100000}"
    st = netns.lab_up(hosts=2, name=name, subnet="10.77.241.0/24")
    try:
        manifest = json.loads(Path(st["manifest"]).read_text())
        want = sorted({(e["host"], e["port"]) for e in manifest})
        ports = sorted({p for _h, p in want} | {1, 2, 65000})  # three closed ports too
        rep = SweepReport()
        got = sweep_list(parse_targets(st["hosts"], allow_reserved=True), ports, rate=100, netns=st["scan_ns"],
                         report=rep)
        assert sorted(got) == want
        assert rep.canary_seen is True
    finally:
        netns.lab_down(name)
    assert st["scan_ns"] not in netns.namespaces()


def test_lab_cli_up_status_down():
    name = f"pslc{os.getpid() % 100000}"
    env = {**os.environ, "POOLSCAN_NO_INTERNET": "1"}

    def pc(*a):
        return subprocess.run([sys.executable, "-m", "scanner", "lab", *a, "--name", name], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=60)

    try:
        r = pc("up", "--hosts", "2", "--subnet", "10.77.242.0/24", "--no-serve")
        assert r.returncode == 0, r.stderr
        assert "no default route" in r.stdout
        st = json.loads(pc("status", "--json").stdout)
        assert st["up"] and st["hosts"] == ["10.77.242.10", "10.77.242.11"]
        assert st["routes"] == [f"10.77.242.0/24 dev {name}-s0 proto kernel scope link src 10.77.242.1 "]
        pids = [p["pid"] for p in st["processes"]]
    finally:
        r = pc("down")
    assert r.returncode == 0 and f"deleted namespace {name}-scan" in r.stdout
    assert f"{name}-scan" not in netns.namespaces() and f"{name}-tgt" not in netns.namespaces()
    assert all(not Path(f"/proc/{p}").exists() or Path(f"/proc/{p}/stat").read_text().split(") ")[1][0] == "Z"
               for p in pids)
    assert netns.load_state(name) is None
    assert "is not up" in pc("down").stdout
