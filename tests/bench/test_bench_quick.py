"""Smoke test of ``make bench``: ``python -m bench.run --quick`` runs every benchmark on tiny sizes against
real loopback servers and writes a JSON file of the documented shape (bench/run.py docstring).

Speed targets are not asserted here (benchmarks, not timed tests, check them: issue 8); what is asserted is
that each benchmark measured what it says it measured: every handshake completed, every generated masscan
line parsed, every streamed open port stored, RSS recorded at each checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # ~30 s on 2 cores, most of it fingerprint loading in each child process


@pytest.fixture(scope="module")
def quick_doc(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    p = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    files = list(out.glob("bench-*-quick.json"))
    assert len(files) == 1, files
    doc = json.loads(files[0].read_text())
    doc["_stdout"] = p.stdout
    return doc


def test_machine_and_sections(quick_doc: dict) -> None:
    m = quick_doc["machine"]
    assert m["cores"] >= 1 and m["python"].startswith("3.")
    assert quick_doc["quick"] is True
    assert set(quick_doc["benchmarks"]) == {"throughput", "classify", "latency", "sweep", "masscan_lab", "memory"}
    assert "skipped" in quick_doc["benchmarks"]["masscan_lab"]  # namespaces are never built by --quick
    for name, sec in quick_doc["benchmarks"].items():
        assert "error" not in sec, (name, sec.get("error"))
        assert sec["seconds"] >= 0
    # the terminal table names the machine and every benchmark
    assert "machine: " in quick_doc["_stdout"] and "written: " in quick_doc["_stdout"]


def test_throughput_rows(quick_doc: dict) -> None:
    t = quick_doc["benchmarks"]["throughput"]
    kinds = {(r["kind"], r["loop"]) for r in t["rows"]}
    assert kinds == {(k, lp) for k in ("floor", "floor_protocol", "dialogue", "probe_port")
                     for lp in ("asyncio", "uvloop")}
    for r in t["rows"]:
        assert r["failed"] == 0 and r["errors"] == {}, r  # every cycle was a complete handshake / echo
        assert r["per_s"] > 0
        if not r["kind"].startswith("floor"):
            assert 0 < r["ratio_to_floor"] < 10
        if r["kind"] == "dialogue":  # the ratio's floor is the faster of the two floors of its setting
            floors = [f for f in t["rows"] if f["kind"].startswith("floor") and f["loop"] == r["loop"]
                      and f["concurrency"] == r["concurrency"]]
            assert r["floor_kind"] == max(floors, key=lambda f: f["per_s"])["kind"]
    assert set(t["meets_targets"]) == {"per_s", "ratio_to_floor"}


def test_classify_latency_sweep(quick_doc: dict) -> None:
    b = quick_doc["benchmarks"]
    c = b["classify"]
    assert c["in_memory"]["results"] == 200 and c["in_memory"]["transcripts_per_s"] > 0
    assert c["from_store"]["results"] == 200  # every saved result read back from SQLite
    la = b["latency"]
    assert la["pool"]["median_s"] > la["baseline_python"]["median_s"] > 0
    assert "warning" not in la["pool"]  # the CLI named ckpool
    assert la["closed30"]["names"]["no open port"] and not la["closed30"]["names"]["ckpool"]
    for name, f in b["sweep"]["formats"].items():
        assert f["parsed"] == b["sweep"]["lines"], name
    assert b["sweep"]["stream_oL"]["parsed"] == b["sweep"]["lines"]


def test_memory_checkpoints(quick_doc: dict) -> None:
    mem = quick_doc["benchmarks"]["memory"]
    assert [r["n"] for r in mem["runs"]] == [400]
    for r in mem["runs"]:
        assert r["done"] == r["n"]
        assert set(r["rss_mb"]) == {"start", "10%", "50%", "100%"}
        assert 10 < r["peak_rss_mb"] < 1000
        assert r["verdicts"].get("True:ckpool", 0) > 0  # the emulators answered and classify recognised them
    sd = mem["sweep_dedup"]  # the sweep's de-dup of open ports (scanner.sweep.seen): a few bytes a key
    assert [d["n"] for d in sd] == [20000] and sd[0]["found"] == 20000 and sd[0]["duplicates"] == 200
    assert 0 < sd[0]["seen_bytes_per_key"] < 40 and sd[0]["peak_rss_mb"] < 300


def test_summary_rows(quick_doc: dict) -> None:
    rows = quick_doc["summary"]
    assert {r["benchmark"] for r in rows} == {"throughput", "classify", "latency", "sweep", "memory"}
    for r in rows:
        assert set(r) == {"benchmark", "metric", "value", "unit", "target", "ok"}
