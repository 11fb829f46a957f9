"""OpenPortSet (scanner.sweep.seen): exact like a Python set, and ~8 bytes an IPv4 open port."""

from __future__ import annotations

import ipaddress
import random
import tracemalloc
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.sweep.seen import OpenPortSet, _merge, pack_key, unpack_key

# Addresses from small pools so that draws repeat (duplicates), plus the edges of both families.
V4 = st.one_of(st.integers(0, 40).map(lambda i: f"198.51.100.{i}"),
               st.integers(0, 2**32 - 1).map(lambda i: str(ipaddress.IPv4Address(i))),
               st.sampled_from(["0.0.0.0", "255.255.255.255"]))
V6 = st.one_of(st.integers(0, 40).map(lambda i: f"2001:db8::{i:x}"),
               st.integers(0, 2**128 - 1).map(lambda i: str(ipaddress.IPv6Address(i))),
               st.sampled_from(["::", "::1", "::ffff:198.51.100.1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]))
PORT = st.one_of(st.sampled_from([0, 1, 3333, 4444, 65535]), st.integers(0, 65535))
OPS = st.lists(st.tuples(st.one_of(V4, V4, V4, V6), PORT), max_size=400)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, recent_max=st.integers(1, 9), replay=st.integers(0, 3))
def test_matches_a_python_set(ops: list[tuple[str, int]], recent_max: int, replay: int) -> None:
    # recent_max 1..9: every few adds a run is flushed and merged, so adds and lookups cross merge boundaries
    s, ref = OpenPortSet(recent_max=recent_max), set()
    ops = ops + ops[: len(ops) * replay // 3]  # exact repeats after merges
    for ip, port in ops:
        canon = (str(ipaddress.ip_address(ip)), port)
        assert s.add(ip, port) == (canon not in ref)
        ref.add(canon)
        assert canon in s and len(s) == len(ref)
    assert sorted(s) == sorted(ref)
    for ip, port in ops:
        for other in (port ^ 1, (port + 1) % 65536):  # neighbours of present keys
            assert ((ip, other) in s) == ((str(ipaddress.ip_address(ip)), other) in ref)


@settings(max_examples=200, deadline=None)
@given(a=st.sets(st.integers(0, 2**48 - 1), max_size=300), b=st.sets(st.integers(0, 2**48 - 1), max_size=300),
       chunk=st.integers(1, 7))
def test_chunked_merge_is_a_sorted_union(a: set[int], b: set[int], chunk: int) -> None:
    b -= a  # runs are disjoint by construction
    out = _merge(array("Q", sorted(a)), array("Q", sorted(b)), chunk)
    assert out.tolist() == sorted(a | b) and out.typecode == "Q"


def test_many_runs_random_order() -> None:
    rnd = random.Random(3)
    keys = [rnd.getrandbits(20) << 28 | rnd.getrandbits(2) for _ in range(60_000)]  # many repeats
    s, ref = OpenPortSet(recent_max=97), set()
    new, expected = [], []
    for k in keys:
        new.append(s.add_key(k))
        expected.append(k not in ref)
        ref.add(k)
    assert new == expected and any(new) and not all(new)
    assert len(s) == len(ref) and sum(new) == len(ref)
    assert all(s.has_key(k) for k in keys[::7])
    absent = [rnd.getrandbits(48) for _ in range(5_000)] + [k + 1 for k in keys[:2_000]]
    assert [s.has_key(k) for k in absent] == [k in ref for k in absent]
    assert not any(s.add_key(k) for k in keys[::11])  # re-adds are duplicates
    assert 1 <= s.runs <= 10


def test_keys_family_and_canonical_form() -> None:
    assert pack_key("1.2.3.4", 3333) == (0x01020304 << 16) | 3333
    assert pack_key("0::1", 80) == pack_key("::1", 80) == pack_key(ipaddress.ip_address("::1"), 80)
    assert pack_key("::ffff:1.2.3.4", 1) != pack_key("1.2.3.4", 1)  # families kept apart, as before
    assert unpack_key(pack_key("2001:DB8::A", 4444)) == ("2001:db8::a", 4444)
    assert unpack_key(pack_key("198.51.100.7", 65535)) == ("198.51.100.7", 65535)
    for bad_ip, bad_port in (("1.2.3", 1), ("01.2.3.4", 1), ("1.2.3.4", -1), ("1.2.3.4", 65536), ("x", 1),
                             ("1.2.3.4\x00", 1)):
        with pytest.raises(ValueError):
            pack_key(bad_ip, bad_port)
    s = OpenPortSet()
    assert ("1.2.3", 1) not in s and "nonsense" not in s and (None, None) not in s


def test_memory_per_key_at_200k() -> None:
    # Keys ascending (as a connect sweep yields them) so no lookup runs under tracemalloc's slow hooks; the
    # layout (runs, recent set, merges) is the same as for random order. A set of packed ints costs ~60-70
    # bytes a key, of (str, int) tuples ~190.
    rnd = random.Random(11)
    keys = sorted({rnd.getrandbits(48) for _ in range(200_000)})
    s = OpenPortSet()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for k in keys:
            s.add_key(k)
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(s) == len(keys)
    per_key, peak_per_key = (cur - base) / len(keys), (peak - base) / len(keys)
    # 8 bytes a key in the runs + ~1 MB of fixed parts (recent set, merge chunks) spread over 200,000 keys
    assert 8 <= per_key < 12, per_key
    assert peak_per_key < 32, peak_per_key  # a merge: inputs + output + bounded chunks, never a big list
    assert s.nbytes() / len(keys) < 12


def test_memory_per_key_random_order() -> None:
    rnd = random.Random(12)
    s = OpenPortSet()
    for _ in range(100_000):
        s.add_key(rnd.getrandbits(48))
    assert s.nbytes() / len(s) < 12


class _DictTarpit:
    """The former TarpitGuard (a dict of counts), as the reference for the compact one."""

    def __init__(self, threshold: int) -> None:
        self.threshold, self.counts, self.flagged, self.suppressed = threshold, {}, set(), 0

    def admit(self, ip: str) -> bool:
        n = self.counts[ip] = self.counts.get(ip, 0) + 1
        if self.threshold <= 0:
            return True
        if ip in self.flagged or n > self.threshold:
            self.flagged.add(ip)
            self.suppressed += 1
            return False
        return True


@settings(max_examples=100, deadline=None)
@given(ips=st.lists(st.one_of(st.integers(0, 6).map(lambda i: f"198.51.100.{i}"), st.sampled_from(["::1", "x"])),
                    max_size=300),
       threshold=st.integers(-1, 9))
def test_tarpit_guard_counts_like_a_dict(ips: list[str], threshold: int) -> None:
    from scanner.sweep import TarpitGuard

    guard, ref = TarpitGuard(threshold), _DictTarpit(threshold)
    for ip in ips:
        assert guard.admit(ip) == ref.admit(ip)
        assert guard.count(ip) == ref.counts[ip] and guard.is_tarpit(ip) == (ip in ref.flagged)
    assert guard.suppressed == ref.suppressed and len(guard.events) == len(ref.flagged)
    assert guard.count("198.51.100.99") == 0


def test_tarpit_guard_counts_past_the_port_field() -> None:
    from scanner.sweep import TarpitGuard

    guard = TarpitGuard(threshold=0)
    for _ in range(65_540):
        guard.admit("198.51.100.1")
    assert guard.count("198.51.100.1") == 65_540 and guard.count("198.51.100.2") == 0
