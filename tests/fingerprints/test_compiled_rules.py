"""The compiled, indexed rule path that ``classify`` uses gives exactly the hits of the reference interpreter
(``rule_hits``), for every rule on every example and near-miss transcript the fingerprints name, and on
hostile random transcripts: the two paths cannot drift apart."""

import random

import pytest
from fpdata import resolve

from scanner.fingerprint import load_fingerprints
from scanner.fingerprint.observe import observe
from scanner.fingerprint.verdict import _all_rule_hits, _plan, rule_hits
from scanner.model import Exchange, Status, Transcript

FPS = load_fingerprints()
REFS = sorted({ref for r in FPS.rules for ref in (*r.examples, *r.near_misses)})


def _reference(observations):
    hits = []
    for rule in FPS.rules:
        try:
            hits += rule_hits(rule, observations)
        except Exception:  # the interpreter's failure is a note in classify, not hits
            continue
    return [(h.rule_id, h.probe, h.evidence) for h in hits]


def _compiled(observations):
    return [(h.rule_id, h.probe, h.evidence) for h in _all_rule_hits(_plan(FPS), observations, [])]


@pytest.mark.parametrize("ref", REFS)
def test_same_hits_on_every_example_and_near_miss(ref):
    observations = [observe(t) for t in resolve(ref)]
    assert _compiled(observations) == _reference(observations)


def test_same_hits_on_random_hostile_transcripts():
    rng = random.Random(20261129)
    pieces = [b'{"id":1,"result":', b'[[["mining.notify","ab"]],"00",4]', b',"error":null}\n', b"\x00\xff",
              b'{"id":null,"method":"mining.notify","params":["1","2","3","4",[],"20000000","1d00ffff","5",true]}\n',
              b"HTTP/1.1 200 OK\r\n\r\nMining Pool Online", b'{"jsonrpc":"2.0","id":1,"error":{"code":-1}}\n']
    sends = [b'{"id":2,"method":"mining.subscribe","params":[]}\n', b'{"id":1,"jsonrpc":"2.0","method":"login","params":{}}\n']
    total = 0
    for _ in range(300):
        ex = [Exchange(0.0, "send", rng.choice(sends))]
        ex += [Exchange(0.01 * i, "recv", b"".join(rng.choices(pieces, k=rng.randint(1, 4)))) for i in range(rng.randint(0, 3))]
        t = Transcript(ip="192.0.2.1", port=3333, probe=rng.choice(["stratum1", "cryptonote", "http", "stratum2"]),
                       status=rng.choice(list(Status)), exchanges=tuple(ex))
        observations = [observe(t)]
        got = _compiled(observations)
        assert got == _reference(observations)
        total += len(got)
    assert total > 100  # the random transcripts do exercise the rules
