"""Each case persona plays the server side of its case (../shared/cases, copied to scanner/lab/data/cases.jsonl).

A plain asyncio client sends the case's own request lines (or poolscan's, where the case has none) over a real
loopback socket and compares the bytes that come back with the case's recv lines (ids substituted).
"""

from __future__ import annotations

import asyncio

import pytest

from scanner.lab import personas as P
from scanner.lab import probelines as L
from scanner.lab.client import exchange


def send(cid: str) -> list[bytes]:
    return [t["data"].encode() if t["data"].endswith("\n") else (t["data"] + "\n").encode()
            for t in P.cases()[cid]["transcript"] if t["dir"] == "send"]


def recv(cid: str) -> list[str]:
    return P.case_recv(cid)


def nl(s: str) -> bytes:
    return P.nl(s).encode()


def talk(lab, persona: str, steps: list[bytes], **kw):
    ep = lab.endpoint(persona)
    return asyncio.run(exchange("127.0.0.1", ep.port, steps, tls=kw.pop("tls", ep.tls), **kw))


def test_every_positive_and_negative_case_has_a_persona():
    want = sorted(c for c, v in P.cases().items() if v["kind"] in ("positive", "negative"))
    assert sorted(P.case_ids()) == want


def test_c01_pipelined_requests_answered_in_order(lab):
    s, r = send("C01"), recv("C01")
    res = talk(lab, "case-C01", [b"".join(s)])
    assert res.data == nl(r[0]) + nl(r[1]) + nl(r[3]).replace(b'"id":4', b'"id":3')


def test_c02_public_pool_rejects_and_closes(lab):
    s, r = send("C02"), recv("C02")
    res = talk(lab, "case-C02", [s[0], s[2]])
    assert res.data == nl(r[0]) + nl(r[1])
    assert res.closed


def test_c02_configure_from_reference(lab):
    res = talk(lab, "case-C02", [L.STRATUM1_A])
    assert res.data == b'{"id":1,"error":null,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"}}\n'


def test_c04_btcpool(lab):
    s, r = send("C04"), recv("C04")
    res = talk(lab, "case-C04", [s[0], b'{"id":1,"method":"mining.authorize","params":["u","x"]}\n',
                                 L.STRATUM1_UNKNOWN])
    assert res.data == (nl(r[0]) + nl(r[2]) + b'{"id":4,"result":null,"error":[26,"Illegal method",null]}\n')


def test_c06_ocean_spacing_and_truncated_notify(lab):
    s, r = send("C06"), recv("C06")
    res = talk(lab, "case-C06", [s[0], s[1], s[3]])
    assert res.data == nl(r[0]) + b'{"error": null, "id": 2, "result": null}\n' + nl(r[1]) + nl(r[2])


def test_c08_notify_in_two_reads(lab):
    r = recv("C08")
    res = talk(lab, "case-C08", [L.STRATUM1_A + L.STRATUM1_B])
    assert res.data == r[0].encode() + nl(r[1])
    assert len(res.chunks) == 2


def test_c10_string_id_for_integer_id(lab):
    s, r = send("C10"), recv("C10")
    res = talk(lab, "case-C10", [s[0]])
    assert res.data == r[0].encode()
    res = talk(lab, "case-C10", [L.STRATUM1_B])
    assert res.data.startswith(b'{"id":"2",')


@pytest.mark.parametrize("cid,persona", [("C12", "case-C12"), ("C14", "case-C14")])
def test_ethstratum_cases(lab, cid, persona):
    s, r = send(cid), recv(cid)
    res = talk(lab, persona, s[:2])
    if cid == "C12":
        assert res.data == nl(r[0]) + nl(r[1]) + nl(r[2]) + nl(r[3])
    else:
        assert res.data == nl(r[0]) + nl(r[1]) + nl(r[2])


@pytest.mark.parametrize("cid", ["C15", "C18", "C21", "C22"])
def test_single_reply_cases(lab, cid):
    s, r = send(cid), recv(cid)
    res = talk(lab, f"case-{cid}", [s[0]])
    assert res.data == nl(r[0])


def test_c16_miningcore_unsupported_request(lab):
    s, r = send("C16"), recv("C16")
    res = talk(lab, "case-C16", s[:2])
    assert res.data == nl(r[0]) + nl(r[1]) + nl(r[2])
    res = talk(lab, "case-C16", [L.STRATUM1_A])
    assert res.data == b'{"error":{"code":20,"message":"Unsupported request mining.configure","data":null},"id":1}\n'


def test_c19_nodejs_pool_login(lab):
    res = talk(lab, "case-C19", [L.CRYPTONOTE_LOGIN])
    assert res.data == recv("C19")[0].encode()


def test_c25_tls_only(lab):
    res = talk(lab, "case-C25", [L.CRYPTONOTE_LOGIN], tls=False)
    assert res.data == b""
    assert res.closed or res.reset
    res = talk(lab, "case-C25", [L.http_get("127.0.0.1:14433")], tls=True)
    assert res.data == b"Mining Server Online"


def test_c27_recv_only_played_after_first_request(lab):
    r = recv("C27")
    res = talk(lab, "case-C27", [L.STRATUM1_A + L.STRATUM1_B])
    assert res.data == nl(r[0]) + nl(r[1])


def test_c29_sv2_responder(lab):
    a = talk(lab, "case-C29", [bytes(range(64))], idle_s=0.3)
    b = talk(lab, "case-C29", [bytes(range(64))], idle_s=0.3)
    assert len(a.data) == 234 and len(b.data) == 234
    assert a.data != b.data
    short = talk(lab, "case-C29", [L.ELECTRUM_VERSION[:40]], idle_s=0.3)
    assert short.data == b"" and not short.closed


def test_c30_electrum(lab):
    s, r = send("C30"), recv("C30")
    res = talk(lab, "case-C30", [s[0], L.STRATUM1_B])
    assert res.data == nl(r[0]) + nl(r[1]).replace(b'"msg_id"', b"2").replace(b"server.version", b"mining.subscribe")


def test_c31_bitcoind(lab):
    r = recv("C31")
    res = talk(lab, "case-C31", [L.STRATUM1_A + L.STRATUM1_B])
    assert res.data == r[0].encode() and res.closed
    res = talk(lab, "case-C31", [L.http_get("127.0.0.1:8332")])
    assert res.data.startswith(b"HTTP/1.1 405 ") and res.data.endswith(r[2].encode())
    res = talk(lab, "case-C31", [L.http_post_jsonrpc("127.0.0.1:8332", "getblocktemplate")])
    assert res.data.startswith(b"HTTP/1.1 401 ") and b'WWW-Authenticate: Basic realm="jsonrpc"' in res.data


def test_c33_ethereum_node(lab):
    r = recv("C33")
    res = talk(lab, "case-C33", [L.http_post_jsonrpc("127.0.0.1:8545", "web3_clientVersion")])
    assert res.data.endswith(b"\r\n\r\n" + nl(r[0]).replace(b'"id":67', b'"id":1'))
    head = res.data.split(b"\r\n\r\n")[0]
    assert f"Content-Length: {len(nl(r[0])) - 1}".encode() in head
    res = talk(lab, "case-C33", [L.http_post_jsonrpc("127.0.0.1:8545", "eth_getWork")])
    assert res.data.endswith(b"\r\n\r\n" + nl(r[1]))
    res = talk(lab, "case-C33", [L.ETHPROXY_LOGIN])
    assert res.data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
