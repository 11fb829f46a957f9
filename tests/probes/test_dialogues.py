"""Dialogues are sans-IO: drive them with byte chunks, no event loop, and check what they send next."""

import json

from hypothesis import given, settings, strategies as st

from scanner.probes.dialogue import (
    DIALOGUES, CryptoNoteDialogue, EthProxyDialogue, Stratum1Dialogue, Stratum2Dialogue, HttpDialogue,
)
from scanner.transport.limits import Limits

L = Limits()


def lines(data: bytes) -> list[dict]:
    return [json.loads(x) for x in data.splitlines() if x.strip()]


def test_stratum1_configure_subscribe_then_authorize_then_unknown():
    d = Stratum1Dialogue(L)
    first = d.start()
    sent = lines(first.send)
    assert [m["method"] for m in sent] == ["mining.configure", "mining.subscribe"]
    assert [m["id"] for m in sent] == [1, 2]
    assert sent[1]["params"] == ["poolscan/0.1.0"]
    # ckpool answers subscribe (recorded: ../shared/transcripts/ckpool.jsonl P1), split across two reads
    step = d.feed(b'{"result":[[["mining.notify","6b0bd0bf"]],"bfd0')
    assert step.send == b"" and not step.done
    step = d.feed(b'0b6b",8],"id":2,"error":null}\n')
    auth = lines(step.send)
    assert auth[0]["method"] == "mining.authorize" and auth[0]["id"] == 3
    assert auth[0]["params"][0] == "1BitcoinEaterAddressDontSendf59kuE.poolscan"
    step = d.feed(b'{"result":true,"error":null,"id":3}\n')
    assert not step.done and step.send == b"" and step.wait == L.job_s
    step = d.feed(b'{"params":["j1","p","c1","c2",[],"20000000","17023a04","6b0bd0be",true],"id":null,"method":"mining.notify"}\n')
    unknown = lines(step.send)
    assert unknown[0]["method"] == "mining.poolscan" and unknown[0]["id"] == 4
    assert step.wait == L.idle_s
    assert d.expire().done


def test_stratum1_skips_authorize_for_miningcore_subscription_id():
    d = Stratum1Dialogue(L)
    d.start()
    # miningcore: 13-char base32 id, job pushed right after subscribe (protocols.md §6.5)
    step = d.feed(b'{"result":[[["mining.set_difficulty","0HMD4PL1M2QF4"],["mining.notify","0HMD4PL1M2QF4"]],"0a1b2c3d",4],"id":2}\n')
    assert b"mining.authorize" not in step.send
    step = d.feed(b'{"jsonrpc":"2.0","method":"mining.notify","params":["00000001","p","c1","c2",[],"20000000","1d00ffff","6b0bd0be",true],"id":null}\n')
    assert b"mining.poolscan" in step.send


def test_stratum1_fast_mode_stops_after_job():
    d = Stratum1Dialogue(L, fast=True)
    d.start()
    d.feed(b'{"id":2,"result":[[["mining.notify","ab"]],"00",4],"error":null}\n')
    d.feed(b'{"id":3,"result":true,"error":null}\n')
    step = d.feed(b'{"id":null,"method":"mining.notify","params":[]}\n')
    assert step.done and step.send == b""


def test_stratum1_refused_subscribe_goes_to_unknown_method():
    d = Stratum1Dialogue(L)
    d.start()
    # f2pool (case C15): the error is a Python tuple repr in a string
    step = d.feed(b'{"id":2,"jsonrpc":"2.0","result":false,"error":"(20, \'Bad params\', None)"}\n')
    assert b"mining.poolscan" in step.send and b"authorize" not in step.send


def test_string_id_reply_is_matched():
    d = Stratum1Dialogue(L)
    d.start()
    # SRI translator answers id "2" to request id 2 (case C10)
    step = d.feed(b'{"id":"2","error":null,"result":[[["mining.notify","x"]],"00",14]}\n')
    assert b"mining.authorize" in step.send


def test_non_json_ends_line_dialogue():
    d = Stratum1Dialogue(L)
    d.start()
    assert d.feed(b"HTTP/1.1 400 Bad Request\r\n").done


def test_line_cap_ends_with_error():
    d = Stratum1Dialogue(Limits(max_line=1024))
    d.start()
    step = d.feed(b"{" + b"a" * 5000)
    assert step.done and "too long" in step.error


def test_cryptonote_login_shape_meets_xmrig_proxy_rules():
    d = CryptoNoteDialogue(L)
    msg = d.start().send
    assert msg.startswith(b"{") and len(msg) >= 32 and msg.endswith(b"\n")
    obj = json.loads(msg)
    assert isinstance(obj["id"], int) and isinstance(obj["params"], dict) and obj["method"] == "login"
    step = d.feed(b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"1","job":{"blob":"10","job_id":"1","target":"b88d0600"},"status":"OK"}}\n')
    assert json.loads(step.send)["method"] == "poolscan"


def test_cryptonote_never_asks_p2pool_an_unknown_method():
    """Monero P2Pool bans the client IP on an unknown method (SChernykh/p2pool src/stratum_server.cpp @14b6a63c);
    its login reply has no error key and extensions exactly ["algo"]. Other pools still get the question."""
    d = CryptoNoteDialogue(L)
    d.start()
    step = d.feed(b'{"id":1,"jsonrpc":"2.0","result":{"id":"3f0a9c1e","job":{"blob":"10","job_id":"1",'
                  b'"target":"8d210000","algo":"rx/0","height":3712345,"seed_hash":"c4"},'
                  b'"extensions":["algo"],"status":"OK"}}\n')
    assert step.done and step.send == b""
    d = CryptoNoteDialogue(L)  # the same result with an error key (xmrig-proxy's shape) is asked
    d.start()
    step = d.feed(b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"1","job":{"blob":"10"},'
                  b'"extensions":["algo"],"status":"OK"}}\n')
    assert json.loads(step.send)["method"] == "poolscan"


def test_http_head_end_split_across_chunks_and_hostile_content_length():
    d = HttpDialogue(L, host="127.0.0.1", port=80)
    d.start()
    steps = [d.feed(c) for c in (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r", b"\n\r", b"\n", b"abc", b"de")]
    assert [x.done for x in steps] == [False, False, False, False, True]
    d = HttpDialogue(L, host="127.0.0.1", port=80)  # a 5,000-digit length is no length: read to close/idle
    d.start()
    assert not d.feed(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\nx").done


def test_ethproxy_login_then_getwork():
    d = EthProxyDialogue(L)
    obj = json.loads(d.start().send)
    assert obj["method"] == "eth_submitLogin" and obj["params"] == ["0x000000000000000000000000000000000000dEaD"]
    step = d.feed(b'{"id":1,"jsonrpc":"2.0","result":true}\n')
    assert json.loads(step.send)["method"] == "eth_getWork"
    assert d.feed(b'{"id":2,"jsonrpc":"2.0","result":["0x1","0x2","0x3"]}\n').done


def test_http_stops_at_content_length():
    d = HttpDialogue(L, host="127.0.0.1", port=8117)
    req = d.start().send
    assert req.startswith(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8117\r\n") and b"User-Agent: poolscan/" in req
    assert not d.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nMining ").done
    assert d.feed(b"server online").done


def test_stratum2_sends_64_bytes_and_reads_act2():
    d = Stratum2Dialogue(L)
    first = d.start()
    assert len(first.send) == 64
    step = d.feed(b"\x00" * 234)
    assert not step.done and step.wait == L.idle_s


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(DIALOGUES)), st.lists(st.binary(max_size=300), max_size=12))
def test_dialogues_never_raise_on_random_chunks(name, chunks):
    d = DIALOGUES[name](Limits(max_line=4096), host="127.0.0.1", port=3333)
    d.start()
    for c in chunks:
        step = d.feed(c or b"x")
        if step.done:
            break
    d.expire()


def test_sv2_act1_never_holds_a_line_terminator():
    from scanner.probes.dialogue import sv2_act1

    draws = [sv2_act1() for _ in range(2000)]
    assert all(len(d) == 64 and b"\n" not in d and b"\r" not in d for d in draws)
    assert len(set(draws)) == 2000  # still random


def test_cryptonote_fast_login_reply_carries_the_job_and_ends_in_one_round_trip():
    """fast=True: login, the reply with the job, done (no second request). The reply is the one
    cryptonote-nodejs-pool sent (lab persona built from tests/transcripts/recorded/cryptonote-nodejs-pool.jsonl)."""
    from scanner.lab import personas

    reply = "".join(personas.get("cryptonote-nodejs-pool").methods["login"][0].lines).replace("{{id}}", "1")
    d = CryptoNoteDialogue(L, fast=True)
    assert json.loads(d.start().send)["method"] == "login"
    step = d.feed(reply.encode())
    assert step.done and step.send == b"" and step.error is None
    assert d.job == json.loads(reply)["result"]["job"] and d.job["target"] == "711b0d00"
    d = CryptoNoteDialogue(L, fast=True)  # an error reply is a reply, but carries no job
    d.start()
    assert d.feed(b'{"id":1,"jsonrpc":"2.0","error":{"code":-1,"message":"Invalid address"}}\n').done
    assert d.job is None


def test_two_messages_in_one_chunk_send_both_answers_in_order():
    """Steps of one chunk merge: the sends concatenate, the wait and end come from the last message, and
    the merged step is optional only when both are (the unknown-method question stays skippable alone)."""
    from scanner.probes.dialogue import LineDialogue, Step

    a, b = Step(send=b"A\n", wait=1.0), Step(send=b"B\n", wait=2.0, optional=True)
    assert LineDialogue._merge(a, b) == Step(send=b"A\nB\n", wait=2.0, optional=False)
    for a_opt in (False, True):
        for b_opt in (False, True):
            for b_send in (b"", b"B\n"):
                a, b = Step(wait=1.0, optional=a_opt), Step(send=b_send, wait=2.0, optional=b_opt)
                assert LineDialogue._merge(a, b) == Step(send=b_send, wait=2.0, optional=a_opt and b_opt)


def test_stratum1_waits_by_state():
    d = Stratum1Dialogue(Limits(reply_s=1.5, job_s=0.5, idle_s=0.25))
    waits = {}
    for state in ("subscribe", "authorize", "job", "unknown"):
        d.state = state
        waits[state] = d.current_wait()
    assert waits == {"subscribe": 1.5, "authorize": 1.5, "job": 0.5, "unknown": 0.25}
