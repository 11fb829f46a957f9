"""Targets, ports and exclusions: what the sweep may send packets to.

Shapes:

* :func:`parse_targets` turns IPs, CIDRs, ``a-b`` ranges, ``ip:port`` pairs and files of them into a
  :class:`TargetSet`: disjoint address intervals (integers, IPv4 and IPv6 apart) minus the exclusions, plus
  explicit ``(ip, port)`` pairs. Nothing is materialised: a /8 is one interval, iteration is streaming.
* :func:`parse_ports` turns ``"3333,4444,14000-14010"``, a file, or the named list ``pool``
  (``seeds/ports.txt``) into a list of ports (1-65535, first occurrence order, no duplicates).
* :func:`load_exclusions` reads ``seeds/exclude.txt`` (always) and the user's exclude files into an
  :class:`ExclusionSet` whose entries each keep their source (``file:line`` and the comment).

Safety rule (design.md "Safety by default"): an address in the exclusion set is never yielded by a
:class:`TargetSet`, so neither sweep engine can be handed it. ``allow_reserved`` lifts only the built-in
entries inside :data:`LAB_LIFTABLE` (loopback, RFC 1918 private-use, RFC 6598 shared/CGNAT, IPv6
loopback and unique-local); ``allow_loopback`` lifts only loopback (an ad hoc ``probe 127.0.0.1:3333``).
Everything else (TEST-NETs, multicast, 240/4, opt-out lists, the user's own files) stays excluded.

Errors: bad input raises :class:`scanner.errors.UsageError` with one line naming what and where, e.g.
``targets.txt:3: '10.0.0.300/24' is not an IP address or network``.
"""

from __future__ import annotations

import bisect
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from scanner.errors import UsageError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Repository root (``seeds/`` lives there).
ROOT = Path(__file__).resolve().parent.parent
#: The built-in exclusion list, always applied.
DEFAULT_EXCLUDE_FILE = ROOT / "seeds" / "exclude.txt"
#: The ranked pool port list behind ``--ports pool``.
DEFAULT_PORTS_FILE = ROOT / "seeds" / "ports.txt"
#: Named port lists accepted by :func:`parse_ports`.
NAMED_PORT_LISTS = {"pool": DEFAULT_PORTS_FILE, "pools": DEFAULT_PORTS_FILE}

#: Built-in exclusions that ``allow_reserved=True`` lifts: the ranges a lab or the user's own network uses.
LAB_LIFTABLE = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "::1/128",
              "fc00::/7")
)
#: Built-in exclusions that ``allow_loopback=True`` lifts (ad hoc probes of this machine).
LOOPBACK = tuple(ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128"))

#: Hard cap on lines read from one targets/ports/exclude file (hostile or mistaken input stays bounded).
MAX_FILE_LINES = 5_000_000


# --------------------------------------------------------------------------------------------------------
# integer intervals


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge closed integer intervals (adjacent ones join)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _subtract(base: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``base`` minus ``cut``; both merged (sorted, disjoint). Linear in the two lengths."""
    out: list[tuple[int, int]] = []
    j = 0
    for a, b in base:
        while j < len(cut) and cut[j][1] < a:
            j += 1
        k = j
        cur = a
        while k < len(cut) and cut[k][0] <= b:
            ca, cb = cut[k]
            if ca > cur:
                out.append((cur, ca - 1))
            cur = max(cur, cb + 1)
            if cur > b:
                break
            k += 1
        if cur <= b:
            out.append((cur, b))
    return out


def _size(intervals: Iterable[tuple[int, int]]) -> int:
    return sum(b - a + 1 for a, b in intervals)


def _normalise(ip: IPAddress) -> IPAddress:
    """Map IPv4-mapped IPv6 (``::ffff:a.b.c.d``) to IPv4 so exclusions apply to it."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _ver(ip: IPAddress) -> int:
    return ip.version


def _addr(version: int, value: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


# --------------------------------------------------------------------------------------------------------
# parsing one item


def _parse_range_item(text: str) -> tuple[int, int, int]:
    """Parse an address, CIDR or ``a-b`` range into ``(version, first, last)``. Raises ValueError."""
    text = text.strip()
    if "-" in text and "/" not in text:
        left, right = (t.strip() for t in text.split("-", 1))
        a = _normalise(ipaddress.ip_address(left))
        if a.version == 4 and right.isdigit() and "." not in right:
            # shorthand 10.0.0.1-20 (last octet)
            if int(right) > 255:
                raise ValueError(text)
            b: IPAddress = ipaddress.IPv4Address((int(a) & 0xFFFFFF00) + int(right))
        else:
            b = _normalise(ipaddress.ip_address(right))
        if a.version != b.version or int(b) < int(a):
            raise ValueError(text)
        return a.version, int(a), int(b)
    if "/" in text:
        net = ipaddress.ip_network(text, strict=False)
        return net.version, int(net.network_address), int(net.broadcast_address)
    a = _normalise(ipaddress.ip_address(text))
    return a.version, int(a), int(a)


def _split_hostport(text: str) -> tuple[str, int] | None:
    """``1.2.3.4:3333`` or ``[::1]:3333`` -> (host, port); None when there is no port. Raises ValueError
    for a bad port."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(text)
        host, rest = text[1:end], text[end + 1:]
        if not rest:
            return None
        if not rest.startswith(":"):
            raise ValueError(text)
        return host, _port(rest[1:])
    if text.count(":") == 1:
        host, p = text.split(":")
        return host, _port(p)
    return None


def _port(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"port {text!r} is not a number (want 1-65535)")
    p = int(text)
    if not 1 <= p <= 65535:
        raise ValueError(f"port {p} is out of range 1-65535")
    return p


# --------------------------------------------------------------------------------------------------------
# exclusions


@dataclass(frozen=True, slots=True)
class Exclusion:
    """One excluded range: ``version`` 4/6, ``first``/``last`` as integers, ``source`` = ``file:line``
    plus the line's comment, ``builtin`` True for ``seeds/exclude.txt``."""

    version: int
    first: int
    last: int
    source: str
    builtin: bool = True

    @property
    def text(self) -> str:
        """The range as ``CIDR`` when it is one, else ``a-b``."""
        a, b = _addr(self.version, self.first), _addr(self.version, self.last)
        nets = list(ipaddress.summarize_address_range(a, b))
        return str(nets[0]) if len(nets) == 1 else f"{a}-{b}"

    def lifted_by(self, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
        """True when the whole entry lies inside one of ``networks``."""
        for n in networks:
            if n.version == self.version and int(n.network_address) <= self.first \
                    and self.last <= int(n.broadcast_address):
                return True
        return False


class ExclusionSet:
    """The effective exclusions of a run: entries with sources, and merged intervals for fast checks.

    ``contains(ip)`` / ``find(ip)`` are O(log n). ``lifted`` lists the built-in entries that
    ``allow_reserved``/``allow_loopback`` removed (so messages can say "lifted by --allow-reserved").
    """

    def __init__(self, entries: Iterable[Exclusion], lifted: Iterable[Exclusion] = ()):
        self.entries: tuple[Exclusion, ...] = tuple(entries)
        self.lifted: tuple[Exclusion, ...] = tuple(lifted)
        self._merged = {v: _merge((e.first, e.last) for e in self.entries if e.version == v) for v in (4, 6)}
        self._starts = {v: [a for a, _ in self._merged[v]] for v in (4, 6)}

    def __len__(self) -> int:
        return len(self.entries)

    def intervals(self, version: int) -> list[tuple[int, int]]:
        """Merged excluded intervals of one IP version (sorted, disjoint)."""
        return self._merged[version]

    def contains(self, ip: IPAddress | str) -> bool:
        """True when ``ip`` is excluded."""
        ip = _normalise(ipaddress.ip_address(ip))
        v, x = ip.version, int(ip)
        i = bisect.bisect_right(self._starts[v], x) - 1
        return i >= 0 and self._merged[v][i][1] >= x

    __contains__ = contains

    def find(self, ip: IPAddress | str) -> Exclusion | None:
        """The first entry (in file order) that excludes ``ip``, or None."""
        ip = _normalise(ipaddress.ip_address(ip))
        for e in self.entries:
            if e.version == ip.version and e.first <= int(ip) <= e.last:
                return e
        return None

    def covering(self, version: int, first: int, last: int) -> Exclusion | None:
        """An entry that covers the whole interval, else None."""
        for e in self.entries:
            if e.version == version and e.first <= first and last <= e.last:
                return e
        return None

    def find_lifted(self, version: int, first: int, last: int) -> Exclusion | None:
        """A lifted built-in entry that overlaps the interval (for hints), else None."""
        for e in self.lifted:
            if e.version == version and e.first <= last and first <= e.last:
                return e
        return None

    def write(self, path: str | os.PathLike[str], *, version: int | None = 4) -> int:
        """Write the effective exclusions, one CIDR or ``a-b`` range per line (masscan ``--excludefile``
        format), merged. ``version`` 4, 6 or None (both). Returns the number of lines written."""
        n = 0
        with open(path, "w", encoding="ascii") as f:
            f.write("# poolscan effective exclusions (seeds/exclude.txt + user files, minus lifted lab ranges)\n")
            for v in ((4, 6) if version is None else (version,)):
                for a, b in self._merged[v]:
                    f.write(f"{_interval_text(v, a, b)}\n")
                    n += 1
        return n


def _interval_text(version: int, a: int, b: int) -> str:
    """An interval as ``IP``, ``CIDR`` (when exact) or ``first-last``: the forms masscan accepts."""
    fa, fb = _addr(version, a), _addr(version, b)
    if a == b:
        return str(fa)
    nets = list(ipaddress.summarize_address_range(fa, fb))
    return str(nets[0]) if len(nets) == 1 else f"{fa}-{fb}"


def _read_lines(path: Path, what: str) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line_no, value, comment)`` for non-blank, non-comment lines. Raises UsageError when the
    file cannot be read."""
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what} file: {exc.strerror or exc}") from None
    with f:
        for n, raw in enumerate(f, 1):
            if n > MAX_FILE_LINES:
                raise UsageError(f"{path}:{n}: more than {MAX_FILE_LINES} lines in a {what} file")
            value, _, comment = raw.partition("#")
            value = value.strip()
            if value:
                yield n, value, comment.strip()


def _read_exclude_file(path: Path, builtin: bool) -> list[Exclusion]:
    out = []
    label = _display(path)
    for n, value, comment in _read_lines(path, "exclude"):
        for token in value.replace(",", " ").split():
            try:
                v, a, b = _parse_range_item(token)
            except ValueError:
                raise UsageError(f"{label}:{n}: {token!r} is not an IP address, network or range") from None
            src = f"{label}:{n}" + (f" {comment}" if comment else "")
            out.append(Exclusion(v, a, b, src, builtin))
    return out


def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_exclusions(paths: Iterable[str | os.PathLike[str]] = (), allow_reserved: bool = False, *,
                    allow_loopback: bool = False, extra: Iterable[str] = (),
                    builtin_file: str | os.PathLike[str] | None = None) -> ExclusionSet:
    """Load the exclusions of a run.

    ``seeds/exclude.txt`` (or ``builtin_file``) is always read; ``paths`` are the user's exclude files
    and ``extra`` single ranges (``"203.0.113.0/24"``) from the command line (an ``extra`` item that is
    an existing file is read as an exclude file). ``allow_reserved`` lifts only
    the built-in entries inside :data:`LAB_LIFTABLE`; ``allow_loopback`` only those inside
    :data:`LOOPBACK`. User entries are never lifted.

    Raises UsageError for an unreadable file or a bad line (``file:line: 'x' is not ...``).
    """
    builtin = _read_exclude_file(Path(builtin_file or DEFAULT_EXCLUDE_FILE), True)
    lift: tuple = LAB_LIFTABLE if allow_reserved else (LOOPBACK if allow_loopback else ())
    kept = [e for e in builtin if not e.lifted_by(lift)]
    lifted = [e for e in builtin if e.lifted_by(lift)]
    for p in paths:
        kept.extend(_read_exclude_file(Path(p), False))
    for token in extra:
        if os.path.isfile(token) and not _looks_like_address(token):  # a file given where a range was expected
            kept.extend(_read_exclude_file(Path(token), False))
            continue
        try:
            v, a, b = _parse_range_item(token)
        except ValueError:
            raise UsageError(f"--exclude-range: {token!r} is not an IP address, network or range") from None
        kept.append(Exclusion(v, a, b, f"--exclude-range {token}", False))
    return ExclusionSet(kept, lifted)


# --------------------------------------------------------------------------------------------------------
# targets


@dataclass
class TargetSet:
    """Addresses (and explicit ``ip:port`` pairs) to sweep, after exclusions.

    * ``count()``: number of addresses in the ranges (pairs not counted; see ``pair_count``).
    * iteration: ``ipaddress`` objects in ascending order, IPv4 first, streaming (a /8 is one interval).
    * ``ranges``: ``[(first_ip, last_ip), ...]`` disjoint, ascending: what masscan is handed.
    * ``pairs``: ``((ip, port), ...)`` from ``ip:port`` items, swept on that port only.
    * ``excluded_count``: addresses (and pair addresses) named by the user but removed by exclusions.
    * ``exclusions``: the :class:`ExclusionSet` that was applied (the sweep re-checks every address).
    """

    v4: list[tuple[int, int]] = field(default_factory=list)
    v6: list[tuple[int, int]] = field(default_factory=list)
    pairs: tuple[tuple[IPAddress, int], ...] = ()
    excluded_count: int = 0
    exclusions: ExclusionSet = field(default_factory=lambda: ExclusionSet(()))
    skipped: tuple[str, ...] = ()
    _starts: dict[int, list[int]] = field(default_factory=dict, repr=False, compare=False)

    def count(self) -> int:
        """Number of addresses in the ranges after exclusions."""
        return _size(self.v4) + _size(self.v6)

    def __len__(self) -> int:  # pragma: no cover - len() of a /0 overflows Py_ssize_t on v6; use count()
        return self.count()

    @property
    def pair_count(self) -> int:
        """Number of explicit ``ip:port`` pairs."""
        return len(self.pairs)

    def __iter__(self) -> Iterator[IPAddress]:
        for a, b in self.v4:
            for x in range(a, b + 1):
                yield ipaddress.IPv4Address(x)
        for a, b in self.v6:
            for x in range(a, b + 1):
                yield ipaddress.IPv6Address(x)

    def __contains__(self, ip: object) -> bool:
        try:
            addr = _normalise(ipaddress.ip_address(ip))  # type: ignore[arg-type]
        except ValueError:
            return False
        ivs = self.v4 if addr.version == 4 else self.v6
        starts = self._starts.get(addr.version)
        if starts is None or len(starts) != len(ivs):
            starts = self._starts[addr.version] = [a for a, _ in ivs]
        x = int(addr)
        i = bisect.bisect_right(starts, x) - 1
        return i >= 0 and ivs[i][1] >= x

    def wants(self, ip: str | IPAddress, port: int, ports: Iterable[int]) -> bool:
        """True when ``ip:port`` is one of this set's probes for ``ports`` (used to drop stray results)."""
        if ip in self and port in set(ports):
            return True
        try:
            addr = _normalise(ipaddress.ip_address(ip))
        except ValueError:
            return False
        return (addr, port) in set(self.pairs)

    @property
    def ranges(self) -> list[tuple[IPAddress, IPAddress]]:
        """The address intervals as ``(first, last)`` ipaddress pairs (ascending, disjoint)."""
        return [(_addr(4, a), _addr(4, b)) for a, b in self.v4] + \
               [(_addr(6, a), _addr(6, b)) for a, b in self.v6]

    def masscan_ranges(self) -> list[str]:
        """The intervals in masscan's target syntax (``IP``, ``CIDR`` or ``a-b``), one string each."""
        return [_interval_text(4, a, b) for a, b in self.v4] + [_interval_text(6, a, b) for a, b in self.v6]

    def probe_count(self, ports: Sequence[int]) -> int:
        """Number of (ip, port) probes: ranges x ports + pairs."""
        return self.count() * len(ports) + len(self.pairs)

    def probes(self, ports: Sequence[int], *, shard: tuple[int, int] | None = None
               ) -> Iterator[tuple[IPAddress, int]]:
        """Stream ``(ip, port)`` probes: each address with every port, then the pairs.

        ``shard=(i, n)`` (1-based like masscan's ``--shards i/n``) keeps every n-th probe starting at i-1.
        """
        i = 0
        k, n = shard if shard else (1, 1)
        for ip in self:
            for p in ports:
                if i % n == k - 1:
                    yield ip, p
                i += 1
        for ip, p in self.pairs:
            if i % n == k - 1:
                yield ip, p
            i += 1


def _looks_like_address(token: str) -> bool:
    try:
        hp = _split_hostport(token)
        _parse_range_item(hp[0] if hp else token)
        return True
    except ValueError:
        return False


def _expand_spec(spec: str | Sequence[str]) -> Iterator[tuple[str, str]]:
    """Yield ``(where, token)``: ``where`` is ``file:line`` or ``targets`` for command-line items."""
    items: list[str] = [spec] if isinstance(spec, str) else list(spec)
    for item in items:
        for token in item.replace(",", " ").split():
            path: Path | None = None
            if token.startswith("@"):
                path = Path(token[1:])
            elif os.path.isfile(token) and not _looks_like_address(token):
                path = Path(token)
            if path is None:
                yield "targets", token
                continue
            for n, value, _c in _read_lines(path, "targets"):
                for sub in value.replace(",", " ").split():
                    yield f"{path}:{n}", sub


def parse_targets(spec: str | Sequence[str], *, allow_reserved: bool = False, allow_loopback: bool = False,
                  extra_excludes: Iterable[str] = (), exclude_files: Iterable[str | os.PathLike[str]] = (),
                  exclusions: ExclusionSet | None = None, on_excluded: str = "error") -> TargetSet:
    """Parse targets and subtract exclusions.

    ``spec``: one string or a sequence; each holds items separated by commas/whitespace: ``1.2.3.4``,
    ``1.2.3.0/24``, ``1.2.3.4-1.2.3.9`` (or ``1.2.3.4-9``), ``1.2.3.4:3333``, ``[2001:db8::1]:3333``,
    ``@file`` or a path to an existing file (one item per line, ``#`` comments), ``localhost``
    (= 127.0.0.1). Hostnames are refused: the sweep never resolves names (no DNS packets).

    ``exclusions`` (default: :func:`load_exclusions` with ``exclude_files``, ``extra_excludes``,
    ``allow_reserved``, ``allow_loopback``) is subtracted. An item wholly inside one excluded range raises
    UsageError naming the range, its source line, and how to opt in (``on_excluded="skip"`` counts it in
    ``excluded_count`` instead). Items that only overlap exclusions keep the rest.

    Raises UsageError: ``targets.txt:3: '10.0.0.300/24' is not an IP address or network``.
    """
    if exclusions is None:
        exclusions = load_exclusions(exclude_files, allow_reserved, allow_loopback=allow_loopback,
                                     extra=extra_excludes)
    req: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    pairs: list[tuple[IPAddress, int]] = []
    skipped: list[str] = []
    excluded_pairs = 0
    any_item = False
    for where, token in _expand_spec(spec):
        any_item = True
        try:
            hp = _split_hostport(token)
        except ValueError as exc:
            raise UsageError(f"{where}: {token!r}: {exc}") from None
        host = hp[0] if hp else token
        if host == "localhost":
            host = "127.0.0.1"
        try:
            v, a, b = _parse_range_item(host)
        except ValueError:
            if hp is None and any(c.isalpha() for c in host) and "." in host and ":" not in host \
                    and "/" not in host:
                raise UsageError(f"{where}: {token!r} is a hostname; the sweep takes IP addresses "
                                 f"(poolscan never resolves names while sweeping)") from None
            raise UsageError(f"{where}: {token!r} is not an IP address or network") from None
        if hp is not None and a != b:
            raise UsageError(f"{where}: {token!r}: a port can only follow a single address")
        cover = exclusions.covering(v, a, b)
        if cover is not None:
            if on_excluded == "error":
                raise UsageError(_excluded_message(where, host, cover, exclusions, v, a, b))
            skipped.append(f"{where}: {host} ({cover.source})")
            if hp is None:
                req[v].append((a, b))  # counted below as excluded
            else:
                excluded_pairs += 1
            continue
        if hp is not None:
            if exclusions.contains(_addr(v, a)):
                excluded_pairs += 1
                continue
            pairs.append((_addr(v, a), hp[1]))
        else:
            req[v].append((a, b))
    if not any_item:
        raise UsageError("targets: no targets given")
    merged = {v: _merge(req[v]) for v in (4, 6)}
    kept = {v: _subtract(merged[v], exclusions.intervals(v)) for v in (4, 6)}
    excluded = sum(_size(merged[v]) - _size(kept[v]) for v in (4, 6)) + excluded_pairs
    seen: set[tuple[IPAddress, int]] = set()
    uniq_pairs = []
    for pr in pairs:
        if pr not in seen:
            seen.add(pr)
            uniq_pairs.append(pr)
    return TargetSet(kept[4], kept[6], tuple(uniq_pairs), excluded, exclusions, tuple(skipped))


def _excluded_message(where: str, host: str, cover: Exclusion, ex: ExclusionSet, v: int, a: int, b: int) -> str:
    what = f"{where}: {host} is reserved/excluded ({cover.text}, {cover.source})"
    if cover.builtin and cover.lifted_by(LAB_LIFTABLE):
        return what + "; it is a loopback/private/CGNAT range: pass --allow-reserved to scan it (your own lab or network only)"
    if not cover.builtin:
        return what + "; remove it from your exclude file to scan it"
    return what + "; this range is never scanned (--allow-reserved lifts only loopback, private and CGNAT ranges)"


# --------------------------------------------------------------------------------------------------------
# ports


def parse_ports(spec: str | Sequence[int | str]) -> list[int]:
    """Parse a port list: ``"3333,4444,14000-14010"``, a file (``@file`` or an existing path; one port or
    range per line, ``#`` comments), or a named list (``pool`` = ``seeds/ports.txt``). Mixed items are
    allowed (``"pool,8545"``). Returns ports in first-occurrence order without duplicates.

    Raises UsageError naming the bad item: ``--ports: port 70000 is out of range 1-65535``.
    """
    out: list[int] = []
    seen: set[int] = set()

    def add(p: int) -> None:
        if p not in seen:
            seen.add(p)
            out.append(p)

    def item(where: str, tok: str) -> None:
        tok = tok.strip()
        if not tok:
            return
        low = tok.lower()
        if low in NAMED_PORT_LISTS:
            for p in _ports_file(NAMED_PORT_LISTS[low]):
                add(p)
            return
        path = Path(tok[1:]) if tok.startswith("@") else Path(tok)
        if tok.startswith("@") or (not tok.replace("-", "").isdigit() and path.is_file()):
            for p in _ports_file(path):
                add(p)
            return
        if tok.lower().startswith("t:"):  # masscan/nmap style T:80
            tok = tok[2:]
        try:
            if "-" in tok:
                lo_s, hi_s = tok.split("-", 1)
                lo, hi = _port(lo_s.strip()), _port(hi_s.strip())
                if hi < lo:
                    raise ValueError(f"range {tok!r} runs backwards")
                for p in range(lo, hi + 1):
                    add(p)
            else:
                add(_port(tok))
        except ValueError as exc:
            msg = str(exc)
            if msg.startswith("port '") or msg.startswith("port \""):
                msg = f"{tok!r} is not a port, range, file or named list (pool)"
            raise UsageError(f"{where}: {msg}") from None

    if isinstance(spec, str):
        for tok in spec.replace(" ", ",").split(","):
            item("--ports", tok)
    else:
        for tok in spec:
            item("--ports", str(tok))
    if not out:
        raise UsageError("--ports: no ports given")
    return out


def _ports_file(path: Path) -> list[int]:
    out = []
    for n, value, _c in _read_lines(path, "ports"):
        for tok in value.replace(",", " ").split():
            try:
                if "-" in tok:
                    lo_s, hi_s = tok.split("-", 1)
                    lo, hi = _port(lo_s), _port(hi_s)
                    if hi < lo:
                        raise ValueError(f"range {tok!r} runs backwards")
                    out.extend(range(lo, hi + 1))
                else:
                    out.append(_port(tok))
            except ValueError as exc:
                raise UsageError(f"{_display(path)}:{n}: {exc}") from None
    return out


def ports_spec(ports: Sequence[int]) -> str:
    """Compress ports to masscan's ``-p`` syntax: ``[3333, 3334, 3335, 4444]`` -> ``"3333-3335,4444"``."""
    ps = sorted(set(ports))
    parts = []
    i = 0
    while i < len(ps):
        j = i
        while j + 1 < len(ps) and ps[j + 1] == ps[j] + 1:
            j += 1
        parts.append(str(ps[i]) if i == j else f"{ps[i]}-{ps[j]}")
        i = j + 1
    return ",".join(parts)


def estimate_duration(probes: int, rate: float, *, wait: float = 0.0, passes: int = 1) -> float:
    """Seconds to send ``probes`` at ``rate`` packets/s, ``passes`` times, plus ``wait`` at the end."""
    if rate <= 0:
        raise UsageError("--rate: must be a positive number of packets per second")
    return probes * passes / rate + wait
