"""A compact, exact set of open ports ``(ip, port)``: the sweep's de-duplication memory.

Why. The sweep yields each open port once, so it remembers every open port it has yielded. An internet-wide
sweep of pool ports finds millions of them; a Python ``set`` of ``(str, int)`` tuples costs ~190 bytes a
key and a set of packed ints ~60-80 bytes (int objects and hash slots), i.e. 60-250 MB per million open
ports (issue 8: memory must stay flat). A Bloom filter would be small but not exact: a false positive
would silently lose an open port. :class:`OpenPortSet` is exact and keeps an IPv4 open port in 8 bytes.

How (a log-structured merge of sorted runs, pure Python, no numpy):

* a key is one int, :func:`pack_key`: IPv4 ``address << 16 | port`` (< 2**48); IPv6
  ``(1 << 128 | address) << 16 | port`` (the high bit keeps the two families apart, so ``::ffff:1.2.3.4``
  and ``1.2.3.4`` are different keys, as before);
* new IPv4 keys go into a small ``set`` (``recent``, at most :data:`RECENT_MAX` keys); when it is full it
  is sorted into an ``array('Q')`` run (8 bytes a key, no int objects);
* runs are merged in levels: a new run is merged into the last one while that one holds at most
  :data:`MERGE_RATIO` (4) times its keys, so there are at most log_4(n / RECENT_MAX) + 1 runs (2-3 at
  1e6-1e7 keys) and each key is merged O(log n) times: total work O(n log n). A merge walks both runs in
  chunks of at most :data:`MERGE_CHUNK` keys (Timsort of two sorted chunks is a linear merge in C), so it
  never holds more than ~2 x MERGE_CHUNK int objects; its peak is the two input runs plus the output run
  (16 bytes a key of the merged runs, briefly);
* a lookup checks ``recent``, then for each run bisects its fence (every :data:`FENCE`-th key, small enough
  to stay in the CPU cache) and a FENCE-key window of the run: O(log^2 n); ``add_key`` right after a
  ``has_key`` miss of the same key, or of a key above every key added (ascending sweeps), skips the lookup;
* IPv6 keys stay in a plain ``set`` (~100 bytes a key): sweeps find few IPv6 open ports.

Measured on this machine (2 cores shared with other jobs, load 1-4, so rates vary by ~1.5x; Python 3.11;
a throwaway timing script: ``add(ip_string, port)`` of distinct IPv4 open ports in a scattered
order, one process per size; bytes from :meth:`OpenPortSet.nbytes`, RSS growth and VmHWM growth of the
process, tracemalloc peak):

* 100,000 keys: 9.8 bytes a key; RSS growth 22-30, VmHWM growth 30-57, tracemalloc peak 31.5 bytes a key
  (the fixed part dominates); 200,000-280,000 adds/s (including parsing the address);
* 1,000,000 keys: 8.2 bytes a key; RSS growth 12-17, VmHWM growth 22-25, tracemalloc peak 17.9 bytes a
  key; 120,000-165,000 adds/s;
* 10,000,000 keys: 8.2 bytes a key; RSS growth 10.6, VmHWM growth 20.7 bytes a key (tracemalloc not run:
  too slow); ~100,000 adds/s.

(For comparison, a set of 1e6 packed ints costs ~64 bytes a key, of ``(str, int)`` tuples ~215.) The fixed
part is ``recent`` (<= RECENT_MAX keys, ~1.2 MB when full) and the merge chunks (~0.6 MB): it dominates
below ~200,000 keys. Duplicate adds run at ~190,000-270,000/s.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from array import array
from bisect import bisect_left, bisect_right
from typing import Iterator

#: IPv4 keys kept in the ``recent`` set before they are sorted into a run (~70 bytes each while there).
RECENT_MAX = 16384
#: Keys taken from each run per step of a merge (bounds the temporary int objects of a merge).
MERGE_CHUNK = 8192
#: A run is merged into the previous one while that one holds at most this many times its keys: fewer runs
#: (at most log_4(n / RECENT_MAX) + 1) for a little more merge work.
MERGE_RATIO = 4
#: Every FENCE-th key of a run is kept in a small sorted ``array("Q")`` (0.125 bytes a key) that stays in the
#: CPU cache: a lookup bisects it first, then only a FENCE-key window of the run (fewer cache misses).
FENCE = 64
#: Keys at or above this are IPv6 (see :func:`pack_key`).
V6_FLAG = 1 << (128 + 16)

_AF_INET = socket.AF_INET
_inet_pton = socket.inet_pton
_from_bytes = int.from_bytes


def pack_key(ip: str, port: int) -> int:
    """The int key of an open port: IPv4 ``address << 16 | port``, IPv6 ``(1 << 128 | address) << 16 | port``.

    ``ip``: an address string (or an ``ipaddress`` object); ``port``: 0..65535. Raises ValueError for an
    invalid address or port. Equal addresses written differently (``::1`` / ``0::1``) give one key.
    """
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"port {port!r} is not in 0..65535")
    try:
        return (_from_bytes(_inet_pton(_AF_INET, ip), "big") << 16) | port  # type: ignore[arg-type]
    except (OSError, TypeError, ValueError):
        addr = ipaddress.ip_address(ip)  # raises ValueError for garbage
    if addr.version == 4:
        return (int(addr) << 16) | port
    return ((int(addr) | (1 << 128)) << 16) | port


def unpack_key(key: int) -> tuple[str, int]:
    """Inverse of :func:`pack_key`: ``(ip, port)`` with the address in its canonical text form."""
    port = key & 0xFFFF
    if key >= V6_FLAG:
        return str(ipaddress.IPv6Address((key >> 16) & ((1 << 128) - 1))), port
    return str(ipaddress.IPv4Address(key >> 16)), port


def _merge(a: array, b: array, chunk: int = MERGE_CHUNK) -> array:
    """Merge two sorted, disjoint ``array('Q')`` runs into a new one; at most ~2 x ``chunk`` int objects live."""
    out = array("Q")
    i = j = 0
    la, lb = len(a), len(b)
    while i < la and j < lb:
        ia = min(i + chunk, la)
        jb = min(j + chunk, lb)
        va, vb = a[ia - 1], b[jb - 1]
        # emit everything up to the smaller chunk end: every key left behind is bigger
        if va <= vb:
            jb = bisect_right(b, va, j, jb)
        else:
            ia = bisect_right(a, vb, i, ia)
        part = a[i:ia].tolist()
        part += b[j:jb].tolist()
        part.sort()  # two sorted runs: Timsort merges them in linear time
        out.fromlist(part)
        i, j = ia, jb
    if i < la:
        out += a[i:]
    if j < lb:
        out += b[j:]
    return out


class OpenPortSet:
    """Exact set of open ports ``(ip, port)``, IPv4 and IPv6, ~8 bytes a key for IPv4 (see module docstring).

    ``add(ip, port)`` -> True when new; ``(ip, port) in s``; ``len(s)``; iteration yields ``(ip, port)``
    (canonical address text; no order promised). ``add_key``/``has_key`` take a :func:`pack_key` int, for
    callers that need both (one parse). Not thread-safe. Raises ValueError for an invalid address or port.
    """

    __slots__ = ("_recent", "_runs", "_fences", "_v6", "_len", "_recent_max", "_miss", "_max")

    def __init__(self, recent_max: int = RECENT_MAX) -> None:
        self._recent: set[int] = set()
        self._runs: list[array] = []  # sorted, pairwise disjoint, lengths decreasing
        self._fences: list[array] = []  # run[::FENCE] of each run
        self._v6: set[int] = set()
        self._len = 0
        self._recent_max = max(1, recent_max)
        self._miss = -1  # the last IPv4 key has_key did not find, valid until the next add (saves a lookup)
        self._max = -1  # the largest IPv4 key added: a bigger one is new without a lookup (ascending sweeps)

    def __len__(self) -> int:
        return self._len

    def __contains__(self, item: object) -> bool:
        try:
            ip, port = item  # type: ignore[misc]
            key = pack_key(ip, port)
        except (TypeError, ValueError):
            return False
        return self.has_key(key)

    def add(self, ip: str, port: int) -> bool:
        """Add ``(ip, port)``; True when it was not there yet."""
        return self.add_key(pack_key(ip, port))

    def has_key(self, key: int) -> bool:
        """True when the packed ``key`` (:func:`pack_key`) is in the set."""
        if key >= V6_FLAG:
            return key in self._v6
        if key in self._recent:
            return True
        for run, fence in zip(self._runs, self._fences):
            f = bisect_right(fence, key)
            if f:
                lo = (f - 1) * FENCE
                i = bisect_left(run, key, lo, min(lo + FENCE, len(run)))
                if i < len(run) and run[i] == key:
                    return True
        self._miss = key
        return False

    def add_key(self, key: int) -> bool:
        """Add a packed ``key`` (:func:`pack_key`); True when it was new."""
        if key >= V6_FLAG:
            if key in self._v6:
                return False
            self._v6.add(key)
        else:
            if key > self._max:
                self._max = key
            elif key != self._miss and self.has_key(key):
                return False
            self._miss = -1
            recent = self._recent
            recent.add(key)
            if len(recent) >= self._recent_max:
                self._flush()
        self._len += 1
        return True

    def _flush(self) -> None:
        """Sort ``recent`` into a run; merge it with the last run while that one is <= MERGE_RATIO x its size."""
        run = array("Q", sorted(self._recent))
        self._recent = set()
        runs, fences = self._runs, self._fences
        while runs and len(runs[-1]) <= MERGE_RATIO * len(run):
            fences.pop()
            run = _merge(runs.pop(), run)
        runs.append(run)
        fences.append(run[::FENCE])

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for run in list(self._runs):
            for key in run:
                yield unpack_key(key)
        for key in list(self._recent):
            yield unpack_key(key)
        for key in list(self._v6):
            yield unpack_key(key)

    @property
    def runs(self) -> int:
        """Number of sorted runs (at most log_4(len / recent_max) + 1)."""
        return len(self._runs)

    def nbytes(self) -> int:
        """Approximate bytes held: run buffers, the ``recent`` and IPv6 sets with their int objects."""
        n = sum(r.buffer_info()[1] * r.itemsize for r in self._runs + self._fences)
        for s in (self._recent, self._v6):
            n += sys.getsizeof(s) + sum(sys.getsizeof(k) for k in s)
        return n
