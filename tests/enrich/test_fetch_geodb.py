"""scripts/fetch-geodb.sh fails soft (one line, exit 0) when the registry is unreachable and keeps
databases already present. The registry is pointed at a closed loopback port: nothing leaves the
machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "fetch-geodb.sh"


def _run(dest: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "npm_config_registry": "http://127.0.0.1:9/", "npm_config_cache": str(dest.parent / "npm-cache"),
           "npm_config_offline": "false", "npm_config_update_notifier": "false"}
    return subprocess.run(["bash", str(SCRIPT), str(dest)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def test_script_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
def test_unreachable_registry_is_one_line_and_exit_0(tmp_path: Path) -> None:
    p = _run(tmp_path / "geodb")
    assert p.returncode == 0
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fetch-geodb: npm registry unreachable"), p.stdout + p.stderr
    assert not list((tmp_path / "geodb").glob("*.mmdb"))


def test_present_databases_are_kept_without_network(tmp_path: Path) -> None:
    dest = tmp_path / "geodb"
    dest.mkdir()
    (dest / "geo-whois-asn-country.mmdb").write_bytes(b"x")
    (dest / "asn-ipv4.mmdb").write_bytes(b"y")
    p = _run(dest)
    assert p.returncode == 0
    assert p.stdout.strip() == (f"fetch-geodb: country: kept {dest}/geo-whois-asn-country.mmdb;"
                                f"asn: kept {dest}/asn-ipv4.mmdb")
