"""The classifier's fast paths (issue 8) give what the general definitions give.

* observe builds the reply index in one pass with ``str(id)`` keys when every request id is an int or a str; the
  reference is :meth:`Observation.methods_for` (``jsonrpc.same_id`` against every request).
* hits of silent transcripts are memoised by their facts: a warm memo gives the verdict a cold one gives, and two
  silent transcripts that differ (probe, status, peer close) are not conflated.
* ``jsonrpc.decode`` calls a line junk without scanning it when it does not end with ``}`` (after the same
  ``str.strip`` as before, so a line ending in a Unicode space still decodes).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from scanner.fingerprint import classify, load_fingerprints
from scanner.fingerprint import verdict as verdict_mod
from scanner.fingerprint.observe import observe
from scanner.model import Exchange, ProbeResult, Status, Transcript
from scanner.protocols.jsonrpc import Malformed, Response, same_id

REAL = Path(__file__).resolve().parents[1] / "transcripts" / "real"


def _real_transcripts() -> list[Transcript]:
    out: list[Transcript] = []
    for path in sorted(REAL.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            if line.strip():
                out += ProbeResult.from_dict(json.loads(line)).transcripts
    return out


def test_reply_index_and_answered_facts_follow_same_id_on_every_real_transcript():
    ts = _real_transcripts()
    assert len(ts) > 200
    checked = 0
    for t in ts:
        o = observe(t)
        responses = [m for m in o.messages if isinstance(m, Response)]
        assert o.replies("any") == responses
        for r in o.requests:
            want = [m for m in responses if r.method in o.methods_for(m.id)]
            assert o.replies(r.method) == want, (t.probe, r.method)
            answered = any(same_id(m.id, r.id) for m in responses)
            assert o.facts[f"answered.{r.method}"] is answered
            checked += bool(want)
    assert checked > 100  # the recordings do answer


def _with_sends(t: Transcript, sends: list[bytes], recv: bytes) -> Transcript:
    ex = [Exchange(0.0, "send", d) for d in sends] + [Exchange(0.01, "recv", recv)]
    return dataclasses.replace(t, exchanges=tuple(ex))


def test_string_reply_id_for_int_request_and_general_ids():
    base = Transcript(ip="127.0.0.1", port=3333, probe="stratum1", status=Status.SUCCESS, exchanges=())
    send = b'{"id":2,"method":"mining.subscribe","params":["x"]}\n'
    # case C10: the SRI translator answers an int request with a string id
    o = observe(_with_sends(base, [send], b'{"id":"2","result":[[["mining.notify","ab"]],"00",4],"error":null}\n'))
    assert [m.id for m in o.replies("mining.subscribe")] == ["2"]
    assert o.facts["answered.mining.subscribe"] is True
    assert o.facts["s1.extranonce2_size"] == 4
    # a request id that is neither int nor str (null): the general matching runs
    odd = b'{"id":null,"method":"mining.subscribe","params":["x"]}\n'
    o = observe(_with_sends(base, [odd], b'{"id":null,"result":[[["mining.notify","ab"]],"00",4],"error":null}\n'))
    assert len(o.replies("mining.subscribe")) == 1 and o.facts["answered.mining.subscribe"] is True
    # an id that only looks alike is no answer
    o = observe(_with_sends(base, [send], b'{"id":2.0,"result":true,"error":null}\n'))
    assert o.replies("mining.subscribe") == [] and o.facts["answered.mining.subscribe"] is False


def _silent(probe: str, status: Status, closed: bool, send: bytes) -> Transcript:
    return Transcript(ip="127.0.0.1", port=4444, probe=probe, status=status, exchanges=(Exchange(0.0, "send", send),),
                      closed_by_peer=closed)


def test_silent_memo_gives_the_cold_verdict_and_keeps_distinct_facts_apart():
    fps = load_fingerprints()
    s1 = b'{"id":1,"method":"mining.subscribe","params":["poolscan"]}\n'
    cn = b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"x","pass":"x"}}\n'
    cases = [_silent("stratum1", Status.NO_REPLY, False, s1), _silent("stratum1", Status.CLOSED, True, s1),
             _silent("cryptonote", Status.CLOSED, True, cn), _silent("cryptonote", Status.NO_REPLY, False, cn)]
    plan = verdict_mod._plan(fps)
    cold = []
    for t in cases:
        plan.silent_memo.clear()
        cold.append(classify([t], fps))
    for t, want in zip(cases, cold):  # warm: every key now memoised
        assert classify([t], fps) == want
    assert len(plan.silent_memo) >= 4
    # the memo keeps them apart: silence until the timeout is a tarpit named with its own probe; a close is not
    assert [(v.label, v.evidence) for v in cold] == [
        ("tarpit", ("tarpit.silent-open: connection accepted, no byte before the timeout (stratum1)",)),
        (None, ()), (None, ()),
        ("tarpit", ("tarpit.silent-open: connection accepted, no byte before the timeout (cryptonote)",))]


def test_silent_memo_is_not_used_for_transcripts_with_bytes():
    fps = load_fingerprints()
    t = _silent("stratum1", Status.SUCCESS, True, b'{"id":1,"method":"mining.subscribe","params":["poolscan"]}\n')
    t = dataclasses.replace(t, exchanges=t.exchanges + (Exchange(0.01, "recv", b"SSH-2.0-OpenSSH_9.6\r\n"),))
    plan = verdict_mod._plan(fps)
    plan.silent_memo.clear()
    v = classify([t], fps)
    assert plan.silent_memo == {}
    assert v.is_pool is False and v.label == "ssh"


@pytest.mark.parametrize("line, kind", [
    (b'{"id":1,"result":"' + b"A" * 100_000, Malformed),      # flood: never closed
    (b'{"id":1,"result":true,"error":null', Malformed),        # cut one byte short
    (b'{"id":1,"result":true,"error":null}   ', Response),
    ('{"id":1,"result":true,"error":null}\u00a0'.encode(), Response),  # str.strip removes NBSP: still an object
    (b'{"id":1,"result":true,"error":null}}', Malformed),      # closed twice: extra data
])
def test_decode_junk_shortcut_keeps_the_verdicts(line, kind):
    from scanner.protocols.jsonrpc import decode

    assert type(decode(line)) is kind


PATTERNS = [r"^SSH-[12]\.[0-9]+-", r"(?i)^\s*mining (server|pool) online", r"^-(ERR|NOAUTH)\b", r"(?m)^line two",
            r"^a|needle", r"JSONRPC server handles only POST", r"(?i)^(?:x)y", r"^(?P<n>q)(?P=n)"]
TEXTS = ["SSH-2.0-OpenSSH_9.6", "  MINING pool online", "-ERR wrong", "line one\nline two", "xx needle", "b",
         "HTTP/1.1 400\r\n\r\nJSONRPC server handles only POST requests", "XY", "qq", "", "A" * 70_000 + "needle"]


def test_banner_prefilter_finds_whatever_one_of_its_patterns_finds():
    import re

    from scanner.fingerprint.verdict import _prefilter

    safe = [p for p in PATTERNS if "(?P=" not in p]
    searches = _prefilter(safe)
    assert searches is not None
    # one search for the anchored patterns, one per other pattern (multi-line and alternations at the top stay apart)
    assert len(searches) == 1 + sum(1 for p in safe if p.startswith(("(?m)", "^a|", "JSON")))
    for text in TEXTS:
        want = any(re.search(p, text[:65536]) for p in safe)
        assert any(s(text[:65536]) is not None for s in searches) is want, text[:40]
    assert _prefilter(PATTERNS) is None  # a backreference would change meaning once joined


def _nest(levels: int) -> bytes:
    return b'{"id":1,"result":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def test_decode_depth_cap_is_the_same_from_any_stack_depth():
    """A line nested deeper than MAX_DEPTH is junk however deep the caller's stack is (before the cap, a
    ~1,000-level line hit RecursionError or not depending on the caller: differential fuzzing, issue 8)."""
    from scanner.protocols.jsonrpc import MAX_DEPTH, decode

    def deep(n: int, line: bytes):
        return deep(n - 1, line) if n else decode(line)

    for levels, kind in ((MAX_DEPTH, Response), (MAX_DEPTH + 1, Malformed), (990, Malformed), (20_000, Malformed)):
        for stack in (0, 300, 800):
            assert type(deep(stack, _nest(levels))) is kind, (levels, stack)
    # brackets inside strings do not nest; wide is not deep
    assert type(decode(b'{"id":1,"result":"' + b"[" * 5000 + b'"}')) is Response
    assert type(decode(b'{"id":1,"result":[' + b"[1]," * 3000 + b"[2]]}")) is Response
