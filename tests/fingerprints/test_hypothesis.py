"""classify is total: hostile, truncated or random transcripts never make it raise."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fpdata
from scanner.fingerprint import classify, load_fingerprints
from scanner.model import Exchange, Status, Transcript, Verdict

FPS = load_fingerprints()
PROBES = ["stratum1", "ethstratum", "ethproxy", "cryptonote", "http", "getwork", "web3", "electrum", "stratum2", "x"]

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                      st.text(max_size=40), st.sampled_from(["deadbeefcafebabe0100000000000000", "mining.notify",
                                                             "EthereumStratum/1.0.0", "login", "ok", "0x" + "00" * 32]))
json_value = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=6),
                                                         st.dictionaries(st.sampled_from(
                                                             ["id", "result", "error", "method", "params", "jsonrpc",
                                                              "job", "blob", "body", "code", "message", "0", "1"]), c, max_size=6)),
                          max_leaves=25)


def _line(v) -> bytes:
    return json.dumps(v, allow_nan=True).encode() + b"\n"


# bytes that are JSON-ish, HTTP-ish, or random
chunk = st.one_of(
    st.binary(max_size=300),
    json_value.map(_line),
    json_value.map(lambda v: _line(v)[: len(_line(v)) // 2]),
    st.builds(lambda s, b: f"HTTP/1.1 {s} X\r\nContent-Length: 3\r\n\r\n".encode() + b, st.integers(100, 999), st.binary(max_size=50)),
    st.sampled_from([b"}{", b"\n", b"\r\n\r\n", b"{" * 50, b'{"id":2,"result":[[["mining.notify","a"]],"zz",4]}',
                     b'{"id":1,"result":{"id":"x","job":{"blob":"zz","job_id":1}}}']),
)

exchange = st.builds(lambda t, d, data: Exchange(t, d, data), st.floats(0, 10), st.sampled_from(["send", "recv"]), chunk)
transcript = st.builds(
    lambda probe, status, ex, closed, tls: Transcript(ip="192.0.2.1", port=3333, probe=probe, status=status,
                                                       exchanges=tuple(ex), closed_by_peer=closed, tls=tls),
    st.sampled_from(PROBES), st.sampled_from(list(Status)), st.lists(exchange, max_size=8), st.booleans(), st.booleans())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(transcript, max_size=4))
def test_classify_never_raises(ts: list[Transcript]) -> None:
    v = classify(ts, FPS)
    assert isinstance(v, Verdict)
    assert v.is_pool in (True, False, None)
    assert 0.0 <= v.confidence <= 1.0
    assert not any(e.startswith("classify.error") for e in v.evidence), v.evidence
    for e in v.evidence:
        assert e.isprintable(), e


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(fpdata.SYNTHETIC)), st.data())
def test_truncated_real_transcripts_never_raise(name: str, data: st.DataObject) -> None:
    """Cut every read of a real-looking transcript at a random point (the byte cap, a dropped link)."""
    out = []
    for t in fpdata.SYNTHETIC[name]:
        ex = []
        for e in t.exchanges:
            cut = data.draw(st.integers(0, len(e.data)))
            ex.append(Exchange(e.t, e.dir, e.data[:cut]))
        out.append(Transcript(ip=t.ip, port=t.port, probe=t.probe, status=t.status, exchanges=tuple(ex),
                              truncated=True))
    v = classify(out, FPS)
    assert v.is_pool in (True, False, None)
