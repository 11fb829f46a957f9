"""Two "nights" of a campaign through the real CLI against loopback pools: the first run exports
everything, then one pool goes away and another appears; the second run is a new run (the first one
finished), its delta export holds only the new pool, the diff and the report say new/gone, the seed from
the config is saved with both runs, and progress lines go to stderr."""

from __future__ import annotations

import json
import signal
import time

import pytest
from campaign_helpers import poolscan, query, run_inproc, spawn_poolscan, stored_verdicts, wait_for, write_campaign


def run_json(cfg, **kw):
    """One run in this process; the outcome as the CLI's --json prints it, and the log lines."""
    out, lines = run_inproc(cfg, **kw)
    assert out.exit_code == 0, (out.error, out.post_errors)
    return json.loads(json.dumps(out.to_dict())), "\n".join(lines)


def jsonl_endpoints(path):
    return sorted(f"{json.loads(x)['ip']}:{json.loads(x)['port']}" for x in path.read_text().splitlines())


@pytest.mark.slow
def test_two_nights_delta_diff_report(farm, tmp_path):
    ck = farm.add("ckpool")
    nomp = farm.add("nomp")
    xmr = farm.add("cryptonote-nodejs-pool")
    web = farm.add("http-nginx")
    later = farm.add("xmrig-proxy")
    farm.stop(later)  # not there on night 1
    ports = [ck, nomp, xmr, web, later]
    cfg = write_campaign(tmp_path, "nights", ports, extra="",
                         probe="concurrency = 16\nreply_s = 1.0",
                         exports='formats = ["jsonl", "csv", "stix"]\ndelta_only = true')
    cfg.write_text(cfg.read_text().replace('rate = 5000', 'rate = 5000\nseed = 4242'))
    db = tmp_path / "db" / "poolscan.db"

    s1, err1 = run_json(cfg)
    assert s1["status"] == "ok" and s1["resumed"] is False and s1["seed"] == 4242 and s1["previous"] is None
    assert s1["counts"]["open_ports"] == 4 and s1["counts"]["pools"] == 3 and s1["counts"]["not_pools"] == 1
    out1 = tmp_path / "out" / s1["run_id"]
    assert jsonl_endpoints(out1 / "pools.jsonl") == sorted(f"127.0.0.1:{p}" for p in (ck, nomp, xmr))
    assert (out1 / "pools.csv").is_file() and json.loads((out1 / "pools.stix.json").read_text())["type"] == "bundle"
    assert f"[nights {s1['run_id']}] stored:" in err1  # the log-mode progress display

    farm.stop(nomp)
    farm.add("xmrig-proxy", port=later)
    s2, _ = run_json(cfg)
    assert s2["run_id"] != s1["run_id"] and s2["resumed"] is False and s2["seed"] == 4242
    assert s2["previous"] == s1["run_id"] and s2["diff"] == {"new": 1, "gone": 1, "changed": 0}
    out2 = tmp_path / "out" / s2["run_id"]
    assert jsonl_endpoints(out2 / "pools.jsonl") == [f"127.0.0.1:{later}"]  # delta only
    assert s2["counts"]["exported"] == 1 and s2["counts"]["pools"] == 3
    assert (tmp_path / "out" / "latest").resolve() == out2.resolve()
    assert query(db, "SELECT id, status, seed FROM runs ORDER BY started_at") == [
        (s1["run_id"], "ok", 4242), (s2["run_id"], "ok", 4242)]

    page = (out2 / "report.html").read_text()
    new_table = page.split('<table id="new-pools">')[1].split("</table>")[0]
    assert f'data-endpoint="127.0.0.1:{later}"' in new_table and "xmrig-proxy" in new_table
    gone_table = page.split('<table id="gone-pools">')[1].split("</table>")[0]
    assert f'data-endpoint="127.0.0.1:{nomp}"' in gone_table
    assert page.count('<g class="run"') == 2

    d = poolscan("campaign", "diff", "--campaign", str(cfg), "--json")
    assert d.returncode == 0, d.stderr
    diff = json.loads(d.stdout)
    assert (diff["run_a"], diff["run_b"]) == (s1["run_id"], s2["run_id"])
    assert [x["port"] for x in diff["new"]] == [later] and [x["port"] for x in diff["gone"]] == [nomp]
    assert diff["new"][0]["software"] == "xmrig-proxy" and diff["gone"][0]["software"] == "nomp"

    ls = poolscan("campaign", "list", "--campaign", str(cfg), "--json")
    assert [json.loads(x)["id"] for x in ls.stdout.splitlines()] == [s1["run_id"], s2["run_id"]]


@pytest.mark.slow
def test_sigterm_interrupts_then_resume_flag_finishes(farm, tmp_path):
    ports = [farm.add("ckpool", delay_s=0.5) for _ in range(12)]
    cfg = write_campaign(tmp_path, "term", ports, probe="concurrency = 2\nfast = true")
    db = tmp_path / "db" / "poolscan.db"
    p = spawn_poolscan("campaign", "run", str(cfg), "--progress", "none")
    try:
        wait_for(lambda: stored_verdicts(db) >= 2, 60, what="results")
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
        stop_s = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert stop_s < 10, f"SIGTERM took {stop_s:.1f} s to stop the run"
    (run_id, status), = query(db, "SELECT id, status FROM runs")
    assert status == "interrupted"
    assert err.strip().splitlines()[-1] == (f"poolscan: error: run {run_id} interrupted: the next `poolscan campaign "
                                            f"run` of this file resumes it (or --resume {run_id})")
    stored = query(db, "SELECT count(*) FROM verdicts")[0][0]
    assert 2 <= stored < 12
    # --new would start another run; --resume RUN names this one explicitly.
    s, _ = run_json(cfg, resume=run_id)
    assert s["run_id"] == run_id and s["resumed"] is True and s["status"] == "ok"
    assert s["counts"]["probed"] == 12 and s["counts"]["pools"] == 12
    assert query(db, "SELECT count(*), count(DISTINCT ip || port) FROM verdicts") == [(12, 12)]
    again = poolscan("campaign", "run", str(cfg), "--resume", run_id)
    assert again.returncode == 2 and "is already finished" in again.stderr
