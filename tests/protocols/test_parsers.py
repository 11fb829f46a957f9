"""Sans-IO parsers: stratum1, ethstratum, cryptonote, coinbase, http, stratum2."""

from __future__ import annotations

import ast
from pathlib import Path

from scanner.protocols import coinbase, cryptonote, ethstratum, http, stratum1, stratum2


def test_protocols_are_sans_io() -> None:
    root = Path(stratum1.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not names & {"asyncio", "socket", "ssl", "selectors"}, path.name


def test_subscribe_shapes() -> None:
    s = stratum1.parse_subscribe([[["mining.set_difficulty", "deadbeefcafebabe0100000000000000"],
                                   ["mining.notify", "deadbeefcafebabe0100000000000000"]], "60000000", 4])
    assert s and s.shape == stratum1.CLASSIC and s.extranonce1 == "60000000" and s.extranonce2_size == 4
    assert s.methods == ("mining.set_difficulty", "mining.notify")
    # C06: notify first, odd-length ids (never hex-decoded)
    s = stratum1.parse_subscribe([[["mining.notify", "1e0a00001"], ["mining.set_difficulty", "1e0a00002"]], "1e0a0000", 8])
    assert s and s.sub_ids == ("1e0a00001", "1e0a00002")
    # ckpool/public-pool: only mining.notify
    assert stratum1.parse_subscribe([[["mining.notify", "6b0bd0bf"]], "bfd00b6b", 8]).methods == ("mining.notify",)
    # ZIP 301
    s = stratum1.parse_subscribe([None, "81000001"])
    assert s and s.shape == stratum1.EQUIHASH and s.session is None
    # EthereumStratum/1.0.0
    s = stratum1.parse_subscribe([["mining.notify", "bae84e2dc41c4c2a99d0139c074351b2", "EthereumStratum/1.0.0"], "0001"])
    assert s and s.shape == stratum1.ETHSTRATUM and s.extranonce1 == "0001"
    assert stratum1.parse_subscribe(True).shape == stratum1.BOOL
    # aiostratum-proxy 1.1 (tests/transcripts/real/aiostratum-proxy-upstream.jsonl): null subscriptions,
    # upstream extranonce1 + a 1-byte worker tail, size 8 - 1 (a float in the git version: size - len(tail) / 2)
    for n2 in (7, 7.0):
        s = stratum1.parse_subscribe([None, "bfd00b6b01", n2])
        assert s and s.shape == stratum1.CLASSIC and s.subscriptions == () and s.extranonce1 == "bfd00b6b01"
        assert s.extranonce2_size == 7 and isinstance(s.extranonce2_size, int)
    for bad in (None, False, [], "x", [1, 2, 3], [[], "zz", 4], [[], "00", True], [[], "00", -1], {"a": 1}, ["ElectrumX 1.1", "1.1"],
                [None, "00", 7.5], [None, "zz", 4], [None, None, 4], ["x", "00", 4]):
        assert stratum1.parse_subscribe(bad) is None, bad


def test_notify_bitcoin_layout_and_coinbase() -> None:
    coinb1 = "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff3103a1bb0d0004bed00b6b04d3e729080c"
    coinb2 = "0a636b706f6f6c0d2f6d696e656420627920636b2fffffffff0300000000000000266a24aa21a9ed" + "00" * 32
    job = stratum1.parse_notify(["6b0bd0be00000001", "e4" * 32, coinb1, coinb2, [], "20000000", "17023a04", "69338fc9", True])
    assert job and job.complete and job.clean is True
    info = coinbase.parse_coinbase(job.coinb1, job.coinb2)
    assert info.height == 900001 and info.has_witness_commitment
    assert "ckpool" in info.text and "/mined by ck/" in info.text
    # an EthereumStratum notify (hashes, no coinbase) is not a Bitcoin job
    assert stratum1.parse_notify(["bf0488aa", "51" * 32, "da" * 32, True]) is None


def test_bip34_height_forms() -> None:
    head = bytes.fromhex("01000000" + "01" + "00" * 32 + "ffffffff")
    assert coinbase.bip34_height(head + bytes([0x10, 0x03, 0x83, 0xE7, 0x0C]) + b"x" * 12) == 845699  # case C06
    assert coinbase.bip34_height(head + bytes([0x04, 0x52, 0, 0, 0])) == 2  # OP_2 (regtest)
    pos = bytes.fromhex("01000000" + "aabbccdd" + "01" + "00" * 32 + "ffffffff")
    assert coinbase.bip34_height(pos + bytes([0x05, 0x02, 0x10, 0x27, 0, 0])) == 10000  # PoS layout with nTime
    assert coinbase.bip34_height(b"\x00" * 10) is None
    assert coinbase.parse_coinbase("zz", "") is None
    assert coinbase.partial_coinbase("0100000001" + "00" * 32 + "ffffffff0803a1bb0d4f43454") is not None


def test_nbits_difficulty() -> None:
    assert stratum1.nbits_difficulty("1d00ffff") == 1.0
    assert stratum1.nbits_difficulty("zz") is None and stratum1.nbits_difficulty("00000000") is None


def test_eth_jobs() -> None:
    j = ethstratum.parse_ethstratum_notify(["0000042c", "0x" + "a8" * 32, "0x" + "80" * 32, True])
    assert j and j.prefixed and j.seed == "a8" * 32 and j.clean is True
    g = ethstratum.parse_getwork(["0x" + "3c" * 32, "0x" + "a8" * 32, "0x0225c17d04dad2965cc5a02a23e254c0c3f75d9178046aeb27ce1ca574"])
    assert g and g.target.startswith("0225")
    assert ethstratum.parse_getwork(["0x1", "0x2", "0x3"]) is None
    assert ethstratum.parse_ethstratum_notify(["1", "2"]) is None


def test_cryptonote_login() -> None:
    result = {"id": "b1000241-1a43-45d0-9892-da95673c3200",
              "job": {"blob": "0505b4b2f3cc05", "job_id": "qO4PbZwULH8WsCE9fHnoPoH4B0va", "target": "37894100",
                      "id": "b1000241-1a43-45d0-9892-da95673c3200"}, "status": "OK"}
    login = cryptonote.parse_login(result)
    assert login and login.job and login.job.major_version == 5 and login.status == "OK"
    assert login.job.difficulty == 1000  # case C19: 'Pool Diff 1000'
    rx = cryptonote.parse_job({"blob": "1010" + "00" * 70, "job_id": "1", "target": "711b0d00", "algo": "rx/0",
                               "height": 3300000, "seed_hash": "7b" * 32})
    assert rx and rx.major_version == 16 and rx.algo == "rx/0" and rx.seed_hash
    assert cryptonote.parse_login("ok") is None and cryptonote.parse_login({"status": "OK"}) is None
    assert cryptonote.parse_job({"blob": 5}) is None


def test_http_response() -> None:
    r = http.parse_response(b"HTTP/1.0 200 OK\nContent-Type: text/plain\nContent-Length: 20\n\nMining server online")
    assert r and r.status == 200 and r.body == b"Mining server online" and not r.crlf
    assert r.header("content-type") == "text/plain"
    r = http.parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert r and r.body == b"hello world"
    r = http.parse_response(b"HTTP/1.1 404")
    assert r and r.status == 404 and r.body == b""
    assert http.parse_response(b'{"id":1}') is None
    assert http.split_request(b"POST /x HTTP/1.1\r\nA: b\r\n\r\n{}") == ("POST", "/x", b"{}")
    assert http.split_request(b'{"id":1}') is None


def test_sv2_act2() -> None:
    import random
    rnd = random.Random(1)
    blob = bytes(rnd.getrandbits(8) for _ in range(234))
    assert stratum2.is_act2(blob)
    assert not stratum2.is_act2(blob[:233])
    assert not stratum2.is_act2(b"{" + b"a" * 233)
    assert not stratum2.is_act2(bytes(234))  # zero entropy


def test_sv2_act2_is_recognised_whatever_its_first_byte():
    """Act 2 is ciphertext: a draw that starts with '{' or '[' (1 in 128) is still act 2 (seen in the demo);
    234 bytes of JSON are not."""
    import os

    from scanner.protocols.stratum2 import is_act2

    for first in (b"{", b"[", b" ", b"\x00"):
        body = first + os.urandom(233)
        while sum(1 for b in body if 32 <= b < 127) / 234 > 0.9:  # pragma: no cover - astronomically rare
            body = first + os.urandom(233)
        assert is_act2(body)
    line = b'{"id":1,"result":"' + b"a" * 214 + b'"}'
    assert len(line) == 234 and not is_act2(line)
