"""kill -9 a process that is writing results, resume the run, and find exactly one row per result."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

N = 400

WRITER = textwrap.dedent(f"""
    import sys
    import time
    from scanner.model import Exchange, ProbeResult, Status, Transcript, Verdict
    from scanner.store import Store
    from scanner.store.known import KnownPools

    store = Store.open(sys.argv[1], known_pools=KnownPools())
    run = store.start_run("scan", {{"n": {N}}}, seed=5, run_id="scan-kill-test")
    done = store.done_targets(run)
    for i in range({N}):
        ip, port = f"198.51.{{100 + i // 200}}.{{i % 200 + 1}}", 3333
        if (ip, port) in done:
            continue
        ts = tuple(Transcript(ip=ip, port=port, probe=p, status=Status.SUCCESS, started_at=1767225600.0 + i,
                              exchanges=(Exchange(0.0, "send", b"x" * 200), Exchange(0.01, "recv", b"y" * 2000)))
                   for p in ("stratum1", "cryptonote", "http"))
        v = Verdict(is_pool=(i % 2 == 0), software="ckpool", coin="BTC", confidence=0.9, evidence=("e",))
        store.save_result(run, ProbeResult(ip=ip, port=port, status=Status.SUCCESS, verdict=v, transcripts=ts))
        print(i, flush=True)
        time.sleep(0.003)  # keep the run long enough that the kill lands mid-way on a loaded machine
    store.finish_run(run, "ok", {{"n": {N}}})
    print("done", flush=True)
""")


def test_kill_9_mid_run_then_resume(tmp_path):
    db = tmp_path / "kill.db"
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        seen = 0
        for line in proc.stdout:
            seen += 1
            if seen >= 60:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    con = sqlite3.connect(db)
    partial = con.execute("SELECT count(*) FROM verdicts").fetchone()[0]
    con.close()
    assert 60 <= partial < N  # it really died mid-way

    out = subprocess.run([sys.executable, "-c", WRITER, str(db)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "done"
    assert len(out.stdout.splitlines()) == N - partial + 1  # only the missing ones were saved again

    con = sqlite3.connect(db)
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    assert q("PRAGMA integrity_check") == "ok"
    assert q("SELECT count(*) FROM verdicts") == N
    assert q("SELECT count(DISTINCT ip || ':' || port) FROM verdicts") == N
    assert q("SELECT count(*) FROM transcripts") == 3 * N
    assert q("SELECT count(*) FROM pools") == N // 2
    assert q("SELECT max(seen_count) FROM pools") == 1
    assert q("SELECT status FROM runs WHERE id = 'scan-kill-test'") == "ok"
    assert q("SELECT count(*) FROM runs") == 1
    con.close()
