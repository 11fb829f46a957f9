"""A campaign run pushes its pools to a real TAXII 2.1 server (medallion, memory backend, on 127.0.0.1),
with credentials taken from the environment variables the campaign names; a refused push makes the run
exit 1 while the scan itself is kept (status ok)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from campaign_helpers import run_inproc, write_campaign

COLLECTION = "6e1d5ab6-1b0a-4d6c-9a55-0c2a3f0b7e11"
READONLY = "0b5c1a52-2f3e-4c47-8f0e-5d8a9c7b6a21"
MEDALLION = Path(sys.executable).with_name("medallion")


@pytest.fixture
def taxii(tmp_path):
    if not MEDALLION.exists():
        pytest.skip("medallion is not installed in the venv")
    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    coll = {"can_read": True, "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}
    data = {"/discovery": {"title": "t", "description": "", "contact": "", "default": f"{base}/api1/",
                           "api_roots": [f"{base}/api1/"]},
            "api1": {"information": {"title": "api1", "description": "",
                                     "versions": ["application/taxii+json;version=2.1"],
                                     "max_content_length": 10485760},
                     "status": [],
                     "collections": [{"id": COLLECTION, "title": "pools", "description": "", "can_write": True, **coll},
                                     {"id": READONLY, "title": "ro", "description": "", "can_write": False, **coll}]}}
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "config.json").write_text(json.dumps({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": str(tmp_path / "data.json")},
        "users": {"nightly": "s3cret"}, "taxii": {"max_page_size": 100}}))
    log = open(tmp_path / "medallion.log", "wb")
    proc = subprocess.Popen([str(MEDALLION), "--host", "127.0.0.1", "--port", str(port), str(tmp_path / "config.json")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/taxii2/", auth=("nightly", "s3cret"), timeout=1,
                                headers={"Accept": "application/taxii+json;version=2.1"}).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "medallion did not start"
            time.sleep(0.1)
        yield base
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


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
