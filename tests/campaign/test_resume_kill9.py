"""Resume after ``kill -9``: a real ``poolscan campaign run`` subprocess is killed with SIGKILL mid-way;
a second run of the same file finishes the same run with no lost result and no duplicate row. While the
first run is alive, a third invocation is refused by the campaign lock (exit 1, names the pid)."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from campaign_helpers import poolscan, query, run_inproc, spawn_poolscan, stored_verdicts, wait_for, write_campaign

N_POOLS = 40
DELAY_S = 0.4  # each listener waits this long before answering: the run takes several seconds


@pytest.mark.slow
def test_kill9_mid_run_then_resume_loses_nothing_and_duplicates_nothing(farm, tmp_path):
    ports = [farm.add("ckpool", delay_s=DELAY_S) for _ in range(N_POOLS)]
    expected = {("127.0.0.1", p) for p in ports}
    cfg = write_campaign(tmp_path, "killme", ports, probe="concurrency = 4\nfast = false")
    db = tmp_path / "db" / "poolscan.db"

    first = spawn_poolscan("campaign", "run", str(cfg), "--progress", "log", "--progress-interval", "0.5")
    try:
        # Mid-way: some results stored, most not yet.
        wait_for(lambda: stored_verdicts(db) >= 6, 90,
                 what="the first results of the run")
        run_id, status, seed = query(db, "SELECT id, status, seed FROM runs")[0]
        assert status == "running" and seed is not None

        # A second run of the campaign while the first is alive: refused by the lock, exit 1 (not 2).
        second = poolscan("campaign", "run", str(cfg), "--progress", "none")
        assert second.returncode == 1, second.stderr
        assert re.search(rf"campaign killme is already running \(pid {first.pid}, since \d{{4}}-\d\d-\d\dT", second.stderr), \
            second.stderr
        assert query(db, "SELECT count(*) FROM runs")[0][0] == 1  # the refused run created nothing
        assert first.poll() is None, "the run ended before the kill: make the lab slower"

        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert first.returncode == -signal.SIGKILL

    before = dict(query(db, "SELECT id, saved_at FROM verdicts WHERE run_id = ?", (run_id,)))
    assert 6 <= len(before) < N_POOLS, f"kill came too late or too early: {len(before)} stored"
    assert query(db, "SELECT status FROM runs WHERE id = ?", (run_id,)) == [("running",)]

    # Run the same file again: it must finish the killed run (same id, same seed), not start a new one.
    done = poolscan("campaign", "run", str(cfg), "--json", "--progress", "none")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["run_id"] == run_id and summary["resumed"] is True and summary["seed"] == seed
    assert summary["status"] == "ok" and summary["exit_code"] == 0
    assert summary["stale_lock"]["pid"] == first.pid  # the dead holder's lock file was taken over
    assert summary["counts"]["session"]["skipped"] == len(before)  # stored results were not probed again
    assert f"resuming run {run_id}" in done.stderr

    # Exactly one run, finished.
    assert query(db, "SELECT id, status, seed FROM runs") == [(run_id, "ok", seed)]
    # Every expected endpoint has exactly one verdict, and it is a pool.
    rows = query(db, "SELECT ip, port, is_pool, software FROM verdicts WHERE run_id = ?", (run_id,))
    assert len(rows) == N_POOLS
    assert {(ip, port) for ip, port, _, _ in rows} == expected
    assert query(db, "SELECT count(*) FROM (SELECT DISTINCT run_id, ip, port FROM verdicts)")[0][0] == N_POOLS
    assert all(is_pool == 1 and software == "ckpool" for _, _, is_pool, software in rows), rows
    # open_ports: one row per endpoint (the resumed sweep found the same ports again without adding rows).
    assert query(db, "SELECT count(*), count(DISTINCT ip || ':' || port) FROM open_ports WHERE run_id = ?",
                 (run_id,)) == [(N_POOLS, N_POOLS)]
    # transcripts: no duplicates, every verdict has its transcripts.
    assert query(db, "SELECT count(*) FROM (SELECT result_id, seq, count(*) AS n FROM transcripts "
                     "GROUP BY result_id, seq HAVING n > 1)")[0][0] == 0
    assert query(db, "SELECT count(*) FROM verdicts v WHERE NOT EXISTS "
                     "(SELECT 1 FROM transcripts t WHERE t.result_id = v.id)")[0][0] == 0
    # pools aggregate: one row per endpoint, seen once.
    assert query(db, "SELECT count(*), min(seen_count), max(seen_count) FROM pools") == [(N_POOLS, 1, 1)]
    # The results stored before the kill were kept as they were (not re-probed, not rewritten).
    after = dict(query(db, "SELECT id, saved_at FROM verdicts WHERE run_id = ?", (run_id,)))
    assert all(after[k] == v for k, v in before.items())

    # Exports and report of the finished run list every pool.
    out = tmp_path / "out" / run_id
    lines = (out / "pools.jsonl").read_text().splitlines()
    assert {(json.loads(x)["ip"], json.loads(x)["port"]) for x in lines} == expected
    assert (out / "report.html").is_file()
    assert (tmp_path / "out" / "latest").resolve() == out.resolve()
    # The lock was released: the lock file is empty again.
    assert (tmp_path / "db" / "poolscan.db.killme.lock").read_text() == ""


def _run_rows(db):
    try:
        return query(db, "SELECT id, status, seed FROM runs")
    except Exception:
        return []


@pytest.mark.slow
def test_kill9_right_after_the_run_starts(farm, tmp_path):
    """Killed before any result was stored (during the sweep / first probes): the rerun finishes it."""
    ports = [farm.add("ckpool", delay_s=0.3) for _ in range(6)]
    cfg = write_campaign(tmp_path, "early", ports, probe="concurrency = 2\nfast = true")
    db = tmp_path / "db" / "poolscan.db"
    p = spawn_poolscan("campaign", "run", str(cfg), "--progress", "none")
    try:
        (run_id, status, seed), = wait_for(lambda: _run_rows(db), 60, step=0.01, what="the run row")
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert stored_verdicts(db) < 6
    out, _ = run_inproc(cfg)
    assert (out.run_id, out.resumed, out.seed, out.counts["pools"], out.exit_code) == (run_id, True, seed, 6, 0)
    assert query(db, "SELECT count(*), count(DISTINCT ip || ':' || port) FROM verdicts") == [(6, 6)]
    assert query(db, "SELECT status FROM runs") == [("ok",)]


@pytest.mark.slow
def test_killed_after_the_last_result_but_before_finishing(farm, tmp_path):
    """The state a kill -9 during the exports/report leaves (every result stored, status still running,
    no report): the rerun resumes the run, probes nothing again, and writes the exports and the report."""
    ports = [farm.add("ckpool") for _ in range(3)]
    cfg = write_campaign(tmp_path, "late", ports)
    db = tmp_path / "db" / "poolscan.db"
    first, _ = run_inproc(cfg)
    assert first.exit_code == 0
    run_id = first.run_id
    import shutil
    import sqlite3

    shutil.rmtree(tmp_path / "out")
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ?", (run_id,))
    con.close()
    saved = query(db, "SELECT id, saved_at FROM verdicts ORDER BY id")
    again, log = run_inproc(cfg)
    assert again.exit_code == 0 and again.run_id == run_id and again.resumed is True
    assert again.counts["session"]["skipped"] == 3 and again.counts["session"]["probed"] == 0
    assert any(line.startswith(f"poolscan: resuming run {run_id} of campaign late") for line in log)
    assert query(db, "SELECT id, saved_at FROM verdicts ORDER BY id") == saved
    assert (tmp_path / "out" / run_id / "report.html").is_file()
    assert len((tmp_path / "out" / run_id / "pools.jsonl").read_text().splitlines()) == 3
