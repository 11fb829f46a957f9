"""The lab starts, publishes a manifest, falls back from taken ports, speaks TLS, and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from scanner.errors import UsageError
from scanner.lab import personas as P
from scanner.lab import probelines as L
from scanner.lab.client import exchange
from scanner.lab.emulator import find_top_level_id, render, template_id
from scanner.lab.serve import LoopbackLab, parse_ports, resolve_personas

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"persona", "host", "port", "tls", "expect", "source", "wanted_port", "port_fallback"}


def test_template_id_touches_only_the_top_level_id():
    line = '{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"558412630019612","job":{"id":"5"}}}\n'
    t = template_id(line, 1)
    assert t == line.replace('"id":1,', '"id":{{id}},', 1)
    assert render(t, 7) == line.replace('"id":1,', '"id":7,', 1).encode()
    assert render(t, "x") == line.replace('"id":1,', '"id":"x",', 1).encode()
    spaced = '{"jsonrpc": "2.0", "id": "msg_id", "result": ["ElectrumX 1.1pre2", "1.1"]}'
    assert template_id(spaced, "msg_id") == spaced.replace('"msg_id"', "{{id}}")
    notify = '{"params":[42],"id":null,"method":"mining.set_difficulty"}\n'
    assert template_id(notify) == notify
    assert template_id('{"result":true,"id":2}', 3) == '{"result":true,"id":2}'
    assert render(template_id('{"id":"3642","result":1}', 3642, as_string=True), 2) == b'{"id":"2","result":1}'
    assert find_top_level_id('{"a":{"id":1}}') is None


def test_manifest_shape_and_default_lab(lab):
    async def run():
        async with LoopbackLab("default", real_ports=False) as lb:
            return lb.manifest()

    manifest = asyncio.run(run())
    assert [m["persona"] for m in manifest] == list(P.DEFAULT_LAB)
    for m in manifest:
        assert set(m) == KEYS
        assert set(m["expect"]) == {"is_pool", "protocol", "software", "coin", "algo", "label"}
        assert m["source"]
    recorded = {m["persona"] for m in manifest if m["expect"]["is_pool"]}
    assert {"ckpool", "ckpool-solo", "nomp", "cryptonote-nodejs-pool", "xmrig-proxy", "open-ethereum-pool"} <= recorded


def test_taken_port_falls_back_to_ephemeral():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]
    persona = P.get("nomp")
    persona.port = taken

    async def run():
        async with LoopbackLab([persona]) as lb:
            ep = lb.endpoints[0]
            res = await exchange("127.0.0.1", ep.port, [L.STRATUM1_B], idle_s=0.3)
            return ep, res

    try:
        ep, res = asyncio.run(run())
    finally:
        busy.close()
    assert ep.port_fallback and ep.wanted_port == taken and ep.port != taken
    assert b"deadbeefcafebabe" in res.data


def test_explicit_taken_port_is_a_usage_error():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        with pytest.raises(UsageError, match="nomp"):
            asyncio.run(LoopbackLab(["nomp"], ports={"nomp": busy.getsockname()[1]}).start())
    finally:
        busy.close()


def test_bad_persona_and_port_spec():
    with pytest.raises(UsageError, match="nope"):
        resolve_personas("ckpool,nope")
    with pytest.raises(UsageError, match="ckpool=x"):
        parse_ports("ckpool=x")
    assert parse_ports("ckpool=3333,nomp=3032") == {"ckpool": 3333, "nomp": 3032}


def test_tls_certificate_and_login(lab):
    ep = lab.endpoint("cryptonote-nodejs-pool-tls")
    assert ep.tls
    res = asyncio.run(exchange("127.0.0.1", ep.port, [L.CRYPTONOTE_LOGIN], tls=True))
    cert = x509.load_der_x509_certificate(res.tls_cert)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "pool.example.test"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "pool.example.test" in san.get_values_for_type(x509.DNSName)
    assert b'"status":"OK"' in res.data and res.data.startswith(b'{"id":1,"jsonrpc":"2.0","error":null')
    plain = asyncio.run(exchange("127.0.0.1", ep.port, [L.CRYPTONOTE_LOGIN]))
    assert plain.data[:1] != b"{"  # plaintext gets no pool reply (an alert or a close)


def test_framing_variants(lab):
    res = asyncio.run(exchange("127.0.0.1", lab.port("nomp-chunked"), [L.STRATUM1_B], idle_s=0.3))
    # 7-byte writes 2 ms apart: the client sees several reads (the kernel may merge some under load)
    assert len(res.chunks) >= 2
    assert res.data.startswith(b'{"id":2,"result":[[["mining.set_difficulty","deadbeefcafebabe')
    res = asyncio.run(exchange("127.0.0.1", lab.port("cryptonote-nofinalnl"), [L.CRYPTONOTE_UNKNOWN]))
    assert res.data == b'{"id":2,"jsonrpc":"2.0","error":{"code":-1,"message":"Invalid method"}}'
    res = asyncio.run(exchange("127.0.0.1", lab.port("ckpool-split-lines"), [L.STRATUM1_B], idle_s=0.3))
    assert len(res.chunks) >= 2 and all(c.endswith(b"\n") for _, c in res.chunks)
    assert res.data.count(b"\n") == 3


def test_case_persona_expectations_agree_with_expected_yaml():
    path = ROOT / "tests" / "cases" / "expected.yaml"
    if not path.exists():
        pytest.fail("tests/cases/expected.yaml is missing (written by the fingerprint work)")
    expected = yaml.safe_load(path.read_text())
    for cid in P.case_ids():
        want = expected[cid]
        got = P.get(f"case-{cid}").expect
        for key in ("is_pool", "protocol", "software", "coin", "algo", "label"):
            assert got[key] == want.get(key), (cid, key)


def test_serve_cli_manifest_and_sigterm(tmp_path):
    manifest = tmp_path / "lab.json"
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        proc = subprocess.run([sys.executable, "-m", "scanner.lab.serve", "--personas", "ckpool", "--ports",
                               f"ckpool={busy.getsockname()[1]}", "--manifest", str(manifest)],
                              cwd=ROOT, capture_output=True, timeout=30)
    finally:
        busy.close()
    assert proc.returncode == 2
    assert b"for persona ckpool" in proc.stderr and not manifest.exists()

    proc = subprocess.Popen([sys.executable, "-m", "scanner.lab.serve", "--host", "127.0.0.1", "--host", "127.0.0.2",
                             "--personas", "ckpool,case-C29,hostile-silent", "--base-port", str(_free_base()),
                             "--manifest", str(manifest)], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not manifest.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        entries = json.loads(manifest.read_text())
        assert {(e["persona"], e["host"]) for e in entries} == {
            (p, h) for p in ("ckpool", "case-C29", "hostile-silent") for h in ("127.0.0.1", "127.0.0.2")}
        ck = [e for e in entries if e["persona"] == "ckpool"]
        assert ck[0]["port"] == ck[1]["port"]
        for e in ck:
            res = asyncio.run(exchange(e["host"], e["port"], [L.STRATUM1_B], idle_s=0.3))
            assert res.data.startswith(b'{"result":[[["mining.notify","6b0bd0bf"]],"bfd00b6b",8],"id":2')
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ck[0]["port"]), timeout=1).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_cli_rejects_unknown_persona():
    proc = subprocess.run([sys.executable, "-m", "scanner.lab.serve", "--personas", "nope"], cwd=ROOT,
                          capture_output=True, timeout=30)
    assert proc.returncode == 2
    assert b"unknown persona 'nope'" in proc.stderr


def _free_base(n: int = 3) -> int:
    """A run of ``n`` ports free on 127.0.0.1 and 127.0.0.2, below the ephemeral range (32768-60999) that
    the session's client sockets (and their TIME_WAIT states) occupy; SO_REUSEADDR as the lab sets it."""
    for base in range(21000, 32000, 37):
        socks = []
        try:
            for i in range(n):
                for host in ("127.0.0.1", "127.0.0.2"):
                    s = socket.socket()
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((host, base + i))
                    socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def test_every_rule_and_route_names_its_source():
    for p in P.all_personas():
        assert p.source, p.name
        rules = [r for rs in p.methods.values() for r in rs]
        rules += [r for r in (p.non_json, p.http, p.first_request, p.non_http) if r is not None]
        for r in rules:
            if r.action == "close" and r.source.startswith("default"):
                continue
            assert r.source, (p.name, r)
        for route in p.routes:
            assert route.source, (p.name, route.method, route.path)


def test_personas_cli_dumps_json_and_rejects_unknown():
    out = subprocess.run([sys.executable, "-m", "scanner.lab.personas", "ckpool"], cwd=ROOT, capture_output=True,
                         timeout=30)
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data[0]["name"] == "ckpool" and data[0]["methods"]["mining.subscribe"][0]["lines"][0].startswith(
        '{"result":[[["mining.notify","6b0bd0bf"]],"bfd00b6b",8],"id":{{id}}')
    bad = subprocess.run([sys.executable, "-m", "scanner.lab.personas", "nope"], cwd=ROOT, capture_output=True,
                         timeout=30)
    assert bad.returncode == 2 and b"unknown persona 'nope'" in bad.stderr
