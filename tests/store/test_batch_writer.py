"""Batched store writes (issue 8): ``Store.save_batch``/``save_results`` give exactly the rows of saving one by
one; ``BatchWriter`` commits per size or age; a kill -9 loses at most the uncommitted batch and a resume saves
exactly those; ``Store.results`` pages without an open cursor and keeps old rows readable."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from scanner.model import OpenPort, ProbeResult
from scanner.store import BatchWriter, Store
from scanner.store.known import KnownPools

from test_store import result

TABLES = ("open_ports", "verdicts", "transcripts", "pools")


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every row of the data tables, without the time a row was written (saved_at)."""
    out = {}
    for t in TABLES:
        cols = [c.name for c in store.db.table(t).columns if c.name != "saved_at"]
        out[t] = sorted(store.db.execute(f"SELECT {', '.join(cols)} FROM {t}").fetchall(), key=repr)
    return out


def sample() -> list[ProbeResult]:
    rs = [result(ip=f"198.51.100.{i}", port=3333, is_pool=(i % 3 != 0), software="ckpool" if i % 3 else None,
                 coin="BTC" if i % 3 else None, label=None if i % 3 else "http") for i in range(1, 13)]
    # the same endpoint twice in one batch: the later save wins, as with two save_result calls
    rs.append(result(ip="198.51.100.1", port=3333, is_pool=False, software=None, coin=None, label="ssh"))
    return rs


def test_save_batch_equals_one_by_one(tmp_path):
    one = Store.open(tmp_path / "one.db", known_pools=KnownPools())
    many = Store.open(tmp_path / "many.db", known_pools=KnownPools())
    ops = [OpenPort(ip=f"198.51.100.{i}", port=3333, seen_at=1767225600.0 + i, source="connect") for i in range(1, 13)]
    for s in (one, many):
        s.start_run("scan", {}, run_id="r1")
        s.start_run("scan", {}, run_id="r0")
    # an earlier run saw 198.51.100.1 as a pool: the later non-pool verdict must refresh (not drop) its row
    for s in (one, many):
        s.save_result("r0", result(ip="198.51.100.1", port=3333, at=1767225600.0 - 86400))
    for op in ops:
        one.save_open_port("r1", op)
    for r in sample():
        one.save_result("r1", r)
    many.save_batch("r1", sample(), ops)
    assert dump(one) == dump(many)
    d = dump(many)
    assert len(d["verdicts"]) == 13 and len(d["transcripts"]) == 3 * 13 and len(d["open_ports"]) == 12
    pools = {p["ip"]: p for p in many.pools()}
    assert pools["198.51.100.1"]["seen_count"] == 1 and pools["198.51.100.1"]["first_run"] == "r0"
    # r1: 8 pools, one of which (.1) is saved again as ssh: 7; plus .1 kept by r0's pool verdict
    assert len(pools) == 8
    # re-saving the batch changes nothing (idempotent)
    many.save_results("r1", sample())
    assert dump(many) == d
    one.close()
    many.close()


def test_batch_writer_flushes_on_size_and_age(tmp_path):
    s = Store.open(tmp_path / "w.db", known_pools=KnownPools())
    s.start_run("scan", {}, run_id="r1")
    w = BatchWriter(s, "r1", max_results=5, max_delay_s=0.2)
    rs = sample()
    for r in rs[:4]:
        w.add_result(r)
    assert w.pending == 4 and s.db.table("verdicts").count == 0 and not w.due()
    w.add_result(rs[4])  # the 5th: a full batch is committed
    assert w.pending == 0 and s.db.table("verdicts").count == 5 and w.batches == 1
    w.add_result(rs[5])
    assert not w.due()
    time.sleep(0.25)
    assert w.due()
    w.add_open_port(OpenPort(ip="203.0.113.9", port=80))  # any add past the delay commits
    assert w.pending == 0 and s.db.table("verdicts").count == 6 and s.db.table("open_ports").count == 1
    w.flush()  # nothing waiting: no empty transaction
    assert w.batches == 2 and w.written == 6
    s.close()


def test_results_pages_and_allows_writes_between(tmp_path):
    s = Store.open(tmp_path / "p.db", known_pools=KnownPools())
    s.start_run("scan", {}, run_id="r1")
    rs = [result(ip=f"198.51.{100 + i // 200}.{i % 200 + 1}", port=3333 + i % 2) for i in range(257)]
    s.save_results("r1", rs)
    seen = []
    for r in s.results("r1", page=50):
        seen.append((r.ip, r.port))
        # a write while iterating (poolscan classify --db): no open cursor, no effect on the order
        s.save_result("r1", r)
        assert r.transcripts[2].received == b"\xff\xfe\x00garbage"
    assert seen == sorted((r.ip, r.port) for r in rs)
    assert [r.ip for r in s.results("r1", page=1000)] == [ip for ip, _ in seen]
    s.close()


WRITER = textwrap.dedent("""
    import sys
    from scanner.model import Exchange, OpenPort, ProbeResult, Status, Transcript, Verdict
    from scanner.store import BatchWriter, Store
    from scanner.store.known import KnownPools

    N = int(sys.argv[2])
    store = Store.open(sys.argv[1], known_pools=KnownPools())
    run = store.start_run("scan", {}, run_id="scan-batch-kill")
    done = store.done_targets(run)
    w = BatchWriter(store, run, max_results=7, max_delay_s=3600)
    for i in range(N):
        ip, port = f"198.51.{100 + i // 200}.{i % 200 + 1}", 3333
        if (ip, port) in done:
            continue
        w.add_open_port(OpenPort(ip=ip, port=port))
        t = Transcript(ip=ip, port=port, probe="stratum1", status=Status.SUCCESS, started_at=1767225600.0 + i,
                       exchanges=(Exchange(0.0, "send", b"x"), Exchange(0.01, "recv", b"y" * 100)))
        w.add_result(ProbeResult(ip=ip, port=port, status=Status.SUCCESS, transcripts=(t,),
                                 verdict=Verdict(is_pool=True, software="ckpool", confidence=0.9)))
        print(i, w.batches, flush=True)
        if w.batches == 3 and len(sys.argv) > 3:
            print("waiting", flush=True)
            sys.stdin.read()  # parent kills us here: 3 batches committed, some results waiting
    w.flush()
    store.finish_run(run, "ok", {})
    print("done", flush=True)
""")


def test_kill_9_loses_only_the_uncommitted_batch(tmp_path):
    db, n = tmp_path / "k.db", 40
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(n), "stop"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        for line in p.stdout:
            lines.append(line.strip())
            if line.strip() == "waiting":
                break
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.wait(timeout=30)
        p.stdout.close()
        p.stdin.close()
    assert p.returncode == -signal.SIGKILL
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 21  # 3 batches of 7, nothing more
    assert con.execute("SELECT count(*) FROM open_ports").fetchone()[0] == 21
    con.close()
    out = subprocess.run([sys.executable, "-c", WRITER, str(db), str(n)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == n - 21 + 1  # exactly the lost ones were saved again
    con = sqlite3.connect(db)
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    assert q("PRAGMA integrity_check") == "ok"
    assert q("SELECT count(*) FROM verdicts") == n == q("SELECT count(DISTINCT ip || ':' || port) FROM verdicts")
    assert q("SELECT count(*) FROM transcripts") == n and q("SELECT count(*) FROM open_ports") == n
    assert q("SELECT count(*) FROM pools") == n
    con.close()
