"""The real ``poolscan`` command as a user runs it: bad input gets one line and exit 2, never a traceback;
``probe --json`` prints the documented keys; every command has useful --help."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POOLSCAN = [sys.executable, "-m", "scanner"]


def run(*args, timeout=60, cwd=None):
    return subprocess.run([*POOLSCAN, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.mark.parametrize("args, needle", [
    (["probe", "127.0.0.1:70000"], "70000"),
    (["probe", "127.0.0.1:0"], "1-65535"),
    (["probe", "bad host name!"], "bad host name!"),
    (["probe", "[::1"], "]"),
    (["scan", "--targets", "10.0.0.300/24"], "10.0.0.300"),
    (["scan", "--targets", "/nonexistent/targets.txt"], "targets.txt"),
    (["scan", "--targets", "127.0.0.1", "--allow-reserved", "--ports", "3333,99999"], "99999"),
    (["scan", "--targets", "10.0.0.0/8"], "--allow-reserved"),
    (["probe"], "HOST[:PORT]"),
    (["scan", "--no-such-flag"], "--no-such-flag"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    p = run(*args, cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    err = p.stderr.strip().splitlines()
    assert len(err) == 1, p.stderr
    assert err[0].startswith("poolscan: error:")
    assert needle in err[0]
    assert "Traceback" not in p.stderr


def test_help_of_every_command():
    top = run("--help")
    assert top.returncode == 0
    commands = []
    in_cmds = False
    for line in top.stdout.splitlines():
        if line.startswith("Commands:"):
            in_cmds = True
            continue
        if in_cmds and line.strip():
            commands.append(line.split()[0])
    assert {"probe", "scan", "sweep", "lab"} <= set(commands)
    for c in commands:
        h = run(c, "--help")
        assert h.returncode == 0, c
        assert len(h.stdout.strip().splitlines()) >= 3, c


def test_version():
    p = run("--version")
    assert p.returncode == 0 and "poolscan" in p.stdout and "0.1.0" in p.stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lab's ckpool and Electrum personas on loopback, in a separate process (as a user would run them)."""
    manifest = tmp_path_factory.mktemp("lab") / "manifest.json"
    proc = subprocess.Popen([sys.executable, "-m", "scanner.lab.serve", "--host", "127.0.0.1",
                             "--personas", "ckpool,electrum", "--manifest", str(manifest)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    import time
    deadline = time.monotonic() + 30
    while not manifest.exists() or not manifest.read_text().strip().endswith("]"):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "lab did not start"
        time.sleep(0.1)
    yield {e["persona"]: e["port"] for e in json.loads(manifest.read_text())}
    proc.terminate()
    proc.wait(timeout=10)


def test_probe_json_keys_and_verdict(lab):
    p = run("probe", f"127.0.0.1:{lab['ckpool']}", "--json", "--no-enrich")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    for key in ("ip", "port", "status", "tls", "is_pool", "protocol", "software", "coin", "algo",
                "confidence", "evidence"):
        assert key in obj
    assert obj["ip"] == "127.0.0.1" and obj["port"] == lab["ckpool"]
    assert obj["status"] == "success" and obj["tls"] is False
    assert (obj["is_pool"], obj["protocol"], obj["software"], obj["coin"], obj["algo"]) == (
        True, "stratum1", "ckpool", "BTC", "sha256d")
    assert 0.8 <= obj["confidence"] <= 1 and obj["evidence"]


def test_probe_table_names_the_non_pool(lab):
    p = run("probe", f"127.0.0.1:{lab['electrum']}", "--no-enrich")
    assert p.returncode == 0, p.stderr
    assert "electrum" in p.stdout and "0 of 1 probed port(s) look like a mining pool" in p.stdout


def test_probe_without_port_sweeps_the_ranked_ports(lab):
    ports = f"{lab['ckpool']},{lab['electrum']},1"
    p = run("probe", "127.0.0.1", "--ports", ports, "--json", "--no-enrich")
    assert p.returncode == 0, p.stderr
    got = {json.loads(x)["port"]: json.loads(x) for x in p.stdout.strip().splitlines()}
    assert set(got) == {lab["ckpool"], lab["electrum"]}
    assert got[lab["ckpool"]]["is_pool"] is True and got[lab["electrum"]]["is_pool"] is False


def test_probe_reads_open_ports_from_stdin(lab):
    lines = "\n".join([json.dumps({"ip": "127.0.0.1", "port": lab["ckpool"], "seen_at": 1.0, "source": "connect"}),
                       f"127.0.0.1:{lab['electrum']}", "# a comment", ""])
    p = subprocess.run([*POOLSCAN, "probe", "-", "--json", "--no-enrich"], input=lines, capture_output=True,
                       text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    got = {json.loads(x)["port"]: json.loads(x)["is_pool"] for x in p.stdout.splitlines()}
    assert got == {lab["ckpool"]: True, lab["electrum"]: False}


def test_probe_stdin_bad_line_names_the_line():
    p = subprocess.run([*POOLSCAN, "probe", "-"], input="127.0.0.1:3333\nnot a host!\n", capture_output=True,
                       text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("poolscan: error: <stdin>:2:")
