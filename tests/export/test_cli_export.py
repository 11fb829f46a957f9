"""``poolscan export`` and ``poolscan db`` as a user runs them (a real process on a real store file)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest


def poolscan(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def test_export_csv_to_stdout_with_filters(pool_db):
    out = poolscan("export", "--format", "csv", "--db", str(pool_db), "--min-confidence", "0.7")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {r["id"] for r in rows} == {"198.51.100.7:3333", "198.51.100.20:443"}


def test_export_new_only_and_since(pool_db, tmp_path):
    target = tmp_path / "x" / "new.txt"
    out = poolscan("export", "--format", "ip-port", "--db", str(pool_db), "--new-only", "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert target.read_text() == "198.51.100.20:443\n[2001:db8::7]:4444\n"
    out = poolscan("export", "--format", "ips", "--db", str(pool_db), "--since", "2026-01-02T00:00:00Z")
    assert out.stdout == "198.51.100.7\n198.51.100.20\n2001:db8::7\n"
    out = poolscan("export", "--format", "ips", "--db", str(pool_db), "--since", "2026-01-03")
    assert out.returncode == 0 and out.stdout == ""


def test_export_every_format_runs(pool_db, tmp_path):
    for fmt in ("stix", "misp", "jsonl", "suricata"):
        out = poolscan("export", "--format", fmt, "--db", str(pool_db))
        assert out.returncode == 0, (fmt, out.stderr)
        assert "198.51.100.20" in out.stdout
    json.loads(poolscan("export", "--format", "stix", "--db", str(pool_db)).stdout)
    feed = tmp_path / "feed"
    out = poolscan("export", "--format", "misp-feed", "--db", str(pool_db), "-o", str(feed))
    assert out.returncode == 0, out.stderr
    assert (feed / "manifest.json").exists() and (feed / "hashes.csv").exists()


@pytest.mark.parametrize("args, message", [
    (["--format", "csv", "--db", "/nonexistent/poolscan.db"], "database not found"),
    (["--format", "csv", "--since", "yesterday"], "is not a date"),
    (["--format", "misp-feed"], "give -o DIR"),
    ([], "give --format"),
    (["--taxii", "http://127.0.0.1:9/taxii2/"], "--taxii needs --collection"),
    (["--format", "csv", "--taxii", "http://127.0.0.1:9/", "--collection", "x"], "cannot be pushed"),
    (["--format", "csv", "--run", "no-such-run"], "not found"),
    (["--format", "xml"], "Invalid value"),
])
def test_export_usage_errors_exit_2(pool_db, args, message, capsys):
    from scanner.cli import main

    if "--db" not in args:
        args = args + ["--db", str(pool_db)]
    with pytest.raises(SystemExit) as exc:
        main(["export", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert message in err
    assert err.count("\n") == 1 and err.startswith("poolscan: error: ")


def test_db_stats(pool_db):
    out = poolscan("db", "stats", "--db", str(pool_db), "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["tables"]["pools"] == 3 and s["tables"]["verdicts"] == 6 and s["tables"]["runs"] == 2
    assert s["pools"] == {"total": 3, "known": 0, "new_in_last_run": 2}
    assert s["runs_by_status"] == {"ok": 2}
    text = poolscan("db", "stats", "--db", str(pool_db)).stdout
    assert "pools      3 (known 0, new in last run 2)" in text
    runs = poolscan("db", "runs", "--db", str(pool_db)).stdout.splitlines()
    assert len(runs) == 2 and "campaign" in runs[0]
    missing = poolscan("db", "stats", "--db", "/nonexistent/x.db")
    assert missing.returncode == 2 and "database not found" in missing.stderr
