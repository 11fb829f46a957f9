"""`poolscan sweep` end to end as a process (exit codes, one-line errors), loopback only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def poolscan(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POOLSCAN_NO_INTERNET": "1"}
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def test_dry_run_prints_count_and_duration():
    r = poolscan("sweep", "--targets", "198.51.99.0/24,8.8.8.0/24", "--ports", "3333,4444",
                 "--rate", "100", "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    est = json.loads(r.stdout)
    assert (est["targets"], est["excluded"], est["probes"], est["estimated_s"]) == (512, 0, 1024, 10.2)
    r = poolscan("sweep", "--targets", "198.51.99.0/24", "--ports", "3333", "--rate", "128", "--engine", "masscan",
                 "--dry-run", "--json")
    assert json.loads(r.stdout)["estimated_s"] == 2.0 + 3.0 + 2.0  # send + start-up + --wait
    r = poolscan("sweep", "--targets", "192.0.2.0/23", "--ports", "3333", "--rate", "256", "--dry-run")
    assert r.returncode == 0
    assert r.stdout.strip() == ("targets: 256 addresses (+0 ip:port) after exclusions (256 excluded); ports: 1; "
                                "probes: 256; at 256 packets/s (connect): about 1.0 s")


def test_reserved_range_is_refused_with_one_line():
    r = poolscan("sweep", "--targets", "10.0.0.0/8", "--ports", "3333", "--rate", "10")
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "10.0.0.0/8 is reserved/excluded" in lines[0] and "--allow-reserved" in lines[0]


def test_masscan_without_rate_is_refused():
    r = poolscan("sweep", "--targets", "10.77.0.10", "--allow-reserved", "--ports", "3333", "--engine", "masscan",
                 "--netns", "psl-scan")
    assert r.returncode == 2 and "explicit rate" in r.stderr


def test_json_lines_of_open_ports_on_loopback():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                c.close()
            except OSError:
                pass

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        r = poolscan("sweep", "--targets", "127.0.0.1", "--allow-reserved", "--ports", f"{port},{closed_port}",
                     "--rate", "100", "--json")
    finally:
        stop.set()
        th.join()
        srv.close()
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(d["ip"], d["port"], d["source"]) for d in rows] == [("127.0.0.1", port, "connect")]
    summary = json.loads(r.stderr.strip().splitlines()[-1])
    assert summary["event"] == "sweep-summary" and summary["found"] == 1 and summary["probes"] == 2
