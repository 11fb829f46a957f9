"""Every rule matches its examples and none of its near misses; no example is claimed by two rules that
name different software (style.md §4.4)."""

from __future__ import annotations

import pytest

import fpdata
from scanner.fingerprint import load_fingerprints
from scanner.fingerprint.observe import observe
from scanner.fingerprint.verdict import rule_hits

FPS = load_fingerprints()
RULES = {r.id: r for r in FPS.rules}


def _obs(ref: str):
    return [observe(t) for t in fpdata.resolve(ref)]


@pytest.mark.parametrize("rule_id,ref", [(r.id, e) for r in FPS.rules for e in r.examples])
def test_rule_matches_example(rule_id: str, ref: str) -> None:
    hits = rule_hits(RULES[rule_id], _obs(ref))
    assert hits, f"{rule_id} does not match its example {ref}"
    assert hits[0].evidence.startswith(f"{rule_id}: ")


@pytest.mark.parametrize("rule_id,ref", [(r.id, e) for r in FPS.rules for e in r.near_misses])
def test_rule_rejects_near_miss(rule_id: str, ref: str) -> None:
    hits = rule_hits(RULES[rule_id], _obs(ref))
    assert not hits, f"{rule_id} matches its near miss {ref}: {hits[0].evidence}"


def _claims(obs) -> tuple[set[str], set[str]]:
    """(software named by rules on the server's own replies, software named by rules on relayed job content)."""
    own: set[str] = set()
    relayed: set[str] = set()
    for r in FPS.rules:
        if "software" in r.verdict and rule_hits(r, obs):
            (relayed if r.relayed else own).add(r.verdict["software"])
    return own, relayed


def test_no_example_claimed_by_two_softwares() -> None:
    """Among the rules reading the server's own replies, one software per example; relayed job content (a
    proxy's upstream coinbase tag) may name another only where own-reply rules decide (verdict.py)."""
    refs = {e for r in FPS.rules for e in r.examples}
    for ref in sorted(refs):
        own, relayed = _claims(_obs(ref))
        deciding = own or relayed
        assert len(deciding) <= 1, f"{ref} is claimed by {sorted(deciding)}"


def test_relayed_rules_are_derived_from_job_conditions() -> None:
    """Coinbase-tag rules read only job content (relayed by proxies); subscribe/error-shape rules do not."""
    assert RULES["ckpool.coinbase-tag"].relayed and RULES["ocean.coinbase-tag"].relayed
    assert RULES["datum-gateway.coinbase-tag"].relayed and RULES["public-pool.coinbase-tag"].relayed
    assert not RULES["ckpool.subscribe-shape"].relayed and not RULES["aiostratum-proxy.handler-not-found"].relayed
    assert not RULES["datum-gateway.subscribe-literal"].relayed and not RULES["node-stratum.http-x-stratum"].relayed


def test_proxy_relaying_a_ckpool_job_is_named_by_its_own_replies() -> None:
    """aiostratum-proxy just after start hands out ckpool's job ('\\nckpool' coinb2): both claim the recording,
    the proxy's own replies decide, and the relayed name stays in the evidence."""
    from scanner.fingerprint import classify

    own, relayed = _claims(_obs("real:aiostratum-proxy-upstream-fresh"))
    assert own == {"aiostratum-proxy"} and relayed == {"ckpool"}
    v = classify(fpdata.resolve("real:aiostratum-proxy-upstream-fresh"), FPS)
    assert (v.is_pool, v.protocol, v.software, v.coin, v.algo) == (True, "stratum1", "aiostratum-proxy", "BTC", "sha256d")
    assert v.evidence[0].startswith("verdict.relayed-software: the job names ckpool")
    # ckpool itself (no proxy): the tag and its own subscribe shape agree, no relayed-software note
    v = classify(fpdata.resolve("real:ckpool"), FPS)
    assert v.software == "ckpool" and not any(e.startswith("verdict.relayed-software") for e in v.evidence)


def test_coverage_report_lists_families_without_recordings(capsys: pytest.CaptureFixture[str]) -> None:
    """Which software families rest only on synthetic examples (no recorded transcript, no case)."""
    only_synth = sorted({r.verdict["software"] for r in FPS.rules if "software" in r.verdict}
                        - {r.verdict["software"] for r in FPS.rules if "software" in r.verdict
                           and any(not e.startswith("synthetic:") for e in r.examples)})
    print("software without recorded examples:", ", ".join(only_synth) or "none")
    # Every family is backed by recorded real software or a real-world case (synthetic examples, built from
    # sources, only add shapes the recordings do not show).
    assert set(only_synth) == set()


def test_datum_gateway_in_front_of_ocean_vs_ocean_itself() -> None:
    """The decision documented in fingerprints/software/datum-gateway.yaml: OCEAN's own stratum (case C06,
    Python-spaced replies, tag '< OCEAN.XYZ >') is ``ocean``; a DATUM Gateway in pooled mode, whose job carries
    OCEAN's primary tag, is ``datum-gateway`` (its compact subscribe literal is its own reply). The pooled
    gateway is the real non-pooled recording with the 13-byte primary tag 'DATUM Gateway' swapped for the
    13-byte '< OCEAN.XYZ >' (same length, so the coinbase still parses)."""
    import dataclasses

    from scanner.fingerprint import classify

    v = classify(fpdata.resolve("case:C06"), FPS)
    assert (v.is_pool, v.software, v.coin) == (True, "ocean", "BTC")
    old, new = b"DATUM Gateway".hex().encode(), b"< OCEAN.XYZ >".hex().encode()
    pooled = []
    for t in fpdata.resolve("real:datum-gateway"):
        ex = tuple(dataclasses.replace(e, data=e.data.replace(old, new)) for e in t.exchanges)
        pooled.append(dataclasses.replace(t, exchanges=ex))
    assert any(new in e.data for t in pooled for e in t.exchanges)
    v = classify(pooled, FPS)
    assert (v.is_pool, v.protocol, v.software, v.coin, v.algo) == (True, "stratum1", "datum-gateway", "BTC", "sha256d")
    assert any(e.startswith("verdict.relayed-software: the job names ocean") for e in v.evidence)
