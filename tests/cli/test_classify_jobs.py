"""``poolscan classify --db --jobs N``: worker processes read and classify pages of the store; the output and the
rows written are those of one process. A real SQLite store of 1,300 recorded results (three pages of 500), the
real CLI in a subprocess."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from scanner.model import ProbeResult, Verdict
from scanner.store import Store

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "transcripts" / "real"
N = 1300


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """Recorded results copied to N endpoints (127.90.x.y); every 7th saved with a blanked verdict, every 11th
    with a wrong software, so that classification changes 300 of them."""
    recs: list[ProbeResult] = []
    for path in sorted(REAL.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            if line.strip():
                recs.append(ProbeResult.from_dict(json.loads(line)))
    path = tmp_path_factory.mktemp("jobs") / "p.db"
    store = Store.open(path)
    run = store.start_run("scan", {"test": "jobs"})
    rows = []
    for i in range(N):
        r = replace(recs[i % len(recs)], ip=f"127.90.{i // 250}.{i % 250 + 1}")
        if i % 7 == 0:
            r = replace(r, verdict=Verdict(evidence=("blanked by the test",)))
        elif i % 11 == 0 and r.verdict.is_pool:
            r = replace(r, verdict=replace(r.verdict, software="not-this-one"))
        rows.append(r)
    store.save_results(run, rows)
    store.finish_run(run, "ok", {})
    store.close()
    return path


def _verdicts(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT ip, port, is_pool, protocol, software, coin, algo, label, confidence, evidence "
                           "FROM verdicts ORDER BY ip, port").fetchall()
    finally:
        con.close()


def test_jobs_print_and_write_what_one_process_does(db: Path, tmp_path: Path) -> None:
    one = cli("classify", "--db", str(db), "--dry-run", "--json")
    two = cli("classify", "--db", str(db), "--dry-run", "--json", "--jobs", "2")
    assert one.returncode == two.returncode == 0, (one.stderr, two.stderr)
    lines = one.stdout.splitlines()
    assert len(lines) >= 186  # every 7th blanked at least (1300 / 7)
    assert two.stdout == one.stdout  # same records, same order
    text_one = cli("classify", "--db", str(db), "--dry-run").stdout
    assert text_one.splitlines()[-1].startswith(f"{N} stored results, {len(lines)} would change")
    assert cli("classify", "--db", str(db), "--dry-run", "-j", "0").stdout == text_one  # 0: one per CPU
    # the writes: one copy re-labelled by one process, another by three, the same rows (the fixture stays as is)
    copy, copy3 = tmp_path / "copy.db", tmp_path / "copy3.db"
    shutil.copy(db, copy)
    shutil.copy(db, copy3)
    assert cli("classify", "--db", str(copy)).returncode == 0
    p = cli("classify", "--db", str(copy3), "--jobs", "3")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1].startswith(f"{N} stored results, {len(lines)} changed")
    assert _verdicts(copy3) == _verdicts(copy) != _verdicts(db)
    assert f"{N} stored results, 0 changed" in cli("classify", "--db", str(copy3), "-j", "2").stdout


def test_jobs_needs_db_and_a_sane_count(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_text("")
    p = cli("classify", str(f), "--jobs", "2")
    assert p.returncode == 2 and "--jobs: only with --db" in p.stderr and "Traceback" not in p.stderr
    p = cli("classify", "--db", str(tmp_path / "none.db"), "--jobs", "2")
    assert p.returncode == 2 and "no such database" in p.stderr and "Traceback" not in p.stderr
    p = cli("classify", "--db", str(tmp_path / "none.db"), "--jobs", "-1")
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_interrupt_writes_the_verdicts_already_computed(db: Path, tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C after two pages: the changes of those pages are in the store (one transaction), nothing else."""
    from scanner.cli import classify as cmd
    from scanner.fingerprint import load_fingerprints

    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)
    real = cmd._db_records

    def two_pages_then_ctrl_c(*a, **kw):
        for k, page in enumerate(real(*a, **kw)):
            if k == 2 * 500:  # jobs=1 yields one record at a time
                raise KeyboardInterrupt
            yield page

    monkeypatch.setattr(cmd, "_db_records", two_pages_then_ctrl_c)
    store = Store.open(copy, create=False)
    before = _verdicts(copy)
    with pytest.raises(KeyboardInterrupt):
        cmd._classify_store(store, None, load_fingerprints(), True, False, None)
    store.close()
    after = _verdicts(copy)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert changed and max(changed) < 1000  # written: changes among the first 1,000 results, none later
    assert len(changed) >= 1000 // 7


def test_progress_on_a_terminal_leaves_the_output_alone(db: Path) -> None:
    """stderr a terminal: the progress line is drawn there (transient); stdout is the same as without it."""
    import os
    import pty

    master, slave = pty.openpty()
    try:
        p = subprocess.run([sys.executable, "-m", "scanner", "classify", "--db", str(db), "--dry-run", "-j", "2"],
                           stdout=subprocess.PIPE, stderr=slave, text=True, timeout=300, cwd=ROOT,
                           env={**os.environ, "COLUMNS": "100"})
        os.set_blocking(master, False)
        try:
            drawn = os.read(master, 65536).decode("utf-8", "replace")
        except BlockingIOError:
            drawn = ""
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode == 0
    assert p.stdout == cli("classify", "--db", str(db), "--dry-run").stdout
    assert "classify" in drawn and "changed" in drawn and "Traceback" not in drawn
