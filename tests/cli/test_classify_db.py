"""``poolscan classify --db`` re-labels stored transcripts without a packet; ``poolscan unknowns`` groups the
services no rule names. Real probes against the lab, a real SQLite store, the real CLI in a subprocess."""

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from scanner.model import Verdict
from scanner.probes.engine import ProbeOptions, probe_port
from scanner.store import Store

ROOT = Path(__file__).resolve().parents[2]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


@pytest.fixture(scope="module")
def stored(lab, tmp_path_factory):
    """A store with one run: ckpool and nomp saved with a blanked (wrong) verdict, the SV2 responder and the
    TLS-only case as probed."""
    db = tmp_path_factory.mktemp("db") / "p.db"
    store = Store.open(db)
    run = store.start_run(kind="scan", args={"test": True})

    async def go():
        out = {}
        for name in ("ckpool", "nomp", "case-C29", "case-C25"):
            ep = lab.endpoint(name)
            out[name] = await probe_port(ep.host, ep.port, ProbeOptions())
        return out

    results = asyncio.run(go())
    for name, r in results.items():
        if name in ("ckpool", "nomp"):
            r = replace(r, verdict=Verdict(evidence=("blanked by the test",)))
        store.save_result(run, r)
    store.finish_run(run, status="ok", counts={})
    store.close()
    return db, run, results


def verdict_rows(db):
    import sqlite_utils

    return {(r["ip"], r["port"]): r for r in sqlite_utils.Database(db)["verdicts"].rows}


def test_dry_run_reports_and_writes_nothing(stored):
    db, run, results = stored
    before = verdict_rows(db)
    p = cli("classify", "--db", str(db), "--dry-run")
    assert p.returncode == 0, p.stderr
    assert "4 stored results, 2 would change" in p.stdout
    assert verdict_rows(db) == before


def test_relabel_updates_verdicts_and_pools(stored):
    db, run, results = stored
    p = cli("classify", "--db", str(db), "--json")
    assert p.returncode == 0, p.stderr
    changed = [json.loads(x) for x in p.stdout.splitlines()]
    ports = {c["port"] for c in changed}
    assert ports == {results["ckpool"].port, results["nomp"].port}
    for c in changed:
        assert c["changed"]["is_pool"] == [None, True]
    rows = verdict_rows(db)
    ck = rows[("127.0.0.1", results["ckpool"].port)]
    assert (ck["is_pool"], ck["software"], ck["coin"]) == (1, "ckpool", "BTC")
    pools = {(r["port"], r["software"]) for r in Store.open(db, create=False).pools()}
    assert (results["nomp"].port, "nomp") in pools
    again = cli("classify", "--db", str(db))
    assert "4 stored results, 0 changed" in again.stdout


def test_unknowns_groups_by_shape(stored):
    db, run, results = stored
    p = cli("unknowns", "--db", str(db), "--json")
    assert p.returncode == 0, p.stderr
    groups = [json.loads(x) for x in p.stdout.splitlines()]
    shapes = {s for g in groups for s in g["shape"]}
    assert "stratum2: binary 234 bytes" in shapes          # the SV2 responder: a pool of unnamed software
    assert any(s.startswith("http+tls: raw:Mining Server Online") for s in shapes)  # TLS-only case C25
    assert all(g["count"] >= 1 and g["examples"] for g in groups)
    assert not any("ckpool" in json.dumps(g) for g in groups)  # named software is not an unknown


def test_classify_needs_a_source():
    p = cli("classify")
    assert p.returncode == 2 and p.stderr.strip().startswith("poolscan: error: give either FILE.jsonl")


def test_classify_missing_db(tmp_path):
    p = cli("classify", "--db", str(tmp_path / "none.db"))
    assert p.returncode == 2 and "no such database" in p.stderr
