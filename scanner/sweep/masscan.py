"""The masscan sweep: SYN sweep by masscan 1.3.2, streamed line by line, watched, checked.

Why a runner of our own. python-masscan 1.0.0 (the declared dependency, import name ``masscan``) is used
for what it does well: finding the binary and its version (:func:`find_masscan` wraps
``masscan.PortScanner``, which runs ``masscan -V``). It is **not** used to run sweeps, because it
(``../shared/reference/environment.md`` §2, ``anchors.md`` §2; MyKings/python-masscan
``masscan/__init__.py``):

1. blocks in ``Popen.communicate()`` with no timeout: the known end-of-scan hang of masscan 1.3.2 on a
   quiet link (masscan issues #144, #476, #558, #718, #812) makes ``scan()`` never return;
2. does not stream: nothing until masscan exits, all stdout kept in memory and parsed as one JSON document;
3. swallows errors: stderr is collected and thrown away, the exit code is ignored and a JSON error is
   ``pass``-ed, so "no permission", "no adapter" or a bad flag look exactly like "nothing open";
4. keeps results across calls (``_scan_result`` is never cleared) and has dangerous defaults
   (``hosts='127.0.0.1'``, ~1,000 ports);
5. knows nothing of network namespaces, rate, seed, shards, exclude files or adapter settings (all go
   through one free-form ``arguments`` string).

So :func:`masscan_sweep` starts masscan with ``asyncio.create_subprocess_exec`` and:

* reads stdout line by line as it comes: masscan prints ``Discovered open port P/tcp on IP`` and flushes
  after each line (masscan ``src/output.c``); ``stdbuf -oL`` is put in front when present so any other
  output shape is line-buffered too (piped ``-oL``/``-oJ`` are block-buffered, environment.md §1.5);
  :func:`parse_output_line` accepts every shape of ``../shared/cases`` C40 (``-oL``, ``-oJ`` of 1.0.x with
  trailing commas, 2014's unquoted keys and ``{finished: 1}``, ``-oD``, ``-oG``, ``-oX``) and ignores
  banner-only noise;
* reads stderr (``-v`` so that the ARP phase is visible) and turns each known failure into one clear
  :class:`MasscanError` line (:func:`diagnose`): no permission, libpcap missing, no default interface
  (C38), no such adapter, router MAC/ARP failures (C36), bad range, bad port, "range too big";
* runs a watchdog: a hard timeout (expected send time x passes + ``--wait`` + startup + margin), an ARP
  timeout (``resolving router ... with ARP`` and no progress), and the end-of-scan hang (``waiting -N-secs``);
  each stops masscan with SIGINT, then SIGKILL after a grace period (one SIGINT is not enough, §1.3);
  masscan runs in a temporary working directory so its ``paused.conf`` never litters the tree;
* de-duplicates on (ip, port) (``--retries`` and our own extra passes repeat results, §1.4, issue #799) in an
  :class:`~scanner.sweep.seen.OpenPortSet` (~8 bytes an IPv4 open port: millions of open ports stay small);
* repeats the sweep (``passes``) and, when a canary is set, checks that the canary open port was seen: a
  sweep that does not see its canary raises instead of returning "nothing found" (C36's soft failure:
  wrong router MAC gives found=0). In the lab the canary is started automatically in the target
  namespace (:mod:`scanner.lab.netns`).

Where masscan may run (hard rule of this project):

* **lab mode** (``netns=NAME``): only as ``ip netns exec NAME masscan ...``, only in a namespace recorded
  by ``poolscan lab up`` (a state file exists), and only after :func:`check_lab_namespace` has verified,
  just before the start, that it has no default route and no interface but ``lo`` and the lab veth, and
  that every target lies inside the namespace's own connected subnet. Adapter, adapter IP and router MAC
  are read from the namespace automatically.
* **production mode** (``production=True``): the user's own choice on their own machine: requires an
  explicit rate, always passes the exclusion list (``--excludefile``). Never used by this project's tests
  or demo; refused when the environment variable ``POOLSCAN_NO_INTERNET`` is set (the tests set it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Sequence

from scanner.errors import RunError, UsageError
from scanner.model import OpenPort
from scanner.sweep.seen import OpenPortSet
from scanner.targets import TargetSet, ports_spec

if TYPE_CHECKING:  # pragma: no cover
    from scanner.sweep import SweepReport

#: Seconds masscan needs before the first packet (pcap load, ARP): measured 1.3 s, rounded up.
STARTUP_S = 3.0
#: Seconds between SIGINT and SIGKILL.
KILL_GRACE_S = 2.0
#: Seconds the ARP phase may take before the router is declared unreachable.
ARP_TIMEOUT_S = 6.0
#: A "waiting -N-secs" with N at or above this means the end-of-scan hang (environment.md §1.3).
HANG_NEGATIVE_WAIT_S = 2
#: masscan 1.3.2 on a veth loses SYN-ACKs when the whole sweep goes out in its first burst (measured in the
#: lab, README "masscan rates"): 170 probes at 1,000/s lost answers in 4 of 5 runs, 2,560 probes at 10,000/s
#: in 4 of 4, while every sweep whose send phase lasted >= 1 s lost nothing (2,560 at 1,000/s; 10,240 at
#: 3,000-10,000/s; 40,960 at 10,000-30,000/s). So a small sweep is slowed so that sending lasts at least
#: this many seconds (never below MIN_RATE packets/s; never faster than asked). 0 disables. Dense targets
#: (88 of 100 probes open, the emulator lab): 17-42 found at 1,000-10,000/s unguarded, 88/88 guarded (100/s).
#: A large dense sweep is not slowed by this rule: use a low --rate or --passes 2 there.
MIN_SEND_S = 2.0
MIN_RATE = 100
#: Above this many target ranges they go to an include file (-iL) instead of argv.
ARGV_RANGES_MAX = 64
#: Bytes kept of one stdout/stderr line; longer lines are cut (hostile or broken output stays bounded).
MAX_LINE = 8192
#: stderr lines kept for the report and error messages.
STDERR_TAIL = 40


class MasscanError(RunError):
    """masscan failed: the message is one line saying what and what to do (exit code 1)."""


class UnsafeNamespace(RunError):
    """The namespace is not one masscan may run in (default route, foreign interface, not ours)."""


# --------------------------------------------------------------------------------------------------------
# binary


@dataclass(frozen=True)
class MasscanBinary:
    """The masscan executable: ``path`` and ``version`` (e.g. ``"1.3.2"``)."""

    path: str
    version: str


def find_masscan(path: str | None = None) -> MasscanBinary:
    """Locate masscan and read its version with python-masscan's ``PortScanner`` (runs ``masscan -V``).

    Raises MasscanError with an install hint when it is missing (``apt-get install masscan libpcap0.8``).
    """
    candidates: tuple[str, ...] = (path,) if path else ("masscan", "/usr/bin/masscan", "/usr/local/bin/masscan")
    try:
        import masscan as python_masscan  # python-masscan

        pm = python_masscan.PortScanner(masscan_search_path=candidates)
        version = str(pm.masscan_version).lstrip("v")
        exe = shutil.which(candidates[0]) or candidates[0]
        for c in candidates:
            w = shutil.which(c)
            if w:
                exe = w
                break
        return MasscanBinary(exe, version)
    except Exception as exc:  # PortScannerError, or python-masscan itself missing
        raise MasscanError(f"masscan not found ({exc.__class__.__name__}); install it: "
                           f"apt-get install -y masscan libpcap0.8") from None


# --------------------------------------------------------------------------------------------------------
# output parsing (C40: every shape masscan has printed)

_RE_DISCOVERED = re.compile(r"Discovered open port (\d+)/tcp on ([0-9A-Fa-f:.]+)")
_RE_LIST = re.compile(r"^open\s+tcp\s+(\d+)\s+([0-9A-Fa-f:.]+)(?:\s+(\d+))?")
_RE_GREP = re.compile(r"Host:\s*([0-9A-Fa-f:.]+).*?Ports:\s*(\d+)/open/tcp")
_RE_XML = re.compile(r'addr="([0-9A-Fa-f:.]+)".*?protocol="tcp"\s+portid="(\d+)".*?state="open"')
_RE_TS = re.compile(r'(?:endtime|timestamp)["\s:=]+"?(\d+)')
_RE_UNQUOTED_KEY = re.compile(r'([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:')


def _valid_ip(s: str) -> str | None:
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return None


def parse_output_line(line: str) -> tuple[str, int, float | None] | None:
    """Parse one line of masscan output into ``(ip, port, unix_time | None)``, or None for anything else.

    Accepts (sources: environment.md §1.5, anchors.md §1.1, case C40): ``Discovered open port 3333/tcp on
    IP``; ``-oL`` ``open tcp 3333 IP TS``; ``-oJ`` records one per line with or without a trailing comma,
    with quoted or (2014 builds) unquoted keys, string or int timestamps, banner records (a ``service``
    object: the port was connected, so it counts as open); ``-oD`` flat NDJSON; ``-oG``; ``-oX``
    ``<host>`` lines. ``[``, ``]``, ``,``, ``#masscan``, ``# end``, ``{finished: 1}`` give None. Only
    ``tcp`` records with status ``open`` (or a banner) count; an invalid IP or port gives None.
    """
    s = line.strip()
    if not s or s in ("[", "]", ",") or s.startswith("#"):
        return None
    m = _RE_DISCOVERED.search(s)
    if m:
        ip = _valid_ip(m.group(2))
        port = int(m.group(1))
        return (ip, port, None) if ip and 0 < port < 65536 else None
    m = _RE_LIST.match(s)
    if m:
        ip = _valid_ip(m.group(2))
        port = int(m.group(1))
        ts = float(m.group(3)) if m.group(3) else None
        return (ip, port, ts) if ip and 0 < port < 65536 else None
    if s.startswith("{") or s.startswith(",{") or s.startswith(", {"):
        return _parse_json_record(s.lstrip(", "))
    if s.startswith("<host"):
        m = _RE_XML.search(s)
        if m:
            ip, port = _valid_ip(m.group(1)), int(m.group(2))
            t = _RE_TS.search(s)
            return (ip, port, float(t.group(1)) if t else None) if ip and 0 < port < 65536 else None
        return None
    m = _RE_GREP.search(s)
    if m:
        ip, port = _valid_ip(m.group(1)), int(m.group(2))
        t = re.search(r"Timestamp:\s*(\d+)", s)
        return (ip, port, float(t.group(1)) if t else None) if ip and 0 < port < 65536 else None
    return None


def _parse_json_record(s: str) -> tuple[str, int, float | None] | None:
    s = s.rstrip().rstrip(",").rstrip()
    obj: Any = None
    for attempt in (s, _RE_UNQUOTED_KEY.sub(r'\1"\2":', s)):
        try:
            obj = json.loads(attempt)
            break
        except ValueError:
            continue
    if not isinstance(obj, dict):
        return None
    ip = _valid_ip(str(obj.get("ip", "")))
    if not ip:
        return None
    ts_raw = obj.get("timestamp")
    try:
        ts = float(ts_raw) if ts_raw is not None else None
    except (TypeError, ValueError):
        ts = None
    if "ports" in obj:  # -oJ
        for p in obj.get("ports") or ():
            if not isinstance(p, dict) or str(p.get("proto", "tcp")) != "tcp":
                continue
            if p.get("status") == "open" or isinstance(p.get("service"), dict):
                try:
                    port = int(p.get("port"))
                except (TypeError, ValueError):
                    continue
                if 0 < port < 65536:
                    return ip, port, ts
        return None
    if "port" in obj:  # -oD
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        if str(obj.get("proto", "tcp")) != "tcp":
            return None
        if obj.get("rec_type", "status") == "status" and data.get("status", "open") != "open":
            return None
        try:
            port = int(obj["port"])
        except (TypeError, ValueError):
            return None
        return (ip, port, ts) if 0 < port < 65536 else None
    return None


# --------------------------------------------------------------------------------------------------------
# stderr diagnosis (cases C36, C38; environment.md §1.2, §1.7; reproduced on this machine)

_FAILURES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.I), m) for p, m in (
    (r"permission denied|need to sudo|Operation not permitted|You don't have permission",
     "masscan has no permission to open a raw socket: run as root (or give it CAP_NET_RAW)"),
    (r"failed to load libpcap|libpcap not loaded",
     "masscan cannot load libpcap: install it (apt-get install -y libpcap0.8)"),
    (r"could not determine default interface",
     "masscan could not determine the default interface (no default route: a namespace, container or "
     "unusual routing table): pass --adapter IFACE with --router-ip or --router-mac (the lab sets these "
     "automatically)"),
    (r"No such device exists|can't open adapter|if:[^:]+:init: failed",
     "masscan could not open the network adapter{detail}: check --adapter (ip -br link)"),
    (r"failed to detect router for interface|ARP timed-out resolving MAC address for router|"
     r"router-mac.*not found",
     "masscan could not find the router MAC{detail}: pass --router-mac XX-XX-XX-XX-XX-XX or --router-ip of a "
     "host on the link"),
    (r"failed to detect MAC address of interface",
     "masscan could not read the adapter's MAC address{detail} (loopback cannot be used: use the veth "
     "namespace lab): pass --adapter-mac"),
    (r"failed to detect IP address of interface|adapter-ip.*not found",
     "masscan could not find the adapter's IP address{detail}: pass --adapter-ip"),
    (r"bad IP address/range|target IP address list empty|bad range|invalid range",
     "masscan rejected the target range{detail}"),
    (r"bad target port|no ports were specified|bad port",
     "masscan rejected the port list{detail}"),
    (r"range too big, need confirmation",
     "masscan refuses a target range this big without an exclude list (poolscan always passes "
     "--excludefile; this means the exclude file was empty)"),
    (r"unknown config option|empty parameter|unknown command-line parameter",
     "masscan rejected an option{detail}"),
))
_RE_FAIL = re.compile(r"^\s*(?:\[-\]\s*)?(FAIL|ERROR)\b[: ]*(.*)$")


def diagnose(stderr_lines: Iterable[str]) -> str | None:
    """Turn masscan's stderr into one clear error line, or None when it shows no failure.

    The first known failure wins (the table in this module); an unknown ``FAIL:``/``ERROR:`` line is
    reported verbatim (escaped). ``[hint]`` lines and ``src/file.c:N:`` diagnostics (C38) are context only.
    """
    lines = [ln.strip() for ln in stderr_lines if ln.strip()]
    detail_src = ""
    for ln in lines:
        m = _RE_FAIL.match(ln)
        if m:
            detail_src = m.group(2)
            break
    for ln in lines:
        # libpcap is tried under several names with -v ("pcap: failed to load: libpcap.so"): not a failure
        if ln.startswith("[-] pcap: failed to load:"):
            continue
        for rx, msg in _FAILURES:
            if rx.search(ln):
                detail = _detail(ln)
                return msg.format(detail=f" ({detail})" if detail else "")
    if detail_src:
        return f"masscan failed: {_escape(detail_src)}"
    return None


def _detail(line: str) -> str:
    m = _RE_FAIL.match(line)
    text = m.group(2) if m else line
    text = re.sub(r"^\[-\]\s*", "", text).strip()
    return _escape(text)[:200]


def _escape(text: str) -> str:
    """Printable ASCII only: control characters (ESC...) and non-ASCII become ``\\xNN``/``\\uNNNN``."""
    return "".join(c if 32 <= ord(c) < 127 else (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
                   for c in text)


# --------------------------------------------------------------------------------------------------------
# namespaces


@dataclass
class NamespaceInfo:
    """What a network namespace holds: interface names (``lo``, ``psl-s0``...), IPv4 routes (text lines),
    IPv4 addresses per interface ``{iface: [(ip, prefixlen)]}``, MACs ``{iface: "aa:bb:..."}``."""

    name: str
    interfaces: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    routes6: list[str] = field(default_factory=list)
    addresses: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    macs: dict[str, str] = field(default_factory=dict)

    @property
    def has_default_route(self) -> bool:
        return any(r.split()[:1] == ["default"] or r.startswith("0.0.0.0/0") or r.startswith("::/0")
                   for r in self.routes + self.routes6)

    def subnets(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Connected subnets of the non-loopback interfaces."""
        out = []
        for iface, addrs in self.addresses.items():
            if iface == "lo":
                continue
            for ip, plen in addrs:
                out.append(ipaddress.ip_interface(f"{ip}/{plen}").network)
        return out


async def _run(*argv: str, timeout: float = 10.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise RunError(f"{' '.join(argv)}: no answer within {timeout:g} s") from None
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def inspect_namespace(ns: str) -> NamespaceInfo:
    """Read interfaces, addresses and routes of namespace ``ns`` with ``ip -n ns -j ...``.

    Raises UnsafeNamespace when the namespace does not exist or ``ip`` fails.
    """
    info = NamespaceInfo(ns)
    rc, out, err = await _run("ip", "-n", ns, "-j", "addr", "show")
    if rc != 0:
        raise UnsafeNamespace(f"network namespace {ns!r} cannot be read: {_escape(err.strip())[:200]}")
    for link in json.loads(out or "[]"):
        name = link.get("ifname", "")
        info.interfaces.append(name)
        info.macs[name] = link.get("address", "")
        info.addresses[name] = [(a["local"], int(a["prefixlen"])) for a in link.get("addr_info", ())
                                if a.get("family") in ("inet", "inet6") and a.get("scope") != "link"]
    for fam, dest in (("-4", info.routes), ("-6", info.routes6)):
        rc, out, err = await _run("ip", "-n", ns, fam, "route", "show", "table", "all")
        if rc != 0:
            raise UnsafeNamespace(f"routes of namespace {ns!r} cannot be read: {_escape(err.strip())[:200]}")
        for r in out.splitlines():
            r = r.strip()
            # local/broadcast/multicast routes of the local table are not a way out
            if r and not r.startswith(("local ", "broadcast ", "multicast ", "anycast ")) and "table local" not in r:
                dest.append(r)
    return info


def _namespace_problems(info: NamespaceInfo, allowed_ifaces: Sequence[str] | None) -> list[str]:
    problems = []
    if info.has_default_route:
        problems.append("it has a default route (" + "; ".join(
            r for r in info.routes + info.routes6 if r.startswith(("default", "0.0.0.0/0", "::/0"))) + ")")
    routes = [r for r in info.routes if not r.startswith("default")]
    for r in routes:
        if " via " in r:
            problems.append(f"it has a gateway route ({r})")
    if allowed_ifaces is not None:
        extra = sorted(set(info.interfaces) - set(allowed_ifaces) - {"lo"})
        if extra:
            problems.append(f"it has interfaces other than lo and {', '.join(allowed_ifaces)}: {', '.join(extra)}")
    non_lo = [i for i in info.interfaces if i != "lo"]
    if len(non_lo) != 1:
        problems.append(f"it must hold exactly one veth besides lo, found {non_lo or 'none'}")
    return problems


async def check_lab_namespace(ns: str, *, allowed_ifaces: Sequence[str] | None = None,
                              targets: TargetSet | None = None) -> NamespaceInfo:
    """Verify that masscan may run in namespace ``ns``: no default route, no gateway route, only ``lo`` and
    one veth (``allowed_ifaces`` when given), and every target inside the namespace's connected subnet.

    Returns the :class:`NamespaceInfo`; raises :class:`UnsafeNamespace` naming every problem.
    """
    info = await inspect_namespace(ns)
    problems = _namespace_problems(info, allowed_ifaces)
    if targets is not None and not problems:
        nets = info.subnets()
        for first, last in targets.ranges + [(ip, ip) for ip, _p in targets.pairs]:
            if not any(first in n and last in n for n in nets):
                problems.append(f"target {first}-{last} is outside the namespace's subnets "
                                f"({', '.join(map(str, nets)) or 'none'})")
                break
    if problems:
        raise UnsafeNamespace(f"refusing to run masscan in namespace {ns!r}: " + "; ".join(problems))
    return info


# --------------------------------------------------------------------------------------------------------
# argv


def build_argv(ranges: Sequence[str], ports: Sequence[int], *, rate: float, seed: int,
               excludefile: str | None, includefile: str | None = None, shards: tuple[int, int] | None = None,
               adapter: str | None = None, adapter_ip: str | None = None, router_ip: str | None = None,
               router_mac: str | None = None, wait: float = 2, retries: int = 0, verbose: bool = True,
               extra: Sequence[str] = ()) -> list[str]:
    """masscan's argument list (without the binary). ``ranges`` go on argv unless ``includefile`` is
    given (then ``-iL includefile``). ``rate`` packets/s; ``wait`` seconds after the last packet;
    ``shards`` 1-based ``(i, n)``. No output option: the flushed ``Discovered open port`` lines are read."""
    if rate is None or rate <= 0:
        raise UsageError("--rate: masscan needs an explicit positive rate (packets/s)")
    argv: list[str] = []
    if includefile:
        argv += ["-iL", includefile]
    else:
        argv += list(ranges)
    argv += ["-p", ports_spec(ports), "--rate", _num(rate), "--seed", str(int(seed)),
             "--wait", _num(max(0, wait))]
    if excludefile:
        argv += ["--excludefile", excludefile]
    if shards:
        i, n = shards
        argv += ["--shards", f"{i}/{n}"]
    if retries:
        argv += ["--retries", str(int(retries))]
    if adapter:
        argv += ["--adapter", adapter]
    if adapter_ip:
        argv += ["--adapter-ip", adapter_ip]
    if router_mac:
        argv += ["--router-mac", router_mac.replace(":", "-")]
    elif router_ip:
        argv += ["--router-ip", router_ip]
    if verbose:
        argv.append("-v")
    argv += list(extra)
    return argv


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def parse_shards(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> ``(2, 4)`` (1-based, like masscan). Raises UsageError for anything else."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not (1 <= int(m.group(1)) <= int(m.group(2))):
        raise UsageError(f"--shards: {text!r} is not i/N with 1 <= i <= N (1-based, as masscan)")
    return int(m.group(1)), int(m.group(2))


# --------------------------------------------------------------------------------------------------------
# the runner


@dataclass
class _RunOutcome:
    returncode: int | None = None
    stderr: list[str] = field(default_factory=list)
    killed_for: str | None = None
    progressed: bool = False


async def _read_lines(stream: asyncio.StreamReader, *, split_cr: bool = False) -> AsyncIterator[str]:
    """Lines from a stream, each capped at MAX_LINE bytes; ``split_cr`` also splits on ``\\r``."""
    buf = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        buf += chunk
        if split_cr:
            buf = buf.replace(b"\r", b"\n")
        while True:
            i = buf.find(b"\n")
            if i < 0:
                if len(buf) > MAX_LINE:
                    yield buf[:MAX_LINE].decode("utf-8", "replace")
                    buf = b""
                break
            line, buf = buf[:i], buf[i + 1:]
            yield line[:MAX_LINE].decode("utf-8", "replace")
    if buf:
        yield buf[:MAX_LINE].decode("utf-8", "replace")


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    """Signal masscan's own process group (it was started in a new session, so the group is exactly masscan
    and anything it started); falls back to the process alone."""
    try:
        os.killpg(proc.pid, sig)
    except PermissionError:
        proc.send_signal(sig)


async def run_masscan(cmd: Sequence[str], *, timeout: float, cwd: str, outcome: _RunOutcome,
                      arp_timeout: float = ARP_TIMEOUT_S) -> AsyncIterator[tuple[str, int, float]]:
    """Run ``cmd`` (the full command, ``ip netns exec ...`` included) and yield ``(ip, port, seen_at)``
    for each open-port line as it arrives. Fills ``outcome`` (exit code, stderr lines, why it was
    killed). Watchdog: SIGINT then SIGKILL after KILL_GRACE_S when the hard ``timeout`` passes, when ARP
    for the router takes longer than ``arp_timeout``, or on the end-of-scan hang."""
    proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                cwd=cwd, start_new_session=True)
    started = time.monotonic()
    arp_since: list[float] = []
    stop_reason: list[str] = []

    def request_stop(reason: str) -> None:
        if not stop_reason:
            stop_reason.append(reason)

    async def read_stderr() -> None:
        assert proc.stderr is not None
        async for line in _read_lines(proc.stderr, split_cr=True):
            s = line.strip()
            if not s:
                continue
            if s.startswith("rate:"):
                outcome.progressed = True
                arp_since.clear()
                m = re.search(r"waiting (-\d+)-secs", s)
                if m and int(m.group(1)) <= -HANG_NEGATIVE_WAIT_S:
                    request_stop("hang")
                if outcome.stderr and outcome.stderr[-1].startswith("rate:"):
                    outcome.stderr[-1] = s
                    continue
            elif "resolving router" in s and "ARP" in s:
                arp_since.append(time.monotonic())
            elif s.startswith("[+] arp:") or s.startswith("[+] router-mac"):
                arp_since.clear()
            outcome.stderr.append(s)
            if len(outcome.stderr) > 4 * STDERR_TAIL:
                del outcome.stderr[:-STDERR_TAIL]

    async def watchdog() -> None:
        while proc.returncode is None:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            if now - started > timeout:
                request_stop("timeout")
            if arp_since and now - arp_since[0] > arp_timeout:
                request_stop("arp")
            if stop_reason:
                outcome.killed_for = stop_reason[0]
                for sig, wait_s in ((signal.SIGINT, KILL_GRACE_S), (signal.SIGINT, KILL_GRACE_S / 2),
                                    (signal.SIGKILL, 5.0)):
                    if proc.returncode is not None:
                        return
                    try:
                        _signal_group(proc, sig)
                    except ProcessLookupError:
                        return
                    try:
                        await asyncio.wait_for(proc.wait(), wait_s)
                    except asyncio.TimeoutError:
                        continue
                return

    err_task = asyncio.create_task(read_stderr())
    dog = asyncio.create_task(watchdog())
    try:
        assert proc.stdout is not None
        async for line in _read_lines(proc.stdout):
            rec = parse_output_line(line)
            if rec is not None:
                ip, port, _ts = rec
                yield ip, port, time.time()
        await proc.wait()
        await asyncio.wait_for(err_task, 5)
    finally:
        if proc.returncode is None:
            request_stop("closed")
            outcome.killed_for = outcome.killed_for or "closed"
            try:
                _signal_group(proc, signal.SIGINT)
                await asyncio.wait_for(proc.wait(), KILL_GRACE_S)
            except (ProcessLookupError, asyncio.TimeoutError):
                try:
                    _signal_group(proc, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await proc.wait()
        for t in (err_task, dog):
            if not t.done():
                t.cancel()
                try:
                    await t
                except (asyncio.CancelledError, Exception):
                    pass
        outcome.returncode = proc.returncode


def _groups(targets: TargetSet, ports: Sequence[int]) -> list[tuple[list[str], list[int]]]:
    """masscan runs as (ranges, ports): the ranges x ports, then ``ip:port`` pairs grouped by port set."""
    out: list[tuple[list[str], list[int]]] = []
    if targets.count() and ports:
        out.append((targets.masscan_ranges(), list(ports)))
    by_ip: dict[str, set[int]] = {}
    for ip, p in targets.pairs:
        by_ip.setdefault(str(ip), set()).add(p)
    by_ports: dict[frozenset[int], list[str]] = {}
    for ip, ps in by_ip.items():
        by_ports.setdefault(frozenset(ps), []).append(ip)
    for ps, ips in by_ports.items():
        out.append((ips, sorted(ps)))
    return out


def _lab_we_are_in() -> str | None:
    """The scanner namespace of the lab this process runs inside (``ip netns exec <lab>-scan ...``), or None."""
    try:
        from scanner.lab.netns import current_netns_inode, labs_up, netns_inode
    except ImportError:  # pragma: no cover
        return None
    here = current_netns_inode()
    for st in labs_up():
        if here is not None and here == netns_inode(st["scan_ns"]):
            return str(st["scan_ns"])
    return None


def _only_lab_scan_ns() -> str:
    """``netns="auto"``: the scanner namespace of the one lab that is up; UsageError otherwise."""
    from scanner.lab.netns import STATE_DIR, find_lab

    labs = [st for f in sorted(STATE_DIR.glob("*.json")) if (st := find_lab(name=f.stem))
            and _lab_state_for(st["scan_ns"]) is not None] if STATE_DIR.is_dir() else []
    if len(labs) != 1:
        raise UsageError(f"--netns auto: {'no lab is up (poolscan lab up)' if not labs else 'several labs are up: '}"
                         f"{', '.join(st['scan_ns'] for st in labs)}".rstrip(": "))
    return str(labs[0]["scan_ns"])


def _lab_state_for(ns: str) -> dict[str, Any] | None:
    try:
        from scanner.lab.netns import find_lab
    except ImportError:  # pragma: no cover
        return None
    return find_lab(scan_ns=ns)


async def masscan_sweep(targets: TargetSet, ports: Sequence[int], *, rate: float, netns: str | None = None,
                        production: bool = False, seed: int | None = None, shards: tuple[int, int] | None = None,
                        wait: float = 2.0, passes: int = 1, retries: int = 0, canary: str | None = "auto",
                        adapter: str | None = None, adapter_ip: str | None = None, router_ip: str | None = None,
                        router_mac: str | None = None, auto_adapter: bool = True, binary: str | None = None,
                        timeout_margin: float = 10.0, arp_timeout: float = ARP_TIMEOUT_S,
                        min_send_s: float = MIN_SEND_S,
                        report: "SweepReport | None" = None, extra_args: Sequence[str] = ()
                        ) -> AsyncIterator[OpenPort]:
    """Sweep with masscan; yield each open (ip, port) once as ``OpenPort(source="masscan")``.

    Parameters: ``rate`` packets/s (required); ``netns`` the lab's scanner namespace (lab mode; ``"auto"``
    = the one lab that is up; None while this process runs inside a lab's scanner namespace = that one) or
    ``production=True`` (real network, the user's own machine); ``seed`` (random 31-bit when None; saved
    in ``report.seed`` before start); ``shards`` 1-based ``(i, n)``; ``wait`` seconds after the last
    packet; ``passes`` how many times the whole sweep runs (results de-duplicated); ``retries``
    masscan's own ``--retries``; ``canary`` ``"auto"`` (lab: start one in the target namespace),
    ``"IP:PORT"`` (a port known to be open), or None; adapter settings (lab: read from the namespace
    unless given; ``auto_adapter=False`` passes none, to reproduce C38). ``min_send_s``: a small sweep
    is slowed so that sending lasts at least this long (see MIN_SEND_S; 0 = send at ``rate``).
    ``timeout_margin`` seconds are added to the hard time limit; ``arp_timeout`` bounds the ARP phase.

    Raises UsageError (no rate, neither mode), UnsafeNamespace, MasscanError (one line per failure,
    including "canary not seen: the sweep cannot see open ports, an empty result would be a lie").
    """
    from scanner.sweep import SweepReport

    report = report if report is not None else SweepReport()
    if rate is None or rate <= 0:
        raise UsageError("--rate: masscan needs an explicit positive rate (packets/s)")
    if netns is None and not production:
        netns = _lab_we_are_in()  # `ip netns exec <lab>-scan poolscan ...`: lab mode without saying so
    if (netns is None) == (not production):
        if netns is None:
            raise UsageError("masscan runs either in the lab (--netns auto or --netns NAME, see 'poolscan lab "
                             "up') or, on your own machine, with --production; neither was given")
        raise UsageError("--netns and --production exclude each other")
    if production and os.environ.get("POOLSCAN_NO_INTERNET"):
        raise UsageError("masscan outside the lab is disabled here (POOLSCAN_NO_INTERNET is set)")
    if passes < 1:
        raise UsageError("--passes: must be at least 1")
    seed = int(seed) if seed is not None else secrets.randbelow(2**31 - 1) + 1
    if netns == "auto":
        netns = _only_lab_scan_ns()
    report.seed, report.shards, report.namespace = seed, shards, netns

    prefix: list[str] = []
    lab: dict[str, Any] | None = None
    canary_proc: asyncio.subprocess.Process | None = None
    canary_pair: tuple[str, int] | None = None
    tmp = tempfile.TemporaryDirectory(prefix="poolscan-masscan-")
    try:
        if netns is not None:
            lab = _lab_state_for(netns)
            if lab is None:
                raise UnsafeNamespace(f"refusing to run masscan in namespace {netns!r}: it was not made by "
                                      f"'poolscan lab up' (no lab state names it)")
            await check_lab_namespace(netns, allowed_ifaces=[lab["scan_if"]], targets=targets)
            if auto_adapter:
                adapter = adapter or lab["scan_if"]
                adapter_ip = adapter_ip or lab["scan_ip"]
                if not router_ip and not router_mac:
                    router_mac = lab.get("tgt_mac") or None
                    router_ip = None if router_mac else lab.get("router_ip")
            prefix = ["ip", "netns", "exec", netns]
            if canary == "auto" and ports:
                from scanner.lab.netns import start_canary

                canary_proc, cport = await start_canary(lab, list(ports))
                canary_pair = (lab["canary_ip"], cport)
        if canary and canary != "auto":
            host, _, p = canary.rpartition(":")
            try:
                canary_pair = (str(ipaddress.ip_address(host.strip("[]"))), int(p))
            except ValueError:
                raise UsageError(f"--canary: {canary!r} is not IP:PORT") from None
        report.canary = f"{canary_pair[0]}:{canary_pair[1]}" if canary_pair else None
        if canary_pair is None:
            report.warnings.append("no canary: an empty result means 'unknown', not 'nothing open'")

        exe = find_masscan(binary)
        exclude_path = os.path.join(tmp.name, "exclude.txt")
        targets.exclusions.write(exclude_path, version=None)
        stdbuf = shutil.which("stdbuf")
        groups = _groups(targets, ports)
        if canary_pair:
            # ride along in the first run when its port is swept there (one masscan start, not two)
            if groups and canary_pair[1] in groups[0][1]:
                if canary_pair[0] not in targets:
                    groups[0] = (groups[0][0] + [canary_pair[0]], groups[0][1])
            else:
                groups.append(([canary_pair[0]], [canary_pair[1]]))
        seen = OpenPortSet()  # ~8 bytes an IPv4 open port (a set of (str, int) tuples: ~190)
        canary_seen = False
        extra_pass_left = 1 if canary_pair else 0
        pass_no = 0
        while pass_no < passes:
            pass_no += 1
            report.passes = pass_no
            pass_canary = False
            for gi, (ranges, gports) in enumerate(groups):
                include = None
                if len(ranges) > ARGV_RANGES_MAX:
                    include = os.path.join(tmp.name, f"targets-{gi}.txt")
                    Path(include).write_text("\n".join(ranges) + "\n", encoding="ascii")
                n_probes = _count_probes(ranges, gports)
                run_rate = _burst_safe_rate(rate, n_probes, min_send_s)
                if run_rate < rate and pass_no == 1:
                    report.warnings.append(
                        f"rate lowered to {run_rate:g}/s for a sweep of {n_probes} probes so that sending lasts "
                        f">= {min_send_s:g} s (masscan 1.3.2 loses answers that come back in its first burst)")
                argv = build_argv(ranges, gports, rate=run_rate, seed=seed, excludefile=exclude_path,
                                  includefile=include, shards=shards, adapter=adapter, adapter_ip=adapter_ip,
                                  router_ip=router_ip, router_mac=router_mac, wait=wait, retries=retries,
                                  extra=extra_args)
                expected = n_probes * (retries + 1) / run_rate + wait + STARTUP_S
                timeout = expected * 1.5 + timeout_margin
                if netns is not None:
                    # re-checked before every start: the namespace could have changed since the last run
                    await check_lab_namespace(netns, allowed_ifaces=[lab["scan_if"]] if lab else None,
                                              targets=None)
                cmd = prefix + ([stdbuf, "-oL"] if stdbuf else []) + [exe.path] + argv
                report.argv.append(cmd)
                outcome = _RunOutcome()
                async for ip, port, ts in run_masscan(cmd, timeout=timeout, cwd=tmp.name, outcome=outcome,
                                                      arp_timeout=arp_timeout):
                    key = (ip, port)
                    if canary_pair and key == canary_pair:
                        pass_canary = canary_seen = True
                        if not targets.wants(ip, port, ports):
                            continue
                    if not seen.add(ip, port):
                        report.duplicates += 1
                        continue
                    yield OpenPort(ip=ip, port=port, seen_at=ts, source="masscan")
                report.stderr_tail = [_escape(s) for s in outcome.stderr[-STDERR_TAIL:]]
                _check_outcome(outcome, report, router_ip=router_ip)
            if canary_pair and not pass_canary and pass_no >= passes and extra_pass_left:
                extra_pass_left -= 1
                passes += 1
                report.warnings.append(f"pass {pass_no}: canary {report.canary} not seen; running once more")
        report.canary_seen = canary_seen if canary_pair else None
        if canary_pair and not canary_seen:
            raise MasscanError(
                f"canary {report.canary} was not seen in {report.passes} pass(es): masscan sees no open ports "
                f"(wrong --router-mac/--router-ip or adapter?); the result is unknown, not empty")
    finally:
        if canary_proc is not None:
            from scanner.lab.netns import stop_process

            await stop_process(canary_proc)
        tmp.cleanup()


def _burst_safe_rate(rate: float, probes: int, min_send_s: float) -> float:
    """The rate to hand masscan: ``rate``, lowered so ``probes`` take >= ``min_send_s`` seconds to send,
    but never below MIN_RATE (and never above ``rate``). See MIN_SEND_S."""
    if min_send_s <= 0:
        return rate
    return float(min(rate, max(MIN_RATE, int(probes / min_send_s))))


def _count_probes(ranges: Sequence[str], ports: Sequence[int]) -> int:
    n = 0
    for r in ranges:
        if "-" in r:
            a, b = r.split("-", 1)
            n += int(ipaddress.ip_address(b)) - int(ipaddress.ip_address(a)) + 1
        else:
            n += ipaddress.ip_network(r, strict=False).num_addresses
    return n * len(ports)


def _check_outcome(outcome: _RunOutcome, report: "SweepReport", *, router_ip: str | None) -> None:
    """Raise MasscanError for a failed run; record hangs and kills in the report."""
    why = outcome.killed_for
    if why == "hang":
        report.hung += 1
        report.killed += 1
        report.warnings.append("masscan hung after the scan (known 1.3.2 bug on a quiet link); stopped it")
        return
    if why == "arp":
        report.killed += 1
        raise MasscanError(f"masscan could not find the router MAC: no ARP reply for router "
                           f"{router_ip or '0.0.0.0 (no gateway)'} within {ARP_TIMEOUT_S:g} s; pass "
                           f"--router-mac XX-XX-XX-XX-XX-XX or --router-ip of a host on the link")
    if why == "timeout":
        report.killed += 1
        if not outcome.progressed:
            msg = diagnose(outcome.stderr)
            raise MasscanError(msg or "masscan did not start sending within its time limit and was stopped")
        report.warnings.append("masscan ran past its hard time limit and was stopped; results may be partial")
        raise MasscanError("masscan ran past its hard time limit (expected duration + wait + margin) and was "
                           "stopped; results may be partial: lower the target count or raise --rate")
    msg = diagnose(outcome.stderr)
    if outcome.returncode not in (0, None) or (msg and not outcome.progressed):
        raise MasscanError(msg or f"masscan exited with status {outcome.returncode}: "
                           f"{_escape(outcome.stderr[-1]) if outcome.stderr else 'no message'}")
