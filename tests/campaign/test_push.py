"""A campaign run pushes its pools to a real TAXII 2.1 server (medallion, memory backend, on 127.0.0.1),
with credentials taken from the environment variables the campaign names; a refused push makes the run
exit 1 while the scan itself is kept (status ok)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from campaign_helpers import run_inproc, write_campaign

COLLECTION = "6e1d5ab6-1b0a-4d6c-9a55-0c2a3f0b7e11"
READONLY = "0b5c1a52-2f3e-4c47-8f0e-5d8a9c7b6a21"
MEDALLION = Path(sys.executable).with_name("medallion")


@pytest.fixture
def taxii(tmp_path, taxii_server):
    with taxii_server(tmp_path, "nightly", "s3cret", COLLECTION, READONLY) as base:
        yield base


def _objects(base: str) -> list[dict]:
    from taxii2client.v21 import Collection

    c = Collection(f"{base}/api1/collections/{COLLECTION}/", user="nightly", password="s3cret")
    return c.get_objects().get("objects", [])


def test_run_pushes_to_taxii_with_env_credentials(farm, tmp_path, taxii, monkeypatch):
    ports = [farm.add("ckpool"), farm.add("cryptonote-nodejs-pool")]
    push = (f'[exports.push]\ntaxii_url = "{taxii}/taxii2/"\ncollection = "{COLLECTION}"\n'
            'username_env = "POOLSCAN_T_USER"\npassword_env = "POOLSCAN_T_PASS"\n')
    cfg = write_campaign(tmp_path, "pushy", ports, extra=push, exports='formats = ["stix"]')
    monkeypatch.setenv("POOLSCAN_T_USER", "nightly")
    monkeypatch.setenv("POOLSCAN_T_PASS", "s3cret")
    out, _ = run_inproc(cfg)
    assert out.exit_code == 0, (out.error, out.post_errors)
    assert out.counts["push"]["failure_count"] == 0 and out.counts["push"]["success_count"] > 0
    bundle = json.loads(Path(out.exports["stix"]).read_text())
    assert sorted(o["id"] for o in _objects(taxii)) == sorted(o["id"] for o in bundle["objects"])
    pattern = " ".join(o.get("pattern", "") for o in _objects(taxii))
    assert all(f"dst_port = {p}" in pattern for p in ports), pattern

    # A refused push (read-only collection): the run is kept (ok) but exits 1 with the reason.
    cfg.write_text(cfg.read_text().replace(COLLECTION, READONLY))
    out2, _ = run_inproc(cfg)
    assert out2.status == "ok" and out2.exit_code == 1
    assert len(out2.post_errors) == 1 and out2.post_errors[0].startswith(f"push to {taxii}/taxii2/: ")
