"""The masscan runner's guards and argv, without starting masscan (no root needed).

The real runs (and the namespace checks against real namespaces) are in tests/netns.
"""

from __future__ import annotations

import asyncio

import pytest

from scanner.errors import UsageError
from scanner.sweep import sweep
from scanner.sweep.masscan import (NamespaceInfo, UnsafeNamespace, _groups, _namespace_problems, build_argv,
                                   parse_shards)
from scanner.targets import parse_targets


def run(targets, ports, **kw):
    async def go():
        return [op async for op in sweep(targets, ports, engine="masscan", **kw)]
    return asyncio.run(go())


def test_argv_carries_rate_seed_shards_exclusions_and_adapter():
    argv = build_argv(["10.77.0.10-10.77.0.20"], [3333, 3334, 4444], rate=1000, seed=42, excludefile="/x/ex.txt",
                      shards=(2, 4), adapter="psl-s0", adapter_ip="10.77.0.1", router_mac="aa:bb:cc:dd:ee:ff",
                      wait=2, retries=1)
    assert argv[:3] == ["10.77.0.10-10.77.0.20", "-p", "3333-3334,4444"]
    joined = " ".join(argv)
    for part in ("--rate 1000", "--seed 42", "--wait 2", "--excludefile /x/ex.txt", "--shards 2/4",
                 "--retries 1", "--adapter psl-s0", "--adapter-ip 10.77.0.1", "--router-mac aa-bb-cc-dd-ee-ff"):
        assert part in joined
    assert "--router-ip" not in argv  # the MAC wins: no ARP needed
    assert build_argv(["1.1.1.1"], [80], rate=10, seed=1, excludefile=None, includefile="/t.txt")[:2] == ["-iL", "/t.txt"]
    with pytest.raises(UsageError):
        build_argv(["1.1.1.1"], [80], rate=0, seed=1, excludefile=None)


def test_excluded_range_is_not_in_the_ranges_handed_to_masscan():
    t = parse_targets("10.77.0.0/28", allow_reserved=True, extra_excludes=["10.77.0.5", "10.77.0.8/30"])
    groups = _groups(t, [3333])
    assert groups == [(["10.77.0.0-10.77.0.4", "10.77.0.6/31", "10.77.0.12/30"], [3333])]
    t2 = parse_targets("198.51.99.0-198.51.101.255")  # TEST-NET-2 in the middle
    assert _groups(t2, [80])[0][0] == ["198.51.99.0/24", "198.51.101.0/24"]


def test_pairs_become_their_own_runs():
    t = parse_targets(["10.77.0.10:3333", "10.77.0.11:3333", "10.77.0.12:4444"], allow_reserved=True)
    groups = sorted(_groups(t, [1]))
    assert groups == [(["10.77.0.10", "10.77.0.11"], [3333]), (["10.77.0.12"], [4444])]


def test_neither_lab_nor_production_is_refused():
    t = parse_targets("10.77.0.10", allow_reserved=True)
    with pytest.raises(UsageError, match="either in the lab"):
        run(t, [3333], rate=100)


def test_production_is_disabled_in_tests():
    t = parse_targets("1.1.1.1")
    with pytest.raises(UsageError, match="POOLSCAN_NO_INTERNET"):
        run(t, [3333], rate=100, production=True)


def test_masscan_needs_an_explicit_rate():
    t = parse_targets("10.77.0.10", allow_reserved=True)
    with pytest.raises(UsageError, match="rate"):
        run(t, [3333], rate=None, netns="psl-scan")


def test_a_namespace_not_made_by_the_lab_is_refused():
    t = parse_targets("10.77.0.10", allow_reserved=True)
    with pytest.raises(UnsafeNamespace, match="not made by 'poolscan lab up'"):
        run(t, [3333], rate=100, netns="no-such-poolscan-namespace")


def test_namespace_problems():
    good = NamespaceInfo("s", interfaces=["lo", "psl-s0"], routes=["10.77.0.0/24 dev psl-s0 proto kernel scope link"],
                         addresses={"lo": [("127.0.0.1", 8)], "psl-s0": [("10.77.0.1", 24)]})
    assert _namespace_problems(good, ["psl-s0"]) == []
    bad = NamespaceInfo("s", interfaces=["lo", "psl-s0", "eth0"],
                        routes=["default via 10.77.0.10 dev psl-s0", "10.77.0.0/24 dev psl-s0",
                                "192.168.0.0/16 via 10.77.0.10 dev psl-s0"])
    problems = " | ".join(_namespace_problems(bad, ["psl-s0"]))
    assert "default route" in problems and "gateway route" in problems and "eth0" in problems
    assert _namespace_problems(NamespaceInfo("s", routes6=["default via fe80::1 dev x"], interfaces=["lo", "x"]),
                               None) == ["it has a default route (default via fe80::1 dev x)"]


def test_parse_shards():
    assert parse_shards("2/4") == (2, 4) and parse_shards(None) is None
    for bad in ("0/4", "5/4", "a/b", "3"):
        with pytest.raises(UsageError, match="1-based"):
            parse_shards(bad)


def test_watchdog_ends_the_known_end_of_scan_hang(tmp_path):
    """masscan 1.3.2's hang (environment.md §1.3) happens about 1 run in 3 without traffic, so it cannot be
    provoked on demand; this process prints what the hung masscan prints (results, then a status line
    counting below zero) and, like it, ignores one SIGINT. The runner must keep the results, see the hang,
    and end it (SIGINT, SIGINT, SIGKILL) well before the hard time limit."""
    import time

    from scanner.sweep.masscan import _RunOutcome, run_masscan

    script = ("trap '' INT; echo 'Discovered open port 3333/tcp on 10.77.0.10'; "
              "echo 'Discovered open port 3333/tcp on 10.77.0.10'; "
              "for w in 1 0 -1 -2 -3 -4 -5 -6 -7 -8 -9; do printf 'rate:  0.00-kpps, 100.00%% done, waiting %s-secs, found=1   \\r' $w >&2; sleep 0.3; done; "
              "sleep 60")
    outcome = _RunOutcome()

    async def go():
        return [r[:2] async for r in run_masscan(["sh", "-c", script], timeout=30, cwd=str(tmp_path),
                                                 outcome=outcome)]

    t0 = time.monotonic()
    got = asyncio.run(go())
    assert got == [("10.77.0.10", 3333), ("10.77.0.10", 3333)]  # de-duplication is the caller's job
    assert outcome.killed_for == "hang" and outcome.returncode is not None
    assert time.monotonic() - t0 < 10
