"""Diff of two campaign runs: new, gone, changed (software, coin, certificate names, certificate sha256,
TLS), default pair = the last two finished runs; the CLI prints the same as JSON."""

from __future__ import annotations

import json

import pytest
from campaign_helpers import poolscan
from store_fixtures import add_run, pool

from scanner.campaign import default_diff_pair, diff_runs, finished_runs, previous_finished, unfinished_run
from scanner.errors import UsageError
from scanner.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "p.db")
    yield s
    s.close()


def two_nights(store):
    a = add_run(store, "night", [
        pool("127.0.0.1", 3333),
        pool("127.0.0.1", 3032, software="nomp"),
        pool("127.0.0.1", 14433, tls_sha="aa" * 32, cert_names=["pool.a.test"]),
        pool("127.0.0.1", 4444, software="cryptonote-nodejs-pool", coin="XMR", protocol="cryptonote", algo="randomx"),
        pool("127.0.0.1", 8080, is_pool=False),
    ])
    b = add_run(store, "night", [
        pool("127.0.0.1", 3333),  # unchanged
        pool("127.0.0.1", 14433, tls_sha="bb" * 32, cert_names=["pool.b.test"]),  # certificate rotated
        pool("127.0.0.1", 4444, software="nodejs-pool", coin="XMR", protocol="cryptonote", algo="randomx"),
        pool("127.0.0.1", 5555, software="xmrig-proxy", coin="XMR", protocol="cryptonote", algo="randomx"),  # new
        pool("127.0.0.1", 8080, is_pool=False),
    ])
    return a, b


def test_diff_new_gone_changed(store):
    a, b = two_nights(store)
    d = diff_runs(store, a, b)
    assert [x["id"] for x in d["new"]] == ["127.0.0.1:5555"]
    assert d["new"][0]["software"] == "xmrig-proxy" and d["new"][0]["coin"] == "XMR"
    assert [x["id"] for x in d["gone"]] == ["127.0.0.1:3032"]
    assert d["gone"][0]["software"] == "nomp"
    changed = {c["id"]: c["changes"] for c in d["changed"]}
    assert changed == {
        "127.0.0.1:4444": {"software": ["cryptonote-nodejs-pool", "nodejs-pool"]},
        "127.0.0.1:14433": {"cert_names": [["pool.a.test"], ["pool.b.test"]], "cert_sha256": [["aa" * 32], ["bb" * 32]]},
    }
    # the reverse diff swaps new and gone
    r = diff_runs(store, b, a)
    assert [x["id"] for x in r["new"]] == ["127.0.0.1:3032"] and [x["id"] for x in r["gone"]] == ["127.0.0.1:5555"]


def test_coin_and_tls_changes(store):
    a = add_run(store, "n", [pool("127.0.0.1", 3333, coin="BTC")])
    b = add_run(store, "n", [pool("127.0.0.1", 3333, coin="BCH", tls_sha="cc" * 32, cert_names=[])])
    d = diff_runs(store, a, b)
    assert d["changed"] == [{"id": "127.0.0.1:3333", "ip": "127.0.0.1", "port": 3333,
                             "changes": {"coin": ["BTC", "BCH"], "tls": [False, True]}}]


def test_run_selection_helpers(store):
    a, b = two_nights(store)
    assert default_diff_pair(store, "night") == (a, b)
    assert default_diff_pair(store, None) == (a, b)
    c = add_run(store, "night", [pool("127.0.0.1", 3333)], status="running")
    assert unfinished_run(store, "night")["id"] == c
    assert default_diff_pair(store, "night") == (a, b)  # unfinished runs are not diffed by default
    assert previous_finished(store, store.get_run(c))["id"] == b
    assert previous_finished(store, store.get_run(a)) is None
    assert [r["id"] for r in finished_runs(store, "night")] == [a, b]
    store.finish_run(c, status="failed", counts={})
    assert unfinished_run(store, "night") is None  # a failed run is final
    with pytest.raises(UsageError, match="campaign other has 0 finished run"):
        default_diff_pair(store, "other")
    with pytest.raises(UsageError, match="run 'nope' not found"):
        diff_runs(store, "nope", a)


def test_cli_diff_json_and_text(store, tmp_path):
    a, b = two_nights(store)
    db = str(tmp_path / "p.db")
    r = poolscan("campaign", "diff", "--db", db, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d == json.loads(json.dumps(diff_runs(store, a, b)))
    r2 = poolscan("campaign", "diff", b, a, "--db", db, "--json")
    assert [x["id"] for x in json.loads(r2.stdout)["new"]] == ["127.0.0.1:3032"]
    t = poolscan("campaign", "diff", "--db", db)
    assert t.returncode == 0
    assert f"diff {a} -> {b}: 1 new, 1 gone, 2 changed" in t.stdout
    assert "xmrig-proxy" in t.stdout and "cert_sha256" in t.stdout
    bad = poolscan("campaign", "diff", a, "--db", db)
    assert bad.returncode == 2 and bad.stderr.startswith("poolscan: error: give two runs")
    missing = poolscan("campaign", "diff", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "database not found" in missing.stderr


def test_cli_list(store, tmp_path):
    a, b = two_nights(store)
    r = poolscan("campaign", "list", "--db", str(tmp_path / "p.db"), "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["id"], x["status"], x["pools"], x["probed"]) for x in rows] == [(a, "ok", 4, 5), (b, "ok", 4, 5)]
