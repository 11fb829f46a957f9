"""Push to a real TAXII 2.1 server: medallion 3.0.0 (memory backend) started on 127.0.0.1 by the test,
read back with taxii2-client. Config as in ../shared/reference/environment.md section 4."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from taxii2client.v21 import Collection

from scanner.errors import RunError, UsageError
from scanner.export import EXPORTERS
from scanner.export.taxii import envelopes, push

COLLECTION = "365fed99-08fa-fdcd-a1b3-fb247eb41d01"
READONLY = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
USER, PASSWORD = "admin", "Password0"
MEDALLION = Path(sys.executable).with_name("medallion")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def medallion(tmp_path, taxii_server):
    """A medallion server with one writable and one read-only collection; yields its base URL."""
    with taxii_server(tmp_path, USER, PASSWORD, COLLECTION, READONLY) as base:
        yield base


def read_back(base: str) -> list[dict]:
    coll = Collection(f"{base}/api1/collections/{COLLECTION}/", user=USER, password=PASSWORD)
    return coll.get_objects().get("objects", [])


def test_push_and_read_back(medallion, pools):
    bundle = json.loads(EXPORTERS["stix"].render(pools))
    result = push(pools, f"{medallion}/taxii2/", COLLECTION, user=USER, password=PASSWORD, timeout=10)
    assert result["failure_count"] == 0 and result["success_count"] == len(bundle["objects"])
    got = read_back(medallion)
    assert sorted((o["type"], o["id"]) for o in got) == sorted((o["type"], o["id"]) for o in bundle["objects"])
    ind = next(o for o in got if o["type"] == "indicator" and "198.51.100.7" in o["pattern"])
    assert ind["confidence"] == 95 and "coin:BTC" in ind["labels"]
    # a second push of unchanged pools sends nothing and fails nothing (API-root URL form this time)
    again = push(pools, f"{medallion}/api1/", COLLECTION, user=USER, password=PASSWORD, timeout=10)
    assert again["already_present"] == len(bundle["objects"]) and again["envelopes"] == 0
    assert again["failure_count"] == 0
    assert len(read_back(medallion)) == len(got)


def test_push_new_version_of_a_pool(medallion, pools):
    push(pools[:1], f"{medallion}/taxii2/", COLLECTION, user=USER, password=PASSWORD, timeout=10)
    newer = [dict(pools[0], last_seen="2026-01-05T00:00:00.000000Z", seen_count=3)]
    r = push(newer, f"{medallion}/api1/collections/{COLLECTION}/", COLLECTION, user=USER, password=PASSWORD,
             timeout=10)
    assert r["failure_count"] == 0 and r["success_count"] > 0 and r["already_present"] > 0
    coll = Collection(f"{medallion}/api1/collections/{COLLECTION}/", user=USER, password=PASSWORD)
    ind_id = next(o["id"] for o in read_back(medallion) if o["type"] == "indicator")
    versions = coll.object_versions(ind_id)["versions"]
    assert len(versions) == 2


def test_push_errors(medallion, pools):
    with pytest.raises(UsageError, match="not found"):
        push(pools, f"{medallion}/taxii2/", "no-such-collection", user=USER, password=PASSWORD, timeout=5)
    with pytest.raises(UsageError, match="refused the credentials"):
        push(pools, f"{medallion}/taxii2/", COLLECTION, user=USER, password="wrong", timeout=5)
    with pytest.raises(UsageError, match="not writable"):
        push(pools, f"{medallion}/taxii2/", READONLY, user=USER, password=PASSWORD, timeout=5)


def test_push_unreachable():
    port = free_port()  # nothing listens there
    with pytest.raises(RunError, match="unreachable"):
        push([], f"http://127.0.0.1:{port}/taxii2/", COLLECTION, timeout=2)


def test_envelopes_split_by_size():
    objs = [{"id": f"x--{i}", "pad": "a" * 100} for i in range(50)]
    envs = envelopes(objs, 1000)
    assert sum(len(e["objects"]) for e in envs) == 50 and len(envs) > 5
    assert all(len(json.dumps(e)) <= 1000 for e in envs)
    with pytest.raises(RunError, match="larger than"):
        envelopes([{"id": "big", "pad": "a" * 2000}], 1000)


def test_cli_push(medallion, pool_db):
    out = subprocess.run([sys.executable, "-m", "scanner", "export", "--db", str(pool_db), "--taxii",
                          f"{medallion}/taxii2/", "--collection", COLLECTION, "--user", USER, "--password",
                          PASSWORD, "--new-only"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "0 failed" in out.stderr
    got = read_back(medallion)
    ips = {o["value"] for o in got if o["type"] in ("ipv4-addr", "ipv6-addr")}
    assert ips == {"198.51.100.20", "2001:db8::7"}  # --new-only: the BTC pool was seen in run 1
