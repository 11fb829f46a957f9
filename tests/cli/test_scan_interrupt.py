"""``poolscan scan`` as a user stops it: Ctrl-C (SIGINT) mid-run exits 130 quickly, keeps what was found and
says how to resume; ``--resume RUN`` alone finishes the run with the run's own targets, no duplicate row;
``--json | head`` ends the run as interrupted, not failed."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlite_utils

ROOT = Path(__file__).resolve().parents[2]
POOLSCAN = [sys.executable, "-m", "scanner"]
SLOW = ["hostile-silent", "hostile-tarpit", "case-C29"]  # each costs seconds of waiting
FAST = ["ckpool", "nomp", "cryptonote-nodejs-pool", "electrum"]


def _ports(lab, names):
    return ",".join(str(lab.port(n)) for n in names)


def test_sigint_then_resume(lab, tmp_path):
    db, out = tmp_path / "p.db", tmp_path / "out"
    ports = _ports(lab, FAST + SLOW)
    p = subprocess.Popen([*POOLSCAN, "scan", "--targets", "127.0.0.1", "--allow-reserved", "--ports", ports,
                          "--concurrency", "1", "--db", str(db), "--out", str(out), "--no-enrich"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until at least one result is stored
        time.sleep(0.3)
        if db.exists():
            try:
                if sqlite_utils.Database(db)["verdicts"].count >= 1:
                    break
            except Exception:
                pass
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    assert time.monotonic() - t0 < 10
    assert p.returncode == 130, err
    m = re.search(r"poolscan scan --resume (\S+) --db", err)
    assert m, err
    run = m.group(1)
    d = sqlite_utils.Database(db)
    assert d["runs"].get(run)["status"] == "interrupted"
    done_before = d["verdicts"].count
    assert 1 <= done_before < len(FAST + SLOW)

    r = subprocess.run([*POOLSCAN, "scan", "--resume", run, "--db", str(db), "--out", str(out), "--no-enrich",
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])["summary"]
    assert summary["status"] == "ok" and summary["probed"] == len(FAST + SLOW)
    d = sqlite_utils.Database(db)
    rows = list(d.query("SELECT ip, port, count(*) AS n FROM verdicts WHERE run_id = ? GROUP BY ip, port", [run]))
    assert len(rows) == len(FAST + SLOW) and all(x["n"] == 1 for x in rows)
    assert d["runs"].count == 1
    assert {x["software"] for x in d.query("SELECT software FROM pools")} >= {"ckpool", "nomp"}


def test_json_into_head_is_an_interrupt(lab, tmp_path):
    db = tmp_path / "p.db"
    cmd = " ".join([*POOLSCAN, "scan", "--targets", "127.0.0.1", "--allow-reserved", "--ports",
                    _ports(lab, FAST + SLOW), "--concurrency", "1", "--json", "--no-enrich", "--db", str(db),
                    "--out", str(tmp_path)])
    r = subprocess.run(f"{cmd} | head -1", shell=True, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert len(r.stdout.strip().splitlines()) == 1
    run = sqlite_utils.Database(db)["runs"].rows.__next__()
    assert run["status"] == "interrupted"
