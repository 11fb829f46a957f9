"""The network-namespace lab: a scanner namespace and a target namespace joined by one veth pair.

Topology (``poolscan lab up``; root; facts from ``../shared/reference/environment.md`` §1.1-1.3)::

    netns <name>-scan                          netns <name>-tgt
      lo (up)                                    lo (up)
      <name>-s0  10.77.0.1/24  <== veth ==>      <name>-t0  10.77.0.10 ... 10.77.0.(9+N)/24  (lab hosts)
                                                            10.77.0.254/24                   (canary)

* The veth pair is created directly inside the two namespaces: nothing appears in the root namespace.
* No default route anywhere: the only route in ``<name>-scan`` is the connected ``10.77.0.0/24``; a
  packet can go nowhere but the target namespace. :func:`scanner.sweep.masscan.check_lab_namespace`
  re-checks this before every masscan start.
* In the target namespace, in the background (pids in the state file): the pool emulators
  (``python -m scanner.lab.serve --host A --host B ... --manifest PATH``, when that module is present) and
  a keepalive ``ping -i 0.05`` to the scanner address (20 packets/s on the veth: it stops masscan 1.3.2
  from hanging at the end of a scan on a quiet link, §1.3).
* The canary address (.254) is where :func:`start_canary` puts a one-port listener during a masscan sweep
  (the completeness check: a sweep that does not see it is an error, not "nothing found").

State: ``/run/poolscan-lab/<name>.json`` (namespaces, interfaces, addresses, MAC of the target veth =
masscan's ``--router-mac``, processes with pid and start time). ``lab down`` removes exactly what ``up``
made: the processes recorded (checked by start time, so a reused pid is never hit), any process still
inside our two namespaces, then the two namespaces (which deletes the veth pair).

Also runnable as ``python -m scanner.lab.netns canary IP PORT`` / ``listen IP PORT [PORT...]``: a tiny
accept-and-close TCP listener (prints ``ready`` when listening), used for the canary and by the tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scanner.errors import RunError, UsageError

#: Where lab state files live (one JSON per lab name).
STATE_DIR = Path(os.environ.get("POOLSCAN_LAB_STATE_DIR", "/run/poolscan-lab"))
DEFAULT_NAME = "psl"
DEFAULT_SUBNET = "10.77.0.0/24"
#: First host offset in the subnet (.10), scanner at .1, canary at .254 (for a /24).
HOST_OFFSET = 10
MAX_HOSTS = 200
KEEPALIVE_INTERVAL_S = "0.05"


def is_root() -> bool:
    """True when running as uid 0 (the namespace lab needs root)."""
    return os.geteuid() == 0


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and p.returncode != 0:
        raise RunError(f"ip {' '.join(args)}: {p.stderr.strip() or 'failed'}")
    return p


def namespaces() -> list[str]:
    """Names of the network namespaces that exist now."""
    p = _ip("-j", "netns", "list", check=False)
    try:
        return [n["name"] for n in json.loads(p.stdout or "[]")]
    except ValueError:
        return [ln.split()[0] for ln in p.stdout.splitlines() if ln.strip()]


def state_path(name: str) -> Path:
    return STATE_DIR / f"{name}.json"


def load_state(name: str) -> dict[str, Any] | None:
    """The state of lab ``name``, or None when it is not up."""
    try:
        return json.loads(state_path(name).read_text())
    except (OSError, ValueError):
        return None


def find_lab(*, scan_ns: str | None = None, name: str | None = None) -> dict[str, Any] | None:
    """The lab whose scanner namespace is ``scan_ns`` (or named ``name``), from the state files; None when
    no lab made by ``lab up`` matches. Used by the masscan runner to refuse foreign namespaces."""
    if name:
        return load_state(name)
    if not STATE_DIR.is_dir():
        return None
    for f in sorted(STATE_DIR.glob("*.json")):
        try:
            st = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if st.get("scan_ns") == scan_ns and scan_ns in namespaces():
            return st
    return None


def _write_state(st: dict[str, Any]) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = state_path(st["name"]).with_suffix(".tmp")
    tmp.write_text(json.dumps(st, indent=1) + "\n")
    os.replace(tmp, state_path(st["name"]))


def _starttime(pid: int) -> int | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a zombie has exited (its parent has not reaped it yet)
        return None
    return int(fields[19])


def _spawn(ns: str, argv: list[str], log: Path) -> dict[str, Any]:
    """Start ``argv`` inside namespace ``ns`` in its own session; ``ip netns exec`` execs, so the pid is
    the program's own."""
    with open(log, "ab") as out:
        p = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True, cwd=str(log.parent))
    time.sleep(0.05)
    return {"pid": p.pid, "start": _starttime(p.pid), "argv": argv, "ns": ns, "log": str(log)}


def _alive(proc: dict[str, Any]) -> bool:
    st = _starttime(int(proc["pid"]))
    return st is not None and st == proc.get("start")


def _kill(proc: dict[str, Any], grace: float = 3.0) -> bool:
    """Stop one recorded process (only when its start time still matches). True when it was running."""
    pid = int(proc["pid"])
    if not _alive(proc):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return True
            except ChildProcessError:
                pass
            if _starttime(pid) != proc.get("start"):
                return True
            time.sleep(0.05)
    return True


def lab_up(*, hosts: int = 8, pools: str | None = None, name: str = DEFAULT_NAME, subnet: str = DEFAULT_SUBNET,
           serve: bool = True, keepalive: bool = True, wait_manifest: float = 20.0) -> dict[str, Any]:
    """Build the lab and return its state (also written to ``/run/poolscan-lab/<name>.json``).

    ``hosts``: target addresses (1..200) from .10; ``pools``: the ``--personas`` spec for
    ``scanner.lab.serve`` (default: its default set); ``serve``/``keepalive``: start those processes.
    Raises RunError when not root, when a namespace of that name already exists, or when a step fails
    (what was made so far is removed again).
    """
    if not is_root():
        raise RunError("the namespace lab needs root; without root use the loopback lab "
                       "(python -m scanner.lab.serve --host 127.0.0.1) and the connect sweep")
    if not 1 <= hosts <= MAX_HOSTS:
        raise UsageError(f"--hosts: {hosts} is not in 1..{MAX_HOSTS}")
    net = ipaddress.ip_network(subnet)
    if net.version != 4 or net.prefixlen > 24 or not net.is_private:
        raise UsageError(f"--subnet: {subnet} must be a private IPv4 /24 or larger")
    if load_state(name) is not None:
        raise RunError(f"lab {name!r} is already up (poolscan lab down --name {name} first)")
    scan_ns, tgt_ns = f"{name}-scan", f"{name}-tgt"
    existing = set(namespaces())
    if scan_ns in existing or tgt_ns in existing:
        raise RunError(f"network namespace {scan_ns} or {tgt_ns} already exists but no lab state names it; "
                       f"remove it by hand (ip netns del NAME) after checking it is not someone else's")
    base = int(net.network_address)
    scan_ip = str(ipaddress.IPv4Address(base + 1))
    host_ips = [str(ipaddress.IPv4Address(base + HOST_OFFSET + i)) for i in range(hosts)]
    canary_ip = str(ipaddress.IPv4Address(int(net.broadcast_address) - 1))
    plen = net.prefixlen
    scan_if, tgt_if = f"{name}-s0", f"{name}-t0"
    if len(scan_if) > 15:
        raise UsageError(f"--name: {name!r} is too long (interface names are at most 15 bytes)")
    run_dir = STATE_DIR / name
    st: dict[str, Any] = {
        "name": name, "scan_ns": scan_ns, "tgt_ns": tgt_ns, "scan_if": scan_if, "tgt_if": tgt_if,
        "subnet": str(net), "scan_ip": scan_ip, "hosts": host_ips, "canary_ip": canary_ip,
        "router_ip": host_ips[0], "tgt_mac": None, "processes": [], "manifest": None, "created_at": time.time(),
        "run_dir": str(run_dir),
    }
    made: list[str] = []
    try:
        for ns in (scan_ns, tgt_ns):
            _ip("netns", "add", ns)
            made.append(ns)
        _write_state(st)  # from here on `lab down` can clean up
        _ip("link", "add", scan_if, "netns", scan_ns, "type", "veth", "peer", "name", tgt_if, "netns", tgt_ns)
        _ip("-n", scan_ns, "addr", "add", f"{scan_ip}/{plen}", "dev", scan_if)
        for a in host_ips + [canary_ip]:
            _ip("-n", tgt_ns, "addr", "add", f"{a}/{plen}", "dev", tgt_if)
        for ns, iface in ((scan_ns, scan_if), (tgt_ns, tgt_if)):
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", iface, "up")
        link = json.loads(_ip("-n", tgt_ns, "-j", "link", "show", "dev", tgt_if).stdout)
        st["tgt_mac"] = link[0]["address"]
        routes = _ip("-n", scan_ns, "-4", "route", "show").stdout
        if "default" in routes or " via " in routes:  # pragma: no cover - a fresh namespace has none
            raise RunError(f"namespace {scan_ns} has a route out: {routes.strip()}")
        _write_state(st)
        run_dir.mkdir(parents=True, exist_ok=True)
        if keepalive:
            st["processes"].append({**_spawn(tgt_ns, ["ping", "-i", KEEPALIVE_INTERVAL_S, "-q", scan_ip],
                                             run_dir / "keepalive.log"), "role": "keepalive"})
        if serve and _serve_available():
            manifest = run_dir / "manifest.json"
            argv = [sys.executable, "-m", "scanner.lab.serve"]
            for a in host_ips:
                argv += ["--host", a]
            if pools:
                argv += ["--personas", pools]
            argv += ["--manifest", str(manifest)]
            st["processes"].append({**_spawn(tgt_ns, argv, run_dir / "serve.log"), "role": "serve"})
            st["manifest"] = str(manifest)
            _write_state(st)
            end = time.monotonic() + wait_manifest
            while not manifest.exists() and time.monotonic() < end:
                if not _alive(st["processes"][-1]):
                    raise RunError(f"the pool emulators did not start: see {run_dir / 'serve.log'}")
                time.sleep(0.1)
            if not manifest.exists():
                raise RunError(f"the pool emulators wrote no manifest within {wait_manifest:g} s "
                               f"(see {run_dir / 'serve.log'})")
        elif serve:
            st["warnings"] = ["scanner.lab.serve is not installed: no emulated pools are running"]
        _write_state(st)
        return st
    except BaseException:
        if load_state(name) is not None:
            lab_down(name)
        else:
            for ns in made:
                _ip("netns", "del", ns, check=False)
        raise


def _serve_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("scanner.lab.serve") is not None


def lab_down(name: str = DEFAULT_NAME) -> list[str]:
    """Remove lab ``name``: its recorded processes, any process left in its namespaces, the namespaces
    (and with them the veth pair), the state file. Returns what was done (one line each). Idempotent."""
    st = load_state(name)
    done: list[str] = []
    if st is None:
        return done
    for proc in st.get("processes", []):
        if _kill(proc):
            done.append(f"stopped {proc.get('role', 'process')} (pid {proc['pid']})")
    present = set(namespaces())
    for ns in (st["tgt_ns"], st["scan_ns"]):
        if ns not in present:
            continue
        left = _ip("netns", "pids", ns, check=False).stdout.split()
        for pid_s in left:  # processes inside our own namespace: started by the lab or a sweep in it
            pid = int(pid_s)
            _kill({"pid": pid, "start": _starttime(pid)}, grace=1.0)
            done.append(f"stopped pid {pid} left in {ns}")
        _ip("netns", "del", ns, check=False)
        done.append(f"deleted namespace {ns}")
    try:
        state_path(name).unlink()
    except FileNotFoundError:
        pass
    run_dir = Path(st.get("run_dir") or STATE_DIR / name)
    if run_dir.is_dir() and run_dir.parent == STATE_DIR:
        for f in run_dir.iterdir():
            if f.is_file():
                f.unlink()
        try:
            run_dir.rmdir()
        except OSError:
            pass
    return done


def lab_status(name: str = DEFAULT_NAME) -> dict[str, Any]:
    """The lab's state plus live checks: ``up`` (bool), ``namespaces`` present, ``routes`` of the scanner
    namespace, ``processes`` with ``alive``, ``manifest`` entries count."""
    st = load_state(name)
    if st is None:
        return {"name": name, "up": False}
    present = set(namespaces())
    out = dict(st)
    out["up"] = st["scan_ns"] in present and st["tgt_ns"] in present
    out["routes"] = _ip("-n", st["scan_ns"], "-4", "route", "show", check=False).stdout.splitlines() \
        if st["scan_ns"] in present else []
    out["processes"] = [{**p, "alive": _alive(p)} for p in st.get("processes", [])]
    if st.get("manifest"):
        try:
            out["endpoints"] = len(json.loads(Path(st["manifest"]).read_text()))
        except (OSError, ValueError):
            out["endpoints"] = None
    return out


# --------------------------------------------------------------------------------------------------------
# where a socket may be opened for lab addresses


def current_netns_inode() -> int | None:
    """Inode of this process's network namespace (``/proc/self/ns/net``), None when unreadable."""
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return None


def netns_inode(name: str) -> int | None:
    """Inode of the named namespace (``/run/netns/NAME``), None when it does not exist."""
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def labs_up() -> list[dict[str, Any]]:
    """States of the labs whose namespaces exist."""
    if not STATE_DIR.is_dir():
        return []
    present = set(namespaces())
    out = []
    for f in sorted(STATE_DIR.glob("*.json")):
        st = load_state(f.stem)
        if st and st.get("scan_ns") in present:
            out.append(st)
    return out


def check_socket_scope(ranges: list[tuple[Any, Any]]) -> None:
    """Refuse to open sockets to a lab's addresses from outside that lab's scanner namespace.

    ``ranges``: ``[(first_ip, last_ip), ...]``. The lab's subnet is private and exists only between the two
    namespaces: from the root namespace the same addresses would be routed to the real network (the
    default route). Raises UsageError naming the lab and how to run inside it
    (``ip netns exec <lab>-scan poolscan ...``). No effect when no lab is up.
    """
    labs = labs_up()
    if not labs:
        return
    here = current_netns_inode()
    for st in labs:
        net = ipaddress.ip_network(st["subnet"])
        for first, last in ranges:
            a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
            if a.version != 4 or int(b) < int(net.network_address) or int(a) > int(net.broadcast_address):
                continue
            if here is not None and here == netns_inode(st["scan_ns"]):
                continue
            raise UsageError(
                f"{a}-{b} is inside lab {st['name']}'s subnet {net}, which exists only inside its namespaces: from "
                f"here those packets would go to the real network. Run inside the lab: ip netns exec "
                f"{st['scan_ns']} poolscan ... (or use --engine masscan --netns {st['scan_ns']} for the sweep)")


# --------------------------------------------------------------------------------------------------------
# canary and tiny listeners


async def start_canary(lab: dict[str, Any], ports: list[int], timeout: float = 10.0
                       ) -> tuple[asyncio.subprocess.Process, int]:
    """Start an accept-and-close listener on ``lab['canary_ip']`` inside the target namespace, on the first
    of ``ports`` (at most 5 tried) that can be bound, and wait until it listens. Returns ``(process,
    port)``; stop it with :func:`stop_process`. Raises RunError when none can be bound."""
    last: Exception | None = None
    for port in list(dict.fromkeys(ports))[:5]:
        try:
            return await start_listener(lab["tgt_ns"], lab["canary_ip"], [port], timeout=timeout), port
        except RunError as exc:
            last = exc
    raise RunError(f"no canary could be started: {last}")


async def start_listener(ns: str, host: str | None, ports: list[int] | None = None, timeout: float = 10.0, *,
                         pairs: list[tuple[str, int]] | None = None) -> asyncio.subprocess.Process:
    """Start ``python -m scanner.lab.netns listen HOST[,HOST...] PORT...`` inside namespace ``ns`` (every
    host x every port), or ``listen --pairs IP:PORT...`` when ``pairs`` is given; wait for ``ready``.
    Raises RunError when it does not come up."""
    spec = ["--pairs", *(f"{h}:{p}" for h, p in pairs)] if pairs else [str(host), *map(str, ports or ())]
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, sys.executable, "-m", "scanner.lab.netns", "listen", *spec, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, cwd=str(Path(__file__).resolve().parents[2]), start_new_session=True)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    except asyncio.TimeoutError:
        line = b""
    if line.strip() != b"ready":
        await stop_process(proc)
        raise RunError(f"listener {' '.join(spec)[:120]} in {ns} did not start: {line[:200]!r}")
    return proc


def spawn_listener(ns: str, pairs: list[tuple[str, int]], timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Blocking twin of :func:`start_listener` (``listen --pairs``) for code without an event loop (test
    fixtures): returns the running process once it printed ``ready``; stop it with ``terminate()``."""
    p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "scanner.lab.netns", "listen",
                          "--pairs", *(f"{h}:{port}" for h, port in pairs)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert p.stdout is not None
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    line = p.stdout.readline() if sel.select(timeout) else b""
    sel.close()
    if line.strip() != b"ready":
        p.kill()
        p.wait()
        raise RunError(f"listener in {ns} did not start: {line[:200]!r}")
    return p


async def stop_process(proc: asyncio.subprocess.Process, grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; waits for the exit."""
    if proc.returncode is not None:
        return
    try:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), grace)
    except ProcessLookupError:
        return
    except asyncio.TimeoutError:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        await proc.wait()


async def _listen(host: str, ports: list[int]) -> None:
    await _listen_pairs([(h, p) for h in host.split(",") for p in ports])


async def _listen_pairs(pairs: list[tuple[str, int]]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    servers = [await asyncio.start_server(handle, h, p, reuse_address=True) for h, p in pairs]
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


def main(argv: list[str] | None = None) -> int:
    """``listen HOST[,HOST] PORT [PORT...]`` / ``canary HOST PORT`` / ``listen --pairs IP:PORT ...``:
    accept-and-close listeners (foreground; SIGTERM/SIGINT stop them)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[0] not in ("listen", "canary"):
        print("usage: python -m scanner.lab.netns listen|canary HOST PORT [PORT...] | listen --pairs IP:PORT...",
              file=sys.stderr)
        return 2
    try:
        if args[1] == "--pairs":
            asyncio.run(_listen_pairs([(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in args[2:]]))
        else:
            asyncio.run(_listen(args[1], [int(p) for p in args[2:]]))
    except OSError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
