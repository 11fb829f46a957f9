"""The SQLite store on real files: schema, idempotent saves (resume), first/last seen across runs, new vs
known, filters, diff, hostile strings."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from scanner.errors import UsageError
from scanner.model import Exchange, OpenPort, ProbeResult, Status, Transcript, Verdict
from scanner.store import Store, iso
from scanner.store.known import KnownPools

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0


def result(ip: str = "198.51.100.7", port: int = 3333, *, at: float = T0, is_pool: bool | None = True,
           software: str | None = "ckpool", coin: str | None = "BTC", confidence: float = 0.9,
           enrichment: dict | None = None, label: str | None = None) -> ProbeResult:
    """A ProbeResult with three transcripts (two of the same probe) as the probe stage makes them."""
    subscribe = b'{"id":2,"method":"mining.subscribe","params":["poolscan/0.1.0"]}\n'
    reply = b'{"id":2,"result":[[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",4],"error":null}\n'
    ts = (
        Transcript(ip=ip, port=port, probe="stratum1", status=Status.SUCCESS,
                   exchanges=(Exchange(0.0, "send", subscribe), Exchange(0.012, "recv", reply)),
                   started_at=at, duration_s=0.5),
        Transcript(ip=ip, port=port, probe="stratum1", status=Status.TLS_ERROR, tls=True,
                   error="wrong version number", started_at=at + 1, duration_s=0.1),
        Transcript(ip=ip, port=port, probe="http", status=Status.SUCCESS,
                   exchanges=(Exchange(0.0, "send", b"GET / HTTP/1.1\r\n\r\n"),
                              Exchange(0.01, "recv", b"\xff\xfe\x00garbage")),
                   truncated=True, closed_by_peer=True, started_at=at + 2, duration_s=0.2),
    )
    v = Verdict(is_pool=is_pool, protocol="stratum1" if is_pool else None, software=software, coin=coin,
                algo="sha256d" if coin == "BTC" else None, confidence=confidence, label=label,
                evidence=("stratum1: subscribe result has extranonce1 08000002, extranonce2_size 4",),
                fingerprints_version="fp-test")
    return ProbeResult(ip=ip, port=port, status=Status.SUCCESS, verdict=v, transcripts=ts,
                       enrichment=enrichment or {})


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "sub" / "dir" / "poolscan.db", known_pools=KnownPools())
    yield s
    s.close()


def count(store: Store, table: str) -> int:
    return store.db.table(table).count


def test_open_creates_dirs_wal_and_schema_once(tmp_path):
    path = tmp_path / "a" / "b" / "poolscan.db"
    s = Store.open(path, known_pools=KnownPools())
    s.close()
    assert path.exists()
    s = Store.open(path, known_pools=KnownPools())  # second open: migrations already applied
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert set(s.db.table_names()) >= {"runs", "open_ports", "verdicts", "transcripts", "pools",
                                       "_sqlite_migrations"}
    applied = [r["name"] for r in s.db.query("SELECT name FROM _sqlite_migrations")]
    assert applied == ["m001_initial", "m002_pool_cert_sha256"]
    s.close()


def test_old_schema_is_migrated_on_open(tmp_path):
    from sqlite_utils import Database

    from scanner.store.schema import MIGRATIONS

    path = tmp_path / "v1.db"
    db = Database(path)
    MIGRATIONS.apply(db, stop_before="m002_pool_cert_sha256")
    assert "cert_sha256" not in db.table("pools").columns_dict
    db.close()
    s = Store.open(path, known_pools=KnownPools())
    assert "cert_sha256" in s.db.table("pools").columns_dict
    run = s.start_run("scan", {})
    s.save_result(run, result(enrichment={"cert_sha256": "ab" * 32}))
    assert next(s.pools())["cert_sha256"] == "ab" * 32
    s.close()


def test_open_missing_or_not_a_database(tmp_path):
    with pytest.raises(UsageError, match="database not found"):
        Store.open(tmp_path / "nope.db", create=False)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="not a poolscan SQLite database"):
        Store.open(junk)


def test_save_result_is_idempotent(store):
    run = store.start_run("scan", {"targets": ["198.51.100.0/24"]}, seed=42)
    r = result()
    for _ in range(3):  # a resumed run saving the same ip:port again
        store.save_result(run, r)
    store.save_open_port(run, OpenPort("198.51.100.7", 3333, seen_at=T0, source="connect"))
    store.save_open_port(run, OpenPort("198.51.100.7", 3333, seen_at=T0, source="connect"))
    assert count(store, "verdicts") == 1
    assert count(store, "transcripts") == 3
    assert count(store, "pools") == 1
    assert count(store, "open_ports") == 1
    [pool] = store.pools()
    assert pool["seen_count"] == 1
    assert pool["first_seen"] == pool["last_seen"] == "2026-01-01T00:00:00.000000Z"
    # same-probe transcripts get distinct deterministic ids
    ids = [row["id"] for row in store.db.query("SELECT id FROM transcripts ORDER BY seq")]
    assert len(set(ids)) == 3


def test_results_round_trip_byte_for_byte(store):
    run = store.start_run("probe", {})
    r = result(enrichment={"asn": 64500, "country": "NL"})
    store.save_result(run, r)
    [back] = list(store.results(run))
    assert back == r
    assert back.transcripts[2].received == b"\xff\xfe\x00garbage"


def test_resave_replaces_transcripts_and_verdict(store):
    run = store.start_run("scan", {})
    store.save_result(run, result())
    shorter = result(is_pool=False, software=None, coin=None, label="electrum")
    shorter = ProbeResult(ip=shorter.ip, port=shorter.port, status=shorter.status, verdict=shorter.verdict,
                          transcripts=shorter.transcripts[:1])
    store.save_result(run, shorter)
    assert count(store, "transcripts") == 1
    assert count(store, "verdicts") == 1
    # the only sighting is no longer a pool: the aggregate row goes away
    assert count(store, "pools") == 0


def test_first_last_seen_and_new_across_runs(store):
    run1 = store.start_run("campaign", {}, campaign="nightly")
    store.save_result(run1, result(at=T0))
    store.finish_run(run1, "ok", {"pools": 1})
    run2 = store.start_run("campaign", {}, campaign="nightly")
    store.save_result(run2, result(at=T0 + DAY, software="ckpool-solo"))
    store.save_result(run2, result(ip="198.51.100.8", port=4444, at=T0 + DAY, coin="XMR", software="nodejs-pool"))
    store.finish_run(run2, "ok", {"pools": 2})

    pools = {p["id"]: p for p in store.pools()}
    old, fresh = pools["198.51.100.7:3333"], pools["198.51.100.8:4444"]
    assert old["first_seen"] == iso(T0) and old["last_seen"] == iso(T0 + DAY)
    assert (old["first_run"], old["last_run"], old["seen_count"]) == (run1, run2, 2)
    assert old["software"] == "ckpool-solo"  # latest label wins
    assert old["new"] is False and fresh["new"] is True
    assert [p["id"] for p in store.pools(new_only=True)] == ["198.51.100.8:4444"]
    # relative to run1, the first pool was new then
    assert [p["id"] for p in store.pools(new_only=True, run_id=run1)] == ["198.51.100.7:3333"]
    # --since: new = first seen since that time
    since = datetime.fromtimestamp(T0 + DAY / 2, timezone.utc)
    assert [p["id"] for p in store.pools(since=since, new_only=True)] == ["198.51.100.8:4444"]
    assert {p["id"] for p in store.pools(since=since)} == {"198.51.100.7:3333", "198.51.100.8:4444"}
    assert [p["id"] for p in store.pools(since="2026-01-03")] == []


def test_known_pools_are_never_new(tmp_path):
    known = KnownPools.parse(["198.51.100.7:3333  # listed by ip:port", "pool.example.org:4444 # by name", "",
                              "# comment only"], source="known.txt")
    s = Store.open(tmp_path / "k.db", known_pools=known)
    run = s.start_run("scan", {})
    s.save_result(run, result())
    s.save_result(run, result(ip="198.51.100.9", port=4444, enrichment={"cert_names": ["Pool.Example.org"]}))
    s.save_result(run, result(ip="198.51.100.10", port=5555))
    pools = {p["id"]: p for p in s.pools()}
    assert pools["198.51.100.7:3333"]["known"] is True
    assert pools["198.51.100.9:4444"]["known"] is True
    assert pools["198.51.100.10:5555"]["known"] is False
    assert [p["id"] for p in s.pools(new_only=True)] == ["198.51.100.10:5555"]
    s.close()


def test_known_pools_parse_errors_name_file_and_line():
    with pytest.raises(UsageError, match=r"known\.txt:2: .*port 70000"):
        KnownPools.parse(["203.0.113.1:3333", "203.0.113.2:70000"], source="known.txt")
    with pytest.raises(UsageError, match=r"known\.txt:1: "):
        KnownPools.parse(["not a host!"], source="known.txt")
    k = KnownPools.parse(["[2001:db8::7]:3333", "2001:db8::8", "pool.example.org"])
    assert k.matches("2001:db8:0::7", 3333) and k.matches("2001:db8::8", 1)
    assert k.matches("203.0.113.1", 1, ["*.pool.example.org"]) is True
    assert k.matches("203.0.113.1", 1, ["evil.example.org"]) is False


def test_shipped_known_pools_file_parses():
    k = KnownPools.load()
    assert len(k) >= 5
    assert k.matches("203.0.113.1", 3333, ["pool.supportxmr.com"])


def test_resume_run_and_done_targets(store):
    run = store.start_run("scan", {"ports": "pool"}, seed=7, run_id="scan-test-1")
    assert run == "scan-test-1"
    store.save_result(run, result())
    store.save_result(run, result(ip="198.51.100.8"))
    store.finish_run(run, "interrupted", {"probed": 2})
    assert store.get_run(run)["status"] == "interrupted"
    again = store.start_run("scan", {"ports": "other"}, run_id="scan-test-1")
    assert again == run
    row = store.get_run(run)
    assert row["status"] == "running" and row["args"] == {"ports": "pool"} and row["seed"] == 7
    assert store.done_targets(run) == {("198.51.100.7", 3333), ("198.51.100.8", 3333)}
    assert store.done_targets("other-run") == set()
    store.finish_run(run, "ok", {"probed": 3})
    assert store.last_run("scan")["counts"] == {"probed": 3}
    assert store.last_run("campaign") is None
    assert [r["id"] for r in store.runs()] == [run]


def test_run_argument_errors(store):
    with pytest.raises(UsageError, match="run kind"):
        store.start_run("sweep-all", {})
    run = store.start_run("scan", {})
    with pytest.raises(UsageError, match="run status"):
        store.finish_run(run, "done", {})
    with pytest.raises(UsageError, match="not found"):
        store.finish_run("nope", "ok", {})


def test_pool_filters(store):
    run = store.start_run("scan", {})
    store.save_result(run, result(confidence=0.95))
    store.save_result(run, result(ip="198.51.100.8", confidence=0.5))
    store.save_result(run, result(ip="198.51.100.9", is_pool=None, software=None, coin=None, confidence=0.1))
    store.save_result(run, result(ip="198.51.100.10", is_pool=False, software=None, coin=None, label="electrum"))
    assert {p["ip"] for p in store.pools()} == {"198.51.100.7", "198.51.100.8"}
    assert [p["ip"] for p in store.pools(min_confidence=0.9)] == ["198.51.100.7"]
    other = store.start_run("scan", {})
    store.save_result(other, result(ip="198.51.100.8", at=T0 + DAY))
    assert [p["ip"] for p in store.pools(run_id=other)] == ["198.51.100.8"]


def test_enrichment_columns(store):
    run = store.start_run("scan", {})
    store.save_result(run, result(enrichment={"asn": "AS64500", "as_org": "Example Hosting", "country": "NL",
                                              "cert_names": ["pool.example.org"], "domains": "pool.example.org",
                                              "favicon_mmh3": -123456, "web_info": {"api": "/api/stats"},
                                              "extra": 1}))
    run2 = store.start_run("scan", {})
    store.save_result(run2, result(at=T0 + DAY))  # no enrichment this time: earlier values are kept
    [p] = store.pools()
    assert (p["asn"], p["as_org"], p["country"]) == (64500, "Example Hosting", "NL")
    assert p["cert_names"] == ["pool.example.org"] and p["domains"] == ["pool.example.org"]
    assert p["favicon_mmh3"] == -123456 and p["web_info"] == {"api": "/api/stats"}


def test_enrich_stage_keys_map_to_pool_columns(store):
    # the keys scanner.enrich returns (scanner/enrich/__init__.py): cert_sans, web_title, web_api...
    run = store.start_run("scan", {})
    store.save_result(run, result(enrichment={
        "asn": 64500, "cert_sans": ["pool.example.org", "198.51.100.7"], "cert_sha256": "cd" * 32,
        "domains": ["pool.example.org"], "web_title": "Pool", "web_server": "nginx",
        "web_api": {"pool_name": "P", "coins": ["XMR"]}, "favicon_mmh3": 116323821, "errors": []}))
    [p] = store.pools()
    assert p["cert_names"] == ["pool.example.org", "198.51.100.7"]
    assert p["web_info"] == {"web_title": "Pool", "web_server": "nginx", "web_api": {"pool_name": "P", "coins": ["XMR"]}}
    assert (p["cert_sha256"], p["favicon_mmh3"], p["asn"]) == ("cd" * 32, 116323821, 64500)


def test_hostile_strings_are_stored_without_crash(store):
    run = store.start_run("scan", {})
    nasty = "ck\"pool';\n\x00\x1b[31m\udcff" + "A" * 100_000
    r = result(software=nasty, enrichment={"cert_names": ["\udcfe.example.org"], "as_org": "x\x00y"})
    store.save_result(run, r)
    [p] = store.pools()
    assert p["software"].startswith("ck\"pool';\n\x00\x1b[31m\\udcff")
    assert len(p["software"]) > 100_000
    [back] = list(store.results(run))
    assert back.verdict.software == p["software"]


def test_ipv6_pool_id(store):
    run = store.start_run("scan", {})
    store.save_result(run, result(ip="2001:db8::7", port=3333))
    [p] = store.pools()
    assert p["id"] == "[2001:db8::7]:3333"


def test_stats(store):
    run = store.start_run("scan", {})
    store.save_result(run, result())
    store.finish_run(run, "ok", {"pools": 1})
    s = store.stats()
    assert s["tables"]["pools"] == 1 and s["tables"]["transcripts"] == 3
    assert s["runs_by_status"] == {"ok": 1}
    assert s["pools"] == {"total": 1, "known": 0, "new_in_last_run": 1}
    assert s["pools_by_coin"] == {"BTC": 1}
    assert s["last_run"]["id"] == run


def test_readable_while_open_by_another_connection(store, tmp_path):
    run = store.start_run("scan", {})
    store.save_result(run, result())
    other = sqlite3.connect(store.path)
    assert other.execute("SELECT count(*) FROM pools").fetchone()[0] == 1
    other.close()


def test_known_list_of_the_reader_applies(tmp_path):
    path = tmp_path / "r.db"
    s = Store.open(path, known_pools=KnownPools())
    run = s.start_run("scan", {})
    s.save_result(run, result())
    s.close()
    s = Store.open(path, known_pools=KnownPools.parse(["198.51.100.7"]))
    [p] = s.pools()
    assert p["known"] is True and p["new"] is False
    assert list(s.pools(new_only=True)) == []
    s.close()
