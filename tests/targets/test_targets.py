"""Targets, ports, exclusions (scanner.targets) and the seeds they read."""

from __future__ import annotations

import ipaddress
import itertools
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.errors import UsageError
from scanner.targets import (DEFAULT_EXCLUDE_FILE, DEFAULT_PORTS_FILE, _merge, _subtract, load_exclusions,
                             parse_ports, parse_targets, ports_spec)


def _seed_networks(path=DEFAULT_EXCLUDE_FILE):
    """Independent reading of seeds/exclude.txt with the stdlib only (for cross-checks)."""
    nets = []
    for line in open(path):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        if "-" in value:
            a, b = value.split("-")
            nets.extend(ipaddress.summarize_address_range(ipaddress.ip_address(a), ipaddress.ip_address(b)))
        else:
            nets.append(ipaddress.ip_network(value))
    return nets


# ---------------------------------------------------------------------------------------------- seeds

def test_every_exclude_line_parses_and_names_its_source():
    for n, line in enumerate(open(DEFAULT_EXCLUDE_FILE), 1):
        value, _, comment = line.partition("#")
        if value.strip():
            assert re.search(r"\[(IANA4|IANA6|MCAST|MASSCAN|ZMAP)\]", comment), f"exclude.txt:{n} has no source"
    nets = {str(n) for n in _seed_networks()}
    # union of masscan's exclude.conf and ZMap's blocklist: multicast comes from ZMap only
    for must in ("224.0.0.0/4", "10.0.0.0/8", "100.64.0.0/10", "198.18.0.0/15", "240.0.0.0/4", "153.11.0.0/16",
                 "6.0.0.0/8", "::1/128", "fc00::/7"):
        assert must in nets
    assert "192.18.0.0/15" not in nets  # ZMap's typo for 198.18.0.0/15 is not copied


def test_every_port_line_names_its_source():
    for n, line in enumerate(open(DEFAULT_PORTS_FILE), 1):
        value, _, comment = line.partition("#")
        if value.strip():
            assert comment.strip(), f"ports.txt:{n} has no source"


# ---------------------------------------------------------------------------------------------- targets

def test_items_of_every_form(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("# pools\n1.1.1.1\n\n8.8.8.0/30  # a comment\n")
    t = parse_targets(["1.2.3.4", "1.2.3.10-1.2.3.12, 1.2.4.1-3", f"@{f}", "9.9.9.9:3333", "[2606:4700::1]:4444"])
    assert [str(ip) for ip in t] == ["1.1.1.1", "1.2.3.4", "1.2.3.10", "1.2.3.11", "1.2.3.12", "1.2.4.1",
                                     "1.2.4.2", "1.2.4.3", "8.8.8.0", "8.8.8.1", "8.8.8.2", "8.8.8.3"]
    assert t.count() == 12
    assert [(str(ip), p) for ip, p in t.pairs] == [("9.9.9.9", 3333), ("2606:4700::1", 4444)]
    assert t.masscan_ranges() == ["1.1.1.1", "1.2.3.4", "1.2.3.10-1.2.3.12", "1.2.4.1-1.2.4.3", "8.8.8.0/30"]
    # a plain path works too, and overlapping items merge
    t2 = parse_targets([str(f), "8.8.8.2/31"])
    assert t2.count() == 5


def test_bad_line_in_a_file_names_file_and_line(tmp_path):
    f = tmp_path / "targets.txt"
    f.write_text("1.1.1.1\n# ok\n10.0.0.300/24\n")
    with pytest.raises(UsageError) as e:
        parse_targets(str(f))
    assert str(e.value) == f"{f}:3: '10.0.0.300/24' is not an IP address or network"


@pytest.mark.parametrize("bad,needle", [
    ("1.2.3.4:70000", "port 70000 is out of range 1-65535"),
    ("pool.example.com", "is a hostname"),
    ("1.2.3.9-1.2.3.1", "is not an IP address or network"),
    ("1.2.3.0/24:3333", "a port can only follow a single address"),
])
def test_bad_items(bad, needle):
    with pytest.raises(UsageError, match=re.escape(needle)):
        parse_targets(bad)


def test_private_range_refused_with_the_opt_in_named():
    with pytest.raises(UsageError) as e:
        parse_targets("10.0.0.0/8")
    msg = str(e.value)
    assert "\n" not in msg
    assert "10.0.0.0/8 is reserved/excluded" in msg and "RFC 1918" in msg and "--allow-reserved" in msg
    assert parse_targets("10.0.0.0/8", allow_reserved=True).count() == 2**24


def test_allow_reserved_lifts_only_lab_ranges():
    assert parse_targets("127.0.0.1", allow_reserved=True).count() == 1
    assert parse_targets("100.64.0.1", allow_reserved=True).count() == 1
    for never in ("192.0.2.1", "224.0.0.1", "198.18.0.1", "169.254.1.1", "255.255.255.255", "153.11.1.1"):
        with pytest.raises(UsageError, match="never scanned"):
            parse_targets(never, allow_reserved=True)
    # loopback-only opt-in (an ad hoc probe of this machine) does not open private ranges
    assert parse_targets("127.0.0.1:3333", allow_loopback=True).pair_count == 1
    with pytest.raises(UsageError):
        parse_targets("10.77.0.10", allow_loopback=True)


def test_ipv4_mapped_ipv6_is_checked_as_ipv4():
    with pytest.raises(UsageError, match="127.0.0.0/8"):
        parse_targets("::ffff:127.0.0.1")


def test_partial_overlap_keeps_the_rest_and_counts_the_excluded():
    t = parse_targets("192.0.2.0/23")  # 192.0.2.0/24 is TEST-NET-1
    assert t.count() == 256 and t.excluded_count == 256
    assert t.masscan_ranges() == ["192.0.3.0/24"]
    assert "192.0.2.7" not in t and "192.0.3.7" in t


def test_whole_ipv4_count_matches_an_independent_computation():
    t = parse_targets("0.0.0.0/0")
    v4 = [n for n in _seed_networks() if n.version == 4]
    excluded = sum(n.num_addresses for n in ipaddress.collapse_addresses(v4))
    assert t.count() == 2**32 - excluded
    assert t.excluded_count == excluded


def test_iteration_streams_a_huge_set():
    t = parse_targets("0.0.0.0/0")
    t0 = time.monotonic()
    first = list(itertools.islice(iter(t), 3))
    assert [str(x) for x in first] == ["1.0.0.0", "1.0.0.1", "1.0.0.2"]
    assert time.monotonic() - t0 < 0.5


def test_user_exclude_files_and_ranges(tmp_path):
    ex = tmp_path / "mine.txt"
    ex.write_text("# my own\n8.8.8.8\n8.8.4.0/24\n")
    t = parse_targets("8.8.0.0/16", exclude_files=[ex], extra_excludes=["8.8.9.0-8.8.9.255"])
    assert t.count() == 65536 - 1 - 256 - 256
    assert "8.8.8.8" not in t and "8.8.8.9" in t and "8.8.9.1" not in t
    with pytest.raises(UsageError, match="remove it from your exclude file"):
        parse_targets("8.8.8.8", exclude_files=[ex])
    # a file passed where ranges are expected (the scan command's --exclude) is read as a file
    assert "8.8.8.8" not in parse_targets("8.8.8.0/24", extra_excludes=[str(ex)])
    bad = tmp_path / "bad.txt"
    bad.write_text("8.8.8.8\nnot-an-ip\n")
    with pytest.raises(UsageError, match=r"bad.txt:2: 'not-an-ip' is not an IP address, network or range"):
        load_exclusions([bad])


def test_exclusion_set_write_is_the_effective_list(tmp_path):
    ex = load_exclusions(allow_reserved=True, extra=["8.8.8.8"])
    out = tmp_path / "ex.txt"
    ex.write(out, version=None)
    lines = [ln for ln in out.read_text().splitlines() if not ln.startswith("#")]
    assert "8.8.8.8" in lines and "192.0.2.0/24" in lines and "224.0.0.0/3" in lines  # multicast+240/4 merged
    assert not any(ln.startswith(("127.", "10.0.0.0", "192.168.")) for ln in lines)
    back = load_exclusions(builtin_file=out)  # what masscan reads back is exactly the effective set
    assert back.intervals(4) == ex.intervals(4) and back.intervals(6) == ex.intervals(6)
    src = load_exclusions().find("10.1.2.3").source
    assert src.startswith("seeds/exclude.txt:") and "RFC 1918" in src


def test_shards_partition_the_probes():
    t = parse_targets("1.1.1.0/29")
    ports = [3333, 4444, 5555]
    allp = list(t.probes(ports))
    parts = [list(t.probes(ports, shard=(i, 3))) for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(allp) and sum(map(len, parts)) == len(allp) == 24


# ---------------------------------------------------------------------------------------------- ports

def test_parse_ports_forms(tmp_path):
    assert parse_ports("3333,4444,14000-14003,3333") == [3333, 4444, 14000, 14001, 14002, 14003]
    f = tmp_path / "p.txt"
    f.write_text("# x\n8545  # geth\n9000-9001\n")
    assert parse_ports(f"@{f}") == [8545, 9000, 9001]
    assert parse_ports(str(f)) == [8545, 9000, 9001]
    pool = parse_ports("pool")
    assert pool[:3] == [3333, 4444, 5555] and len(pool) == len(set(pool)) >= 20
    assert parse_ports("pool,8545")[-1] == 8545
    assert ports_spec([3335, 3333, 3334, 4444]) == "3333-3335,4444"


@pytest.mark.parametrize("bad,msg", [
    ("3333,70000", "--ports: port 70000 is out of range 1-65535"),
    ("0", "--ports: port 0 is out of range 1-65535"),
    ("abc", "--ports: 'abc' is not a port, range, file or named list (pool)"),
    ("5000-4000", "--ports: range '5000-4000' runs backwards"),
])
def test_parse_ports_errors(bad, msg):
    with pytest.raises(UsageError) as e:
        parse_ports(bad)
    assert str(e.value) == msg


# ---------------------------------------------------------------------------------------------- intervals

small = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 12)).map(lambda t: (t[0], t[0] + t[1])), max_size=8)


@settings(max_examples=200, deadline=None)
@given(small, small)
def test_subtract_matches_sets(base, cut):
    def members(ivs):
        return {x for a, b in ivs for x in range(a, b + 1)}

    got = _subtract(_merge(base), _merge(cut))
    assert members(got) == members(base) - members(cut)
    assert got == _merge(got)  # sorted, disjoint, non-adjacent
