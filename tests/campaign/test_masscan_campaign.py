"""A masscan campaign inside the project's own network namespaces (root): the whole run executes in the
lab's scanner namespace (no route out), masscan gets the campaign's seed, the seed is saved with the run,
and a resumed run hands masscan the same saved seed again (so the sweep is reproduced)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
from campaign_helpers import ROOT, query

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="builds network namespaces and runs masscan: needs root"),
]

NAME = f"psc{os.getpid() % 100000}"
SUBNET = "10.77.241.0/24"  # apart from tests/netns (10.77.224.0/20)


@pytest.fixture(scope="module")
def nslab():
    if shutil.which("masscan") is None:
        pytest.fail("masscan is not installed: apt-get install -y masscan libpcap0.8")
    from scanner.lab import netns

    st = netns.lab_up(hosts=2, name=NAME, subnet=SUBNET, pools="ckpool,nomp")
    try:
        routes = subprocess.run(["ip", "-n", st["scan_ns"], "route", "show", "table", "all"], capture_output=True,
                                text=True).stdout
        assert "default" not in routes and " via " not in routes  # nothing can leave the lab
        yield st
    finally:
        netns.lab_down(NAME)


def run_in_ns(st, cfg, *extra):
    r = subprocess.run(["ip", "netns", "exec", st["scan_ns"], sys.executable, "-m", "scanner", "campaign", "run",
                        str(cfg), "--json", "--progress", "none", *extra], capture_output=True, text=True,
                       timeout=180, cwd=str(ROOT))
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def write_cfg(tmp_path, st, seed_line):
    manifest = json.loads(open(st["manifest"]).read())
    ports = sorted({e["port"] for e in manifest})
    cfg = tmp_path / "ns.toml"
    cfg.write_text(f"""name = "nslab"
[targets]
cidrs = {json.dumps(st["hosts"])}
[ports]
explicit = {json.dumps(ports)}
[exclusions]
allow_reserved = true
[sweep]
engine = "masscan"
netns = "{st["scan_ns"]}"
rate = 1000
wait_s = 1
{seed_line}
[probe]
concurrency = 8
[enrich]
enabled = false
[store]
db = "db/p.db"
[exports]
out_dir = "out"
""")
    return cfg, {(h, p) for h in st["hosts"] for p in ports}


def masscan_seed(summary):
    argv = summary["counts"]["sweep"]["argv"][0]
    assert "masscan" in " ".join(argv) and argv[:4] == ["ip", "netns", "exec", summary["counts"]["sweep"]["namespace"]]
    return int(argv[argv.index("--seed") + 1])


def test_config_seed_goes_to_masscan_and_is_saved(nslab, tmp_path):
    cfg, expected = write_cfg(tmp_path, nslab, "seed = 12345")
    s = run_in_ns(nslab, cfg)
    assert s["status"] == "ok" and s["seed"] == 12345 and masscan_seed(s) == 12345
    assert s["counts"]["sweep"]["canary_seen"] is True
    db = tmp_path / "db" / "p.db"
    assert query(db, "SELECT seed FROM runs") == [(12345,)]
    assert {(ip, port) for ip, port in query(db, "SELECT ip, port FROM verdicts WHERE is_pool = 1")} == expected


def test_generated_seed_is_saved_and_reused_on_resume(nslab, tmp_path):
    cfg, expected = write_cfg(tmp_path, nslab, "")
    first = run_in_ns(nslab, cfg)
    seed = first["seed"]
    assert masscan_seed(first) == seed
    db = tmp_path / "db" / "p.db"
    # The state a kill -9 leaves: the run is not finished (and one result was not stored yet).
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE runs SET status = 'running', finished_at = NULL")
        rid = con.execute("SELECT id FROM verdicts ORDER BY ip, port LIMIT 1").fetchone()[0]
        con.execute("DELETE FROM transcripts WHERE result_id = ?", (rid,))
        con.execute("DELETE FROM verdicts WHERE id = ?", (rid,))
    con.close()
    again = run_in_ns(nslab, cfg)
    assert again["run_id"] == first["run_id"] and again["resumed"] is True
    assert again["seed"] == seed and masscan_seed(again) == seed  # same sweep order: reproducible
    assert again["counts"]["session"]["probed"] == 1 and again["counts"]["session"]["skipped"] == len(expected) - 1
    assert query(db, "SELECT count(*), count(DISTINCT ip || ':' || port) FROM verdicts") == [(len(expected),) * 2]


def test_lab_addresses_are_refused_outside_the_lab_namespace(nslab, tmp_path):
    """From the root namespace the lab's subnet would be routed to the real network: exit 2, nothing sent."""
    cfg, _ = write_cfg(tmp_path, nslab, "seed = 1")
    r = subprocess.run([sys.executable, "-m", "scanner", "campaign", "run", str(cfg), "--progress", "none"],
                       capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    assert r.returncode == 2, r.stderr
    assert f"is inside lab {NAME}'s subnet {SUBNET}" in r.stderr and f"ip netns exec {nslab['scan_ns']}" in r.stderr
    assert not (tmp_path / "db").exists()  # no run was created
